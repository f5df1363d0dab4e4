"""The outbox: the one place every e-mail of CX Loop goes through.

A stage never talks to a mail server. It *enqueues* a message under an idempotency
key (insert-if-absent: re-running an interval enqueues nothing new), and a delivery
task *delivers* the queue through a transport that is handed in (the Airflow plugin
provides one built on ``SmtpHook``; tests pass a fake). So the business logic stays free
of Airflow and of SMTP, and every message is recorded once with its fate.

Life of a message::

    queued ──claim──► sending ──► sent
      ▲                  │ └────► failed      (permanent: a 5xx answer, or max attempts)
      └── transient ─────┘                    (4xx, connection refused: retried next run)
    suppressed                                (recorded, never sent: e.g. an opt-out)

``attempts`` counts claims. A message still ``sending`` when a later delivery starts
was claimed by a run that died before recording the outcome: it is sent again with
the same ``Message-ID``, so a receiving system that saw the first copy can drop the
duplicate. Only one delivery may run at a time per warehouse (a ``sending`` message
is taken to be an orphan, not another deliverer's work).

Times: ``created_at`` comes from the caller's data interval, never the wall clock, so
re-running an interval leaves the outbox identical; ``sent_at`` is the wall-clock time
the server accepted the message (it is written once, when the message is sent, and a
rerun never sends a sent message again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, func, select, tuple_, update

from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import outbox

Result = Literal["sent", "transient", "permanent"]

MESSAGE_ID_DOMAIN = "cx-loop"


@dataclass(frozen=True)
class OutboxMessage:
    """A message claimed for delivery, as the transport needs it."""

    idempotency_key: str
    message_id: str
    kind: str
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    created_at: datetime
    attempts: int
    contact_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What the transport learned about one message: sent, or why not."""

    idempotency_key: str
    result: Result
    answer: str | None = None


@dataclass(frozen=True)
class DeliverySummary:
    """Counts of one delivery run."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    resent_after_crash: int = 0


Transport = Callable[[list[OutboxMessage]], list[DeliveryOutcome]]


def message_id_for(idempotency_key: str) -> str:
    """The RFC 5322 Message-ID of a key: ``<first 32 hex of sha256(key)@cx-loop>``."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


def enqueue(
    conn: Connection,
    *,
    idempotency_key: str,
    kind: str,
    recipient: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    created_at: datetime,
    suppressed_reason: str | None = None,
    contact_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """Record a message under its key unless the key exists; True if it was new.

    With ``suppressed_reason`` the message is recorded as ``suppressed`` (kept for the
    record, with the reason in ``last_error``) and never delivered. ``contact_id`` names
    the client contact a message goes to (None for the supplier's own staff); ``headers``
    are extra MIME headers such as ``List-Unsubscribe``.
    """
    row = {
        "idempotency_key": idempotency_key,
        "message_id": message_id_for(idempotency_key),
        "kind": kind,
        "recipient": recipient,
        "subject": subject,
        "body_text": body_text,
        "body_html": body_html,
        "status": "suppressed" if suppressed_reason else "queued",
        "attempts": 0,
        "last_error": suppressed_reason,
        "created_at": created_at,
        "sent_at": None,
        "contact_id": contact_id,
        "headers": json.dumps(dict(headers), sort_keys=True) if headers else None,
    }
    return insert_if_absent(conn, outbox, [row]) == 1


def claim_batch(
    conn: Connection,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    kinds: Iterable[str] | None = None,
) -> list[OutboxMessage]:
    """Mark up to ``limit`` queued (or orphaned ``sending``) messages as sending; return them.

    Messages come in ``(created_at, idempotency_key)`` order, strictly after ``after``
    when given, so one delivery run visits each message at most once.
    """
    query = select(outbox).where(outbox.c.status.in_(("queued", "sending")))
    if after is not None:
        query = query.where(tuple_(outbox.c.created_at, outbox.c.idempotency_key) > after)
    if kinds is not None:
        query = query.where(outbox.c.kind.in_(list(kinds)))
    query = query.order_by(outbox.c.created_at, outbox.c.idempotency_key).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).mappings().all()
    if not rows:
        return []
    keys = [r["idempotency_key"] for r in rows]
    conn.execute(
        update(outbox)
        .where(outbox.c.idempotency_key.in_(keys))
        .values(status="sending", attempts=outbox.c.attempts + 1)
    )
    return [
        OutboxMessage(
            idempotency_key=r["idempotency_key"], message_id=r["message_id"], kind=r["kind"],
            recipient=r["recipient"], subject=r["subject"], body_text=r["body_text"],
            body_html=r["body_html"], created_at=r["created_at"], attempts=r["attempts"] + 1,
            contact_id=r["contact_id"], headers=json.loads(r["headers"]) if r["headers"] else {},
        )
        for r in rows
    ]


def mark_sent(conn: Connection, idempotency_key: str, sent_at: datetime) -> None:
    """Record that the server accepted the message at ``sent_at``."""
    conn.execute(
        update(outbox)
        .where(outbox.c.idempotency_key == idempotency_key)
        .values(status="sent", sent_at=sent_at, last_error=None)
    )


def mark_failed(conn: Connection, idempotency_key: str, error: str, *, permanent: bool) -> None:
    """Record a failed attempt: ``failed`` when permanent, else back to ``queued`` for a retry."""
    conn.execute(
        update(outbox)
        .where(outbox.c.idempotency_key == idempotency_key)
        .values(status="failed" if permanent else "queued", last_error=error)
    )


def deliver(
    warehouse_url: str,
    send_batch: Transport,
    *,
    kinds: Iterable[str] | None = None,
    batch_size: int = 50,
    max_attempts: int = 5,
) -> DeliverySummary:
    """Deliver every queued message once through ``send_batch``; return the counts.

    Each batch is claimed in its own transaction before it is handed to the transport
    and its outcomes are recorded in another, so a crash in between leaves the batch
    ``sending`` (resent by the next run). A transient failure on a message's
    ``max_attempts``-th attempt makes it ``failed``. When a whole batch fails
    transiently (the server is down) the run stops and the rest waits, untouched, for
    the next run. If the transport raises, the exception propagates and the batch stays
    ``sending``.
    """
    engine = engine_for(warehouse_url)
    kinds = list(kinds) if kinds is not None else None
    orphan_query = select(func.count()).select_from(outbox).where(outbox.c.status == "sending")
    if kinds is not None:
        orphan_query = orphan_query.where(outbox.c.kind.in_(kinds))
    with engine.connect() as conn:
        orphans = conn.scalar(orphan_query)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    after: tuple[datetime, str] | None = None
    while True:
        with engine.begin() as conn:
            batch = claim_batch(conn, limit=batch_size, after=after, kinds=kinds)
        if not batch:
            break
        after = (batch[-1].created_at, batch[-1].idempotency_key)
        outcomes = {o.idempotency_key: o for o in send_batch(batch)}
        results = []
        with engine.begin() as conn:
            for message in batch:
                outcome = outcomes.get(message.idempotency_key) or DeliveryOutcome(
                    message.idempotency_key, "transient", "the transport reported no outcome")
                results.append(_record(conn, message, outcome, max_attempts))
        for result in results:
            counts[result] += 1
        if "sent" not in results and "failed" not in results:
            break  # the server took nothing: leave the rest queued for the next run
    return DeliverySummary(
        sent=counts["sent"], retry=counts["retry"], failed=counts["failed"],
        resent_after_crash=orphans,
    )


def _record(
    conn: Connection, message: OutboxMessage, outcome: DeliveryOutcome, max_attempts: int
) -> str:
    """Store one outcome; return the summary bucket it counts in."""
    if outcome.result == "sent":
        mark_sent(conn, message.idempotency_key, datetime.now(UTC).replace(tzinfo=None))
        return "sent"
    answer = outcome.answer or outcome.result
    if outcome.result == "permanent":
        mark_failed(conn, message.idempotency_key, answer, permanent=True)
        return "failed"
    if message.attempts >= max_attempts:
        mark_failed(conn, message.idempotency_key,
                    f"gave up after {message.attempts} attempts: {answer}", permanent=True)
        return "failed"
    mark_failed(conn, message.idempotency_key, answer, permanent=False)
    return "retry"
