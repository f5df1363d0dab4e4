"""Findings: what the analysis found and who acts on it by when.

Three kinds, each keyed by its subject (not the day), so a finding that persists stays one
row whose ``found_on`` is the day it was first found:

- ``complaint_cluster`` (``cluster:<segment>:<process class>``): a process class in the
  vital few of a segment's complaints in the trailing cluster window, with at least
  ``min_complaints`` complaints;
- ``metric_threshold`` (``metric:<client>:<metric>:<N>d``): a client's metric over N days
  worse than its threshold (below it when higher is better, above it otherwise);
- ``satisfaction_drop`` (``drop:<client>``): a client whose satisfaction fell by more than
  the drill-down's threshold, owned by the process class of its main cause.

The owner is the owner of the finding's process class (``analyze.owners``); the due date
is ``found_on`` + that owner's due days. No process class, or a class nobody owns, gives an
unowned finding (owner null), listed by ``unowned_findings``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, select

from cx_tasks.analyze.owners import assign_owners
from cx_tasks.analyze.pareto import ALL_SEGMENTS, ParetoRules, process_label, stored_pareto
from cx_tasks.config import load_rules
from cx_tasks.feedback.rules import Owners
from cx_tasks.metrics.catalogue import MetricCatalogue, metric_catalogue
from cx_tasks.metrics.parameters import metric_parameters
from cx_tasks.warehouse.db import upsert
from cx_tasks.warehouse.schema import STAGING, findings, metric_values

FINDING_COLUMNS = [c.name for c in findings.columns]
"""The columns of a findings frame: those of the ``findings`` table."""
_READ_CHUNK = 500
"""Finding ids looked up per query when reading stored ``found_on`` days."""


class ClusterRules(BaseModel):
    """Which vital-few process classes become complaint-cluster findings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_days: int = Field(30, gt=0, description="the Pareto window whose vital few become "
                             "cluster findings; one of `pareto.window_days`")
    min_complaints: int = Field(3, ge=1, description="fewest complaints for a vital-few class "
                                "of a segment to be a cluster")


class ThresholdRule(BaseModel):
    """A metric whose value over a window, per client, makes a finding when worse than the
    threshold (direction from the catalogue's ``higher_is_better``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    window_days: int = Field(gt=0)
    threshold: float
    min_denominator: float | None = Field(None, ge=0)


class FindingRules(BaseModel):
    """``rules/findings.yaml``: the Pareto cut-off and windows, complaint clusters and the
    metric thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pareto: ParetoRules = ParetoRules()
    clusters: ClusterRules = ClusterRules()
    thresholds: tuple[ThresholdRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> FindingRules:
        if self.clusters.window_days not in self.pareto.window_days:
            raise ValueError(f"clusters.window_days {self.clusters.window_days} is not one of "
                             f"pareto.window_days {list(self.pareto.window_days)}")
        keys = [(t.metric, t.window_days) for t in self.thresholds]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"thresholds listed more than once (metric, window): {repeated}")
        return self


def findings_rules(rules_dir: Path | None = None) -> FindingRules:
    """``rules/findings.yaml`` (or the user's copy in ``rules_dir``), checked against the
    metric catalogue and the metric windows: every threshold names a catalogued metric, and
    every window (Pareto revenue, thresholds) is one the metrics stage computes."""
    rules = load_rules("findings", FindingRules, rules_dir)
    known = {m.id for m in metric_catalogue(rules_dir).metrics}
    unknown = sorted({t.metric for t in rules.thresholds} - known)
    if unknown:
        raise ValueError(f"findings.yaml: thresholds name unknown metrics {unknown}")
    computed = set(metric_parameters(rules_dir).windows)
    windows = {*rules.pareto.window_days, *(t.window_days for t in rules.thresholds)}
    if not windows <= computed:
        raise ValueError(f"findings.yaml: windows {sorted(windows - computed)} are not metric "
                         f"windows {sorted(computed)} (metric_parameters.yaml)")
    return rules


def _finished(rows: pd.DataFrame, owners: Owners) -> pd.DataFrame:
    """Finding rows with owners and due dates, every column of ``findings``, by id."""
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FINDING_COLUMNS})
    full = rows.reindex(columns=FINDING_COLUMNS).astype(object)
    full = full.where(full.notna(), None)
    return assign_owners(full, owners).sort_values("finding_id", ignore_index=True)


def complaint_cluster_findings(pareto: pd.DataFrame, min_complaints: int, owners: Owners,
                               found_on: date) -> pd.DataFrame:
    """A finding per segment and process class in the vital few by complaint count with at
    least ``min_complaints`` complaints (segment ``all`` is not a cluster: its complaints
    are already in their segments' clusters).

    ``pareto``: the Pareto rows of one period (``pareto_table`` or ``stored_pareto``).
    """
    vital = pareto[(pareto["measure"] == "count") & pareto["vital_few"].astype(bool)
                   & (pareto["segment"] != ALL_SEGMENTS)
                   & (pareto["complaints"] >= min_complaints)]
    rows = pd.DataFrame({
        "finding_id": "cluster:" + vital["segment"] + ":" + vital["process_class"],
        "kind": "complaint_cluster",
        "segment": vital["segment"],
        "process_class": vital["process_class"],
        "summary": [f"{n} complaints about {process_label(pc).lower()} from segment {seg} "
                    f"({share:.0%} of the segment's complaints; in the vital few)"
                    for n, pc, seg, share in zip(vital["complaints"], vital["process_class"],
                                                 vital["segment"], vital["share"], strict=True)],
        "found_on": found_on,
    })
    return _finished(rows, owners)


def metric_threshold_findings(values: pd.DataFrame, thresholds: Sequence[ThresholdRule],
                              catalogue: MetricCatalogue, owners: Owners,
                              found_on: date) -> pd.DataFrame:
    """A finding per client and threshold rule whose metric value over the rule's window is
    worse than the threshold: below it when the metric's ``higher_is_better``, above it
    otherwise (equal is not a finding); rows with a denominator under the rule's
    ``min_denominator`` (or none) are not judged. Owner: the metric's process class.

    ``values``: client_id, segment, metric, window_days, value, denominator.
    """
    frames = []
    for rule in thresholds:
        metric = catalogue.by_id(rule.metric)
        rows = values[(values["metric"] == rule.metric)
                      & (values["window_days"] == rule.window_days) & values["value"].notna()]
        worse = rows["value"] < rule.threshold if metric.higher_is_better \
            else rows["value"] > rule.threshold
        if rule.min_denominator is not None:
            worse &= rows["denominator"].fillna(-1.0) >= rule.min_denominator
        hit = rows[worse]
        bound = "at least" if metric.higher_is_better else "at most"
        frames.append(pd.DataFrame({
            "finding_id": ("metric:" + hit["client_id"] + f":{rule.metric}:"
                           f"{rule.window_days}d"),
            "kind": "metric_threshold",
            "client_id": hit["client_id"],
            "segment": hit["segment"],
            "process_class": metric.process_class,
            "factor": metric.factor,
            "metric": rule.metric,
            "summary": [f"{metric.name} of client {client} over {rule.window_days} days is "
                        f"{value:.4g} {metric.unit}; the threshold is {bound} {rule.threshold:g}"
                        for client, value in zip(hit["client_id"], hit["value"], strict=True)],
            "found_on": found_on,
        }))
    return _finished(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
                     owners)


def satisfaction_drop_findings(drops: pd.DataFrame, owners: Owners,
                               found_on: date) -> pd.DataFrame:
    """A finding per client whose satisfaction fell, owned by its main cause's metric owner
    or process class (``owners.owner_for``; unowned when the drill-down found neither).

    ``drops``: client_id, segment, drop (points fallen, positive), process_class (or null);
    optional factor and metric of the main cause are kept.
    """
    metrics = drops["metric"] if "metric" in drops else pd.Series(None, index=drops.index)
    causes = [f"main cause: {process_label(pc).lower()}" if isinstance(pc, str)
              else f"main cause: {metric}" if isinstance(metric, str) else "main cause unknown"
              for pc, metric in zip(drops["process_class"], metrics, strict=True)]
    rows = pd.DataFrame({
        "finding_id": "drop:" + drops["client_id"],
        "kind": "satisfaction_drop",
        "client_id": drops["client_id"],
        "segment": drops["segment"],
        "process_class": drops["process_class"],
        "factor": drops.get("factor"),
        "metric": drops.get("metric"),
        "summary": [f"Satisfaction of client {client} fell by {drop:.1f} points; {cause}"
                    for client, drop, cause in zip(drops["client_id"], drops["drop"], causes,
                                                   strict=True)],
        "found_on": found_on,
    })
    return _finished(rows, owners)


def unowned_findings(frame: pd.DataFrame) -> pd.DataFrame:
    """The findings nobody owns (owner null): a process class without an owner, or no
    process class at all."""
    return frame[frame["owner"].isna()].reset_index(drop=True)


def store_findings(conn: Connection, frame: pd.DataFrame) -> int:
    """Upsert findings by ``finding_id``; return rows written. A finding already stored
    keeps its ``found_on`` and its due date stays that day + the owner's due days (the
    frame's ``due_on - found_on``), so a persisting finding does not slide its deadline."""
    if frame.empty:
        return 0
    ids = list(frame["finding_id"])
    first_found: dict[str, date] = {}
    for start in range(0, len(ids), _READ_CHUNK):
        chunk = ids[start:start + _READ_CHUNK]
        first_found.update(conn.execute(select(findings.c.finding_id, findings.c.found_on)
                                        .where(findings.c.finding_id.in_(chunk))).all())
    rows = []
    for row in frame[FINDING_COLUMNS].to_dict("records"):
        row = {k: None if v is None or (not isinstance(v, str) and pd.isna(v)) else v
               for k, v in row.items()}
        kept = first_found.get(row["finding_id"])
        if kept is not None and row["due_on"] is not None:
            row["due_on"] = kept + (row["due_on"] - row["found_on"])
        rows.append(row)
    return upsert(conn, findings, rows)


def client_metric_values(conn: Connection, as_of: date,
                         thresholds: Sequence[ThresholdRule]) -> pd.DataFrame:
    """The metric values the threshold rules judge, as of ``as_of``, with each client's
    segment. Columns: client_id, segment, metric, window_days, value, denominator."""
    clients = STAGING["erp_clients"]
    columns = ["client_id", "segment", "metric", "window_days", "value", "denominator"]
    if not thresholds:
        return pd.DataFrame(columns=columns)
    query = (select(metric_values.c.client_id, clients.c.segment, metric_values.c.metric,
                    metric_values.c.window_days, metric_values.c.value,
                    metric_values.c.denominator)
             .outerjoin(clients, clients.c.client_id == metric_values.c.client_id)
             .where(metric_values.c.as_of == as_of,
                    metric_values.c.metric.in_(sorted({t.metric for t in thresholds})))
             .order_by(metric_values.c.client_id, metric_values.c.metric,
                       metric_values.c.window_days))
    frame = pd.DataFrame(conn.execute(query).all(), columns=columns)
    return frame.astype({"value": "float64", "denominator": "float64"})


def findings_as_of(conn: Connection, as_of: date, rules: FindingRules, owners: Owners,
                   catalogue: MetricCatalogue) -> pd.DataFrame:
    """The complaint clusters (from the stored Pareto rows of the cluster window ending at
    ``as_of``; run ``store_pareto`` first) and the metric-threshold findings as of
    ``as_of``, each with its owner and due date."""
    clusters = complaint_cluster_findings(
        stored_pareto(conn, as_of, rules.clusters.window_days),
        rules.clusters.min_complaints, owners, as_of)
    metrics = metric_threshold_findings(client_metric_values(conn, as_of, rules.thresholds),
                                        rules.thresholds, catalogue, owners, as_of)
    return pd.concat([clusters, metrics], ignore_index=True)
