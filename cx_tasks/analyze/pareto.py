"""Pareto analysis: which few process classes produce most complaints, by count and by the
revenue of the clients who complained.

Definitions (docs/pareto-and-owners.md):

- A *complaint* is a classified piece of feedback (status ``classified`` or ``reviewed``)
  with a process class; items waiting in the manual review queue (``review``) are left out
  and counted apart, nothing is guessed for them.
- The *period* of a trailing window of N days ending at ``as_of`` is
  ``[as_of - N days, as_of)`` by the day the feedback occurred, as for the metrics.
- *Affected revenue* (revenue at risk) of a process class = the summed revenue in the
  period (metric ``revenue``, same window) of the distinct clients who complained about
  that class; a client counts once per class, and in every class it complained about.
- Classes are ranked by the measure's value, descending, then by process class name, so
  equal values always come out in the same order (and get consecutive ranks). A class
  with a value of 0 (complainants without revenue, for ``revenue``) is not ranked.
- ``share`` = value / the sum over the ranked classes; ``cumulative_share`` = the running
  sum of shares in rank order.
- The *vital few* are the smallest set of top-ranked classes whose cumulative share
  reaches the cut-off (default 0.80): a class is vital when the classes ranked above it
  fall short of the cut-off. A class whose value equals that of the last vital class is
  vital too: equals are not split by their names. One class with a share at or above the
  cut-off is the vital few on its own.
- Segment ``all`` ranks every complaint whatever the client's segment; a client missing
  from the ERP's client list is in segment ``unknown``, so the segments add up to ``all``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, delete, select

from cx_tasks.config import DayWindows
from cx_tasks.warehouse.db import upsert
from cx_tasks.warehouse.schema import (
    STAGING,
    feedback,
    feedback_classes,
    metric_values,
    pareto_causes,
)
from cx_tasks.warehouse.times import midnight

COMPLAINT_STATUSES = ("classified", "reviewed")
"""Statuses of ``feedback_classes`` whose process class is decided and counted."""
REVIEW_STATUS = "review"
"""Status of an item waiting in the manual review queue: counted apart, never ranked."""
ALL_SEGMENTS = "all"
"""The segment value meaning every segment together."""
UNKNOWN_SEGMENT = "unknown"
"""The segment of a client the ERP's client list does not hold."""
MEASURES = ("count", "revenue")
"""What a Pareto ranking orders process classes by: complaints, or affected revenue."""
PARETO_COLUMNS = ["segment", "measure", "process_class", "rank", "complaints", "revenue",
                  "share", "cumulative_share", "vital_few"]
_SHARE_TOLERANCE = 1e-9
"""Float slack when comparing a cumulative share with the cut-off (7/10 reaches 0.7)."""


class ParetoRules(BaseModel):
    """The Pareto cut-off and the trailing windows ranked (``findings.yaml`` ``pareto``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cutoff: float = Field(0.8, gt=0, le=1,
                          description="cumulative share the vital few must reach, in (0, 1]")
    window_days: DayWindows = Field(
        (30, 90), description="trailing windows ranked; each must be a metric window "
        "(`metric_parameters.yaml` `windows`) because affected revenue is that window's revenue")


def process_label(process_class: str) -> str:
    """A process class as a human label: ``delivery_planning`` -> ``Delivery planning``."""
    return process_class.replace("_", " ").capitalize()


def pareto_ranking(values: pd.Series, cutoff: float) -> pd.DataFrame:
    """Process classes ranked by value (descending, then name) with share, cumulative share
    and the vital few: the smallest top set whose cumulative share reaches ``cutoff``, plus
    any class equal in value to the last of that set.

    ``values`` is indexed by process class; classes with a value of 0 are left out, and
    nothing is returned when every value is 0. Columns: process_class, value, rank, share,
    cumulative_share, vital_few.
    """
    ranked = (values[values > 0].rename("value").rename_axis("process_class").reset_index()
              .sort_values(["value", "process_class"], ascending=[False, True],
                           ignore_index=True))
    total = ranked["value"].sum()
    if ranked.empty:
        return ranked.assign(rank=pd.Series(dtype="int64"), share=pd.Series(dtype="float64"),
                             cumulative_share=pd.Series(dtype="float64"),
                             vital_few=pd.Series(dtype="bool"))
    share = ranked["value"].to_numpy(dtype=np.float64) / total
    cumulative = np.cumsum(share)
    vital = (cumulative - share) < cutoff - _SHARE_TOLERANCE
    boundary_value = ranked["value"].to_numpy()[vital][-1]
    vital |= ranked["value"].to_numpy() == boundary_value
    return ranked.assign(rank=np.arange(1, len(ranked) + 1), share=share,
                         cumulative_share=cumulative, vital_few=vital)


def complaints_only(items: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The complaints among classified items (status classified or reviewed, with a process
    class) and how many items wait in the review queue (status review)."""
    decided = items["status"].isin(COMPLAINT_STATUSES) & items["process_class"].notna()
    return items[decided], int((items["status"] == REVIEW_STATUS).sum())


def _with_all_segments(complaints: pd.DataFrame) -> pd.DataFrame:
    """Each complaint under its client's segment and once more under ``all``."""
    own = complaints.assign(segment=complaints["segment"].fillna(UNKNOWN_SEGMENT))
    return pd.concat([own, own.assign(segment=ALL_SEGMENTS)], ignore_index=True)


def pareto_table(complaints: pd.DataFrame, client_revenue: pd.Series,
                 cutoff: float) -> pd.DataFrame:
    """For each segment (and ``all``) and measure (``count``, ``revenue``): the process
    classes ranked with share, cumulative share and the vital few (see ``pareto_ranking``).

    ``complaints``: one row per complaint with client_id, segment and process_class.
    ``client_revenue``: each client's revenue in the period, indexed by client_id (a client
    not in it has none). Every row carries both the complaints and the affected revenue of
    its class; a segment whose complainants had no revenue has no ``revenue`` rows.
    Columns: ``PARETO_COLUMNS``.
    """
    frames = []
    for segment, rows in _with_all_segments(complaints).groupby("segment", sort=True):
        counts = rows.groupby("process_class").size().astype("int64")
        clients = rows[["process_class", "client_id"]].drop_duplicates()
        at_risk = (clients["client_id"].map(client_revenue).fillna(0.0)
                   .groupby(clients["process_class"]).sum())
        for measure, values in (("count", counts), ("revenue", at_risk)):
            ranked = pareto_ranking(values, cutoff)
            frames.append(ranked.drop(columns="value").assign(
                segment=segment, measure=measure,
                complaints=ranked["process_class"].map(counts).to_numpy(dtype=np.int64),
                revenue=ranked["process_class"].map(at_risk).to_numpy(dtype=np.float64)))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PARETO_COLUMNS})
    return pd.concat(frames, ignore_index=True)[PARETO_COLUMNS]


def cause_ranking(complaints: pd.DataFrame) -> pd.DataFrame:
    """Causes ranked by complaints per segment (and ``all``), descending then by name;
    ``share`` = the cause's complaints / all the segment's complaints (those without a
    cause included). Columns: segment, rank, cause, complaints, share."""
    columns = ["segment", "rank", "cause", "complaints", "share"]
    frames = []
    for segment, rows in _with_all_segments(complaints).groupby("segment", sort=True):
        counts = (rows.dropna(subset=["cause"]).groupby("cause").size().rename("complaints")
                  .reset_index().sort_values(["complaints", "cause"], ascending=[False, True],
                                             ignore_index=True))
        frames.append(counts.assign(segment=segment, rank=np.arange(1, len(counts) + 1),
                                    share=counts["complaints"] / len(rows)))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


def period_of(as_of: date, window_days: int) -> tuple[date, date]:
    """The trailing window of ``window_days`` ending (exclusively) at ``as_of``:
    ``(as_of - window_days, as_of)``."""
    return as_of - timedelta(days=window_days), as_of


def classified_items(conn: Connection, start: date, end: date) -> pd.DataFrame:
    """Every classification of feedback that occurred in ``[start, end)`` with its client's
    segment (null when the ERP does not know the client). Columns: feedback_id, client_id,
    segment, status, process_class, cause."""
    clients = STAGING["erp_clients"]
    query = (
        select(feedback_classes.c.feedback_id, feedback_classes.c.client_id,
               clients.c.segment, feedback_classes.c.status, feedback_classes.c.process_class,
               feedback_classes.c.cause)
        .join(feedback, feedback.c.feedback_id == feedback_classes.c.feedback_id)
        .outerjoin(clients, clients.c.client_id == feedback_classes.c.client_id)
        .where(feedback.c.occurred_at >= midnight(start),
               feedback.c.occurred_at < midnight(end))
        .order_by(feedback_classes.c.feedback_id)
    )
    rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["feedback_id", "client_id", "segment", "status",
                                       "process_class", "cause"], dtype=object)


def client_revenue(conn: Connection, as_of: date, window_days: int) -> pd.Series:
    """Each client's revenue in the window of ``window_days`` ending at ``as_of`` (metric
    ``revenue`` as the metrics stage published it), indexed by client_id."""
    query = select(metric_values.c.client_id, metric_values.c.value).where(
        metric_values.c.metric == "revenue", metric_values.c.as_of == as_of,
        metric_values.c.window_days == window_days, metric_values.c.value.is_not(None))
    rows = conn.execute(query).all()
    return pd.Series({client: float(value) for client, value in rows}, dtype="float64")


def store_pareto(conn: Connection, as_of: date, rules: ParetoRules) -> dict[str, object]:
    """Rank every trailing window of ``rules`` ending at ``as_of`` and replace its rows of
    ``pareto_causes`` (a rerun for the same ``as_of`` leaves the same rows); return a
    summary per window: complaints ranked, items in review, rows written."""
    summary = []
    for window_days in rules.window_days:
        start, end = period_of(as_of, window_days)
        complaints, in_review = complaints_only(classified_items(conn, start, end))
        table = pareto_table(complaints, client_revenue(conn, as_of, window_days),
                             rules.cutoff)
        conn.execute(delete(pareto_causes).where(and_(pareto_causes.c.period_start == start,
                                                      pareto_causes.c.period_end == end)))
        rows = table.assign(period_start=start, period_end=end).to_dict("records")
        upsert(conn, pareto_causes, [_plain(row) for row in rows])
        summary.append({"window_days": window_days, "complaints": len(complaints),
                        "in_review": in_review, "rows": len(rows)})
    return {"as_of": as_of.isoformat(), "windows": summary}


def stored_pareto(conn: Connection, as_of: date, window_days: int) -> pd.DataFrame:
    """The stored Pareto rows of the window of ``window_days`` ending at ``as_of``, by
    segment, measure and rank. Columns: period_start, period_end and ``PARETO_COLUMNS``."""
    start, end = period_of(as_of, window_days)
    query = (select(pareto_causes)
             .where(pareto_causes.c.period_start == start, pareto_causes.c.period_end == end)
             .order_by(pareto_causes.c.segment, pareto_causes.c.measure, pareto_causes.c.rank))
    return pd.DataFrame(conn.execute(query).all(),
                        columns=["period_start", "period_end", *PARETO_COLUMNS])


def _plain(row: dict[str, object]) -> dict[str, object]:
    """A frame row with numpy scalars as Python values (for the database driver)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
