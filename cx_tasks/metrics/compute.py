"""Compute every computable metric per client and window, and publish them to the warehouse."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete

from cx_tasks.metrics.catalogue import metric_catalogue
from cx_tasks.metrics.documents import (
    document_turnaround_median_h,
    document_turnaround_p90_h,
    document_within_sla,
    turnarounds,
)
from cx_tasks.metrics.journey import collection_shares_of, journey_map, publish_collection_shares
from cx_tasks.metrics.ledger import INPUT_COLUMNS, Ledger, ledger
from cx_tasks.metrics.otif import (
    in_full,
    line_outcomes,
    on_time,
    order_outcomes,
    otif_line,
    otif_order,
)
from cx_tasks.metrics.packaging import packaging_incident_rate
from cx_tasks.metrics.parallel import run_all
from cx_tasks.metrics.parameters import MetricParameters, metric_parameters
from cx_tasks.metrics.payments import payment_days_overdue, payment_on_time_share, settlement
from cx_tasks.metrics.rhythm import rhythm_irregularity
from cx_tasks.metrics.shipments import short_shipment_rate, shortfall_volume
from cx_tasks.metrics.transactional import (
    gross_margin,
    gross_margin_pct,
    order_frequency,
    ordered_lines,
    revenue,
)
from cx_tasks.metrics.values import MetricValues, long_frame
from cx_tasks.metrics.windows import Windows
from cx_tasks.warehouse.bulk import upsert_frames
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.frames import read_staging_tables
from cx_tasks.warehouse.schema import kpi_values, metric_values

METRIC_FUNCTIONS: dict[str, Callable[..., MetricValues]] = {
    f.__name__: f for f in (
        otif_line, otif_order, on_time, in_full, short_shipment_rate, shortfall_volume,
        rhythm_irregularity, packaging_incident_rate, document_turnaround_median_h,
        document_turnaround_p90_h, document_within_sla, payment_on_time_share,
        payment_days_overdue, order_frequency, revenue, gross_margin, gross_margin_pct,
    )
}
"""The function defining each computable metric, by catalogue id."""


def delivery_metrics(book: Ledger, params: MetricParameters,
                     windows: Windows) -> list[MetricValues]:
    """OTIF (lines, orders, on time, in full), short shipment, rhythm and packaging metrics."""
    if book.orders is None or book.lines is None or book.shipments is None:
        return []
    n = book.n_clients
    outcomes = line_outcomes(book.lines, book.shipments, params.otif, windows.as_of)
    lines = windows.cells(book.lines.client, outcomes.deadline, n, where=outcomes.evaluable)
    counted = np.flatnonzero(outcomes.evaluable & (book.lines.order >= 0))
    per_order = order_outcomes(book.lines.order[counted], outcomes.deadline[counted],
                               outcomes.otif[counted], len(book.orders.client))
    orders = windows.cells(book.orders.client, per_order.deadline, n, where=per_order.lines > 0)
    results = [
        otif_line(lines, outcomes), otif_order(orders, per_order), on_time(lines, outcomes),
        in_full(lines, outcomes), short_shipment_rate(lines, outcomes, params.otif),
        shortfall_volume(lines, outcomes),
        rhythm_irregularity(book.shipments, windows, params.rhythm_baseline_days, n),
    ]
    if book.incidents is not None:
        results.append(packaging_incident_rate(book.shipments, book.incidents, windows, n))
    return results


def document_metrics(book: Ledger, params: MetricParameters,
                     windows: Windows) -> list[MetricValues]:
    """Document turnaround (median, p90) and the share within SLA."""
    if book.documents is None:
        return []
    turns = turnarounds(book.documents, windows, book.n_clients)
    return [document_turnaround_median_h(turns), document_turnaround_p90_h(turns),
            document_within_sla(book.documents, windows, book.n_clients,
                                params.document_sla_hours)]


def payment_metrics(book: Ledger, params: MetricParameters,
                    windows: Windows) -> list[MetricValues]:
    """Share of invoices paid on time and mean days overdue."""
    if book.invoices is None or book.payments is None:
        return []
    settled = settlement(book.invoices, book.payments, params.payment_tolerance, windows.as_of)
    invoices = windows.cells(book.invoices.client, book.invoices.due, book.n_clients)
    return [payment_on_time_share(invoices, settled), payment_days_overdue(invoices, settled)]


def transactional_metrics(book: Ledger, params: MetricParameters,
                          windows: Windows) -> list[MetricValues]:
    """Order frequency, revenue, gross margin and gross margin percent."""
    if book.orders is None:
        return []
    results = [order_frequency(book.orders, windows, book.n_clients, params.order_frequency_days)]
    if book.lines is not None:
        lines = ordered_lines(book.lines, book.orders, windows, book.n_clients)
        results += [revenue(lines, book.lines), gross_margin(lines, book.lines),
                    gross_margin_pct(lines, book.lines, book.orders, windows, book.n_clients)]
    return results


METRIC_FAMILIES = (delivery_metrics, document_metrics, payment_metrics, transactional_metrics)
"""The groups of metrics computed together (independent of one another: ``run_all`` may run
them on several threads); the metrics are listed in this order."""


def compute_metrics(frames: Mapping[str, pd.DataFrame], as_of: date,
                    params: MetricParameters | None = None) -> pd.DataFrame:
    """Every computable metric per client and window ending at ``as_of``, one row per value.

    ``frames`` holds contract tables by name (as ``read_staging_tables`` returns them); metrics
    whose tables are absent are skipped. Columns: client_id, metric, as_of, window_days,
    value, numerator, denominator, note.
    """
    params = params or metric_parameters()
    return ledger_metrics(ledger(frames), as_of, params.windows, params)


def ledger_metrics(book: Ledger, as_of: date, days: tuple[int, ...],
                   params: MetricParameters) -> pd.DataFrame:
    """Every computable metric per client of ``book`` over the windows of ``days`` days
    ending at ``as_of`` (``compute_metrics``' columns); the ledger built once serves several
    days (the monitor's months and quarters)."""
    windows = Windows.ending(as_of, days)
    families = run_all({family.__name__: partial(family, book, params, windows)
                        for family in METRIC_FAMILIES})
    results = [values for family in METRIC_FAMILIES for values in families[family.__name__]]
    return long_frame(results, windows, book.client_ids, as_of)


def publish_metrics(engine: Engine, metrics: pd.DataFrame, kpis: pd.DataFrame) -> int:
    """Upsert metric and KPI values in one transaction; return rows written.

    For every as_of date in either frame, the computable metrics' rows that the new
    computation no longer emits are deleted first, so the warehouse holds exactly the
    latest computation of that date however often it runs (rows other stages write to
    the same tables are left alone).
    """
    dates = sorted(set(metrics["as_of"]) | set(kpis["as_of"]))
    replaced = delete(metric_values).where(
        metric_values.c.as_of.in_(dates), metric_values.c.metric.in_(list(METRIC_FUNCTIONS))
    ) if dates else None
    return upsert_frames(engine, [(metric_values, metrics), (kpi_values, kpis)],
                         first=replaced)


def segment_means(metrics: pd.DataFrame, clients: pd.DataFrame,
                  window_days: int) -> dict[str, dict[str, float]]:
    """Mean value per metric and client segment over one window (NaN values left out)."""
    chosen = metrics[metrics["window_days"] == window_days]
    merged = chosen.merge(clients[["client_id", "segment"]], on="client_id", how="left")
    merged["segment"] = merged["segment"].fillna("(unknown)")
    means = merged.groupby(["metric", "segment"])["value"].mean().dropna().round(4)
    summary: dict[str, dict[str, float]] = {}
    for (metric, segment), value in means.items():
        summary.setdefault(str(metric), {})[str(segment)] = float(value)
    return summary


def compute_and_publish(
    warehouse_url: str, as_of: date, known_by: datetime | None = None
) -> dict[str, Any]:
    """Read staging, compute every metric as of ``as_of``, publish them and the day's collection
    shares of the journey map's indicators per segment; return a summary.

    ``known_by`` (the run's interval start) limits staging to the rows first loaded by
    that interval or earlier, so a rerun publishes what the first run published even
    after later intervals have loaded more.
    """
    params = metric_parameters()
    engine = engine_for(warehouse_url)
    frames = read_staging_tables(engine, INPUT_COLUMNS, known_by)
    metrics = compute_metrics(frames, as_of, params)
    catalogue = metric_catalogue()
    kpis = pd.DataFrame(columns=["kpi", "as_of", "value", "detail"])
    written = publish_metrics(engine, metrics, kpis)
    segments = frames["erp_clients"]["segment"].dropna()
    shares = collection_shares_of(journey_map(catalogue=catalogue), catalogue, segments)
    with engine.begin() as conn:
        written += publish_collection_shares(conn, shares, as_of)
    return {
        "as_of": as_of.isoformat(),
        "rows": written,
        "clients": int(metrics["client_id"].nunique()),
        "metrics": int(metrics["metric"].nunique()),
        "collection_shares": {row.segment: {"system": round(row.system_share, 4),
                                            "automated": round(row.automated_share, 4)}
                              for row in shares.itertuples(index=False)},
        "window_days": params.summary_window_days,
        "segment_means": segment_means(metrics, frames["erp_clients"],
                                       params.summary_window_days),
    }
