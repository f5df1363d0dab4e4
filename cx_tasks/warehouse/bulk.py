"""Bulk upserts into a SQLite warehouse: rows parked as Arrow in a scratch database, then
upserted by one native ``INSERT ... SELECT ... ON CONFLICT``.

Binding millions of rows one by one through Python's ``sqlite3`` costs microseconds a
row. Instead the rows are parked in a scratch database next to the warehouse through
ADBC's bulk ingest (C, in a background thread, so the caller goes on meanwhile) and a
warehouse transaction, with the scratch database attached, upserts them from there: the
rows never pass through Python again. Values are parked in SQLAlchemy's SQLite storage
form (ISO text for dates and timestamps, 0/1 for booleans), so the warehouse holds
exactly what a row-by-row write would have stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Executable,
    Float,
    Integer,
    Table,
    func,
    select,
    true,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table

from cx_tasks.warehouse.arrow_sqlite import sqlite_file
from cx_tasks.warehouse.db import upsert, upsert_statement

SCHEMA = "parked"
"""The name the scratch database is attached under in the warehouse transaction."""


def sqlite_storage(values: pd.Series, sql_type: Any) -> pa.Array:
    """One column in SQLAlchemy's SQLite storage form: timestamps as ISO text with
    microseconds, dates as ISO text, booleans as 0/1, nulls null."""
    if isinstance(sql_type, DateTime):
        return pa.array(values.astype("datetime64[us]"), from_pandas=True).cast(pa.string())
    if isinstance(sql_type, Date):
        return pa.array(values.astype("datetime64[us]"), from_pandas=True).cast(
            pa.date32()).cast(pa.string())
    if isinstance(sql_type, Boolean):
        return pa.array(values, type=pa.bool_(), from_pandas=True).cast(pa.int64())
    if isinstance(sql_type, Float):
        return pa.array(values, type=pa.float64(), from_pandas=True)
    if isinstance(sql_type, Integer):
        return pa.array(values, type=pa.int64(), from_pandas=True)
    return pa.array(values, type=pa.string(), from_pandas=True)


def storage_rows(table: Table, frame: pd.DataFrame) -> pa.Table:
    """The rows of ``frame`` in the SQLite storage form of ``table`` (a column the frame
    lacks is null, as a bound row without it would store)."""
    missing = pd.Series([None] * len(frame), dtype=object)
    return pa.table({c.name: sqlite_storage(frame.get(c.name, missing), c.type)
                     for c in table.columns})


def _parked_table(table: Table) -> Any:
    """The scratch database's copy of ``table``, as attached under ``SCHEMA``."""
    return sql_table(table.name, *(sql_column(c.name) for c in table.columns), schema=SCHEMA)


def upsert_parked(conn: Connection, table: Table, *, newer_than: str | None = None) -> int:
    """Upsert the rows parked for ``table`` into it (``upsert_statement``: with
    ``newer_than``, newer versions win); return how many rows were parked."""
    parked = _parked_table(table)
    # "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint
    rows = select(*(parked.c[c.name] for c in table.columns)).where(true())
    conn.execute(upsert_statement("sqlite", table, newer_than=newer_than, rows=rows))
    return conn.execute(select(func.count()).select_from(parked)).scalar_one()


def scratch_folder(engine: Engine) -> Path | None:
    """Where an engine's scratch databases go: beside its SQLite file (same disk), else
    the system's temporary folder."""
    path = sqlite_file(engine)
    return path.parent if path is not None else None


class ParkedRows(AbstractContextManager["ParkedRows"]):
    """A scratch SQLite database that rows are parked in, one table each, by a background
    thread; it is deleted on exit."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.path: Path | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._adbc: Any = None
        self._thread: ThreadPoolExecutor | None = None
        self._parked: list[Future[None]] = []

    def __enter__(self) -> ParkedRows:
        import adbc_driver_sqlite.dbapi

        self._dir = tempfile.TemporaryDirectory(prefix="cx-parked-", dir=self.folder)
        self.path = Path(self._dir.name) / "parked.sqlite"
        self._adbc = adbc_driver_sqlite.dbapi.connect(str(self.path))
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cx-parked")
        return self

    def park(self, table: Table, rows: pa.Table) -> None:
        """Write ``rows`` (``storage_rows``) as the scratch copy of ``table``, in the
        background; a table parked again replaces its earlier rows."""
        assert self._thread is not None
        self._parked.append(self._thread.submit(self._ingest, table.name, rows))

    def _ingest(self, name: str, rows: pa.Table) -> None:
        with self._adbc.cursor() as cursor:
            cursor.adbc_ingest(name, rows, mode="replace")
        self._adbc.commit()

    @contextmanager
    def transaction(self, engine: Engine) -> Iterator[Connection]:
        """One warehouse transaction with every parked table attached under ``SCHEMA``
        (attached before it begins and detached after it ends, as SQLite requires)."""
        for parked in self._parked:
            parked.result()
        with engine.connect() as conn:
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SCHEMA}", (str(self.path),))
            conn.commit()
            try:
                # explicit, so that DDL inside (a history load's index drop) is part of it
                conn.exec_driver_sql("BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
            finally:
                conn.exec_driver_sql(f"DETACH DATABASE {SCHEMA}")
                conn.commit()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
        if self._adbc is not None:
            self._adbc.close()
        if self._dir is not None:
            self._dir.cleanup()


def upsert_frames(engine: Engine, frames: Sequence[tuple[Table, pd.DataFrame]], *,
                  first: Executable | None = None) -> int:
    """Upsert each frame into its table, in one transaction that runs ``first`` before them;
    return rows written. On a SQLite file the rows are parked and upserted natively,
    elsewhere bound as rows."""
    if sqlite_file(engine) is None:
        with engine.begin() as conn:
            if first is not None:
                conn.execute(first)
            return sum(upsert(conn, table, frame.astype(object).where(frame.notna(), None)
                              .to_dict("records")) for table, frame in frames)
    with ParkedRows(scratch_folder(engine)) as parked:
        for table, frame in frames:
            parked.park(table, storage_rows(table, frame))
        with parked.transaction(engine) as conn:
            if first is not None:
                conn.execute(first)
            return sum(upsert_parked(conn, table) for table, _ in frames)
