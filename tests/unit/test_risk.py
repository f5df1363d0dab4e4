"""Level 5 predictions: features and targets by origin without look-ahead, the scores, the
reasons, the portfolio at risk, computed by hand on tiny panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cx_tasks.adjust import risk
from cx_tasks.adjust.risk import (
    backtest,
    client_targets,
    fit,
    manager_features,
    portfolio_at_risk,
    predict,
    scores,
    staff_targets,
)


def _managers() -> pd.DataFrame:
    # M1 months 0-5: load 1.0 .. 1.5, overtime 0, 1, 2, 3, 4, 5; pulse 4 in month 2, none after;
    # leaves at the end of month 4. M2: steady, never leaves, overtime 12 from month 3.
    rows = []
    for month in range(6):
        rows.append(("M1", month, 2, 1.0 + month / 10, float(month),
                     4.0 if month == 2 else np.nan, 10 + month, month == 4))
        rows.append(("M2", month, 1, 1.0, 12.0 if month >= 3 else 0.0, np.nan, 50, False))
    return pd.DataFrame(rows, columns=["manager_id", "month", "clients", "load", "overtime",
                                       "pulse", "tenure_months", "left"])


def _clients() -> pd.DataFrame:
    # C1 (manager M1): 4 orders a month until month 2, then 1; satisfaction 80 then 65 at 5.
    # C2 (M1): 1 order a month. C3 (M2): 3 a month; NPS -100 in month 1.
    rows = []
    for month in range(6):
        rows.append(("C1", month, "M1", 4 if month <= 2 else 1, 0, 1,
                     np.nan, 65.0 if month == 5 else 80.0))
        rows.append(("C2", month, "M1", 1, 0, 0, np.nan, 70.0))
        rows.append(("C3", month, "M2", 3, 1, 0, -100.0 if month == 1 else np.nan, 60.0))
    frame = pd.DataFrame(rows, columns=["client_id", "month", "manager_id", "orders",
                                        "incidents", "claims", "nps", "satisfaction"])
    return frame.assign(revenue=frame["orders"] * 1000.0)


def test_manager_features_see_only_months_up_to_the_origin():
    features = manager_features(_managers(), _clients(), origin=2)
    m1 = features.loc["M1"]
    # months 0-2: load (1.0 + 1.1 + 1.2) / 3 = 1.1, overtime (0 + 1 + 2) / 3 = 1; no months
    # -5..-1: the trend is 0; pulse 4 of month 2; tenure 12; 2 clients; C1 and C2 gave no NPS
    # (0); claims: C1's 3 over 2 clients = 1.5
    assert m1["load_3m"] == pytest.approx(1.1)
    assert (m1["overtime_3m"], m1["overtime_trend"], m1["pulse_last"], m1["pulse_missing"],
            m1["tenure_months"], m1["clients"], m1["clients_nps"], m1["clients_claims"]) == (
        pytest.approx(1.0), 0.0, 4.0, 0.0, 12, 2, 0.0, 1.5)
    # M2 never answered the pulse: filled with 3 and flagged; its clients' NPS -100
    assert (features.loc["M2", "pulse_last"], features.loc["M2", "pulse_missing"],
            features.loc["M2", "clients_nps"]) == (3.0, 1.0, -100.0)


def test_staff_targets_look_at_the_next_quarter():
    targets = staff_targets(_managers(), origin=2, overloaded_hours=10.0)
    # M1 leaves at the end of month 4 (within 3..5); mean overtime 3..5 = 4 <= 10.
    # M2: overtime 12 in 3..5 > 10: overloaded
    assert targets.loc["M1"].tolist() == [1, 0]
    assert targets.loc["M2"].tolist() == [0, 1]
    # from origin 5 on nothing is ahead: no departure, no overload
    assert staff_targets(_managers(), origin=5, overloaded_hours=10.0)["leaves"].sum() == 0


def test_client_targets_fall_in_orders_or_satisfaction_drop():
    targets = client_targets(_clients(), origin=2)
    # C1: orders 12 in months 0-2, 3 in 3-5: 3 <= 0.5 * 12 -> at risk (also 65 <= 80 - 10)
    # C2: 3 then 3: no fall, 70 steady -> not; C3: 9 and 9, 60 steady -> not
    assert targets.to_dict() == {"C1": 1, "C2": 0, "C3": 0}


def test_scores_by_hand():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    result = scores(y, p, bins=2)
    # pairs (positive, negative) ranked right: positive 0.9 beats all 8 negatives; 0.7 beats
    # 7 (not 0.8): 15 / 16
    assert result.auc == pytest.approx(15 / 16)
    # top decile: 1 of 10 -> the 0.9, a positive
    assert result.precision_top_decile == 1.0
    # Brier: (0.1^2 + 0.8^2 + 0.3^2 + 7 * 0.1^2) / 10 = (0.01 + 0.64 + 0.09 + 0.07) / 10
    assert result.brier == pytest.approx(0.081)
    # two bins of 5 by rank: the lower five (0.1 each, no positive), the upper five
    # (0.9, 0.8, 0.7, 0.1, 0.1: mean 0.52, 2 positives)
    table = result.reliability[["n", "predicted", "observed"]].to_numpy().ravel()
    assert table == pytest.approx([5, 0.1, 0.0, 5, 0.52, 0.4])


def test_the_backtest_trains_only_on_outcomes_known_by_the_origin(monkeypatch):
    seen: dict[int, int] = {}

    class Constant:
        def predict_proba(self, x):
            return np.tile([0.5, 0.5], (len(x), 1))

    def spy(train, features, target, kind):
        seen[len(seen)] = int(train["origin"].max())
        return risk.RiskModel(tuple(features), Constant(), np.zeros(len(features)))

    monkeypatch.setattr(risk, "fit", spy)
    samples = pd.DataFrame({"origin": np.repeat([2, 5, 8, 11], 6), "x": np.arange(24.0),
                            "y": [0, 1, 0, 1, 0, 1] * 4})
    out = backtest(samples, ["x"], "y", [2, 5, 8, 11])
    # origin 2: nothing known before; 5: origins <= 2; 8: <= 5; 11: <= 8
    assert list(seen.values()) == [2, 5, 8]
    assert sorted(out["origin"].unique()) == [5, 8, 11]


def test_a_calibrated_model_names_the_feature_that_drives_the_risk():
    rng = np.random.default_rng(3)
    driver, noise = rng.normal(size=600), rng.normal(size=600)
    y = (rng.random(600) < 1 / (1 + np.exp(-(3 * driver - 2)))).astype(int)
    samples = pd.DataFrame({"driver": driver, "noise": noise, "y": y})
    model = fit(samples, ["driver", "noise"], "y")
    high = pd.DataFrame({"driver": [2.5], "noise": [0.0]})
    low = pd.DataFrame({"driver": [-2.5], "noise": [0.0]})
    out_high, out_low = predict(model, high, reasons=1), predict(model, low, reasons=1)
    assert out_high["probability"].iloc[0] > 0.8 > 0.05 > out_low["probability"].iloc[0]
    assert out_high["reasons"].iloc[0].startswith("driver +")
    assert "driver" not in out_low["reasons"].iloc[0]  # a low driver lowers the risk


def test_portfolio_at_risk_by_hand():
    staff = pd.DataFrame({"probability": [0.5, 0.1]}, index=pd.Index(["M1", "M2"],
                                                                      name="manager_id"))
    out = portfolio_at_risk(staff, _clients(), origin=5, months=3)
    # M1: C1 (1+1+1 orders) + C2 (1+1+1) in months 3-5 -> 6000; at risk 0.5 * 6000 = 3000.
    # M2: C3 3 * 3 = 9 orders -> 9000; at risk 900
    assert out.loc["M1"].tolist() == [0.5, 2, 6000.0, 3000.0]
    assert out.loc["M2"].tolist() == [0.1, 1, 9000.0, 900.0]
    assert list(out.index) == ["M1", "M2"]
