"""Calibration of the predicted satisfaction index against what surveys report.

Per segment and role the model is ``predicted = sum over factors of weight * score`` once
every missing score is filled in by the model itself (a factor without a score takes its
block's score, a block without a score the predicted index: exactly the values under which
the hierarchical index of ``model.py`` equals the flat sum). A round therefore fills in the
scores with the current weights, then finds the weights w >= 0, sum(w) = 1 that minimise

    sum over client-roles (completed scores . w - reported)^2
        + prior_strength * 100^2 * sum over factors (w - seed)^2

(non-negative least squares, ``scipy.optimize.nnls``, the sum-to-one condition as one
heavily weighted extra row; the prior rows pull each weight toward its interview seed and
decide the weights of factors a role never scored). Rounds repeat until the segment's mean
absolute error improves by less than the tolerance, at most ``rounds`` times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from cx_tasks.analyze.factors import FactorLayout
from cx_tasks.analyze.model import (
    CalibrationRules,
    Weights,
    block_scores,
    block_weights,
    predicted_index,
    weight_vector,
)

SUM_TO_ONE_WEIGHT = 1e4
"""Weight of the extra row enforcing sum(w) = 1 in the least squares (relative to a score of
100); the small remainder is divided away afterwards."""


@dataclass(frozen=True)
class Observations:
    """A segment's client-roles that reported satisfaction: per role, their factor scores
    (client-roles x factors, layout order, NaN = no score) and reported satisfaction."""

    scores: Mapping[str, np.ndarray]
    reported: Mapping[str, np.ndarray]
    clients: int
    """Distinct clients among them."""


@dataclass(frozen=True)
class CalibrationRound:
    """One model version of a segment: its weights and its error before and after the round
    (round 0: the interview seeds, nothing before)."""

    round: int
    weights: Weights
    clients: int
    answers: Mapping[str, int]
    mae_before: float | None
    mae_after: float | None
    r2_before: float | None
    r2_after: float | None
    note: str


def role_predictions(scores: np.ndarray, weights: np.ndarray, layout: FactorLayout
                     ) -> np.ndarray:
    """The predicted index of each client-role under one role's weights (``model.py``)."""
    return predicted_index(block_scores(scores, weights, layout), block_weights(weights, layout))


def completed_scores(scores: np.ndarray, weights: np.ndarray, layout: FactorLayout
                     ) -> np.ndarray:
    """Scores with each missing factor score replaced by its block's score under ``weights``,
    and each one of a block without a score by the predicted index (rows with no prediction
    stay NaN); then sum(weights * completed) equals the predicted index."""
    scores = np.atleast_2d(scores)
    blocks = block_scores(scores, weights, layout)
    index = predicted_index(blocks, block_weights(weights, layout))
    by_block = blocks[:, layout.membership.argmax(axis=1)]
    filled = np.where(np.isnan(scores), by_block, scores)
    return np.where(np.isnan(filled), index[:, None], filled)


def fit_weights(scores: np.ndarray, reported: np.ndarray, layout: FactorLayout,
                start: np.ndarray, seeds: np.ndarray, prior_strength: float) -> np.ndarray:
    """Calibrated weights = argmin |completed scores . w - reported|^2 + prior_strength * 100^2 *
    |w - seeds|^2 subject to w >= 0 and sum(w) = 1, the scores completed under ``start``."""
    completed = completed_scores(scores, start, layout)
    keep = ~np.isnan(completed).any(axis=1) & ~np.isnan(reported)
    n_factors = len(layout.factors)
    prior = np.sqrt(prior_strength) * 100.0
    design = np.vstack([completed[keep], prior * np.eye(n_factors),
                        SUM_TO_ONE_WEIGHT * np.ones((1, n_factors))])
    target = np.concatenate([reported[keep], prior * seeds, [SUM_TO_ONE_WEIGHT]])
    weights, _ = nnls(design, target, maxiter=50 * n_factors)
    return weights / weights.sum()


def mean_absolute_error(predicted: np.ndarray, reported: np.ndarray) -> float | None:
    """MAE = mean |predicted - reported| over the pairs where both exist (None when none)."""
    both = ~np.isnan(predicted) & ~np.isnan(reported)
    return float(np.abs(predicted[both] - reported[both]).mean()) if both.any() else None


def r_squared(predicted: np.ndarray, reported: np.ndarray) -> float | None:
    """R^2 = 1 - sum (reported - predicted)^2 / sum (reported - mean reported)^2 over the pairs
    where both exist (None with fewer than two pairs or no spread in reported)."""
    both = ~np.isnan(predicted) & ~np.isnan(reported)
    y, p = reported[both], predicted[both]
    spread = float(((y - y.mean()) ** 2).sum()) if both.sum() >= 2 else 0.0
    return 1.0 - float(((y - p) ** 2).sum()) / spread if spread > 0 else None


def _errors(observations: Observations, weights: Weights, layout: FactorLayout
            ) -> tuple[float | None, float | None]:
    """MAE and R^2 of ``weights`` over all the segment's client-roles pooled."""
    predicted, reported = [], []
    for role, scores in observations.scores.items():
        predicted.append(role_predictions(scores, weight_vector(weights[role], layout), layout))
        reported.append(observations.reported[role])
    p = np.concatenate(predicted) if predicted else np.array([])
    y = np.concatenate(reported) if reported else np.array([])
    return mean_absolute_error(p, y), r_squared(p, y)


def calibrate(observations: Observations, seeds: Weights, layout: FactorLayout,
              rules: CalibrationRules) -> list[CalibrationRound]:
    """The segment's model versions: round 0 the interview seeds, then up to ``rules.rounds``
    rounds of ``fit_weights`` for each role with at least ``min_answers`` client-roles (other
    roles keep their seeds), stopping after a round that lowers the pooled MAE by less than
    ``rules.tolerance``."""
    answers = {role: int((~np.isnan(y)).sum()) for role, y in observations.reported.items()}
    fitted = sorted(r for r, n in answers.items() if n >= rules.min_answers)
    kept = sorted(set(seeds) - set(fitted))
    kept_note = ", ".join(f"{r} ({answers.get(r, 0)} < {rules.min_answers} answers)"
                          for r in kept)
    mae, r2 = _errors(observations, seeds, layout)
    seed_note = "interview seeds"
    if not fitted:
        seed_note += f"; not calibrated: too few answers for every role: {kept_note}"
    rounds = [CalibrationRound(0, seeds, observations.clients, answers, None, mae, None, r2,
                               seed_note)]
    current = seeds
    for number in range(1, rules.rounds + 1 if fitted else 1):
        weights = dict(current)
        for role in fitted:
            vector = fit_weights(observations.scores[role], observations.reported[role], layout,
                                 weight_vector(current[role], layout),
                                 weight_vector(seeds[role], layout), rules.prior_strength)
            weights[role] = dict(zip(layout.factors, vector.tolist(), strict=True))
        after, r2_after = _errors(observations, weights, layout)
        note = f"fitted {', '.join(fitted)}" + (f"; kept seeds: {kept_note}" if kept else "")
        rounds.append(CalibrationRound(number, weights, observations.clients, answers, mae, after,
                                       r2, r2_after, note))
        if mae is None or after is None or mae - after < rules.tolerance:
            break
        current, mae, r2 = weights, after, r2_after
    return rounds


def best_round(rounds: list[CalibrationRound]) -> CalibrationRound:
    """The round whose weights predict reported satisfaction best (lowest MAE after; the
    earlier on a tie; the seeds when nothing could be compared)."""
    return min(rounds, key=lambda r: (np.inf if r.mae_after is None else r.mae_after, r.round))
