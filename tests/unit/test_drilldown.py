"""The drill-down's arithmetic, computed by hand: falls, which client role is explained,
factor contributions, the metric behind a factor, and the chain down to the owner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cx_tasks.analyze.drilldown import (
    Windows,
    chains,
    factor_contributions,
    falls_to_explain,
    metric_behind,
    predicted_falls,
    reported_falls,
)
from cx_tasks.analyze.factors import FactorLayout
from cx_tasks.analyze.model import TableStakesRules
from cx_tasks.feedback.rules import owners
from cx_tasks.metrics.catalogue import metric_catalogue


def _predictions(rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"client_id": c, "role": r, "segment": "metals", "predicted": p}
                         for c, r, p in rows])


def test_predicted_fall_is_baseline_minus_recent_for_roles_with_both() -> None:
    recent = _predictions([("K1", "operator", 60.0), ("K1", "account", 50.0),
                           ("K2", "operator", None), ("K3", "operator", 80.0)])
    baseline = _predictions([("K1", "operator", 72.5), ("K1", "account", 70.0),
                             ("K2", "operator", 70.0), ("K3", "operator", 75.0)])
    falls = predicted_falls(recent, baseline)
    # K1 operator: 72.5 - 60 = 12.5; K3: 75 - 80 = -5 (a rise); the account row and K2
    # (no recent index) are left out
    assert falls[["client_id", "fall"]].values.tolist() == [["K1", 12.5], ["K3", -5.0]]
    assert set(falls["basis"]) == {"predicted"}


def test_reported_fall_is_earlier_minus_recent() -> None:
    earlier = pd.DataFrame({"client_id": ["K1", "K2"], "role": ["technical_buyer"] * 2,
                            "reported": [80.0, 50.0], "answers": [2, 1]})
    recent = pd.DataFrame({"client_id": ["K1"], "role": ["technical_buyer"],
                           "reported": [55.0], "answers": [1]})
    falls = reported_falls(recent, earlier, {"K1": "chemicals"})
    assert falls.values.tolist() == [["K1", "chemicals", "technical_buyer", 25.0, "reported"]]


def test_each_client_is_explained_by_its_role_that_fell_most_over_the_threshold() -> None:
    falls = pd.DataFrame([
        ("K1", "metals", "operator", 12.0, "predicted"),
        ("K1", "metals", "technical_buyer", 15.0, "predicted"),
        ("K1", "metals", "technical_buyer", 15.0, "reported"),  # tie: predicted first
        ("K2", "metals", "operator", 10.0, "predicted"),  # at the threshold: not over it
        ("K3", "metals", "economic_buyer", 30.0, "reported"),
    ], columns=["client_id", "segment", "role", "fall", "basis"])
    explained = falls_to_explain(falls, threshold=10.0)
    assert explained[["client_id", "role", "fall", "basis"]].values.tolist() == [
        ["K3", "economic_buyer", 30.0, "reported"],
        ["K1", "technical_buyer", 15.0, "predicted"],
    ]


def test_contributions_weigh_each_factors_fall_and_add_up_to_the_index_fall() -> None:
    weights = np.array([0.5, 0.3, 0.2])
    baseline = np.array([90.0, 80.0, 70.0])
    recent = np.array([60.0, 80.0, np.nan])  # the third factor is not scored recently
    contributions = factor_contributions(recent, baseline, weights)
    # over the factors scored in both windows, sum(a) = 0.5 + 0.3 = 0.8:
    # 0.5 * (90 - 60) / 0.8 = 18.75; 0.3 * 0 / 0.8 = 0; the third: NaN
    assert contributions[:2].tolist() == [18.75, 0.0] and np.isnan(contributions[2])
    # the indexes over those factors: before (0.5*90 + 0.3*80) / 0.8 = 86.25, now
    # (0.5*60 + 0.3*80) / 0.8 = 67.5; the fall 18.75 is the sum of the contributions
    assert np.nansum(contributions) == pytest.approx(86.25 - 67.5)


def test_no_common_factor_means_no_contribution() -> None:
    contributions = factor_contributions(np.array([np.nan, 50.0]), np.array([70.0, np.nan]),
                                         np.array([0.5, 0.5]))
    assert np.isnan(contributions).all()


def test_the_metric_behind_a_factor_is_the_one_whose_score_fell_most() -> None:
    recent = {"otif_line": {"value": 0.6, "score": 20.0},
              "in_full": {"value": 0.9, "score": 80.0},
              "on_time": {"value": 0.7, "score": 40.0}}
    baseline = {"otif_line": {"value": 0.8, "score": 60.0},  # fell 40 points
                "in_full": {"value": 0.95, "score": 90.0},  # fell 10
                "on_time": {"value": 0.75, "score": 50.0}}  # fell 10
    metric, value, trend = metric_behind(recent, baseline)
    assert (metric, value) == ("otif_line", 0.6)
    assert trend == pytest.approx(0.6 - 0.8)
    assert metric_behind({}, baseline) == (None, None, None)
    # a metric scored only now counts as unchanged: its trend is unknown
    assert metric_behind({"in_full": {"value": 0.9, "score": 80.0}}, {}) == ("in_full", 0.9,
                                                                             None)


def test_the_chain_goes_from_the_fall_to_the_metric_its_process_and_owner() -> None:
    layout = FactorLayout(factors=("availability", "information_transparency", "expertise"),
                          factor_blocks=("ease_of_doing_business",) * 3)
    weights = {"metals": {"operator": {"availability": 0.6, "information_transparency": 0.3,
                                       "expertise": 0.1}}}

    def frame(otif: float, sla: float) -> pd.DataFrame:
        return pd.DataFrame([
            {"client_id": "K1", "role": "any", "factor": "availability",
             "score": otif * 100, "metrics": {"otif_line": {"value": otif, "score": otif * 100}}},
            {"client_id": "K1", "role": "any", "factor": "information_transparency",
             "score": sla * 100,
             "metrics": {"document_within_sla": {"value": sla, "score": sla * 100}}},
            {"client_id": "K1", "role": "any", "factor": "expertise", "score": 50.0,
             "metrics": {}},
        ])

    falls = pd.DataFrame([("K1", "metals", "operator", 21.0, "predicted")],
                         columns=["client_id", "segment", "role", "fall", "basis"])
    chain = chains(falls, Windows(frame(0.6, 0.8), frame(0.9, 0.9)), weights, layout,
                   metric_catalogue(), owners(), chain_length=3)
    # contributions: availability 0.6 * (90 - 60) / 1.0 = 18; transparency 0.3 * (90 - 80)
    # = 3; expertise 0.1 * 0 = 0 is no contribution to a fall and is not listed
    assert chain[["rank", "factor", "metric", "process_class", "owner"]].values.tolist() == [
        [1, "availability", "otif_line", "delivery_planning", "logistics"],
        [2, "information_transparency", "document_within_sla", "documents", "documents_desk"],
    ]
    assert chain["metric_trend"].tolist() == pytest.approx([0.6 - 0.9, 0.8 - 0.9])
    assert set(chain["satisfaction_drop"]) == {21.0}


def test_a_failed_table_stake_comes_first_in_the_chain() -> None:
    layout = FactorLayout(factors=("acceptable_price", "availability"),
                          factor_blocks=("table_stakes", "ease_of_doing_business"))
    weights = {"metals": {"operator": {"acceptable_price": 0.2, "availability": 0.8}}}

    def frame(otif: float) -> pd.DataFrame:
        return pd.DataFrame([
            {"client_id": "K1", "role": "any", "factor": "acceptable_price", "score": 25.0,
             "metrics": {"price_fairness_rating": {"value": 2.0, "score": 25.0}}},
            {"client_id": "K1", "role": "any", "factor": "availability", "score": otif * 100,
             "metrics": {"otif_line": {"value": otif, "score": otif * 100}}},
        ])

    falls = pd.DataFrame([("K1", "metals", "operator", 24.0, "predicted")],
                         columns=["client_id", "segment", "role", "fall", "basis"])
    chain = chains(falls, Windows(frame(0.6), frame(0.9)), weights, layout,
                   metric_catalogue(), owners(), chain_length=3,
                   table_stakes=TableStakesRules(floor=50, cap=50))
    # availability contributes 0.8 * (90 - 60) / 1.0 = 24 to the fall and the price nothing
    # (25 both times), but the price scores 25 < floor 50: a failed table stake comes first
    assert chain[["rank", "factor", "metric", "process_class", "owner"]].values.tolist() == [
        [1, "acceptable_price", "price_fairness_rating", "pricing", "pricing"],
        [2, "availability", "otif_line", "delivery_planning", "logistics"],
    ]
    assert chain["metric_trend"].tolist()[0] == pytest.approx(0.0)
