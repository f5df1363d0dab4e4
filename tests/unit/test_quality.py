"""The quality gate's pure parts: parsing raw text, rule names and ranges, keys, thresholds."""

from __future__ import annotations

import gc
import hashlib
import json
import math
import weakref
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError

from cx_tasks.collect import expectations
from cx_tasks.collect.contract import source_table
from cx_tasks.collect.expectations import (
    Check,
    GxRunner,
    QualityRules,
    date_range,
    quality_rules,
    row_checks,
    volume_check,
)
from cx_tasks.collect.extract import interval_params, text_array, text_frame
from cx_tasks.collect.memory import release_memory, return_freed_memory_promptly
from cx_tasks.collect.quality import (
    parse_booleans,
    parse_numbers,
    parse_times,
    payload,
    row_key,
)
from cx_tasks.sqltemplates import render_sql
from cx_tasks.warehouse.times import naive_utc

END = datetime(2026, 5, 2)


def _text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def test_numbers_parse_only_plain_decimal_text() -> None:
    parsed = parse_numbers(_text("10", " 2.5 ", "-3", "1e3", ".5", "n/a", "12,5", "inf", None))
    expected = [10.0, 2.5, -3.0, 1000.0, 0.5]  # then five values that are not numbers
    assert parsed.iloc[:5].tolist() == expected
    assert parsed.iloc[5:].isna().all()


def test_integers_reject_fractions() -> None:
    parsed = parse_numbers(_text("7", "7.5"), pattern=r"^[+-]?\d+$")
    assert parsed.iloc[0] == 7.0 and math.isnan(parsed.iloc[1])


def test_booleans_accept_the_usual_spellings_only() -> None:
    parsed = parse_booleans(_text("1", "0", "TRUE", "f", "yes", "maybe", None))
    assert parsed.tolist()[:5] == [True, False, True, False, True]
    assert parsed.isna().tolist()[5:] == [True, True]


def test_times_parse_iso_text_and_reject_impossible_dates() -> None:
    parsed = parse_times(_text("2026-05-01", "2026-05-01 10:30:00", "2026-05-01T10:30:00+03:00",
                               "2026-02-30", "yesterday", "9999-12-31"))
    assert parsed.dtype == "datetime64[ns]"
    assert parsed.iloc[:3].tolist() == [pd.Timestamp("2026-05-01"),
                                        pd.Timestamp("2026-05-01 10:30"),
                                        pd.Timestamp("2026-05-01 07:30")]  # +03:00 -> UTC
    assert parsed.iloc[3:5].isna().all()
    # beyond datetime64[ns] (year 2262): clipped, so it fails the sane range, not the parse
    assert parsed.iloc[5] == pd.Timestamp("2262-01-01")


def test_times_in_the_usual_shape_are_never_rolled_over_into_real_ones() -> None:
    parsed = parse_times(_text("2026-02-28 23:59:59", "2026-02-29 00:00:00",
                               "2026-05-01 23:59:60", "2026-5-1 08:00:00", "1500-01-01",
                               "2024-02-29 12:00:00", None))
    assert parsed.iloc[0] == pd.Timestamp("2026-02-28 23:59:59")
    # 2026 is no leap year; a 60th second does not exist: not 2026-03-01, not 2026-05-02
    assert parsed.iloc[1:3].isna().all()
    assert parsed.iloc[3] == pd.Timestamp("2026-05-01 08:00")  # ISO 8601's reduced form
    assert parsed.iloc[4] == pd.Timestamp("1678-01-01")  # clipped to datetime64[ns]
    assert parsed.iloc[5] == pd.Timestamp("2024-02-29 12:00")  # a leap day
    assert pd.isna(parsed.iloc[6])


def test_source_values_become_their_text() -> None:
    mixed = text_array([1.5, "n/a", None, 2]).to_pylist()
    assert mixed == ["1.5", "n/a", None, "2"]
    frame = text_frame(pd.DataFrame({"when": [datetime(2026, 5, 1, 8)], "flag": [True]}))
    assert frame.iloc[0].tolist() == ["2026-05-01 08:00:00.000000", "true"]


def test_row_key_is_the_key_or_a_hash_of_the_row() -> None:
    text = payload({"order_line_id": None, "quantity": 2.0})
    assert text == '{"order_line_id": null, "quantity": "2.0"}'
    digest = hashlib.sha1(text.encode()).hexdigest()
    assert row_key("L1", text, duplicated=False) == "L1"
    assert row_key(None, text, duplicated=False) == f"sha1:{digest}"
    assert row_key("L1", text, duplicated=True) == f"L1#sha1:{digest}"


def test_row_rules_of_order_lines_follow_the_contract() -> None:
    rules = {c.rule for c in row_checks(source_table("erp_order_lines"), QualityRules(), END)}
    for name in ("order_line_id.not_null", "order_line_id.unique", "quantity.numeric",
                 "quantity.non_negative", "price.numeric", "cancelled.boolean",
                 "promised_date.valid_date", "promised_date.sane_range",
                 "order_id.resolves_to.erp_orders", "product_id.resolves_to.erp_products"):
        assert f"erp_order_lines.{name}" in rules
    shipments = {c.rule for c in row_checks(source_table("wms_shipments"), QualityRules(), END)}
    assert "wms_shipments.delivered_qty.within_110pct_of_ordered" in shipments
    assert "wms_shipments.delivered_at.not_before_order_date" in shipments
    assert "wms_shipments.delivered_qty.not_null" not in shipments  # optional column


def test_planned_dates_may_lie_two_years_ahead_events_not_after_the_end() -> None:
    rules = QualityRules()
    lines, shipments = source_table("erp_order_lines"), source_table("wms_shipments")
    # 2026-05-02 + 730 days = 2028-05-01
    assert date_range(lines, "promised_date", rules, END) == (datetime(2000, 1, 1),
                                                               datetime(2028, 5, 1))
    assert date_range(shipments, "delivered_at", rules, END) == (datetime(2000, 1, 1), END)


def test_volume_band_is_half_the_median_either_side() -> None:
    check = volume_check(source_table("erp_orders"), QualityRules(), [90, 100, 130, 80])
    # median of 80, 90, 100, 130 = 95; band [ceil(47.5), floor(142.5)] = [48, 142]
    assert check.kwargs == {"min_value": 48, "max_value": 142}
    skipped = volume_check(source_table("erp_orders"), QualityRules(), [100, 100])
    assert skipped == "erp_orders.row_volume: skipped, 2 previous interval(s), needs 3"
    # median of 40, 49, 60 = 49 < 50 rows: too small a feed for a band; 50 is enough
    small = volume_check(source_table("erp_orders"), QualityRules(), [40, 49, 60])
    assert small == ("erp_orders.row_volume: skipped, median 49 rows of the last 3 intervals "
                     "is below 50")
    at_limit = volume_check(source_table("erp_orders"), QualityRules(), [40, 50, 60])
    assert at_limit.kwargs == {"min_value": 25, "max_value": 75}


def test_quality_rules_load_and_reject_unknown_columns(tmp_path: Path) -> None:
    rules = quality_rules()
    assert rules.max_delivered_share == 1.10 and rules.volume.history == 7
    (tmp_path / "quality.yaml").write_text("planned_date_columns: [erp_orders.shipped_at]\n")
    with pytest.raises(ValidationError, match="not a date column"):
        quality_rules(tmp_path)


def test_interval_bounds_are_text_on_sqlite_and_naive_utc_everywhere() -> None:
    start = datetime.fromisoformat("2026-05-01T02:00:00+02:00")
    assert naive_utc(start) == datetime(2026, 5, 1)
    assert interval_params("sqlite", start, END) == {"start": "2026-05-01 00:00:00",
                                                     "end": "2026-05-02 00:00:00"}
    assert interval_params("postgresql", start, END) == {"start": datetime(2026, 5, 1),
                                                         "end": END}


def test_templates_render_with_bind_parameters_not_values() -> None:
    statement = render_sql("extract/erp_orders")
    assert set(statement.compile().params) == {"start", "end"}
    freshness = render_sql("extract/freshness.sql", table="erp_orders")
    assert "FROM erp_orders" in str(freshness)


@pytest.mark.parametrize(("column_batch_rows", "rules_by_file"), [
    (5, {"t.rows.json": ["t.k.unique", "t.qty.non_negative", "t.qty.numeric"]}),  # one run
    (1, {"t.rows.json": ["t.qty.numeric"], "t.rows.k.json": ["t.k.unique"],
         "t.rows.qty__value.json": ["t.qty.non_negative"]}),
])
def test_checks_that_skip_nulls_run_on_their_column_alone_in_a_large_frame(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column_batch_rows: int,
        rules_by_file: dict[str, list[str]]) -> None:
    monkeypatch.setattr(expectations, "COLUMN_BATCH_ROWS", column_batch_rows)  # 4 rows
    frame = pd.DataFrame({
        "k": _text("A", "B", "A", None),
        "qty__value": [5.0, -1.0, None, 2.0],
        "qty__unparsed": pd.Series([None, None, "n/a", None], dtype=object),
    })
    checks = [
        Check("t.qty.numeric", "ExpectColumnValuesToBeNull", {"column": "qty__unparsed"}, ""),
        Check("t.qty.non_negative", "ExpectColumnValuesToBeBetween",
              {"column": "qty__value", "min_value": 0}, ""),
        Check("t.k.unique", "ExpectColumnValuesToBeUnique", {"column": "k"}, ""),
    ]
    outcomes = GxRunner(tmp_path).run_by_column("t.rows", frame, checks)

    # row 2 did not parse, row 1 is negative, rows 0 and 2 share key A (row 3's null skipped)
    assert [(o.rule, o.success, o.positions) for o in outcomes] == [
        ("t.k.unique", False, [0, 2]),
        ("t.qty.non_negative", False, [1]),
        ("t.qty.numeric", False, [2]),
    ]
    written = {path.name: sorted(r["expectation_config"]["meta"]["rule"]
                                 for r in json.loads(path.read_text())["results"])
               for path in tmp_path.iterdir()}
    assert written == rules_by_file


def test_release_memory_frees_what_only_reference_cycles_hold() -> None:
    class Holder:
        pass

    holder = Holder()
    holder.itself = holder  # a cycle: unreachable after del, freed only by the collector
    alive = weakref.ref(holder)
    gc.disable()
    try:
        del holder
        assert alive() is not None
        release_memory()
        assert alive() is None
    finally:
        gc.enable()


def test_arrow_allocates_from_jemalloc_once_the_gate_configures_the_process() -> None:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow is built without jemalloc: the gate keeps Arrow's default pool")
    return_freed_memory_promptly()
    assert pa.default_memory_pool().backend_name == "jemalloc"
    before = pa.jemalloc_memory_pool().bytes_allocated()
    values = pa.array(range(100_000), type=pa.int64())  # 800,000 bytes, from that pool
    assert pa.jemalloc_memory_pool().bytes_allocated() - before >= 8 * len(values)
