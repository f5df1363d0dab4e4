"""Reading a SQLite warehouse as Arrow through ADBC: whole columns in C, no object per value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, Select

ONE_BATCH = 1 << 30
"""Rows per result batch: all of them, so the driver infers each column's type from every
row (from the first batch alone, a column null there would be read as integers)."""


def sqlite_file(bind: Engine | Connection) -> Path | None:
    """The database file of an engine on a SQLite file (None for a connection, which may
    hold writes not yet committed, another database, or an in-memory one)."""
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    database = bind.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return path if path.exists() else None


def fetch_arrow(engine: Engine, path: Path, query: Select[Any]) -> pa.Table:
    """The rows of ``query`` on the SQLite file ``path`` of ``engine`` as one Arrow table;
    bound values are converted as SQLAlchemy stores them (timestamps as ISO text)."""
    import adbc_driver_sqlite.dbapi

    compiled = query.compile(dialect=engine.dialect)
    given = compiled.construct_params()
    values = []
    for name in compiled.positiontup or ():
        convert = compiled.binds[name].type.bind_processor(engine.dialect)
        values.append(convert(given[name]) if convert else given[name])
    with adbc_driver_sqlite.dbapi.connect(str(path)) as conn, conn.cursor() as cursor:
        cursor.adbc_statement.set_options(
            **{"adbc.sqlite.query.batch_rows": str(ONE_BATCH)})
        cursor.execute(str(compiled), parameters=values or None)
        return cursor.fetch_arrow_table()
