"""The deterioration test: deterioration is a regression, not a repeat.

A problem that was fine before and is now getting worse is the group ``deterioration``; a
cause that merely recurs is chronic, not worse: the item is flagged ``recurring`` and keeps
its group. An item the classifier is confident about moves to ``deterioration`` (its process
class kept) when one of two rules fires, checked in this order:

1. ``worsening``: the client says so (worsening cues in the text, such as "всё хуже",
   "used to be fine", or praise of the past before a complaint now, weigh ``min_score``);
2. ``rate_test``: the client's rate of the cause is significantly above its own baseline.
   With ``x_r`` items of the cause in the ``recent_days`` up to and including this one
   (exposure ``t_r``) and ``x_b`` in the ``baseline_days`` before them (exposure ``t_b``,
   cut at the start of the feedback history), under "no change" both are Poisson with
   one rate, so given ``n = x_r + x_b`` the recent count is ``Binomial(n, t_r / (t_r +
   t_b))``. The rule fires when the one-sided p-value ``P(X >= x_r)`` is below ``alpha``
   and ``x_r >= min_recent``.

Rule ``recurring`` flags the item (group kept) when the text says the problem happened
before (recurrence cues such as "снова", "once again", "every delivery" weigh
``min_score``) or the client raised the same cause at least ``min_previous`` times in the
``window_days`` before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import binomtest

DAY = pd.Timedelta(days=1)


class WorseningRule(BaseModel):
    """Rule ``worsening``: the text says the problem gets worse than it was."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="rule 1 on")
    min_score: float = Field(1.0, gt=0, description="worsening cues' weight that fires it")


class RecurringRule(BaseModel):
    """Flag ``recurring`` (the group is kept): the text says the problem happened before, or
    the client raised the same cause this often just before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="the recurring flag on")
    min_score: float = Field(1.0, gt=0, description="recurrence cues' weight that flags it")
    window_days: int = Field(30, ge=1, description="days before the item searched for the "
                             "client's earlier items of the cause")
    min_previous: int = Field(1, ge=1, description="earlier items of the cause in that window "
                              "that flag it")


class RateTest(BaseModel):
    """Rule ``rate_test``: the recent rate is significantly above the client's baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="rule 2 on")
    recent_days: int = Field(30, ge=1, description="the recent period up to the item")
    baseline_days: int = Field(150, ge=1, description="the baseline period before it")
    alpha: float = Field(0.01, gt=0, lt=1, description="fires when the one-sided p-value is "
                         "below this")
    min_recent: int = Field(4, ge=1, description="and at least this many recent items")


class DeteriorationRules(BaseModel):
    """The two rules of the deterioration test and the recurring flag
    (``rules/classifier.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    worsening: WorseningRule = Field(default_factory=WorseningRule)
    rate_test: RateTest = Field(default_factory=RateTest)
    recurring: RecurringRule = Field(default_factory=RecurringRule)


def rate_test_p(recent: int, baseline: int, recent_days: float, baseline_days: float) -> float:
    """One-sided p-value that the recent rate exceeds the baseline rate: ``P(X >= recent)``
    for ``X ~ Binomial(recent + baseline, recent_days / (recent_days + baseline_days))``."""
    share = recent_days / (recent_days + baseline_days)
    return float(binomtest(recent, recent + baseline, share, alternative="greater").pvalue)


@dataclass(frozen=True)
class Counts:
    """Per item, the client's items of the same cause: before it in the recurring window, in
    the recent window (itself included), in the baseline window; and the baseline's days."""

    previous: np.ndarray
    recent: np.ndarray
    baseline: np.ndarray
    baseline_days: np.ndarray


def cause_counts(items: pd.DataFrame, history: pd.DataFrame, rules: DeteriorationRules,
                 history_start: pd.Timestamp) -> Counts:
    """Counts of :class:`Counts` for each row of ``items`` (client_id, cause, occurred_at)
    among the rows of ``history`` (the same columns; the items themselves included)."""
    n = len(items)
    previous, recent, baseline = np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    window = rules.recurring.window_days * DAY
    r_days, b_days = rules.rate_test.recent_days * DAY, rules.rate_test.baseline_days * DAY
    times_by_problem = {key: np.sort(group["occurred_at"].to_numpy("datetime64[ns]"))
                        for key, group in history.dropna(subset=["cause"])
                        .groupby(["client_id", "cause"])}
    at = items["occurred_at"].to_numpy("datetime64[ns]")
    for i, key in enumerate(zip(items["client_id"], items["cause"], strict=True)):
        times = times_by_problem.get(key)
        if times is None:
            continue
        t = at[i]
        previous[i] = (np.searchsorted(times, t, "left")
                       - np.searchsorted(times, t - window.to_timedelta64(), "left"))
        cut = t - r_days.to_timedelta64()
        recent[i] = np.searchsorted(times, t, "right") - np.searchsorted(times, cut, "right")
        baseline[i] = (np.searchsorted(times, cut, "right")
                       - np.searchsorted(times, cut - b_days.to_timedelta64(), "right"))
    start = np.datetime64(history_start.to_datetime64(), "ns")
    observed = (at - r_days.to_timedelta64() - start) / np.timedelta64(1, "D")
    baseline_days = np.clip(observed, 0.0, float(rules.rate_test.baseline_days))
    return Counts(previous, recent, baseline, baseline_days)


def deterioration(items: pd.DataFrame, history: pd.DataFrame, rules: DeteriorationRules,
                  history_start: pd.Timestamp) -> pd.DataFrame:
    """Which rule (if any) moves each item to deterioration, whether it recurs, and why in
    words.

    ``items``: feedback_id, client_id, cause (None when unknown), occurred_at, worsening and
    recurrence (scores of the text's cues) and decided (False for an item going to review:
    no rule applies; absent means "decided when the cause is known"). ``history``:
    client_id, cause, occurred_at of every item to count (the items included). The rate
    test and the count of earlier items need the item's cause. Returns feedback_id, rule
    (``worsening``, ``rate_test`` or None), recurring (bool), detail.
    """
    counts = cause_counts(items, history, rules, history_start)
    rate, again = rules.rate_test, rules.recurring
    known = items["cause"].notna().to_numpy()
    decided = items["decided"].to_numpy(bool) if "decided" in items else known
    recurrence = (items["recurrence"].to_numpy(float) if "recurrence" in items
                  else np.zeros(len(items)))
    rule_names, recurring, details = [], [], []
    for i, row in enumerate(items[["cause", "worsening"]].itertuples(index=False)):
        fired, said = None, []
        if decided[i] and rules.worsening.enabled and row.worsening >= rules.worsening.min_score:
            fired = "worsening"
            said.append(f"the text says it is getting worse ({row.worsening:g})")
        elif (decided[i] and known[i] and rate.enabled and counts.recent[i] >= rate.min_recent
              and counts.baseline_days[i] > 0):
            p = rate_test_p(int(counts.recent[i]), int(counts.baseline[i]), rate.recent_days,
                            float(counts.baseline_days[i]))
            if p < rate.alpha:
                fired = "rate_test"
                said.append(f"{counts.recent[i]} {row.cause} items in {rate.recent_days} days "
                            f"vs {counts.baseline[i]} in the {counts.baseline_days[i]:.0f} "
                            f"days before: p = {p:.4f} < {rate.alpha:g}")
        again_text = again.enabled and decided[i] and recurrence[i] >= again.min_score
        again_count = (again.enabled and decided[i] and known[i]
                       and counts.previous[i] >= again.min_previous)
        if again_text:
            said.append(f"recurring: the text says it happened before ({recurrence[i]:g})")
        if again_count:
            said.append(f"recurring: {counts.previous[i]} earlier {row.cause} items of this "
                        f"client in {again.window_days} days")
        rule_names.append(fired)
        recurring.append(bool(again_text or again_count))
        details.append("; ".join(said) or None)
    return pd.DataFrame({"feedback_id": items["feedback_id"].to_numpy(), "rule": rule_names,
                         "recurring": recurring, "detail": details})
