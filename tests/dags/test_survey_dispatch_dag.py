"""cx_survey_dispatch through Airflow (``dag.test()``) with a real SMTP server on loopback.

``dag.test()`` passes no triggering asset events, so the run works from the events already
stored. Client A ("Acme <Steel>", since 2020-05-21: its yearly slot 2026-05-20 opens the window of
its first relationship survey) has op1 (operator, ru), tb1 (technical buyer,
en) and eb1 (economic buyer, en) and no survey history; its order O1 was delivered on
2026-06-01 10:00, so the delivery survey is due 48 h later, before the run at 06-03 12:00.
Decided in time order: O1 -> op1 and tb1 (10:00); then the relationship surveys (12:00):
eb1 invited (the account's third), op1 and tb1 refused, their O1 invitation unanswered.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from cx_tasks.demo.smtp_sink import SmtpSink
from cx_tasks.surveys.tokens import verify
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import STAGING, events, outbox, survey_invitations, survey_skips

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

KNOWN = datetime(2026, 6, 1)
RUN = datetime(2026, 6, 3, 12, tzinfo=UTC)
SECRET = "dag-test-secret"


def seed(url: str) -> None:
    stamp = {"interval_start": KNOWN, "updated_at": KNOWN}
    migrate(engine_for(url))
    with engine_for(url).begin() as conn:
        conn.execute(STAGING["erp_clients"].insert().values(
            client_id="A", name="Acme <Steel>", contract_start=date(2020, 5, 21),
            segment="metals", size_class="B", **stamp))
        conn.execute(STAGING["crm_contacts"].insert(), [
            dict(contact_id=c, client_id="A", role=r, language=lang, opted_out=False,
                 full_name=f"Name {c}", email=f"{c}@client.test", **stamp)
            for c, r, lang in [("op1", "operator", "ru"), ("tb1", "technical_buyer", "en"),
                               ("eb1", "economic_buyer", "en")]])
        conn.execute(events.insert().values(
            event_id="delivery_completed:O1", event_type="delivery_completed", client_id="A",
            contact_id=None, order_id="O1", ref_id="O1", occurred_at=datetime(2026, 6, 1, 10),
            interval_start=KNOWN, payload="{}"))


def test_dispatch_dag_sends_the_due_invitations_once(tmp_path, airflow_db,
                                                     monkeypatch) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cx_tasks.config import settings

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["cx_survey_dispatch"]
    for task in dag.tasks:  # fail now, not after a retry delay
        task.retries = 0
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_SURVEY_SECRET", SECRET)
    monkeypatch.setenv("CX_SURVEY_BASE_URL", "https://cx.example.com")
    url = settings().warehouse_url
    seed(url)
    with SmtpSink(tmp_path / "mail") as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sink.smtp_connection_json())
        assert dag.test(logical_date=RUN).state == DagRunState.SUCCESS
        assert dag.test(logical_date=RUN).state == DagRunState.SUCCESS  # a rerun sends nothing
        mails = sink.mail.messages()

    assert sorted((m["To"], m["Subject"]) for m in mails) == [
        ("eb1@client.test", "Would you recommend us?"),
        ("op1@client.test", "Оцените доставку заказа № O1"),
        ("tb1@client.test", "How was the delivery of order O1?")]
    with engine_for(url).connect() as conn:
        skipped = conn.execute(select(survey_skips.c.contact_id, survey_skips.c.reason)
                               .order_by(survey_skips.c.contact_id)).all()
        statuses = conn.execute(select(outbox.c.status).distinct()).scalars().all()
        unsent = conn.scalar(select(survey_invitations.c.invitation_id)
                             .where(survey_invitations.c.sent_at.is_(None)))
    assert skipped == [("op1", "awaiting_answer"), ("tb1", "awaiting_answer")]
    assert statuses == ["sent"] and unsent is None

    op1 = next(m for m in mails if m["To"] == "op1@client.test")
    assert op1["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = op1.get_body(preferencelist=("plain",)).get_content()
    html = op1.get_body(preferencelist=("html",)).get_content()
    assert "Acme <Steel>" in text and "Acme &lt;Steel&gt;" in html
    tokens = {line.split("/r/")[1].split("?score=")[0] for line in text.splitlines()
              if "/r/" in line}
    claims = verify(tokens.pop(), SECRET.encode(), purpose="answer",
                    now=RUN.replace(tzinfo=None), score=1)
    assert not tokens and claims.invitation_id == "inv:delivery_completed:O1:op1"
