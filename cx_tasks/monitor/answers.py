"""Every scored survey answer known by a day: the past answers imported and the answers
given through CX Loop's own surveys, one frame, with the client's segment and manager; an
answer stored under a legacy question id carries the current one (the survey catalogue's
``legacy_questions``)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Connection, literal, select, union_all

from cx_tasks.surveys.catalogue import SurveyCatalogue
from cx_tasks.warehouse.schema import STAGING, past_answers, survey_answers, survey_responses
from cx_tasks.warehouse.times import midnight

UNKNOWN = "unknown"
"""The segment and account manager of a client the ERP does not know."""

ANSWER_COLUMNS = ("response", "client_id", "contact_id", "role", "survey_kind", "question",
                  "score", "comment", "answered_at", "segment", "account_manager")


def answers_known(conn: Connection, as_of: date, catalogue: SurveyCatalogue) -> pd.DataFrame:
    """Scored answers given before ``as_of`` (module doc), ``ANSWER_COLUMNS``; a past answer's
    response is its contact, moment and survey kind, a survey's its invitation. Clients the
    ERP does not know get segment and account manager ``unknown``."""
    end = midnight(as_of)
    past = select(
        (past_answers.c.contact_id + "|" + past_answers.c.survey_kind + "|"
         + past_answers.c.answered_at.cast(type_=survey_answers.c.question_id.type)
         ).label("response"),
        past_answers.c.client_id, past_answers.c.contact_id, past_answers.c.role,
        past_answers.c.survey_kind, past_answers.c.question, past_answers.c.score,
        past_answers.c.comment, past_answers.c.answered_at,
        literal(None).label("survey_id"),
    ).where(past_answers.c.answered_at < end)
    live = select(
        survey_answers.c.invitation_id.label("response"), survey_responses.c.client_id,
        survey_responses.c.contact_id, survey_responses.c.role,
        literal(None).label("survey_kind"), survey_answers.c.question_id.label("question"),
        survey_answers.c.score, survey_responses.c.comment, survey_answers.c.answered_at,
        survey_responses.c.survey_id,
    ).join(survey_responses, survey_responses.c.invitation_id == survey_answers.c.invitation_id
           ).where(survey_answers.c.answered_at < end)
    frame = pd.read_sql(union_all(past, live), conn)
    kinds = {s.id: s.kind for s in catalogue.surveys}
    frame["survey_kind"] = frame["survey_kind"].fillna(frame["survey_id"].map(kinds))
    frame["answered_at"] = pd.to_datetime(frame["answered_at"])
    clients = STAGING["erp_clients"]
    accounts = pd.read_sql(select(clients.c.client_id, clients.c.segment,
                                  clients.c.account_manager), conn)
    frame = frame.merge(accounts, on="client_id", how="left")
    frame[["segment", "account_manager"]] = frame[["segment", "account_manager"]].fillna(
        UNKNOWN)
    frame["question"] = frame["question"].map(catalogue.current_question)
    scored = frame["question"].isin([q for q, question in catalogue.questions.items()
                                     if question.scale is not None])
    return frame[scored][list(ANSWER_COLUMNS)].reset_index(drop=True)
