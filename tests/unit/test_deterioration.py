"""The deterioration test: worsening cues and the Poisson rate test move an item to
deterioration; a cause that merely recurs (the text says so, or the client raised it just
before) is flagged recurring and keeps its group."""

from __future__ import annotations

import pandas as pd
import pytest

from cx_tasks.analyze.deterioration import DeteriorationRules, deterioration, rate_test_p

DAY0 = pd.Timestamp("2026-01-01")


def at(days: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=days)


def rules(**changes) -> DeteriorationRules:
    base = {"worsening": {"min_score": 1.0},
            "recurring": {"min_score": 1.0, "window_days": 30, "min_previous": 3},
            "rate_test": {"recent_days": 30, "baseline_days": 150, "alpha": 0.01,
                          "min_recent": 3}}
    for rule, values in changes.items():
        base[rule] = {**base[rule], **values}
    return DeteriorationRules.model_validate(base)


def history(days: list[float], client: str = "K1", cause: str = "late_delivery") -> pd.DataFrame:
    return pd.DataFrame({"client_id": client, "cause": cause, "occurred_at": [at(d) for d in days]})


def item(day: float, cause: str | None = "late_delivery", worsening: float = 0.0,
         client: str = "K1", recurrence: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"feedback_id": ["F"], "client_id": [client], "cause": [cause],
                         "occurred_at": [at(day)], "worsening": [worsening],
                         "recurrence": [recurrence]})


def test_rate_test_p_value_computed_by_hand() -> None:
    # recent 6 in 30 days vs baseline 3 in 150 days: under "no change" X ~ Bin(9, 30/180 = 1/6)
    # P(X >= 6) = [C(9,6) 5^3 + C(9,7) 5^2 + C(9,8) 5 + C(9,9)] / 6^9
    #           = (84*125 + 36*25 + 9*5 + 1) / 10077696 = 11446 / 10077696 = 0.0011358
    assert rate_test_p(6, 3, 30, 150) == pytest.approx(11446 / 10077696, rel=1e-9)
    # recent 4 vs baseline 3: X ~ Bin(7, 1/6), P(X >= 4) = (35*125 + 21*25 + 7*5 + 1) / 6^7
    #                                                  = 4936 / 279936 = 0.01763
    assert rate_test_p(4, 3, 30, 150) == pytest.approx(4936 / 279936, rel=1e-9)


def test_rate_test_fires_below_alpha_only() -> None:
    no_repeat = rules(recurring={"enabled": False})
    baseline = [10, 60, 110]  # in (0, 150]: the 150 days before the recent window
    six = history(baseline + [155, 160, 165, 170, 175, 180])
    out = deterioration(item(180), six, no_repeat, DAY0)
    # 6 recent (days 155..180, the item included) vs 3: p = 0.0011 < 0.01
    assert out.loc[0, "rule"] == "rate_test"
    assert "6 late_delivery items in 30 days vs 3 in the 150 days before: p = 0.0011" in (
        out.loc[0, "detail"])
    four = history(baseline + [165, 170, 175, 180])
    # 4 recent vs 3: p = 0.0176 >= 0.01
    assert deterioration(item(180), four, no_repeat, DAY0).loc[0, "rule"] is None


def test_rate_test_baseline_is_cut_at_the_start_of_the_history() -> None:
    no_repeat = rules(recurring={"enabled": False})
    recent = history([160, 165, 170, 175, 180])
    # history from day 100: baseline exposure = 180 - 30 - 100 = 50 days with 0 items;
    # X ~ Bin(5, 30/80): P(X >= 5) = 0.375^5 = 0.00742 < 0.01
    out = deterioration(item(180), recent, no_repeat, at(100))
    assert out.loc[0, "rule"] == "rate_test"
    assert rate_test_p(5, 0, 30, 50) == pytest.approx(0.375 ** 5)
    # history from day 150 or later: no baseline to compare with, no test
    assert deterioration(item(180), recent, no_repeat, at(150)).loc[0, "rule"] is None


def test_a_cause_raised_again_is_recurring_and_keeps_its_group() -> None:
    no_rate = rules(rate_test={"enabled": False})
    # three earlier items in [day 70, day 100): 70 (exactly 30 days before), 80, 90
    out = deterioration(item(100), history([70, 80, 90, 100]), no_rate, DAY0)
    assert out.loc[0, "rule"] is None and bool(out.loc[0, "recurring"])
    assert "3 earlier late_delivery items of this client in 30 days" in out.loc[0, "detail"]
    # the first one a minute too early: two earlier items < min_previous 3
    early = 70 - 1 / (24 * 60)
    out = deterioration(item(100), history([early, 80, 90, 100]), no_rate, DAY0)
    assert (out.loc[0, "rule"], bool(out.loc[0, "recurring"])) == (None, False)
    # another client's or another cause's items do not count
    others = pd.concat([history([70, 80], client="K2"), history([90], cause="short_shipment")])
    assert not deterioration(item(100), others, no_rate, DAY0).loc[0, "recurring"]
    # the text saying it happened before ("снова", "once again": cues weighing 1) is enough
    said = deterioration(item(100, recurrence=1.0), history([100]), no_rate, DAY0)
    assert (said.loc[0, "rule"], bool(said.loc[0, "recurring"])) == (None, True)
    assert not deterioration(item(100, recurrence=0.5), history([100]), no_rate, DAY0).loc[
        0, "recurring"]


def test_worsening_cue_moves_the_item_and_unconfident_items_never_move() -> None:
    repeated = history([70, 80, 90, 100])
    worse = deterioration(item(100, worsening=1.0), repeated, rules(), DAY0)
    # getting worse and raised before: deterioration, and recurring too
    assert (worse.loc[0, "rule"], bool(worse.loc[0, "recurring"])) == ("worsening", True)
    # a repeat alone (worsening 0.5 < 1) is no regression: the group stays
    assert deterioration(item(100, worsening=0.5), repeated, rules(), DAY0).loc[
        0, "rule"] is None
    # without a "decided" column an item without a cause counts as undecided
    assert deterioration(item(100, cause=None, worsening=2.0), repeated, rules(), DAY0).loc[
        0, "rule"] is None
    # decided without a cause (a worsening text naming only its process): the cue moves it
    decided = item(100, cause=None, worsening=2.0).assign(decided=True)
    assert deterioration(decided, repeated, rules(), DAY0).loc[0, "rule"] == "worsening"
    undecided = item(100, worsening=2.0, recurrence=2.0).assign(decided=False)
    out = deterioration(undecided, repeated, rules(), DAY0)
    assert (out.loc[0, "rule"], bool(out.loc[0, "recurring"])) == (None, False)
    off = rules(worsening={"enabled": False}, recurring={"enabled": False},
                rate_test={"enabled": False})
    out = deterioration(item(100, worsening=2.0, recurrence=2.0), repeated, off, DAY0)
    assert (out.loc[0, "rule"], bool(out.loc[0, "recurring"])) == (None, False)
