"""Promises kept (issue 14, section 5).

- An opted-out contact's own feedback is still acknowledged: the unsubscribe page promises
  that replies to their own requests and claims still reach them, so acknowledgements are
  transactional (``outbox.yaml``), sent despite a survey opt-out; surveys are not.
- At send time (the ``now`` handed to ``deliver``, never the wall clock) an invitation past
  its staleness limit is skipped as ``stale_at_send``, and no e-mail leaves whose links
  expire in less than ``link_margin_days``.
"""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from pathlib import Path

from fixtures.dispatch_world import GOOD, config, run, seed
from fixtures.dispatch_world import NOW as EVENT_NOW
from fixtures.feedback_world import seed_crm
from fixtures.smtp_peers import answering_server
from sqlalchemy import select

from cx_tasks.feedback.acknowledgement import KIND, LinkSettings, acknowledge
from cx_tasks.feedback.rules import feedback_rules, owners
from cx_tasks.mail.outbox import deliver, enqueue, outbox_rules
from cx_tasks.mail.smtp import session_transport
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.contact_rules import contact_rules
from cx_tasks.surveys.dispatch import dispatch, ingest_external_events
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import feedback, feedback_acknowledgements, outbox, unsubscribes

NOW = datetime(2026, 11, 4, 12, 0)
PAGES = Path(__file__).resolve().parents[2] / "cx_tasks" / "surveys" / "pages"


def outcomes(url: str) -> dict[str, tuple[str, str | None]]:
    with engine_for(url).connect() as conn:
        return {r.idempotency_key: (r.status, r.last_error)
                for r in conn.execute(select(outbox))}


def deliver_to_smtp(url: str, **kwargs):
    with answering_server() as (handler, port):
        transport = session_transport(lambda: smtplib.SMTP("127.0.0.1", port, timeout=5),
                                      "cx-loop@example.com")
        summary = deliver(url, transport, **kwargs)
    return summary, handler.received


def test_an_opted_out_contacts_own_claim_is_acknowledged_and_surveys_are_not_sent(
        warehouse_url: str) -> None:
    seed_crm(warehouse_url)  # C4 opted out in the CRM
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(unsubscribes.insert().values(contact_id="C1", unsubscribed_at=NOW,
                                                  channel="email_link"))
        conn.execute(feedback.insert(), [
            {"feedback_id": f"claim:{c}", "source": "claim", "channel": "service_desk",
             "client_id": "K1", "contact_id": c, "role": None, "text": "late", "scores": None,
             "ref_id": c, "occurred_at": NOW - timedelta(hours=1),
             "recorded_at": NOW - timedelta(minutes=5)} for c in ("C1", "C4")])
        enqueue(conn, idempotency_key="invitation:inv:x:C1", kind="invitation",
                recipient="ivan@k1.example", subject="Survey", body_text="?",
                created_at=NOW, contact_id="C1")
    links = LinkSettings("https://cx.example/s", b"secret", survey_catalogue())
    summary = acknowledge(warehouse_url, now=NOW, rules=feedback_rules(), owners=owners(),
                          links=links)
    assert summary.to_dict() == {"acknowledged": 2, "not_acknowledged": {}}
    with engine_for(warehouse_url).connect() as conn:
        assert set(conn.scalars(select(feedback_acknowledgements.c.status))) == {
            "acknowledged"}
    delivered, received = deliver_to_smtp(warehouse_url, now=NOW)
    assert (delivered.sent, delivered.suppressed) == (2, 1)
    assert outcomes(warehouse_url) == {
        "ack:claim:C1": ("sent", None), "ack:claim:C4": ("sent", None),
        "invitation:inv:x:C1": ("suppressed", "opted_out: contact C1 unsubscribed")}
    assert len(received) == 2


def test_the_pages_and_the_rules_make_the_same_promise() -> None:
    assert KIND in outbox_rules().transactional_kinds
    promise = {"en": "Replies to your own requests and claims still reach you.",
               "ru": "Ответы на ваши собственные обращения и претензии по-прежнему "
                     "будут приходить."}
    for language, text in promise.items():
        for page in ("unsubscribe", "unsubscribed"):
            html = (PAGES / language / f"{page}.html.j2").read_text(encoding="utf-8")
            assert text in " ".join(html.split()), (language, page)


def _queue(url: str, key: str, *, stale_after: datetime | None,
           links_expire_at: datetime | None) -> None:
    with engine_for(url).begin() as conn:
        enqueue(conn, idempotency_key=key, kind="invitation", recipient=f"{key}@x.example",
                subject="Survey", body_text="?", created_at=NOW, stale_after=stale_after,
                links_expire_at=links_expire_at)


def test_at_send_time_stale_invitations_and_expiring_links_are_skipped(
        warehouse_url: str) -> None:
    # link margin 7 days (outbox.yaml): a link valid 30 days from NOW may leave until
    # NOW + 23 days; an invitation due NOW - 24 h is stale 72 h after it: NOW + 48 h
    assert outbox_rules().link_margin_days == 7
    _queue(warehouse_url, "fresh", stale_after=NOW + timedelta(hours=48),
           links_expire_at=NOW + timedelta(days=30))
    _queue(warehouse_url, "stale", stale_after=NOW + timedelta(hours=47),
           links_expire_at=NOW + timedelta(days=30))
    _queue(warehouse_url, "expiring", stale_after=None,
           links_expire_at=NOW + timedelta(days=7, hours=47, minutes=59))
    _queue(warehouse_url, "plain", stale_after=None, links_expire_at=None)
    at = NOW + timedelta(hours=48)
    summary, received = deliver_to_smtp(warehouse_url, now=at)
    assert (summary.sent, summary.suppressed) == (2, 2)
    assert summary.suppressed_by_reason == {"stale_at_send": 1, "link_expiring": 1}
    assert outcomes(warehouse_url) == {
        "fresh": ("sent", None), "plain": ("sent", None),
        "stale": ("suppressed", "stale_at_send: stale since 2026-11-06 11:00:00"),
        "expiring": ("suppressed", "link_expiring: its links expire at 2026-11-13 11:59:00, "
                                   "less than 7 days after 2026-11-06 12:00:00")}
    assert len(received) == 2


def _planned_claim(url: str, tmp_path) -> dict:
    """A claim closed at NOW by tb1 of client A: its survey is due 24 h later."""
    seed(url)
    ingest_external_events(url, [{**GOOD, "occurred_at": "2026-06-01T12:00:00"}], EVENT_NOW)
    return run(url, tmp_path)


def test_an_invitation_reached_after_its_staleness_limit_is_skipped_as_stale_at_send(
        warehouse_url, tmp_path) -> None:
    assert _planned_claim(warehouse_url, tmp_path)["invited_later"] == 1
    # due 2026-06-02 12:00; the next run comes 35 days after the event
    late = EVENT_NOW + timedelta(days=35)
    summary = dispatch(warehouse_url, late, contact_rules(), survey_catalogue(),
                       config(tmp_path))
    assert summary["enqueued"]["invitation"]["stale_at_send"] == 1
    assert outcomes(warehouse_url) == {"invitation:inv:claim_closed:K1:tb1": (
        "suppressed", "stale_at_send: due at 2026-06-02 12:00:00, more than 72 h before "
                      "2026-07-06 12:00:00")}


def test_an_invitation_in_time_carries_its_limits_to_the_outbox(warehouse_url,
                                                               tmp_path) -> None:
    _planned_claim(warehouse_url, tmp_path)
    on_time = EVENT_NOW + timedelta(hours=25)
    dispatch(warehouse_url, on_time, contact_rules(), survey_catalogue(), config(tmp_path))
    with engine_for(warehouse_url).connect() as conn:
        row = conn.execute(select(outbox.c.status, outbox.c.stale_after,
                                  outbox.c.links_expire_at)).one()
    # due 06-02 12:00 + 72 h; links issued at the run (06-02 13:00) + 30 days
    assert tuple(row) == ("queued", datetime(2026, 6, 5, 12), datetime(2026, 7, 2, 13))
    # delivered by a run 4 days later: past its limit, skipped, nothing sent
    summary, received = deliver_to_smtp(warehouse_url, kinds=["invitation"],
                                        now=on_time + timedelta(days=4))
    assert (summary.sent, summary.suppressed_by_reason) == (0, {"stale_at_send": 1})
    assert received == []


def test_every_batch_checks_the_promises_at_the_now_passed_in(warehouse_url) -> None:
    """The wall clock (here 40 days after NOW) dates the sends; the promises are checked at
    the run's ``now`` in the second batch as in the first (batches of one)."""
    for key in ("first", "second"):
        _queue(warehouse_url, key, stale_after=NOW + timedelta(hours=72),
               links_expire_at=NOW + timedelta(days=30))
    wall = NOW + timedelta(days=40)
    summary, received = deliver_to_smtp(warehouse_url, now=NOW, batch_size=1,
                                        clock=lambda: wall)
    assert (summary.sent, summary.suppressed) == (2, 0)
    assert len(received) == 2
