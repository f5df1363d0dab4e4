"""The survey catalogue and targeting: which survey, to whom, when; counts and gaps.

Account A: op1 (operator, ru), tb1 and tb2 (technical buyers, en), no economic buyer.
Account B: eb9 (economic buyer) only. Events occur at E = 2026-06-01 10:00.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from cx_tasks.config import rules_text
from cx_tasks.surveys.catalogue import EVENT_TYPES, SurveyCatalogue, survey_catalogue
from cx_tasks.surveys.contact_rules import ContactRules
from cx_tasks.surveys.targeting import (
    HISTORY_COLUMNS,
    SKIP_REASONS,
    accounts_missing_roles,
    event_candidates,
    plan_invitations,
    skip_counts,
)

CATALOGUE = survey_catalogue()
E = datetime(2026, 6, 1, 10)
NOW = datetime(2026, 6, 1, 12)
NO_CLAIMS = pd.DataFrame(columns=["claim_id", "client_id", "opened_at", "closed_at"])
NO_HISTORY = pd.DataFrame(columns=HISTORY_COLUMNS).astype({"is_reminder": bool})
PERMISSIVE = ContactRules(contact_transactional_limit=99, awaiting_answer_days=0,
                          account_limit=99, role_limit=99, order_limit=99,
                          duplicate_content_hours=0, skip_open_claim=False)
CONTACTS = pd.DataFrame([
    dict(contact_id=c, client_id=cl, role=r, email=f"{c}@x.test", language=lang, opted_out=False)
    for c, cl, r, lang in [("tb2", "A", "technical_buyer", "en"), ("op1", "A", "operator", "ru"),
                           ("tb1", "A", "technical_buyer", "en"),
                           ("eb9", "B", "economic_buyer", "ru")]])


def events(*rows: tuple) -> pd.DataFrame:
    """Events from (event_id, event_type, client_id, contact_id, order_id)."""
    return pd.DataFrame([dict(event_id=i, event_type=t, client_id=cl, contact_id=ct, order_id=o,
                              ref_id=i, occurred_at=pd.Timestamp(E), payload="{}")
                         for i, t, cl, ct, o in rows])


def targets(evts: pd.DataFrame) -> list[tuple]:
    """(invitation_id, role, reason) per candidate, in candidate order."""
    found = event_candidates(evts, CONTACTS, CATALOGUE)
    return list(zip(found["invitation_id"], found["role"], found["reason"], strict=True))


# --- the catalogue --------------------------------------------------------------------------

def test_one_transactional_survey_per_event_with_its_offset_and_questions() -> None:
    offsets = {t: CATALOGUE.for_event(t).send_after_hours for t in EVENT_TYPES}
    assert offsets == {"delivery_completed": 48, "otif_miss": 24, "claim_closed": 24,
                       "ticket_resolved": 24, "document_delay": 24}
    for event_type in EVENT_TYPES:
        kinds = [CATALOGUE.questions[q] for q in CATALOGUE.for_event(event_type).questions]
        assert [q.kind for q in kinds[:2]] == ["csat", "ces"] and kinds[-1].kind == "comment"
        assert [q.scale for q in kinds[:2]] == [(1, 5), (1, 7)]
        assert all(set(q.text) == {"ru", "en"} for q in kinds)
    rel = CATALOGUE.for_role("economic_buyer")
    assert rel.kind == "relationship" and CATALOGUE.questions[rel.questions[0]].scale == (0, 10)


def _catalogue_data() -> dict:
    return yaml.safe_load(rules_text("survey_catalogue"))


def test_catalogue_refuses_a_survey_without_ces() -> None:
    data = _catalogue_data()
    data["surveys"][0]["questions"].remove("ces")
    with pytest.raises(ValidationError, match="csat, ces"):
        SurveyCatalogue.model_validate(data)


def test_catalogue_refuses_a_missing_event_type_or_language_or_unknown_factor() -> None:
    data = _catalogue_data()
    data["surveys"] = [s for s in data["surveys"] if s.get("event_type") != "otif_miss"]
    with pytest.raises(ValidationError, match="one transactional survey per event type"):
        SurveyCatalogue.model_validate(data)
    data = _catalogue_data()
    del data["questions"]["csat"]["text"]["en"]
    with pytest.raises(ValidationError, match="missing for languages"):
        SurveyCatalogue.model_validate(data)
    data = _catalogue_data()
    data["questions"]["availability"]["factor"] = "happiness"
    with pytest.raises(ValidationError, match="unknown factor"):
        SurveyCatalogue.model_validate(data)


# --- who is targeted ------------------------------------------------------------------------

def test_delivery_asks_operator_then_every_technical_buyer_48_hours_later() -> None:
    evts = events(("delivery_completed:O1", "delivery_completed", "A", None, "O1"))
    assert targets(evts) == [("inv:delivery_completed:O1:op1", "operator", None),
                             ("inv:delivery_completed:O1:tb1", "technical_buyer", None),
                             ("inv:delivery_completed:O1:tb2", "technical_buyer", None)]
    invited, skipped = plan_invitations(evts, CONTACTS, set(), NO_CLAIMS, NO_HISTORY,
                                        PERMISSIVE, CATALOGUE, NOW)
    assert skipped.empty
    first = invited.iloc[0]
    assert (first["survey_id"], first["language"], first["content_key"], first["order_id"]) == (
        "tx_delivery_completed", "ru", "tx_delivery_completed", "O1")
    assert first["scheduled_at"] == pd.Timestamp(E + timedelta(hours=48))


def test_default_rules_ask_both_roles_about_an_order_once_each() -> None:
    # order_limit counts per order AND role: the operator and one technical buyer are asked;
    # the second technical buyer is refused by the order rule (checked before the role rule)
    evts = events(("delivery_completed:O1", "delivery_completed", "A", None, "O1"))
    invited, skipped = plan_invitations(evts, CONTACTS, set(), NO_CLAIMS, NO_HISTORY,
                                        ContactRules(), CATALOGUE, NOW)
    assert list(zip(invited["contact_id"], invited["role"], strict=True)) == [
        ("op1", "operator"), ("tb1", "technical_buyer")]
    assert list(zip(skipped["contact_id"], skipped["reason"], strict=True)) == [
        ("tb2", "order_already_surveyed")]


def test_claim_asks_its_raiser_first_and_the_technical_buyers_once() -> None:
    raised_by_operator = events(("claim_closed:K1", "claim_closed", "A", "op1", None))
    assert [r for _, r, _ in targets(raised_by_operator)] == [
        "operator", "technical_buyer", "technical_buyer"]
    raised_by_tb2 = events(("claim_closed:K2", "claim_closed", "A", "tb2", None))
    assert targets(raised_by_tb2) == [("inv:claim_closed:K2:tb2", "technical_buyer", None),
                                      ("inv:claim_closed:K2:tb1", "technical_buyer", None)]


def test_ticket_asks_only_its_raiser_and_an_unknown_raiser_is_a_skip() -> None:
    assert targets(events(("ticket_resolved:T1", "ticket_resolved", "A", "op1", None))) == [
        ("inv:ticket_resolved:T1:op1", "operator", None)]
    assert targets(events(("ticket_resolved:T2", "ticket_resolved", "A", None, None))) == [
        ("inv:ticket_resolved:T2:no_event_contact", "event_contact", "no_contact_for_role")]


def test_a_role_with_nobody_is_a_skip_not_a_silent_drop() -> None:
    evts = events(("document_delay:D9", "document_delay", "B", None, None))
    invited, skipped = plan_invitations(evts, CONTACTS, set(), NO_CLAIMS, NO_HISTORY,
                                        PERMISSIVE, CATALOGUE, NOW)
    assert invited.empty
    assert list(zip(skipped["invitation_id"], skipped["reason"], strict=True)) == [
        ("inv:document_delay:D9:no_technical_buyer", "no_contact_for_role")]


def test_default_rules_on_a_mixed_batch_counts_and_rerun() -> None:
    evts = events(("delivery_completed:O1", "delivery_completed", "A", None, "O1"),
                  ("ticket_resolved:T1", "ticket_resolved", "A", "op1", None),
                  ("document_delay:D9", "document_delay", "B", None, None))
    rules = ContactRules()
    invited, skipped = plan_invitations(evts, CONTACTS, set(), NO_CLAIMS, NO_HISTORY, rules,
                                        CATALOGUE, NOW)
    # due at E+24h: D9 (nobody), T1 -> op1 invited. Due at E+48h: O1 -> op1 throttled by T1
    # (1 transactional per 30 days; op1's T1 invitation is 1 day old and unanswered, so
    # awaiting_answer refuses first), tb1 invited, tb2 refused: technical buyer role used.
    assert list(invited["invitation_id"]) == ["inv:ticket_resolved:T1:op1",
                                              "inv:delivery_completed:O1:tb1"]
    assert dict(zip(skipped["invitation_id"], skipped["reason"], strict=True)) == {
        "inv:document_delay:D9:no_technical_buyer": "no_contact_for_role",
        "inv:delivery_completed:O1:op1": "awaiting_answer",
        "inv:delivery_completed:O1:tb2": "order_already_surveyed"}
    assert len(event_candidates(evts, CONTACTS, CATALOGUE)) == len(invited) + len(skipped) == 5
    counts = skip_counts(skipped)
    assert set(counts) == set(SKIP_REASONS) and sum(counts.values()) == 3
    assert (counts["no_contact_for_role"], counts["awaiting_answer"],
            counts["order_already_surveyed"], counts["opted_out"]) == (1, 1, 1, 0)
    # a rerun that finds its own earlier invitations in the history plans the same rows
    recorded = invited.rename(columns={"scheduled_at": "sent_at"}).assign(
        answered_at=pd.NaT, is_reminder=False)[HISTORY_COLUMNS]
    again, again_skipped = plan_invitations(evts, CONTACTS, set(), NO_CLAIMS, recorded, rules,
                                            CATALOGUE, NOW)
    pd.testing.assert_frame_equal(again, invited)
    pd.testing.assert_frame_equal(again_skipped, skipped)


def test_accounts_missing_roles() -> None:
    missing = accounts_missing_roles(CONTACTS)
    assert list(zip(missing["client_id"], missing["role"], strict=True)) == [
        ("A", "economic_buyer"), ("B", "technical_buyer"), ("B", "operator")]


def test_a_key_accounts_transactional_surveys_are_asked_in_person_its_relationship_survey_not():
    from cx_tasks.surveys.targeting import standing_refusals

    candidates = pd.DataFrame({
        "invitation_id": ["t-A", "r-A", "t-B", "t-A-opted"],
        "kind": ["transactional", "relationship", "transactional", "transactional"],
        "client_id": ["A", "A", "B", "A"], "contact_id": ["op1", "op1", "eb9", "tb1"],
        "scheduled_at": [pd.Timestamp(E)] * 4, "reason": [None] * 4})
    decided = standing_refusals(candidates, {"tb1"}, PERMISSIVE, NOW, key_accounts={"A"})
    # A is a key account: its transactional survey is asked in person; its relationship
    # survey still goes by e-mail; B is not a key account; an opted-out contact stays opted out
    assert decided["reason"].tolist() == ["key_account_in_person", None, None, "opted_out"]
    off = PERMISSIVE.model_copy(update={"key_account_in_person": False})
    assert standing_refusals(candidates, set(), off, NOW, {"A"})["reason"].isna().all()
