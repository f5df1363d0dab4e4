"""Who is surveyed, with what, and when: trigger events and the relationship cadence turned
into invitations, each candidate either invited or skipped with a reason.

A *candidate* is one survey for one contact (or, when a targeted role has nobody, for the
empty role). Candidates are decided one by one in a fixed order (scheduled time, event id,
target order, contact id) against the invitation history *and the decisions already made in
the same batch*, by the first rule that refuses them (``SKIP_REASONS``, in checking order).
Every candidate ends as exactly one invitation or one skip row; nothing is dropped.

Ids are deterministic (``inv:<event_id>:<contact_id>``), so a rerun plans the same rows; a
history row carrying one of the batch's own invitation ids is the earlier run's record of
the same decision and is set aside, not counted against it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from cx_tasks.collect.contract import ROLES
from cx_tasks.surveys.catalogue import Survey, SurveyCatalogue
from cx_tasks.surveys.contact_rules import ContactRules

SKIP_REASONS = ("no_contact_for_role", "opted_out", "stale_event", "key_account_in_person",
                "open_claim",
                "order_already_surveyed", "duplicate_content", "awaiting_answer",
                "throttled_contact", "throttled_role", "throttled_account")
"""Why a candidate was not invited, in the order the rules are checked."""

INVITATION_COLUMNS = ["invitation_id", "event_id", "survey_id", "kind", "client_id",
                      "contact_id", "role", "language", "order_id", "content_key",
                      "scheduled_at"]
SKIP_COLUMNS = [*INVITATION_COLUMNS, "reason"]
REMINDER_COLUMNS = ["reminder_id", "invitation_id", "survey_id", "kind", "client_id",
                    "contact_id", "role", "content_key", "scheduled_at"]
HISTORY_COLUMNS = ["invitation_id", "contact_id", "client_id", "role", "survey_id", "kind",
                   "order_id", "content_key", "sent_at", "answered_at", "is_reminder"]
EVENT_CONTACT = "event_contact"
"""The role shown for a claim's or ticket's raiser who is not among the contacts."""


# --- who may be asked at all ---------------------------------------------------------------

def opted_out_contacts(contacts: pd.DataFrame, unsubscribed: Iterable[str]) -> set[str]:
    """Contacts that may never be asked: opted out in the CRM or unsubscribed by a link."""
    flagged = contacts.loc[contacts["opted_out"].fillna(False).astype(bool), "contact_id"]
    return set(flagged) | set(unsubscribed)


def accounts_missing_roles(contacts: pd.DataFrame) -> pd.DataFrame:
    """Accounts (with any contact) that have no contact for a role, one row per missing role:
    their feedback is one-sided. Columns: client_id, role."""
    have = set(zip(contacts["client_id"], contacts["role"], strict=True))
    rows = [(client, role) for client in sorted(set(contacts["client_id"])) for role in ROLES
            if (client, role) not in have]
    return pd.DataFrame(rows, columns=["client_id", "role"])


def skip_counts(skips: pd.DataFrame) -> dict[str, int]:
    """Skipped candidates per reason, every reason listed (zero when none)."""
    counts = skips["reason"].value_counts()
    return {reason: int(counts.get(reason, 0)) for reason in SKIP_REASONS}


# --- candidates ----------------------------------------------------------------------------

def _candidate(event_id: str, survey: Survey, client_id: str, order_id: Any,
               at: pd.Timestamp, rank: int, contact: dict[str, Any] | None,
               role: str) -> dict[str, Any]:
    """One candidate row; ``contact`` None means nobody holds ``role``."""
    who = contact["contact_id"] if contact else f"no_{role}"
    return {
        "invitation_id": f"inv:{event_id}:{who}", "event_id": event_id, "survey_id": survey.id,
        "kind": survey.kind, "client_id": client_id,
        "contact_id": contact["contact_id"] if contact else None, "role": role,
        "language": contact["language"] if contact else None,
        "order_id": None if pd.isna(order_id) else order_id, "content_key": survey.id,
        "scheduled_at": at, "rank": rank,
        "reason": None if contact else "no_contact_for_role",
    }


def _targets(event_id: str, survey: Survey, client_id: str, order_id: Any, at: pd.Timestamp,
             by_role: dict[tuple[str, str], list[dict[str, Any]]],
             raiser: dict[str, Any] | None, raiser_missing: bool) -> Iterator[dict[str, Any]]:
    """The candidates of one survey at one account: the raiser first (if asked), then every
    contact of each targeted role in contact id order (nobody twice)."""
    seen: set[str] = set()
    if raiser is not None:
        seen.add(raiser["contact_id"])
        yield _candidate(event_id, survey, client_id, order_id, at, 0, raiser, raiser["role"])
    elif raiser_missing:
        yield _candidate(event_id, survey, client_id, order_id, at, 0, None, EVENT_CONTACT)
    for rank, role in enumerate(survey.roles, start=1):
        people = by_role.get((client_id, role), [])
        if not people:
            yield _candidate(event_id, survey, client_id, order_id, at, rank, None, role)
        for person in people:
            if person["contact_id"] not in seen:
                seen.add(person["contact_id"])
                yield _candidate(event_id, survey, client_id, order_id, at, rank, person, role)


def _contacts_by_role(contacts: pd.DataFrame) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Contacts grouped by (client_id, role), each group in contact id order."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in contacts.sort_values("contact_id").to_dict("records"):
        grouped[(row["client_id"], row["role"])].append(row)
    return grouped


def event_candidates(events: pd.DataFrame, contacts: pd.DataFrame,
                     catalogue: SurveyCatalogue) -> pd.DataFrame:
    """Every (event x targeted contact) with its survey and send time (event + offset); a
    targeted role with nobody (or an unknown raiser) is a candidate already refused."""
    by_role = _contacts_by_role(contacts)
    by_id = {row["contact_id"]: row for grouped in by_role.values() for row in grouped}
    rows: list[dict[str, Any]] = []
    for event in events.to_dict("records"):
        survey = catalogue.for_event(event["event_type"])
        at = pd.Timestamp(event["occurred_at"]) + pd.Timedelta(hours=survey.send_after_hours)
        contact_id = event["contact_id"]
        raiser = by_id.get(contact_id) if survey.event_contact else None
        rows.extend(_targets(event["event_id"], survey, event["client_id"], event["order_id"],
                             at, by_role, raiser, survey.event_contact and raiser is None))
    return pd.DataFrame(rows, columns=[*INVITATION_COLUMNS, "rank", "reason"])


# --- deciding ------------------------------------------------------------------------------

@dataclass
class Ledger:
    """Invitations that count against the limits (history, then this batch), by contact and
    by account. Each entry: contact_id, client_id, role, kind, order_id, content_key, at,
    answered (by ``now``)."""

    by_contact: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_client: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, entry: dict[str, Any]) -> None:
        """Count ``entry`` from now on."""
        self.by_contact[entry["contact_id"]].append(entry)
        self.by_client[entry["client_id"]].append(entry)


def history_ledger(history: pd.DataFrame, now: datetime, ignore: set[str]) -> Ledger:
    """The history's invitations (reminders excluded, ``ignore``d ids set aside) as a ledger;
    an answer counts only if recorded by ``now``."""
    ledger = Ledger()
    kept = history[~history["is_reminder"].astype(bool) & ~history["invitation_id"].isin(ignore)]
    for row in kept.to_dict("records"):
        answered = pd.notna(row["answered_at"]) and pd.Timestamp(row["answered_at"]) <= now
        ledger.add({**row, "at": pd.Timestamp(row["sent_at"]), "answered": answered})
    return ledger


def matching(entries: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    """Entries whose fields equal ``match``."""
    return [e for e in entries if all(e[k] == v for k, v in match.items())]


def near(entries: list[dict[str, Any]], at: pd.Timestamp, days: float,
         **match: Any) -> list[dict[str, Any]]:
    """Entries matching ``match`` less than ``days`` away from ``at`` (either side)."""
    window = pd.Timedelta(days=days)
    return [e for e in matching(entries, **match) if abs(e["at"] - at) < window]


def refusal(candidate: dict[str, Any], ledger: Ledger, claimed: set[str],
            rules: ContactRules) -> str | None:
    """The first rule (``SKIP_REASONS`` order, after those ``standing_refusals`` decides)
    refusing ``candidate``, or None to invite."""
    at, contact, client = candidate["scheduled_at"], candidate["contact_id"], candidate["client_id"]
    mine, account = ledger.by_contact[contact], ledger.by_client[client]
    transactional = candidate["kind"] == "transactional"
    order = candidate["order_id"]
    checks = (
        ("open_claim", lambda: rules.skip_open_claim and client in claimed),
        ("order_already_surveyed", lambda: transactional and pd.notna(order) and len(
            matching(account, kind="transactional", order_id=order, role=candidate["role"]))
         >= rules.order_limit),
        ("duplicate_content", lambda: bool(near(mine, at, rules.duplicate_content_hours / 24,
                                                content_key=candidate["content_key"]))),
        ("awaiting_answer", lambda: any(
            pd.Timedelta(0) <= at - e["at"]
            for e in near(mine, at, rules.awaiting_answer_days, answered=False))),
        ("throttled_contact", lambda: transactional and len(
            near(mine, at, rules.contact_window_days, kind="transactional"))
         >= rules.contact_transactional_limit),
        ("throttled_role", lambda: len(near(account, at, rules.role_window_days,
                                            role=candidate["role"])) >= rules.role_limit),
        ("throttled_account", lambda: len(near(account, at, rules.account_window_days))
         >= rules.account_limit),
    )
    return next((reason for reason, refuses in checks if refuses()), None)


def standing_refusals(candidates: pd.DataFrame, blocked: set[str], rules: ContactRules,
                      now: datetime, key_accounts: Iterable[str] = ()) -> pd.DataFrame:
    """``candidates`` with the refusals that no decision in the batch can change set at once:
    ``opted_out`` (the contact is in ``blocked``), then ``stale_event`` (a transactional
    survey due more than ``event_max_age_hours`` before ``now``), then
    ``key_account_in_person`` (a transactional survey to one of ``key_accounts`` while the
    rule holds: its account manager asks in person instead)."""
    open_ = candidates["reason"].isna()
    transactional = candidates["kind"] == "transactional"
    opted = open_ & candidates["contact_id"].isin(blocked)
    stale = (open_ & ~opted & transactional
             & (pd.Timestamp(now) - pd.to_datetime(candidates["scheduled_at"])
                > pd.Timedelta(hours=rules.event_max_age_hours)))
    in_person = (open_ & ~opted & ~stale & transactional & rules.key_account_in_person
                 & candidates["client_id"].isin(set(key_accounts)))
    reason = (candidates["reason"].astype(object).mask(opted, "opted_out")
              .mask(stale, "stale_event").mask(in_person, "key_account_in_person"))
    return candidates.assign(reason=reason)


def decide(candidates: pd.DataFrame, contacts: pd.DataFrame, unsubscribed: Iterable[str],
           open_claims: pd.DataFrame, history: pd.DataFrame, rules: ContactRules,
           now: datetime, key_accounts: Iterable[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates split into invitations and skips (with reason), decided in order
    (scheduled_at, event_id, rank, invitation_id), each invitation counting against the next."""
    candidates = standing_refusals(candidates, opted_out_contacts(contacts, unsubscribed),
                                   rules, now, key_accounts)
    ordered = candidates.sort_values(["scheduled_at", "event_id", "rank", "invitation_id"],
                                     kind="stable")
    ledger = history_ledger(history, pd.Timestamp(now), set(candidates["invitation_id"]))
    claimed = set(open_claims.loc[open_claims["closed_at"].isna(), "client_id"])
    invited, skipped = [], []
    for candidate in ordered.to_dict("records"):
        reason = (candidate["reason"] if pd.notna(candidate["reason"])
                  else refusal(candidate, ledger, claimed, rules))
        if reason is None:
            invited.append(candidate)
            ledger.add({**candidate, "at": candidate["scheduled_at"], "answered": False})
        else:
            skipped.append({**candidate, "reason": reason})
    return (pd.DataFrame(invited, columns=INVITATION_COLUMNS),
            pd.DataFrame(skipped, columns=SKIP_COLUMNS))


def plan_invitations(events: pd.DataFrame, contacts: pd.DataFrame, unsubscribed: Iterable[str],
                     open_claims: pd.DataFrame, history: pd.DataFrame, rules: ContactRules,
                     catalogue: SurveyCatalogue,
                     now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transactional invitations for trigger ``events`` and the skipped candidates with their
    reasons (``INVITATION_COLUMNS``, ``SKIP_COLUMNS``); ``history`` as known at ``now``."""
    candidates = event_candidates(events, contacts, catalogue)
    return decide(candidates, contacts, unsubscribed, open_claims, history, rules, now)


# --- relationship cadence and reminders ----------------------------------------------------

def relationship_interval(contract_start: Any, rules: ContactRules,
                          now: datetime) -> pd.Timedelta:
    """Least time between two relationship surveys of one role at a client: a year divided
    by the yearly count, once a year for clients *older* than the tenure (from
    ``contract_start`` to ``now``), twice a year otherwise (defaults)."""
    established = pd.Timestamp(contract_start) + pd.DateOffset(
        months=rules.relationship_tenure_months) < pd.Timestamp(now)
    per_year = (rules.relationship_per_year_established if established
                else rules.relationship_per_year_new)
    return pd.Timedelta(days=365) / per_year


def first_relationship_due(contract_start: Any, interval: pd.Timedelta, rules: ContactRules,
                           now: datetime) -> bool:
    """Whether a client never asked for a relationship survey is due at ``now``: within
    ``relationship_first_window_days`` after its latest anniversary slot (``contract_start``
    plus a whole number of intervals), so first surveys spread over the year; always, when
    the contract start is unknown or ahead."""
    start, at = pd.Timestamp(contract_start), pd.Timestamp(now)
    if pd.isna(start) or start > at:
        return True
    slot = start + interval * ((at - start) // interval)
    return at - slot < pd.Timedelta(days=rules.relationship_first_window_days)


def relationship_candidates(clients: pd.DataFrame, contacts: pd.DataFrame,
                            history: pd.DataFrame, rules: ContactRules,
                            catalogue: SurveyCatalogue, now: datetime) -> pd.DataFrame:
    """Candidates for the relationship survey of every (client, role) whose last one is at
    least its interval before ``now`` (or never), scheduled at ``now``; a client none of
    whose roles was ever asked only in its first-survey window (``first_relationship_due``)."""
    at = pd.Timestamp(now)
    sent = history[(history["kind"] == "relationship") & ~history["is_reminder"].astype(bool)]
    last = pd.to_datetime(sent["sent_at"]).groupby([sent["client_id"], sent["role"]]).max()
    asked = set(sent["client_id"])
    by_role = _contacts_by_role(contacts)
    rows: list[dict[str, Any]] = []
    for client in clients.sort_values("client_id").to_dict("records"):
        interval = relationship_interval(client["contract_start"], rules, now)
        if client["client_id"] not in asked and not first_relationship_due(
                client["contract_start"], interval, rules, now):
            continue
        event_id = f"relationship:{client['client_id']}:{at:%Y-%m-%d}"
        for role in ROLES:
            previous = last.get((client["client_id"], role), pd.NaT)
            if pd.isna(previous) or at - previous >= interval:
                survey = catalogue.for_role(role)
                rows.extend(_targets(event_id, survey.model_copy(update={"roles": (role,)}),
                                     client["client_id"], None, at, by_role, None, False))
    return pd.DataFrame(rows, columns=[*INVITATION_COLUMNS, "rank", "reason"])


def plan_relationship_surveys(clients: pd.DataFrame, contacts: pd.DataFrame,
                              unsubscribed: Iterable[str], open_claims: pd.DataFrame,
                              history: pd.DataFrame, rules: ContactRules,
                              catalogue: SurveyCatalogue,
                              now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Relationship invitations due at ``now`` by the cadence, and the skipped candidates,
    under the same contact rules as transactional ones (``INVITATION_COLUMNS``,
    ``SKIP_COLUMNS``)."""
    candidates = relationship_candidates(clients, contacts, history, rules, catalogue, now)
    return decide(candidates, contacts, unsubscribed, open_claims, history, rules, now)


def plan_reminders(history: pd.DataFrame, contacts: pd.DataFrame, unsubscribed: Iterable[str],
                   rules: ContactRules, now: datetime) -> pd.DataFrame:
    """One reminder (``rem:<invitation_id>``) for each invitation unanswered by ``now`` and
    sent at least ``reminder_after_days`` before it, unless already reminded or the contact
    opted out; due at sent_at + that delay (``REMINDER_COLUMNS``)."""
    at = pd.Timestamp(now)
    sent = history[~history["is_reminder"].astype(bool)]
    due_at = pd.to_datetime(sent["sent_at"]) + pd.Timedelta(days=rules.reminder_after_days)
    answered = pd.to_datetime(sent["answered_at"]) <= at
    reminded = set(history["invitation_id"])
    out = sent.assign(reminder_id="rem:" + sent["invitation_id"].astype(str),
                      scheduled_at=due_at)
    out = out[(due_at <= at) & ~answered
              & ~out["reminder_id"].isin(reminded)
              & ~out["contact_id"].isin(opted_out_contacts(contacts, unsubscribed))]
    return out[REMINDER_COLUMNS].sort_values(["scheduled_at", "reminder_id"], ignore_index=True)
