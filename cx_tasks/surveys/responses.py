"""Survey responses: a clicked score, the follow-up form and an unsubscribe, stored from a
verified link token.

One invitation has at most one response: the first click creates it, every later click or
form submit updates the same row (``survey_responses``, one ``survey_answers`` row per
question) and the invitation's ``answered_at`` keeps the first answer's time. Each response
is mirrored in one feedback row, ``survey:<invitation_id>`` (source ``survey``, channel
``email_survey``, the scores as JSON, the comment as text), written in the caller's
transaction. A token whose invitation is not stored, or names another contact or survey,
is *foreign*; anything refused raises ``ResponseRefused`` before a row is written.

An unsubscribe link needs no invitation: every client e-mail carries one (an acknowledgement
of a claim answers no survey), and its signed contact is what it opts out. It is foreign
only when the CRM does not know that contact.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, func, select, update

from cx_tasks.surveys.catalogue import Survey, SurveyCatalogue, survey_catalogue
from cx_tasks.surveys.tokens import TokenClaims
from cx_tasks.warehouse.db import insert_if_absent, upsert
from cx_tasks.warehouse.schema import (
    STAGING,
    feedback,
    survey_answers,
    survey_invitations,
    survey_responses,
    unsubscribes,
)
from cx_tasks.warehouse.times import naive_utc

FEEDBACK_SOURCE = "survey"
FEEDBACK_CHANNEL = "email_survey"
UnsubscribeChannel = Literal["email_link", "list_unsubscribe"]
"""How a contact unsubscribed: the link's confirmation page, or their mail program's
one-click ``List-Unsubscribe`` (RFC 8058)."""

Refusal = Literal["foreign", "score", "unknown_question", "comment_too_long",
                  "comment_characters", "no_score", "encoding"]
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Characters a comment may not hold (every warehouse stores tabs and line breaks; PostgreSQL
refuses NUL): refused, never stripped, so what is stored is what the client wrote."""


class ResponseRefused(ValueError):
    """An answer that must not be stored; ``reason`` says why (shown to the client)."""

    def __init__(self, reason: Refusal):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Invitation:
    """The stored invitation a token belongs to: who was asked what, in which language."""

    invitation_id: str
    survey_id: str
    client_id: str
    contact_id: str
    role: str
    language: str | None


@dataclass(frozen=True)
class Response:
    """What an invitation's response holds now: scores by question id, and the comment."""

    scores: dict[str, int]
    comment: str | None
    submitted: bool
    first_answered_at: datetime


def feedback_id(invitation_id: str) -> str:
    """The feedback row that mirrors an invitation's response."""
    return f"survey:{invitation_id}"


def invitation_for(conn: Connection, claims: TokenClaims) -> Invitation:
    """The invitation a token was issued for; ``ResponseRefused("foreign")`` if the token
    names an invitation that is not stored, or another contact or survey than the stored one."""
    row = conn.execute(select(
        survey_invitations.c.invitation_id, survey_invitations.c.survey_id,
        survey_invitations.c.client_id, survey_invitations.c.contact_id,
        survey_invitations.c.role, survey_invitations.c.language,
    ).where(survey_invitations.c.invitation_id == claims.invitation_id)).first()
    if row is None or (row.contact_id, row.survey_id) != (claims.contact_id, claims.survey_id):
        raise ResponseRefused("foreign")
    return Invitation(**row._asdict())


def survey_of(invitation: Invitation, catalogue: SurveyCatalogue) -> Survey:
    """The catalogue's survey of an invitation (foreign if the catalogue no longer has it)."""
    survey = next((s for s in catalogue.surveys if s.id == invitation.survey_id), None)
    if survey is None:
        raise ResponseRefused("foreign")
    return survey


def scored_questions(survey: Survey, catalogue: SurveyCatalogue) -> list[str]:
    """The survey's questions answered with a score (every one but the comment), in order."""
    return [q for q in survey.questions if catalogue.questions[q].scale is not None]


def response_of(conn: Connection, invitation_id: str) -> Response | None:
    """The stored response of an invitation, or None before its first answer."""
    row = conn.execute(select(survey_responses.c.comment, survey_responses.c.submitted,
                              survey_responses.c.first_answered_at)
                       .where(survey_responses.c.invitation_id == invitation_id)).first()
    if row is None:
        return None
    scores = conn.execute(select(survey_answers.c.question_id, survey_answers.c.score)
                          .where(survey_answers.c.invitation_id == invitation_id))
    return Response(scores={q: s for q, s in scores}, comment=row.comment,
                    submitted=bool(row.submitted), first_answered_at=row.first_answered_at)


def record_score(conn: Connection, claims: TokenClaims, score: int, now: datetime, *,
                 catalogue: SurveyCatalogue | None = None) -> list[str]:
    """Store the score clicked in an e-mail for the token's question (a later click replaces
    it); return the feedback ids written."""
    catalogue = catalogue or survey_catalogue()
    invitation = invitation_for(conn, claims)
    if claims.question_id is None or not claims.accepts(score):
        raise ResponseRefused("score")
    scores = _checked_scores(survey_of(invitation, catalogue), catalogue,
                             {claims.question_id: score})
    return _store(conn, invitation, scores, now, {})


def record_form(conn: Connection, claims: TokenClaims, answers: dict[str, int],
                comment: str | None, now: datetime, *,
                catalogue: SurveyCatalogue | None = None) -> list[str]:
    """Store the follow-up form: scores by question id (questions left out keep their stored
    score) and the comment (None: the field was not sent, the stored comment stays; blank
    clears it); return the feedback ids written. An answer needs a score: a form with none
    on an invitation without a stored score is refused (``no_score``)."""
    catalogue = catalogue or survey_catalogue()
    invitation = invitation_for(conn, claims)
    scores = _checked_scores(survey_of(invitation, catalogue), catalogue, answers)
    changes: dict[str, object] = {"submitted": True}
    if comment is not None:
        changes["comment"] = _checked_comment(comment, catalogue)
    if not scores:
        earlier = response_of(conn, invitation.invitation_id)
        if earlier is None or not earlier.scores:
            raise ResponseRefused("no_score")
    return _store(conn, invitation, scores, now, changes)


def _checked_comment(comment: str, catalogue: SurveyCatalogue) -> str | None:
    """A comment as stored (blank: None); refused when too long or holding control
    characters (``CONTROL_CHARACTERS``)."""
    text = comment.strip() or None
    if text is not None and len(text) > catalogue.comment_max_chars:
        raise ResponseRefused("comment_too_long")
    if text is not None and CONTROL_CHARACTERS.search(text):
        raise ResponseRefused("comment_characters")
    return text


def contact_language(conn: Connection, claims: TokenClaims) -> str | None:
    """The CRM language of an unsubscribe token's contact; ``ResponseRefused("foreign")``
    when the CRM does not know the contact."""
    contacts = STAGING["crm_contacts"]
    row = conn.execute(select(contacts.c.language)
                       .where(contacts.c.contact_id == claims.contact_id)).first()
    if row is None:
        raise ResponseRefused("foreign")
    return row.language


def unsubscribe(conn: Connection, claims: TokenClaims, channel: UnsubscribeChannel,
                now: datetime) -> bool:
    """Opt the token's contact out of every e-mail for good; True if they were not already."""
    contact_language(conn, claims)
    row = {"contact_id": claims.contact_id, "unsubscribed_at": naive_utc(now),
           "channel": channel}
    return insert_if_absent(conn, unsubscribes, [row]) > 0


def _checked_scores(survey: Survey, catalogue: SurveyCatalogue,
                    answers: dict[str, int]) -> dict[str, int]:
    """``answers`` if every question is a scored question of ``survey`` and every score lies
    in its question's range; refused otherwise."""
    asked = set(scored_questions(survey, catalogue))
    if set(answers) - asked:
        raise ResponseRefused("unknown_question")
    for question, score in answers.items():
        low, high = catalogue.questions[question].scale or (0, -1)
        if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            raise ResponseRefused("score")
    return dict(answers)


def _store(conn: Connection, invitation: Invitation, scores: dict[str, int], now: datetime,
           changes: dict[str, object]) -> list[str]:
    """Create or update the invitation's response with ``scores`` and the response column
    ``changes`` (a form's comment and submitted flag); then mirror it in the feedback row."""
    moment = naive_utc(now)
    key = invitation.invitation_id
    insert_if_absent(conn, survey_responses, [{
        "invitation_id": key, "survey_id": invitation.survey_id,
        "client_id": invitation.client_id, "contact_id": invitation.contact_id,
        "role": invitation.role, "comment": None, "first_answered_at": moment,
        "updated_at": moment, "submitted": False}])
    conn.execute(update(survey_responses).where(survey_responses.c.invitation_id == key)
                 .values(updated_at=moment, **changes))
    upsert(conn, survey_answers, [{"invitation_id": key, "question_id": q, "score": s,
                                   "answered_at": moment} for q, s in scores.items()])
    conn.execute(update(survey_invitations)
                 .where(survey_invitations.c.invitation_id == key)
                 .values(answered_at=func.coalesce(survey_invitations.c.answered_at, moment)))
    stored = response_of(conn, key)
    assert stored is not None
    upsert(conn, feedback, [{
        "feedback_id": feedback_id(key), "source": FEEDBACK_SOURCE, "channel": FEEDBACK_CHANNEL,
        "client_id": invitation.client_id, "contact_id": invitation.contact_id,
        "role": invitation.role, "text": stored.comment,
        "scores": json.dumps(stored.scores, sort_keys=True), "ref_id": key,
        "occurred_at": stored.first_answered_at, "recorded_at": moment}])
    return [feedback_id(key)]
