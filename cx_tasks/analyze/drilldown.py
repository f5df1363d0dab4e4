"""Drill-down: from "satisfaction dropped" to the metric, the process and its owner.

A client is drilled into when its predicted satisfaction (from operations) or its reported
satisfaction (from surveys) fell by more than ``fall_threshold_points``:

- predicted fall of a role = index from the baseline window's metrics (365 days) - index
  from the recent window's metrics (30 days), both with the weights chosen for ``as_of``;
- reported fall of a role = reported satisfaction over ``[as_of - signal, as_of - recent)``
  - reported satisfaction over ``[as_of - recent, as_of)``.

For the client's role that fell most, each factor's contribution to the fall is
``a_f * (baseline score_f - recent score_f) / sum(a)`` over the factors scored in both
windows, where ``a_f`` is the factor's effective weight (block weight share x importance
share): the predicted index is ``sum(a_f * score_f) / sum(a_f)``, so the contributions
add up to the fall when both windows score the same factors. The largest contributions
form the chain: block -> factor -> the factor's metric whose score fell most (its value
now and its trend, recent - baseline) -> that metric's process class -> its owner.

Table stakes are not tradeable: a table-stakes factor that the role scores under its floor
now (``model.yaml`` ``table_stakes``) comes first in the chain, lowest score first, with its
weakest metric, whatever its contribution to the fall.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, delete, select

from cx_tasks.analyze.factors import FactorLayout
from cx_tasks.analyze.model import (
    ACCOUNT_ROLE,
    SatisfactionRules,
    TableStakesRules,
    Weights,
    factor_table,
    reported_satisfaction,
    role_scores,
    satisfaction_rules,
)
from cx_tasks.analyze.owners import owner_for
from cx_tasks.analyze.satisfaction import (
    model_inputs,
    predictions,
    read_answers,
    read_segments,
    stored_weights,
)
from cx_tasks.config import load_rules
from cx_tasks.feedback.rules import Owners
from cx_tasks.metrics.catalogue import MetricCatalogue
from cx_tasks.warehouse.db import frame_records, upsert
from cx_tasks.warehouse.schema import drilldown, predicted_index

FALL_COLUMNS = ["client_id", "segment", "role", "fall", "basis"]
CHAIN_COLUMNS = ["client_id", "rank", "role", "satisfaction_drop", "block", "factor", "metric",
                 "metric_value", "metric_trend", "process_class", "owner"]


class DrilldownRules(BaseModel):
    """When a client is drilled into and how long its chain is (``rules/drilldown.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recent_window_days: int = Field(30, ge=1)
    baseline_window_days: int = Field(365, ge=1)
    fall_threshold_points: float = Field(10.0, gt=0)
    chain_length: int = Field(3, ge=1)


def drilldown_rules(rules_dir: Path | None = None) -> DrilldownRules:
    """The drill-down rules: the user's ``drilldown.yaml`` if present, else the default."""
    return load_rules("drilldown", DrilldownRules, rules_dir)


def predicted_falls(recent: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Predicted fall of a client role = baseline index - recent index (points; negative is a
    rise). Inputs: prediction frames (client_id, role, segment, predicted); account rows and
    roles without both indexes are left out."""
    keys = ["client_id", "role", "segment"]
    both = recent[keys + ["predicted"]].merge(baseline[keys + ["predicted"]], on=keys,
                                              suffixes=("_recent", "_baseline"))
    both = both[(both["role"] != ACCOUNT_ROLE) & both["predicted_recent"].notna()
                & both["predicted_baseline"].notna()]
    return both.assign(fall=both["predicted_baseline"] - both["predicted_recent"],
                       basis="predicted")[FALL_COLUMNS]


def reported_falls(recent: pd.DataFrame, earlier: pd.DataFrame,
                   segments: Mapping[str, str]) -> pd.DataFrame:
    """Reported fall of a client role = reported satisfaction in the earlier period - in the
    recent one (``reported_scores`` frames); roles without both are left out."""
    both = earlier.merge(recent, on=["client_id", "role"], suffixes=("_earlier", "_recent"))
    return both.assign(segment=both["client_id"].map(segments),
                       fall=both["reported_earlier"] - both["reported_recent"],
                       basis="reported")[FALL_COLUMNS]


def falls_to_explain(falls: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per client, the role whose satisfaction fell most, when that fall exceeds ``threshold``
    (ties: predicted before reported, then role name); largest falls first."""
    over = falls[falls["fall"] > threshold]
    ordered = over.sort_values(["client_id", "fall", "basis", "role"],
                               ascending=[True, False, True, True], kind="stable")
    worst = ordered.drop_duplicates("client_id")
    return worst.sort_values(["fall", "client_id"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


def factor_contributions(recent: np.ndarray, baseline: np.ndarray,
                         weights: np.ndarray) -> np.ndarray:
    """Contribution of factor f to the fall = a_f * (baseline_f - recent_f) / sum(a) over the
    factors scored in both windows (NaN elsewhere); they sum to the predicted fall when both
    windows score the same factors."""
    both = ~np.isnan(recent) & ~np.isnan(baseline)
    total = float(weights[both].sum())
    if total <= 0:
        return np.full(recent.shape, np.nan)
    return np.where(both, weights * (baseline - recent) / total, np.nan)


def metric_behind(recent: Mapping[str, Mapping[str, float]],
                  baseline: Mapping[str, Mapping[str, float]]
                  ) -> tuple[str | None, float | None, float | None]:
    """The factor's metric whose 0-100 score fell most between the windows (a metric scored
    only now counts as unchanged): (metric, value now, trend = value now - baseline value)."""
    if not recent:
        return None, None, None

    def fall(metric: str) -> float:
        before = baseline.get(metric)
        return before["score"] - recent[metric]["score"] if before else 0.0

    metric = max(sorted(recent), key=fall)
    before = baseline.get(metric)
    value = recent[metric]["value"]
    return metric, value, (value - before["value"]) if before else None


def weakest_metric(recent: Mapping[str, Mapping[str, float]],
                   baseline: Mapping[str, Mapping[str, float]]
                   ) -> tuple[str | None, float | None, float | None]:
    """The factor's metric with the lowest 0-100 score now: (metric, value now, trend = value
    now - baseline value, None when the baseline lacks it)."""
    if not recent:
        return None, None, None
    metric = min(sorted(recent), key=lambda m: recent[m]["score"])
    before = baseline.get(metric)
    value = recent[metric]["value"]
    return metric, value, (value - before["value"]) if before else None


def chain_order(contributions: np.ndarray, failed: np.ndarray, recent: np.ndarray,
                chain_length: int) -> list[int]:
    """Factor positions of a chain: the failed table stakes (lowest score first), then the
    factors with a positive contribution to the fall, largest first; ``chain_length`` long."""
    stakes = sorted(np.flatnonzero(failed), key=lambda i: (recent[i], i))
    falling = [i for i in np.argsort(-np.nan_to_num(contributions, nan=-np.inf), kind="stable")
               if contributions[i] > 0 and not failed[i]]
    return [int(i) for i in [*stakes, *falling][:chain_length]]


@dataclass(frozen=True)
class Windows:
    """Factor scores of the recent and the baseline window (``factor_scores`` frames)."""

    recent: pd.DataFrame
    baseline: pd.DataFrame


def _metrics_of(frame: pd.DataFrame, client: str, role: str, factor: str
                ) -> dict[str, dict[str, float]]:
    """The metric entries behind a factor score: the role's own row, else the shared one."""
    rows = frame[(frame["client_id"] == client) & (frame["factor"] == factor)]
    for of_role in (role, "any"):
        match = rows[rows["role"] == of_role]
        if not match.empty:
            return dict(match.iloc[0]["metrics"])
    return {}


def chains(falls: pd.DataFrame, windows: Windows, weights: Mapping[str, Weights],
           layout: FactorLayout, catalogue: MetricCatalogue, owners: Owners,
           chain_length: int, table_stakes: TableStakesRules | None = None) -> pd.DataFrame:
    """For each fall to explain: the table stakes the role fails now, then its largest factor
    contributions (``chain_order``), each with block, factor, metric (value, trend), process
    class and owner; rank 1 first. Default table stakes: ``TableStakesRules()``."""
    stakes = table_stakes or TableStakesRules()
    recent_table = factor_table(windows.recent, layout)
    baseline_table = factor_table(windows.baseline, layout)
    blocks = dict(zip(layout.factors, layout.factor_blocks, strict=True))
    rows: list[dict[str, Any]] = []
    for fall in falls.itertuples(index=False):
        segment_weights = weights.get(fall.segment)
        if segment_weights is None:
            continue
        clients = pd.Index([fall.client_id])
        a = np.array([segment_weights[fall.role].get(f, 0.0) for f in layout.factors])
        recent = role_scores(recent_table, clients, fall.role)[0]
        contributions = factor_contributions(
            recent, role_scores(baseline_table, clients, fall.role)[0], a)
        failed = stakes.failed(recent, layout)[0]
        for rank, i in enumerate(chain_order(contributions, failed, recent, chain_length),
                                 start=1):
            factor = layout.factors[i]
            behind = weakest_metric if failed[i] else metric_behind
            metric, value, trend = behind(
                _metrics_of(windows.recent, fall.client_id, fall.role, factor),
                _metrics_of(windows.baseline, fall.client_id, fall.role, factor))
            process = catalogue.by_id(metric).process_class if metric else None
            owner = owner_for(metric, process, owners)
            rows.append({"client_id": fall.client_id, "rank": rank, "role": fall.role,
                         "satisfaction_drop": float(fall.fall), "block": blocks[factor],
                         "factor": factor, "metric": metric, "metric_value": value,
                         "metric_trend": trend, "process_class": process,
                         "owner": owner.owner if owner else None})
    return pd.DataFrame(rows, columns=CHAIN_COLUMNS)


def main_causes(conn: Connection, as_of: date) -> pd.DataFrame:
    """Per client drilled into on ``as_of``: its fall and the first link of its chain (the
    subject of its satisfaction-drop finding): client_id, segment, drop, process_class,
    factor, metric."""
    rows = conn.execute(select(drilldown.c.client_id, drilldown.c.satisfaction_drop,
                               drilldown.c.process_class, drilldown.c.factor,
                               drilldown.c.metric)
                        .where(drilldown.c.as_of == as_of, drilldown.c.rank == 1)
                        .order_by(drilldown.c.client_id)).all()
    frame = pd.DataFrame(rows, columns=["client_id", "drop", "process_class", "factor",
                                        "metric"])
    frame.insert(1, "segment", frame["client_id"].map(read_segments(conn)))
    return frame


@dataclass(frozen=True)
class DrilldownSummary:
    """What a drill-down run found."""

    as_of: str
    predicted_falls: int
    reported_falls: int
    clients_explained: int
    chain_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stored_recent(conn: Connection, as_of: date, segments: Mapping[str, str]) -> pd.DataFrame:
    """The stored predicted index of ``as_of`` (role rows), with each client's segment."""
    rows = conn.execute(select(predicted_index.c.client_id, predicted_index.c.role,
                               predicted_index.c.predicted)
                        .where(predicted_index.c.as_of == as_of,
                               predicted_index.c.role != ACCOUNT_ROLE)).all()
    frame = pd.DataFrame(rows, columns=["client_id", "role", "predicted"])
    return frame.assign(segment=frame["client_id"].map(segments))


def _reported_between(conn: Connection, start: date, end: date | datetime,
                      rules: SatisfactionRules, segments: Mapping[str, str]) -> pd.DataFrame:
    """Reported satisfaction (the model's target) per client role from the answers in
    ``[start, end)``."""
    return reported_satisfaction(read_answers(conn, start, end), segments, rules)


def drill_down(warehouse: Engine, as_of: date, catalogue: MetricCatalogue, owners: Owners,
               rules: DrilldownRules | None = None,
               model_rules: SatisfactionRules | None = None,
               answers_until: datetime | None = None) -> DrilldownSummary:
    """Explain every client whose satisfaction fell by more than the threshold and store its
    chain in ``drilldown`` for ``as_of`` (run ``score_and_predict`` over the recent window
    with the same ``answers_until`` first)."""
    rules = rules or drilldown_rules()
    model_rules = model_rules or satisfaction_rules()
    recent_days, signal = rules.recent_window_days, model_rules.model.signal_window_days
    layout = model_rules.factors.layout()
    with warehouse.begin() as conn:
        weights = stored_weights(conn, as_of)
        recent_scores = model_inputs(conn, as_of, recent_days, model_rules, answers_until)[0]
        base_scores, base_reported, segments = model_inputs(
            conn, as_of, rules.baseline_window_days, model_rules, answers_until)
        recent = _stored_recent(conn, as_of, segments)
        baseline = predictions(base_scores, base_reported, segments, weights, layout,
                               model_rules)
        split = as_of - timedelta(days=recent_days)
        reported = reported_falls(_reported_between(conn, split, answers_until or as_of,
                                                    model_rules, segments),
                                  _reported_between(conn, as_of - timedelta(days=signal),
                                                    split, model_rules, segments),
                                  segments)
        predicted = predicted_falls(recent, baseline)
        falls = falls_to_explain(pd.concat([predicted, reported], ignore_index=True),
                                 rules.fall_threshold_points)
        chain = chains(falls, Windows(recent_scores, base_scores), weights, layout, catalogue,
                       owners, rules.chain_length, model_rules.model.table_stakes)
        conn.execute(delete(drilldown).where(drilldown.c.as_of == as_of))
        upsert(conn, drilldown, frame_records(chain.assign(as_of=as_of)))
    return DrilldownSummary(
        as_of.isoformat(), int((predicted["fall"] > rules.fall_threshold_points).sum()),
        int((reported["fall"] > rules.fall_threshold_points).sum()), len(falls), len(chain))


def explanation(conn: Connection, client_id: str, as_of: date | None = None) -> pd.DataFrame:
    """The stored chain of a client (the latest drill-down unless ``as_of``), rank order."""
    day = as_of or conn.scalar(select(drilldown.c.as_of).where(drilldown.c.client_id == client_id)
                               .order_by(drilldown.c.as_of.desc()).limit(1))
    if day is None:
        return pd.DataFrame(columns=["as_of", *CHAIN_COLUMNS])
    rows = conn.execute(select(drilldown).where(drilldown.c.client_id == client_id,
                                                drilldown.c.as_of == day)
                        .order_by(drilldown.c.rank)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in drilldown.columns])

