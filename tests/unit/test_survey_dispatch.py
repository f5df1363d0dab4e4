"""Dispatch on a small warehouse (SQLite and PostgreSQL): events in, exact invitations,
skips and outbox rows out; reruns identical; a later invitation enqueued when due;
reminders; external events checked and quarantined.

Clients: A (since 2020, established), B and C (since 2026-01, young). Contacts: A has op1
(operator, ru), op2 (operator, opted out), tb1 (technical buyer, en), eb1 (economic buyer);
B has tb9; C has tb7 and a claim open since 2026-05-30. Every existing (client, role) was
sent a relationship survey on 2026-03-01 and answered it, so none is due (A: yearly, B and
C: every 182.5 days); the roles nobody holds at B and C are due every day and skipped.

Events (known from 2026-06-01 00:00): D1 document delay at B (06-01 08:00, survey +24 h),
D7 document delay at C (06-01 09:00), O1 delivery of order O1 at A (06-01 10:00, +48 h).
"""

from __future__ import annotations

import smtplib
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from fixtures.checksums import table_checksums
from fixtures.smtp_peers import answering_server
from sqlalchemy import select

from cx_tasks.config import Settings
from cx_tasks.mail.outbox import deliver
from cx_tasks.mail.smtp import send_over
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.contact_rules import contact_rules
from cx_tasks.surveys.dispatch import (
    check_external_event,
    dispatch,
    ingest_external_events,
    record_sent,
)
from cx_tasks.surveys.event_intake import event_intake_rules
from cx_tasks.surveys.tokens import verify
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import (
    STAGING,
    events,
    outbox,
    quarantine,
    survey_invitations,
    survey_skips,
    unsubscribes,
)

CATALOGUE = survey_catalogue()
RULES = contact_rules()
INTAKE = event_intake_rules()
SECRET = "dispatch-test-secret"
KNOWN = datetime(2026, 6, 1)
RUN1 = datetime(2026, 6, 1, 12)
RUN2 = datetime(2026, 6, 2, 9)        # D1 due (06-02 08:00)
RUN3 = datetime(2026, 6, 3, 10)       # O1 due (06-03 10:00)
CONTACTS = [("op1", "A", "operator", "ru", False), ("op2", "A", "operator", "en", True),
            ("tb1", "A", "technical_buyer", "en", False),
            ("eb1", "A", "economic_buyer", "en", False),
            ("tb9", "B", "technical_buyer", "en", False),
            ("tb7", "C", "technical_buyer", "en", False)]


def config(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, warehouse_url="", source_url="", rules_dir=None,
                    survey_base_url="https://cx.example.com", survey_secret_text=SECRET)


@pytest.fixture()
def warehouse(warehouse_url: str) -> str:
    """The small warehouse described above."""
    stamp = {"interval_start": KNOWN, "updated_at": KNOWN}
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(STAGING["erp_clients"].insert(), [
            dict(client_id=c, name=n, contract_start=s, segment="metals", size_class="B",
                 **stamp)
            for c, n, s in [("A", "Acme <Steel> & Co", date(2020, 1, 1)),
                            ("B", "Beta", date(2026, 1, 1)), ("C", "Gamma", date(2026, 1, 1))]])
        conn.execute(STAGING["crm_contacts"].insert(), [
            dict(contact_id=c, client_id=cl, role=r, language=lang, opted_out=out,
                 full_name=f"Name {c}", email=f"{c}@client.test", **stamp)
            for c, cl, r, lang, out in CONTACTS])
        conn.execute(STAGING["sd_claims"].insert(), [
            dict(claim_id="K6", client_id="C", contact_id="tb7", opened_at=datetime(2026, 5, 30),
                 closed_at=None, text="late", **stamp)])
        conn.execute(events.insert(), [
            dict(event_id=f"{t}:{ref}", event_type=t, client_id=cl, contact_id=None,
                 order_id=order, ref_id=ref, occurred_at=at, interval_start=KNOWN, payload="{}")
            for t, ref, cl, order, at in [
                ("document_delay", "D1", "B", None, datetime(2026, 6, 1, 8)),
                ("document_delay", "D7", "C", None, datetime(2026, 6, 1, 9)),
                ("delivery_completed", "O1", "A", "O1", datetime(2026, 6, 1, 10))]])
        conn.execute(survey_invitations.insert(), [
            dict(invitation_id=f"inv:relationship:{cl}:2026-03-01:{c}", survey_id=f"rel_{r}",
                 event_id=f"relationship:{cl}:2026-03-01", kind="relationship", client_id=cl,
                 contact_id=c, role=r, language=lang, order_id=None, content_key=f"rel_{r}",
                 scheduled_at=datetime(2026, 3, 1), planned_in=datetime(2026, 3, 1),
                 sent_at=datetime(2026, 3, 1), answered_at=datetime(2026, 3, 2))
            for c, cl, r, lang, out in CONTACTS if c != "op2"])
    return warehouse_url


def run(url: str, now: datetime, tmp_path) -> dict:
    return dispatch(url, now, RULES, CATALOGUE, config(tmp_path))


def planned(url: str, table, since: datetime) -> list[tuple]:
    """(invitation_id, reason or scheduled_at) of rows planned from ``since`` on."""
    second = table.c.reason if table is survey_skips else table.c.scheduled_at
    with engine_for(url).connect() as conn:
        return sorted(conn.execute(select(table.c.invitation_id, second)
                                   .where(table.c.planned_in >= since)).all())


def outbox_rows(url: str) -> list[tuple]:
    with engine_for(url).connect() as conn:
        return conn.execute(select(outbox.c.idempotency_key, outbox.c.kind, outbox.c.recipient,
                                   outbox.c.contact_id, outbox.c.status, outbox.c.last_error,
                                   outbox.c.created_at)
                            .order_by(outbox.c.idempotency_key)).all()


SKIPS_RUN1 = [
    ("inv:delivery_completed:O1:op2", "opted_out"),
    ("inv:document_delay:D7:tb7", "open_claim"),
    ("inv:relationship:B:2026-06-01:no_economic_buyer", "no_contact_for_role"),
    ("inv:relationship:B:2026-06-01:no_operator", "no_contact_for_role"),
    ("inv:relationship:C:2026-06-01:no_economic_buyer", "no_contact_for_role"),
    ("inv:relationship:C:2026-06-01:no_operator", "no_contact_for_role"),
]


def test_first_run_plans_every_candidate_and_sends_nothing_before_its_time(warehouse,
                                                                           tmp_path) -> None:
    summary = run(warehouse, RUN1, tmp_path)
    assert planned(warehouse, survey_invitations, RUN1) == [
        ("inv:delivery_completed:O1:op1", datetime(2026, 6, 3, 10)),
        ("inv:delivery_completed:O1:tb1", datetime(2026, 6, 3, 10)),
        ("inv:document_delay:D1:tb9", datetime(2026, 6, 2, 8))]
    assert planned(warehouse, survey_skips, RUN1) == SKIPS_RUN1
    assert outbox_rows(warehouse) == []
    assert summary["events_planned"] == 3 + 2          # three events, two relationship days
    assert (summary["planned"], summary["invited"], summary["invited_later"]) == (9, 3, 3)
    assert {k: v for k, v in summary["skipped"].items() if v} == {
        "no_contact_for_role": 4, "opted_out": 1, "open_claim": 1}
    nothing = {"to_send": 0, "opted_out": 0, "open_claim": 0, "unknown_contact": 0,
               "stale_at_send": 0, "link_expiring": 0}
    assert summary["enqueued"] == {"invitation": nothing, "reminder": nothing}
    assert summary["missing_roles"] == {
        "accounts": 2, "per_role": {"economic_buyer": 2, "technical_buyer": 0, "operator": 2}}


def test_rerunning_a_run_leaves_the_warehouse_identical(warehouse, tmp_path) -> None:
    for now in (RUN1, RUN2):
        first = run(warehouse, now, tmp_path)
        after = table_checksums(warehouse)
        assert run(warehouse, now, tmp_path) == first
        assert table_checksums(warehouse) == after


def test_a_later_invitation_is_enqueued_by_the_run_that_reaches_it(warehouse, tmp_path) -> None:
    run(warehouse, RUN1, tmp_path)
    second = run(warehouse, RUN2, tmp_path)
    # a new UTC day: the relationship gaps are planned (and skipped) again; no event is new
    assert planned(warehouse, survey_skips, RUN2) == [
        (f"inv:relationship:{c}:2026-06-02:no_{r}", "no_contact_for_role")
        for c in "BC" for r in ("economic_buyer", "operator")]
    assert planned(warehouse, survey_invitations, RUN2) == []
    d1 = ("invitation:inv:document_delay:D1:tb9", "invitation", "tb9@client.test", "tb9",
          "queued", None, RUN2)
    assert outbox_rows(warehouse) == [d1]
    assert second["enqueued"]["invitation"]["to_send"] == 1
    # tb1 unsubscribes before O1 is due: the invitation is recorded, suppressed, never sent
    with engine_for(warehouse).begin() as conn:
        conn.execute(unsubscribes.insert().values(contact_id="tb1", channel="link",
                                                  unsubscribed_at=datetime(2026, 6, 2, 12)))
    third = run(warehouse, RUN3, tmp_path)
    assert outbox_rows(warehouse) == [
        ("invitation:inv:delivery_completed:O1:op1", "invitation", "op1@client.test", "op1",
         "queued", None, RUN3),
        ("invitation:inv:delivery_completed:O1:tb1", "invitation", "tb1@client.test", "tb1",
         "suppressed", "opted_out", RUN3),
        d1]
    assert third["enqueued"]["invitation"] == {"to_send": 1, "opted_out": 1, "open_claim": 0,
                                               "unknown_contact": 0, "stale_at_send": 0,
                                               "link_expiring": 0}


def test_enqueued_invitation_carries_its_links_and_headers(warehouse, tmp_path) -> None:
    run(warehouse, RUN3, tmp_path)
    with engine_for(warehouse).connect() as conn:
        row = conn.execute(select(outbox).where(
            outbox.c.idempotency_key == "invitation:inv:delivery_completed:O1:op1")).one()
    assert row.subject == "Оцените доставку заказа № O1"
    assert "List-Unsubscribe" in row.headers and "List-Unsubscribe=One-Click" in row.headers
    assert "Acme &lt;Steel&gt; &amp; Co" in row.body_html
    token = row.body_text.split("/r/")[1].split("?score=")[0]
    claims = verify(token, SECRET.encode(), purpose="answer", now=RUN3, score=5)
    assert (claims.invitation_id, claims.contact_id, claims.survey_id) == (
        "inv:delivery_completed:O1:op1", "op1", "tx_delivery_completed")


def _smtp_transport(port: int):
    def send_batch(messages):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            return send_over(client, "cx@example.com", messages)
    return send_batch


def test_one_reminder_five_days_after_the_server_accepted_the_invitation(warehouse,
                                                                          tmp_path) -> None:
    run(warehouse, RUN2, tmp_path)
    with answering_server() as (server, port):
        assert deliver(warehouse, _smtp_transport(port), now=RUN2).sent == 1
    # the outbox stamps the wall clock; say the server took it 5 minutes into the run
    sent_at = RUN2 + timedelta(minutes=5)
    with engine_for(warehouse).begin() as conn:
        conn.execute(outbox.update().values(sent_at=sent_at))
    assert record_sent(warehouse) == 1
    assert record_sent(warehouse) == 0
    with engine_for(warehouse).connect() as conn:
        assert conn.scalar(select(survey_invitations.c.sent_at).where(
            survey_invitations.c.invitation_id == "inv:document_delay:D1:tb9")) == sent_at
    mail = message_from_bytes(server.received[0], policy=policy.default)
    assert mail["To"] == "tb9@client.test" and mail["List-Unsubscribe"].startswith("<https://")
    early = run(warehouse, sent_at + timedelta(days=5) - timedelta(seconds=1), tmp_path)
    assert early["enqueued"]["reminder"]["to_send"] == 0
    due = sent_at + timedelta(days=5)
    assert run(warehouse, due, tmp_path)["enqueued"]["reminder"]["to_send"] == 1
    assert run(warehouse, due + timedelta(days=3), tmp_path)["enqueued"]["reminder"]["to_send"] == 0
    reminder = [r for r in outbox_rows(warehouse) if r[1] == "reminder"]
    assert reminder == [("reminder:inv:document_delay:D1:tb9", "reminder", "tb9@client.test",
                         "tb9", "queued", None, due)]
    with engine_for(warehouse).connect() as conn:
        assert conn.scalar(select(outbox.c.subject).where(outbox.c.kind == "reminder")) == (
            "Reminder: How did we do with your documents?")
        assert conn.scalar(select(survey_invitations.c.reminded_at).where(
            survey_invitations.c.invitation_id == "inv:document_delay:D1:tb9")) == due


# --- external events ------------------------------------------------------------------------

GOOD = {"event_type": "claim_closed", "client_id": "A", "ref_id": "K9",
        "occurred_at": "2026-06-01T12:30:00+03:00", "contact_id": "tb1", "from_rest_api": True}


@pytest.mark.parametrize(("change", "rule"), [
    ({"event_type": "party"}, "event_type: one of delivery_completed, otif_miss, claim_closed, "
                              "ticket_resolved, document_delay"),
    ({"client_id": None}, "client_id: required, a non-empty string"),
    ({"ref_id": " "}, "ref_id: required, a non-empty string"),
    ({"occurred_at": "yesterday"}, "occurred_at: an ISO 8601 date and time"),
    ({"order_id": 17}, "order_id: a string when given"),
    ({"client_id": "Z"}, "client_id: not a known client"),
])
def test_an_external_event_breaking_a_rule_is_named(change: dict, rule: str) -> None:
    assert check_external_event({**GOOD, **change}, {"A": None}, RUN1, INTAKE) == (None, rule)


def test_a_good_external_event_becomes_an_event_row() -> None:
    row, rule = check_external_event(GOOD, {"A": None}, RUN1, INTAKE)
    assert rule is None
    assert row == {"event_id": "claim_closed:K9", "event_type": "claim_closed",
                   "client_id": "A", "contact_id": "tb1", "order_id": None, "ref_id": "K9",
                   "occurred_at": datetime(2026, 6, 1, 9, 30),
                   "payload": '{"from_rest_api": true}'}


def test_external_events_are_stored_once_and_bad_ones_quarantined(warehouse, tmp_path) -> None:
    bad = {**GOOD, "event_type": "party"}
    pushed = [GOOD, bad, GOOD]
    result = ingest_external_events(warehouse, pushed, RUN1)
    assert (result["received"], result["valid"], result["new"]) == (3, 2, 1)
    assert [q["rule"] for q in result["quarantined"]] == [
        "event_type: one of delivery_completed, otif_miss, claim_closed, ticket_resolved, "
        "document_delay"]
    assert ingest_external_events(warehouse, pushed, RUN1)["new"] == 0
    with engine_for(warehouse).connect() as conn:
        stored = conn.execute(select(events.c.event_id, events.c.interval_start)
                              .where(events.c.ref_id == "K9")).all()
        caught = conn.execute(select(quarantine.c.source_table, quarantine.c.rule)).all()
    assert stored == [("claim_closed:K9", RUN1)]
    assert caught == [("external_events", "external_event.event_type")]
    # the pushed claim is planned by the same run: its raiser tb1 first, due 24 h later
    run(warehouse, RUN1, tmp_path)
    assert ("inv:claim_closed:K9:tb1", datetime(2026, 6, 2, 9, 30)) in planned(
        warehouse, survey_invitations, RUN1)


def test_a_key_accounts_transactional_survey_becomes_an_in_person_task(warehouse,
                                                                        tmp_path) -> None:
    # Beta (B) is a key account in the CRM; its manager is "Petrov P.P."
    with engine_for(warehouse).begin() as conn:
        conn.execute(STAGING["crm_accounts"].insert().values(
            client_id="B", key_account=True, interval_start=KNOWN, updated_at=KNOWN))
        conn.execute(STAGING["erp_clients"].update()
                     .where(STAGING["erp_clients"].c.client_id == "B")
                     .values(account_manager="Petrov P.P."))
    summary = run(warehouse, RUN1, tmp_path)
    # D1 (document delay at B) is not invited by e-mail: skipped, and a task instead
    assert ("inv:document_delay:D1:tb9", "key_account_in_person") in planned(
        warehouse, survey_skips, RUN1)
    assert ("inv:document_delay:D1:tb9", datetime(2026, 6, 2, 8)) not in planned(
        warehouse, survey_invitations, RUN1)
    assert summary["skipped"]["key_account_in_person"] == 1
    assert summary["in_person_tasks"] == 1
    # the task goes to the owner of informal feedback (the key account team), at once
    task = ("in_person_task:inv:document_delay:D1:tb9", "in_person_task",
            "accounts@example.com", None, "queued", None, RUN1)
    assert outbox_rows(warehouse) == [task]
    with engine_for(warehouse).connect() as conn:
        row = conn.execute(select(outbox.c.subject, outbox.c.body_text)).one()
    assert row.subject == "In person: ask Beta (technical_buyer) the tx_document_delay survey"
    assert "For account manager Petrov P.P." in row.body_text
    assert 'channel "in_person"' in row.body_text
    # a rerun sends no second task
    assert run(warehouse, RUN1, tmp_path)["in_person_tasks"] == 0
    assert outbox_rows(warehouse) == [task]
