"""Staff KPIs linked to satisfaction, by hand: a manager's NPS and CSI with intervals
clustered by client, an owner's initiatives and their measured effect."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cx_tasks.adjust.effect import Effect, Initiative
from cx_tasks.adjust.staff import clustered_mean, manager_kpis, owner_effects, reward_table


def test_clustered_mean_by_hand():
    # clients A (+100, +100), B (0), C (-100): mean 100/4 = 25; deviations A 75 + 75 = 150,
    # B -25, C -125; G/(G-1) * (150^2 + 25^2 + 125^2) = 1.5 * 38750 = 58125; sqrt = 241.091;
    # / n 4 = 60.273; t(0.975, 2 df) = 4.302653 -> half-width 259.33
    mean, low, high = clustered_mean(np.array([100.0, 100.0, 0.0, -100.0]),
                                     np.array(["A", "A", "B", "C"]), 0.95)
    assert mean == 25.0
    assert (low, high) == pytest.approx((25 - 259.33, 25 + 259.33), abs=0.01)
    # one client: no interval
    assert np.isnan(clustered_mean(np.array([1.0, 2.0]), np.array(["A", "A"]), 0.95)[1])


def test_manager_kpis_per_manager_and_metric():
    answers = pd.DataFrame({
        "manager_id": ["M1"] * 4 + ["M1", "M1"],
        "client_id": ["A", "A", "B", "C", "A", "B"],
        "metric": ["nps"] * 4 + ["csi", "csi"],
        "value": [100.0, 100.0, 0.0, -100.0, 80.0, 60.0],
    })
    kpis = manager_kpis(answers).set_index("metric")
    assert kpis.loc["nps", ["value", "answers", "clients"]].tolist() == [25.0, 4, 3]
    # CSI: mean 70; deviations +10, -10; 2 * (100 + 100) = 400 -> 20 / 2 = 10;
    # t(0.975, 1) = 12.7062 -> 70 +- 127.06
    assert kpis.loc["csi", ["low", "high"]].tolist() == pytest.approx([-57.06, 197.06], abs=0.01)


def test_owner_effects_count_measured_improvements_on_the_target_metric():
    start = date(2026, 1, 1)
    initiatives = [Initiative("I1", "Ivanov", frozenset({"A"}), start, "packaging_rate"),
                   Initiative("I2", "Ivanov", frozenset({"B"}), start, "nps"),
                   Initiative("I3", "Petrova", frozenset({"C"}), start, "nps")]
    effects = [Effect("I1", "packaging_rate", -0.02, -0.03, -0.01, 50, 10, 3, 7),  # improved
               Effect("I1", "nps", 5.0, 1.0, 9.0, 50, 10, 3, 7),  # not its target
               Effect("I2", "nps", 2.0, -3.0, 7.0, 50, 10, 3, 7)]  # holds 0
    owners = owner_effects(initiatives, effects, ["packaging_rate"]).set_index("owner")
    assert owners.loc["Ivanov"].tolist() == [2, 2, 1]
    assert owners.loc["Petrova"].tolist() == [1, 0, 0]
    kpis = manager_kpis(pd.DataFrame({"manager_id": ["Ivanov", "Ivanov"],
                                      "client_id": ["A", "B"], "metric": ["nps", "nps"],
                                      "value": [100.0, 0.0]}))
    table = reward_table(kpis, owners.reset_index()).set_index("person")
    assert table.loc["Ivanov", ["nps_value", "initiatives", "improved"]].tolist() == [50.0, 2, 1]
    assert np.isnan(table.loc["Petrova", "nps_value"])
