"""Contact rules, each at its boundary, on hand-built frames.

Account A has three contacts: op1 (operator, ru), tb1 (technical buyer, en), eb1 (economic
buyer, en). Most tests plan one ``document_delay`` event (asks the technical buyer only, 24 h
after the event): it occurs at E = 2026-06-01 10:00, so the invitation is due at
S = 2026-06-02 10:00. ``loose(...)`` relaxes every limit except the one under test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cx_tasks.surveys.catalogue import EVENT_TYPES, survey_catalogue
from cx_tasks.surveys.contact_rules import ContactRules, contact_rules
from cx_tasks.surveys.targeting import (
    HISTORY_COLUMNS,
    event_candidates,
    plan_invitations,
    plan_relationship_surveys,
    plan_reminders,
    relationship_interval,
)

CATALOGUE = survey_catalogue()
E = datetime(2026, 6, 1, 10)
S = E + timedelta(hours=24)
NOW = datetime(2026, 6, 1, 12)
NO_CLAIMS = pd.DataFrame(columns=["claim_id", "client_id", "opened_at", "closed_at"])


def contacts(*rows: tuple) -> pd.DataFrame:
    """Contacts from (contact_id, client_id, role, language, opted_out)."""
    return pd.DataFrame([dict(contact_id=c, client_id=cl, role=r, email=f"{c}@x.test",
                              language=lang, opted_out=out) for c, cl, r, lang, out in rows])


ACCOUNT_A = contacts(("op1", "A", "operator", "ru", False),
                     ("tb1", "A", "technical_buyer", "en", False),
                     ("eb1", "A", "economic_buyer", "en", False))


def event(event_id: str, event_type: str = "document_delay", at: datetime = E,
          client: str = "A", contact: str | None = None, order: str | None = None) -> dict:
    return dict(event_id=event_id, event_type=event_type, client_id=client, contact_id=contact,
                order_id=order, ref_id=event_id, occurred_at=pd.Timestamp(at), payload="{}")


def events(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(event("x")))


def sent(invitation_id: str, contact: str, role: str, at: datetime, *, client: str = "A",
         kind: str = "transactional", survey: str = "tx_delivery_completed",
         order: str | None = None, answered: datetime | None = None,
         reminder: bool = False) -> dict:
    return dict(invitation_id=invitation_id, contact_id=contact, client_id=client, role=role,
                survey_id=survey, kind=kind, order_id=order, content_key=survey,
                sent_at=pd.Timestamp(at), is_reminder=reminder,
                answered_at=pd.Timestamp(answered) if answered else pd.NaT)


def history(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=HISTORY_COLUMNS).astype({"is_reminder": bool})


LOOSE = dict(contact_transactional_limit=99, awaiting_answer_days=0, account_limit=99,
             role_limit=99, order_limit=99, duplicate_content_hours=0, skip_open_claim=False)


def loose(**rule: object) -> ContactRules:
    return ContactRules(**{**LOOSE, **rule})


def plan(evts: pd.DataFrame, hist: pd.DataFrame, rules: ContactRules,
         people: pd.DataFrame = ACCOUNT_A, unsubscribed: frozenset = frozenset(),
         claims: pd.DataFrame = NO_CLAIMS):
    return plan_invitations(evts, people, unsubscribed, claims, hist, rules, CATALOGUE, NOW)


def outcome(evts: pd.DataFrame, hist: pd.DataFrame, rules: ContactRules, **kw) -> list:
    """(contact, reason or 'invited') per candidate, in decision order."""
    invited, skipped = plan(evts, hist, rules, **kw)
    rows = [(r["contact_id"], "invited", r["scheduled_at"]) for r in invited.to_dict("records")]
    rows += [(r["contact_id"], r["reason"], r["scheduled_at"]) for r in skipped.to_dict("records")]
    return [(c, why) for c, why, _ in sorted(rows, key=lambda r: (r[2], str(r[0])))]


def test_defaults_are_the_documented_numbers() -> None:
    rules = contact_rules()
    assert (rules.contact_transactional_limit, rules.contact_window_days) == (1, 30)
    assert rules.awaiting_answer_days == 7
    assert (rules.account_limit, rules.role_limit, rules.order_limit) == (3, 1, 1)
    assert rules.duplicate_content_hours == 12
    assert (rules.relationship_tenure_months, rules.relationship_per_year_established,
            rules.relationship_per_year_new) == (18, 1, 2)
    assert rules.skip_open_claim and rules.reminder_after_days == 5
    assert rules.event_max_age_hours == 72 and rules.relationship_first_window_days == 30


def test_a_survey_more_than_72_hours_overdue_is_stale() -> None:
    # due (event + 24 h) exactly 72 h before NOW: still asked; one second older: stale
    on_limit = NOW - timedelta(hours=72 + 24)
    evts = events(event("fresh", at=on_limit), event("stale", at=on_limit - timedelta(seconds=1)))
    invited, skipped = plan(evts, history(), loose())
    assert list(invited["event_id"]) == ["fresh"]
    assert skipped[["event_id", "contact_id", "reason"]].values.tolist() == [
        ["stale", "tb1", "stale_event"]]


def test_contact_limit_exactly_30_days_allowed_29_days_23_hours_throttled() -> None:
    rules = loose(contact_transactional_limit=1)
    evts = events(event("document_delay:D1"))
    at_30 = history(sent("old", "tb1", "technical_buyer", S - timedelta(days=30)))
    at_29_23 = history(sent("old", "tb1", "technical_buyer", S - timedelta(days=29, hours=23)))
    assert outcome(evts, at_30, rules) == [("tb1", "invited")]
    assert outcome(evts, at_29_23, rules) == [("tb1", "throttled_contact")]
    # the same with every default rule on: the contact rule is the first to refuse
    assert outcome(evts, at_29_23, contact_rules()) == [("tb1", "throttled_contact")]


def test_contact_limit_counts_only_transactional_invitations() -> None:
    rel = history(sent("old", "tb1", "technical_buyer", S - timedelta(days=10),
                       kind="relationship", survey="rel_technical_buyer"))
    assert outcome(events(event("document_delay:D1")), rel,
                   loose(contact_transactional_limit=1)) == [("tb1", "invited")]


def test_batch_decisions_count_in_scheduled_order() -> None:
    # two delays for tb1, listed late-first: the earlier one (due S) wins; the one due
    # S + 10 days is past the 7 awaiting days but within 30 days of it
    evts = events(event("document_delay:D2", at=E + timedelta(days=10)),
                  event("document_delay:D1"))
    invited, skipped = plan(evts, history(), contact_rules())
    assert list(invited["invitation_id"]) == ["inv:document_delay:D1:tb1"]
    assert list(zip(skipped["event_id"], skipped["reason"], strict=True)) == [
        ("document_delay:D2", "throttled_contact")]


def test_awaiting_answer_exactly_7_days_allowed_younger_refused() -> None:
    rules = loose(awaiting_answer_days=7)
    evts = events(event("document_delay:D1"))

    def rel(at: datetime, answered: datetime | None = None) -> pd.DataFrame:
        return history(sent("r", "tb1", "technical_buyer", at, kind="relationship",
                            survey="rel_technical_buyer", answered=answered))

    assert outcome(evts, rel(S - timedelta(days=7)), rules) == [("tb1", "invited")]
    assert outcome(evts, rel(S - timedelta(days=6, hours=23)), rules) == [
        ("tb1", "awaiting_answer")]
    # answered by NOW: no longer awaited; answered after NOW is not known yet
    young = S - timedelta(days=6)
    assert outcome(evts, rel(young, answered=NOW), rules) == [("tb1", "invited")]
    assert outcome(evts, rel(young, answered=NOW + timedelta(seconds=1)), rules) == [
        ("tb1", "awaiting_answer")]


def test_account_third_invitation_allowed_fourth_throttled() -> None:
    rules = loose(account_limit=3)
    evts = events(event("document_delay:D1"))
    two = [sent("a", "op1", "operator", S - timedelta(days=1)),
           sent("b", "eb1", "economic_buyer", S - timedelta(days=2))]
    third = sent("c", "x9", "operator", S - timedelta(days=29, hours=23))
    assert outcome(evts, history(*two), rules) == [("tb1", "invited")]          # 2 + 1 = 3
    assert outcome(evts, history(*two, third), rules) == [("tb1", "throttled_account")]  # 4th
    aged = sent("c", "x9", "operator", S - timedelta(days=30))                    # left window
    assert outcome(evts, history(*two, aged), rules) == [("tb1", "invited")]


def test_role_limit_per_account_at_30_days() -> None:
    rules = loose(role_limit=1)
    evts = events(event("document_delay:D1"))
    # a former technical buyer (not among today's contacts) was asked
    assert outcome(evts, history(sent("o", "tb0", "technical_buyer",
                                      S - timedelta(days=29, hours=23))), rules) == [
        ("tb1", "throttled_role")]
    assert outcome(evts, history(sent("o", "tb0", "technical_buyer", S - timedelta(days=30))),
                   rules) == [("tb1", "invited")]
    # another role's invitation does not count
    assert outcome(evts, history(sent("o", "op1", "operator", S)), rules) == [("tb1", "invited")]


def test_one_invitation_per_order_and_role_ever() -> None:
    rules = loose(order_limit=1)
    delivered = events(event("delivery_completed:O1", "delivery_completed", order="O1"))
    # the operator and the technical buyer are each asked once about the order
    assert outcome(delivered, history(), rules) == [("op1", "invited"), ("tb1", "invited")]
    # a second technical buyer is refused by the batch's own decision for tb1
    two_buyers = contacts(("op1", "A", "operator", "ru", False),
                          ("tb1", "A", "technical_buyer", "en", False),
                          ("tb2", "A", "technical_buyer", "en", False))
    assert outcome(delivered, history(), rules, people=two_buyers) == [
        ("op1", "invited"), ("tb1", "invited"), ("tb2", "order_already_surveyed")]
    # the operator was asked about O1 years ago (another survey): only the operator is refused
    years_ago = history(sent("m", "op1", "operator", E - timedelta(days=900), order="O1",
                             survey="tx_otif_miss"))
    assert outcome(delivered, years_ago, rules) == [("op1", "order_already_surveyed"),
                                                    ("tb1", "invited")]


def test_duplicate_content_within_12_hours_either_side() -> None:
    rules = loose(duplicate_content_hours=12)
    evts = events(event("document_delay:D1"))

    def same(at: datetime) -> pd.DataFrame:
        return history(sent("d", "tb1", "technical_buyer", at, survey="tx_document_delay"))

    assert outcome(evts, same(S - timedelta(hours=12)), rules) == [("tb1", "invited")]
    assert outcome(evts, same(S - timedelta(hours=11, minutes=59)), rules) == [
        ("tb1", "duplicate_content")]
    assert outcome(evts, same(S + timedelta(hours=11)), rules) == [("tb1", "duplicate_content")]
    other = history(sent("d", "tb1", "technical_buyer", S, survey="tx_otif_miss"))
    assert outcome(evts, other, rules) == [("tb1", "invited")]


def test_open_claim_blocks_surveys_closed_claim_does_not() -> None:
    evts = events(event("document_delay:D1"))
    claims = pd.DataFrame([dict(claim_id="K1", client_id="A", opened_at=E, closed_at=pd.NaT),
                           dict(claim_id="K2", client_id="B", opened_at=E, closed_at=pd.NaT)])
    closed = claims.assign(closed_at=pd.Timestamp(E))
    assert outcome(evts, history(), loose(skip_open_claim=True), claims=claims) == [
        ("tb1", "open_claim")]
    assert outcome(evts, history(), loose(skip_open_claim=True), claims=closed) == [
        ("tb1", "invited")]
    assert outcome(evts, history(), loose(skip_open_claim=False), claims=claims) == [
        ("tb1", "invited")]


def test_opt_out_by_flag_or_unsubscribe() -> None:
    evts = events(event("document_delay:D1"))
    flagged = ACCOUNT_A.assign(opted_out=ACCOUNT_A["contact_id"] == "tb1")
    assert outcome(evts, history(), loose(), people=flagged) == [("tb1", "opted_out")]
    assert outcome(evts, history(), loose(), unsubscribed=frozenset({"tb1"})) == [
        ("tb1", "opted_out")]


def test_reminders_do_not_count_against_any_limit() -> None:
    # a reminder of the same survey 1 h before S, unanswered: were it counted, the contact,
    # awaiting, duplicate-content, role and order rules would all refuse
    reminder = sent("rem:x", "tb1", "technical_buyer", S - timedelta(hours=1),
                    survey="tx_document_delay", reminder=True)
    assert outcome(events(event("document_delay:D1")), history(reminder),
                   contact_rules()) == [("tb1", "invited")]


# --- relationship cadence -------------------------------------------------------------------

def test_relationship_interval_at_exactly_18_months() -> None:
    rules, now = contact_rules(), datetime(2026, 6, 1)
    # 2024-12-01 + 18 months = 2026-06-01 = now: not older, so twice a year: 365 / 2 days
    assert relationship_interval(date(2024, 12, 1), rules, now) == timedelta(days=182.5)
    # one day longer: older than 18 months, once a year
    assert relationship_interval(date(2024, 11, 30), rules, now) == timedelta(days=365)


def test_relationship_due_at_its_interval_not_before() -> None:
    rules, now = loose(), datetime(2026, 6, 1)
    operator = contacts(("op1", "A", "operator", "ru", False))

    def planned(last: timedelta, contract_start: date = date(2020, 1, 1)) -> list:
        clients = pd.DataFrame([dict(client_id="A", contract_start=contract_start)])
        hist = history(sent("r", "op1", "operator", now - last, kind="relationship",
                            survey="rel_operator"))
        invited, skipped = plan_relationship_surveys(clients, operator, frozenset(), NO_CLAIMS,
                                                     hist, rules, CATALOGUE, now)
        return sorted(zip(skipped["role"], skipped["reason"], strict=True)) + [
            (r["role"], r["contact_id"], r["survey_id"]) for r in invited.to_dict("records")]

    nobody = [("economic_buyer", "no_contact_for_role"), ("technical_buyer", "no_contact_for_role")]
    # established client: a year exactly -> due; a day less -> the operator is not due
    assert planned(timedelta(days=365)) == [*nobody, ("operator", "op1", "rel_operator")]
    assert planned(timedelta(days=364)) == nobody
    # a client of 12 months: twice a year, every 182.5 days
    young = date(2025, 6, 1)
    assert planned(timedelta(days=182.5), young) == [*nobody, ("operator", "op1", "rel_operator")]
    assert planned(timedelta(days=182), young) == nobody



def test_a_client_never_asked_is_first_asked_in_the_30_days_after_its_anniversary() -> None:
    # since 2020-01-01, established: yearly slots of 365 days; 2020-01-01 + 6 x 365 days
    # (2020 and 2024 are leap years) = 2025-12-30, so the window is [12-30, 2026-01-29)
    clients = pd.DataFrame([dict(client_id="A", contract_start=date(2020, 1, 1))])

    def asked(now: datetime) -> list[str]:
        invited, _ = plan_relationship_surveys(clients, ACCOUNT_A, frozenset(), NO_CLAIMS,
                                               history(), loose(), CATALOGUE, now)
        return sorted(invited["contact_id"])

    assert asked(datetime(2025, 12, 30)) == ["eb1", "op1", "tb1"]
    assert asked(datetime(2026, 1, 28, 23, 59, 59)) == ["eb1", "op1", "tb1"]
    assert asked(datetime(2026, 1, 29)) == []
    assert asked(datetime(2025, 12, 29, 23, 59, 59)) == []  # the previous window closed
    # a contract that starts later than today has no anniversary yet: asked at once
    clients.loc[0, "contract_start"] = date(2026, 3, 1)
    assert asked(datetime(2026, 2, 1)) == ["eb1", "op1", "tb1"]

# --- reminders ------------------------------------------------------------------------------

def test_one_reminder_after_exactly_5_days_to_non_responders() -> None:
    now = datetime(2026, 6, 10, 9)
    rules = contact_rules()
    five = sent("inv:e1:tb1", "tb1", "technical_buyer", now - timedelta(days=5))
    early = sent("inv:e2:op1", "op1", "operator", now - timedelta(days=4, hours=23))
    done = sent("inv:e3:eb1", "eb1", "economic_buyer", now - timedelta(days=9), answered=now)
    reminders = plan_reminders(history(five, early, done), ACCOUNT_A, frozenset(), rules, now)
    assert list(reminders["reminder_id"]) == ["rem:inv:e1:tb1"]
    assert reminders["scheduled_at"].iloc[0] == pd.Timestamp(now)   # sent + 5 days
    # once reminded, never again; the reminder itself is not reminded
    again = history(five, sent("rem:inv:e1:tb1", "tb1", "technical_buyer", now, reminder=True))
    assert plan_reminders(again, ACCOUNT_A, frozenset(), rules,
                          now + timedelta(days=10)).empty
    assert plan_reminders(history(five), ACCOUNT_A, frozenset({"tb1"}), rules, now).empty


# --- opt-out is absolute, whatever the rules ------------------------------------------------

PEOPLE = [(f"c{i}", "AB"[i % 2], ("economic_buyer", "technical_buyer", "operator")[i % 3])
          for i in range(8)]


@st.composite
def worlds(draw):
    rules = ContactRules(
        contact_transactional_limit=draw(st.integers(0, 4)),
        contact_window_days=draw(st.floats(0.5, 60)),
        awaiting_answer_days=draw(st.floats(0, 10)),
        account_limit=draw(st.integers(0, 6)), role_limit=draw(st.integers(0, 3)),
        order_limit=draw(st.integers(0, 3)), duplicate_content_hours=draw(st.floats(0, 48)),
        skip_open_claim=draw(st.booleans()), reminder_after_days=draw(st.floats(0.5, 10)))
    flags = draw(st.lists(st.booleans(), min_size=8, max_size=8))
    people = contacts(*[(c, cl, r, "en", f) for (c, cl, r), f in zip(PEOPLE, flags, strict=True)])
    unsubscribed = frozenset(draw(st.sets(st.sampled_from([c for c, _, _ in PEOPLE]))))
    hours = st.integers(-24 * 40, 24 * 10)
    evts = events(*[
        event(f"{t}:{i}", t, E + timedelta(hours=h), client=cl, contact=ct, order=f"O{o}")
        for i, (t, h, cl, ct, o) in enumerate(draw(st.lists(st.tuples(
            st.sampled_from(EVENT_TYPES), hours, st.sampled_from("AB"),
            st.sampled_from([None, *[c for c, _, _ in PEOPLE]]), st.integers(0, 3)),
            max_size=8)))])
    hist = history(*[
        sent(f"h{i}", c, r, E + timedelta(hours=h), client=cl, order=f"O{o}",
             answered=E if a else None, reminder=rem)
        for i, ((c, cl, r), h, o, a, rem) in enumerate(draw(st.lists(st.tuples(
            st.sampled_from(PEOPLE), hours, st.integers(0, 3), st.booleans(), st.booleans()),
            max_size=8)))])
    return rules, people, unsubscribed, evts, hist


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_no_opted_out_contact_ever_gets_an_invitation_or_reminder(world) -> None:
    rules, people, unsubscribed, evts, hist = world
    blocked = set(people.loc[people["opted_out"], "contact_id"]) | unsubscribed
    invited, skipped = plan(evts, hist, rules, people=people, unsubscribed=unsubscribed)
    clients = pd.DataFrame({"client_id": ["A", "B"], "contract_start": [date(2025, 1, 1)] * 2})
    rel, rel_skipped = plan_relationship_surveys(clients, people, unsubscribed, NO_CLAIMS, hist,
                                                 rules, CATALOGUE, NOW)
    reminders = plan_reminders(hist, people, unsubscribed, rules, NOW)
    assert not blocked & (set(invited["contact_id"]) | set(rel["contact_id"])
                          | set(reminders["contact_id"]))
    assert blocked & set(skipped["contact_id"]) <= set(
        skipped.loc[skipped["reason"] == "opted_out", "contact_id"])
    # nothing is dropped: every candidate is invited or skipped, once
    candidates = event_candidates(evts, people, CATALOGUE)
    assert len(candidates) == len(invited) + len(skipped)
    assert set(candidates["invitation_id"]) == set(invited["invitation_id"]) | set(
        skipped["invitation_id"])
