"""The data-quality gate: validate an interval's raw extracts, quarantine bad rows, load the rest.

Tables are validated in contract order, so a table's parents are done before it. For
each table:

1. helper columns are derived from the raw text: each value parsed to the contract's
   type (and the text that did not parse), each reference looked up among this
   interval's *valid* rows of the referenced table and the rows already in staging,
   and for shipments the line's delivered total and cap;
2. Great Expectations validates the frame against the table's row rules
   (``expectations.row_checks``); a row failing any rule is quarantined, with one
   quarantine entry per rule it failed. A child of a quarantined parent fails its
   reference rule, unless an earlier version of the parent is in staging. All copies of
   a duplicated key are quarantined: the source broke its own key and nothing tells
   which copy is right, so none is loaded;
3. valid rows are typed and upserted into staging; the interval's quarantine entries of
   the table are replaced; ``rows in = rows loaded + rows quarantined`` is checked and
   the load log written;
4. a table suite checks the row volume against recent intervals and the quarantine share.

Then a suite checks each source's freshness, and the gate's verdict is recorded in
``quality_runs``. Everything happens in one warehouse transaction, so a failure leaves
the interval as it was; re-running an interval leaves the warehouse identical.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from cx_tasks.collect.contract import SOURCE_TABLES, Column, SourceTable, source_table
from cx_tasks.collect.expectations import (
    DELIVERED,
    DELIVERY_TABLE,
    ORDERED,
    ORDERED_TABLE,
    QUARANTINED_SHARE,
    Check,
    GxRunner,
    Outcome,
    QualityRules,
    before_order_column,
    freshness_check,
    over_cap_column,
    quality_rules,
    quarantine_share_check,
    row_checks,
    unparsed_column,
    unresolved_column,
    value_column,
    volume_check,
)
from cx_tasks.collect.extract import (
    extract_table,
    extract_tables,
    interval_folder,
    land,
    read_landed,
    source_max_updated_at,
    text_frame,
)
from cx_tasks.collect.load import (
    GateVerdict,
    IntervalWriter,
    ValidatedTable,
    arrow_text,
    gate_record,
    is_in,
    lookup,
    only_where,
    previous_rows_in,
    staged_rows,
)
from cx_tasks.collect.memory import release_memory, return_freed_memory_promptly
from cx_tasks.config import settings
from cx_tasks.warehouse.bulk import sqlite_file
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.times import naive_utc

NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
INTEGER = r"^[+-]?\d+$"
TRUE_TEXT = ("true", "t", "1", "yes", "y")
FALSE_TEXT = ("false", "f", "0", "no", "n")
# datetime64[ns] spans 1677-2262: values beyond are clipped to it (and fail the sane range)
NS_MIN, NS_MAX = pd.Timestamp("1678-01-01"), pd.Timestamp("2262-01-01")
ISO_SHAPES = {"%Y-%m-%d %H:%M:%S": 19, "%Y-%m-%d": 10}
"""The usual shapes of source dates and timestamps, with the length of their text."""


@dataclass
class GateResult:
    """The gate's verdict on one interval, with what was loaded and quarantined."""

    interval_start: datetime
    interval_end: datetime
    passed: bool
    failed_expectations: list[str]
    tables: dict[str, dict[str, int]]
    quarantined_by_rule: dict[str, int]
    results_path: str | None
    skipped_checks: list[str]
    # seconds spent per phase in this process (not stored; empty when read back)
    phase_seconds: dict[str, float] = field(default_factory=dict)


ORDER_TABLE = "erp_orders"


def _empty_by_key() -> pd.Series:
    """An empty series indexed by text keys."""
    return pd.Series([], dtype=object, index=pd.Index([], dtype=object))


# --- helper columns -------------------------------------------------------------------

def parse_numbers(text: pd.Series, pattern: str = NUMBER) -> pd.Series:
    """Text parsed as numbers (float64); NaN where null or not a number matching ``pattern``."""
    trimmed = pc.utf8_trim_whitespace(arrow_text(text))
    numeric = pc.match_substring_regex(trimmed, pattern)
    values = pc.cast(pc.if_else(numeric, trimmed, pa.scalar(None, pa.string())), pa.float64())
    return pd.Series(values.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def parse_booleans(text: pd.Series) -> pd.Series:
    """Text parsed as booleans (true/false, t/f, 1/0, yes/no, any case); NA otherwise."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(arrow_text(text)))
    true = pc.is_in(lowered, value_set=pa.array(TRUE_TEXT))
    false = pc.is_in(lowered, value_set=pa.array(FALSE_TEXT))
    values = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
    return pd.Series(values.to_pandas(), index=text.index).astype("boolean")


def parse_times(text: pd.Series) -> pd.Series:
    """ISO 8601 text parsed as naive-UTC datetime64[ns]; NaT where null or not a valid date.

    The source's usual shapes (``ISO_SHAPES``) are parsed by Arrow, and a value is kept
    where formatting it back gives its text again (so an impossible date such as
    2026-02-30 is not rolled over into March); every other text goes to pandas' ISO 8601
    parser, each distinct text once.
    """
    values = arrow_text(text)
    parsed = pa.nulls(len(values), pa.timestamp("s"))
    for shape, length in ISO_SHAPES.items():
        attempt = pc.strptime(values, format=shape, unit="s", error_is_null=True)
        # Arrow writes a timestamp[s] as "YYYY-MM-DD HH:MM:SS"; a date is its first 10
        back = pc.utf8_slice_codeunits(attempt.cast(pa.string()), 0, length)
        parsed = pc.if_else(pc.fill_null(pc.equal(back, values), False), attempt, parsed)
    # clipped like pandas' values below (NaT stays NaT), then in nanoseconds
    times = np.clip(parsed.to_numpy(zero_copy_only=False), NS_MIN.to_datetime64(),
                    NS_MAX.to_datetime64()).astype("datetime64[ns]")
    rest = np.flatnonzero(pc.and_(parsed.is_null(), values.is_valid()).to_numpy(
        zero_copy_only=False))
    if len(rest):
        times[rest] = _parse_iso(values.take(rest))
    return pd.Series(times, index=text.index, dtype="datetime64[ns]")


def _parse_iso(values: pa.Array) -> np.ndarray:
    """Text parsed by pandas' ISO 8601 parser, each distinct text once, as naive UTC
    (datetime64[ns], clipped to its range; NaT where not a valid date)."""
    encoded = pc.dictionary_encode(values)
    parsed = pd.to_datetime(encoded.dictionary.to_pandas(), format="ISO8601", errors="coerce",
                            utc=True)
    naive = parsed.dt.tz_localize(None).clip(lower=NS_MIN, upper=NS_MAX).astype("datetime64[ns]")
    # the distinct values, then NaT where code -1 (a null) points
    distinct = np.append(naive.to_numpy(), np.datetime64("NaT", "ns"))
    return distinct[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]


def parse_column(column: Column, text: pd.Series) -> pd.Series:
    """A raw text column parsed to the contract's type (null where it does not parse)."""
    if column.type == "float":
        return parse_numbers(text)
    if column.type == "integer":
        return parse_numbers(text, INTEGER)
    if column.type == "boolean":
        return parse_booleans(text)
    if column.type in ("date", "timestamp"):
        return parse_times(text)
    return text


def unresolved(conn: Connection, values: pd.Series, parent: SourceTable,
               accepted: pd.Series, known_by: datetime) -> pd.Series:
    """Reference values found neither among ``accepted`` parent keys nor in staging; else null."""
    missing = values.notna().to_numpy() & ~is_in(values, accepted)
    staged = staged_rows(conn, parent.name, parent.key, values[missing].drop_duplicates(),
                         [parent.key], known_by)[parent.key]
    return only_where(values, missing & ~is_in(values, staged))


def delivered_over_cap(conn: Connection, raw: pd.DataFrame, delivered: pd.Series,
                       accepted_quantity: pd.Series, rules: QualityRules,
                       known_by: datetime) -> pd.Series:
    """Per shipment with a delivered quantity, how much its line's delivered total exceeds
    the line's cap (negative: below it; NaN when the line's ordered quantity is unknown).

    The total adds this interval's shipments with a unique key to the staged shipments
    of the line that this interval does not replace; the cap is the line's ordered
    quantity (from this interval's valid lines, else staging) times the allowed share.
    """
    ids, lines = raw["shipment_id"], raw["order_line_id"]
    encoded = pc.dictionary_encode(arrow_text(lines))  # each line once, and each row's line
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    line_ids = pd.Series(encoded.dictionary.to_pandas(), dtype="str")
    amounts = delivered.to_numpy(dtype="float64")
    counted = ((codes >= 0) & ~np.isnan(amounts) & ids.notna().to_numpy()
               & ~ids.duplicated(keep=False).to_numpy())
    totals = np.bincount(codes[counted], weights=amounts[counted], minlength=len(line_ids))
    shipped = np.bincount(codes[counted], minlength=len(line_ids)) > 0
    touched = line_ids[shipped]
    staged = staged_rows(conn, DELIVERY_TABLE, "order_line_id", touched,
                         ["shipment_id", "order_line_id", DELIVERED], known_by)
    staged = staged[~is_in(staged["shipment_id"], ids)]
    staged_codes = pc.index_in(arrow_text(staged["order_line_id"]), value_set=encoded.dictionary)
    np.add.at(totals, staged_codes.to_numpy(zero_copy_only=False).astype(int),
              staged[DELIVERED].fillna(0).to_numpy(dtype="float64"))
    ordered = lookup(line_ids, accepted_quantity)
    unknown = line_ids[np.isnan(ordered) & shipped]
    staged_lines = staged_rows(conn, ORDERED_TABLE, "order_line_id", unknown,
                               ["order_line_id", ORDERED], known_by)
    found = pc.index_in(arrow_text(staged_lines["order_line_id"]), value_set=encoded.dictionary)
    ordered[found.to_numpy(zero_copy_only=False).astype(int)] = (
        staged_lines[ORDERED].to_numpy(dtype="float64"))
    over = totals - ordered * rules.max_delivered_share
    per_row = np.where(codes >= 0, over[np.maximum(codes, 0)], np.nan)
    return pd.Series(per_row, index=raw.index).where(delivered.notna())


def _known_values(conn: Connection, accepted: pd.Series, table_name: str, key: str,
                  column: str, keys: pd.Series, known_by: datetime) -> pd.Series:
    """``column`` by ``key`` for ``keys``: this interval's accepted rows (``accepted``, indexed
    by key), else the staged rows known by ``known_by``; keys found in neither are left out."""
    found = accepted[is_in(accepted.index.to_series(), keys)]
    missing = keys[~is_in(keys, found.index.to_series())]
    staged = staged_rows(conn, table_name, key, missing, [key, column], known_by)
    values = pd.concat([pd.Series(found.to_numpy(dtype=object), index=found.index.astype(object)),
                        pd.Series(staged[column].to_numpy(dtype=object),
                                  index=staged[key].to_numpy(dtype=object))])
    return values[~values.index.duplicated(keep="first")]


def delivered_before_order(conn: Connection, raw: pd.DataFrame, delivered_at: pd.Series,
                           line_orders: pd.Series, order_dates: pd.Series,
                           known_by: datetime) -> pd.Series:
    """Per shipment delivered on a day before its line's order date, that order date; else
    null (also when the line or its order is unknown: the reference checks report those).

    Lines and orders come from this interval's accepted rows (``line_orders``: order id by
    line id; ``order_dates``: order date by order id), else from staging.
    """
    lines = pd.Series(raw["order_line_id"].to_numpy(dtype=object), index=raw.index)
    dated = delivered_at.notna().to_numpy() & lines.notna().to_numpy()
    wanted = lines[dated].drop_duplicates()
    order_of = _known_values(conn, line_orders, ORDERED_TABLE, "order_line_id", "order_id",
                             wanted, known_by)
    date_of = _known_values(conn, order_dates, ORDER_TABLE, "order_id", "order_date",
                            order_of.dropna().drop_duplicates(), known_by)
    order_day = pd.to_datetime(lines.map(order_of).map(date_of), errors="coerce")
    before = (pd.to_datetime(delivered_at).dt.normalize() < order_day.dt.normalize()).to_numpy()
    return only_where(order_day.dt.strftime("%Y-%m-%d"), dated & before)


def check_frame(conn: Connection, table: SourceTable, raw: pd.DataFrame,
                rules: QualityRules, accepted: Mapping[str, pd.Series],
                accepted_quantity: pd.Series, known_by: datetime,
                accepted_orders: tuple[pd.Series, pd.Series] | None = None) -> pd.DataFrame:
    """The frame GX validates row by row beyond required values: the key, the columns with
    allowed values, and every helper column the checks read. ``accepted_orders``: this
    interval's accepted order id by line id and order date by order id (default none).

    (Required values are checked on the raw frame itself: GX copies the whole frame
    for each check that skips nulls, so this frame carries no other raw text.)
    """
    columns: dict[str, pd.Series] = {c.name: raw[c.name] for c in table.columns
                                     if c.name == table.key or c.allowed}
    for column in table.columns:
        if column.type == "text":
            continue
        value = parse_column(column, raw[column.name])
        columns[value_column(column.name)] = value
        columns[unparsed_column(column.name)] = only_where(
            raw[column.name], (value.isna() & raw[column.name].notna()).to_numpy())
    for ref in table.references:
        parent = source_table(ref.table)
        columns[unresolved_column(ref.column)] = unresolved(
            conn, raw[ref.column], parent, accepted.get(parent.name, pd.Series([], dtype=str)),
            known_by)
    if table.name == DELIVERY_TABLE:
        columns[over_cap_column()] = delivered_over_cap(
            conn, raw, columns[value_column(DELIVERED)], accepted_quantity, rules, known_by)
        line_orders, order_dates = accepted_orders or (_empty_by_key(), _empty_by_key())
        columns[before_order_column()] = delivered_before_order(
            conn, raw, columns[value_column("delivered_at")], line_orders, order_dates,
            known_by)
    # copy=False: one block per column, not the columns of a dtype copied into one
    return pd.DataFrame(columns, index=pd.RangeIndex(len(raw)), copy=False)


# --- quarantine -----------------------------------------------------------------------

def payload(row: Mapping[str, Any]) -> str:
    """A raw row as JSON: every value as the source's text, nulls as null."""
    return json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in row.items()},
                      ensure_ascii=False)


def row_key(key: Any, row_payload: str, duplicated: bool) -> str:
    """A quarantined row's key: the key value; ``sha1:<hash of the row>`` when the key is
    null; ``<key>#sha1:<hash>`` when the key occurs more than once in the interval."""
    digest = "sha1:" + hashlib.sha1(row_payload.encode("utf-8")).hexdigest()
    if pd.isna(key):
        return digest
    return f"{key}#{digest}" if duplicated else str(key)


def _detail(meaning: str, value: Any) -> str:
    """A quarantine entry's detail: what the rule means, then the offending value if any."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return meaning
    if isinstance(value, datetime):
        return f"{meaning}: {value.isoformat(sep=' ')}"
    return f"{meaning}: {value:g}" if isinstance(value, float) else f"{meaning}: {value}"


def quarantine_entries(table: SourceTable, raw: pd.DataFrame,
                       outcomes: list[Outcome]) -> tuple[list[dict[str, str]], set[int]]:
    """One entry per (row, failed rule), and the set of quarantined row positions."""
    failed = [o for o in outcomes if not o.success]
    positions = sorted({p for o in failed for p in o.positions})
    duplicated = {p for o in failed if o.rule == f"{table.name}.{table.key}.unique"
                  for p in o.positions}
    rows = raw.iloc[positions].to_dict("records")
    identity = {}
    for position, row in zip(positions, rows, strict=True):
        text = payload(row)
        identity[position] = (row_key(row[table.key], text, position in duplicated), text)
    entries: dict[tuple[str, str], dict[str, str]] = {}
    for outcome in failed:
        values = outcome.values if len(outcome.values) == len(outcome.positions) else (
            [None] * len(outcome.positions))
        for position, value in zip(outcome.positions, values, strict=True):
            key, text = identity[position]
            # identical copies of a duplicated row share key and rule: one entry
            entries.setdefault((key, outcome.rule), {
                "row_key": key, "rule": outcome.rule,
                "detail": _detail(outcome.meaning, value), "payload": text})
    return list(entries.values()), set(positions)


# --- the gate -------------------------------------------------------------------------

RELEASE_MEMORY_ROWS = 100_000
"""Rows of a table after which the memory its validation freed is released at once (a
history load); a nightly interval's small tables leave it to the allocators."""


@dataclass
class _Interval:
    """What validating earlier tables of the interval left for later ones."""

    accepted: dict[str, pd.Series] = field(default_factory=dict)
    accepted_quantity: pd.Series = field(default_factory=lambda: pd.Series(
        [], dtype="float64", index=pd.Index([], dtype="str")))
    accepted_line_orders: pd.Series = field(default_factory=_empty_by_key)
    accepted_order_dates: pd.Series = field(default_factory=_empty_by_key)
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    suite_outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {
        "validate": 0.0, "validate_cpu": 0.0})


def _typed_source(table: SourceTable, raw: pd.DataFrame, checked: pd.DataFrame) -> pd.DataFrame:
    """The contract's columns: text as extracted, other types as parsed for the checks."""
    return pd.DataFrame({c.name: raw[c.name] if c.type == "text" else checked[value_column(c.name)]
                         for c in table.columns}, copy=False)


def _validate_table(conn: Connection, gx: GxRunner, table: SourceTable, frame: pd.DataFrame,
                    start: datetime, end: datetime, rules: QualityRules,
                    state: _Interval) -> ValidatedTable:
    raw = text_frame(frame.reindex(columns=table.column_names))
    checked = check_frame(conn, table, raw, rules, state.accepted, state.accepted_quantity,
                          known_by=start, accepted_orders=(state.accepted_line_orders,
                                                           state.accepted_order_dates))
    outcomes: list[Outcome] = []
    if len(raw):
        checks = row_checks(table, rules, end)
        required = [c for c in checks if c.expectation == "ExpectColumnValuesToNotBeNull"]
        outcomes = (gx.run(f"{table.name}.required", raw, required)
                    + gx.run_by_column(f"{table.name}.rows", checked,
                                       [c for c in checks if c not in required]))
    entries, quarantined = quarantine_entries(table, raw, outcomes)
    valid = np.ones(len(raw), dtype=bool)
    valid[list(quarantined)] = False
    rows = _typed_source(table, raw, checked)  # filtered as it is written, a part at a time
    keys = rows[table.key][valid].reset_index(drop=True)
    state.accepted[table.name] = keys
    if table.name == ORDERED_TABLE:
        state.accepted_quantity = pd.Series(rows[ORDERED].to_numpy()[valid], index=keys.array)
        state.accepted_line_orders = pd.Series(
            rows["order_id"].to_numpy(dtype=object)[valid], index=keys.array)
    if table.name == ORDER_TABLE:
        state.accepted_order_dates = pd.Series(
            rows["order_date"].to_numpy()[valid], index=keys.array)
    for entry in entries:
        state.quarantined_by_rule[entry["rule"]] = state.quarantined_by_rule.get(
            entry["rule"], 0) + 1
    table_checks: list[Check] = []
    volume = volume_check(table, rules, previous_rows_in(
        conn, table.name, start, end, rules.volume.history)) if (
        table.name in rules.volume.tables) else None
    if isinstance(volume, str):
        state.skipped.append(volume)
    elif volume is not None:
        table_checks.append(volume)
    if len(raw) >= rules.min_rows_for_share:
        table_checks.append(quarantine_share_check(table, rules))
    share = len(quarantined) / len(raw) if len(raw) else 0.0
    suite_frame = pd.DataFrame({QUARANTINED_SHARE: np.full(len(raw), share)})
    state.suite_outcomes += gx.run(f"{table.name}.table", suite_frame, table_checks)
    updated = checked[value_column("updated_at")].max()
    return ValidatedTable(table.name, rows, entries, len(raw), len(quarantined),
                          None if pd.isna(updated) else updated.to_pydatetime(),
                          valid if quarantined else None)


def _freshness(gx: GxRunner, source_url: str, tables: list[SourceTable],
               end: datetime) -> list[Outcome]:
    """The freshness suite over every extracted table with a ``freshness_hours``."""
    dated = [t for t in tables if t.freshness_hours is not None]
    newest = pd.DataFrame({t.name: pd.Series([source_max_updated_at(source_url, t.name)],
                                             dtype="datetime64[ns]") for t in dated})
    return gx.run("source.freshness", newest, [freshness_check(t, end) for t in dated])


def validate_and_load(warehouse_url: str, source_url: str, frames: Mapping[str, pd.DataFrame],
                      start: datetime, end: datetime, *,
                      quality_dir: Path | None = None) -> GateResult:
    """Validate the raw extracts ``frames`` of ``[start, end)``, quarantine, load, record.

    ``frames`` maps source table names to their raw extracts (as ``extract_interval``
    returns them); tables missing from it are not touched. GX's results are written
    under ``quality_dir/<interval start>/`` (default: the settings' quality folder). The
    writes are committed together (``IntervalWriter``).
    """
    start, end = naive_utc(start), naive_utc(end)
    return_freed_memory_promptly()
    tables = [source_table(name) for name in frames]
    ordered = [t for t in SOURCE_TABLES if t in tables]
    results_dir = Path(quality_dir or settings().quality_dir) / interval_folder(start)
    rules = quality_rules()
    writer = IntervalWriter(warehouse_url, start, end, [t.name for t in ordered])
    with writer:
        conn = writer.reads
        began = time.perf_counter()
        gx = GxRunner(results_dir)
        state = _Interval()
        state.seconds["gx_setup"] = time.perf_counter() - began
        for table in ordered:
            frame = frames[table.name]
            large = len(frame) >= RELEASE_MEMORY_ROWS
            with _timed(state.seconds, "validate"):
                validated = _validate_table(conn, gx, table, frame, start, end, rules, state)
            del frame
            writer.send(validated)
            del validated  # the rows are parked or written now
            if large:
                release_memory()
        with _timed(state.seconds, "validate"):
            state.suite_outcomes += _freshness(gx, source_url, ordered, end)
            failed = sorted(o.rule for o in state.suite_outcomes if not o.success)
        writer.send(GateVerdict(not failed, failed, state.skipped, str(results_dir)))
        report = writer.commit()
    state.seconds["load"] = report.seconds
    return GateResult(
        interval_start=start, interval_end=end, passed=not failed, failed_expectations=failed,
        tables={t.name: report.tables[t.name] for t in ordered},
        quarantined_by_rule=dict(sorted(state.quarantined_by_rule.items())),
        results_path=str(results_dir), skipped_checks=state.skipped,
        phase_seconds=state.seconds,
    )


@contextmanager
def _timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Add the wall seconds (``phase``) and CPU seconds of this process (``phase_cpu``)
    spent inside to ``seconds``."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        seconds[phase] += time.perf_counter() - wall
        seconds[f"{phase}_cpu"] += time.process_time() - cpu


def gate_status(warehouse_url: str, start: datetime) -> GateResult | None:
    """The stored verdict of the interval starting at ``start`` (None if never gated)."""
    with engine_for(warehouse_url).connect() as conn:
        record = gate_record(conn, naive_utc(start))
    if record is None:
        return None
    run = record["run"]
    return GateResult(
        interval_start=run["interval_start"], interval_end=run["interval_end"],
        passed=run["status"] == "passed",
        failed_expectations=json.loads(run["failed_expectations"]),
        tables={r["source_table"]: {k: int(r[k]) for k in
                                    ("rows_in", "rows_loaded", "rows_quarantined")}
                for r in sorted(record["loads"], key=lambda r: r["source_table"])},
        quarantined_by_rule=dict(sorted(record["quarantined_by_rule"].items())),
        results_path=run["results_path"],
        skipped_checks=json.loads(run["skipped_checks"] or "[]"),
    )


class LandedFrames(Mapping[str, pd.DataFrame]):
    """Landed extracts by table name, each read from its Parquet file when asked for (a file
    still being extracted, a future, is waited for)."""

    def __init__(self, paths: Mapping[str, Path | Future[Path]]) -> None:
        self.paths = dict(paths)

    def path(self, name: str) -> Path:
        """The landed file of table ``name`` (once it has landed)."""
        path = self.paths[name]
        return path.result() if isinstance(path, Future) else path

    def __getitem__(self, name: str) -> pd.DataFrame:
        return read_landed(self.path(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


def collect_processes() -> multiprocessing.context.BaseContext:
    """How the collect stage starts its extraction processes: forked from a server process
    that imported the stage's modules once, instead of each process importing pandas,
    pyarrow and SQLAlchemy anew (seconds of CPU apiece). The server starts single-threaded
    from a fresh interpreter, so forking it is safe."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["cx_tasks.collect.quality"])
    return context


def extract_and_land(source_url: str, table_name: str, landing_dir: Path, start: datetime,
                     end: datetime) -> Path:
    """Extract one table's rows of ``[start, end)`` and land them; return the file."""
    return land(extract_table(source_url, table_name, start, end), landing_dir, table_name,
                start)


def collect_interval(warehouse_url: str, source_url: str, landing_dir: Path,
                     start: datetime, end: datetime, *, quality_dir: Path | None = None,
                     workers: int = 1) -> GateResult:
    """Extract every contract table for ``[start, end)``, land it, validate and load it.

    The gate validates each table as soon as it has landed, while the next are extracted.
    A SQLite source, or one worker, is read by one reader (``extract_tables``: on SQLite,
    ADBC in a process of its own) and landed by a thread. With more than one worker,
    another database is read ``workers`` tables at a time, in contract order, in processes
    of their own (``collect_processes``: its driver's rows cost Python CPU).
    """
    began = time.perf_counter()
    landed_at: dict[str, float] = {}
    names = [t.name for t in SOURCE_TABLES]
    with _extraction(workers, source_url) as pool:
        if isinstance(pool, ProcessPoolExecutor):
            landed = {name: pool.submit(extract_and_land, source_url, name, landing_dir,
                                        start, end) for name in names}
        else:
            landed = {name: Future() for name in names}
            pool.submit(_land_each, source_url, landed, landing_dir, start, end)
        for name, future in landed.items():
            future.add_done_callback(
                lambda _, name=name: landed_at.setdefault(name, time.perf_counter()))
        result = validate_and_load(warehouse_url, source_url, LandedFrames(landed), start, end,
                                   quality_dir=quality_dir)
    result.phase_seconds = {"extract": max(landed_at.values()) - began, **result.phase_seconds}
    return result


def _extraction(workers: int, source_url: str) -> ThreadPoolExecutor | ProcessPoolExecutor:
    """Where the tables are extracted: a thread (``_land_each``), or processes."""
    if workers <= 1 or sqlite_file(engine_for(source_url)) is not None:
        return ThreadPoolExecutor(1, thread_name_prefix="cx-landing")
    return ProcessPoolExecutor(workers, mp_context=collect_processes())


def _land_each(source_url: str, landed: Mapping[str, Future[Path]], landing_dir: Path,
               start: datetime, end: datetime) -> None:
    """Extract the tables of ``landed`` in one read and land each, resolving its future."""
    try:
        for name, rows in extract_tables(source_url, list(landed), start, end):
            landed[name].set_result(land(rows, landing_dir, name, start))
    except BaseException as error:
        for future in landed.values():
            if not future.done():
                future.set_exception(error)
