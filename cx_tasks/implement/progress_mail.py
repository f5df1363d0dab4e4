""""You said, we did": telling the clients who spoke what was done about it.

When an initiative reaches a client-visible milestone (``reached_on`` set, not after the
run's day), every contact whose feedback is linked to it (and, with
``include_other_roles``, the other contacts of those clients) is due one notice per
(contact, initiative, milestone), decided once in ``progress_notices``:

- ``sent``: in the outbox (kind ``progress``) under ``progress:<contact>:<hash of the
  notices it carries>``; a contact's due notices go together in ONE e-mail, and at most
  one progress e-mail goes to a contact per ``min_days_between`` days (14): a notice due
  inside the window has no row yet and waits for the first run on or after the window's
  end (exactly 14 days after the last one is allowed);
- ``not_sent`` with the reason ``opted_out`` (the CRM flag or an unsubscribe: absolute)
  or ``no_email``.

The e-mail, in the contact's language: what they told us (their own linked feedback only,
quoted briefly; HTML escaped), what has been done (the milestone), what comes next and
when (the next milestone and its planned day), whom to contact (the owner of the process).
It names only the contact's own client: nothing is read from another client's rows. A key
account (``crm_accounts.key_account``) hears it from its account manager
(``erp_clients.account_manager``: the sender's name; reply-to the manager's address from
``progress.key_accounts``).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import formataddr
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from cx_tasks.collect.contract import LANGUAGES
from cx_tasks.feedback.acknowledgement import LinkSettings
from cx_tasks.feedback.rules import Owners
from cx_tasks.implement.rules import ProgressRules
from cx_tasks.mail.etiquette import company_name, salutation
from cx_tasks.mail.outbox import enqueue
from cx_tasks.mail.render import FALLBACK_LANGUAGE, RenderedMail, render_mail
from cx_tasks.surveys.links import unsubscribe_headers, unsubscribe_url
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import (
    STAGING,
    feedback,
    initiative_links,
    initiative_milestones,
    initiatives,
    progress_notices,
    unsubscribes,
)

KIND = "progress"
TOLD = ("approved", "in_progress", "done")


@dataclass(frozen=True)
class Recipient:
    """A contact due notices, as the CRM knows them."""

    contact_id: str
    client_id: str
    full_name: str | None
    email: str | None
    language: str
    opted_out: bool
    company: str | None
    key_account: bool
    account_manager: str | None


@dataclass(frozen=True)
class Notice:
    """One (initiative, milestone) a contact is due to hear about, with what the e-mail says."""

    initiative_id: str
    milestone_id: str
    process_class: str
    done_title: str
    reached_on: date
    next_title: str | None
    next_planned_on: date | None
    owner_name: str
    owner_email: str
    quotes: tuple[str, ...] = field(default=())


@dataclass
class ProgressSummary:
    """What one run decided: e-mails sent (and notices they carried), not sent by reason,
    notices waiting for their contact's window."""

    emails: int = 0
    notices: int = 0
    waiting: int = 0
    not_sent: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"emails": self.emails, "notices": self.notices, "waiting": self.waiting,
                "not_sent": dict(self.not_sent)}


def quote(text: str | None, limit: int) -> str | None:
    """A client's text quoted back: whitespace collapsed, at most ``limit`` characters."""
    if not text or not text.strip():
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def due_pairs(conn: Connection, day: date,
              rules: ProgressRules) -> dict[str, list[tuple[str, str]]]:
    """Contact -> the (initiative, milestone) pairs reached by ``day`` they are due to hear
    about and have no decision for yet."""
    reached = (select(initiative_milestones.c.initiative_id, initiative_milestones.c.milestone_id)
               .join(initiatives, initiatives.c.initiative_id
                     == initiative_milestones.c.initiative_id)
               .where(initiative_milestones.c.client_visible.is_(True),
                      initiative_milestones.c.reached_on.is_not(None),
                      initiative_milestones.c.reached_on <= day,
                      initiatives.c.status.in_(TOLD))).subquery()
    spoke = (select(initiative_links.c.initiative_id, feedback.c.contact_id,
                    feedback.c.client_id)
             .join(feedback, feedback.c.feedback_id == initiative_links.c.ref_id)
             .where(initiative_links.c.kind == "feedback", feedback.c.contact_id.is_not(None)))
    if rules.include_other_roles:
        contacts = STAGING["crm_contacts"]
        clients = (select(initiative_links.c.initiative_id, feedback.c.client_id)
                   .join(feedback, feedback.c.feedback_id == initiative_links.c.ref_id)
                   .where(initiative_links.c.kind == "feedback")).subquery()
        spoke = spoke.union(
            select(clients.c.initiative_id, contacts.c.contact_id, contacts.c.client_id)
            .join(contacts, contacts.c.client_id == clients.c.client_id))
    told = spoke.subquery()
    decided = select(progress_notices.c.contact_id, progress_notices.c.initiative_id,
                     progress_notices.c.milestone_id)
    due: dict[str, list[tuple[str, str]]] = defaultdict(list)
    rows = conn.execute(
        select(told.c.contact_id, reached.c.initiative_id, reached.c.milestone_id)
        .join(reached, reached.c.initiative_id == told.c.initiative_id).distinct()
        .order_by(told.c.contact_id, reached.c.initiative_id, reached.c.milestone_id))
    done = {tuple(r) for r in conn.execute(decided)}
    for contact, initiative, milestone in rows:
        if (contact, initiative, milestone) not in done:
            due[contact].append((initiative, milestone))
    return due


def recipient(conn: Connection, contact_id: str) -> Recipient | None:
    """The contact with their client's name, key-account flag and account manager."""
    contacts, clients, accounts = (STAGING["crm_contacts"], STAGING["erp_clients"],
                                   STAGING["crm_accounts"])
    unsubscribed = select(unsubscribes.c.contact_id).where(
        unsubscribes.c.contact_id == contacts.c.contact_id).exists()
    row = conn.execute(
        select(contacts.c.contact_id, contacts.c.client_id, contacts.c.full_name,
               contacts.c.email, contacts.c.language,
               or_(and_(contacts.c.opted_out.is_not(None), contacts.c.opted_out),
                   unsubscribed).label("opted_out"),
               clients.c.name, clients.c.account_manager, accounts.c.key_account)
        .outerjoin(clients, clients.c.client_id == contacts.c.client_id)
        .outerjoin(accounts, accounts.c.client_id == contacts.c.client_id)
        .where(contacts.c.contact_id == contact_id)).first()
    if row is None:
        return None
    language = row.language if row.language in LANGUAGES else FALLBACK_LANGUAGE
    return Recipient(row.contact_id, row.client_id, row.full_name, row.email, language,
                     bool(row.opted_out), row.name, bool(row.key_account),
                     row.account_manager)


def notice(conn: Connection, person: Recipient, initiative_id: str, milestone_id: str,
           owners: Owners, rules: ProgressRules) -> Notice:
    """What the e-mail says about one milestone to ``person``: only their own feedback."""
    language = person.language
    head = conn.execute(select(initiatives.c.process_class, initiatives.c.owner)
                        .where(initiatives.c.initiative_id == initiative_id)).one()
    steps = conn.execute(select(initiative_milestones).where(
        initiative_milestones.c.initiative_id == initiative_id)
        .order_by(initiative_milestones.c.position)).mappings().all()
    this = next(s for s in steps if s["milestone_id"] == milestone_id)
    following = next((s for s in steps if s["position"] > this["position"]
                      and s["reached_on"] is None), None)
    own = conn.scalars(
        select(feedback.c.text).join(initiative_links, and_(
            initiative_links.c.ref_id == feedback.c.feedback_id,
            initiative_links.c.kind == "feedback"))
        .where(initiative_links.c.initiative_id == initiative_id,
               feedback.c.contact_id == person.contact_id,
               feedback.c.client_id == person.client_id)
        .order_by(feedback.c.occurred_at).limit(2))
    process = owners.by_process.get(head.process_class)
    team = owners.owners.get(head.owner or "")
    owner_name = process.person.name if process else (team.name[language] if team else "")
    owner_email = process.person.email if process else (team.email if team else "")
    return Notice(
        initiative_id=initiative_id, milestone_id=milestone_id,
        process_class=head.process_class, done_title=this[f"title_{language}"],
        reached_on=this["reached_on"],
        next_title=following[f"title_{language}"] if following else None,
        next_planned_on=following["planned_on"] if following else None,
        owner_name=owner_name, owner_email=owner_email,
        quotes=tuple(q for t in own if (q := quote(t, rules.quote_chars))))


def render_progress(person: Recipient, notices: list[Notice], unsubscribe: str) -> RenderedMail:
    """The progress e-mail to ``person`` about ``notices``, in their language."""
    return render_mail(KIND, person.language, {
        "salutation": salutation(person.full_name, person.language),
        "company": company_name(person.company, person.language) if person.company else None,
        "notices": notices, "unsubscribe_url": unsubscribe})


def sender_headers(person: Recipient, rules: ProgressRules) -> dict[str, str]:
    """A key account's e-mail comes from its account manager: ``From`` with the manager's
    name and ``Reply-To`` the manager's address (or the team's)."""
    if not (person.key_account and person.account_manager):
        return {}
    address = rules.key_accounts.addresses.get(person.account_manager,
                                               rules.key_accounts.fallback_reply_to)
    named = formataddr((person.account_manager, address))
    return {"From": named, "Reply-To": named}


def last_sent(conn: Connection, contact_id: str) -> datetime | None:
    """When the contact's last progress e-mail was decided (None: never)."""
    return conn.scalar(select(func.max(progress_notices.c.decided_at)).where(
        progress_notices.c.contact_id == contact_id, progress_notices.c.status == "sent"))


def mail_key(contact_id: str, pairs: list[tuple[str, str]]) -> str:
    """``progress:<contact>:<first 16 hex of SHA-256 of the sorted pairs>``."""
    digest = hashlib.sha256(repr(sorted(pairs)).encode("utf-8")).hexdigest()[:16]
    return f"{KIND}:{contact_id}:{digest}"


def send_progress(warehouse_url: str, *, now: datetime, rules: ProgressRules, owners: Owners,
                  links: LinkSettings) -> ProgressSummary:
    """Decide every due notice at ``now`` (module doc); one transaction per contact."""
    summary = ProgressSummary()
    engine = engine_for(warehouse_url)
    with engine.connect() as conn:
        due = due_pairs(conn, now.date(), rules)
    for contact_id, pairs in due.items():
        with engine.begin() as conn:
            _decide_contact(conn, contact_id, pairs, now, rules, owners, links, summary)
    return summary


def _decide_contact(conn: Connection, contact_id: str, pairs: list[tuple[str, str]],
                    now: datetime, rules: ProgressRules, owners: Owners, links: LinkSettings,
                    summary: ProgressSummary) -> None:
    person = recipient(conn, contact_id)
    reason = None
    if person is None or not person.email:
        reason = "no_email"
    elif person.opted_out:
        reason = "opted_out"
    if reason is not None:
        insert_if_absent(conn, progress_notices, [_row(contact_id, person, pair, "not_sent",
                                                       reason, None, now) for pair in pairs])
        summary.not_sent[reason] += len(pairs)
        return
    assert person is not None and person.email is not None
    previous = last_sent(conn, contact_id)
    if previous is not None and now < previous + timedelta(days=rules.min_days_between):
        summary.waiting += len(pairs)
        return
    key = mail_key(contact_id, pairs)
    url = unsubscribe_url(links.base_url, key, contact_id, KIND, links.catalogue, now,
                          links.secret)
    notices = [notice(conn, person, i, m, owners, rules) for i, m in pairs]
    mail = render_progress(person, notices, url)
    enqueue(conn, idempotency_key=key, kind=KIND, recipient=person.email,
            subject=mail.subject, body_text=mail.text, body_html=mail.html, created_at=now,
            contact_id=contact_id,
            headers={**unsubscribe_headers(url), **sender_headers(person, rules)})
    insert_if_absent(conn, progress_notices, [_row(contact_id, person, pair, "sent", None, key,
                                                   now) for pair in pairs])
    summary.emails += 1
    summary.notices += len(pairs)


def _row(contact_id: str, person: Recipient | None, pair: tuple[str, str], status: str,
         reason: str | None, key: str | None, now: datetime) -> dict[str, Any]:
    return {"contact_id": contact_id, "initiative_id": pair[0], "milestone_id": pair[1],
            "client_id": person.client_id if person else "", "status": status,
            "reason": reason, "mail_key": key, "decided_at": now}
