"""Typed pandas frames of the contract's tables, read from staging or built in tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select

from cx_tasks.collect.contract import SourceTable, source_table
from cx_tasks.warehouse.schema import STAGING


def typed_frame(table: SourceTable, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the contract's dtypes: dates and timestamps as datetime64, floats, bools."""
    out = frame.copy()
    for column in table.columns:
        if column.name not in out.columns:
            continue
        values = out[column.name]
        if column.type in ("date", "timestamp"):
            out[column.name] = pd.to_datetime(values, errors="coerce", format="mixed")
        elif column.type == "float":
            out[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif column.type == "integer":
            out[column.name] = pd.to_numeric(values, errors="coerce").astype("Int64")
        elif column.type == "boolean":
            out[column.name] = values.astype("boolean").fillna(False).astype(bool)
        else:
            out[column.name] = values.astype("string").astype(object).where(values.notna(), None)
    return out


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
) -> pd.DataFrame:
    """The validated rows of one source table as loaded in staging, with contract dtypes.

    With ``known_by`` (an interval's start) only rows first loaded by that interval or
    an earlier one: what the pipeline knew when that interval ran.
    """
    staging = STAGING[table_name]
    selected = [staging.c[c] for c in columns] if columns else list(staging.c)
    query = select(*selected)
    if known_by is not None:
        query = query.where(staging.c.interval_start <= known_by)
    frame = pd.read_sql(query, bind)
    return typed_frame(source_table(table_name), frame)
