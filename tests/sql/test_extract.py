"""Extraction from a supplier database built from the contract's DDL, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from cx_tasks.collect.contract import SOURCE_TABLES
from cx_tasks.collect.extract import (
    extract_interval,
    land,
    landed_path,
    read_landed,
    source_max_updated_at,
)
from cx_tasks.simulate.writer import schema_statements
from cx_tasks.warehouse.db import engine_for

START, END = datetime(2026, 5, 1), datetime(2026, 5, 2)


@pytest.fixture(params=["sqlite", "postgresql"])
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A supplier database with the contract's 13 tables (sql/source/schema.sql), empty."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'supplier.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    tables, indexes = schema_statements()
    with engine_for(url).begin() as conn:
        for statement in tables + indexes:
            conn.exec_driver_sql(statement)
    yield url
    engine_for(url).dispose()


def _insert_products(url: str, rows: list[tuple[str, str]]) -> None:
    with engine_for(url).begin() as conn:
        conn.execute(text("INSERT INTO erp_products VALUES (:id, 'Steel', NULL, 't', :u)"),
                     [{"id": pid, "u": updated} for pid, updated in rows])


def test_an_interval_takes_rows_changed_in_start_to_end_exclusive(source_url: str) -> None:
    _insert_products(source_url, [
        ("P3", "2026-05-01 00:00:00"),  # at the start: in
        ("P1", "2026-05-01 23:59:59"),  # in
        ("P2", "2026-04-30 23:59:59"),  # before: out
        ("P4", "2026-05-02 00:00:00"),  # at the end: out
    ])
    frame = extract_interval(source_url, "erp_products", START, END)
    assert list(frame.columns) == ["product_id", "name", "category", "unit", "updated_at"]
    assert frame["product_id"].tolist() == ["P1", "P3"]  # ordered by key
    assert frame["category"].isna().all()
    assert frame["updated_at"].str.startswith("2026-05-01 23:59:59").iloc[0]
    assert source_max_updated_at(source_url, "erp_products") == datetime(2026, 5, 2)


def test_every_template_selects_its_contract_columns(source_url: str) -> None:
    for table in SOURCE_TABLES:
        assert list(extract_interval(source_url, table.name, START, END).columns) == (
            table.column_names)
    assert source_max_updated_at(source_url, "erp_orders") is None  # empty table


def test_landing_keeps_the_sources_text(tmp_path: Path) -> None:
    raw = pd.DataFrame({"order_line_id": ["L1", "L2"], "quantity": [10.5, "n/a"],
                        "promised_date": ["2026-05-10", None]})
    path = land(raw, tmp_path, "erp_order_lines", START)
    assert path == landed_path(tmp_path, "erp_order_lines", START)
    assert path == tmp_path / "2026-05-01T00:00:00" / "erp_order_lines.parquet"
    back = read_landed(path)
    assert back["quantity"].tolist() == ["10.5", "n/a"]
    assert back["promised_date"].iloc[0] == "2026-05-10" and pd.isna(
        back["promised_date"].iloc[1])
