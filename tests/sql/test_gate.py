"""The data-quality gate end to end on a real warehouse: quarantine, load, rerun, suite rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fixtures.malformed_source import (
    INTERVAL,
    expected_counts,
    expected_quarantine,
    write_source,
)
from sqlalchemy import select

from cx_tasks.collect.extract import extract_interval
from cx_tasks.collect.load import previous_rows_in
from cx_tasks.collect.quality import collect_interval, gate_status, validate_and_load
from cx_tasks.warehouse.db import engine_for, upsert
from cx_tasks.warehouse.schema import STAGING, load_log, quarantine

pytestmark = pytest.mark.slow


def _quarantined(url: str) -> set[tuple[str, str, str]]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(select(quarantine.c.source_table, quarantine.c.row_key,
                                   quarantine.c.rule)).all()
    return {tuple(r) for r in rows}


def _keys(url: str, table: str) -> list[str]:
    staging = STAGING[table]
    key = staging.primary_key.columns[0]
    with engine_for(url).connect() as conn:
        return list(conn.scalars(select(key).order_by(key)))


# the SQLite source read by one ADBC reader and landed by a thread while the gate validates,
# and (on SQLite) the writes in a background thread
def test_malformed_rows_land_in_quarantine_by_rule_and_a_rerun_changes_nothing(
        warehouse_url: str, tmp_path: Path,
        warehouse_checksum: Callable[[str], dict[str, str]]) -> None:
    source = write_source(tmp_path / "supplier.db")
    first = collect_interval(warehouse_url, source, tmp_path / "landing", *INTERVAL,
                             quality_dir=tmp_path / "quality")

    assert _quarantined(warehouse_url) == {  # every bad row, with exactly its rules
        (t, key, rule) for t, key, rule in expected_quarantine()}
    assert first.tables == expected_counts()  # rows in = loaded + quarantined, per table
    # good rows: L1 (S1 delivers 10 <= 11), L8 and L9 (their shipments are the bad ones)
    assert _keys(warehouse_url, "erp_order_lines") == ["L1", "L8", "L9"]
    assert _keys(warehouse_url, "wms_shipments") == ["S1"]
    assert _keys(warehouse_url, "erp_clients") == ["C1", "C2"]
    # three shipments over 110%: S2 (50 > 11), S3 and S4 (6 + 6 = 12 > 11)
    assert first.quarantined_by_rule["wms_shipments.delivered_qty.within_110pct_of_ordered"] == 3
    with engine_for(warehouse_url).connect() as conn:
        payload, detail = conn.execute(select(quarantine.c.payload, quarantine.c.detail).where(
            quarantine.c.row_key == "L3")).one()
    assert json.loads(payload)["quantity"] == "n/a"  # the raw text survives
    assert detail == "not a number: n/a"
    assert Path(first.results_path, "erp_order_lines.rows.json").exists()

    before = warehouse_checksum(warehouse_url)
    second = collect_interval(warehouse_url, source, tmp_path / "landing", *INTERVAL,
                              quality_dir=tmp_path / "quality")
    assert warehouse_checksum(warehouse_url) == before
    assert second.tables == first.tables
    assert second.quarantined_by_rule == first.quarantined_by_rule


def test_references_resolve_through_staging_and_the_cap_counts_staged_shipments(
        warehouse_url: str, tmp_path: Path) -> None:
    source = write_source(tmp_path / "supplier.db")
    start, end = INTERVAL
    day1 = {t: extract_interval(source, t, start, end)
            for t in ("erp_clients", "erp_products", "erp_orders", "erp_order_lines",
                      "wms_shipments")}
    validate_and_load(warehouse_url, source, day1, start, end, quality_dir=tmp_path)
    # The next day brings only children: a shipment of L1 (staged, ordered 10, S1 already
    # delivered 10) and one of L8 (nothing delivered yet), and a line of staged order O2.
    shipments = day1["wms_shipments"].iloc[[0, 0]].reset_index(drop=True)
    shipments["shipment_id"] = ["S20", "S21"]
    shipments["order_line_id"] = ["L1", "L8"]
    shipments["delivered_qty"] = ["2", "11"]
    lines = day1["erp_order_lines"].iloc[[0]].reset_index(drop=True)
    lines["order_line_id"], lines["order_id"] = "L20", "O2"
    nxt = (start + timedelta(days=1), end + timedelta(days=1))
    result = validate_and_load(warehouse_url, source, {"erp_order_lines": lines,
                                                       "wms_shipments": shipments},
                               *nxt, quality_dir=tmp_path)
    # L1: 10 staged + 2 = 12 > 1.1 x 10 = 11 -> S20 quarantined; L8: 11 <= 11 -> S21 loaded
    assert result.quarantined_by_rule == {
        "wms_shipments.delivered_qty.within_110pct_of_ordered": 1}
    assert result.tables["erp_order_lines"] == {"rows_in": 1, "rows_loaded": 1,
                                                "rows_quarantined": 0}
    assert _keys(warehouse_url, "wms_shipments") == ["S1", "S21"]


def test_volume_far_outside_the_band_and_a_stale_source_block_the_interval(
        warehouse_url: str, tmp_path: Path) -> None:
    source = write_source(tmp_path / "supplier.db")
    start = datetime(2026, 5, 20)
    end = start + timedelta(days=1)
    # three earlier nights of 100 orders each: band [50, 150] around the median 100
    history = [{"source_table": "erp_orders", "interval_start": start - timedelta(days=d),
                "interval_end": start - timedelta(days=d - 1), "rows_in": 100,
                "rows_loaded": 100, "rows_quarantined": 0, "max_updated_at": None}
               for d in (1, 2, 3)]
    with engine_for(warehouse_url).begin() as conn:
        upsert(conn, load_log, history)
    # nothing changed since 2026-05-01 08:00, more than 72 h before the end (2026-05-21)
    frames = {t: extract_interval(source, t, start, end)
              for t in ("erp_clients", "erp_orders", "erp_order_lines")}
    result = validate_and_load(warehouse_url, source, frames, start, end,
                               quality_dir=tmp_path)

    assert not result.passed
    assert result.failed_expectations == [
        "erp_order_lines.freshness", "erp_orders.freshness", "erp_orders.row_volume"]
    assert result.skipped_checks == [
        "erp_order_lines.row_volume: skipped, 0 previous interval(s), needs 3"]
    stored = gate_status(warehouse_url, start)
    assert stored is not None and not stored.passed
    assert stored.failed_expectations == result.failed_expectations
    assert stored.skipped_checks == result.skipped_checks
    assert stored.tables == {t: {"rows_in": 0, "rows_loaded": 0, "rows_quarantined": 0}
                             for t in sorted(frames)}
    assert gate_status(warehouse_url, end) is None


def test_a_fresh_normal_interval_passes(warehouse_url: str, tmp_path: Path) -> None:
    source = write_source(tmp_path / "supplier.db")
    start, end = INTERVAL
    frames = {t: extract_interval(source, t, start, end) for t in ("erp_products",)}
    result = validate_and_load(warehouse_url, source, frames, start, end, quality_dir=tmp_path)
    assert result.passed and result.failed_expectations == []
    assert result.tables == {"erp_products": {"rows_in": 1, "rows_loaded": 1,
                                              "rows_quarantined": 0}}


def test_quarantine_share_blocks_only_a_table_with_enough_rows(
        warehouse_url: str, tmp_path: Path) -> None:
    source = write_source(tmp_path / "supplier.db")
    start, end = INTERVAL
    product = extract_interval(source, "erp_products", start, end)

    def products(good: int, bad: int) -> dict[str, object]:
        rows = product.iloc[[0] * (good + bad)].reset_index(drop=True)
        rows["product_id"] = [f"P{i:02d}" for i in range(good + bad)]
        rows.loc[good:, "unit"] = None  # a required column missing: quarantined
        return {"erp_products": rows}

    # 18 good + 2 bad = 20 rows, the least the share is judged on: 2/20 = 10% > 5%
    blocked = validate_and_load(warehouse_url, source, products(18, 2), start, end,
                                quality_dir=tmp_path)
    assert blocked.failed_expectations == ["erp_products.quarantine_share"]
    assert blocked.tables["erp_products"] == {"rows_in": 20, "rows_loaded": 18,
                                              "rows_quarantined": 2}
    # 17 good + 2 bad = 19 rows: too few to judge a feed by; the rows are still quarantined
    nxt = (start + timedelta(days=1), end + timedelta(days=1))
    judged_not = validate_and_load(warehouse_url, source, products(17, 2), *nxt,
                                   quality_dir=tmp_path)
    assert judged_not.passed
    assert judged_not.tables["erp_products"]["rows_quarantined"] == 2


def test_volume_history_counts_only_intervals_as_long_as_this_one(warehouse_url: str) -> None:
    night = datetime(2026, 5, 20)
    day = timedelta(days=1)
    rows = [  # a history load (2000-01-01 .. 05-17) and three nights of 10, 20 and 30 rows
        (datetime(2000, 1, 1), datetime(2026, 5, 17), 61_441),
        (datetime(2026, 5, 17), datetime(2026, 5, 18), 10),
        (datetime(2026, 5, 18), datetime(2026, 5, 19), 20),
        (datetime(2026, 5, 19), datetime(2026, 5, 20), 30),
        (datetime(2026, 5, 21), datetime(2026, 5, 22), 99),  # after this night: not history
    ]
    with engine_for(warehouse_url).begin() as conn:
        upsert(conn, load_log, [
            {"source_table": "erp_orders", "interval_start": s, "interval_end": e,
             "rows_in": n, "rows_loaded": n, "rows_quarantined": 0, "max_updated_at": None}
            for s, e, n in rows])
        # newest first; the history load is skipped however large it is
        assert previous_rows_in(conn, "erp_orders", night, night + day, 7) == [30, 20, 10]
        assert previous_rows_in(conn, "erp_orders", night, night + day, 2) == [30, 20]
