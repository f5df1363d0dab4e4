"""The computable metrics' trends per segment and period, stored per recalculation.

Each computable metric (``metrics.compute``: the nightly definitions, unchanged) over every
calendar month and quarter of the last ``trends.months`` months before ``as_of`` (the
running month and quarter up to ``as_of``, their ``period_end``), per segment and for
``all`` clients:

- ``value``: the pooled ratio sum(numerator) / sum(denominator) over the segment's clients
  where the metric has both (OTIF: lines OTIF over lines evaluable), else the mean over
  its clients (revenue, the turnaround medians, shortfall);
- ``n``: what the figure counts, named in ``counted``: the records of the metrics listed
  in ``RECORDS`` (OTIF's lines due, documents requested, invoices due, shipments
  delivered), else the clients with a value; ``clients``: the clients with a value.

A recalculation as of ``as_of`` reads the staged rows known by then and is stored once under
its version ``<as_of>:<definition hash>:<inputs fingerprint>`` (as the KPIs,
``monitor.history``): the hash covers this module, the metric modules' code and the metric
parameters; the fingerprint the rows read. A rerun with the same inputs writes nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from cx_tasks.monitor.kpis import KpiVersion
from cx_tasks.monitor.rules import TrendRules

PERIOD_MONTHS = {"month": 1, "quarter": 3}
RECORDS = {
    "otif_line": "lines", "on_time": "lines", "in_full": "lines",
    "short_shipment_rate": "lines", "otif_order": "orders",
    "document_within_sla": "documents", "document_turnaround_median_h": "documents",
    "document_turnaround_p90_h": "documents", "payment_on_time_share": "invoices",
    "payment_days_overdue": "invoices", "packaging_incident_rate": "shipments",
}
"""Metrics whose denominator counts records, and what it counts: their ``n``."""
TREND_METRICS = ("otif_line", "on_time", "in_full", "document_within_sla",
                 "packaging_incident_rate", "payment_days_overdue", "order_frequency",
                 "gross_margin_pct")
"""The metrics the weekly digest and ``cx kpi trends`` show unless asked for others."""
TREND_COLUMNS = ("metric", "segment", "period", "period_start", "period_end", "value", "n",
                 "counted", "clients")


def _month_start(day: date, months_back: int = 0, width: int = 1) -> date:
    """The first day of the ``width``-month period holding ``day``, ``months_back`` months
    earlier."""
    index = day.year * 12 + day.month - 1 - months_back
    index -= index % width
    return date(index // 12, index % 12 + 1, 1)


def periods(as_of: date, months: int, earliest: date | None) -> pd.DataFrame:
    """The months and quarters the trend covers: period, period_start, period_end (the
    next period's start, or ``as_of`` for the running one); those starting before
    ``earliest`` (the first data) or ``months`` months before ``as_of``'s month are left out
    (a quarter is kept whole when it began before)."""
    first = _month_start(as_of - pd.Timedelta(days=1), months - 1)
    if earliest is not None:
        first = max(first, _month_start(earliest))
    rows = []
    for period, width in PERIOD_MONTHS.items():
        start = _month_start(first, 0, width)
        while start < as_of:
            following = _month_start(start, -width)
            rows.append((period, start, min(following, as_of)))
            start = following
    return pd.DataFrame(rows, columns=["period", "period_start", "period_end"])


def pooled(values: pd.DataFrame, segments: pd.Series) -> pd.DataFrame:
    """Per metric, segment (and ``all``) of ``values`` (one window's metric rows: client_id,
    metric, value, numerator, denominator) the figure, n, what n counts and the clients
    (module doc)."""
    rows = values.dropna(subset=["value"]).assign(
        segment=lambda f: f["client_id"].map(segments).fillna("(unknown)"))
    both = pd.concat([rows, rows.assign(segment="all")], ignore_index=True)
    has_ratio = both["numerator"].notna() & both["denominator"].notna()
    both = both.assign(num=both["numerator"].where(has_ratio, 0.0),
                       den=both["denominator"].where(has_ratio, 0.0), ratio=has_ratio,
                       counted_den=both["denominator"].fillna(0.0))
    grouped = both.groupby(["metric", "segment"]).agg(
        mean=("value", "mean"), clients=("value", "size"), num=("num", "sum"),
        den=("den", "sum"), ratio=("ratio", "all"), records=("counted_den", "sum"))
    out = grouped.reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["value"] = np.where(out["ratio"] & (out["den"] > 0), out["num"] / out["den"],
                                out["mean"])
    out["counted"] = out["metric"].map(RECORDS).fillna("clients")
    out["n"] = np.where(out["counted"] == "clients", out["clients"],
                        out["records"]).astype(int)
    return out[["metric", "segment", "value", "n", "counted", "clients"]]


def metric_trends(frames: dict[str, pd.DataFrame], as_of: date, rules: TrendRules,
                  params: Any = None) -> pd.DataFrame:
    """Every computable metric per segment and period (``TREND_COLUMNS``) from the staged
    ``frames`` (``metrics.ledger.INPUT_COLUMNS``)."""
    from cx_tasks.metrics.compute import ledger_metrics
    from cx_tasks.metrics.ledger import ledger
    from cx_tasks.metrics.parameters import metric_parameters

    params = params or metric_parameters()
    dates = pd.to_datetime(frames["erp_orders"]["order_date"], errors="coerce").dropna()
    earliest = dates.min().date() if len(dates) else None
    spans = periods(as_of, rules.months, earliest)
    if spans.empty:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    spans["days"] = [(e - s).days for s, e in zip(spans["period_start"], spans["period_end"],
                                                  strict=True)]
    book = ledger(frames)
    segments = frames["erp_clients"].set_index("client_id")["segment"]
    parts = []
    for end, ending in spans.groupby("period_end", sort=True):
        values = ledger_metrics(book, end, tuple(sorted(set(ending["days"]))), params)
        for span in ending.itertuples():
            figures = pooled(values[values["window_days"] == span.days], segments)
            parts.append(figures.assign(period=span.period, period_start=span.period_start,
                                        period_end=end))
    trends = pd.concat(parts, ignore_index=True)
    return trends[list(TREND_COLUMNS)].sort_values(
        ["metric", "segment", "period", "period_start"], ignore_index=True)


def definition_hash(rules: TrendRules, params: Any) -> str:
    """12 hex of the SHA-256 of this module's code, every metric module's code, the metric
    parameters and the trend rules."""
    from cx_tasks.metrics import compute

    modules = sorted({f.__module__ for f in compute.METRIC_FUNCTIONS.values()}
                     | {compute.__name__, __name__})
    digest = hashlib.sha256()
    for name in modules:
        digest.update(inspect.getsource(sys.modules[name]).encode())
    digest.update(params.model_dump_json().encode())
    digest.update(rules.model_dump_json().encode())
    return digest.hexdigest()[:12]


def inputs_fingerprint(frames: dict[str, pd.DataFrame]) -> str:
    """12 hex of the SHA-256 of the staged rows read, each table's rows in any order (the
    sum of its row hashes and its row count)."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name]
        hashed = pd.util.hash_pandas_object(frame[sorted(frame.columns)].astype(str),
                                            index=False).to_numpy(np.uint64)
        digest.update(f"{name}:{len(frame)}:{int(hashed.sum(dtype=np.uint64))}".encode())
    return digest.hexdigest()[:12]


def publish_trends(warehouse_url: str, as_of: date, rules: TrendRules) -> dict[str, Any]:
    """Recalculate the trends as of ``as_of`` from the rows staged by then and store them
    under their version, once."""
    from cx_tasks.metrics.ledger import INPUT_COLUMNS
    from cx_tasks.metrics.parameters import metric_parameters
    from cx_tasks.warehouse.db import engine_for, frame_records, insert_if_absent
    from cx_tasks.warehouse.frames import read_staging_tables
    from cx_tasks.warehouse.schema import metric_trend_runs
    from cx_tasks.warehouse.schema import metric_trends as metric_trends_table
    from cx_tasks.warehouse.times import midnight

    engine = engine_for(warehouse_url)
    params = metric_parameters()
    frames = read_staging_tables(engine, INPUT_COLUMNS, midnight(as_of))
    version = KpiVersion(as_of, definition_hash(rules, params), inputs_fingerprint(frames))
    with engine.connect() as conn:
        known = conn.scalar(select(metric_trend_runs.c.version).where(
            metric_trend_runs.c.version == version.version))
    if known:
        return {"trend_version": version.version, "trend_rows": 0, "trend_new": False}
    trends = metric_trends(frames, as_of, rules, params)
    with engine.begin() as conn:
        new = insert_if_absent(conn, metric_trend_runs, [{
            "version": version.version, "as_of": as_of,
            "definition_hash": version.definition_hash,
            "inputs_fingerprint": version.inputs_fingerprint, "rows": len(trends),
            "sequence": (conn.scalar(select(func.max(metric_trend_runs.c.sequence))) or 0) + 1}])
        if new:
            insert_if_absent(conn, metric_trends_table,
                             frame_records(trends.assign(version=version.version)))
    return {"trend_version": version.version, "trend_rows": len(trends), "trend_new": bool(new)}


def stored_trends(conn: Connection, as_of: date | None = None,
                  period: str | None = None) -> pd.DataFrame:
    """The trends of the latest recalculation (as of ``as_of`` or before), optionally of one
    period kind; empty when none is stored."""
    from cx_tasks.warehouse.schema import metric_trend_runs, metric_trends

    query = select(metric_trend_runs.c.version).order_by(
        metric_trend_runs.c.as_of.desc(), metric_trend_runs.c.sequence.desc()).limit(1)
    if as_of is not None:
        query = query.where(metric_trend_runs.c.as_of <= as_of)
    version = conn.scalar(query)
    if version is None:
        return pd.DataFrame(columns=["version", *TREND_COLUMNS])
    rows = select(metric_trends).where(metric_trends.c.version == version)
    if period is not None:
        rows = rows.where(metric_trends.c.period == period)
    return pd.read_sql(rows.order_by(metric_trends.c.metric, metric_trends.c.segment,
                                     metric_trends.c.period_start), conn)


def _label(period: str, start: date, end: date) -> str:
    """A period's column title: ``2026-11`` or ``2026 Q4``, ``(to MM-DD)`` when running."""
    width = PERIOD_MONTHS[period]
    name = f"{start:%Y-%m}" if width == 1 else f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return name if end >= _month_start(start, -width) else f"{name} (to {end:%m-%d})"


def trend_table(trends: pd.DataFrame, last: int, metrics: Iterable[str] = TREND_METRICS,
                segment: str | None = None) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Stored trends of one period kind as a table: metric, segment (one, or every one) and
    the recalculation's ``last`` periods, each cell ``value (n <n> <counted>)`` (an em dash
    where the metric has none)."""
    if trends.empty:
        return ("metric", "segment"), []
    spans = trends.groupby("period_start")["period_end"].max().sort_index().tail(last)
    period = str(trends["period"].iloc[0])
    columns = ("metric", "segment", *(_label(period, s, e) for s, e in spans.items()))
    shown = trends[trends["metric"].isin(list(metrics))]
    if segment is not None:
        shown = shown[shown["segment"] == segment]
    rows = []
    for (metric, group), part in shown.groupby(["metric", "segment"], sort=True):
        by_start = {r.period_start: r for r in part.itertuples()}
        cells = []
        for start in spans.index:
            r = by_start.get(start)
            cells.append("—" if r is None or pd.isna(r.value)
                         else f"{r.value:,.3f} (n {r.n} {r.counted})")
        rows.append((str(metric), str(group), *cells))
    return columns, rows
