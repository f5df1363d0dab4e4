"""Writing the simulated supplier's database and its separate ground-truth file.

SQLite (the default) is written into a fresh temporary file with journaling off, one
transaction and one ``executemany`` per table, indexes built after the data, and then
moved over the target in one rename; a big simulation writes half its tables in a forked
helper process into a second file that is merged with ``INSERT ... SELECT``. Other
databases (PostgreSQL) get the contract's tables dropped and recreated from
``sql/source/schema.sql`` and filled through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.process
import os
import re
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import column, create_engine, insert, table, text
from sqlalchemy.engine import make_url

from cx_tasks.collect.contract import SOURCE_TABLES
from cx_tasks.simulate.rows import SourceRows

Progress = Callable[[str, int, int], None]
CHUNK_ROWS = 50_000
PARALLEL_ROWS = 1_000_000
PG_CHUNK_ROWS = 5_000


def source_schema_path() -> Path:
    """``sql/source/schema.sql`` of the repository this package lives in."""
    path = Path(__file__).resolve().parents[2] / "sql" / "source" / "schema.sql"
    if not path.exists():
        raise FileNotFoundError(f"source DDL not found at {path}; run from a CX Loop checkout")
    return path


def schema_statements() -> tuple[list[str], list[str]]:
    """The source DDL split into table statements and index statements."""
    sql = "\n".join(
        line
        for line in source_schema_path().read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("--")
    )
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    indexes = [s for s in statements if re.match(r"CREATE\s+(UNIQUE\s+)?INDEX", s, re.I)]
    return [s for s in statements if s not in indexes], indexes


def is_sqlite(url: str) -> bool:
    """Does ``url`` point at a SQLite database?"""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL (in-memory databases cannot hold a simulation)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError(f"the simulated supplier needs a database file, not {url!r}")
    return Path(database)


def write_source(url: str, tables: list[SourceRows], progress: Progress | None = None) -> None:
    """(Re)create the supplier's contract tables at ``url`` and fill them with ``tables``."""
    if is_sqlite(url):
        _write_sqlite(sqlite_path(url), tables, progress)
    else:
        _write_sqlalchemy(url, tables, progress)


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress("write", done, total)


def _balanced(tables: list[SourceRows]) -> tuple[list[SourceRows], list[SourceRows]]:
    """Tables split in two halves of about equal writing work (rows x columns)."""
    halves: tuple[list[SourceRows], list[SourceRows]] = ([], [])
    work = [0, 0]
    for rows in sorted(tables, key=lambda t: -t.length * (len(t.columns) + 2)):
        side = 0 if work[0] <= work[1] else 1
        halves[side].append(rows)
        work[side] += rows.length * (len(rows.columns) + 2)
    return halves


def _fill(
    path: Path,
    creates: list[str],
    tables: list[SourceRows],
    written: Any,
    progress: Callable[[], None] | None = None,
) -> None:
    """A fresh SQLite file with every source table, ``tables`` filled (journal and sync off)."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-100000",
            "locking_mode=EXCLUSIVE",
            "temp_store=MEMORY",
        ):
            conn.execute(f"PRAGMA {pragma}")
        for statement in creates:
            conn.execute(statement)
        for rows in tables:
            marks = ", ".join("?" * len(rows.columns))
            sql = f"INSERT INTO {rows.name} ({', '.join(rows.columns)}) VALUES ({marks})"
            conn.execute("BEGIN")
            for chunk in rows.chunks(CHUNK_ROWS):
                conn.executemany(sql, chunk)
                with written.get_lock():
                    written.value += len(chunk)
                if progress is not None:
                    progress()
            conn.execute("COMMIT")
    finally:
        conn.close()


def _helper_main(path: Path, creates: list[str], tables: list[SourceRows], written: Any) -> None:
    """Body of the forked helper: fill its file, then leave at once (``os._exit``) so that
    nothing inherited from the parent (threads' locks, atexit hooks) runs in the child."""
    code = 1
    try:
        _fill(path, creates, tables, written)
        code = 0
    finally:
        os._exit(code)


def _helper_process(
    path: Path, creates: list[str], tables: list[SourceRows], written: Any
) -> multiprocessing.process.BaseProcess | None:
    """A forked process writing ``tables`` into ``path`` (None off Linux, where fork is unsafe
    or unavailable; the caller then writes everything itself)."""
    if not sys.platform.startswith("linux"):
        return None
    process = multiprocessing.get_context("fork").Process(
        target=_helper_main, args=(path, creates, tables, written), daemon=True
    )
    process.start()
    return process


def _index(conn: sqlite3.Connection, indexes: list[str], tables: list[SourceRows]) -> None:
    """Run the index statements of ``tables``."""
    names = {t.name for t in tables}
    for statement in indexes:
        if re.search(r"\bON\s+(\w+)", statement, re.I).group(1) in names:
            conn.execute(statement)


class _Tally:
    """Rows written so far, counted in this process only."""

    def __init__(self) -> None:
        self.value = 0

    def get_lock(self) -> contextlib.nullcontext:
        return contextlib.nullcontext()


def _write_sqlite(path: Path, tables: list[SourceRows], progress: Progress | None) -> None:
    """Fill a fresh file and index it, then move it over ``path``. A big simulation writes
    half its tables in a forked helper meanwhile, merged (and indexed) once it is done."""
    creates, indexes = schema_statements()
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(path.name + ".simulating")
    part = path.with_name(path.name + ".simulating-part")
    total = sum(t.length for t in tables)
    parallel = total >= PARALLEL_ROWS and sys.platform.startswith("linux")
    written = multiprocessing.get_context("fork").Value("q", 0) if parallel else _Tally()

    def report() -> None:
        _report(progress, written.value, total)

    mine, theirs = _balanced(tables) if parallel else (tables, [])
    helper = _helper_process(part, creates, theirs, written) if theirs else None
    try:
        _fill(fresh, creates, mine, written, report)
        conn = sqlite3.connect(fresh, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            _index(conn, indexes, mine)
            if helper is not None:
                while helper.is_alive():
                    helper.join(0.2)
                    report()
                if helper.exitcode != 0:
                    raise RuntimeError(f"the helper writing {[t.name for t in theirs]} failed")
                conn.execute("ATTACH DATABASE ? AS part", (str(part),))
                for rows in theirs:
                    conn.execute("BEGIN")
                    conn.execute(f"INSERT INTO main.{rows.name} SELECT * FROM part.{rows.name}")
                    conn.execute("COMMIT")
                conn.execute("DETACH DATABASE part")
                _index(conn, indexes, theirs)
        finally:
            conn.close()
    finally:
        if helper is not None and helper.is_alive():
            helper.terminate()
        part.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(fresh, path)
    report()


def _write_sqlalchemy(url: str, tables: list[SourceRows], progress: Progress | None) -> None:
    creates, indexes = schema_statements()
    total, done = sum(t.length for t in tables), 0
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for contract in reversed(SOURCE_TABLES):
                conn.execute(text(f"DROP TABLE IF EXISTS {contract.name}"))
            for statement in creates:
                conn.execute(text(statement))
        for rows in tables:
            target = table(rows.name, *(column(c) for c in rows.columns))
            with engine.begin() as conn:
                for chunk in rows.chunks(PG_CHUNK_ROWS):
                    conn.execute(
                        insert(target), [dict(zip(rows.columns, r, strict=True)) for r in chunk]
                    )
                    done += len(chunk)
                    _report(progress, done, total)
        with engine.begin() as conn:
            for statement in indexes:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _sqlite_type(series: pd.Series) -> str:
    kind = series.dtype.kind
    return {"i": "INTEGER", "u": "INTEGER", "b": "INTEGER", "f": "REAL"}.get(kind, "TEXT")


def _plain(series: pd.Series) -> list:
    values = series.to_numpy()
    if values.dtype.kind == "f":
        return [None if v != v else v for v in values.tolist()]
    if values.dtype.kind == "b":
        return values.astype(int).tolist()
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in values.tolist()]


def write_ground_truth(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write the answer key (a SQLite file the pipeline never reads), replacing any old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        for name, frame in tables.items():
            cols = ", ".join(f'"{c}" {_sqlite_type(frame[c])}' for c in frame.columns)
            conn.execute(f'CREATE TABLE "{name}" ({cols})')
            marks = ", ".join("?" * len(frame.columns))
            rows = zip(*(_plain(frame[c]) for c in frame.columns), strict=True)
            conn.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)
        conn.commit()
    finally:
        conn.close()


def rows_per_table(tables: list[SourceRows]) -> dict[str, int]:
    """Row count per written table."""
    return {t.name: int(t.length) for t in tables}
