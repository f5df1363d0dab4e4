"""Calibration of the predicted satisfaction index: filled-in scores, errors, and recovery of
known weights from simulated answers."""

from __future__ import annotations

import numpy as np
import pytest

from cx_tasks.analyze.calibration import (
    Observations,
    best_round,
    calibrate,
    completed_scores,
    fit_weights,
    mean_absolute_error,
    r_squared,
    role_predictions,
)
from cx_tasks.analyze.factors import FactorLayout
from cx_tasks.analyze.model import CalibrationRules

LAYOUT = FactorLayout(("a", "b", "c", "d", "e"),
                      ("table_stakes", "table_stakes", "functional", "ease_of_doing_business",
                       "ease_of_doing_business"))
TRUE = np.array([0.30, 0.10, 0.25, 0.20, 0.15])
SEEDS = dict.fromkeys(LAYOUT.factors, 0.2)
TOLERANCE = 0.05
"""Each recovered weight must lie within this of the true one."""


def test_completed_scores_make_the_flat_sum_the_predicted_index() -> None:
    layout = FactorLayout(("a", "b", "c"), ("table_stakes", "table_stakes",
                                            "ease_of_doing_business"))
    weights = np.array([0.3, 0.1, 0.6])
    scores = np.array([[80.0, np.nan, 50.0], [np.nan, np.nan, 50.0]])
    completed = completed_scores(scores, weights, layout)
    # row 1: b takes its block's score (a alone: 80); index = 0.4*80 + 0.6*50 = 62 and
    # 0.3*80 + 0.1*80 + 0.6*50 = 62. Row 2: table stakes unscored -> a, b take the index 50.
    np.testing.assert_allclose(completed, [[80, 80, 50], [50, 50, 50]])
    np.testing.assert_allclose(completed @ weights, role_predictions(scores, weights, layout))
    np.testing.assert_allclose(completed @ weights, [62, 50])


def test_mae_and_r_squared() -> None:
    predicted, reported = np.array([50.0, 60.0, 70.0, np.nan]), np.array([55.0, 60.0, 80.0, 1.0])
    # |5| + 0 + |10| over 3 pairs = 5; mean reported 65: SS_tot 100 + 25 + 225 = 350,
    # SS_res 25 + 0 + 100 = 125 -> R^2 = 1 - 125/350
    assert mean_absolute_error(predicted, reported) == pytest.approx(5.0)
    assert r_squared(predicted, reported) == pytest.approx(1 - 125 / 350)
    assert r_squared(predicted[:1], reported[:1]) is None
    assert mean_absolute_error(np.array([np.nan]), np.array([1.0])) is None


def test_fit_weights_solves_noise_free_answers_exactly() -> None:
    rng = np.random.default_rng(1)
    scores = rng.uniform(0, 100, (50, 5))
    fitted = fit_weights(scores, scores @ TRUE, LAYOUT, TRUE, np.full(5, 0.2), 0.0)
    np.testing.assert_allclose(fitted, TRUE, atol=1e-4)
    assert fitted.min() >= 0 and fitted.sum() == pytest.approx(1.0)


def _answers(seed: int, missing: float, n: int = 400, noise: float = 4.0
             ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` client-roles: factor scores uniform in [20, 100], a share ``missing`` unscored, and
    reported satisfaction = the model's index under TRUE plus normal noise (sd ``noise``)."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(20, 100, (n, len(TRUE)))
    scores[rng.random(scores.shape) < missing] = np.nan
    return scores, role_predictions(scores, TRUE, LAYOUT) + rng.normal(0, noise, n)


def _weights(round_) -> np.ndarray:
    return np.array([round_.weights["operator"][f] for f in LAYOUT.factors])


def test_calibration_recovers_known_weights() -> None:
    scores, reported = _answers(seed=7, missing=0.0)
    rules = CalibrationRules(prior_strength=0.5)
    rounds = calibrate(Observations({"operator": scores}, {"operator": reported}, 400),
                       {"operator": SEEDS}, LAYOUT, rules)
    best = best_round(rounds)
    assert np.abs(_weights(best) - TRUE).max() < TOLERANCE
    # seeds (all 0.2) miss by several points; the fit leaves about the noise: with sd 4 the
    # mean absolute noise is 4 * sqrt(2/pi) = 3.19
    assert best.mae_after < rounds[0].mae_after and best.mae_after < 3.6
    assert best.r2_after > rounds[0].r2_after
    # complete scores: round 2 fills nothing in, so it cannot improve -> stops after it
    assert [r.round for r in rounds] == [0, 1, 2] and best.round == 1


def test_calibration_recovers_known_weights_with_missing_scores() -> None:
    scores, reported = _answers(seed=3, missing=0.3)
    rounds = calibrate(Observations({"operator": scores}, {"operator": reported}, 400),
                       {"operator": SEEDS}, LAYOUT, CalibrationRules(prior_strength=0.5))
    best = best_round(rounds)
    assert np.abs(_weights(best) - TRUE).max() < TOLERANCE
    assert best.mae_after < rounds[0].mae_after
    assert rounds[1].mae_before == rounds[0].mae_after  # each round starts from the last
    assert len(rounds) <= 4  # the seeds and at most three rounds


def test_roles_with_too_few_answers_keep_their_seeds() -> None:
    scores, reported = _answers(seed=5, missing=0.0, n=30)
    observations = Observations({"operator": scores, "economic_buyer": scores[:14]},
                                {"operator": reported, "economic_buyer": reported[:14]}, 30)
    seeds = {"operator": SEEDS, "economic_buyer": SEEDS}
    rounds = calibrate(observations, seeds, LAYOUT, CalibrationRules(min_answers=15))
    assert rounds[1].weights["economic_buyer"] == SEEDS
    assert rounds[1].weights["operator"] != SEEDS
    assert "kept seeds: economic_buyer (14 < 15 answers)" in rounds[1].note
    # no role with enough answers: only the seeds, and why
    few = Observations({"operator": scores[:14]}, {"operator": reported[:14]}, 14)
    only = calibrate(few, {"operator": SEEDS}, LAYOUT, CalibrationRules(min_answers=15))
    assert len(only) == 1 and only[0].weights == {"operator": SEEDS}
    assert "not calibrated: too few answers" in only[0].note
    assert best_round(only) is only[0]
