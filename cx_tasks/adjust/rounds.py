"""Model rounds over real periods: each round a model version fitted on the answers known by
its date and judged on the next period's answers, which it never saw; promoted only when it
predicts them better than the version in force.

Answers enter as one row per headline answer: ``respondent_id``, ``client_id``, ``segment``,
``role``, ``period_start`` (the first day of the answer's period), ``reported`` (0-100) and
one column per factor of the layout (0-100, NaN = not measured). A version is the existing
factor model (``analyze/model.py``) with weights calibrated as in ``analyze/calibration.py``:
a segment's candidate is the best calibration round on the answers before the judged period,
starting from the interview seeds.

Individual scales are aligned before answers are compared or combined (the source: each
client rates by its own scale). ``alignment: residual`` takes from every answer its
respondent's own bias, estimated from that respondent's earlier periods only: the mean of
(answer - predicted) over them, shrunk toward 0 as if ``shrinkage`` more answers of 0 had been
given (a respondent seen once is not moved by a whole residual); the prediction is the
version in force's. ``alignment: none`` compares raw answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from cx_tasks.analyze.calibration import (
    Observations,
    best_round,
    calibrate,
    mean_absolute_error,
    r_squared,
    role_predictions,
)
from cx_tasks.analyze.factors import FactorLayout
from cx_tasks.analyze.model import CalibrationRules, Weights, weight_vector
from cx_tasks.collect.contract import ROLES

SEEDS_VERSION = "seeds"
"""The version in force before any round: the interview seeds."""


@dataclass(frozen=True)
class Round:
    """One segment's round: the candidate fitted on answers before ``judged_from``, both it
    and the version in force judged on the answers of the period from ``judged_from``."""

    segment: str
    judged_from: date
    alignment: str
    answers_known: int
    answers_judged: int
    current_version: str
    candidate_version: str
    mae_current: float | None
    mae_candidate: float | None
    r2_current: float | None
    r2_candidate: float | None
    promoted: bool
    weights: Weights = field(repr=False)
    note: str


@dataclass(frozen=True)
class Rounds:
    """Every round in order, the versions in force after the last, and each judged answer with
    the in-force prediction (``current``), the candidate's, and the respondent's bias."""

    rounds: list[Round]
    in_force: dict[str, tuple[str, Weights]]
    judged: pd.DataFrame


def version_id(segment: str, judged_from: date) -> str:
    """A version's id: its segment and the day its answers end (``metals@2026-05-01``)."""
    return f"{segment}@{judged_from.isoformat()}"


def predict(answers: pd.DataFrame, weights: Weights, layout: FactorLayout) -> np.ndarray:
    """Each answer's predicted index under ``weights`` (its role's weights, ``model.py``)."""
    out = np.full(len(answers), np.nan)
    roles = answers["role"].to_numpy()
    scores = answers[list(layout.factors)].to_numpy(dtype=np.float64)
    for role in ROLES:
        rows = roles == role
        if rows.any():
            vector = weight_vector(weights[role], layout)
            out[rows] = role_predictions(scores[rows], vector, layout)
    return out


def respondent_bias(
    answers: pd.DataFrame, predicted: np.ndarray, alignment: str, shrinkage: float
) -> np.ndarray:
    """Per answer, its respondent's bias from their answers of earlier periods only:
    sum(reported - predicted) / (count + shrinkage) over them (0 without any, or with
    ``alignment`` none)."""
    if alignment == "none" or answers.empty:
        return np.zeros(len(answers))
    residual = answers["reported"].to_numpy(dtype=np.float64) - predicted
    cells = pd.DataFrame(
        {
            "respondent_id": answers["respondent_id"].to_numpy(),
            "period_start": answers["period_start"].to_numpy(),
            "residual": np.nan_to_num(residual),
            "count": (~np.isnan(residual)).astype(float),
        }
    )
    per = cells.groupby(["respondent_id", "period_start"], sort=True)[["residual", "count"]].sum()
    before = per.groupby(level="respondent_id").cumsum() - per
    keyed = before.reindex(pd.MultiIndex.from_frame(cells[["respondent_id", "period_start"]]))
    return keyed["residual"].to_numpy() / (keyed["count"].to_numpy() + shrinkage)


def _observations(answers: pd.DataFrame, target: np.ndarray, layout: FactorLayout
                  ) -> Observations:
    roles = answers["role"].to_numpy()
    scores = answers[list(layout.factors)].to_numpy(dtype=np.float64)
    return Observations(
        {r: scores[roles == r] for r in ROLES},
        {r: target[roles == r] for r in ROLES},
        int(answers["client_id"].nunique()),
    )


def run_rounds(
    answers: pd.DataFrame,
    seeds: Mapping[str, Weights],
    layout: FactorLayout,
    calibration: CalibrationRules,
    alignment: str,
    shrinkage: float,
    first_round_after: int,
) -> Rounds:
    """Rounds over the answers' periods, from the one after ``first_round_after`` known
    periods on, per segment of ``seeds`` (the seeds are the version in force at first) with
    answers in the judged period."""
    periods = sorted(pd.unique(answers["period_start"]))
    in_force = {s: (SEEDS_VERSION, w) for s, w in seeds.items()}
    rounds, judged = [], []
    for period in periods[first_round_after:]:
        for segment, seed in seeds.items():
            mine = answers[answers["segment"] == segment]
            upto = mine[mine["period_start"] <= period]
            if not (upto["period_start"] == period).any():
                continue
            name, current = in_force[segment]
            predicted = predict(upto, current, layout)
            bias = respondent_bias(upto, predicted, alignment, shrinkage)
            target = upto["reported"].to_numpy(dtype=np.float64) - bias
            known = (upto["period_start"] < period).to_numpy()
            fitted = calibrate(
                _observations(upto[known], target[known], layout), seed, layout, calibration
            )
            weights = best_round(fitted).weights
            now = upto[~known]
            candidate = predict(now, weights, layout)
            day = pd.Timestamp(period).date()
            result = Round(
                segment=segment,
                judged_from=day,
                alignment=alignment,
                answers_known=int(known.sum()),
                answers_judged=len(now),
                current_version=name,
                candidate_version=version_id(segment, day),
                mae_current=mean_absolute_error(predicted[~known], target[~known]),
                mae_candidate=mean_absolute_error(candidate, target[~known]),
                r2_current=r_squared(predicted[~known], target[~known]),
                r2_candidate=r_squared(candidate, target[~known]),
                promoted=False,
                weights=weights,
                note=fitted[-1].note,
            )
            promoted = (
                result.mae_candidate is not None
                and result.mae_current is not None
                and result.mae_candidate < result.mae_current
            )
            rounds.append(_decided(result, promoted))
            judged.append(
                now.assign(current=predicted[~known], candidate=candidate, bias=bias[~known])
            )
            if promoted:
                in_force[segment] = (result.candidate_version, weights)
    frame = pd.concat(judged, ignore_index=True) if judged else answers.iloc[:0]
    return Rounds(rounds, in_force, frame)


def _decided(result: Round, promoted: bool) -> Round:
    verdict = (
        "promoted: lower error on the next period"
        if promoted
        else "kept the version in force: the candidate was not better on the next period"
    )
    return replace(result, promoted=promoted, note=f"{verdict}; {result.note}")
