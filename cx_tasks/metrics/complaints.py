"""Metrics of the service desk's claims: how often a client's deliveries draw quality claims,
and how long its claims take to close.

Computable from the supplier's own systems, but published by the analyze stage: the quality
rate needs each claim's group of dissatisfaction, which the classifier decides. Windows are
the metrics' own, ``[as_of - N days, as_of)``; a claim counts in a window by the day it was
opened (rate) or closed (days to close). Rows have the columns of ``metric_values``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from cx_tasks.warehouse.times import midnight

QUALITY_GROUP = "quality"
NO_DELIVERIES = "no shipment delivered in the window"
ROW_COLUMNS = ["client_id", "metric", "as_of", "window_days", "value", "numerator",
               "denominator", "note"]


def _window(as_of: date, days: int) -> tuple[datetime, datetime]:
    """The window of ``days`` ending at ``as_of`` as moments: ``[as_of - days, as_of)``."""
    return midnight(as_of - timedelta(days=days)), midnight(as_of)


def quality_claim_rate(claims: pd.DataFrame, delivered: pd.DataFrame, as_of: date,
                       windows: Sequence[int]) -> pd.DataFrame:
    """Claims classified as quality opened in the window per shipment delivered in the window.

    ``claims``: client_id, opened_at, dissatisfaction_group; ``delivered``: client_id,
    window_days, shipments (the denominator of ``packaging_incident_rate``).
    """
    parts = []
    quality = claims[claims["dissatisfaction_group"] == QUALITY_GROUP]
    for days in windows:
        start, end = _window(as_of, days)
        opened = quality[(quality["opened_at"] >= start) & (quality["opened_at"] < end)]
        counts = opened.groupby("client_id").size().rename("numerator")
        shipments = (delivered[delivered["window_days"] == days]
                     .set_index("client_id")["shipments"].rename("denominator"))
        cells = pd.concat([counts, shipments], axis=1).fillna(0.0)
        value = np.divide(cells["numerator"], cells["denominator"],
                          out=np.full(len(cells), np.nan), where=cells["denominator"] > 0)
        parts.append(pd.DataFrame({
            "client_id": cells.index, "window_days": days, "value": value,
            "numerator": cells["numerator"].to_numpy(),
            "denominator": cells["denominator"].to_numpy(),
            "note": np.where(cells["denominator"] > 0, None, NO_DELIVERIES)}))
    return _rows(parts, "quality_claim_rate", as_of)


def claim_resolution_days(claims: pd.DataFrame, as_of: date,
                          windows: Sequence[int]) -> pd.DataFrame:
    """Mean days from opening to closing of the claims closed in the window.

    ``claims``: client_id, opened_at, closed_at (null while open).
    """
    parts = []
    closed = claims[claims["closed_at"].notna()]
    for days in windows:
        start, end = _window(as_of, days)
        inside = closed[(closed["closed_at"] >= start) & (closed["closed_at"] < end)]
        spent = (inside["closed_at"] - inside["opened_at"]).dt.total_seconds() / 86400.0
        cells = (pd.DataFrame({"client_id": inside["client_id"], "days": spent})
                 .groupby("client_id")["days"].agg(["sum", "size"]))
        parts.append(pd.DataFrame({
            "client_id": cells.index, "window_days": days,
            "value": (cells["sum"] / cells["size"]).to_numpy(),
            "numerator": cells["sum"].to_numpy(), "denominator": cells["size"].astype(float),
            "note": None}))
    return _rows(parts, "claim_resolution_days", as_of)


def _rows(parts: list[pd.DataFrame], metric: str, as_of: date) -> pd.DataFrame:
    """The metric's rows in ``metric_values`` columns, by window and client."""
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ROW_COLUMNS)
    frame = frame.assign(metric=metric, as_of=as_of)[ROW_COLUMNS]
    return frame.sort_values(["window_days", "client_id"], ignore_index=True)


COMPLAINT_METRIC_FUNCTIONS: dict[str, Callable[..., pd.DataFrame]] = {
    f.__name__: f for f in (quality_claim_rate, claim_resolution_days)
}
"""The metrics of this module, by catalogue id (published by the analyze stage)."""
