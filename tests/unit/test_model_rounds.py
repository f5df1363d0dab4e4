"""Model rounds over real periods: causal respondent biases and promotion, by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cx_tasks.adjust.rounds import SEEDS_VERSION, respondent_bias, run_rounds
from cx_tasks.analyze.factors import FactorLayout
from cx_tasks.analyze.model import CalibrationRules
from cx_tasks.collect.contract import ROLES

LAYOUT = FactorLayout(("delivery", "price"), ("ease_of_doing_business", "table_stakes"))
JAN, FEB, MAR = (pd.Timestamp(d) for d in ("2026-01-01", "2026-02-01", "2026-03-01"))


def test_a_respondents_bias_comes_from_their_earlier_periods_only():
    answers = pd.DataFrame({
        "respondent_id": ["R1", "R1", "R1", "R2", "R2", "R2"],
        "period_start": [JAN, FEB, MAR, JAN, JAN, FEB],
        "reported": [80.0, 75.0, 60.0, 64.0, 68.0, 50.0],
    })
    predicted = np.full(6, 70.0)
    # R1 residuals +10 (Jan), +5 (Feb), -10 (Mar); shrinkage 1:
    #   Jan 0 / (0 + 1) = 0; Feb 10 / (1 + 1) = 5; Mar (10 + 5) / (2 + 1) = 5
    # R2 two answers in Jan, -6 and -2: both Jan rows 0; Feb -8 / (2 + 1) = -2.6667
    bias = respondent_bias(answers, predicted, "residual", 1.0)
    assert bias == pytest.approx([0.0, 5.0, 5.0, 0.0, 0.0, -8 / 3])
    assert respondent_bias(answers, predicted, "none", 1.0).tolist() == [0.0] * 6


def _answers() -> pd.DataFrame:
    # reported = 0.8 * delivery + 0.2 * price exactly, for every role
    rows = []
    for period in (JAN, FEB, MAR):
        for k in range(12):
            delivery, price = 40.0 + 5 * k, 90.0 - 4 * k
            rows.append({"respondent_id": f"R{k}", "client_id": f"C{k}", "segment": "metals",
                         "role": ROLES[k % 3], "period_start": period,
                         "reported": 0.8 * delivery + 0.2 * price,
                         "delivery": delivery, "price": price})
    return pd.DataFrame(rows)


def test_a_version_fitted_on_the_past_is_promoted_when_it_predicts_the_next_period_better():
    equal = {r: {"delivery": 0.5, "price": 0.5} for r in ROLES}
    calibration = CalibrationRules(rounds=3, tolerance=0.0, min_answers=2, prior_strength=0.0)
    result = run_rounds(_answers(), {"metals": equal}, LAYOUT, calibration, "none", 1.0, 1)
    first, second = result.rounds
    # round judged on February: fitted on January's 12 answers, the true 0.8 / 0.2 is found;
    # the seeds' error on the answer for k: |0.5 d + 0.5 p - (0.8 d + 0.2 p)| =
    # 0.3 |p - d| = 0.3 |50 - 9k| -> mean over k = 0..11 of 0.3 * |50 - 9k|
    seeds_mae = np.mean([0.3 * abs(50 - 9 * k) for k in range(12)])
    assert first.judged_from == date(2026, 2, 1) and first.answers_known == 12
    assert first.current_version == SEEDS_VERSION
    assert first.mae_current == pytest.approx(seeds_mae)
    assert first.mae_candidate == pytest.approx(0.0, abs=1e-3)
    assert first.promoted
    weights = first.weights["operator"]
    assert (weights["delivery"], weights["price"]) == pytest.approx((0.8, 0.2), abs=1e-3)
    # the round judged on March starts from the version promoted in February
    assert second.current_version == "metals@2026-02-01"
    assert second.answers_known == 24
    assert len(result.judged) == 24


def test_a_candidate_worse_on_the_next_period_is_not_promoted():
    # January answers follow 0.8 / 0.2, February's 0.2 / 0.8: the candidate fitted on January
    # misses February by 0.6 |p - d| per answer, the seeds by 0.3 |p - d|: seeds stay
    answers = _answers()
    feb = answers["period_start"] == FEB
    answers.loc[feb, "reported"] = 0.2 * answers["delivery"][feb] + 0.8 * answers["price"][feb]
    equal = {r: {"delivery": 0.5, "price": 0.5} for r in ROLES}
    calibration = CalibrationRules(rounds=3, tolerance=0.0, min_answers=2, prior_strength=0.0)
    result = run_rounds(answers[answers["period_start"] < MAR], {"metals": equal}, LAYOUT,
                        calibration, "none", 1.0, 1)
    (only,) = result.rounds
    assert only.mae_candidate == pytest.approx(2 * only.mae_current, rel=1e-3)
    assert not only.promoted
    assert result.in_force["metals"][0] == SEEDS_VERSION
    assert only.note.startswith("kept the version in force")
