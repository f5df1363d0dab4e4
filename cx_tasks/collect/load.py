"""Loading an interval into the warehouse: staging upserts, quarantine, load log, gate record.

Every write is idempotent: staging rows are upserted on their key (an older version
never replaces a newer one), an interval's quarantine entries of a table are replaced
as a whole, the load log and the gate record are upserted on the interval.

Staging tables take millions of rows in a history load. On SQLite the rows are parked
as Arrow in a scratch database and upserted from there natively (``warehouse.bulk``); other
databases get the rows as bound dictionaries. A table still empty (a history load) has
its secondary indexes dropped and built once after the rows are in: a sort instead of
millions of random index updates.

An interval's writes happen in one transaction (``IntervalWriter``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Connection,
    Table,
    delete,
    func,
    literal,
    select,
)

from cx_tasks.collect.contract import source_table
from cx_tasks.warehouse.bulk import ParkedWrites, sqlite_file, storage_rows, upsert_parked
from cx_tasks.warehouse.db import engine_for, frame_records, upsert
from cx_tasks.warehouse.frames import typed_frame
from cx_tasks.warehouse.schema import STAGING, load_log, quality_runs, quarantine

CHUNK_ROWS = 50_000
PARK_ROWS = 250_000
"""Rows of a validated table converted and parked at a time (SQLite)."""
LOOKUP_CHUNK = 10_000
LOOKUP_WHOLE_TABLE = 50_000


def _chunks(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), CHUNK_ROWS):
        yield frame.iloc[start:start + CHUNK_ROWS]


def is_empty(conn: Connection, table: Table) -> bool:
    """Whether ``table`` holds no row."""
    return conn.execute(select(literal(1)).select_from(table).limit(1)).first() is None


@contextmanager
def indexes_built_after_when_empty(conn: Connection, table: Table) -> Iterator[None]:
    """While ``table`` is empty (a history load), drop its secondary indexes for the writes
    inside and build them after: one sort instead of millions of random index updates."""
    indexes = sorted(table.indexes, key=lambda index: str(index.name))
    if not indexes or not is_empty(conn, table):
        yield
        return
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def staging_frame(table_name: str, rows: pd.DataFrame, interval_start: datetime) -> pd.DataFrame:
    """An interval's valid rows, typed, stamped with the interval that loads them."""
    return typed_frame(source_table(table_name), rows, arrow_text=True).assign(
        interval_start=pd.Timestamp(interval_start))


def load_staging(conn: Connection, table_name: str, rows: pd.DataFrame,
                 interval_start: datetime) -> int:
    """Upsert an interval's valid rows, typed, into ``stg_<table>`` (newer versions win)."""
    staging = STAGING[table_name]
    names = [c.name for c in staging.columns]
    with indexes_built_after_when_empty(conn, staging):
        for chunk in _chunks(rows):
            upsert(conn, staging, frame_records(
                staging_frame(table_name, chunk, interval_start)[names]), newer_than="updated_at")
    return len(rows)


def replace_quarantine(conn: Connection, table_name: str, interval_start: datetime,
                       entries: Sequence[Mapping[str, Any]]) -> int:
    """Replace the interval's quarantine entries of one table with ``entries``."""
    conn.execute(delete(quarantine).where(quarantine.c.source_table == table_name,
                                          quarantine.c.interval_start == interval_start))
    if entries:
        conn.execute(quarantine.insert(), [
            {**e, "source_table": table_name, "interval_start": interval_start}
            for e in entries])
    return len(entries)


def record_load(conn: Connection, table_name: str, interval_start: datetime,
                interval_end: datetime, counts: Mapping[str, int],
                max_updated_at: datetime | None) -> None:
    """Upsert the load log row of one table and interval."""
    upsert(conn, load_log, [{
        "source_table": table_name, "interval_start": interval_start,
        "interval_end": interval_end, "rows_in": counts["rows_in"],
        "rows_loaded": counts["rows_loaded"], "rows_quarantined": counts["rows_quarantined"],
        "max_updated_at": max_updated_at,
    }])


def record_gate(conn: Connection, interval_start: datetime, interval_end: datetime,
                passed: bool, failed: Sequence[str], skipped: Sequence[str],
                results_path: str | None) -> None:
    """Upsert the interval's gate record in ``quality_runs``."""
    upsert(conn, quality_runs, [{
        "interval_start": interval_start, "interval_end": interval_end,
        "status": "passed" if passed else "blocked",
        "failed_expectations": json.dumps(list(failed)),
        "skipped_checks": json.dumps(list(skipped)),
        "results_path": results_path,
    }])


@dataclass
class ValidatedTable:
    """One table of an interval after the gate: its typed rows and which of them load, the
    quarantine entries, and the counts the load log records."""

    table_name: str
    rows: pd.DataFrame
    entries: list[dict[str, str]]
    rows_in: int
    rows_quarantined: int
    max_updated_at: datetime | None
    valid: np.ndarray | None = None
    """Which of ``rows`` load, the others being quarantined (None: every one)."""

    def valid_rows(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """The rows that load among positions ``[start, stop)``, numbered from 0 (taken a
        part at a time, a history load never copies a whole table's rows)."""
        part = self.rows.iloc[start:stop]
        if self.valid is not None:
            part = part[self.valid[start:stop]]
        return part.reset_index(drop=True)


def load_table(conn: Connection, validated: ValidatedTable, interval_start: datetime,
               interval_end: datetime, *, parked_as: str | None = None) -> dict[str, int]:
    """Load a validated table: upsert its rows into staging (with ``parked_as``: the rows
    parked for it in the scratch database attached under that name), replace its
    quarantine entries, check rows in = rows loaded + rows quarantined, write the load log;
    return the counts."""
    name = validated.table_name
    staging = STAGING[name]
    if parked_as is not None:
        with indexes_built_after_when_empty(conn, staging):
            loaded = upsert_parked(conn, staging, parked_as, newer_than="updated_at")
    else:
        loaded = load_staging(conn, name, validated.valid_rows(), interval_start)
    replace_quarantine(conn, name, interval_start, validated.entries)
    counts = {"rows_in": validated.rows_in, "rows_loaded": loaded,
              "rows_quarantined": validated.rows_quarantined}
    if counts["rows_in"] != counts["rows_loaded"] + counts["rows_quarantined"]:
        raise RuntimeError(f"{name}: {counts['rows_in']} rows in but "
                           f"{counts['rows_loaded']} loaded + {counts['rows_quarantined']} "
                           "quarantined")
    record_load(conn, name, interval_start, interval_end, counts, validated.max_updated_at)
    return counts


@dataclass
class GateVerdict:
    """The interval's gate record as ``record_gate`` writes it."""

    passed: bool
    failed: list[str]
    skipped: list[str]
    results_path: str | None


@dataclass
class WriterReport:
    """What an ``IntervalWriter`` did: counts per table loaded, and seconds spent writing."""

    tables: dict[str, dict[str, int]]
    seconds: float


class IntervalWriter(AbstractContextManager["IntervalWriter"]):
    """The interval's warehouse writes (validated tables, then the gate record), applied in
    the order sent and committed together by ``commit``; on an exception nothing is kept.

    On SQLite the writes happen in a background transaction (``ParkedWrites``): a table sent
    is parked as Arrow and upserted from there natively while the caller validates the next
    one. The caller reads the warehouse through ``reads`` meanwhile, which sees none of
    this interval's writes: the gate never needs them, a table's rows loaded this interval
    are among the accepted rows it checks first. Other databases write each message in the
    caller's transaction as it is sent, and read in the same transaction (on PostgreSQL a
    history load's index drop would lock a second connection's reads out until the
    commit).
    """

    def __init__(self, warehouse_url: str, interval_start: datetime, interval_end: datetime,
                 tables: Sequence[str]) -> None:
        self.engine = engine_for(warehouse_url)
        self.interval = (interval_start, interval_end)
        self.tables = list(tables)
        self.report = WriterReport({}, 0.0)
        self._writes: ParkedWrites | None = None
        self._transaction: Any = None
        self._conn: Connection | None = None

    def __enter__(self) -> IntervalWriter:
        if sqlite_file(self.engine) is not None:
            self._writes = ParkedWrites(self.engine, [STAGING[t] for t in self.tables])
            self._writes.__enter__()
            self._conn = self.engine.connect()
        else:
            self._transaction = self.engine.begin()
            self._conn = self._transaction.__enter__()
        return self

    @property
    def reads(self) -> Connection:
        """The connection the caller reads the warehouse with while the writes go on."""
        assert self._conn is not None
        return self._conn

    def send(self, message: ValidatedTable | GateVerdict) -> None:
        """Write a validated table (of ``tables``, in their order) or the gate record."""
        began = time.perf_counter()
        if self._writes is None:
            self._write(message, self.reads)
        elif isinstance(message, ValidatedTable):
            name, staging, rows = message.table_name, STAGING[message.table_name], message.rows
            pieces = (storage_rows(staging, staging_frame(
                          name, message.valid_rows(i, i + PARK_ROWS), self.interval[0]))
                      for i in range(0, max(len(rows), 1), PARK_ROWS))
            self._writes.send(partial(self._write, replace(message, rows=rows.iloc[:0],
                                                           valid=None)), staging, pieces)
        else:
            self._writes.send(partial(self._write, message))
        self.report.seconds += time.perf_counter() - began

    def _write(self, message: ValidatedTable | GateVerdict, conn: Connection,
               parked_as: str | None = None) -> None:
        if isinstance(message, ValidatedTable):
            self.report.tables[message.table_name] = load_table(
                conn, message, *self.interval, parked_as=parked_as)
        else:
            record_gate(conn, *self.interval, message.passed, message.failed,
                        message.skipped, message.results_path)

    def commit(self) -> WriterReport:
        """Commit every write sent; return what was written."""
        began = time.perf_counter()
        if self._writes is None:
            transaction, self._transaction = self._transaction, None
            transaction.__exit__(None, None, None)
        else:
            self._writes.commit()
        self.report.seconds += time.perf_counter() - began
        return self.report

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._transaction is not None:
            self._transaction.__exit__(kind, error, trace)
        elif self._conn is not None:
            self._conn.close()
        if self._writes is not None:
            self._writes.__exit__(kind, error, trace)


def previous_rows_in(conn: Connection, table_name: str, interval_start: datetime,
                     interval_end: datetime, limit: int) -> list[int]:
    """``rows_in`` of the table's latest ``limit`` intervals before ``interval_start`` that
    are as long as this one (a history load is no yardstick for a night)."""
    query = (select(load_log.c.interval_start, load_log.c.interval_end, load_log.c.rows_in)
             .where(load_log.c.source_table == table_name,
                    load_log.c.interval_start < interval_start)
             .order_by(load_log.c.interval_start.desc()))
    length = interval_end - interval_start
    alike = (rows_in for start, end, rows_in in conn.execute(query) if end - start == length)
    return list(itertools.islice(alike, limit))


def arrow_text(values: pd.Series | Sequence[str]) -> pa.Array:
    """Text values as one contiguous Arrow string array (nulls kept)."""
    array = pa.array(values, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def is_in(values: pd.Series, candidates: pd.Series | Sequence[str]) -> np.ndarray:
    """Which of the text ``values`` are among ``candidates`` (a null never is)."""
    found = pc.is_in(arrow_text(values), value_set=arrow_text(candidates).drop_null())
    return found.to_numpy(zero_copy_only=False).astype(bool)


def lookup(keys: pd.Series, table: pd.Series) -> np.ndarray:
    """For each text key, the float ``table`` holds under it (its index); NaN where none."""
    where = pc.index_in(arrow_text(keys), value_set=arrow_text(table.index.to_series()))
    positions = where.fill_null(-1).to_numpy(zero_copy_only=False)
    found = positions >= 0
    values = np.full(len(keys), np.nan)
    values[found] = table.to_numpy(dtype="float64")[positions[found]]
    return values


def only_where(values: pd.Series, mask: np.ndarray) -> pd.Series:
    """``values`` where ``mask`` holds, None elsewhere, as an object column."""
    out = np.full(len(values), None, dtype=object)
    chosen = np.flatnonzero(mask)
    out[chosen] = values.iloc[chosen].to_numpy(dtype=object)
    return pd.Series(out, index=values.index, dtype=object)


def staged_rows(conn: Connection, table_name: str, column: str, values: pd.Series,
                columns: Sequence[str], known_by: datetime) -> pd.DataFrame:
    """``columns`` of the staged rows of a table whose ``column`` is one of the text
    ``values``, among the rows first loaded by the interval starting at ``known_by`` or
    earlier (so a rerun of an old interval sees what its first run saw)."""
    staging = STAGING[table_name]
    selected = select(*(staging.c[c] for c in columns)).where(
        staging.c.interval_start <= known_by)
    if not len(values):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    if len(values) > LOOKUP_WHOLE_TABLE:
        frame = pd.read_sql(selected, conn)
        return frame[is_in(frame[column], values)].reset_index(drop=True)
    parts = [pd.read_sql(selected.where(staging.c[column].in_(
                 values.iloc[i:i + LOOKUP_CHUNK].tolist())), conn)
             for i in range(0, len(values), LOOKUP_CHUNK)]
    return pd.concat(parts, ignore_index=True)


def gate_record(conn: Connection, interval_start: datetime) -> dict[str, Any] | None:
    """The stored gate record, load log and quarantine counts of one interval."""
    run = conn.execute(select(quality_runs).where(
        quality_runs.c.interval_start == interval_start)).mappings().first()
    if run is None:
        return None
    loads = conn.execute(select(load_log).where(
        load_log.c.interval_start == interval_start)).mappings().all()
    by_rule = conn.execute(
        select(quarantine.c.rule, func.count())
        .where(quarantine.c.interval_start == interval_start)
        .group_by(quarantine.c.rule)).all()
    return {"run": dict(run), "loads": [dict(r) for r in loads],
            "quarantined_by_rule": {rule: int(n) for rule, n in by_rule}}
