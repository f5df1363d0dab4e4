"""NPS, CSAT, CES and CSI with their intervals: every expected value computed by hand."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from cx_tasks.monitor.kpis import (
    csi_of_responses,
    inputs_fingerprint,
    kpi_figures,
    mean_interval,
    nps_interval,
    share_interval,
)
from cx_tasks.monitor.rules import KpiRules


def test_nps_adjusted_wald_interval() -> None:
    # n = 20, 10 promoters, 4 detractors: NPS = 100 * (10 - 4) / 20 = 30
    # n' = 23, p' = 10.75 / 23 = 0.467391, d' = 4.75 / 23 = 0.206522, p' - d' = 0.260870
    # Var = (0.673913 - 0.260870^2) / 23 = (0.673913 - 0.068053) / 23 = 0.026342, sd 0.162301
    # 0.260870 -+ 1.959964 * 0.162301 = -0.057235 .. 0.578974
    value, low, high, se = nps_interval(np.array([10]), np.array([4]), np.array([20]))
    assert value[0] == 30
    assert low[0] == pytest.approx(-5.7235, abs=1e-3)
    assert high[0] == pytest.approx(57.8974, abs=1e-3)
    assert se[0] == pytest.approx(16.2301, abs=1e-3)


def test_nps_interval_stays_within_its_scale_and_widens_with_the_design_effect() -> None:
    # all 12 promoters: p' = 12.75 / 15 = 0.85, d' = 0.75 / 15 = 0.05, diff 0.8
    # Var = (0.9 - 0.64) / 15 = 0.017333, sd 0.131656: 0.8 + 1.96 * 0.131656 = 1.058 -> 100
    _, low, high, _ = nps_interval(np.array([12]), np.array([0]), np.array([12]))
    assert high[0] == 100
    assert low[0] == pytest.approx(100 * (0.8 - 1.959964 * 0.131656), abs=1e-2)  # 54.20
    # design effect 2: sd * sqrt(2) = 0.186189: low = 0.8 - 1.959964 * 0.186189 = 0.435077
    _, low2, _, _ = nps_interval(np.array([12]), np.array([0]), np.array([12]), 2.0)
    assert low2[0] == pytest.approx(43.5077, abs=1e-2)


def test_csat_wilson_interval() -> None:
    # 15 of 20 satisfied: p = 0.75, z^2 / n = 3.841459 / 20 = 0.192073
    # centre (0.75 + 0.096036) / 1.192073 = 0.709719
    # half 1.959964 * sqrt(0.75 * 0.25 / 20 + 3.841459 / 1600) / 1.192073
    #      = 1.959964 * sqrt(0.009375 + 0.002401) / 1.192073 = 0.178424
    value, low, high, _ = share_interval(np.array([15]), np.array([20]))
    assert value[0] == 75
    assert low[0] == pytest.approx(53.1295, abs=1e-3)
    assert high[0] == pytest.approx(88.8143, abs=1e-3)


def test_ces_mean_t_interval() -> None:
    # scores 3 5 6 7 4: mean 5, sample variance (4 + 0 + 1 + 4 + 1) / 4 = 2.5,
    # variance of the mean 2.5 / 5 = 0.5, se 0.707107, t(4) = 2.776445: 5 -+ 1.963243
    value, low, high, _ = mean_interval(np.array([5.0]), np.array([0.5]), np.array([4]))
    assert (value[0], low[0], high[0]) == pytest.approx((5, 3.036757, 6.963243), abs=1e-5)


def test_csi_is_the_importance_weighted_mean_of_factor_ratings() -> None:
    importance = pd.DataFrame([("metals", "operator", "availability", 9.0),
                               ("metals", "operator", "reduced_effort", 7.0),
                               ("chemicals", "operator", "availability", 1.0),
                               ("chemicals", "operator", "reduced_effort", 3.0)],
                              columns=["segment", "role", "factor", "weight"])
    ratings = pd.DataFrame([("r1", "metals", "operator", "availability", 5),
                            ("r1", "metals", "operator", "reduced_effort", 1),
                            ("r2", "glass", "operator", "availability", 4),
                            ("r2", "glass", "operator", "reduced_effort", 2)],
                           columns=["response", "segment", "role", "factor", "score"])
    csi = csi_of_responses(ratings, importance).set_index("response")["y"]
    # r1: (9 * 100 + 7 * 0) / 16 = 56.25
    # r2: segment glass unknown -> mean weights availability 5, reduced_effort 5:
    #     (5 * 75 + 5 * 25) / 10 = 50
    assert csi.to_dict() == {"r1": 56.25, "r2": 50.0}


def _obs(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["kpi", "y", "client_id", "role", "answered_at"])
    return frame.assign(segment="metals", account_manager="Ivanova")


def _figure(figures: pd.DataFrame, **where) -> pd.Series:
    rows = figures
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_ces_of_several_respondents_is_clustered_by_account() -> None:
    moment = datetime(2026, 3, 10)
    obs = _obs([("ces", 6.0, "A", "operator", moment), ("ces", 6.0, "A", "technical_buyer",
                                                          moment)]
               + [("ces", y, "B", "operator", moment) for y in (4.0, 4.0, 4.0, 6.0)])
    figures = kpi_figures(obs, date(2026, 4, 1), KpiRules(min_n=2))
    overall = _figure(figures, kpi="ces", level="all", period="month")
    # mean 30 / 6 = 5; S_A - n_A * 5 = 12 - 10 = 2, S_B - n_B * 5 = 18 - 20 = -2
    # CR1 variance 2 / 1 * (4 + 4) / 36 = 0.444444, se 0.666667, t(G - 1 = 1) = 12.706205
    assert (overall["n"], overall["clusters"]) == (6, 2)
    assert overall["value"] == 5
    assert overall["low"] == pytest.approx(5 - 12.706205 * 0.666667, abs=1e-4)
    assert overall["high"] == pytest.approx(5 + 12.706205 * 0.666667, abs=1e-4)
    account = _figure(figures, kpi="ces", level="account", group_key="B", period="month")
    # within one account, iid: 4 4 4 6, mean 4.5, variance 3 / 3 = 1, se 0.5, t(3) = 3.182446
    assert (account["value"], account["low"], account["high"]) == pytest.approx(
        (4.5, 4.5 - 1.591223, 4.5 + 1.591223), abs=1e-5)
    pair = _figure(figures, kpi="ces", level="account_role", group_key="A|operator",
                   period="month")
    assert pair["n"] == 1 and np.isnan(pair["value"])  # below min n 2


def test_below_min_n_a_figure_has_no_value() -> None:
    moment = datetime(2026, 3, 10)
    obs = _obs([("nps", 1.0, f"K{i}", "operator", moment) for i in range(9)])
    figures = kpi_figures(obs, date(2026, 4, 1), KpiRules(min_n=10))
    nine = _figure(figures, kpi="nps", level="all", period="month")
    assert nine["n"] == 9
    assert np.isnan(nine["value"]) and np.isnan(nine["low"]) and np.isnan(nine["high"])


def test_a_change_is_marked_only_when_significant() -> None:
    rows = []
    for month, satisfied in ((1, 15), (2, 5), (3, 7)):
        rows += [("csat", float(i < satisfied), f"K{i}", "operator", datetime(2026, month, 5))
                 for i in range(20)]
    figures = kpi_figures(_obs(rows), date(2026, 4, 1), KpiRules())
    months = figures[(figures["kpi"] == "csat") & (figures["level"] == "all")
                     & (figures["period"] == "month")].set_index("period_start")
    # one answer per account: deff 1. Feb vs Jan: 25% vs 75%,
    # z = -50 / (100 * sqrt(0.25 * 0.75 / 20 * 2)) = -50 / 13.693 = -3.65 -> down
    # Mar vs Feb: 35% vs 25%: z = 10 / (100 * sqrt((0.35 * 0.65 + 0.25 * 0.75) / 20))
    #           = 10 / 14.405 = 0.69 -> not marked
    assert months.loc[date(2026, 2, 1), "change"] == "down"
    assert months.loc[date(2026, 3, 1), "change"] is None
    assert months.loc[date(2026, 1, 1), "change"] is None  # nothing before it


def test_quarter_and_trailing_window_periods() -> None:
    rows = [("csat", 1.0, f"K{i}", "operator", datetime(2026, 2, 1) + pd.Timedelta(days=i))
            for i in range(60)]  # 2026-02-01 .. 2026-04-01
    figures = kpi_figures(_obs(rows), date(2026, 4, 15), KpiRules())
    quarters = figures[(figures["kpi"] == "csat") & (figures["level"] == "all")
                       & (figures["period"] == "quarter")]
    # Q1: 2026-02-01 .. 2026-03-31 = 59 days; Q2: 2026-04-01 only
    assert quarters[["period_start", "period_end", "n"]].values.tolist() == [
        [date(2026, 1, 1), date(2026, 4, 1), 59], [date(2026, 4, 1), date(2026, 7, 1), 1]]
    t90 = _figure(figures, kpi="csat", level="all", period="t90")
    # [2026-01-15, 2026-04-15): all 60 answers; the window before holds none
    assert (t90["period_start"], t90["period_end"], t90["n"]) == (date(2026, 1, 15),
                                                                   date(2026, 4, 15), 60)


def test_the_inputs_fingerprint_follows_the_answers_not_their_order() -> None:
    answers = pd.DataFrame({"response": ["a", "b"], "score": [9, 3]})
    same = answers.iloc[::-1]
    changed = answers.assign(score=[9, 4])
    assert inputs_fingerprint(answers) == inputs_fingerprint(same)
    assert inputs_fingerprint(answers) != inputs_fingerprint(changed)
