"""What the model rounds read from the warehouse: each headline answer with its respondent,
its period and the factor scores its client had when it was given.

An answer's reported satisfaction is its headline score mapped to 0-100 by its kind's scale
(``adjust.yaml`` ``rounds.answer_scales``); its period the calendar month it was given in; its
factor scores those of the latest ``factor_scores`` day on or before the answer's day (the
role's own score of a factor where it has one, else the score every role shares).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from cx_tasks.adjust.rules import adjust_rules
from cx_tasks.analyze.factors import ANY_ROLE
from cx_tasks.analyze.model import SatisfactionRules, ScaleMap
from cx_tasks.analyze.satisfaction import read_segments
from cx_tasks.warehouse.schema import factor_scores, survey_answers, survey_responses
from cx_tasks.warehouse.times import midnight

ANSWER_COLUMNS = ["respondent_id", "client_id", "segment", "role", "period_start", "reported"]


def headline_answers(conn: Connection, until: date, rules: SatisfactionRules,
                     scales: Mapping[str, ScaleMap] | None = None) -> pd.DataFrame:
    """Every headline answer given before ``until`` (midnight): respondent (contact), client,
    role, day, period (its month) and reported satisfaction 0-100 (its kind's scale of
    ``scales``, by default ``adjust.yaml``'s)."""
    joined = survey_answers.join(
        survey_responses, survey_answers.c.invitation_id == survey_responses.c.invitation_id)
    rows = conn.execute(
        select(survey_responses.c.contact_id, survey_responses.c.client_id,
               survey_responses.c.role, survey_answers.c.question_id, survey_answers.c.score,
               survey_answers.c.answered_at)
        .select_from(joined).where(survey_answers.c.answered_at < midnight(until))).all()
    frame = pd.DataFrame(rows, columns=["respondent_id", "client_id", "role", "question_id",
                                        "score", "answered_at"])
    kind = frame["question_id"].map(rules.question_kinds)
    maps = scales if scales is not None else adjust_rules().rounds.answer_scales
    frame = frame[kind.isin(list(maps))].assign(kind=kind)
    zero = frame["kind"].map({k: m.zero for k, m in maps.items()}).astype(float)
    full = frame["kind"].map({k: m.full for k, m in maps.items()}).astype(float)
    answered = pd.to_datetime(frame["answered_at"]).astype("datetime64[us]")
    return frame.assign(
        reported=100.0 * (frame["score"].astype(float) - zero) / (full - zero),
        day=answered.dt.normalize(),
        period_start=answered.dt.to_period("M").dt.start_time,
        segment=frame["client_id"].map(read_segments(conn)),
    ).dropna(subset=["segment"])


def round_answers(conn: Connection, until: date, rules: SatisfactionRules) -> pd.DataFrame:
    """The rounds' input: ``ANSWER_COLUMNS`` and one column per measured factor."""
    factors = list(rules.factors.layout().factors)
    answers = headline_answers(conn, until, rules)
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
