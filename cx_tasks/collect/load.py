"""Loading an interval into the warehouse: staging upserts, quarantine, load log, gate record.

Every write is idempotent: staging rows are upserted on their key (an older version
never replaces a newer one), an interval's quarantine entries of a table are replaced
as a whole, the load log and the gate record are upserted on the interval.

Staging tables take millions of rows in a history load. On SQLite the rows go through
one ``executemany`` of the compiled statement with values already in SQLAlchemy's SQLite
storage form (ISO text for dates and timestamps, 0/1 for booleans), which is an order of
magnitude faster than binding typed row dictionaries; other databases get the row
dictionaries. A table still empty (a history load) has its secondary indexes dropped
and built once after the rows are in: a sort instead of millions of random index updates.

An interval's writes happen in one transaction (``IntervalWriter``): in the gate's own
process, or, for a big interval, in a process of their own, so that loading a table
overlaps validating the next one.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import resource
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Insert,
    Table,
    delete,
    func,
    literal,
    select,
)

from cx_tasks.collect.contract import source_table
from cx_tasks.warehouse.db import engine_for, upsert, upsert_statement
from cx_tasks.warehouse.frames import typed_frame
from cx_tasks.warehouse.schema import STAGING, load_log, quality_runs, quarantine

CHUNK_ROWS = 50_000
LOOKUP_CHUNK = 10_000
LOOKUP_WHOLE_TABLE = 50_000
SEND_ROWS = 100_000
"""Rows of a validated table pickled to the writer process at a time."""


def _sqlite_column(values: pd.Series, sql_type: Any) -> list[Any]:
    """One column in SQLAlchemy's SQLite storage form, nulls as None."""
    if isinstance(sql_type, DateTime):
        text = pa.array(values.astype("datetime64[us]"), from_pandas=True).cast(pa.string())
        return text.to_pylist()
    if isinstance(sql_type, Date):
        return pa.array(values.astype("datetime64[us]"), from_pandas=True).cast(
            pa.date32()).cast(pa.string()).to_pylist()
    if isinstance(sql_type, Boolean) and values.dtype == bool:
        return values.to_numpy(dtype="int64").tolist()
    plain = values.astype(object).where(values.notna(), None).tolist()
    if isinstance(sql_type, Boolean):
        return [None if v is None else int(v) for v in plain]
    return plain


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


def upsert_frame(conn: Connection, table: Table, frame: pd.DataFrame, *,
                 newer_than: str | None = None) -> int:
    """Upsert a typed frame holding every column of ``table``; return rows written."""
    statement = upsert_statement(conn.dialect.name, table, newer_than=newer_than)
    return _write(conn, table, frame[[c.name for c in table.columns]], statement)


def _write(conn: Connection, table: Table, frame: pd.DataFrame, statement: Insert) -> int:
    names = list(frame.columns)
    if conn.dialect.name == "sqlite":
        compiled = statement.compile(dialect=conn.dialect)
        order = [names.index(n) for n in compiled.positiontup]
        types = [table.c[n].type for n in names]
        for chunk in _chunks(frame):
            columns = [_sqlite_column(chunk[n], t) for n, t in zip(names, types, strict=True)]
            conn.exec_driver_sql(str(compiled), list(zip(*(columns[i] for i in order),
                                                         strict=True)))
        return len(frame)
    for chunk in _chunks(frame):
        conn.execute(statement, chunk.astype(object).where(chunk.notna(), None).to_dict("records"))
    return len(frame)


def load_staging(conn: Connection, table_name: str, rows: pd.DataFrame,
                 interval_start: datetime) -> int:
    """Upsert an interval's valid rows, typed, into ``stg_<table>`` (newer versions win)."""
    table, staging = source_table(table_name), STAGING[table_name]
    with indexes_built_after_when_empty(conn, staging):
        for chunk in _chunks(rows):
            typed = typed_frame(table, chunk, arrow_text=True).assign(
                interval_start=pd.Timestamp(interval_start))
            upsert_frame(conn, staging, typed, newer_than="updated_at")
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
    """One table of an interval after the gate: the typed rows to load, the quarantine
    entries, and the counts the load log records."""

    table_name: str
    rows: pd.DataFrame
    entries: list[dict[str, str]]
    rows_in: int
    rows_quarantined: int
    max_updated_at: datetime | None


def load_table(conn: Connection, validated: ValidatedTable, interval_start: datetime,
               interval_end: datetime) -> dict[str, int]:
    """Load a validated table: upsert its rows into staging, replace its quarantine entries,
    check rows in = rows loaded + rows quarantined, write the load log; return the counts."""
    name = validated.table_name
    loaded = load_staging(conn, name, validated.rows, interval_start)
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
    """What an ``IntervalWriter`` did: counts per table loaded, seconds spent writing, and
    the CPU seconds of its process (zero when it wrote in the caller's process)."""

    tables: dict[str, dict[str, int]]
    seconds: float
    process_cpu_seconds: float = 0.0


def _apply(conn: Connection, message: ValidatedTable | GateVerdict, interval_start: datetime,
           interval_end: datetime, report: WriterReport) -> None:
    """Apply one of the interval's writes and account for it in ``report``."""
    began = time.perf_counter()
    if isinstance(message, ValidatedTable):
        report.tables[message.table_name] = load_table(conn, message, interval_start,
                                                       interval_end)
    else:
        record_gate(conn, interval_start, interval_end, message.passed, message.failed,
                    message.skipped, message.results_path)
    report.seconds += time.perf_counter() - began


def collect_processes() -> multiprocessing.context.BaseContext:
    """How the collect stage starts its processes (extraction, writer): forked from a server
    process that imported the stage's modules once, instead of each process importing
    pandas, pyarrow and SQLAlchemy anew (seconds of CPU apiece). The server starts
    single-threaded from a fresh interpreter, so forking it is safe."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["cx_tasks.collect.quality"])
    return context


def _writer_process(warehouse_url: str, interval_start: datetime, interval_end: datetime,
                    pipe: Pipe) -> None:
    """A writer process: apply the writes received on ``pipe`` in one transaction, commit on
    ``None``, reply with the ``WriterReport`` (or the traceback of what failed)."""
    report = WriterReport({}, 0.0)
    try:
        with engine_for(warehouse_url).begin() as conn:
            while (message := pipe.recv()) is not None:
                if isinstance(message, tuple):  # a table without rows, then its rows in pieces
                    table, pieces = message
                    rows = [table.rows, *(pipe.recv() for _ in range(pieces))]
                    message = replace(table, rows=pd.concat(rows, ignore_index=True))
                _apply(conn, message, interval_start, interval_end, report)
            began = time.perf_counter()
        report.seconds += time.perf_counter() - began  # the commit
        usage = resource.getrusage(resource.RUSAGE_SELF)
        report.process_cpu_seconds = usage.ru_utime + usage.ru_stime
        pipe.send(report)
    except BaseException:  # noqa: BLE001 - the parent raises it with this traceback
        pipe.send(traceback.format_exc())
    finally:
        pipe.close()


class IntervalWriter(AbstractContextManager["IntervalWriter"]):
    """The interval's warehouse writes (validated tables, then the gate record), applied in
    the order sent and committed together by ``commit``; on an exception nothing is kept.

    With ``separate_process`` on a SQLite warehouse the writes happen in a process of their
    own (``collect_processes``: worth it for a big interval): ``send`` hands a table
    over and returns, so the caller validates the next table while this one loads; a
    table waits in the pipe until the previous one is written, so at most one is in
    flight. The caller then reads staging through a connection of its own (``reads``),
    which does not see these writes before the commit: the gate never needs them, a
    table's rows loaded this interval are among the accepted rows it checks first. Other
    databases write in the caller's process (on PostgreSQL a history load's index drop
    would lock the caller's reads out until the commit) and read in the same transaction.
    """

    def __init__(self, warehouse_url: str, interval_start: datetime, interval_end: datetime,
                 *, separate_process: bool) -> None:
        self.warehouse_url = warehouse_url
        self.interval = (interval_start, interval_end)
        self.separate_process = (separate_process
                                 and engine_for(warehouse_url).dialect.name == "sqlite")
        self.report = WriterReport({}, 0.0)
        self._transaction: Any = None
        self._conn: Connection | None = None
        self._process: Any = None
        self._pipe: Pipe | None = None
        self._reads: Any = None

    def __enter__(self) -> IntervalWriter:
        engine = engine_for(self.warehouse_url)
        if self.separate_process:
            context = collect_processes()
            self._pipe, theirs = context.Pipe()
            self._process = context.Process(
                target=_writer_process, args=(self.warehouse_url, *self.interval, theirs),
                name="cx-interval-writer", daemon=True)
            self._process.start()
            theirs.close()
            self._reads = engine.connect()
        else:
            self._transaction = engine.begin()
            self._conn = self._transaction.__enter__()
        return self

    @property
    def reads(self) -> Connection:
        """The connection the caller reads the warehouse with while the writes go on."""
        return self._reads if self._reads is not None else self._conn

    def send(self, message: ValidatedTable | GateVerdict) -> None:
        """Write a validated table or the gate record (in the writer process: queue it)."""
        if self._pipe is None:
            assert self._conn is not None
            _apply(self._conn, message, *self.interval, self.report)
            return
        try:
            if isinstance(message, ValidatedTable):
                # in pieces: pickling a table at once would double its memory here
                rows = message.rows
                starts = range(0, len(rows), SEND_ROWS)
                self._pipe.send((replace(message, rows=rows.iloc[:0]), len(starts)))
                for start in starts:
                    self._pipe.send(rows.iloc[start:start + SEND_ROWS])
            else:
                self._pipe.send(message)
        except (BrokenPipeError, ConnectionResetError):
            self._raise_failure()

    def commit(self) -> WriterReport:
        """Commit every write sent; return what was written."""
        if self._pipe is None:
            began = time.perf_counter()
            transaction, self._transaction = self._transaction, None
            transaction.__exit__(None, None, None)
            self.report.seconds += time.perf_counter() - began
            return self.report
        try:
            self._pipe.send(None)
        except (BrokenPipeError, ConnectionResetError):
            self._raise_failure()
        self.report = self._reply()
        self._process.join()
        self._process = None
        return self.report

    def _reply(self) -> WriterReport:
        assert self._pipe is not None
        try:
            reply = self._pipe.recv()
        except EOFError:
            reply = f"the writer process ended with exit code {self._process.exitcode}"
        if isinstance(reply, str):
            raise RuntimeError(f"writing the interval failed:\n{reply}")
        return reply

    def _raise_failure(self) -> None:
        self._reply()
        raise RuntimeError("the writer process stopped reading")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._reads is not None:
            self._reads.close()
        if self._transaction is not None:
            self._transaction.__exit__(kind, error, trace)
        if self._process is not None:  # not committed: its transaction dies with it
            self._process.kill()
            self._process.join()
        if self._pipe is not None:
            self._pipe.close()


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


def staged_rows(conn: Connection, table_name: str, column: str, values: Sequence[str],
                columns: Sequence[str], known_by: datetime) -> pd.DataFrame:
    """``columns`` of the staged rows of a table whose ``column`` is one of ``values``,
    among the rows first loaded by the interval starting at ``known_by`` or earlier
    (so a rerun of an old interval sees what its first run saw)."""
    staging = STAGING[table_name]
    selected = select(*(staging.c[c] for c in columns)).where(
        staging.c.interval_start <= known_by)
    values = list(values)
    if not values:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    if len(values) > LOOKUP_WHOLE_TABLE:
        frame = pd.read_sql(selected, conn)
        return frame[is_in(frame[column], values)].reset_index(drop=True)
    parts = [pd.read_sql(selected.where(staging.c[column].in_(values[i:i + LOOKUP_CHUNK])), conn)
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
