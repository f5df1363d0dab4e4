"""The analyze stage's steps as the DAG runs them: each takes the warehouse and the day
(``as_of``) and returns a small summary; data moves through the warehouse.

classify -> rank causes (Pareto tables and charts) -> route findings to owners, and
classify -> publish the claim metrics -> predict satisfaction -> drill down -> route
findings.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from cx_tasks.analyze.charts import pareto_charts
from cx_tasks.analyze.claim_metrics import publish_claim_metrics as publish_claims
from cx_tasks.analyze.classification import classify_feedback
from cx_tasks.analyze.drilldown import drill_down, drilldown_rules, main_causes
from cx_tasks.analyze.findings import (
    findings_as_of,
    findings_rules,
    satisfaction_drop_findings,
    store_findings,
    unowned_findings,
)
from cx_tasks.analyze.pareto import store_pareto, stored_pareto
from cx_tasks.analyze.satisfaction import score_and_predict
from cx_tasks.feedback.rules import owners
from cx_tasks.metrics.catalogue import metric_catalogue
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import metric_values


def latest_metrics_day(warehouse_url: str) -> date | None:
    """The newest ``as_of`` with published metrics (the day an untriggered run analyses)."""
    with engine_for(warehouse_url).connect() as conn:
        return conn.scalar(select(func.max(metric_values.c.as_of)))


def classify(warehouse_url: str, as_of: date) -> dict[str, Any]:
    """Classify every piece of feedback with a text known by ``as_of``."""
    return classify_feedback(engine_for(warehouse_url), as_of).to_dict()


def rank_causes(warehouse_url: str, as_of: date, charts_dir: Path) -> dict[str, Any]:
    """Pareto tables of the trailing windows ending at ``as_of`` and their charts."""
    rules = findings_rules().pareto
    with engine_for(warehouse_url).begin() as conn:
        summary = store_pareto(conn, as_of, rules)
        drawn = [path for days in rules.window_days
                 for path in pareto_charts(stored_pareto(conn, as_of, days), charts_dir,
                                           cutoff=rules.cutoff)]
    return {**summary, "charts": [str(p) for p in drawn]}


def publish_claim_metrics(warehouse_url: str, as_of: date) -> dict[str, Any]:
    """The service desk's claim metrics of ``as_of`` (quality claims per delivered shipment,
    days to close a claim) into ``metric_values`` (run after ``classify``)."""
    with engine_for(warehouse_url).begin() as conn:
        return publish_claims(conn, as_of)


def predict_satisfaction(warehouse_url: str, as_of: date,
                         answers_until: datetime | None = None) -> dict[str, Any]:
    """Factor scores, calibrated model versions and the predicted index over the recent
    window of the drill-down rules, with the survey answers given until ``answers_until``."""
    window = drilldown_rules().recent_window_days
    return score_and_predict(engine_for(warehouse_url), as_of, window_days=window,
                             answers_until=answers_until)


def explain_falls(warehouse_url: str, as_of: date,
                  answers_until: datetime | None = None) -> dict[str, Any]:
    """The drill-down chain of every client whose satisfaction fell."""
    return drill_down(engine_for(warehouse_url), as_of, metric_catalogue(), owners(),
                      answers_until=answers_until).to_dict()


def route_findings(warehouse_url: str, as_of: date) -> dict[str, Any]:
    """Complaint clusters, metric thresholds and satisfaction drops of ``as_of`` as findings
    with owners and due dates (run after ``rank_causes`` and ``explain_falls``)."""
    team = owners()
    with engine_for(warehouse_url).begin() as conn:
        found = findings_as_of(conn, as_of, findings_rules(), team, metric_catalogue())
        drops = satisfaction_drop_findings(main_causes(conn, as_of), team, as_of)
        frames = [f for f in (found, drops) if not f.empty]
        written = sum(store_findings(conn, f) for f in frames)
    by_kind = {kind: sum(int((f["kind"] == kind).sum()) for f in frames)
               for kind in ("complaint_cluster", "metric_threshold", "satisfaction_drop")}
    unowned = sum(len(unowned_findings(f)) for f in frames)
    return {"as_of": as_of.isoformat(), "findings": written, "by_kind": by_kind,
            "unowned": unowned}
