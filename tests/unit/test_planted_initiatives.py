"""The simulator's planted initiatives: the cut lands on the chosen clients from the start day,
placebos change nothing, and the answer key is the difference between the two worlds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cx_tasks.simulate.initiatives import (
    PlantedRules,
    PlantedSpec,
    _nps_points,
    planted_history,
    planted_rules,
    true_effect,
)

CUT = PlantedSpec(id="CUT", owner="o", region="south", share=1.0, start_day=180,
                  packaging_cut=0.6)
PLACEBO = PlantedSpec(id="PLACEBO", owner="o", region=None, share=0.3, start_day=180,
                      packaging_cut=0.0)


@pytest.fixture(scope="module")
def history():
    rules = planted_rules().model_copy(update={"initiatives": (CUT, PLACEBO)})
    return planted_history(clients=80, days=360, seed=5, planted=rules)


def test_the_initiatives_take_disjoint_clients_and_the_region_whole(history):
    cut, placebo = history.initiatives
    assert cut.clients and placebo.clients and not cut.clients & placebo.clients
    # 2026-11-01 - 360 days = 2025-11-06; + 180 days: Nov 24, Dec 31, Jan 31, Feb 28, Mar 31,
    # Apr 30 (175 days) + 5 -> 2026-05-05
    assert str(cut.start) == "2026-05-05"


def test_a_cut_lowers_packaging_only_for_its_clients_after_its_start(history):
    panel = history.panel
    cut, placebo = history.initiatives
    changed = panel[panel["packaging_rate_effect"].fillna(0) != 0]
    assert set(changed["client_id"]) <= cut.clients
    assert (changed["period_start"] >= pd.Timestamp(cut.start)).all()
    assert (changed["packaging_rate_effect"] < 0).all()
    # 60% of the incidents prevented: the rate as it was is about 0.4 of what it would have been
    after = panel[panel["client_id"].isin(cut.clients)
                  & (panel["period_start"] >= pd.Timestamp(cut.start))]
    was = after["packaging_rate"].sum()
    would = (after["packaging_rate"] - after["packaging_rate_effect"]).sum()
    assert 0.3 < was / would < 0.5
    assert true_effect(panel, placebo, "packaging_rate", 90) == 0.0
    assert true_effect(panel, placebo, "csi", 90) == 0.0
    assert true_effect(panel, cut, "csi", 90) > 0


def test_answers_carry_each_respondents_own_bias(history):
    answers = history.answers
    per_contact = answers.groupby("contact_id")["bias"].nunique()
    assert (per_contact == 1).all()
    assert answers["csi"].between(0, 100).all() and answers["nps_score"].between(0, 10).all()


def test_nps_points_by_hand():
    # 84.9 -> 8.49 -> 8 passive; 85 -> 9 promoter; 64.9 -> 6 detractor; 65 -> 7 passive
    score, points = _nps_points(np.array([84.9, 85.0, 64.9, 65.0, 120.0]))
    assert score.tolist() == [8, 9, 6, 7, 10]
    assert points.tolist() == [0, 100, -100, 0, 100]


def test_same_seed_same_history(history):
    rules = planted_rules().model_copy(update={"initiatives": (CUT, PLACEBO)})
    again = planted_history(clients=80, days=360, seed=5, planted=rules)
    pd.testing.assert_frame_equal(again.panel, history.panel)


def test_the_packaged_rules_plant_a_real_initiative_and_placebos():
    rules = planted_rules()
    assert isinstance(rules, PlantedRules)
    assert [s.packaging_cut > 0 for s in rules.initiatives] == [True, False, False]
