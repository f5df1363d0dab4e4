"""Typed pandas frames of the contract's tables, read from staging or built in tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from operator import itemgetter
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Select,
    select,
)
from sqlalchemy.types import TypeEngine

from cx_tasks.collect.contract import SourceTable, source_table
from cx_tasks.warehouse.arrow_reads import positional, read_tables
from cx_tasks.warehouse.bulk import sqlite_file
from cx_tasks.warehouse.schema import STAGING

READ_CHUNK_ROWS = 100_000
"""Rows fetched from staging at a time (each chunk is typed before the next is fetched)."""


def typed_frame(table: SourceTable, frame: pd.DataFrame, arrow_text: bool = False) -> pd.DataFrame:
    """``frame`` with the contract's dtypes (see ``typed_column``)."""
    out = frame.copy()
    for column in table.columns:
        if column.name in out.columns:
            out[column.name] = typed_column(out[column.name], column.type, arrow_text)
    return out


def typed_column(values: pd.Series, kind: str, arrow_text: bool = False) -> pd.Series:
    """``values`` as the dtype of a contract column type: dates and timestamps datetime64,
    floats float64, integers Int64, booleans bool (null is False), text Python strings
    (null is None) or, with ``arrow_text``, pandas' Arrow-backed ``str`` (null is NaN);
    unreadable values become nulls."""
    if kind in ("date", "timestamp"):
        return _datetimes(values)
    if kind == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if kind == "integer":
        return pd.to_numeric(values, errors="coerce").astype("Int64")
    if kind == "boolean":
        return values.astype("boolean").fillna(False).astype(bool)
    text = values.astype("str")
    return text if arrow_text else text.astype(object).where(text.notna(), None)


def _datetimes(values: pd.Series) -> pd.Series:
    """Dates and timestamps as datetime64 (NaT when unreadable); ISO 8601 text is read in one
    vectorised pass (Arrow's, for Arrow-backed text), anything else value by value."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if isinstance(values.dtype, pd.StringDtype):
        try:  # Arrow's ISO 8601 parser: a fraction of the time, when every value is ISO
            return pd.Series(pa.array(values, type=pa.string(), from_pandas=True).cast(
                pa.timestamp("us")).to_pandas(), index=values.index)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    retry = parsed.isna() & values.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(values[retry], errors="coerce", format="mixed")
    return parsed


def frame_of(table_name: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A typed frame of ``table_name`` from plain rows (missing columns become nulls)."""
    table = source_table(table_name)
    frame = pd.DataFrame(list(rows), columns=table.column_names)
    return typed_frame(table, frame)


def read_staging(
    bind: Engine | Connection,
    table_name: str,
    columns: list[str] | None = None,
    known_by: datetime | None = None,
    *,
    arrow_text: bool = False,
) -> pd.DataFrame:
    """The validated rows of one source table as loaded in staging, with contract dtypes.

    With ``known_by`` (an interval's start) only rows first loaded by that interval or
    an earlier one: what the pipeline knew when that interval ran. Rows are fetched as
    the driver returns them, in chunks, and each chunk is typed at once. With
    ``arrow_text`` text columns are pandas' Arrow-backed ``str`` (null is NaN), not Python
    strings: a fraction of the memory, and what the metrics' key joins read without a copy.
    """
    query, kinds = _staging_query(table_name, columns, known_by)
    chunks = []
    with _connected(bind) as conn:
        result = conn.execute(query)
        try:
            while rows := result.cursor.fetchmany(READ_CHUNK_ROWS):
                chunks.append(_chunk_frame(kinds, rows, arrow_text))
        finally:
            result.close()
    if not chunks:
        return _chunk_frame(kinds, [], arrow_text)
    return pd.concat(chunks, ignore_index=True)


def read_staging_tables(engine: Engine, tables: Mapping[str, list[str] | None],
                        known_by: datetime | None = None) -> dict[str, pd.DataFrame]:
    """``read_staging`` of each table (name: its columns, None for all) with Arrow text. On
    a SQLite file ADBC reads them, in a process of its own (``arrow_reads``), every table
    as of one moment; elsewhere the driver, in one transaction."""
    database = sqlite_file(engine)
    if database is None:
        with engine.begin() as conn:
            return {name: read_staging(conn, name, wanted, known_by, arrow_text=True)
                    for name, wanted in tables.items()}
    queries, kinds = {}, {}
    for name, wanted in tables.items():
        query, kinds[name] = _staging_query(name, wanted, known_by)
        queries[name] = positional(query, engine.dialect)
    # a column of nulls only comes as int64 (ADBC types by value): typed_column reads it
    return {name: pd.DataFrame({column: typed_column(_arrow_series(table.column(column)),
                                                     kind, arrow_text=True)
                                for column, kind in kinds[name].items()}, copy=False)
            for name, table in read_tables(database, queries, folder=database.parent)}


def _staging_query(table_name: str, columns: list[str] | None,
                   known_by: datetime | None) -> tuple[Select[Any], dict[str, str]]:
    """The query of ``read_staging``, and the contract type of each column it returns."""
    staging = STAGING[table_name]
    selected = [staging.c[c] for c in columns] if columns else list(staging.c)
    query = select(*selected)
    if known_by is not None:
        query = query.where(staging.c.interval_start <= known_by)
    return query, {c.name: _kind(c.type) for c in selected}


def _connected(bind: Engine | Connection) -> AbstractContextManager[Connection]:
    """A connection to read with: a new one from an engine, or ``bind`` itself (left open)."""
    return bind.connect() if isinstance(bind, Engine) else nullcontext(bind)


def _kind(sql_type: TypeEngine[Any]) -> str:
    """The contract column type a staging column's SQL type stores."""
    for types, kind in ((DateTime, "timestamp"), (Date, "date"), (Float, "float"),
                        (Integer, "integer"), (Boolean, "boolean")):
        if isinstance(sql_type, types):
            return kind
    return "text"


def _chunk_frame(kinds: Mapping[str, str], rows: Sequence[Sequence[Any]],
                 arrow_text: bool) -> pd.DataFrame:
    """Driver rows as a typed frame, one column per ``kinds`` entry (name: contract type)."""
    return pd.DataFrame({
        name: typed_column(_column(list(map(itemgetter(i), rows)), _ARROW_TYPES.get(kind)),
                           kind, arrow_text)
        for i, (name, kind) in enumerate(kinds.items())
    })


_ARROW_TYPES: dict[str, pa.DataType] = {
    "float": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(),
}
"""Arrow types to read driver values as (text and dates: text, or as the driver gives them)."""


def _column(values: Sequence[Any], arrow_type: pa.DataType | None) -> pd.Series:
    """One column of driver values in ``arrow_type`` (default text, else as inferred) when
    every value fits, else as Python objects."""
    for wanted in (arrow_type or pa.large_string(), None):
        try:
            array = pa.array(values, type=wanted, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        return _arrow_series(array)
    return pd.Series(values, dtype=object)


def _arrow_series(values: pa.Array | pa.ChunkedArray) -> pd.Series:
    """Arrow values as a series: text as pandas' Arrow-backed ``str``, the rest as numpy."""
    if pa.types.is_large_string(values.type) or pa.types.is_string(values.type):
        return pd.Series(values, dtype="str")
    return pd.Series(values.to_pandas(date_as_object=False))
