"""Extraction: each source table's rows new or changed in a data interval, as the source's text.

A row is extracted when its ``updated_at`` lies in ``[start, end)``; the statement is
``sql/extract/<table>.sql``. Nothing is coerced to the contract's types here: every value
is kept as the text of what the source holds (SQL NULL stays null), so ``'n/a'`` in a
numeric column reaches the quality gate and is quarantined there with its rule, instead
of silently becoming a null. The text frames land as Parquet (every column a string)
under ``landing_dir/<interval start>/<table>.parquet`` so extraction and validation can
run as separate tasks; an extract goes there as Arrow (``extract_table``), never through
pandas.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, TextClause, text

from cx_tasks.collect.contract import source_table
from cx_tasks.sqltemplates import render_sql
from cx_tasks.warehouse.arrow_reads import positional, read_tables
from cx_tasks.warehouse.bulk import sqlite_file
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.times import naive_utc

FETCH_ROWS = 100_000
SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def interval_params(dialect: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The ``:start``/``:end`` bind values for a source: ISO text on SQLite, datetimes elsewhere.

    SQLite keeps timestamps as ISO text (``YYYY-MM-DD HH:MM:SS``) and compares them as
    text, so the bounds are bound as text of the same shape; other databases compare
    real timestamps.
    """
    start, end = naive_utc(start), naive_utc(end)
    if dialect == "sqlite":
        return {"start": start.strftime(SQLITE_TIMESTAMP), "end": end.strftime(SQLITE_TIMESTAMP)}
    return {"start": start, "end": end}


def text_schema(columns: Sequence[str]) -> pa.Schema:
    """The Arrow schema of a raw extract: every column a string."""
    return pa.schema([(c, pa.string()) for c in columns])


def text_array(values: Sequence[Any] | pd.Series) -> pa.Array:
    """Source values as an Arrow string array: each value's text, nulls kept null."""
    try:
        return pa.array(values, from_pandas=True).cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return _mixed_text(pd.Series(values, dtype=object))


def _mixed_text(values: pd.Series) -> pa.Array:
    """A column mixing types (text in a numeric column): numbers converted at once, the few
    other values one by one."""
    numbers = pd.to_numeric(values, errors="coerce")
    text = pa.array(numbers, from_pandas=True).cast(pa.string()).to_numpy(zero_copy_only=False)
    others = np.flatnonzero((values.notna() & numbers.isna()).to_numpy())
    text[others] = [_value_text(v) for v in values.iloc[others]]
    return pa.array(text, pa.string(), from_pandas=True)


def _value_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every column as text (string dtype, nulls kept): the raw form validated."""
    columns = {}
    for name in frame.columns:
        values = frame[name]
        columns[name] = (values if pd.api.types.is_string_dtype(values) and values.dtype != object
                         else text_array(values).to_pandas())
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)), copy=False)


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while millions of short-lived row tuples come and go."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def extract_tables(source_url: str, table_names: Sequence[str], start: datetime,
                   end: datetime) -> Iterator[tuple[str, pa.Table]]:
    """Each table's rows with ``updated_at`` in ``[start, end)``, every value as text, by
    name in the order given, each as soon as it is read.

    Columns are the contract's, in its order; rows come in the template's order (by key,
    then ``updated_at``). Raises when a template's columns differ from the contract. A
    SQLite source is read by ADBC in a process of its own (``arrow_reads``), every table
    in one read transaction, each value as SQLite's own text of it (``CAST(... AS TEXT)``:
    a real number with the digits that give it back exactly, ``58.0`` for 58); another
    database row by row through its driver, each value as Arrow's text of what it returns.
    """
    engine = engine_for(source_url)
    params = interval_params(engine.dialect.name, start, end)
    with engine.connect() as conn:
        statements = {name: _checked_template(conn, name, params) for name in table_names}
    database = sqlite_file(engine)
    if database is None:
        for name, statement in statements.items():
            yield name, _fetched_as_text(engine, statement, params)
        return
    quote = engine.dialect.identifier_preparer.quote
    queries = {}
    for name, statement in statements.items():
        columns = source_table(name).column_names
        as_text = ", ".join(f"CAST({quote(c)} AS TEXT) AS {quote(c)}" for c in columns)
        queries[name] = positional(
            text(f"SELECT {as_text} FROM ({statement.text}\n) AS extract").bindparams(**params),
            engine.dialect)
    for name, rows in read_tables(database, queries):
        # a column of nulls only comes typed int64 (ADBC types by value)
        yield name, rows.cast(text_schema(rows.column_names))


def extract_table(source_url: str, table_name: str, start: datetime,
                  end: datetime) -> pa.Table:
    """``extract_tables`` of one table."""
    return dict(extract_tables(source_url, [table_name], start, end))[table_name]


def _checked_template(conn: Connection, table_name: str, params: dict[str, Any]) -> TextClause:
    """The extraction statement of ``table_name``, once its columns are found to be the
    contract's (asked of the database without reading a row)."""
    table = source_table(table_name)
    statement = render_sql(f"extract/{table.name}")
    probe = text(f"SELECT * FROM ({statement.text}\n) AS extract LIMIT 0")
    columns = list(conn.execute(probe, params).keys())
    if columns != table.column_names:
        raise ValueError(f"sql/extract/{table.name}.sql returns {columns}, "
                         f"the contract says {table.column_names}")
    return statement


def _fetched_as_text(engine: Engine, statement: TextClause,
                     params: dict[str, Any]) -> pa.Table:
    """A statement's rows through the driver, a chunk at a time, every value as text."""
    with engine.connect() as conn:
        result = conn.execute(statement, params)
        columns = list(result.keys())
        cursor = result.cursor
        batches = []
        with _collection_paused():
            while rows := cursor.fetchmany(FETCH_ROWS):
                # a column at a time: a fifth of the CPU of transposing with zip(*rows)
                batches.append(pa.RecordBatch.from_arrays(
                    [text_array(list(map(itemgetter(i), rows))) for i in range(len(columns))],
                    names=columns))
    return pa.Table.from_batches(batches, schema=text_schema(columns))


def extract_interval(source_url: str, table_name: str, start: datetime,
                     end: datetime) -> pd.DataFrame:
    """``extract_table`` as a pandas frame (string columns)."""
    return extract_table(source_url, table_name, start, end).to_pandas()


def source_max_updated_at(source_url: str, table_name: str) -> datetime | None:
    """The newest ``updated_at`` a source table holds (None when it is empty)."""
    table = source_table(table_name)
    with engine_for(source_url).connect() as conn:
        value = conn.execute(render_sql("extract/freshness", table=table.name)).scalar()
    if value is None:
        return None
    return naive_utc(pd.Timestamp(value).to_pydatetime())


def interval_folder(start: datetime) -> str:
    """The folder name of an interval's files: its start as naive-UTC ISO text."""
    return naive_utc(start).isoformat()


def landed_path(landing_dir: Path, table_name: str, start: datetime) -> Path:
    """Where the raw extract of one table and interval lands."""
    return Path(landing_dir) / interval_folder(start) / f"{source_table(table_name).name}.parquet"


def land(frame: pd.DataFrame | pa.Table, landing_dir: Path, table_name: str,
         start: datetime) -> Path:
    """Write a raw extract as Parquet, every column a string; return the file."""
    path = landed_path(landing_dir, table_name, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(frame, pa.Table):
        arrow = frame.cast(text_schema(frame.column_names))
    else:
        text = text_frame(frame)
        arrow = pa.Table.from_arrays([text_array(text[c]) for c in text.columns],
                                     names=list(text.columns))
    partial = path.with_suffix(".parquet.partial")
    pq.write_table(arrow, partial)
    partial.replace(path)
    return path


def read_landed(path: Path | str) -> pd.DataFrame:
    """A raw extract as written by ``land`` (every column text)."""
    return pq.read_table(path).to_pandas()
