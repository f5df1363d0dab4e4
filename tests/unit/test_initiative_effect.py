"""The effect of an initiative by difference-in-differences, computed by hand on a tiny panel.

Periods of 10 days; the initiative starts on 2026-01-21; rules: match 10, before 10, after 10
days, one control per affected client. So the matching period is Jan 1-10, the before period
Jan 11-20, the after period Jan 21-30; a period Jan 16-25 holds the start and is neither.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cx_tasks.adjust.effect import (
    Effect,
    Initiative,
    corrections,
    difference_in_differences,
    initiative_effect,
    initiative_effects,
    matched_controls,
    windows,
)
from cx_tasks.adjust.rules import EffectRules, adjust_rules

START = date(2026, 1, 21)
RULES = EffectRules(
    controls_per_client=1,
    match_days=10,
    before_days=10,
    after_days=10,
    confidence=0.95,
    correct_after_days=90,
    metrics=(),
    lower_is_better=("packaging_rate",),
)
MATCH, BEFORE, AFTER = "2026-01-01", "2026-01-11", "2026-01-21"

# client: (segment, level in the matching period, before, after)
CLIENTS = {
    "A1": ("metals", 10.0, 10.0, 6.0),  # affected
    "A2": ("metals", 20.0, 20.0, 14.0),  # affected
    "C1": ("metals", 11.0, 11.0, 10.0),  # nearest to A1 (|11-10| = 1)
    "C2": ("metals", 19.0, 19.0, 19.0),  # nearest to A2 (|19-20| = 1)
    "C3": ("metals", 30.0, 30.0, 40.0),  # too far from both: not a control
    "D1": ("chemicals", 10.0, 10.0, 30.0),  # as near to A1 as can be, but another segment
}


def _panel() -> pd.DataFrame:
    rows = []
    for client, (segment, *values) in CLIENTS.items():
        for begins, value in zip((MATCH, BEFORE, AFTER), values, strict=True):
            rows.append((client, segment, begins, value))
    # a period holding the start: in neither window, however large
    rows.append(("A1", "metals", "2026-01-16", 1000.0))
    panel = pd.DataFrame(rows, columns=["client_id", "segment", "period_start", "y"])
    panel["period_start"] = pd.to_datetime(panel["period_start"])
    panel["period_end"] = panel["period_start"] + pd.Timedelta(days=10)
    return panel


INITIATIVE = Initiative("INI-1", "Ivanov I.I.", frozenset({"A1", "A2"}), START, "y")


def test_windows_split_matching_before_after_and_drop_the_period_holding_the_start():
    rows = windows(_panel(), START, RULES)
    assert sorted(rows["window"].value_counts().items()) == [(-1, 6), (0, 6), (1, 6)]
    assert 1000.0 not in rows["y"].tolist()


def test_controls_are_the_nearest_of_the_same_segment_with_replacement_and_ties_by_id():
    levels = pd.Series({"A1": 10.0, "A2": 20.0, "C1": 11.0, "C2": 19.0, "C3": 30.0, "D1": 10.0})
    segments = pd.Series({c: v[0] for c, v in CLIENTS.items()})
    pool = ["C1", "C2", "C3", "D1"]
    assert matched_controls(levels, segments, {"A1", "A2"}, pool, 1) == ["C1", "C2"]
    # two nearest each: A1 -> C1 (1), C2 (9); A2 -> C2 (1), C1 (9): both used twice
    assert matched_controls(levels, segments, {"A1", "A2"}, pool, 2) == ["C1", "C2", "C2", "C1"]
    # a tie (C1 and C9 both 1 away from A1): the lower id first
    tied = pd.concat([levels, pd.Series({"C9": 9.0})])
    seg = pd.concat([segments, pd.Series({"C9": "metals"})])
    assert matched_controls(tied, seg, {"A1"}, [*pool, "C9"], 1) == ["C1"]
    # an affected client without a level has no controls
    assert matched_controls(levels.drop("A2"), segments, {"A1", "A2"}, pool, 1) == ["C1"]


def test_difference_in_differences_by_hand():
    effect = initiative_effect(INITIATIVE, _panel(), "y", RULES, ["C1", "C2", "C3", "D1"])
    assert effect is not None
    # affected: before (10 + 20) / 2 = 15, after (6 + 14) / 2 = 10 -> -5
    # controls: before (11 + 19) / 2 = 15, after (10 + 19) / 2 = 14.5 -> -0.5
    # difference-in-differences: -5 - (-0.5) = -4.5
    assert effect.estimate == pytest.approx(-4.5)
    # residuals from the cell means: A1 -5 (before), -4 (after); A2 +5, +4; C1 -4, -4.5;
    # C2 +4, +4.5. The estimate weighs an affected row by +-1/2, a control row by -+1/2:
    # per cluster sum of weight * residual: A1 -2 + 2.5 = 0.5; A2 -0.5; C1 2.25 - 2 = 0.25;
    # C2 -0.25 -> sum of squares 0.625; small-sample factor G/(G-1) * (N-1)/(N-K) =
    # 4/3 * 7/4 = 7/3 -> variance 1.458333, standard error 1.207615; t(0.975, 3 df) =
    # 3.182446 -> half-width 1.207615 * 3.182446 = 3.84317
    assert effect.low == pytest.approx(-4.5 - 3.84317, abs=1e-4)
    assert effect.high == pytest.approx(-4.5 + 3.84317, abs=1e-4)
    assert (effect.n, effect.clusters, effect.affected, effect.controls) == (8, 4, 2, 2)
    assert effect.measurable and effect.improved(lower_is_better=True)
    assert not effect.improved(lower_is_better=False)


def test_a_control_matched_twice_counts_twice():
    rules = RULES.model_copy(update={"controls_per_client": 2})
    effect = initiative_effect(INITIATIVE, _panel(), "y", rules, ["C1", "C2", "C3", "D1"])
    assert effect is not None
    # controls C1, C2, C2, C1: before (11+19+19+11)/4 = 15, after (10+19+19+10)/4 = 14.5;
    # the same -4.5, now from 4 + 8 = 12 rows and still 4 accounts
    assert effect.estimate == pytest.approx(-4.5)
    assert (effect.n, effect.clusters, effect.controls) == (12, 4, 2)


def test_too_few_clusters_or_an_empty_cell_gives_no_estimate():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert difference_in_differences(
        y, np.array([1, 1, 0, 0]), np.array([0, 1, 0, 1]), np.array(["a", "a", "b", "b"]), 0.95
    ) is None  # 2 clusters
    assert difference_in_differences(
        y, np.array([1, 1, 0, 0]), np.array([0, 0, 0, 1]), np.array(["a", "b", "c", "d"]), 0.95
    ) is None  # no affected row after the start


def test_other_initiatives_clients_are_never_controls():
    # C1 and C2 belong to another initiative: A1 and A2 are left with C3 alone
    other = Initiative("INI-2", "Petrov P.P.", frozenset({"C1", "C2"}), START, "y")
    effects = initiative_effects([INITIATIVE, other], _panel(), RULES)
    mine = next(e for e in effects if e.initiative_id == "INI-1")
    # controls C3, C3: before 30, after 40 -> +10; affected -5 -> -5 - 10 = -15
    assert mine.estimate == pytest.approx(-15.0)
    assert mine.controls == 1


def _effect(low: float, high: float) -> Effect:
    return Effect("INI-1", "packaging_rate", (low + high) / 2, low, high, 10, 5, 2, 3)


@pytest.mark.parametrize(
    ("as_of", "effect", "flagged"),
    [
        (date(2026, 4, 20), _effect(0.01, 0.03), False),  # 89 days: not due yet
        (date(2026, 4, 21), _effect(-0.03, -0.01), False),  # 90 days, incidents fell: fine
        (date(2026, 4, 21), _effect(-0.03, 0.01), True),  # interval holds 0: no effect
        (date(2026, 4, 21), _effect(0.01, 0.03), True),  # incidents rose
        (date(2026, 4, 21), None, True),  # no estimate at all
    ],
)
def test_initiatives_without_a_measurable_improvement_are_flagged_with_their_owner(
    as_of, effect, flagged
):
    initiative = Initiative("INI-1", "Ivanov I.I.", frozenset({"A1"}), START, "packaging_rate")
    due = corrections([initiative], [effect] if effect else [], as_of, RULES)
    assert bool(due) == flagged
    if flagged:
        assert (due[0].owner, due[0].metric, due[0].days_running) == (
            "Ivanov I.I.", "packaging_rate", (as_of - START).days)


def test_the_packaged_rules_load():
    rules = adjust_rules().effects
    assert rules.confidence == 0.95 and "nps" in rules.metrics
