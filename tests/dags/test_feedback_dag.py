"""cx_feedback through Airflow (``dag.test()``): intake, acknowledgement, delivery to a real
SMTP server on loopback; a second run sends nothing again.

``dag.test()`` of an asset-scheduled DAG has no triggering events, so the run counts as
manual: it takes every staged claim (the asset-triggered wiring is exercised by
``bench/bench_ack_latency.py`` under ``airflow standalone``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from fixtures.feedback_world import seed_crm, stage
from sqlalchemy import select

from cx_tasks.demo.smtp_sink import SmtpSink
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import feedback, feedback_acknowledgements, survey_invitations

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_feedback_is_taken_in_acknowledged_and_delivered_once(tmp_path, airflow_db) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cx_tasks.config import settings

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["cx_feedback"]
    for task in dag.tasks:  # a failing task fails the test now, not after a retry delay
        task.retries = 0
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with pytest.MonkeyPatch.context() as env, SmtpSink(tmp_path / "mail") as sink:
        env.setenv("CX_DATA_DIR", str(tmp_path / "data"))
        env.setenv("CX_SURVEY_SECRET", "dag-test-secret")
        env.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sink.smtp_connection_json())
        settings().data_dir.mkdir(parents=True)
        url = settings().warehouse_url
        migrate(engine_for(url))
        seed_crm(url)
        stage(url, "sd_claims", [
            {"claim_id": "SC1", "client_id": "K1", "contact_id": "C1",
             "opened_at": now - timedelta(hours=2), "text": "Нет сертификата качества"},
            {"claim_id": "SC2", "client_id": "K2", "contact_id": None,
             "opened_at": now - timedelta(hours=2), "text": "Short shipment"},
        ])
        with engine_for(url).begin() as conn:  # a response as the response app stores it
            conn.execute(survey_invitations.insert().values(
                invitation_id="inv1", survey_id="tx_delivery_completed",
                kind="transactional", client_id="K1", contact_id="C2",
                role="technical_buyer", language="en", scheduled_at=now, planned_in=now))
            conn.execute(feedback.insert().values(
                feedback_id="survey:inv1", source="survey", channel="email", client_id="K1",
                contact_id="C2", role="technical_buyer", scores='{"csat": 2}',
                ref_id="inv1", occurred_at=now - timedelta(minutes=1), recorded_at=now))
        inbox = settings().data_dir / "feedback_inbox"
        inbox.mkdir()
        (inbox / "calls.csv").write_text(
            "client_id,contact_id,channel,text,occurred_at,captured_by\n"
            f"K1,C1,sales_call,Просят ускорить отгрузки,{now - timedelta(hours=3)},m.ivanova\n"
            f"K1,C1,fax,bad channel,{now - timedelta(hours=3)},m.ivanova\n", encoding="utf-8")

        first = dag.test()
        assert first.state == DagRunState.SUCCESS
        received = sink.mail.messages()
        second = dag.test()
        assert second.state == DagRunState.SUCCESS

        assert sorted((m["To"], m["Subject"].split(":")[0]) for m in received) == [
            ("Anna.Smith@K1.example", "We have received your feedback"),
            ("ivan@k1.example", "Мы получили ваше обращение"),
            ("ivan@k1.example", "Мы получили ваше обращение"),
        ]
        assert all(m["List-Unsubscribe"] for m in received)
        assert len(sink.mail.messages()) == 3  # the second run sent nothing
        with engine_for(url).connect() as conn:
            decisions = {r.feedback_id.split(":")[0] + ":" + (r.reason or r.status): 1
                         for r in conn.execute(select(feedback_acknowledgements))}
            taken = sorted(f.split(":")[0] for f in conn.scalars(select(feedback.c.feedback_id)))
        assert taken == ["claim", "claim", "informal", "survey"]
        assert sorted(decisions) == ["claim:acknowledged", "claim:no_contact",
                                     "informal:acknowledged", "survey:acknowledged"]
        assert [p.name for p in inbox.iterdir()] == ["done"]


def test_feedback_dag_shape_and_no_self_trigger(dag_bag) -> None:
    dag = dag_bag.dags["cx_feedback"]
    assert dag.max_active_runs == 1 and dag.doc_md and "No loop" in dag.doc_md
    assert sorted(a.uri for a in dag.timetable.asset_condition.objects) == [
        "cx://collect/events", "cx://collect/feedback"]
    downstream = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert downstream == {"intake": ["acknowledge", "announce_intake"], "announce_intake": [],
                          "acknowledge": ["deliver_acknowledgements"],
                          "deliver_acknowledgements": []}
    outlets = {t.task_id: [o.uri for o in t.outlets] for t in dag.tasks if t.outlets}
    assert outlets == {"announce_intake": ["cx://collect/feedback-intake"]}
