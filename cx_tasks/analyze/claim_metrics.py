"""Publishing the service desk's claim metrics (``cx_tasks.metrics.complaints``) for a day:
they join the computable metrics in ``metric_values``, so the factor model and the
drill-down see quality claims and claim handling like any other operational metric."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, select

from cx_tasks.analyze.pareto import COMPLAINT_STATUSES
from cx_tasks.metrics.complaints import (
    COMPLAINT_METRIC_FUNCTIONS,
    claim_resolution_days,
    quality_claim_rate,
)
from cx_tasks.metrics.parameters import metric_parameters
from cx_tasks.warehouse.db import frame_records, upsert
from cx_tasks.warehouse.schema import STAGING, feedback_classes, metric_values


def read_claims(conn: Connection) -> pd.DataFrame:
    """Every staged claim with the group of dissatisfaction it was given (null when not
    classified or waiting for review): client_id, opened_at, closed_at, dissatisfaction_group."""
    claims = STAGING["sd_claims"]
    staged = pd.DataFrame(conn.execute(select(claims.c.claim_id, claims.c.client_id,
                                              claims.c.opened_at, claims.c.closed_at)).all(),
                          columns=["claim_id", "client_id", "opened_at", "closed_at"])
    groups = pd.DataFrame(conn.execute(
        select(feedback_classes.c.feedback_id, feedback_classes.c.dissatisfaction_group)
        .where(feedback_classes.c.feedback_id.like("claim:%"),
               feedback_classes.c.status.in_(COMPLAINT_STATUSES))).all(),
        columns=["feedback_id", "dissatisfaction_group"])
    staged["feedback_id"] = "claim:" + staged["claim_id"]
    merged = staged.merge(groups, on="feedback_id", how="left")
    return merged.astype({"opened_at": "datetime64[us]", "closed_at": "datetime64[us]"})[
        ["client_id", "opened_at", "closed_at", "dissatisfaction_group"]]


def delivered_shipments(conn: Connection, as_of: date) -> pd.DataFrame:
    """Shipments delivered per client and window ending at ``as_of`` (the denominator the
    metrics stage published for ``packaging_incident_rate``)."""
    rows = conn.execute(select(metric_values.c.client_id, metric_values.c.window_days,
                               metric_values.c.denominator)
                        .where(metric_values.c.as_of == as_of,
                               metric_values.c.metric == "packaging_incident_rate")).all()
    return pd.DataFrame(rows, columns=["client_id", "window_days", "shipments"])


def publish_claim_metrics(conn: Connection, as_of: date) -> dict[str, Any]:
    """Compute the claim metrics of ``as_of`` over every metric window and replace that day's
    rows of them in ``metric_values``; return rows written per metric."""
    windows = metric_parameters().windows
    claims = read_claims(conn)
    frames = [quality_claim_rate(claims, delivered_shipments(conn, as_of), as_of, windows),
              claim_resolution_days(claims, as_of, windows)]
    conn.execute(delete(metric_values).where(
        metric_values.c.as_of == as_of,
        metric_values.c.metric.in_(list(COMPLAINT_METRIC_FUNCTIONS))))
    for frame in frames:
        upsert(conn, metric_values, frame_records(frame))
    return {"as_of": as_of.isoformat(),
            "rows": {f["metric"].iloc[0]: len(f) for f in frames if len(f)}}
