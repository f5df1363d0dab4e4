"""cx_implement through Airflow (``dag.test()``): a detractor's case with its owner e-mail
and escalation, a proposal from the Pareto, a decision from the file with a milestone, the
client's "you said, we did" e-mail through a real SMTP server, the report; a rerun of the
same hour changes nothing and sends nothing again."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from fixtures.checksums import table_checksums
from fixtures.implement_world import complaint, pareto, seed_world
from sqlalchemy import select

from cx_tasks.demo.smtp_sink import MailFolder, SmtpSink
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import case_escalations, cases, feedback, initiatives, outbox

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

RUN = datetime(2026, 11, 6, 23, 0, tzinfo=UTC)
INIT = "init:metals:documents:2026-11-01"


def _world(url: str) -> None:
    seed_world(url)
    for n in range(3):
        complaint(url, f"claim:D{n}", "K1", "C1", f"Нет сертификатов, заказ {n}", "documents",
                  datetime(2026, 10, 20 + n, 9))
    pareto(url, "metals", "documents", 3)
    with engine_for(url).begin() as conn:
        conn.execute(feedback.insert(), {
            "feedback_id": "survey:i1", "source": "survey", "channel": "email_survey",
            "client_id": "K1", "contact_id": "C2", "role": "technical_buyer",
            "text": "Please contact me about the invoices", "scores": json.dumps({"nps": 4}),
            "ref_id": None, "occurred_at": datetime(2026, 11, 6, 10),
            "recorded_at": datetime(2026, 11, 6, 10)})


def test_implement_run_and_rerun(tmp_path, airflow_db) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cx_tasks.config import settings

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["cx_implement"]
    for task in dag.tasks:
        task.retries = 0
    with pytest.MonkeyPatch.context() as env, SmtpSink(tmp_path / "mail") as sink:
        env.setenv("CX_DATA_DIR", str(tmp_path / "data"))
        env.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sink.smtp_connection_json())
        config = settings()
        config.data_dir.mkdir(parents=True)
        url = config.warehouse_url
        migrate(engine_for(url))
        _world(url)
        # the team approves by file and records the first client-visible milestone
        (config.data_dir / "initiative_decisions.yaml").write_text(
            f"- {{initiative: '{INIT}', decision: approve, by: CX lead}}\n"
            f"- {{initiative: '{INIT}', decision: reach, milestone: fix_in_place, "
            "reached_on: 2026-11-06, by: Anna}\n", encoding="utf-8")
        conf = {"ask_in_airflow": False}
        # the run proposes the initiative, then applies the file's decisions to it
        assert dag.test(logical_date=RUN, run_conf=conf).state == DagRunState.SUCCESS
        after = table_checksums(url)
        assert dag.test(logical_date=RUN, run_conf=conf).state == DagRunState.SUCCESS
        assert table_checksums(url) == after
        with engine_for(url).connect() as conn:
            case = conn.execute(select(cases)).one()
            steps = sorted((r.clock, r.step) for r in conn.execute(select(case_escalations)))
            status = conn.scalar(select(initiatives.c.status))
            mails = sorted((r.kind, r.recipient, r.status) for r in conn.execute(select(outbox)))
        received = MailFolder(tmp_path / "mail").messages()
    # opened 10:00 by a contact request; at 23:00 the acknowledge clock's reminder (12 h,
    # 22:00) is due, its manager step (24 h) and the close clock's reminder (24 h) are not
    assert (case.trigger, case.owner, case.status) == ("contact_request", "customer_experience",
                                                       "open")
    assert steps == [("acknowledge", "reminder")]
    assert status == "in_progress"
    # the case's opening and reminder to its owner, the approved initiative's owner, C1
    assert mails == [("case", "cx@example.com", "sent"), ("case", "cx@example.com", "sent"),
                     ("initiative", "a.sokolova@example.com", "sent"),
                     ("progress", "ivan@k1.example", "sent")]
    assert len(received) == 4  # nothing sent twice
    assert (config.data_dir / "reports" / "implementation.html").exists()
