"""What the model rounds and the effects read from the warehouse: each survey response's
reported satisfaction with its respondent, its period and the factor scores its client had
when it was given.

A response's reported satisfaction is the model's target (``model.yaml`` ``target``, DOMAIN.md):
its CSI, the importance-weighted mean of its relationship-survey factor ratings on 0-100
(``monitor.kpis.csi_of_responses``, the one definition), or with ``measure: question`` its
answer to the named overall-satisfaction question mapped by ``target.rating``. NPS and CSAT
answers are reported as themselves, never as satisfaction. A response's moment is its first
answer, its period the calendar month of that moment, its factor scores those of the latest
``factor_scores`` day on or before that day (the role's own score of a factor where it has one,
else the score every role shares). The answers are the past answers imported and CX Loop's
own (``monitor.answers.answers_known``, where answers under a legacy question id count as the
current question's, ``survey_catalogue.yaml`` ``legacy_questions``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from cx_tasks.analyze.factors import ANY_ROLE
from cx_tasks.analyze.model import SatisfactionRules
from cx_tasks.monitor.answers import UNKNOWN, answers_known
from cx_tasks.monitor.history import importance_rows
from cx_tasks.monitor.kpis import csi_of_responses
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.warehouse.schema import factor_scores

RESPONSE_KEYS = ["response", "respondent_id", "client_id", "segment", "role", "answered_at"]
ANSWER_COLUMNS = ["respondent_id", "client_id", "segment", "role", "period_start", "reported"]


def survey_answers_before(conn: Connection, until: date,
                          catalogue: SurveyCatalogue | None = None) -> pd.DataFrame:
    """Every scored survey answer given before ``until`` (midnight), the past answers imported
    and CX Loop's own (``monitor.answers.answers_known``): response, respondent_id (contact),
    client_id, segment (NaN: none), role, survey_kind, question_id (current id), score,
    answered_at (the response's first answer)."""
    frame = answers_known(conn, until, catalogue or survey_catalogue())
    answered = pd.to_datetime(frame["answered_at"]).astype("datetime64[us]")
    return pd.DataFrame({
        "response": frame["response"], "respondent_id": frame["contact_id"],
        "client_id": frame["client_id"], "role": frame["role"],
        "survey_kind": frame["survey_kind"], "question_id": frame["question"],
        "score": frame["score"].astype(float),
        "answered_at": answered.groupby(frame["response"]).transform("min"),
        "segment": frame["segment"].where(frame["segment"] != UNKNOWN)})


def response_csi(answers: pd.DataFrame, rules: SatisfactionRules) -> pd.DataFrame:
    """Per relationship-survey response with factor ratings: ``RESPONSE_KEYS`` and y, its CSI
    (``csi_of_responses`` with ``importance.yaml``'s weights)."""
    rated = answers[(answers["survey_kind"] == "relationship")
                    & (answers["question_id"].map(rules.question_kinds) == "factor")]
    rated = rated[[*RESPONSE_KEYS, "score"]].assign(
        factor=rated["question_id"].map(rules.question_factors))
    if rated.empty:
        return pd.DataFrame(columns=[*RESPONSE_KEYS, "y"])
    return csi_of_responses(rated, importance_rows(rules.importance))


def reported_responses(answers: pd.DataFrame, rules: SatisfactionRules) -> pd.DataFrame:
    """Per response with a reported satisfaction (module doc): ``RESPONSE_KEYS``, reported
    (0-100), day and period_start (the month)."""
    target = rules.model.target
    if target.measure == "question":
        rows = answers[answers["question_id"] == target.question]
        points = 100.0 * (rows["score"] - target.rating.zero) / (
            target.rating.full - target.rating.zero)
        reported = (rows.assign(reported=points)
                    .groupby(RESPONSE_KEYS, as_index=False, dropna=False)["reported"].mean())
    else:
        reported = response_csi(answers, rules).rename(columns={"y": "reported"})
    moment = pd.to_datetime(reported["answered_at"]).astype("datetime64[us]")
    return reported.assign(reported=reported["reported"].astype(float),
                           day=moment.dt.normalize(),
                           period_start=moment.dt.to_period("M").dt.start_time)


def round_answers(conn: Connection, until: date, rules: SatisfactionRules) -> pd.DataFrame:
    """The rounds' input: per response with a reported satisfaction and a segment,
    ``ANSWER_COLUMNS`` and one column per measured factor."""
    factors = list(rules.factors.layout().factors)
    answers = reported_responses(survey_answers_before(conn, until), rules).dropna(
        subset=["segment"]).reset_index(drop=True)
    stored = pd.DataFrame(
        conn.execute(select(factor_scores.c.client_id, factor_scores.c.role,
                            factor_scores.c.factor, factor_scores.c.as_of,
                            factor_scores.c.score)
                     .where(factor_scores.c.as_of < until)).all(),
        columns=["client_id", "role", "factor", "as_of", "score"])
    wide = (stored.pivot_table(index=["client_id", "role", "as_of"], columns="factor",
                               values="score", aggfunc="first")
            .reindex(columns=factors).reset_index())
    wide["as_of"] = pd.to_datetime(wide["as_of"]).astype("datetime64[us]")
    own = _latest(answers, wide, by=["client_id", "role"])
    shared = _latest(answers.assign(role=ANY_ROLE), wide, by=["client_id", "role"])
    scores = np.where(np.isnan(own), shared, own)
    return pd.concat([answers[ANSWER_COLUMNS].reset_index(drop=True),
                      pd.DataFrame(scores, columns=factors)], axis=1)


def _latest(answers: pd.DataFrame, wide: pd.DataFrame, by: list[str]) -> np.ndarray:
    """Per answer, the factor scores of the latest day on or before its own (NaN: none)."""
    factors = [c for c in wide.columns if c not in (*by, "as_of")]
    left = answers[[*by, "day"]].reset_index(drop=True).reset_index()
    if wide.empty or left.empty:
        return np.full((len(answers), len(factors)), np.nan)
    merged = pd.merge_asof(left.sort_values("day"), wide.sort_values("as_of"),
                           left_on="day", right_on="as_of", by=by, direction="backward")
    return merged.sort_values("index")[factors].to_numpy(dtype=np.float64)
