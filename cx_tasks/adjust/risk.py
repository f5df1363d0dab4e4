"""Level 5 predictions: the risk that an account manager leaves or is overloaded next quarter,
and per account the probability of a satisfaction drop or a fall in orders in the next 90
days, each with its top reasons; backtested on a rolling origin without look-ahead.

The inputs are two monthly panels (months numbered 0, 1, ...):

- clients: client_id, month, manager_id, orders, revenue, incidents, claims, nps (the mean
  NPS points of the month's answers, NaN without one);
- managers: manager_id, month, clients, load, overtime (hours a week), pulse (the staff pulse
  survey 1-5, NaN when not answered), tenure_months, left (leaves at the month's end).

A sample at origin ``t`` sees months ``<= t`` only; its target looks at ``t+1 .. t+3``. The
model (a standardised logistic regression, or gradient-boosted trees where interactions
matter: ``rules/adjust.yaml`` ``risk``) has its probabilities calibrated with the sigmoid
method (``CalibratedClassifierCV``); a reason is how much a feature's own value raises the
sample's log-odds against the same sample with that feature at its usual (median) value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

HORIZON = 3
"""Months ahead a prediction covers (about 90 days)."""

FOLDS = 3
"""Cross-validation folds of the sigmoid calibration (each outcome needs this many samples)."""

CLIENT_FEATURES = (
    "orders_3m", "orders_trend", "orders_surge", "months_since_order", "incidents_3m",
    "incident_surge",
    "claims_3m",
    "nps_last", "nps_missing", "manager_changed_3m", "manager_overtime_3m",
    "manager_pulse_last", "manager_tenure_months",
)
WAREHOUSE_CLIENT_FEATURES = (
    *CLIENT_FEATURES, "otif_3m", "days_overdue_3m", "csi_last", "csi_missing", "cases_3m",
    "cases_open",
)
"""The client features of the product path (``warehouse_client_features``)."""
STAFF_FEATURES = (
    "load_3m", "overtime_3m", "overtime_trend", "pulse_last", "pulse_missing",
    "tenure_months", "clients", "clients_nps", "clients_claims",
)

STAFF_TARGETS = ("leaves", "overloaded")
"""What the staff predictions foresee for the next quarter (``staff_targets``)."""


def _window(panel: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    return panel[(panel["month"] >= first) & (panel["month"] <= last)]


def _last_known(panel: pd.DataFrame, key: str, column: str, origin: int) -> pd.Series:
    """Per key, the latest non-missing ``column`` in months <= origin."""
    seen = panel[(panel["month"] <= origin) & panel[column].notna()]
    return seen.sort_values("month").groupby(key)[column].last()


def manager_features(managers: pd.DataFrame, clients: pd.DataFrame, origin: int
                     ) -> pd.DataFrame:
    """Per manager in post at ``origin``: the staff features (``STAFF_FEATURES``)."""
    now = managers[managers["month"] == origin].set_index("manager_id")
    recent = _window(managers, origin - 2, origin).groupby("manager_id")
    before = _window(managers, origin - 5, origin - 3).groupby("manager_id")["overtime"].mean()
    pulse = _last_known(managers, "manager_id", "pulse", origin)
    theirs = _window(clients, origin - 5, origin)
    per_client = theirs.groupby("manager_id")
    out = pd.DataFrame(index=now.index)
    out["load_3m"] = recent["load"].mean()
    out["overtime_3m"] = recent["overtime"].mean()
    out["overtime_trend"] = out["overtime_3m"] - before.reindex(out.index).fillna(
        out["overtime_3m"])
    out["pulse_last"] = pulse.reindex(out.index)
    out["pulse_missing"] = out["pulse_last"].isna().astype(float)
    out["pulse_last"] = out["pulse_last"].fillna(3.0)
    out["tenure_months"] = now["tenure_months"]
    out["clients"] = now["clients"]
    out["clients_nps"] = per_client["nps"].mean().reindex(out.index).fillna(0.0)
    out["clients_claims"] = (per_client["claims"].sum()
                             / now["clients"].clip(lower=1)).reindex(out.index).fillna(0.0)
    return out


def staff_targets(managers: pd.DataFrame, origin: int, overloaded_hours: float
                  ) -> pd.DataFrame:
    """Per manager in post at ``origin``: leaves in the next quarter; overloaded in it (mean
    overtime above ``overloaded_hours``, over the months still in post)."""
    ahead = _window(managers, origin + 1, origin + HORIZON).groupby("manager_id")
    ids = managers.loc[managers["month"] == origin, "manager_id"]
    left_now = managers[(managers["month"] == origin)].set_index("manager_id")["left"]
    leaves = ahead["left"].any().reindex(ids).fillna(False).astype(bool) | left_now.reindex(
        ids).astype(bool)
    overtime = ahead["overtime"].mean().reindex(ids)
    return pd.DataFrame({"leaves": leaves.astype(int),
                         "overloaded": (overtime.fillna(0) > overloaded_hours).astype(int)},
                        index=ids)


def client_features(clients: pd.DataFrame, managers: pd.DataFrame, origin: int
                    ) -> pd.DataFrame:
    """Per client with an order in the six months to ``origin``: ``CLIENT_FEATURES``."""
    recent = _window(clients, origin - 2, origin).groupby("client_id")
    earlier = _window(clients, origin - 5, origin - 3).groupby("client_id")["orders"].sum()
    now = clients[clients["month"] == origin].set_index("client_id")
    then = clients[clients["month"] == origin - 3].set_index("client_id")["manager_id"]
    ordered = clients[(clients["month"] <= origin) & (clients["orders"] > 0)]
    last_order = ordered.groupby("client_id")["month"].max()
    out = pd.DataFrame(index=now.index)
    out["orders_3m"] = recent["orders"].sum()
    out["orders_trend"] = np.log((out["orders_3m"] + 1) / (earlier.reindex(out.index)
                                                           .fillna(0) + 1))
    out["months_since_order"] = (origin - last_order.reindex(out.index)).fillna(12).clip(
        upper=12)
    out["incidents_3m"] = recent["incidents"].sum()
    usual = _window(clients, origin - 12, origin - 1).groupby("client_id")[
        ["incidents", "orders"]].mean().reindex(out.index).fillna(0)
    out["incident_surge"] = np.log((now["incidents"] + 0.5) / (usual["incidents"] + 0.5))
    out["orders_surge"] = np.log((now["orders"] + 0.5) / (usual["orders"] + 0.5))
    out["claims_3m"] = recent["claims"].sum()
    nps = _last_known(clients, "client_id", "nps", origin).reindex(out.index)
    out["nps_last"] = nps.fillna(0.0)
    out["nps_missing"] = nps.isna().astype(float)
    out["manager_changed_3m"] = (now["manager_id"] != then.reindex(out.index)).astype(float)
    staff = manager_features(managers, clients, origin)
    manager = now["manager_id"]
    out["manager_overtime_3m"] = staff["overtime_3m"].reindex(manager).to_numpy()
    out["manager_pulse_last"] = staff["pulse_last"].reindex(manager).to_numpy()
    out["manager_tenure_months"] = staff["tenure_months"].reindex(manager).to_numpy()
    active = _window(clients, origin - 5, origin).groupby("client_id")["orders"].sum() > 0
    return out[active.reindex(out.index).fillna(False).to_numpy()]


def client_targets(clients: pd.DataFrame, origin: int, drop_points: float = 10.0,
                   fall_share: float = 0.5) -> pd.Series:
    """Per client: 1 when in the next 90 days its orders fall to ``fall_share`` or less of
    the last 90 days' (with at least 2 orders then), or its satisfaction ends ``drop_points``
    or more below its mean of the last 90 days (the simulator's truth column)."""
    before = _window(clients, origin - 2, origin).groupby("client_id")
    fall = orders_fall(clients, origin, fall_share)
    end = clients[clients["month"] == origin + HORIZON].set_index("client_id")["satisfaction"]
    drop = end.reindex(fall.index) <= before["satisfaction"].mean() - drop_points
    return (fall | drop).astype(int)


def orders_fall(clients: pd.DataFrame, origin: int, fall_share: float = 0.5) -> pd.Series:
    """Per client: its orders of the next 90 days are ``fall_share`` or less of the last 90
    days' (with at least 2 orders then)."""
    before = _window(clients, origin - 2, origin).groupby("client_id")["orders"].sum()
    after = _window(clients, origin + 1, origin + HORIZON).groupby("client_id")["orders"].sum()
    return (before >= 2) & (after.reindex(before.index) <= fall_share * before)


def reported_targets(clients: pd.DataFrame, origin: int, drop_points: float = 10.0,
                     fall_share: float = 0.5) -> pd.Series:
    """``client_targets`` on what the warehouse knows: the satisfaction is the reported CSI
    (``csi``), a drop its mean over the next 90 days ``drop_points`` or more below its mean
    over the last 90 days (a client without answers in either has no drop)."""
    fall = orders_fall(clients, origin, fall_share)
    before = _window(clients, origin - 2, origin).groupby("client_id")["csi"].mean()
    after = _window(clients, origin + 1, origin + HORIZON).groupby("client_id")["csi"].mean()
    drop = after.reindex(fall.index) <= before.reindex(fall.index) - drop_points
    return (fall | drop).astype(int)


def warehouse_client_features(clients: pd.DataFrame, managers: pd.DataFrame, origin: int
                              ) -> pd.DataFrame:
    """``client_features`` (the manager's signals 0 where the HR tables do not know the
    manager; pulse 3) and the warehouse's own (``WAREHOUSE_CLIENT_FEATURES``): OTIF and days
    overdue of the last 3 months (OTIF 1, overdue 0 without deliveries or invoices), the last
    reported CSI (0, and ``csi_missing`` 1, without one), cases opened in the last 3 months and
    open at ``origin``."""
    out = client_features(clients, managers, origin).fillna(
        {"manager_overtime_3m": 0.0, "manager_pulse_last": 3.0, "manager_tenure_months": 0.0})
    recent = _window(clients, origin - 2, origin).groupby("client_id")
    now = clients[clients["month"] == origin].set_index("client_id")
    out["otif_3m"] = recent["otif"].mean().reindex(out.index).fillna(1.0)
    out["days_overdue_3m"] = recent["days_overdue"].mean().reindex(out.index).fillna(0.0)
    csi = _last_known(clients, "client_id", "csi", origin).reindex(out.index)
    out["csi_last"] = csi.fillna(0.0)
    out["csi_missing"] = csi.isna().astype(float)
    out["cases_3m"] = recent["cases_opened"].sum().reindex(out.index).fillna(0.0)
    out["cases_open"] = now["cases_open"].reindex(out.index).fillna(0.0)
    return out


@dataclass(frozen=True)
class RiskModel:
    """A fitted, calibrated risk model, the features it reads and their training medians."""

    features: tuple[str, ...]
    model: Any
    medians: np.ndarray


def fit(samples: pd.DataFrame, features: Sequence[str], target: str,
        kind: Literal["logistic", "boosting"] = "logistic", seed: int = 0) -> RiskModel:
    """A classifier (standardised logistic regression, or gradient-boosted trees) whose
    probabilities are calibrated by the sigmoid method over ``FOLDS`` folds."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = samples[list(features)].to_numpy(dtype=float)
    y = samples[target].to_numpy(dtype=int)
    base = (make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000))
            if kind == "logistic" else
            HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                           min_samples_leaf=40, random_state=seed))
    model = CalibratedClassifierCV(base, method="sigmoid", cv=FOLDS).fit(x, y)
    return RiskModel(tuple(features), model, np.median(x, axis=0))


def _log_odds(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def predict(model: RiskModel, samples: pd.DataFrame, reasons: int = 3) -> pd.DataFrame:
    """Per sample: the calibrated probability and its top ``reasons``: the features whose own
    value raises its log-odds most against the same sample with that feature at the training
    median (``feature +change``; only features that raise it)."""
    x = samples[list(model.features)].to_numpy(dtype=float)
    probability = model.model.predict_proba(x)[:, 1]
    odds = _log_odds(probability)
    contribution = np.empty(x.shape)
    for j, median in enumerate(model.medians):
        typical = x.copy()
        typical[:, j] = median
        contribution[:, j] = odds - _log_odds(model.model.predict_proba(typical)[:, 1])
    order = np.argsort(-contribution, axis=1, kind="stable")[:, :reasons]
    names = np.array(model.features)
    text = [
        "; ".join(f"{names[j]} {contribution[i, j]:+.2f}" for j in row if contribution[i, j] > 0)
        for i, row in enumerate(order)
    ]
    return pd.DataFrame({"probability": probability, "reasons": text}, index=samples.index)


def backtest(samples: pd.DataFrame, features: Sequence[str], target: str,
             origins: Sequence[int], kind: Literal["logistic", "boosting"] = "logistic",
             train_after: int = 1) -> pd.DataFrame:
    """Rolling origin: for each origin, a model fitted on the samples whose targets were known
    by then (origin <= this origin - ``HORIZON``) predicts this origin's samples. Needs at
    least ``train_after`` earlier origins and ``FOLDS`` training samples of each outcome."""
    out = []
    for origin in origins:
        train = samples[samples["origin"] <= origin - HORIZON]
        test = samples[samples["origin"] == origin]
        counts = train[target].value_counts()
        if (train["origin"].nunique() < train_after or len(counts) < 2
                or counts.min() < FOLDS or test.empty):
            continue
        model = fit(train, features, target, kind)
        x = test[list(features)].to_numpy(dtype=float)
        out.append(test.assign(probability=model.model.predict_proba(x)[:, 1]))
    return pd.concat(out) if out else samples.iloc[:0].assign(probability=np.nan)


@dataclass(frozen=True)
class Scores:
    """How well probabilities ``p`` foresee outcomes ``y``."""

    n: int
    positives: int
    auc: float
    precision_top_decile: float
    base_rate: float
    brier: float
    reliability: pd.DataFrame


def scores(y: np.ndarray, p: np.ndarray, bins: int = 10) -> Scores:
    """AUC; precision in the top decile (the share of positives among the 10% highest
    probabilities); Brier score (mean squared error of the probability); reliability table:
    per decile of probability, the mean predicted against the observed rate."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    order = np.argsort(-p, kind="stable")
    top = order[: max(1, len(p) // 10)]
    decile = pd.qcut(pd.Series(p).rank(method="first"), bins, labels=False)
    table = (pd.DataFrame({"bin": decile.to_numpy(), "p": p, "y": y})
             .groupby("bin").agg(n=("y", "size"), predicted=("p", "mean"),
                                 observed=("y", "mean")).reset_index())
    return Scores(len(y), int(y.sum()), float(roc_auc_score(y, p)), float(y[top].mean()),
                  float(y.mean()), float(brier_score_loss(y, p)), table)


def portfolio_at_risk(staff: pd.DataFrame, clients: pd.DataFrame, origin: int,
                      months: int = 12) -> pd.DataFrame:
    """Per manager (``staff``: manager_id index, probability of leaving): the clients whose
    satisfaction depends on them at ``origin`` and the revenue those clients brought in the
    last ``months`` months; the revenue at risk = probability * revenue. Largest risk first."""
    portfolio = clients[clients["month"] == origin][["client_id", "manager_id"]]
    revenue = _window(clients, origin - months + 1, origin).groupby("client_id")["revenue"].sum()
    portfolio = portfolio.assign(revenue=revenue.reindex(portfolio["client_id"]).to_numpy())
    per = portfolio.groupby("manager_id").agg(clients=("client_id", "size"),
                                              revenue=("revenue", "sum"))
    out = staff[["probability"]].join(per, how="left").fillna({"clients": 0, "revenue": 0.0})
    out["revenue_at_risk"] = out["probability"] * out["revenue"]
    return out.sort_values("revenue_at_risk", ascending=False)
