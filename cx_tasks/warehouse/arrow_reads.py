"""Queries on a SQLite file (the warehouse, or a SQLite source) answered as Arrow tables by
ADBC, in a process of its own.

Python's ``sqlite3`` builds a Python object for every value it returns: millions of rows
cost seconds. ADBC's SQLite driver builds Arrow columns in C, several times faster, but it
is a second copy of SQLite, and two copies with the same database open in one process do
not see each other's locks (``cx_tasks.warehouse.bulk``). So the queries run in a child
process (``python -m cx_tasks.warehouse.arrow_reads``, a request as JSON on its standard
input), in one read transaction: every table is read as of the same moment. The child
writes each answer as an Arrow IPC file into a temporary folder and the caller maps each
as soon as it is written.

ADBC types a SQLite column by the values it returns (SQLite has no column types); its
values are read in one batch, so the type is that of every value (a column of nulls only,
or no rows, comes back as int64, which ``frames.typed_column`` reads as any type).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:  # the child process imports no more than it needs
    from sqlalchemy import Dialect, Executable

WHOLE_ANSWER_ROWS = 1_000_000_000
"""ADBC's SQLite batch size, in rows (it refuses 2**31 - 1): every answer in one batch,
typed by all its values (with smaller batches a later batch whose values differ in type
from the first fails the read)."""


def read_tables(database: Path, queries: Mapping[str, tuple[str, Sequence[Any]]],
                folder: Path | None = None) -> Iterator[tuple[str, pa.Table]]:
    """The answer to each query (name: SQL with ``?`` placeholders, and its bound values) on
    the SQLite file ``database``, by name in the order given, each as soon as the child
    process has read it (the caller works on one while the next is read). The child's
    files go under ``folder`` (default: the system's temporary folder), gone at the end."""
    names = list(queries)
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                       os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="cx-arrow-reads-", dir=folder) as out, \
            tempfile.TemporaryFile("w+") as errors:
        request = {"database": str(database), "folder": out,
                   "queries": [[sql, list(values)] for sql, values in queries.values()]}
        with subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=errors, text=True,
                              env=env) as child:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(json.dumps(request))
            child.stdin.close()
            for line in child.stdout:  # the number of each answer written
                yield names[int(line)], _mapped(Path(out) / f"{int(line)}.arrow")
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"reading {database} through ADBC failed "
                               f"(exit {child.returncode}): {errors.read().strip()}")


def positional(query: Executable, dialect: Dialect) -> tuple[str, list[Any]]:
    """A query as SQL with ``?`` placeholders and its values as ``dialect`` stores them:
    a query of ``read_tables``."""
    compiled = query.compile(dialect=dialect)
    values = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        store = bind.type.dialect_impl(dialect).bind_processor(dialect)
        values.append(store(bind.value) if store else bind.value)
    return compiled.string, values


def _mapped(path: Path) -> pa.Table:
    """An Arrow IPC file's table, its buffers mapped from the file (they outlive its name)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def answer(request: Mapping[str, Any]) -> None:
    """Run a request's queries in one read transaction; write answer ``i`` (in the order
    given) as ``<folder>/<i>.arrow``, then its number on a line of standard output.

    ADBC's own API, not its DB-API module: that one imports pandas, thrice the start.
    """
    import adbc_driver_manager
    import adbc_driver_sqlite

    folder = Path(request["folder"])
    with adbc_driver_sqlite.connect(request["database"]) as database, \
            adbc_driver_manager.AdbcConnection(database) as conn:
        conn.set_options(**{"adbc.connection.autocommit": "false"})
        for index, (sql, values) in enumerate(request["queries"]):
            with adbc_driver_manager.AdbcStatement(conn) as statement:
                statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(WHOLE_ANSWER_ROWS)})
                statement.set_sql_query(sql)
                if values:
                    statement.bind(pa.record_batch([pa.array([v]) for v in values],
                                                   names=[str(i) for i in range(len(values))]))
                stream, _ = statement.execute_query()
                table = pa.RecordBatchReader.from_stream(stream).read_all()
            with pa.OSFile(str(folder / f"{index}.arrow"), "wb") as sink, \
                    pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            del table
            print(index, flush=True)
        conn.rollback()


if __name__ == "__main__":
    answer(json.load(sys.stdin))
