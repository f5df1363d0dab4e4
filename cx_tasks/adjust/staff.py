"""Staff KPIs linked to client satisfaction (level 3): per account manager, their clients' NPS
and CSI with intervals; per owner, the measured effect of their initiatives. One table a
manager can use for reward plans.

An interval here is for a mean over answers that come in clusters (the answers of one client
move together): the mean, its cluster-robust standard error
``sqrt(G / (G - 1) * sum over clients (sum of their deviations)^2) / n`` and Student's t with
G - 1 degrees of freedom (G clients, n answers). NPS is the mean of +100 per promoter, -100
per detractor and 0 per passive, so it takes the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cx_tasks.adjust.effect import Effect, Initiative


def clustered_mean(values: np.ndarray, clusters: np.ndarray, confidence: float
                   ) -> tuple[float, float, float]:
    """The mean of ``values`` and its interval with errors clustered by ``clusters`` (NaN
    bounds with fewer than 2 clusters)."""
    from scipy.stats import t

    mean = float(values.mean())
    groups = pd.Series(values - mean).groupby(clusters).sum().to_numpy()
    g = len(groups)
    if g < 2:
        return mean, float("nan"), float("nan")
    se = np.sqrt(g / (g - 1) * (groups**2).sum()) / len(values)
    half = float(t.ppf(0.5 + confidence / 2, g - 1) * se)
    return mean, mean - half, mean + half


def manager_kpis(answers: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per account manager and metric (``answers``: manager_id, client_id, metric, value;
    NPS as points +100/0/-100, CSI 0-100): the value, its interval, answers and clients."""
    rows = []
    for (manager, metric), group in answers.groupby(["manager_id", "metric"], sort=True):
        value, low, high = clustered_mean(group["value"].to_numpy(dtype=float),
                                          group["client_id"].to_numpy(), confidence)
        rows.append({"manager_id": manager, "metric": metric, "value": value, "low": low,
                     "high": high, "answers": len(group),
                     "clients": group["client_id"].nunique()})
    return pd.DataFrame(rows, columns=["manager_id", "metric", "value", "low", "high",
                                       "answers", "clients"])


def owner_effects(initiatives: Sequence[Initiative], effects: Sequence[Effect],
                  lower_is_better: Sequence[str]) -> pd.DataFrame:
    """Per owner: their initiatives, how many have an effect measured on their target metric,
    and how many of those improved it (the interval wholly on the better side)."""
    by_key = {(e.initiative_id, e.metric): e for e in effects}
    rows = []
    for initiative in initiatives:
        effect = by_key.get((initiative.id, initiative.target_metric))
        rows.append({"owner": initiative.owner, "initiative_id": initiative.id,
                     "measured": effect is not None,
                     "improved": effect is not None and effect.improved(
                         initiative.target_metric in lower_is_better)})
    frame = pd.DataFrame(rows, columns=["owner", "initiative_id", "measured", "improved"])
    return (frame.groupby("owner", sort=True)
            .agg(initiatives=("initiative_id", "size"), measured=("measured", "sum"),
                 improved=("improved", "sum")).reset_index())


def reward_table(kpis: pd.DataFrame, owners: pd.DataFrame) -> pd.DataFrame:
    """One row per person: NPS and CSI of their clients with intervals (as account manager)
    and their initiatives' measured results (as owner)."""
    wide = kpis.pivot(index="manager_id", columns="metric",
                      values=["value", "low", "high", "answers"])
    wide.columns = [f"{metric}_{what}" for what, metric in wide.columns]
    wide.index.name = "person"
    effects = owners.set_index("owner")
    effects.index.name = "person"
    return wide.join(effects, how="outer").reset_index()
