"""The effect of each initiative: difference-in-differences of its affected clients against
comparable unaffected clients (same segment, matched on their level before the start).

An initiative enters as :class:`Initiative` (its affected clients, start, target metric and
owner); outcomes as a panel of per-client, per-period values, one row per client and period:

=============  ============================================================
column         meaning
=============  ============================================================
client_id      the account
segment        its segment (controls come from the same segment)
period_start   first day of the period (``datetime64``)
period_end     day after the period's last day
<metric>       one column per metric (``nps``, ``csi``, ``packaging_rate``...), NaN when
               the period has no value for the client
=============  ============================================================

For one metric: the *before* rows are the periods that end by the start and begin within
``before_days`` of it, the *after* rows the periods that begin on or after the start and
within ``after_days`` of it (a period holding the start is neither). Each affected client
gets the ``controls_per_client`` unaffected clients of its segment whose level in the
*matching* window (the ``match_days`` before the before window) is nearest, drawn with
replacement (a control matched twice counts twice). The level is taken from a window of its
own so that a control picked for a level that was partly chance does not drift back to its
usual level inside the estimate (regression to the mean would pass for an effect). The
estimate is the interaction of ordinary least squares
``y = a + b*affected + c*after + d*affected*after``, i.e.
``d = (after - before of the affected) - (after - before of the controls)``, with standard
errors clustered by account and Student's t with clusters - 1 degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from cx_tasks.adjust.rules import EffectRules


@dataclass(frozen=True)
class Initiative:
    """What the effect estimate needs to know of an initiative."""

    id: str
    owner: str
    clients: frozenset[str]
    start: date
    target_metric: str


@dataclass(frozen=True)
class Effect:
    """The measured effect of one initiative on one metric: difference-in-differences, its
    interval, the rows (client-periods) and clusters (accounts) behind it."""

    initiative_id: str
    metric: str
    estimate: float
    low: float
    high: float
    n: int
    clusters: int
    affected: int
    controls: int

    @property
    def measurable(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0

    def improved(self, lower_is_better: bool) -> bool:
        """The interval lies wholly on the side where the metric is better."""
        return self.high < 0 if lower_is_better else self.low > 0


@dataclass(frozen=True)
class Correction:
    """An initiative due for correction: no measurable improvement of its target metric."""

    initiative_id: str
    owner: str
    metric: str
    days_running: int
    reason: str


def windows(panel: pd.DataFrame, start: date, rules: EffectRules) -> pd.DataFrame:
    """The panel's rows by window: ``window`` -1 matching, 0 before, 1 after ``start``."""
    begin = pd.Timestamp(start)
    first = begin - pd.Timedelta(days=rules.before_days)
    matching = first - pd.Timedelta(days=rules.match_days)
    last = begin + pd.Timedelta(days=rules.after_days)
    starts, ends = panel["period_start"], panel["period_end"]
    window = np.select(
        [
            (starts >= matching) & (ends <= first),
            (starts >= first) & (ends <= begin),
            (starts >= begin) & (starts < last),
        ],
        [-1, 0, 1],
        default=-2,
    )
    return panel[window > -2].assign(window=window[window > -2])


def matched_controls(
    levels: pd.Series, segments: pd.Series, affected: Iterable[str], pool: Iterable[str], k: int
) -> list[str]:
    """Per affected client (with a level), the ``k`` clients of ``pool`` in its segment with
    the nearest level (ties: lower client id first); repeated when matched more than once."""
    known = levels.dropna().sort_index()
    segment = segments.reindex(known.index).to_numpy()
    is_affected = known.index.isin(set(affected))
    is_pool = known.index.isin(set(pool)) & ~is_affected
    chosen: list[str] = []
    for name in pd.unique(segment[is_affected]):
        treated = known[is_affected & (segment == name)].to_numpy()
        candidates = known[is_pool & (segment == name)]
        distance = np.abs(treated[:, None] - candidates.to_numpy()[None, :])
        nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]
        chosen.extend(candidates.index.to_numpy()[nearest].ravel().tolist())
    return chosen


def difference_in_differences(
    y: np.ndarray, affected: np.ndarray, after: np.ndarray, cluster: np.ndarray, confidence: float
) -> tuple[float, float, float] | None:
    """The interaction ``d`` of ``y ~ affected * after`` by OLS with errors clustered by
    ``cluster`` (t with clusters - 1 df) and its interval; None when a cell is empty or
    there are fewer than 3 clusters."""
    import statsmodels.api as sm

    cells = {(a, b) for a, b in zip(affected.tolist(), after.tolist(), strict=True)}
    groups = pd.factorize(cluster)[0]
    if len(cells) < 4 or groups.max() + 1 < 3:
        return None
    x = np.column_stack([np.ones(len(y)), affected, after, affected * after]).astype(float)
    fit = sm.OLS(y.astype(float), x).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True
    )
    low, high = fit.conf_int(alpha=1 - confidence)[3]
    return float(fit.params[3]), float(low), float(high)


def initiative_effect(
    initiative: Initiative,
    panel: pd.DataFrame,
    metric: str,
    rules: EffectRules,
    pool: Iterable[str],
) -> Effect | None:
    """The effect of ``initiative`` on ``metric``, controls drawn from ``pool``; None when the
    panel cannot give one (no affected or control rows on both sides of the start)."""
    rows = windows(panel, initiative.start, rules).dropna(subset=[metric])
    levels = rows[rows["window"] == -1].groupby("client_id")[metric].mean()
    segments = panel.drop_duplicates("client_id").set_index("client_id")["segment"]
    controls = matched_controls(
        levels, segments, initiative.clients, pool, rules.controls_per_client
    )
    rows = rows[rows["window"] >= 0]
    treated = rows[rows["client_id"].isin(initiative.clients & set(levels.index))]
    picked = pd.DataFrame({"client_id": controls})
    control_rows = picked.merge(rows, on="client_id", how="inner")
    stacked = pd.concat(
        [treated.assign(affected=1), control_rows.assign(affected=0)], ignore_index=True
    )
    fitted = difference_in_differences(
        stacked[metric].to_numpy(),
        stacked["affected"].to_numpy(),
        stacked["window"].to_numpy(),
        stacked["client_id"].to_numpy(),
        rules.confidence,
    )
    if fitted is None:
        return None
    estimate, low, high = fitted
    return Effect(
        initiative_id=initiative.id,
        metric=metric,
        estimate=estimate,
        low=low,
        high=high,
        n=len(stacked),
        clusters=int(stacked["client_id"].nunique()),
        affected=int(treated["client_id"].nunique()),
        controls=len(set(controls)),
    )


def initiative_effects(
    initiatives: Sequence[Initiative], panel: pd.DataFrame, rules: EffectRules
) -> list[Effect]:
    """Every initiative's effect on its target metric and on each of ``rules.metrics``.

    Controls are clients no listed initiative affects, so one initiative's effect never
    leaks into another's comparison group.
    """
    touched = set().union(*(i.clients for i in initiatives)) if initiatives else set()
    pool = sorted(set(panel["client_id"]) - touched)
    effects = []
    for initiative in initiatives:
        for metric in dict.fromkeys((initiative.target_metric, *rules.metrics)):
            if metric not in panel.columns:
                continue
            effect = initiative_effect(initiative, panel, metric, rules, pool)
            if effect is not None:
                effects.append(effect)
    return effects


def corrections(
    initiatives: Sequence[Initiative], effects: Sequence[Effect], as_of: date, rules: EffectRules
) -> list[Correction]:
    """Initiatives running ``correct_after_days`` or more by ``as_of`` whose target metric
    has no measurable improvement (or no estimate at all), each with its owner."""
    by_key = {(e.initiative_id, e.metric): e for e in effects}
    due = []
    for initiative in initiatives:
        days = (as_of - initiative.start).days
        if days < rules.correct_after_days:
            continue
        metric = initiative.target_metric
        effect = by_key.get((initiative.id, metric))
        if effect is None:
            reason = "no estimate: too few clients or periods on both sides of the start"
        elif effect.improved(rules.lower_better(metric)):
            continue
        else:
            reason = (
                f"{metric} changed by {effect.estimate:+.3g} "
                f"({rules.confidence:.0%} interval {effect.low:+.3g} to {effect.high:+.3g})"
            )
        due.append(Correction(initiative.id, initiative.owner, metric, days, reason))
    return due

