"""Staff KPIs linked to client satisfaction (level 3): per account manager, their clients' NPS
and CSI with intervals; per owner, the measured effect of their initiatives. One table a
manager can use for reward plans. The staff layer itself (the managers' monthly panel the
staff predictions read) comes from the warehouse: the HR tables of the data contract
(``hr_staff``, ``hr_workload``) and the pulse survey's answers (``staff_pulse``).

An interval here is for a mean over answers that come in clusters (the answers of one client
move together): the mean, its cluster-robust standard error
``sqrt(G / (G - 1) * sum over clients (sum of their deviations)^2) / n`` and Student's t with
G - 1 degrees of freedom (G clients, n answers). NPS is the mean of +100 per promoter, -100
per detractor and 0 per passive, so it takes the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from cx_tasks.adjust.effect import Effect, Initiative
from cx_tasks.warehouse.frames import read_staging
from cx_tasks.warehouse.schema import staff_pulse_answers


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


STAFF_PANEL_COLUMNS = ["manager_id", "month", "clients", "orders", "load", "overtime", "pulse",
                       "tenure_months", "left"]


def month_number(day: date) -> int:
    """A calendar month as a number that counts months (``year * 12 + month - 1``)."""
    return day.year * 12 + day.month - 1


def staff_panel(conn: Connection, until: date) -> pd.DataFrame:
    """Per account manager and month before ``until``'s month, from the staged HR tables
    and the pulse answers: the managers panel ``risk.py`` reads (``STAFF_PANEL_COLUMNS``;
    month a ``month_number``): clients and orders of their portfolio, load = orders /
    ``capacity_orders``, overtime (hours a week), pulse (their pulse answer given that month,
    NaN without one), tenure_months (whole months since ``hired_on``'s month), left (their
    ``left_on`` lies in that month)."""
    staff = read_staging(conn, "hr_staff", ["staff_id", "position", "hired_on", "left_on",
                                            "capacity_orders"])
    staff = staff[staff["position"] == "account_manager"].set_index("staff_id")
    work = read_staging(conn, "hr_workload", ["staff_id", "month", "clients", "orders",
                                              "overtime_hours"])
    work = work[work["staff_id"].isin(staff.index)]
    month = pd.to_datetime(work["month"])
    work = work.assign(month=month.dt.year * 12 + month.dt.month - 1)
    work = work[work["month"] < month_number(until)]
    answers = pd.DataFrame(conn.execute(select(
        staff_pulse_answers.c.staff_id, staff_pulse_answers.c.score,
        staff_pulse_answers.c.answered_at)).all(), columns=["staff_id", "pulse", "answered_at"])
    answered = pd.to_datetime(answers["answered_at"])
    pulse = (answers.assign(month=answered.dt.year * 12 + answered.dt.month - 1)
             .groupby(["staff_id", "month"])["pulse"].mean())
    hired = pd.to_datetime(staff["hired_on"])
    left = pd.to_datetime(staff["left_on"])
    person = work["staff_id"]
    return pd.DataFrame({
        "manager_id": person,
        "month": work["month"].astype(int),
        "clients": work["clients"].astype(float),
        "orders": work["orders"].astype(float),
        "load": work["orders"].astype(float) / person.map(staff["capacity_orders"]).astype(float),
        "overtime": work["overtime_hours"].astype(float),
        "pulse": pulse.reindex(pd.MultiIndex.from_arrays([person, work["month"]])).to_numpy(),
        "tenure_months": (work["month"]
                          - person.map(hired.dt.year * 12 + hired.dt.month - 1)).astype(float),
        "left": (person.map(left.dt.year * 12 + left.dt.month - 1) == work["month"]),
    }).sort_values(["month", "manager_id"], kind="stable").reset_index(drop=True)[
        STAFF_PANEL_COLUMNS]
