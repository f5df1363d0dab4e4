"""Bulk upserts into a SQLite warehouse: rows parked as Arrow in a scratch database, then
upserted by one native ``INSERT ... SELECT ... ON CONFLICT``.

Binding millions of rows one by one through Python's ``sqlite3`` costs microseconds a
row. Instead the rows are parked in scratch databases next to the warehouse through
ADBC's bulk ingest (C, in a background thread, so the caller goes on meanwhile) and a
warehouse transaction, with the scratch databases attached, upserts them from there: the
rows never pass through Python again. Values are parked in SQLAlchemy's SQLite storage
form (ISO text for dates and timestamps, 0/1 for booleans), so the warehouse holds
exactly what a row-by-row write would have stored.

Rows are never read from the warehouse through ADBC: its SQLite is a second copy of the
library in the process, and two copies with the same database file open do not see each
other's locks or write-ahead log (such reads went stale after a night's commit). ADBC only
writes scratch databases, each read by the warehouse connection once ADBC is done with it.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
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

from cx_tasks.warehouse.db import frame_records, upsert, upsert_statement

SCHEMA = "parked"
"""The name scratch databases are attached under (with their number) in the transaction."""


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


def sqlite_file(bind: Engine | Connection) -> Path | None:
    """The database file of an engine on a SQLite file (None for a connection, another
    database, or an in-memory one)."""
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    database = bind.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path if path.exists() else None


def storage_rows(table: Table, frame: pd.DataFrame) -> pa.Table:
    """The rows of ``frame`` in the SQLite storage form of ``table`` (a column the frame
    lacks is null, as a bound row without it would store)."""
    missing = pd.Series([None] * len(frame), dtype=object)
    return pa.table({c.name: sqlite_storage(frame.get(c.name, missing), c.type)
                     for c in table.columns})


def _parked_table(table: Table, schema: str) -> Any:
    """The scratch database's copy of ``table``, as attached under ``schema``."""
    return sql_table(table.name, *(sql_column(c.name) for c in table.columns), schema=schema)


def upsert_parked(conn: Connection, table: Table, schema: str, *,
                  newer_than: str | None = None) -> int:
    """Upsert the rows parked for ``table`` in the scratch database attached as ``schema``
    into it (``upsert_statement``: with ``newer_than``, newer versions win); return how many
    rows were parked."""
    parked = _parked_table(table, schema)
    # "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint
    rows = select(*(parked.c[c.name] for c in table.columns)).where(true())
    conn.execute(upsert_statement("sqlite", table, newer_than=newer_than, rows=rows))
    return conn.execute(select(func.count()).select_from(parked)).scalar_one()


def scratch_folder(engine: Engine) -> Path | None:
    """Where an engine's scratch databases go: beside its SQLite file (same disk), else
    the system's temporary folder."""
    path = sqlite_file(engine)
    return path.parent if path is not None else None


SCRATCH_FILES = 9
"""Scratch databases at most per transaction: SQLite attaches at most 10 by default."""

OWN_FILE_ROWS = 100_000
"""Rows from which a table's scratch database takes no further table, so that its write
runs as soon as its rows are parked (while there are databases left for the tables after
it); a smaller table's database also takes the tables sent after it."""

Write = Callable[[Connection, str], Any]
"""A write of the transaction: given the connection and the schema its table's parked rows
are attached under (unused by writes without parked rows), it returns what it wrote."""


@dataclass
class _Job:
    """Rows to park for ``table`` (``start``: the first of the table, replacing what an
    earlier transaction left), then, once the table's rows are all there, ``write``."""

    table: Table | None
    rows: pa.Table | None
    write: Write | None
    start: bool = True


_COMMIT, _ROLLBACK = "commit", "rollback"


class ParkedWrites(AbstractContextManager["ParkedWrites"]):
    """One transaction on a SQLite warehouse, run by a background thread, whose writes come
    with rows parked in scratch databases.

    ``tables`` are the tables whose rows may be sent: they share at most ``SCRATCH_FILES``
    scratch databases, all attached before the transaction begins (SQLite attaches nothing
    inside one). The thread parks each table's rows in a database through ADBC's bulk
    ingest and runs the writes in the order sent, each as soon as its database holds every
    table it will hold: read inside the transaction, a database shows it as it was then.
    Tables sent one after another share a database until one of ``OWN_FILE_ROWS`` rows or
    more closes it, so a large table's write waits for no later table. Loading a table
    thus overlaps whatever the caller does next. ``commit`` waits for every write and
    commits them together, returning their results in order; leaving without it keeps
    nothing.
    """

    def __init__(self, engine: Engine, tables: Sequence[Table]) -> None:
        self.engine = engine
        self._tables = {t.name for t in tables}
        self._files = min(SCRATCH_FILES, len(tables)) or 1
        self._file_of: dict[str, int] = {}  # the database of each table sent so far
        self._closed: set[int] = set()  # databases that take no further table
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._jobs: queue.Queue[_Job | str] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        self._results: list[Any] = []
        self._error: BaseException | None = None

    def __enter__(self) -> ParkedWrites:
        self._dir = tempfile.TemporaryDirectory(prefix="cx-parked-",
                                                dir=scratch_folder(self.engine))
        self._thread = threading.Thread(target=self._run, name="cx-parked-writes", daemon=True)
        self._thread.start()
        return self

    def _path(self, file: int) -> str:
        assert self._dir is not None
        return str(Path(self._dir.name) / f"parked-{file}.sqlite")

    def send(self, write: Write, table: Table | None = None,
             rows: Iterable[pa.Table] = ()) -> None:
        """Queue ``write``; with ``table`` (one of the tables named up front) park its
        ``rows`` first: pieces of ``storage_rows``, at least one (it may be empty), each
        made only when the thread has taken the one before, so that few are in memory."""
        if table is None:
            self._put(_Job(None, None, write))
            return
        if table.name not in self._tables:
            raise ValueError(f"{table.name} is not among the tables named up front")
        pieces = iter(rows)
        piece = next(pieces, None)
        if piece is None:
            raise ValueError(f"no rows to park for {table.name}: send one piece, even empty")
        start = True
        while piece is not None:
            following = next(pieces, None)
            self._put(_Job(table, piece, write if following is None else None, start))
            piece, start = following, False

    def _put(self, item: _Job | str) -> None:
        while True:
            self._raise_failure()
            try:
                self._jobs.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"a parked write failed: {self._error}") from self._error
        if self._thread is not None and not self._thread.is_alive():
            raise RuntimeError("the thread of the parked writes has ended")

    def commit(self) -> list[Any]:
        """Run and commit every write sent; return their results in the order sent."""
        self._put(_COMMIT)
        assert self._thread is not None
        self._thread.join()
        self._thread = None
        self._raise_failure()
        return self._results

    def _run(self) -> None:
        import adbc_driver_sqlite.dbapi

        files = range(self._files)
        parked_rows: dict[str, int] = {}
        waiting: list[_Job] = []
        job: _Job | str | None = None
        try:
            with self.engine.connect() as conn:
                for file in files:
                    conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SCHEMA}_{file}",
                                         (self._path(file),))
                conn.commit()
                try:
                    # explicit, so that DDL inside (a history load's index drop) is part of it
                    conn.exec_driver_sql("BEGIN")
                    while (job := self._jobs.get()) not in (_COMMIT, _ROLLBACK):
                        assert isinstance(job, _Job)
                        if job.rows is not None and job.table is not None:
                            name = job.table.name
                            file = self._file_for(name)
                            with adbc_driver_sqlite.dbapi.connect(self._path(file)) as scratch:
                                with scratch.cursor() as cursor:
                                    cursor.adbc_ingest(name, job.rows,
                                                       mode="replace" if job.start else "append")
                                scratch.commit()
                            parked_rows[name] = parked_rows.get(name, 0) + job.rows.num_rows
                            job.rows = None
                            if (job.write is not None and parked_rows[name] >= OWN_FILE_ROWS
                                    and file < self._files - 1):
                                self._closed.add(file)
                        if job.write is None:
                            continue
                        waiting.append(job)
                        while waiting and self._ready(waiting[0]):
                            self._results.append(self._write(conn, waiting.pop(0)))
                    if job == _ROLLBACK:
                        conn.rollback()
                        return
                    for left in waiting:  # tables never sent: their databases are complete
                        self._results.append(self._write(conn, left))
                    conn.commit()
                except BaseException:
                    conn.rollback()
                    raise
                finally:
                    for file in files:
                        conn.exec_driver_sql(f"DETACH DATABASE {SCHEMA}_{file}")
                    conn.commit()
        except BaseException as error:  # noqa: BLE001 - raised in the caller's thread
            self._error = error
            # take what the caller still sends (it finds the error at its next send) until
            # it commits or leaves, unless it has (a write run at the commit failed)
            while job not in (_COMMIT, _ROLLBACK):
                job = self._jobs.get()

    def _file_for(self, table_name: str) -> int:
        """The scratch database of a table: the one of the table before, unless closed."""
        if table_name not in self._file_of:
            latest = max(self._file_of.values(), default=0)
            self._file_of[table_name] = latest + 1 if latest in self._closed else latest
        return self._file_of[table_name]

    def _ready(self, job: _Job) -> bool:
        """Whether ``job``'s scratch database holds every table it will hold."""
        return job.table is None or self._file_of[job.table.name] in self._closed

    def _write(self, conn: Connection, job: _Job) -> Any:
        assert job.write is not None
        schema = f"{SCHEMA}_{self._file_of[job.table.name]}" if job.table is not None else ""
        return job.write(conn, schema)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._thread is not None:  # not committed: the transaction is rolled back
            while self._thread.is_alive():
                try:
                    self._jobs.put(_ROLLBACK, timeout=0.2)
                    break
                except queue.Full:
                    continue
            self._thread.join()
            self._thread = None
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
            return sum(upsert(conn, table, frame_records(frame)) for table, frame in frames)
    with ParkedWrites(engine, [table for table, _ in frames]) as writes:
        if first is not None:
            writes.send(lambda conn, _: conn.execute(first))
        for table, frame in frames:
            writes.send(lambda conn, schema, table=table: upsert_parked(conn, table, schema),
                        table, [storage_rows(table, frame)])
        results = writes.commit()
    return sum(results[1 if first is not None else 0:])
