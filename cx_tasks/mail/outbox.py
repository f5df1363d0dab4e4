"""The outbox: the one place every e-mail of CX Loop goes through.

A stage never talks to a mail server. It *enqueues* a message under an idempotency
key (insert-if-absent: re-running an interval enqueues nothing new), and a delivery
task *delivers* the queue through a transport that is handed in (the Airflow plugin
provides one built on ``SmtpHook``; ``cx_tasks.mail.smtp`` one over any session
factory; tests pass real SMTP servers or a scripted fake). So the business logic stays
free of Airflow and of SMTP, and every message is recorded once with its fate.

Life of a message::

    queued ──claim──► sending ──► sent
      ▲  │               │ └────► failed      (permanent: a 5xx answer, or max attempts)
      │  │               └──► queued          (transient: 4xx, refused or dropped
      │  │                                     connection; retried at next_attempt_at)
      │  └─claim─► suppressed                 (the contact opted out by the time of sending)
    suppressed                                (enqueued so: recorded, never sent)

Delivery settings (batch size, backoff, max attempts) are the rule table
``rules/outbox.yaml``. A transient answer puts the message back to ``queued`` with
``next_attempt_at`` = now + min(cap, base * 2 ** (attempts - 1)); a claim takes only
messages whose ``next_attempt_at`` is due. ``attempts`` counts claims.

Opt-out holds at the moment of sending too: a claim suppresses (never sends) every
message whose contact is unsubscribed (``unsubscribes``) or flagged ``opted_out`` in
``stg_crm_contacts``, or whose recipient address is such a contact's, except the
*transactional* kinds (``transactional_kinds`` in ``outbox.yaml``: acknowledgements, the
replies to the client's own claims, requests and answers). That is the unsubscribe page's
promise ("replies to your own requests and claims still reach you"), and what Qualtrics
and CustomerGauge do: an opt-out stops surveys, not the answers to what the client asked.
Messages to the supplier's own staff carry no contact (they are stopped only if their
address is an opted-out contact's).

Promises checked at sending, against the ``now`` handed to ``deliver`` (the run's time, not
the wall clock): a message enqueued with ``stale_after`` (an invitation's staleness limit)
is suppressed as ``stale_at_send`` once ``now`` is past it, and one whose links expire
(``links_expire_at``) less than ``link_margin_days`` after ``now`` as ``link_expiring``.

Exactly once, and the window where it is not: each claimed batch is marked ``sending``
and committed *before* it is handed to the transport, and the answers are recorded in
one transaction *after* the transport returns. If the process dies in between (SIGKILL,
lost worker, a transport that raises), the outcome of that batch is unknown: some of its
messages may have been accepted by the server. The next delivery resends every message
still ``sending`` with the same ``Message-ID``, so a receiving system that keeps the
first copy can drop the second. Duplicates are therefore possible only for the messages
of the batch in flight at the crash (at most ``batch_size``), plus the one message whose
connection drops after its data was sent but before the server answered (reported
transient, retried). Nothing is lost: a message leaves ``queued``/``sending`` only when
the server's answer was recorded or its contact opted out. Only one delivery may run at a
time for the same kinds (a ``sending`` message of its kinds is taken to be an orphan, not
another deliverer's work).

Times: ``created_at`` comes from the caller's data interval, never the wall clock, so
re-running an interval enqueues an identical outbox. ``sent_at`` (when the batch's answers
were recorded, just after the server accepted it) and ``next_attempt_at`` are wall-clock
times (the ``clock`` of ``deliver``): backoff is about real time, not data intervals. They
are written only by sending, which a rerun never repeats for a sent message.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, bindparam, func, or_, select, tuple_, update

from cx_tasks.config import load_rules
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import STAGING, outbox, outbox_images, unsubscribes

Result = Literal["sent", "transient", "permanent"]

MESSAGE_ID_DOMAIN = "cx-loop"


class OutboxRules(BaseModel):
    """How the outbox delivers: batch size, retry backoff and when to give up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(50, ge=1, description="messages claimed and sent over one session")
    sessions: int = Field(2, ge=1, description="SMTP sessions a batch is sent over at once, "
                                               "each carrying a consecutive slice")
    retry_base_seconds: float = Field(60, gt=0, description="delay after the first transient "
                                                            "answer; doubled per attempt")
    retry_cap_seconds: float = Field(3600, gt=0, description="longest delay between attempts")
    max_attempts: int = Field(10, ge=1, description="a message still transient on this "
                                                    "attempt is failed")
    transactional_kinds: tuple[str, ...] = Field(
        ("acknowledgement",), description="kinds an opt-out does not stop: replies to the "
                                          "client's own feedback")
    link_margin_days: float = Field(7, ge=0, description="no message leaves whose links "
                                                         "expire sooner than this after sending")

    def retry_delay(self, attempts: int) -> timedelta:
        """Wait after a transient answer on attempt ``attempts`` (1-based):
        min(cap, base * 2 ** (attempts - 1))."""
        seconds = self.retry_base_seconds * 2.0 ** min(attempts - 1, 62)
        return timedelta(seconds=min(self.retry_cap_seconds, seconds))


def outbox_rules(rules_dir: Path | None = None) -> OutboxRules:
    """The delivery rules from ``outbox.yaml`` (the user's copy if present)."""
    return load_rules("outbox", OutboxRules, rules_dir)


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
    inline_images: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)
    """Content-ID -> (MIME type, bytes) of the images the HTML shows by ``cid:``."""


@dataclass(frozen=True)
class DeliveryOutcome:
    """What the transport learned about one message: sent, or why not."""

    idempotency_key: str
    result: Result
    answer: str | None = None


@dataclass(frozen=True)
class FailedMessage:
    """A message failed for good in a delivery run, with the server's (or our) answer."""

    idempotency_key: str
    recipient: str
    answer: str


@dataclass(frozen=True)
class DeliverySummary:
    """One delivery run: messages sent, failed and suppressed in it (``failures`` names each
    failed one); ``retry`` counts the messages left queued for a later attempt after it
    (answered transiently in this run or before, and not yet due again), the earliest of
    them due at ``next_attempt_at``. A caller that must not finish with mail outstanding
    raises while ``retry`` is not 0, and its own retry delivers them once due."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    resent_after_crash: int = 0
    suppressed: int = 0
    failures: tuple[FailedMessage, ...] = ()
    next_attempt_at: datetime | None = None
    suppressed_by_reason: dict[str, int] = field(default_factory=dict)
    """The messages suppressed in this run per reason (``opted_out``, ``stale_at_send``,
    ``link_expiring``)."""


@dataclass(frozen=True)
class Claim:
    """One claim: the messages now ``sending``, the keys suppressed instead (with the
    reason), and the position of the last row looked at (None when there was none)."""

    messages: list[OutboxMessage]
    suppressed: dict[str, str]
    last: tuple[datetime, str] | None


Transport = Callable[[list[OutboxMessage]], list[DeliveryOutcome]]
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """Now, in UTC, as the naive datetime the warehouse stores: ``deliver``'s default clock,
    since ``sent_at`` and retry times record when the SMTP server really answered (an edge,
    like the transport; a test or a replay passes its own clock)."""
    return datetime.now(UTC).replace(tzinfo=None)


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
    inline_images: Mapping[str, tuple[str, bytes]] | None = None,
    stale_after: datetime | None = None,
    links_expire_at: datetime | None = None,
) -> bool:
    """Record a message under its key unless the key exists; True if it was new.

    With ``suppressed_reason`` the message is recorded as ``suppressed`` (kept for the
    record, with the reason in ``last_error``) and never delivered. ``contact_id`` names
    the client contact a message goes to (None for the supplier's own staff; a client
    message must carry it so an opt-out suppresses it); ``headers`` are extra MIME headers
    such as ``List-Unsubscribe``; ``inline_images`` (Content-ID -> MIME type and bytes)
    the images its HTML shows by ``cid:`` links, stored with it (``outbox_images``).
    ``stale_after`` is when the message stops being worth
    sending, ``links_expire_at`` when its earliest link stops working (see ``deliver``).
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
        "stale_after": stale_after,
        "links_expire_at": links_expire_at,
    }
    new = insert_if_absent(conn, outbox, [row]) == 1
    if new and inline_images:
        insert_if_absent(conn, outbox_images, [
            {"idempotency_key": idempotency_key, "content_id": cid, "mime_type": kind,
             "data": data} for cid, (kind, data) in inline_images.items()])
    return new


def broken_promises(rows: Sequence[Mapping[str, Any]], now: datetime,
                    link_margin: timedelta) -> dict[str, str]:
    """Outbox rows (by key) that must not go out at ``now``, with why: past their
    ``stale_after`` (``stale_at_send``), or links expiring less than ``link_margin`` after
    ``now`` (``link_expiring``)."""
    reasons = {}
    for row in rows:
        stale, expires = row["stale_after"], row["links_expire_at"]
        if stale is not None and now > stale:
            reasons[row["idempotency_key"]] = f"stale_at_send: stale since {stale}"
        elif expires is not None and expires - now < link_margin:
            reasons[row["idempotency_key"]] = (
                f"link_expiring: its links expire at {expires}, less than "
                f"{link_margin.total_seconds() / 86400:g} days after {now}")
    return reasons


def opt_out_reasons(conn: Connection, rows: Sequence[Mapping[str, Any]],
                    transactional: Iterable[str] = ()) -> dict[str, str]:
    """Outbox rows (by key) that must not go out because their contact opted out, with why:
    the contact unsubscribed, is flagged ``opted_out`` in the CRM, or the recipient address
    is the address of such a contact. Rows of a ``transactional`` kind always go."""
    rows = [r for r in rows if r["kind"] not in set(transactional)]
    if not rows:
        return {}
    contact_ids = sorted({r["contact_id"] for r in rows if r["contact_id"]})
    addresses = sorted({r["recipient"].strip().lower() for r in rows})
    unsubscribed = set(conn.scalars(
        select(unsubscribes.c.contact_id).where(unsubscribes.c.contact_id.in_(contact_ids))))
    contacts = STAGING["crm_contacts"]
    blocked = (
        select(contacts.c.contact_id, func.lower(contacts.c.email).label("address"),
               unsubscribes.c.contact_id.is_not(None).label("unsubscribed"))
        .outerjoin(unsubscribes, unsubscribes.c.contact_id == contacts.c.contact_id)
        .where(or_(contacts.c.contact_id.in_(contact_ids),
                   func.lower(contacts.c.email).in_(addresses)))
        .where(or_(contacts.c.opted_out.is_(True), unsubscribes.c.contact_id.is_not(None)))
    )
    flagged_ids: set[str] = set()
    by_address: dict[str, str] = {}
    for contact_id, address, was_unsubscribed in conn.execute(blocked):
        if was_unsubscribed:
            unsubscribed.add(contact_id)
        else:
            flagged_ids.add(contact_id)
        if address:
            by_address.setdefault(address.strip(), contact_id)
    reasons = {}
    for row in rows:
        contact, address = row["contact_id"], row["recipient"].strip().lower()
        if contact in unsubscribed:
            reasons[row["idempotency_key"]] = f"opted_out: contact {contact} unsubscribed"
        elif contact in flagged_ids:
            reasons[row["idempotency_key"]] = f"opted_out: contact {contact} opted out in the CRM"
        elif address in by_address:
            reasons[row["idempotency_key"]] = (
                f"opted_out: {address} is the address of opted-out contact {by_address[address]}")
    return reasons


def claim_batch(
    conn: Connection,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
    kinds: Iterable[str] | None = None,
    now: datetime | None = None,
    promised_at: datetime | None = None,
    rules: OutboxRules | None = None,
) -> Claim:
    """Look at up to ``limit`` deliverable messages; suppress those whose contact opted out
    (transactional kinds excepted) or whose promises fail at ``promised_at``
    (``broken_promises``), and mark the rest ``sending`` (one more attempt).

    Deliverable: ``queued`` with ``next_attempt_at`` unset or at most ``now`` (the wall
    clock unless given), or orphaned ``sending``. Rows come in ``(created_at,
    idempotency_key)`` order, strictly after ``after`` when given, so one delivery run
    visits each message at most once. ``promised_at`` defaults to ``now``, ``rules`` to
    the defaults of ``OutboxRules``.
    """
    now = now if now is not None else wall_clock()
    rules = rules or OutboxRules()
    promised_at = promised_at if promised_at is not None else now
    due = or_(
        outbox.c.status == "sending",
        and_(outbox.c.status == "queued",
             or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now)),
    )
    query = select(outbox).where(due)
    if after is not None:
        query = query.where(tuple_(outbox.c.created_at, outbox.c.idempotency_key) > after)
    if kinds is not None:
        query = query.where(outbox.c.kind.in_(list(kinds)))
    query = query.order_by(outbox.c.created_at, outbox.c.idempotency_key).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).mappings().all()
    if not rows:
        return Claim([], {}, None)
    suppressed = {**broken_promises(rows, promised_at,
                                    timedelta(days=rules.link_margin_days)),
                  **opt_out_reasons(conn, rows, rules.transactional_kinds)}
    if suppressed:
        conn.execute(update(outbox).where(outbox.c.idempotency_key == bindparam("key"))
                     .values(status="suppressed", last_error=bindparam("reason")),
                     [{"key": k, "reason": r} for k, r in suppressed.items()])
    claimed = [r for r in rows if r["idempotency_key"] not in suppressed]
    if claimed:
        conn.execute(
            update(outbox)
            .where(outbox.c.idempotency_key.in_([r["idempotency_key"] for r in claimed]))
            .values(status="sending", attempts=outbox.c.attempts + 1)
        )
    images = _inline_images(conn, [r["idempotency_key"] for r in claimed
                                   if r["body_html"] and "cid:" in r["body_html"]])
    messages = [
        OutboxMessage(
            idempotency_key=r["idempotency_key"], message_id=r["message_id"], kind=r["kind"],
            recipient=r["recipient"], subject=r["subject"], body_text=r["body_text"],
            body_html=r["body_html"], created_at=r["created_at"], attempts=r["attempts"] + 1,
            contact_id=r["contact_id"], headers=json.loads(r["headers"]) if r["headers"] else {},
            inline_images=images.get(r["idempotency_key"], {}),
        )
        for r in claimed
    ]
    return Claim(messages, suppressed, (rows[-1]["created_at"], rows[-1]["idempotency_key"]))


def _inline_images(conn: Connection, keys: Sequence[str]
                   ) -> dict[str, dict[str, tuple[str, bytes]]]:
    """The inline images of the messages with ``keys``: key -> Content-ID -> (type, bytes)."""
    found: dict[str, dict[str, tuple[str, bytes]]] = {}
    if not keys:
        return found
    rows = conn.execute(select(outbox_images).where(outbox_images.c.idempotency_key.in_(keys)))
    for row in rows:
        found.setdefault(row.idempotency_key, {})[row.content_id] = (row.mime_type,
                                                                     bytes(row.data))
    return found


def mark_sent(conn: Connection, idempotency_keys: Sequence[str], sent_at: datetime) -> None:
    """Record that the server accepted these messages by ``sent_at`` (one statement)."""
    if idempotency_keys:
        conn.execute(
            update(outbox)
            .where(outbox.c.idempotency_key.in_(list(idempotency_keys)))
            .values(status="sent", sent_at=sent_at, last_error=None, next_attempt_at=None)
        )


def mark_failed(conn: Connection, idempotency_key: str, error: str, *, permanent: bool,
                next_attempt_at: datetime | None = None) -> None:
    """Record a failed attempt: ``failed`` when permanent, else back to ``queued`` until
    ``next_attempt_at`` (None: at once)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.idempotency_key == idempotency_key)
        .values(status="failed" if permanent else "queued", last_error=error,
                next_attempt_at=None if permanent else next_attempt_at)
    )


def deliver(
    warehouse_url: str,
    send_batch: Transport,
    *,
    kinds: Iterable[str] | None = None,
    batch_size: int | None = None,
    max_attempts: int | None = None,
    rules: OutboxRules | None = None,
    clock: Clock = wall_clock,
    now: datetime | None = None,
) -> DeliverySummary:
    """Deliver every due message once through ``send_batch``; return the counts.

    ``now`` is the moment the send-time promises are checked against (``stale_after``,
    the link margin): the caller's run time; the clock when not given.

    ``rules`` default to ``outbox.yaml``; ``batch_size`` and ``max_attempts`` override
    them. Each batch is claimed in its own transaction before it is handed to the
    transport and its outcomes are recorded in another, so a crash in between leaves
    the batch ``sending`` (resent by the next run). A transient answer queues the message
    again with its backoff, or fails it on its ``max_attempts``-th attempt. When a whole
    batch fails transiently (the server is down) the run stops and the rest waits,
    untouched, for the next run. If the transport raises, the exception propagates and
    the batch stays ``sending``. ``clock`` (the wall clock) dates sends and retries.
    """
    rules = rules if rules is not None else outbox_rules()
    updates = {"batch_size": batch_size, "max_attempts": max_attempts}
    rules = rules.model_copy(update={k: v for k, v in updates.items() if v is not None})
    engine = engine_for(warehouse_url)
    kinds = list(kinds) if kinds is not None else None
    orphan_query = select(func.count()).select_from(outbox).where(outbox.c.status == "sending")
    if kinds is not None:
        orphan_query = orphan_query.where(outbox.c.kind.in_(kinds))
    with engine.connect() as conn:
        orphans = conn.scalar(orphan_query) or 0
    counts: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    failures: list[FailedMessage] = []
    after: tuple[datetime, str] | None = None
    while True:
        with engine.begin() as conn:
            moment = clock()
            claim = claim_batch(conn, limit=rules.batch_size, after=after, kinds=kinds,
                                now=moment, promised_at=now or moment, rules=rules)
        if claim.last is None:
            break
        after = claim.last
        suppressed.update(reason.split(":")[0] for reason in claim.suppressed.values())
        if not claim.messages:
            continue
        outcomes = {o.idempotency_key: o for o in send_batch(claim.messages)}
        results = []
        with engine.begin() as conn:
            answered_at = clock()
            sent = [m.idempotency_key for m in claim.messages
                    if (o := outcomes.get(m.idempotency_key)) and o.result == "sent"]
            mark_sent(conn, sent, answered_at)
            for message in claim.messages:
                outcome = outcomes.get(message.idempotency_key) or DeliveryOutcome(
                    message.idempotency_key, "transient", "the transport reported no outcome")
                result, error = _record(conn, message, outcome, rules, answered_at)
                results.append(result)
                if result == "failed":
                    failures.append(FailedMessage(message.idempotency_key, message.recipient,
                                                  error or ""))
        for result in results:
            counts[result] += 1
        if "sent" not in results and "failed" not in results:
            break  # the server took nothing: leave the rest queued for the next run
    waiting = select(func.count(), func.min(outbox.c.next_attempt_at)).where(
        outbox.c.status == "queued", outbox.c.attempts > 0)
    if kinds is not None:
        waiting = waiting.where(outbox.c.kind.in_(kinds))
    with engine.connect() as conn:
        retry, next_attempt_at = conn.execute(waiting).one()
    return DeliverySummary(
        sent=counts["sent"], retry=retry, failed=counts["failed"],
        resent_after_crash=orphans, suppressed=suppressed.total(), failures=tuple(failures),
        next_attempt_at=next_attempt_at, suppressed_by_reason=dict(sorted(suppressed.items())),
    )


def _record(conn: Connection, message: OutboxMessage, outcome: DeliveryOutcome,
            rules: OutboxRules, now: datetime) -> tuple[str, str | None]:
    """Store one outcome (a sent one is already stored with its batch); return the summary
    bucket it counts in and the error stored."""
    if outcome.result == "sent":
        return "sent", None
    answer = outcome.answer or outcome.result
    if outcome.result == "permanent":
        mark_failed(conn, message.idempotency_key, answer, permanent=True)
        return "failed", answer
    if message.attempts >= rules.max_attempts:
        error = f"gave up after {message.attempts} attempts: {answer}"
        mark_failed(conn, message.idempotency_key, error, permanent=True)
        return "failed", error
    mark_failed(conn, message.idempotency_key, answer, permanent=False,
                next_attempt_at=now + rules.retry_delay(message.attempts))
    return "retry", answer
