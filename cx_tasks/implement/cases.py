"""Close-the-loop cases: the fast loop from one client's negative feedback to its owner.

A case opens once per triggering piece of feedback (``case:<feedback_id>``; a rerun opens
nothing twice), for the first trigger that applies (``case_trigger``): the comment asks to
be contacted, a detractor (NPS at or below the threshold), a low CSAT or CES, feedback
classified as deterioration, or any negative feedback from a key account
(``crm_accounts.key_account``). Feedback that occurred longer than ``open_within_hours``
before the run opens none (a history load). Its owner is the person who answers for the
feedback's process class (``owners.yaml`` ``by_process``), else the team owning its source.

Statuses and who moves them (every change is a row of ``case_history``)::

    open ──► acknowledged ──► in_progress ──► closed      (a resolution note is required)
      │            │               │
      └────────────┴───────────────┴────────► dismissed   (a reason is required)

Closing or dismissing also stops the acknowledgement clock. Closing with a resolution
tells the client (``tell_client_on_close``): outbox ``case-closed:<case_id>``, in the
contact's language, opt-outs absolute. The owner hears of a new case by e-mail
(``case:<case_id>:opened``) with one-touch links to acknowledge and to close
(``cx_tasks.implement.links``); the clocks and their escalation are ``escalation.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, and_, exists, or_, select, update

from cx_tasks.feedback.acknowledgement import LinkSettings, excerpt
from cx_tasks.feedback.rules import Owners
from cx_tasks.implement.links import LinkKeys, case_link
from cx_tasks.implement.rules import CaseRules, CaseTriggers
from cx_tasks.mail.etiquette import salutation
from cx_tasks.mail.outbox import enqueue
from cx_tasks.mail.render import render_mail
from cx_tasks.surveys.catalogue import SurveyCatalogue
from cx_tasks.surveys.links import unsubscribe_headers, unsubscribe_url
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import (
    STAGING,
    case_history,
    cases,
    feedback,
    feedback_classes,
    unsubscribes,
)

CaseStatus = Literal["open", "acknowledged", "in_progress", "closed", "dismissed"]
Channel = Literal["pipeline", "link", "cli", "file"]
FINAL: frozenset[str] = frozenset({"closed", "dismissed"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "in_progress", "closed", "dismissed"}),
    "acknowledged": frozenset({"in_progress", "closed", "dismissed"}),
    "in_progress": frozenset({"closed", "dismissed"}),
    "closed": frozenset(),
    "dismissed": frozenset(),
}
"""The statuses a case may move to from each status (module doc)."""
NOTE_REQUIRED = frozenset({"closed", "dismissed"})
NEGATIVE_STATUSES = ("classified", "reviewed")
OWNER_KIND = "case"
CLIENT_KIND = "case_closed"


class CaseRefused(ValueError):
    """A case change that must not happen; ``reason`` says why."""

    def __init__(self, reason: Literal["unknown_case", "foreign", "final", "transition",
                                       "note_required"]):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Candidate:
    """A piece of feedback without a case, with what decides whether it opens one."""

    feedback_id: str
    source: str
    client_id: str
    contact_id: str | None
    text: str | None
    scores: dict[str, int]
    occurred_at: datetime
    recorded_at: datetime
    group: str | None
    process_class: str | None
    key_account: bool


@dataclass(frozen=True)
class Case:
    """A stored case."""

    case_id: str
    feedback_id: str
    client_id: str
    contact_id: str | None
    trigger: str
    owner: str
    owner_person: str | None
    owner_email: str
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None
    closed_at: datetime | None
    note: str | None


def case_id_of(feedback_id: str) -> str:
    """The case a piece of feedback opens: ``case:<feedback_id>``."""
    return f"case:{feedback_id}"


def is_negative(group: str | None) -> bool:
    """Negative feedback: classified into a group of dissatisfaction (delivery discipline,
    quality, service, deterioration). The one test of "negative": switch it to the
    classifier's polarity when that exists."""
    return group is not None


def contact_requested(text: str | None, phrases: tuple[str, ...]) -> bool:
    """Whether a comment asks to be contacted: it contains one of ``phrases``, any case."""
    folded = " ".join((text or "").split()).casefold()
    return any(phrase.casefold() in folded for phrase in phrases)


def case_trigger(item: Candidate, triggers: CaseTriggers,
                 kinds: dict[str, str]) -> str | None:
    """The first trigger ``item`` meets (module doc), or None. ``kinds``: question id ->
    question kind (nps, csat, ces) of the survey catalogue."""
    by_kind = {kinds[q]: s for q, s in item.scores.items() if q in kinds}
    if contact_requested(item.text, triggers.contact_phrases):
        return "contact_request"
    if by_kind.get("nps") is not None and by_kind["nps"] <= triggers.nps_detractor_max:
        return "detractor"
    if by_kind.get("csat") is not None and by_kind["csat"] <= triggers.csat_max:
        return "low_csat"
    if by_kind.get("ces") is not None and by_kind["ces"] <= triggers.ces_max:
        return "low_ces"
    if triggers.deterioration and item.group == "deterioration":
        return "deterioration"
    if triggers.key_account_negative and item.key_account and is_negative(item.group):
        return "key_account_negative"
    return None


def case_owner(item: Candidate, owners: Owners) -> tuple[str, str | None, str]:
    """(owner id, person, e-mail) of a case: the process class's person when the class is
    owned, else the team owning the feedback's source."""
    process = owners.by_process.get(item.process_class or "")
    if process is not None:
        return process.owner, process.person.name, process.person.email
    owner_id, owner, _ = owners.for_source(item.source)
    return owner_id, None, owner.email


def candidates(conn: Connection, now: datetime, within_hours: float) -> list[Candidate]:
    """Feedback recorded by ``now`` that occurred at most ``within_hours`` before it and has
    no case yet, with its classification and whether its client is a key account."""
    accounts = STAGING["crm_accounts"]
    has_case = exists().where(cases.c.feedback_id == feedback.c.feedback_id)
    query = (
        select(feedback.c.feedback_id, feedback.c.source, feedback.c.client_id,
               feedback.c.contact_id, feedback.c.text, feedback.c.scores,
               feedback.c.occurred_at, feedback.c.recorded_at,
               feedback_classes.c.dissatisfaction_group, feedback_classes.c.process_class,
               feedback_classes.c.status, accounts.c.key_account)
        .select_from(feedback
                     .outerjoin(feedback_classes,
                                feedback_classes.c.feedback_id == feedback.c.feedback_id)
                     .outerjoin(accounts, accounts.c.client_id == feedback.c.client_id))
        .where(~has_case, feedback.c.recorded_at <= now,
               feedback.c.occurred_at >= now - timedelta(hours=within_hours))
        .order_by(feedback.c.recorded_at, feedback.c.feedback_id)
    )
    return [Candidate(
        feedback_id=r.feedback_id, source=r.source, client_id=r.client_id,
        contact_id=r.contact_id, text=r.text, scores=_scores(r.scores),
        occurred_at=r.occurred_at, recorded_at=r.recorded_at,
        group=r.dissatisfaction_group if r.status in NEGATIVE_STATUSES else None,
        process_class=r.process_class if r.status in NEGATIVE_STATUSES else None,
        key_account=bool(r.key_account),
    ) for r in conn.execute(query)]


def _scores(text: str | None) -> dict[str, int]:
    """Scores by question id from a feedback row's JSON (non-integers left out)."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def get_case(conn: Connection, case_id: str) -> Case | None:
    """The stored case ``case_id``, or None."""
    row = conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().first()
    return Case(**row) if row is not None else None


def open_cases(warehouse_url: str, *, now: datetime, rules: CaseRules, owners: Owners,
               kinds: dict[str, str], keys: LinkKeys) -> Counter[str]:
    """Open a case for every triggering piece of feedback without one (at ``now``), with
    its history row and the owner's e-mail; return the count per trigger."""
    opened: Counter[str] = Counter()
    with engine_for(warehouse_url).begin() as conn:
        for item in candidates(conn, now, rules.triggers.open_within_hours):
            trigger = case_trigger(item, rules.triggers, kinds)
            if trigger is None:
                continue
            owner, person, email = case_owner(item, owners)
            case = Case(case_id=case_id_of(item.feedback_id), feedback_id=item.feedback_id,
                        client_id=item.client_id, contact_id=item.contact_id, trigger=trigger,
                        owner=owner, owner_person=person, owner_email=email, status="open",
                        opened_at=item.recorded_at, acknowledged_at=None, closed_at=None,
                        note=None)
            if insert_if_absent(conn, cases, [case.__dict__]) != 1:
                continue
            insert_if_absent(conn, case_history, [{
                "case_id": case.case_id, "changed_at": case.opened_at, "status": "open",
                "previous": None, "actor": "cx_implement", "channel": "pipeline",
                "note": trigger}])
            notify_owner(conn, case, item.text, None, keys, rules, case.opened_at,
                         language=owners.language_of(owner))
            opened[trigger] += 1
    return opened


def notify_owner(conn: Connection, case: Case, text: str | None, step: str | None,
                 keys: LinkKeys, rules: CaseRules, at: datetime, *, language: str,
                 recipient: tuple[str, str] | None = None, clock: str | None = None) -> bool:
    """Enqueue the e-mail about ``case`` in ``language``: its opening (``step`` None) to the
    owner, or an escalation step to ``recipient`` (name, address); both carry the owner's
    one-touch links. Key ``case:<case_id>:opened`` or ``case:<case_id>:<clock>:<step>``."""
    links = {action: case_link(keys, case.case_id, case.owner, action, at,
                               rules.link_valid_hours)
             for action in ("acknowledge", "close")}
    name, address = recipient or (case.owner_person or case.owner, case.owner_email)
    mail = render_mail("case_notice", language, {
        "case": case, "step": step, "clock": clock, "recipient_name": name,
        "excerpt": excerpt(text), "ack_url": links["acknowledge"],
        "close_url": links["close"], "clocks": rules.clocks,
    })
    key = f"{case.case_id}:opened" if step is None else f"{case.case_id}:{clock}:{step}"
    return enqueue(conn, idempotency_key=key, kind=OWNER_KIND, recipient=address,
                   subject=mail.subject, body_text=mail.text, body_html=mail.html,
                   created_at=at)


def change_status(conn: Connection, case_id: str, status: CaseStatus, *, actor: str,
                  channel: Channel, now: datetime, note: str | None = None,
                  owner: str | None = None) -> bool:
    """Move ``case_id`` to ``status`` at ``now`` with its history row; False when it is
    already there (a repeated click or rerun changes nothing). ``owner``, when given (a
    one-touch link), must be the case's owner. Raises ``CaseRefused`` for an unknown case,
    another owner, a final case, a move the statuses do not allow, or a missing note."""
    case = get_case(conn, case_id)
    if case is None:
        raise CaseRefused("unknown_case")
    if owner is not None and owner != case.owner:
        raise CaseRefused("foreign")
    if case.status == status:
        return False
    if case.status in FINAL:
        raise CaseRefused("final")
    if status not in TRANSITIONS[case.status]:
        raise CaseRefused("transition")
    note = " ".join((note or "").split()) or None
    if status in NOTE_REQUIRED and note is None:
        raise CaseRefused("note_required")
    values: dict[str, Any] = {"status": status}
    if case.acknowledged_at is None and status != "dismissed":
        values["acknowledged_at"] = now
    if status in FINAL:
        values["closed_at"], values["note"] = now, note
    conn.execute(update(cases).where(cases.c.case_id == case_id).values(**values))
    insert_if_absent(conn, case_history, [{
        "case_id": case_id, "changed_at": now, "status": status, "previous": case.status,
        "actor": actor, "channel": channel, "note": note}])
    return True


def tell_client(conn: Connection, case: Case, links: LinkSettings, now: datetime) -> bool:
    """Enqueue the closed case's resolution to its client contact (``case-closed:<case
    id>``), in their language; recorded as suppressed when they opted out, nothing without
    a contact or an address. True when a message was recorded."""
    contacts = STAGING["crm_contacts"]
    if case.contact_id is None:
        return False
    row = conn.execute(
        select(contacts.c.full_name, contacts.c.email, contacts.c.language,
               or_(and_(contacts.c.opted_out.is_not(None), contacts.c.opted_out),
                   exists().where(unsubscribes.c.contact_id == contacts.c.contact_id))
               .label("opted_out"))
        .where(contacts.c.contact_id == case.contact_id)).first()
    if row is None or not row.email:
        return False
    text = conn.scalar(select(feedback.c.text).where(feedback.c.feedback_id == case.feedback_id))
    url = _unsubscribe(links, case, now)
    language = row.language or "en"
    mail = render_mail(CLIENT_KIND, language, {
        "salutation": salutation(row.full_name, language), "excerpt": excerpt(text),
        "resolution": case.note,
        "owner_name": case.owner_person or case.owner, "owner_email": case.owner_email,
        "unsubscribe_url": url})
    return enqueue(conn, idempotency_key=f"case-closed:{case.case_id}", kind=CLIENT_KIND,
                   recipient=row.email, subject=mail.subject, body_text=mail.text,
                   body_html=mail.html, created_at=now, contact_id=case.contact_id,
                   suppressed_reason="opted_out" if row.opted_out else None,
                   headers=unsubscribe_headers(url))


def _unsubscribe(links: LinkSettings, case: Case, now: datetime) -> str:
    assert case.contact_id is not None
    return unsubscribe_url(links.base_url, case.case_id, case.contact_id, CLIENT_KIND,
                           links.catalogue, now, links.secret)


def act(warehouse_url: str, case_id: str, status: CaseStatus, *, actor: str,
        channel: Channel, now: datetime, note: str | None = None, owner: str | None = None,
        rules: CaseRules, links: LinkSettings) -> bool:
    """``change_status`` in one transaction, telling the client when the case is closed
    (``tell_client_on_close``); True when the case changed."""
    with engine_for(warehouse_url).begin() as conn:
        changed = change_status(conn, case_id, status, actor=actor, channel=channel,
                                now=now, note=note, owner=owner)
        case = get_case(conn, case_id)
        if changed and status == "closed" and rules.tell_client_on_close and case:
            tell_client(conn, case, links, now)
    return changed


def question_kinds(catalogue: SurveyCatalogue) -> dict[str, str]:
    """Question id -> kind for the scored questions a trigger reads (nps, csat, ces)."""
    return {q: spec.kind for q, spec in catalogue.questions.items()
            if spec.kind in ("nps", "csat", "ces")}
