"""Extraction from a supplier database built from the contract's DDL, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import text

from cx_tasks.collect.contract import SOURCE_TABLES
from cx_tasks.collect.extract import (
    extract_interval,
    extract_tables,
    land,
    landed_path,
    read_landed,
    source_max_updated_at,
)
from cx_tasks.collect.quality import collect_processes, extract_and_land
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


def test_a_sqlite_source_is_read_at_once_as_sqlites_own_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'supplier.db'}"
    tables, indexes = schema_statements()
    with engine_for(url).begin() as conn:
        for statement in tables + indexes:
            conn.exec_driver_sql(statement)
        conn.execute(text(
            "INSERT INTO erp_order_lines (order_line_id, order_id, product_id, quantity, unit, "
            "promised_date, price, cost, cancelled, updated_at) VALUES "
            "(:id, 'O1', 'P1', :quantity, 't', '2026-05-10', 7.25, 5, 0, :updated)"),
            [{"id": "L2", "quantity": "n/a", "updated": "2026-05-01 08:00:00"},
             {"id": "L1", "quantity": 10.5, "updated": "2026-05-01 09:00:00"},
             {"id": "L3", "quantity": 58, "updated": "2026-05-01 10:00:00"},
             {"id": "L4", "quantity": 0.1 + 0.2, "updated": "2026-05-01 11:00:00"}])
    _insert_products(url, [("P1", "2026-05-01 07:00:00")])
    extracted = dict(extract_tables(url, ["erp_order_lines", "erp_products"], START, END))
    assert list(extracted) == ["erp_order_lines", "erp_products"]
    lines = extracted["erp_order_lines"].to_pydict()
    assert lines["order_line_id"] == ["L1", "L2", "L3", "L4"]  # ordered by key
    # text kept, a real number with the digits that give it back exactly
    assert lines["quantity"] == ["10.5", "n/a", "58.0", "0.30000000000000004"]
    assert lines["price"] == ["7.25"] * 4 and lines["cost"] == ["5.0"] * 4
    assert lines["cancelled"] == ["0"] * 4
    products = extracted["erp_products"]  # a column of nulls only is text too
    assert products.column("product_id").to_pylist() == ["P1"]
    assert products.column("category").to_pylist() == [None]
    assert products.schema.field("category").type == pa.string()


def test_extraction_processes_land_what_one_reader_reads(source_url: str,
                                                          tmp_path: Path) -> None:
    # collect_interval's workers for a database other than SQLite: forked processes
    _insert_products(source_url, [("P2", "2026-05-01 08:00:00"), ("P1", "2026-05-01 09:00:00")])
    with ProcessPoolExecutor(2, mp_context=collect_processes()) as pool:
        path = pool.submit(extract_and_land, source_url, "erp_products", tmp_path, START,
                           END).result()
    assert path == landed_path(tmp_path, "erp_products", START)
    landed = read_landed(path)
    assert landed["product_id"].tolist() == ["P1", "P2"]
    assert landed["updated_at"].str.startswith("2026-05-01 09:00:00").iloc[0]
    pd.testing.assert_frame_equal(landed, extract_interval(source_url, "erp_products", START,
                                                           END))
