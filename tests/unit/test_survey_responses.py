"""Survey responses: one response per invitation, validated against the catalogue, mirrored in
one feedback row; unsubscribes kept from the first one on. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fixtures.surveys import (
    answer_claims,
    response_rows,
    store_invitation,
    unsubscribe_claims,
)
from sqlalchemy import select

from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.responses import (
    ResponseRefused,
    record_form,
    record_score,
    unsubscribe,
)
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import (
    feedback,
    survey_answers,
    survey_invitations,
    survey_responses,
    unsubscribes,
)

MSK = timezone(timedelta(hours=3))
CLICK = datetime(2026, 11, 3, 12, 0, tzinfo=MSK)   # 09:00 UTC
T1 = datetime(2026, 11, 3, 9, 0)
T2 = datetime(2026, 11, 3, 9, 5)
T3 = datetime(2026, 11, 4, 8, 0)
FID = "survey:inv:e1:C1"


@pytest.fixture()
def url(warehouse_url: str) -> str:
    store_invitation(warehouse_url)
    return warehouse_url


def _stored(url: str) -> dict[str, object]:
    with engine_for(url).connect() as conn:
        response = conn.execute(select(
            survey_responses.c.comment, survey_responses.c.first_answered_at,
            survey_responses.c.updated_at, survey_responses.c.submitted)).all()
        answers = conn.execute(select(survey_answers.c.question_id, survey_answers.c.score,
                                      survey_answers.c.answered_at)
                               .order_by(survey_answers.c.question_id)).all()
        row = conn.execute(select(feedback)).mappings().all()
        answered = conn.scalar(select(survey_invitations.c.answered_at))
    return {"response": [tuple(r) for r in response], "answers": [tuple(a) for a in answers],
            "feedback": [dict(r) for r in row], "answered_at": answered}


def _feedback(text: str | None, scores: str, recorded_at: datetime) -> dict[str, object]:
    return {"feedback_id": FID, "source": "survey", "channel": "email_survey",
            "client_id": "K1", "contact_id": "C1", "role": "operator", "text": text,
            "scores": scores, "ref_id": "inv:e1:C1", "occurred_at": T1,
            "recorded_at": recorded_at}


def test_a_click_stores_the_score_the_response_and_its_feedback_row(url: str) -> None:
    with engine_for(url).begin() as conn:
        assert record_score(conn, answer_claims(), 4, CLICK) == [FID]
    assert _stored(url) == {
        "response": [(None, T1, T1, False)],
        "answers": [("csat", 4, T1)],
        "feedback": [_feedback(None, '{"csat": 4}', T1)],
        "answered_at": T1,
    }


def test_a_second_click_updates_the_same_response(url: str) -> None:
    with engine_for(url).begin() as conn:
        record_score(conn, answer_claims(), 4, T1)
    with engine_for(url).begin() as conn:
        assert record_score(conn, answer_claims(), 2, T2) == [FID]
    assert _stored(url) == {
        "response": [(None, T1, T2, False)],
        "answers": [("csat", 2, T2)],
        "feedback": [_feedback(None, '{"csat": 2}', T2)],
        "answered_at": T1,
    }


def test_the_form_adds_scores_and_the_comment_and_a_resubmit_replaces_them(url: str) -> None:
    with engine_for(url).begin() as conn:
        record_score(conn, answer_claims(), 4, T1)
        record_form(conn, answer_claims(), {"ces": 6, "availability": 5,
                                            "meeting_specifications": 3},
                    "  Two pallets arrived late.  ", T2)
    assert _stored(url) == {
        "response": [("Two pallets arrived late.", T1, T2, True)],
        "answers": [("availability", 5, T2), ("ces", 6, T2), ("csat", 4, T1),
                    ("meeting_specifications", 3, T2)],
        "feedback": [_feedback(
            "Two pallets arrived late.",
            '{"availability": 5, "ces": 6, "csat": 4, "meeting_specifications": 3}', T2)],
        "answered_at": T1,
    }
    with engine_for(url).begin() as conn:
        assert record_form(conn, answer_claims(), {"ces": 7}, "   ", T3) == [FID]
    stored = _stored(url)
    assert stored["response"] == [(None, T1, T3, True)]
    assert stored["feedback"] == [_feedback(
        None, '{"availability": 5, "ces": 7, "csat": 4, "meeting_specifications": 3}', T3)]


def test_a_form_without_a_click_creates_the_response(url: str) -> None:
    with engine_for(url).begin() as conn:
        record_form(conn, answer_claims(), {"csat": 5}, None, T1)
    assert _stored(url)["response"] == [(None, T1, T1, True)]


@pytest.mark.parametrize(("answers", "ok"), [
    ({"ces": 1}, True), ({"ces": 7}, True), ({"ces": 0}, False), ({"ces": 8}, False),
    ({"availability": 5}, True), ({"availability": 6}, False), ({"csat": True}, False),
])
def test_form_scores_must_lie_in_their_questions_range(url: str, answers, ok: bool) -> None:
    with engine_for(url).begin() as conn:
        if ok:
            record_form(conn, answer_claims(), answers, None, T1)
        else:
            with pytest.raises(ResponseRefused, match="score"):
                record_form(conn, answer_claims(), answers, None, T1)
    with engine_for(url).connect() as conn:
        assert response_rows(conn)["survey_answers"] == (1 if ok else 0)


@pytest.mark.parametrize(("claims", "score"), [
    (answer_claims(), 0), (answer_claims(), 6),
    (answer_claims(score_max=10), 7),       # a token wider than the catalogue's csat range
])
def test_a_click_outside_the_range_is_refused_and_stores_nothing(url: str, claims,
                                                                  score: int) -> None:
    with engine_for(url).begin() as conn, pytest.raises(ResponseRefused, match="score"):
        record_score(conn, claims, score, T1)
    with engine_for(url).connect() as conn:
        assert set(response_rows(conn).values()) == {0}


@pytest.mark.parametrize("question", ["nps", "comment", "expertise", "no_such_question"])
def test_questions_the_survey_does_not_ask_are_refused(url: str, question: str) -> None:
    with engine_for(url).begin() as conn, pytest.raises(ResponseRefused,
                                                         match="unknown_question"):
        record_form(conn, answer_claims(), {"ces": 5, question: 3}, None, T1)
    with engine_for(url).connect() as conn:
        assert set(response_rows(conn).values()) == {0}


def test_the_comment_limit_comes_from_the_catalogue_and_counts_stripped_characters(
        url: str) -> None:
    limit = survey_catalogue().comment_max_chars
    assert limit == 2000
    with engine_for(url).begin() as conn:
        record_form(conn, answer_claims(), {"ces": 5}, "\n " + "я" * limit + " \n", T1)
    with engine_for(url).begin() as conn, pytest.raises(ResponseRefused,
                                                         match="comment_too_long"):
        record_form(conn, answer_claims(), {}, "я" * (limit + 1), T2)
    stored = _stored(url)
    assert stored["response"] == [("я" * limit, T1, T1, True)]


@pytest.mark.parametrize("claims", [
    answer_claims("inv:unknown:C1"),                   # no such invitation
    answer_claims(contact_id="C2"),                    # another contact's token
    answer_claims(survey_id="tx_otif_miss"),           # another survey
])
def test_foreign_tokens_are_refused_and_store_nothing(url: str, claims) -> None:
    with engine_for(url).begin() as conn:
        for attempt in (lambda: record_score(conn, claims, 4, T1),
                        lambda: record_form(conn, claims, {"ces": 5}, "hi", T1)):
            with pytest.raises(ResponseRefused, match="foreign"):
                attempt()
    with engine_for(url).connect() as conn:
        assert set(response_rows(conn).values()) == {0}
        assert conn.scalar(select(survey_invitations.c.answered_at)) is None


def test_an_unsubscribe_names_a_contact_the_crm_knows_and_needs_no_invitation(url: str) -> None:
    with engine_for(url).begin() as conn:
        with pytest.raises(ResponseRefused, match="foreign"):  # C2 is not in the CRM
            unsubscribe(conn, unsubscribe_claims(contact_id="C2"), "email_link", T1)
        # an acknowledgement's link: bound to no survey invitation, C1 is known
        assert unsubscribe(conn, unsubscribe_claims("ack:claim:K1"), "email_link", T1)
    with engine_for(url).connect() as conn:
        assert conn.execute(select(unsubscribes.c.contact_id, unsubscribes.c.channel)).all() == [
            ("C1", "email_link")]


def test_an_unsubscribe_is_kept_from_the_first_time_on(url: str) -> None:
    with engine_for(url).begin() as conn:
        assert unsubscribe(conn, unsubscribe_claims(), "email_link", CLICK) is True
    with engine_for(url).begin() as conn:
        assert unsubscribe(conn, unsubscribe_claims(), "list_unsubscribe", T3) is False
    with engine_for(url).connect() as conn:
        assert conn.execute(select(unsubscribes)).all() == [("C1", T1, "email_link")]
        assert response_rows(conn)["feedback"] == 0
