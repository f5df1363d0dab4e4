"""Acknowledging feedback: every piece that has a contact gets one e-mail saying it was
received, its reference number, who owns it and what happens next.

Each piece of feedback is decided once (table ``feedback_acknowledgements``): either
``acknowledged`` (the e-mail is in the outbox under ``ack:<feedback_id>``, kind
``acknowledgement``, created at the feedback's ``recorded_at``) or ``not_acknowledged``
with the first reason that applies:

- ``no_contact``: the feedback names no contact (a claim raised without one, a note from a
  visit that names nobody); ``unknown_contact``: the contact is not in the CRM;
- ``no_email``: the contact has no e-mail address;
- ``too_old``: the feedback occurred more than ``acknowledge_within_hours``
  (``rules/feedback.yaml``, default 72) before the run: a history load brings in
  months-old claims, and thanking a client for those now would be wrong.

A contact who opted out of surveys (CRM flag or unsubscribe link) is still acknowledged:
an acknowledgement answers the client's own claim, request or answer, a transactional
message (``transactional_kinds`` in ``rules/outbox.yaml``) that the unsubscribe page
promises still reaches them.

Both the e-mail and the decision are written in one transaction, insert-if-absent, so a
rerun (or a run racing this one) acknowledges nothing twice. The e-mail is in the
contact's language (``acknowledgement`` templates), names the owner of the feedback's
source (``rules/owners.yaml``), comes from the supplier of ``rules/supplier.yaml`` (``From``,
``Reply-To``, name, signature), and carries an unsubscribe link and ``List-Unsubscribe``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, select

from cx_tasks.collect.contract import LANGUAGES
from cx_tasks.feedback.rules import FeedbackRules, Owners
from cx_tasks.mail.etiquette import salutation
from cx_tasks.mail.outbox import enqueue
from cx_tasks.mail.render import FALLBACK_LANGUAGE, RenderedMail, render_mail
from cx_tasks.mail.supplier import supplier
from cx_tasks.surveys.catalogue import SurveyCatalogue
from cx_tasks.surveys.links import unsubscribe_headers, unsubscribe_url
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import (
    STAGING,
    feedback,
    feedback_acknowledgements,
    survey_invitations,
)

KIND = "acknowledgement"
EXCERPT_CHARS = 300
"""How much of the client's own text the acknowledgement quotes back."""


@dataclass(frozen=True)
class LinkSettings:
    """What unsubscribe links need: the response app's address, the key, the validity."""

    base_url: str
    secret: bytes
    catalogue: SurveyCatalogue


@dataclass(frozen=True)
class Pending:
    """A piece of feedback not decided yet, with what the CRM says about its contact."""

    feedback_id: str
    source: str
    client_id: str
    contact_id: str | None
    text: str | None
    occurred_at: datetime
    recorded_at: datetime
    contact_known: bool = False
    full_name: str | None = None
    email: str | None = None
    language: str | None = None
    invitation_id: str | None = None
    survey_id: str | None = None
    """The survey invitation a survey response answers (its unsubscribe link is bound to it)."""


@dataclass(frozen=True)
class Decision:
    """Whether a piece of feedback is acknowledged, its reference and owner, and why not."""

    feedback_id: str
    reference: str
    owner: str
    reason: str | None

    @property
    def status(self) -> str:
        return "not_acknowledged" if self.reason else "acknowledged"


@dataclass
class AcknowledgementSummary:
    """What one acknowledging run decided."""

    acknowledged: int = 0
    not_acknowledged: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values (for XCom and reports)."""
        return {"acknowledged": self.acknowledged,
                "not_acknowledged": dict(self.not_acknowledged)}


def reference_number(feedback_id: str, recorded_at: datetime) -> str:
    """``CX-<recorded day, yyyymmdd>-<first 6 hex of SHA-256(feedback_id), upper case>``."""
    digest = hashlib.sha256(feedback_id.encode("utf-8")).hexdigest()[:6].upper()
    return f"CX-{recorded_at:%Y%m%d}-{digest}"


def acknowledgement_key(feedback_id: str) -> str:
    """The outbox idempotency key of a feedback's acknowledgement."""
    return f"ack:{feedback_id}"


def not_acknowledged_reason(item: Pending, rules: FeedbackRules, now: datetime) -> str | None:
    """Why ``item`` gets no acknowledgement at ``now`` (module doc), or None."""
    if item.contact_id is None:
        return "no_contact"
    if not item.contact_known:
        return "unknown_contact"
    if not item.email:
        return "no_email"
    if item.occurred_at < now - timedelta(hours=rules.acknowledge_within_hours):
        return "too_old"
    return None


def decide(item: Pending, rules: FeedbackRules, owners: Owners, now: datetime) -> Decision:
    """The decision on one piece of feedback at ``now``."""
    owner_id, _, _ = owners.for_source(item.source)
    return Decision(item.feedback_id, reference_number(item.feedback_id, item.recorded_at),
                    owner_id, not_acknowledged_reason(item, rules, now))


def language_of(item: Pending) -> str:
    """The contact's language if shipped, else English."""
    return item.language if item.language in LANGUAGES else FALLBACK_LANGUAGE


def excerpt(text: str | None) -> str | None:
    """The client's text as quoted back: whitespace collapsed, at most ``EXCERPT_CHARS``."""
    if not text or not text.strip():
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS - 1].rstrip() + "…"


def render_acknowledgement(item: Pending, reference: str, owners: Owners,
                           unsubscribe: str) -> RenderedMail:
    """The acknowledgement of ``item`` in its contact's language."""
    language = language_of(item)
    _, owner, promise = owners.for_source(item.source)
    return render_mail(KIND, language, {
        "salutation": salutation(item.full_name, language), "supplier": supplier().text(language),
        "reference": reference, "source": item.source,
        "occurred_at": item.occurred_at, "excerpt": excerpt(item.text),
        "owner_name": owner.name[language], "owner_email": owner.email,
        "respond_within_hours": promise.respond_within_hours,
        "unsubscribe_url": unsubscribe,
    })


def unsubscribe_link(item: Pending, links: LinkSettings, now: datetime) -> str:
    """The contact's unsubscribe link: bound to the survey invitation a response answers,
    else to ``ack:<feedback_id>`` and the survey id ``acknowledgement``."""
    assert item.contact_id is not None
    bound_to = item.invitation_id or acknowledgement_key(item.feedback_id)
    return unsubscribe_url(links.base_url, bound_to, item.contact_id, item.survey_id or KIND,
                           links.catalogue, now, links.secret)


def pending_feedback(conn: Connection) -> list[Pending]:
    """Feedback without a decision, oldest recorded first, with its contact from the CRM
    (and, for a survey response, its invitation)."""
    contacts = STAGING["crm_contacts"]
    invitation = and_(feedback.c.source == "survey",
                      survey_invitations.c.invitation_id == feedback.c.ref_id)
    decided = exists().where(feedback_acknowledgements.c.feedback_id == feedback.c.feedback_id)
    query = (
        select(feedback.c.feedback_id, feedback.c.source, feedback.c.client_id,
               feedback.c.contact_id, feedback.c.text, feedback.c.occurred_at,
               feedback.c.recorded_at, contacts.c.contact_id.label("crm_contact"),
               contacts.c.full_name, contacts.c.email, contacts.c.language,
               survey_invitations.c.invitation_id, survey_invitations.c.survey_id)
        .select_from(feedback
                     .outerjoin(contacts, contacts.c.contact_id == feedback.c.contact_id)
                     .outerjoin(survey_invitations, invitation))
        .where(~decided)
        .order_by(feedback.c.recorded_at, feedback.c.feedback_id)
    )
    return [Pending(
        feedback_id=r.feedback_id, source=r.source, client_id=r.client_id,
        contact_id=r.contact_id, text=r.text, occurred_at=r.occurred_at,
        recorded_at=r.recorded_at, contact_known=r.crm_contact is not None,
        full_name=r.full_name, email=r.email, language=r.language,
        invitation_id=r.invitation_id, survey_id=r.survey_id,
    ) for r in conn.execute(query)]


def _record(conn: Connection, item: Pending, decision: Decision, owners: Owners,
            links: LinkSettings, now: datetime) -> None:
    """Enqueue the acknowledgement (if any) and store the decision, in the caller's transaction."""
    if decision.reason is None:
        assert item.email is not None
        url = unsubscribe_link(item, links, now)
        mail = render_acknowledgement(item, decision.reference, owners, url)
        enqueue(conn, idempotency_key=acknowledgement_key(item.feedback_id), kind=KIND,
                recipient=item.email, subject=mail.subject, body_text=mail.text,
                body_html=mail.html, created_at=item.recorded_at, contact_id=item.contact_id,
                headers={**supplier().sender_headers(language_of(item)),
                         **unsubscribe_headers(url)})
    row: dict[str, Any] = {"feedback_id": decision.feedback_id, "reference": decision.reference,
                           "owner": decision.owner, "status": decision.status,
                           "reason": decision.reason, "decided_at": now}
    insert_if_absent(conn, feedback_acknowledgements, [row])


def acknowledge(warehouse_url: str, *, now: datetime, rules: FeedbackRules, owners: Owners,
                links: LinkSettings) -> AcknowledgementSummary:
    """Decide every undecided piece of feedback at ``now`` (naive UTC): enqueue its
    acknowledgement or record why not. Return the counts."""
    summary = AcknowledgementSummary()
    with engine_for(warehouse_url).begin() as conn:
        for item in pending_feedback(conn):
            decision = decide(item, rules, owners, now)
            _record(conn, item, decision, owners, links, now)
            if decision.reason is None:
                summary.acknowledged += 1
            else:
                summary.not_acknowledged[decision.reason] += 1
    return summary
