"""The outbox: insert-if-absent enqueue, claims, outcomes, crash recovery, real SMTP answers."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from fixtures.smtp_peers import answering_server
from sqlalchemy import select

from cx_tasks.mail.outbox import (
    DeliveryOutcome,
    DeliverySummary,
    FailedMessage,
    OutboxMessage,
    OutboxRules,
    claim_batch,
    deliver,
    enqueue,
    message_id_for,
    outbox_rules,
)
from cx_tasks.mail.quality_alert import enqueue_quality_alert
from cx_tasks.mail.recipients import alert_recipients
from cx_tasks.mail.smtp import mime_message, send_over
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import outbox

CREATED = datetime(2026, 5, 2, 2, 0)
RULES = OutboxRules(batch_size=50, retry_base_seconds=60, retry_cap_seconds=3600,
                    max_attempts=10)


def _enqueue(warehouse_url: str, key: str, *, kind: str = "test", minute: int = 0, **extra) -> bool:
    with engine_for(warehouse_url).begin() as conn:
        return enqueue(conn, idempotency_key=key, kind=kind, recipient=f"{key}@example.com",
                       subject=f"subject {key}", body_text=f"text {key}",
                       created_at=CREATED.replace(minute=minute), **extra)


def _rows(warehouse_url: str) -> dict[str, dict]:
    with engine_for(warehouse_url).connect() as conn:
        return {r["idempotency_key"]: dict(r) for r in conn.execute(select(outbox)).mappings()}


class ScriptedTransport:
    """A fake transport answering per key from a script (default: sent); records calls."""

    def __init__(self, script: dict[str, DeliveryOutcome] | None = None) -> None:
        self.script = script or {}
        self.calls: list[list[OutboxMessage]] = []

    def __call__(self, messages: list[OutboxMessage]) -> list[DeliveryOutcome]:
        self.calls.append(messages)
        return [self.script.get(m.idempotency_key, DeliveryOutcome(m.idempotency_key, "sent"))
                for m in messages]

    @property
    def keys(self) -> list[str]:
        return [m.idempotency_key for batch in self.calls for m in batch]


def test_message_id_is_the_first_32_hex_of_the_keys_sha256() -> None:
    # sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a3... (FIPS 180-2 test vector)
    assert message_id_for("abc") == "<ba7816bf8f01cfea414140de5dae2223@cx-loop>"


def test_enqueue_inserts_once_per_key_and_keeps_the_first_version(warehouse_url) -> None:
    assert _enqueue(warehouse_url, "k1") is True
    with engine_for(warehouse_url).begin() as conn:
        again = enqueue(conn, idempotency_key="k1", kind="test", recipient="other@example.com",
                        subject="changed", body_text="changed", created_at=CREATED)
    assert again is False
    row = _rows(warehouse_url)["k1"]
    assert (row["status"], row["attempts"], row["subject"]) == ("queued", 0, "subject k1")
    assert row["message_id"] == message_id_for("k1")
    assert row["created_at"] == CREATED and row["sent_at"] is None


def test_deliver_records_sent_transient_and_permanent_outcomes(warehouse_url) -> None:
    for minute, key in enumerate(["ok", "later", "bounce"]):
        _enqueue(warehouse_url, key, minute=minute)
    transport = ScriptedTransport({
        "later": DeliveryOutcome("later", "transient", "451 4.3.0 try again later"),
        "bounce": DeliveryOutcome("bounce", "permanent", "550 5.1.1 no such user"),
    })
    at = datetime(2026, 5, 2, 3, 0)
    summary = deliver(warehouse_url, transport, rules=RULES, clock=lambda: at)
    assert (summary.sent, summary.retry, summary.failed) == (1, 1, 1)
    assert summary.failures == (
        FailedMessage("bounce", "bounce@example.com", "550 5.1.1 no such user"),)
    assert transport.keys == ["ok", "later", "bounce"]  # created_at order
    rows = _rows(warehouse_url)
    assert (rows["ok"]["status"], rows["ok"]["sent_at"]) == ("sent", at)
    assert (rows["later"]["status"], rows["later"]["attempts"]) == ("queued", 1)
    assert rows["later"]["last_error"] == "451 4.3.0 try again later"
    assert (rows["bounce"]["status"], rows["bounce"]["attempts"]) == ("failed", 1)
    assert rows["bounce"]["last_error"] == "550 5.1.1 no such user"

    # the next run after the backoff retries only the transient one, and it goes through now
    second = ScriptedTransport()
    summary = deliver(warehouse_url, second, rules=RULES, clock=lambda: at + timedelta(minutes=1))
    assert second.keys == ["later"]
    assert (summary.sent, summary.retry, summary.failed) == (1, 0, 0)
    later = _rows(warehouse_url)["later"]
    assert (later["status"], later["attempts"]) == ("sent", 2)
    assert deliver(warehouse_url, ScriptedTransport(), rules=RULES,
                   clock=lambda: at + timedelta(days=1)).sent == 0  # nothing left


def test_a_message_left_sending_by_a_crash_is_resent_with_the_same_message_id(
        warehouse_url) -> None:
    _enqueue(warehouse_url, "orphan")
    # a run claimed it and died before the outcome
    with engine_for(warehouse_url).begin() as conn:
        claimed = claim_batch(conn, limit=10).messages
    assert [m.attempts for m in claimed] == [1]
    assert _rows(warehouse_url)["orphan"]["status"] == "sending"

    transport = ScriptedTransport()
    summary = deliver(warehouse_url, transport)
    assert summary.resent_after_crash == 1 and summary.sent == 1
    (resent,) = transport.calls[0]
    assert resent.message_id == claimed[0].message_id == message_id_for("orphan")
    assert resent.attempts == 2


def test_a_transport_that_raises_leaves_the_batch_sending(warehouse_url) -> None:
    _enqueue(warehouse_url, "k1")

    def broken(messages: list[OutboxMessage]) -> list[DeliveryOutcome]:
        raise RuntimeError("worker killed mid-batch")

    with pytest.raises(RuntimeError):
        deliver(warehouse_url, broken)
    assert _rows(warehouse_url)["k1"]["status"] == "sending"


def test_transient_failures_give_up_after_max_attempts(warehouse_url) -> None:
    _enqueue(warehouse_url, "k1")
    always_later = ScriptedTransport({"k1": DeliveryOutcome("k1", "transient", "421 busy")})
    at = datetime(2026, 5, 2, 3, 0)
    first = deliver(warehouse_url, always_later, max_attempts=2, rules=RULES, clock=lambda: at)
    assert first.retry == 1  # attempt 1 of 2
    later = at + timedelta(seconds=60)
    second = deliver(warehouse_url, always_later, max_attempts=2, rules=RULES,
                     clock=lambda: later)  # attempt 2 of 2
    assert second.failed == 1
    assert second.failures == (
        FailedMessage("k1", "k1@example.com", "gave up after 2 attempts: 421 busy"),)
    row = _rows(warehouse_url)["k1"]
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert row["last_error"] == "gave up after 2 attempts: 421 busy"
    assert row["next_attempt_at"] is None


def test_retry_delay_doubles_from_the_base_up_to_the_cap() -> None:
    rules = OutboxRules(retry_base_seconds=60, retry_cap_seconds=300)
    assert [rules.retry_delay(n).total_seconds() for n in range(1, 6)] == [
        60, 120, 240, 300, 300]
    assert outbox_rules().model_dump() == {  # the shipped outbox.yaml
        "batch_size": 50, "sessions": 2, "retry_base_seconds": 60, "retry_cap_seconds": 3600,
        "max_attempts": 10, "transactional_kinds": ("acknowledgement",),
        "link_margin_days": 7}


def test_a_transient_message_waits_for_its_backoff_then_goes(warehouse_url) -> None:
    _enqueue(warehouse_url, "k1")
    at = datetime(2026, 5, 2, 3, 0)
    busy = ScriptedTransport({"k1": DeliveryOutcome("k1", "transient", "451 busy")})
    assert deliver(warehouse_url, busy, rules=RULES, clock=lambda: at).retry == 1
    row = _rows(warehouse_url)["k1"]
    assert (row["status"], row["next_attempt_at"]) == ("queued", datetime(2026, 5, 2, 3, 1))
    # not due yet: not even claimed, but still waiting for its retry (a caller raises)
    assert deliver(warehouse_url, busy, rules=RULES, clock=lambda: at + timedelta(seconds=59)
                   ) == DeliverySummary(retry=1, next_attempt_at=datetime(2026, 5, 2, 3, 1))
    assert len(busy.calls) == 1
    # due at 03:01: answered 451 again, so the next wait doubles to 120 s
    assert deliver(warehouse_url, busy, rules=RULES,
                   clock=lambda: datetime(2026, 5, 2, 3, 1)).retry == 1
    assert _rows(warehouse_url)["k1"]["next_attempt_at"] == datetime(2026, 5, 2, 3, 3)
    done = deliver(warehouse_url, ScriptedTransport(), rules=RULES,
                   clock=lambda: datetime(2026, 5, 2, 3, 3))
    assert done == DeliverySummary(sent=1)  # nothing left waiting
    row = _rows(warehouse_url)["k1"]
    assert (row["status"], row["attempts"], row["sent_at"]) == (
        "sent", 3, datetime(2026, 5, 2, 3, 3))


def test_a_run_stops_when_a_whole_batch_fails_transiently(warehouse_url) -> None:
    for minute in range(5):
        _enqueue(warehouse_url, f"k{minute}", minute=minute)
    down = ScriptedTransport({f"k{i}": DeliveryOutcome(f"k{i}", "transient", "refused")
                              for i in range(5)})
    summary = deliver(warehouse_url, down, batch_size=2)
    # first batch k0, k1 both transient -> stop: k2..k4 untouched
    assert down.keys == ["k0", "k1"] and summary.retry == 2
    assert [_rows(warehouse_url)[f"k{i}"]["attempts"] for i in range(5)] == [1, 1, 0, 0, 0]


def test_suppressed_messages_are_recorded_and_never_delivered(warehouse_url) -> None:
    _enqueue(warehouse_url, "opted-out", suppressed_reason="contact opted out")
    _enqueue(warehouse_url, "other", kind="other")
    transport = ScriptedTransport()
    assert deliver(warehouse_url, transport, kinds=["test"]).sent == 0
    assert transport.calls == []
    row = _rows(warehouse_url)["opted-out"]
    assert (row["status"], row["last_error"]) == ("suppressed", "contact opted out")
    assert _rows(warehouse_url)["other"]["status"] == "queued"  # another kind: not this run's


def test_alert_recipients_come_from_the_environment() -> None:
    assert alert_recipients({}) == ["data-engineers@example.com"]
    assert alert_recipients({"CX_ALERT_EMAILS": "a@x.org; b@x.org,c@x.org"}) == [
        "a@x.org", "b@x.org", "c@x.org"]


def test_quality_alert_is_enqueued_once_per_recipient_and_names_every_failure(
        warehouse_url) -> None:
    gate = dict(interval_start=datetime(2026, 5, 1, 2), interval_end=datetime(2026, 5, 2, 2),
                failed_expectations=["erp_orders.volume_within_band", "wms_shipments.freshness"],
                quarantined_by_rule={"null_key": 3, "negative_quantity": 12},
                results_path="/data/quality/2026-05-01T02.json")
    recipients = ["a@x.org", "b@x.org"]
    with engine_for(warehouse_url).begin() as conn:
        assert enqueue_quality_alert(conn, recipients=recipients, **gate) == 2
        assert enqueue_quality_alert(conn, recipients=recipients, **gate) == 0  # rerun
    rows = _rows(warehouse_url)
    assert sorted(rows) == ["quality_alert:2026-05-01T02:00:00:a@x.org",
                            "quality_alert:2026-05-01T02:00:00:b@x.org"]
    row = rows["quality_alert:2026-05-01T02:00:00:a@x.org"]
    assert row["created_at"] == datetime(2026, 5, 2, 2)  # the interval's end, not now
    assert row["subject"] == ("[CX Loop] Data-quality gate failed for 2026-05-01 02:00 UTC: "
                              "2 expectations failed")
    text = row["body_text"]
    assert "  - erp_orders.volume_within_band\n  - wms_shipments.freshness\n" in text
    # 12 + 3 = 15 rows, largest rule first
    assert "(15 in all):\n        12  negative_quantity\n         3  null_key\n" in text
    assert "/data/quality/2026-05-01T02.json" in text and "/data/quality" in row["body_html"]


@pytest.fixture()
def smtp_server():
    with answering_server() as server:
        yield server


def _message(key: str, recipient: str, html: str | None = "<p>Привет</p>") -> OutboxMessage:
    return OutboxMessage(idempotency_key=key, message_id=message_id_for(key), kind="test",
                         recipient=recipient, subject="Отгрузка доставлена / delivered",
                         body_text="Привет, delivered", body_html=html, created_at=CREATED,
                         attempts=1)


def test_send_over_one_session_classifies_the_servers_answers(smtp_server) -> None:
    handler, port = smtp_server
    batch = [_message("a", "ok@example.com"), _message("b", "bounce@example.com"),
             _message("c", "later@example.com"), _message("d", "ok2@example.com", html=None)]
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        outcomes = send_over(client, "cx@example.com", batch)
    assert [(o.idempotency_key, o.result) for o in outcomes] == [
        ("a", "sent"), ("b", "permanent"), ("c", "transient"), ("d", "sent")]
    assert outcomes[1].answer == "550 5.1.1 no such user"
    assert outcomes[2].answer == "451 4.3.0 mailbox busy"

    first, second = (message_from_bytes(raw, policy=policy.default) for raw in handler.received)
    assert first["Message-ID"] == message_id_for("a")
    assert first["Subject"] == "Отгрузка доставлена / delivered"
    assert first.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in first.iter_parts()}
    assert parts["text/plain"].strip() == "Привет, delivered"
    assert parts["text/html"].strip() == "<p>Привет</p>"
    assert second.get_content_type() == "text/plain"  # no HTML: a plain message


def test_mime_message_carries_the_outbox_headers() -> None:
    mime = mime_message(_message("k", "to@example.com"), "cx@example.com")
    assert (mime["From"], mime["To"], mime["Message-ID"]) == (
        "cx@example.com", "to@example.com", message_id_for("k"))


def test_mime_on_the_wire_keeps_non_ascii_names_subjects_and_long_urls() -> None:
    url = "<https://cx.example/u/" + "t" * 400 + ">"
    subject = "Напоминание: " + "как мы справились с доставкой заказа № 123? " * 3
    message = OutboxMessage(idempotency_key="k", message_id=message_id_for("k"), kind="test",
                            recipient="to@example.com", subject=subject.strip(),
                            body_text="Привет\n" * 200, body_html=None, created_at=CREATED,
                            attempts=1, headers={"List-Unsubscribe": url})
    raw = mime_message(message, "CX Loop — Сервис <cx@example.com>").as_bytes()
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998 and b"\n" not in raw.replace(b"\r\n", b"")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == subject.strip()
    assert (parsed["From"].addresses[0].display_name, parsed["From"].addresses[0].addr_spec) == (
        "CX Loop — Сервис", "cx@example.com")
    assert parsed["List-Unsubscribe"] == url
    assert parsed.get_content() == "Привет\n" * 200
