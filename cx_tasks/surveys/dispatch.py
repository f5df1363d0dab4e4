"""Dispatch: stored trigger events turned into survey invitations, skips and outbox messages.

One run works at one moment ``now``: its logical time (an event-triggered run's: the time
it was due), naive UTC, never the wall clock. It

1. *plans* a batch: every event known by ``now`` (``events.interval_start <= now``) that no
   earlier run planned, plus, in the first run of a UTC day, the relationship surveys due
   by the cadence. The batch is decided together (``targeting.decide``) against the history
   of invitations planned by earlier runs (``planned_in < now``). Every candidate is stored
   as an invitation or a skip, upserted on ``invitation_id`` with ``planned_in = now``; the
   lifecycle columns (``sent_at``, ``answered_at``, ``reminded_at``) are left alone. A
   rerun of the same run sees the same history and the same batch, so writes the same rows.
2. *enqueues* every stored invitation due by ``now`` (``scheduled_at <= now``) that was not
   sent and has no outbox message yet, key ``invitation:<invitation_id>``. An invitation
   planned for later (``send_after_hours``) waits in ``survey_invitations`` until the first
   run whose ``now`` reaches it. Opt-out and open claims are checked again at that moment:
   an invitation of a contact who opted out since, or of an account with a claim open now,
   is recorded in the outbox as ``suppressed`` with that reason, never sent (it still
   counts against the limits: it was planned).
3. *enqueues reminders* (``reminder:<invitation_id>``, once) for invitations the server
   accepted at least ``reminder_after_days`` before ``now`` and nobody answered; the
   invitation's ``reminded_at`` is set to ``now``.

``record_sent`` copies the time the server accepted each invitation from the outbox into
``survey_invitations.sent_at`` after a delivery. External events pushed through the REST
API are checked and stored by ``ingest_external_events``; a bad one goes to ``quarantine``
with the rule it broke.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, func, literal, select, update

from cx_tasks.collect.contract import ROLES
from cx_tasks.config import Settings
from cx_tasks.feedback.rules import owners
from cx_tasks.mail.outbox import enqueue
from cx_tasks.surveys.catalogue import EVENT_TYPES, SurveyCatalogue
from cx_tasks.surveys.contact_rules import ContactRules
from cx_tasks.surveys.event_intake import (
    EventIntakeRules,
    compact_json,
    event_intake_rules,
    parse_moment,
    size_refusal,
    window_refusal,
)
from cx_tasks.surveys.in_person import enqueue_in_person_tasks
from cx_tasks.surveys.invitations import invitation_mail
from cx_tasks.surveys.links import answer_expiry
from cx_tasks.surveys.targeting import (
    HISTORY_COLUMNS,
    INVITATION_COLUMNS,
    SKIP_COLUMNS,
    accounts_missing_roles,
    decide,
    event_candidates,
    opted_out_contacts,
    plan_reminders,
    relationship_candidates,
    skip_counts,
)
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.frames import read_staging
from cx_tasks.warehouse.schema import (
    events,
    outbox,
    quarantine,
    survey_answers,
    survey_invitations,
    survey_responses,
    survey_skips,
    unsubscribes,
)
from cx_tasks.warehouse.times import naive_utc

INVITATION_KIND = "invitation"
REMINDER_KIND = "reminder"
EXTERNAL_SOURCE = "external_events"
"""``quarantine.source_table`` of external events that failed a check."""
SUPPRESSION_REASONS = ("opted_out", "open_claim", "unknown_contact", "stale_at_send",
                       "link_expiring")
"""Why a due invitation or reminder is recorded in the outbox but never sent (the last two
also when the outbox delivers it: ``outbox.broken_promises``)."""


def invitation_key(invitation_id: str) -> str:
    """The outbox idempotency key of an invitation's e-mail."""
    return f"{INVITATION_KIND}:{invitation_id}"


def reminder_key(invitation_id: str) -> str:
    """The outbox idempotency key of an invitation's one reminder."""
    return f"{REMINDER_KIND}:{invitation_id}"


# --- external events ------------------------------------------------------------------------

REQUIRED_FIELDS = ("event_type", "client_id", "ref_id", "occurred_at")
OPTIONAL_FIELDS = ("contact_id", "order_id")
SET_ASIDE_SOURCES = {"events": "event_id", "survey_invitations": "invitation_id"}
"""``quarantine.source_table`` of rows a dispatch run set aside, and what ``row_key`` holds."""


def _field_refusal(extra: Mapping[str, Any]) -> str | None:
    """The first field rule a pushed event breaks: required strings, optional strings, each
    short enough for its column of ``events`` and free of control characters."""
    for name in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS):
        value = extra.get(name)
        if name in REQUIRED_FIELDS and (not isinstance(value, str) or not value.strip()):
            return f"{name}: required, a non-empty string"
        if value is None:
            continue
        if not isinstance(value, str):
            return f"{name}: a string when given"
        limit = events.c[name].type.length if name != "occurred_at" else 64
        if len(value) > limit or not value.isprintable():
            return f"{name}: at most {limit} printable characters"
    return None


def check_external_event(extra: Any, clients: Mapping[str, date | None], now: datetime,
                         rules: EventIntakeRules) -> tuple[dict[str, Any] | None, str | None]:
    """An external event's row for ``events`` (``event_id`` = ``<event_type>:<ref_id>``, the
    detected events' form), or None and the rule it breaks (``field`` / ``field: why``).
    ``clients`` maps each known client to its contract start; ``now`` is the run's time."""
    if not isinstance(extra, Mapping):
        return None, "extra: a JSON object"
    rule = size_refusal(extra, rules) or _field_refusal(extra)
    if rule is not None:
        return None, rule
    if extra["event_type"] not in EVENT_TYPES:
        return None, f"event_type: one of {', '.join(EVENT_TYPES)}"
    occurred = parse_moment(extra["occurred_at"])
    if occurred is None:
        return None, "occurred_at: an ISO 8601 date and time"
    if extra["client_id"] not in clients:
        return None, "client_id: not a known client"
    rule = window_refusal(occurred, now, clients[extra["client_id"]], rules)
    if rule is not None:
        return None, rule
    rest = {k: v for k, v in extra.items() if k not in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)}
    return {
        "event_id": f"{extra['event_type']}:{extra['ref_id']}",
        "event_type": extra["event_type"], "client_id": extra["client_id"],
        "contact_id": extra.get("contact_id"), "order_id": extra.get("order_id"),
        "ref_id": extra["ref_id"], "occurred_at": occurred,
        "payload": json.dumps(rest, sort_keys=True, default=str),
    }, None


def quarantine_row(source: str, now: datetime, row_key: str, rule: str, detail: str,
                   payload: str, max_chars: int | None = None) -> dict[str, Any]:
    """A ``quarantine`` row, its payload cut to ``max_chars`` if given (with a note)."""
    if max_chars is not None and len(payload) > max_chars:
        payload = f"{payload[:max_chars]} ... (cut: {len(payload)} characters in all)"
    return {"source_table": source, "interval_start": now, "row_key": row_key[:200],
            "rule": rule[:120], "detail": detail, "payload": payload}


def _client_starts(engine: Any) -> dict[str, date | None]:
    """Each known client's contract start (None when unknown)."""
    clients = read_staging(engine, "erp_clients", ["client_id", "contract_start"])
    starts = pd.to_datetime(clients["contract_start"]).dt.date
    return {c: (None if pd.isna(s) else s)
            for c, s in zip(clients["client_id"], starts, strict=True)}


def ingest_external_events(warehouse_url: str, extras: Sequence[Any], now: datetime, *,
                           rules: EventIntakeRules | None = None) -> dict[str, Any]:
    """Store the valid pushed events (first record of an ``event_id`` kept, known from
    ``now``) and quarantine the rest with their rule (``event_intake.yaml``: the event
    window, the size of ``extra``); return the counts and the rules broken."""
    rules = rules or event_intake_rules()
    engine = engine_for(warehouse_url)
    now = naive_utc(now)
    clients = _client_starts(engine)
    good, bad = [], []
    for extra in extras:
        row, rule = check_external_event(extra, clients, now, rules)
        if row is not None:
            good.append({**row, "interval_start": now})
            continue
        payload = (compact_json(extra) if isinstance(extra, Mapping)
                   else json.dumps(extra, default=str))
        bad.append(quarantine_row(
            EXTERNAL_SOURCE, now, hashlib.sha256(payload.encode()).hexdigest()[:32],
            f"external_event.{rule.split(':')[0]}", rule, payload, rules.extra_max_bytes))
    with engine.begin() as conn:
        new = insert_if_absent(conn, events, good) if good else 0
        if bad:
            insert_if_absent(conn, quarantine, bad)
    return {"received": len(extras), "valid": len(good), "new": new,
            "quarantined": [{"rule": b["detail"], "payload": b["payload"]} for b in bad]}


# --- what the planning needs, as known at ``now`` -------------------------------------------

@dataclass(frozen=True)
class Known:
    """The warehouse as a run at ``now`` sees it."""

    contacts: pd.DataFrame
    clients: pd.DataFrame
    unsubscribed: set[str]
    open_claims: pd.DataFrame
    history: pd.DataFrame
    """Invitations planned by earlier runs (``HISTORY_COLUMNS``), at their scheduled time."""
    answered: dict[str, datetime]
    """When each answered invitation was first answered, by invitation id."""
    key_accounts: frozenset[str] = frozenset()
    """Clients flagged key accounts in the CRM (``crm_accounts``)."""


def _frame(conn: Connection, query: Any) -> pd.DataFrame:
    return pd.read_sql(query, conn)


def _answered(conn: Connection) -> pd.Series:
    """The first answer's time per invitation id (answers, responses, or the invitation)."""
    firsts = pd.concat([
        _frame(conn, select(survey_answers.c.invitation_id,
                            func.min(survey_answers.c.answered_at).label("at"))
               .group_by(survey_answers.c.invitation_id)),
        _frame(conn, select(survey_responses.c.invitation_id,
                            survey_responses.c.first_answered_at.label("at"))),
        _frame(conn, select(survey_invitations.c.invitation_id,
                            survey_invitations.c.answered_at.label("at"))
               .where(survey_invitations.c.answered_at.is_not(None))),
    ], ignore_index=True)
    return pd.to_datetime(firsts["at"]).groupby(firsts["invitation_id"]).min().dropna()


def read_known(conn: Connection, now: datetime) -> Known:
    """Contacts, clients, opt-outs, the claims open at ``now`` and the history before it."""
    contacts = read_staging(conn, "crm_contacts")
    clients = read_staging(conn, "erp_clients", ["client_id", "name", "contract_start"])
    unsubscribed = set(conn.scalars(select(unsubscribes.c.contact_id)
                                    .where(unsubscribes.c.unsubscribed_at <= now)))
    claims = read_staging(conn, "sd_claims", ["claim_id", "client_id", "opened_at", "closed_at"])
    open_now = claims[(claims["opened_at"] <= now)
                      & (claims["closed_at"].isna() | (claims["closed_at"] > now))]
    planned = _frame(conn, select(survey_invitations).where(survey_invitations.c.planned_in < now))
    answered = _answered(conn).to_dict()
    history = planned.assign(
        sent_at=pd.to_datetime(planned["scheduled_at"]),
        answered_at=pd.to_datetime(planned["invitation_id"].map(answered)),
        is_reminder=False)[HISTORY_COLUMNS]
    accounts = read_staging(conn, "crm_accounts", ["client_id", "key_account"])
    key_accounts = frozenset(accounts.loc[accounts["key_account"].fillna(False).astype(bool),
                                          "client_id"])
    return Known(contacts, clients, unsubscribed, open_now.assign(closed_at=pd.NaT), history,
                 answered, key_accounts)


def _set_aside(source: str) -> Any:
    """The keys of the rows of ``source`` a dispatch run set aside (never tried again)."""
    return select(quarantine.c.row_key).where(quarantine.c.source_table == source)


def _unplanned_events(conn: Connection, now: datetime) -> pd.DataFrame:
    """Events known by ``now`` that no earlier run planned or set aside (each event has
    >= 1 row)."""
    earlier = [select(t.c.event_id).where(t.c.planned_in < now, t.c.event_id.is_not(None))
               for t in (survey_invitations, survey_skips)]
    query = (select(events).where(events.c.interval_start <= now,
                                  events.c.event_id.not_in(earlier[0]),
                                  events.c.event_id.not_in(earlier[1]),
                                  events.c.event_id.not_in(_set_aside("events")))
             .order_by(events.c.occurred_at, events.c.event_id))
    found = _frame(conn, query)
    return found.assign(occurred_at=pd.to_datetime(found["occurred_at"]))


def _relationship_due(conn: Connection, now: datetime) -> bool:
    """Whether this is the first run of its UTC day to plan relationship surveys."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return not any(conn.scalar(select(func.count()).select_from(t).where(
        t.c.kind == "relationship", t.c.planned_in >= day, t.c.planned_in < now))
        for t in (survey_invitations, survey_skips))


def _event_refusal(event: Mapping[str, Any], catalogue: SurveyCatalogue,
                   intake: EventIntakeRules, now: datetime) -> tuple[str, str] | None:
    """Why a stored event cannot be planned at ``now`` (rule, detail), or None: it lies
    beyond the event window, or its survey's send time cannot be computed."""
    try:
        occurred = pd.Timestamp(event["occurred_at"]).to_pydatetime()
        ahead = window_refusal(occurred, now, None, intake)
        if ahead is not None:
            return "dispatch.event_window", ahead
        survey = catalogue.for_event(event["event_type"])
        pd.Timestamp(occurred) + pd.Timedelta(hours=survey.send_after_hours)
    except Exception as error:  # noqa: BLE001 - whatever breaks one event sets it aside
        return "dispatch.plan", f"{type(error).__name__}: {error}"
    return None


def plannable_events(conn: Connection, batch: pd.DataFrame, catalogue: SurveyCatalogue,
                     intake: EventIntakeRules, now: datetime) -> pd.DataFrame:
    """The events of ``batch`` that can be planned; each other one is quarantined (source
    ``events``, its rule and why) so no later run tries it again."""
    refusals = {event["event_id"]: refusal for event in batch.to_dict("records")
                if (refusal := _event_refusal(event, catalogue, intake, now)) is not None}
    if refusals:
        insert_if_absent(conn, quarantine, [
            quarantine_row("events", now, event_id, rule, detail,
                           json.dumps({"event_id": event_id}))
            for event_id, (rule, detail) in refusals.items()])
    return batch[~batch["event_id"].isin(list(refusals))]


def plan_batch(conn: Connection, known: Known, rules: ContactRules,
               catalogue: SurveyCatalogue, now: datetime,
               intake: EventIntakeRules | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This run's invitations and skips (``INVITATION_COLUMNS``, ``SKIP_COLUMNS``); events
    that cannot be planned are set aside (``plannable_events``)."""
    batch = plannable_events(conn, _unplanned_events(conn, now), catalogue,
                             intake or event_intake_rules(), now)
    candidates = [event_candidates(batch, known.contacts, catalogue)]
    if _relationship_due(conn, now):
        candidates.append(relationship_candidates(known.clients, known.contacts, known.history,
                                                  rules, catalogue, now))
    pool = pd.concat([c for c in candidates if not c.empty] or candidates[:1],
                     ignore_index=True)
    return decide(pool, known.contacts, known.unsubscribed, known.open_claims, known.history,
                  rules, now, known.key_accounts)


# --- storing the plan -----------------------------------------------------------------------

def _records(frame: pd.DataFrame, columns: list[str], now: datetime) -> list[dict[str, Any]]:
    """Plain rows of ``frame`` with ``planned_in`` (timestamps as datetimes, NaN as None)."""
    rows = frame[columns].astype(object).where(frame[columns].notna(), None)
    return [{**{k: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
                for k, v in row.items()}, "planned_in": now}
            for row in rows.to_dict("records")]


def store_plan(conn: Connection, invitations: pd.DataFrame, skips: pd.DataFrame,
               now: datetime) -> None:
    """Upsert the batch's invitations and skips on ``invitation_id`` (plan columns only)."""
    for table, frame, columns in ((survey_invitations, invitations, INVITATION_COLUMNS),
                                  (survey_skips, skips, SKIP_COLUMNS)):
        rows = _records(frame, columns, now)
        if not rows:
            continue
        stored = set(conn.scalars(select(table.c.invitation_id).where(
            table.c.invitation_id.in_([r["invitation_id"] for r in rows]))))
        insert_if_absent(conn, table, [r for r in rows if r["invitation_id"] not in stored])
        again = [{f"b_{k}": v for k, v in r.items()} for r in rows
                 if r["invitation_id"] in stored]
        if again:
            names = [c for c in (*columns, "planned_in") if c != "invitation_id"]
            conn.execute(update(table)
                         .where(table.c.invitation_id == bindparam("b_invitation_id"))
                         .values({c: bindparam(f"b_{c}") for c in names}), again)


# --- enqueueing -----------------------------------------------------------------------------

def _due_invitations(conn: Connection, now: datetime) -> pd.DataFrame:
    """Invitations due by ``now``, not sent and without an outbox message, with what their
    e-mail needs."""
    key = literal(f"{INVITATION_KIND}:") + survey_invitations.c.invitation_id
    query = (select(survey_invitations, events.c.ref_id)
             .outerjoin(outbox, outbox.c.idempotency_key == key)
             .outerjoin(events, events.c.event_id == survey_invitations.c.event_id)
             .where(survey_invitations.c.scheduled_at <= now,
                    survey_invitations.c.sent_at.is_(None), outbox.c.idempotency_key.is_(None),
                    survey_invitations.c.invitation_id.not_in(
                        _set_aside("survey_invitations")))
             .order_by(survey_invitations.c.scheduled_at, survey_invitations.c.invitation_id))
    return _frame(conn, query)


def stale_after(row: Mapping[str, Any], rules: ContactRules) -> datetime | None:
    """When an invitation stops being worth sending: a transactional one
    ``event_max_age_hours`` after its due time (``stale_event`` at planning, ``stale_at_send``
    at sending); a relationship survey never."""
    if row["kind"] != "transactional":
        return None
    return pd.Timestamp(row["scheduled_at"]).to_pydatetime() + timedelta(
        hours=rules.event_max_age_hours)


def _suppression(row: Mapping[str, Any], people: Mapping[str, Mapping[str, Any]],
                 blocked: set[str], claimed: set[str], rules: ContactRules,
                 stale: datetime | None, now: datetime) -> str | None:
    """Why a due message must not go out at ``now``, or None."""
    if row["contact_id"] not in people:
        return "unknown_contact"
    if row["contact_id"] in blocked:
        return "opted_out"
    if rules.skip_open_claim and row["client_id"] in claimed:
        return "open_claim"
    if stale is not None and now > stale:
        return (f"stale_at_send: due at {row['scheduled_at']}, more than "
                f"{rules.event_max_age_hours:g} h before {now}")
    return None


def enqueue_messages(conn: Connection, due: pd.DataFrame, known: Known, rules: ContactRules,
                     catalogue: SurveyCatalogue, config: Settings, now: datetime, *,
                     reminder: bool) -> None:
    """Render and enqueue one message per ``due`` invitation row (or its reminder), created
    at ``now``; a message that must not go out is recorded suppressed with the reason. Each
    carries its staleness limit (an invitation's, not a reminder's) and its links' expiry,
    which the outbox checks again when it sends."""
    people = known.contacts.set_index("contact_id").to_dict("index")
    names = dict(zip(known.clients["client_id"], known.clients["name"], strict=True))
    blocked = opted_out_contacts(known.contacts, known.unsubscribed)
    claimed = set(known.open_claims["client_id"])
    for row in due.astype(object).where(due.notna(), None).to_dict("records"):
        person = people.get(row["contact_id"], {})
        key = (reminder_key if reminder else invitation_key)(row["invitation_id"])
        try:
            mail, headers = invitation_mail(
                {**row, "full_name": person.get("full_name", ""),
                 "client_name": names.get(row["client_id"], row["client_id"])},
                catalogue, config, now, reminder=reminder)
        except Exception as error:  # noqa: BLE001 - one message that cannot be rendered
            insert_if_absent(conn, quarantine, [quarantine_row(
                "survey_invitations", now, row["invitation_id"], "dispatch.render",
                f"{key}: {type(error).__name__}: {error}",
                json.dumps(row, sort_keys=True, default=str))])
            continue
        stale = None if reminder else stale_after(row, rules)
        enqueue(conn, idempotency_key=key, kind=REMINDER_KIND if reminder else INVITATION_KIND,
                recipient=person.get("email", ""), subject=mail.subject, body_text=mail.text,
                body_html=mail.html, created_at=now,
                suppressed_reason=_suppression(row, people, blocked, claimed, rules, stale,
                                               now),
                contact_id=row["contact_id"], headers=headers, stale_after=stale,
                links_expire_at=answer_expiry(now, catalogue))


def enqueued_at(conn: Connection, now: datetime) -> dict[str, dict[str, int]]:
    """Per kind (invitation, reminder), the messages created at ``now``: to be sent, and
    suppressed per reason (the same however often the run is repeated)."""
    rows = conn.execute(select(outbox.c.kind, outbox.c.status, outbox.c.last_error,
                               func.count())
                        .where(outbox.c.created_at == now,
                               outbox.c.kind.in_((INVITATION_KIND, REMINDER_KIND)))
                        .group_by(outbox.c.kind, outbox.c.status, outbox.c.last_error)).all()
    counts = {kind: dict.fromkeys(("to_send", *SUPPRESSION_REASONS), 0)
              for kind in (INVITATION_KIND, REMINDER_KIND)}
    for kind, status, reason, n in rows:
        bucket = (reason or "").split(":")[0] if status == "suppressed" else "to_send"
        counts[kind][bucket] = counts[kind].get(bucket, 0) + n
    return counts


def _reminder_history(conn: Connection, known: Known) -> pd.DataFrame:
    """Invitations the server accepted (at ``sent_at``) and their reminders already issued."""
    sent = _frame(conn, select(survey_invitations, events.c.ref_id)
                  .outerjoin(events, events.c.event_id == survey_invitations.c.event_id)
                  .where(survey_invitations.c.sent_at.is_not(None)))
    invitations = sent.assign(answered_at=pd.to_datetime(
                                  sent["invitation_id"].map(known.answered)),
                              is_reminder=False)
    reminded = invitations[invitations["reminded_at"].notna()]
    reminders = reminded.assign(invitation_id="rem:" + reminded["invitation_id"],
                                sent_at=reminded["reminded_at"], is_reminder=True)
    return pd.concat([invitations, reminders], ignore_index=True)


def enqueue_reminders(conn: Connection, known: Known, rules: ContactRules,
                      catalogue: SurveyCatalogue, config: Settings,
                      now: datetime) -> None:
    """Enqueue the reminders due at ``now`` and mark their invitations reminded."""
    history = _reminder_history(conn, known)
    if history.empty:
        return
    due = plan_reminders(history.astype({"is_reminder": bool}), known.contacts,
                         known.unsubscribed, rules, now)
    rows = history.set_index("invitation_id").loc[due["invitation_id"]].reset_index()
    enqueue_messages(conn, rows, known, rules, catalogue, config, now, reminder=True)
    if not due.empty:
        conn.execute(update(survey_invitations)
                     .where(survey_invitations.c.invitation_id.in_(list(due["invitation_id"])))
                     .values(reminded_at=now))


# --- one run --------------------------------------------------------------------------------

def missing_roles_summary(contacts: pd.DataFrame) -> dict[str, Any]:
    """How many accounts lack a contact for some role, and the gaps per role."""
    missing = accounts_missing_roles(contacts)
    per_role = missing["role"].value_counts()
    return {"accounts": int(missing["client_id"].nunique()),
            "per_role": {role: int(per_role.get(role, 0)) for role in ROLES}}


def dispatch(warehouse_url: str, now: datetime, rules: ContactRules,
             catalogue: SurveyCatalogue, config: Settings) -> dict[str, Any]:
    """Plan, store and enqueue one run at ``now`` (all in one transaction); the summary."""
    now = naive_utc(now)
    with engine_for(warehouse_url).begin() as conn:
        known = read_known(conn, now)
        invitations, skips = plan_batch(conn, known, rules, catalogue, now)
        store_plan(conn, invitations, skips, now)
        tasks = enqueue_in_person_tasks(conn, skips, known.contacts, owners(), now)
        enqueue_messages(conn, _due_invitations(conn, now), known, rules, catalogue, config,
                         now, reminder=False)
        enqueue_reminders(conn, known, rules, catalogue, config, now)
        messages = enqueued_at(conn, now)
        set_aside = set_aside_at(conn, now)
    return {
        "now": now.isoformat(),
        "events_planned": int(pd.concat([invitations["event_id"], skips["event_id"]]).nunique()),
        "planned": len(invitations) + len(skips),
        "invited": len(invitations),
        "invited_later": int((invitations["scheduled_at"] > now).sum()),
        "skipped": skip_counts(skips),
        "enqueued": messages,
        "in_person_tasks": tasks,
        "missing_roles": missing_roles_summary(known.contacts),
        "set_aside": set_aside,
    }


def set_aside_at(conn: Connection, now: datetime) -> dict[str, int]:
    """Rows the run at ``now`` set aside (events it could not plan, messages it could not
    render), per rule: the same however often the run is repeated."""
    rows = conn.execute(select(quarantine.c.rule, func.count())
                        .where(quarantine.c.interval_start == now,
                               quarantine.c.source_table.in_(list(SET_ASIDE_SOURCES)))
                        .group_by(quarantine.c.rule)).all()
    return {rule: n for rule, n in sorted(rows)}


def record_sent(warehouse_url: str) -> int:
    """Copy the time the server accepted each invitation from the outbox into
    ``survey_invitations.sent_at`` (where still empty); return how many were recorded."""
    key = literal(f"{INVITATION_KIND}:") + survey_invitations.c.invitation_id
    accepted = (select(outbox.c.sent_at).where(outbox.c.idempotency_key == key,
                                               outbox.c.status == "sent")
                .scalar_subquery())
    with engine_for(warehouse_url).begin() as conn:
        result = conn.execute(update(survey_invitations)
                              .where(survey_invitations.c.sent_at.is_(None),
                                     accepted.is_not(None))
                              .values(sent_at=accepted))
    return result.rowcount

