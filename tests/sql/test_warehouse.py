"""Warehouse writes of the collect stage on SQLite and PostgreSQL: migrations and upserts."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import Connection, Table, func, inspect, select, text

from cx_tasks.collect import load
from cx_tasks.collect.load import IntervalWriter, ValidatedTable, load_staging
from cx_tasks.warehouse import bulk, db
from cx_tasks.warehouse.arrow_reads import read_tables
from cx_tasks.warehouse.bulk import ParkedWrites, upsert_frames
from cx_tasks.warehouse.db import engine_for, migrate, upsert
from cx_tasks.warehouse.schema import (
    FEEDBACK_CLASSES_V8_COLUMNS,
    OUTBOX_V2_COLUMNS,
    STAGING,
    load_log,
    metadata,
    schema_version,
)


def test_migrate_creates_every_table_and_a_second_run_changes_nothing(warehouse_url: str) -> None:
    engine = engine_for(warehouse_url)
    assert {t.name for t in metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        versions = conn.execute(select(schema_version)).all()
    assert migrate(engine) == max(v for v, _ in versions)
    with engine.connect() as conn:
        assert conn.execute(select(schema_version)).all() == versions



def test_a_version_1_warehouse_is_migrated_to_version_2(tmp_path: Path, monkeypatch) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'v1.db'}")
    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS[:1])
    migrate(engine)
    with engine.begin() as conn:  # the outbox as version 1 shipped it
        for name in OUTBOX_V2_COLUMNS:
            conn.execute(text(f"ALTER TABLE outbox DROP COLUMN {name}"))
    outbox_v1 = {c["name"] for c in inspect(engine).get_columns("outbox")}
    assert not outbox_v1 & set(OUTBOX_V2_COLUMNS)
    assert "feedback" not in inspect(engine).get_table_names()
    monkeypatch.undo()
    assert migrate(engine) == max(v for v, _, _ in db.MIGRATIONS)
    assert {c["name"] for c in inspect(engine).get_columns("outbox")} == (
        outbox_v1 | set(OUTBOX_V2_COLUMNS))
    assert {"survey_invitations", "survey_skips", "survey_responses", "survey_answers",
            "unsubscribes", "feedback"} <= set(inspect(engine).get_table_names())

def test_a_version_5_warehouse_gets_feedback_polarity_and_recurring(tmp_path: Path,
                                                                   monkeypatch) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'v5.db'}")
    monkeypatch.setattr(db, "MIGRATIONS", [m for m in db.MIGRATIONS if m[0] <= 5])
    migrate(engine)
    with engine.begin() as conn:  # feedback_classes as migration 5 shipped it
        for name in FEEDBACK_CLASSES_V8_COLUMNS:
            conn.execute(text(f"ALTER TABLE feedback_classes DROP COLUMN {name}"))
    monkeypatch.undo()
    assert migrate(engine) == max(v for v, _, _ in db.MIGRATIONS)
    columns = {c["name"] for c in inspect(engine).get_columns("feedback_classes")}
    assert set(FEEDBACK_CLASSES_V8_COLUMNS) <= columns
    with engine.connect() as conn:
        assert 8 in set(conn.scalars(select(schema_version.c.version)))


def _product(name: str, updated_at: str) -> pd.DataFrame:
    return pd.DataFrame({"product_id": ["P1"], "name": [name], "category": [None],
                         "unit": ["t"], "updated_at": [pd.Timestamp(updated_at)]})


def test_an_older_version_never_replaces_a_newer_one(warehouse_url: str) -> None:
    staged = STAGING["erp_products"]
    engine = engine_for(warehouse_url)

    def load(name: str, updated_at: str, interval: datetime) -> tuple[str, datetime]:
        with engine.begin() as conn:
            load_staging(conn, "erp_products", _product(name, updated_at), interval)
            return conn.execute(select(staged.c.name, staged.c.updated_at)).one()

    assert load("v2", "2026-05-02 10:00", datetime(2026, 5, 2)) == (
        "v2", datetime(2026, 5, 2, 10))
    # re-running the day before brings the older version 1: it must not win
    assert load("v1", "2026-05-01 09:00", datetime(2026, 5, 1)) == (
        "v2", datetime(2026, 5, 2, 10))
    assert load("v3", "2026-05-03 08:00", datetime(2026, 5, 3)) == (
        "v3", datetime(2026, 5, 3, 8))


def test_sqlite_parked_rows_store_exactly_what_sqlalchemy_stores(tmp_path: Path) -> None:
    shipments = pd.DataFrame({
        "shipment_id": ["S1", "S2"], "order_line_id": ["L1", "L2"],
        "warehouse": ["WH1", "WH2"], "carrier": ["A", "B"],
        "shipped_qty": [10.0, 2.5], "delivered_qty": [9.5, np.nan],
        "shipped_at": pd.to_datetime(["2026-05-01 06:00:00.123456", "2026-05-01 07:00"],
                                     format="ISO8601"),
        "delivered_at": pd.to_datetime(["2026-05-01 09:30", None]),
        "updated_at": pd.to_datetime(["2026-05-01 09:30", "2026-05-01 07:00"]),
        "interval_start": pd.to_datetime(["2026-05-01", "2026-05-01"]),
    })
    lines = pd.DataFrame({  # a date, a boolean, a null text and a column left out (unit)
        "order_line_id": ["L1", "L2"], "order_id": ["O1", None], "product_id": ["P1", "P2"],
        "quantity": [5.0, 2.0], "promised_date": pd.to_datetime(["2026-05-03", None]),
        "price": [10.0, 20.0], "cost": [8.0, 15.0], "cancelled": [False, True],
        "updated_at": pd.to_datetime(["2026-05-01 08:00", "2026-05-01 09:00"]),
        "interval_start": pd.to_datetime(["2026-05-01", "2026-05-01"]),
    })
    frames = [(STAGING["wms_shipments"], shipments), (STAGING["erp_order_lines"], lines)]

    def as_rows(conn, frames=frames) -> None:
        for table, frame in frames:
            upsert(conn, table, [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                                 for row in frame.to_dict("records")])

    stored = []
    for name in ("parked", "rows"):
        path = tmp_path / f"{name}.db"
        engine = engine_for(f"sqlite:///{path}")
        migrate(engine)
        if name == "parked":
            assert upsert_frames(engine, frames) == 4
        else:
            with engine.begin() as conn:
                as_rows(conn)
        with sqlite3.connect(path) as raw:
            stored.append([raw.execute(  # every value with its storage class
                f"SELECT *, {', '.join(f'typeof({c.name})' for c in t.columns)} FROM {t.name} "
                "ORDER BY 1").fetchall() for t, _ in frames])
    assert stored[0] == stored[1]
    assert stored[0][0][0][6] == "2026-05-01 06:00:00.123456"  # SQLAlchemy's storage form
    # order line L1: promised date as ISO text, not cancelled as 0, unit left null
    assert stored[0][1][0][3:9] == (5.0, None, "2026-05-03", 10.0, 8.0, 0)
    assert stored[0][1][1][1] is None and stored[0][1][1][5] is None and stored[0][1][1][8] == 1
    assert stored[0][1][0][11:20] == ("text", "text", "text", "real", "null", "text", "real",
                                      "real", "integer")


def test_an_interval_writer_loads_a_table_sent_in_pieces_and_an_empty_one(
        warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "PARK_ROWS", 2)  # 5 rows: parked as 2 + 2 + 1 on SQLite
    start, end = datetime(2026, 5, 1), datetime(2026, 5, 2)
    products = pd.DataFrame({
        "product_id": [f"P{i}" for i in range(5)], "name": list("abcde"),
        "category": [None] * 5, "unit": ["t"] * 5,
        "updated_at": [pd.Timestamp("2026-05-01 06:00")] * 5})
    accounts = pd.DataFrame({"client_id": pd.Series([], dtype=object),
                             "key_account": pd.Series([], dtype=bool),
                             "updated_at": pd.Series([], dtype="datetime64[us]")})
    writer = IntervalWriter(warehouse_url, start, end, ["erp_products", "crm_accounts"])
    with writer:
        writer.send(ValidatedTable("erp_products", products, [], 5, 0, None))
        writer.send(ValidatedTable("crm_accounts", accounts, [], 0, 0, None))
        report = writer.commit()
    assert report.tables == {
        "erp_products": {"rows_in": 5, "rows_loaded": 5, "rows_quarantined": 0},
        "crm_accounts": {"rows_in": 0, "rows_loaded": 0, "rows_quarantined": 0}}
    staged = STAGING["erp_products"]
    with engine_for(warehouse_url).connect() as conn:
        assert conn.execute(select(staged.c.product_id, staged.c.name)
                            .order_by(staged.c.product_id)).all() == [
            ("P0", "a"), ("P1", "b"), ("P2", "c"), ("P3", "d"), ("P4", "e")]


def test_a_load_into_an_empty_staging_table_leaves_its_indexes_in_place(
        warehouse_url: str) -> None:
    staged = STAGING["erp_order_lines"]
    engine = engine_for(warehouse_url)
    expected = {"ix_stg_erp_order_lines_order_id", "ix_stg_erp_order_lines_product_id"}
    lines = pd.DataFrame({
        "order_line_id": ["L1", "L2"], "order_id": ["O1", "O1"], "product_id": ["P1", "P2"],
        "quantity": [5.0, 2.0], "unit": ["t", "t"],
        "promised_date": pd.to_datetime(["2026-05-03", "2026-05-04"]),
        "price": [10.0, 20.0], "cost": [8.0, 15.0], "cancelled": [False, True],
        "updated_at": pd.to_datetime(["2026-05-01 08:00", "2026-05-01 09:00"]),
    })
    for interval in (datetime(2026, 5, 1), datetime(2026, 5, 2)):  # empty, then a rerun
        with engine.begin() as conn:
            assert load_staging(conn, "erp_order_lines", lines, interval) == 2
        assert {ix["name"] for ix in inspect(engine).get_indexes(staged.name)} == expected
    with engine.connect() as conn:
        rows = conn.execute(select(staged.c.order_line_id, staged.c.interval_start)
                            .order_by(staged.c.order_line_id)).all()
    # the rerun of the next day keeps the interval that first loaded each row
    assert rows == [("L1", datetime(2026, 5, 1)), ("L2", datetime(2026, 5, 1))]


def test_an_interval_writer_keeps_nothing_when_a_table_does_not_add_up(
        warehouse_url: str) -> None:
    staged = STAGING["erp_products"]
    start, end = datetime(2026, 5, 1), datetime(2026, 5, 2)
    good = ValidatedTable("erp_products", _product("Steel", "2026-05-01 06:00"), [], 1, 0, None)
    # 3 rows in, but 1 row to load + 1 quarantined: 3 != 1 + 1
    bad = ValidatedTable("crm_accounts", pd.DataFrame({
        "client_id": ["C1"], "key_account": [True],
        "updated_at": [pd.Timestamp("2026-05-01 07:00")]}), [], 3, 1, None)
    writer = IntervalWriter(warehouse_url, start, end, ["erp_products", "crm_accounts"])
    with pytest.raises(RuntimeError, match=r"crm_accounts: 3 rows in but 1 loaded \+ 1 "
                                           "quarantined"), writer:
        writer.send(good)
        writer.send(bad)
        writer.commit()
    with engine_for(warehouse_url).connect() as conn:  # the good table was rolled back too
        assert conn.execute(select(staged.c.product_id)).all() == []
        assert conn.execute(select(load_log.c.source_table)).all() == []


def test_parked_writes_refuse_a_table_without_a_piece_of_rows(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    products = STAGING["erp_products"]
    with ParkedWrites(engine, [products]) as writes, pytest.raises(
            ValueError, match="no rows to park for stg_erp_products"):
        writes.send(lambda conn, schema: None, products, [])


def test_a_large_tables_write_waits_for_no_later_table_and_a_small_ones_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "OWN_FILE_ROWS", 2)
    engine = engine_for(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    clients, orders, lines = (STAGING[t] for t in ("erp_clients", "erp_orders",
                                                   "erp_order_lines"))
    written = {t.name: threading.Event() for t in (clients, orders, lines)}

    def counted(table: Table) -> Callable[[Connection, str], int]:
        def write(conn: Connection, schema: str) -> int:
            written[table.name].set()
            return conn.execute(select(func.count()).select_from(
                text(f"{schema}.{table.name}"))).scalar_one()
        return write

    def rows(table: Table, count: int) -> pa.Table:
        return pa.table({table.primary_key.columns.keys()[0]: [f"K{i}" for i in range(count)]})

    with ParkedWrites(engine, [clients, orders, lines]) as writes:
        writes.send(counted(clients), clients, [rows(clients, 1)])  # small: shares its file
        writes.send(counted(orders), orders, [rows(orders, 2)])  # large: closes it
        # both written while the caller goes on, before the lines are sent
        assert written[orders.name].wait(10) and written[clients.name].is_set()
        writes.send(counted(lines), lines, [rows(lines, 1)])
        assert not written[lines.name].wait(0.5)  # small and last: at the commit
        assert writes.commit() == [1, 2, 1]


def test_arrow_reads_answer_in_the_order_asked_and_report_a_failed_query(
        tmp_path: Path) -> None:
    database = tmp_path / "answers.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE t (a TEXT, b REAL)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("x", 1.5), (None, None), ("y", 0.5)])
    answers = list(read_tables(database, {
        "above": ("SELECT a, b FROM t WHERE b > ?", [1.0]),
        "all": ("SELECT count(*) AS n FROM t", []),
    }, folder=tmp_path))
    assert [name for name, _ in answers] == ["above", "all"]
    assert answers[0][1].to_pylist() == [{"a": "x", "b": 1.5}]
    assert answers[1][1].to_pylist() == [{"n": 3}]
    with pytest.raises(RuntimeError, match="no such table: nowhere"):
        list(read_tables(database, {"x": ("SELECT * FROM nowhere", [])}, folder=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.db"]  # no files left
