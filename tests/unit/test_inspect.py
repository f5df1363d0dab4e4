"""Warehouse views for the CLI and demo: pooled segment metrics, counts by rule."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from cx_tasks.warehouse.db import engine_for, migrate, upsert
from cx_tasks.warehouse.inspect import metrics_by_segment, quarantine_by_rule
from cx_tasks.warehouse.schema import STAGING, metric_values, quarantine

START = datetime(2026, 10, 1)


@pytest.fixture()
def engine(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    with engine.begin() as conn:
        upsert(conn, STAGING["erp_clients"], [
            dict(client_id=c, name=c, segment=s, size_class="A", contract_start=date(2024, 1, 1),
                 updated_at=START, interval_start=START)
            for c, s in [("C1", "metals"), ("C2", "metals"), ("C3", "chemicals")]
        ])
    return engine


def _metric(client: str, metric: str, value: float | None, num: float | None,
            den: float | None, as_of: date = date(2026, 10, 2), window: int = 30) -> dict:
    return dict(client_id=client, metric=metric, as_of=as_of, window_days=window, value=value,
                numerator=num, denominator=den, note=None)


def test_ratios_are_pooled_over_clients_and_other_metrics_take_the_median(engine) -> None:
    with engine.begin() as conn:
        upsert(conn, metric_values, [
            # metals OTIF: C1 9/10, C2 1/2 -> pooled (9+1)/(10+2) = 10/12 = 0.8333
            _metric("C1", "otif_line", 0.9, 9, 10),
            _metric("C2", "otif_line", 0.5, 1, 2),
            _metric("C3", "otif_line", 1.0, 4, 4),
            # a non-ratio metric (a count as denominator, no numerator): median of 10, 30 = 20
            _metric("C1", "document_turnaround_median_h", 10.0, None, 4),
            _metric("C2", "document_turnaround_median_h", 30.0, None, 7),
            # an older date and another window are not mixed in
            _metric("C1", "otif_line", 0.0, 0, 10, as_of=date(2026, 10, 1)),
            _metric("C1", "otif_line", 0.0, 0, 10, window=90),
        ])
    frame = metrics_by_segment(engine, window_days=30).set_index(["metric", "segment"])
    assert frame.loc[("otif_line", "metals"), "value"] == pytest.approx(10 / 12)
    assert frame.loc[("otif_line", "metals"), "clients"] == 2
    assert frame.loc[("otif_line", "chemicals"), "value"] == pytest.approx(1.0)
    assert frame.loc[("document_turnaround_median_h", "metals"), "value"] == pytest.approx(20.0)


def test_quarantine_counts_rows_per_rule(engine) -> None:
    with engine.begin() as conn:
        upsert(conn, quarantine, [
            dict(source_table="erp_orders", interval_start=START, row_key=k, rule=r,
                 detail="", payload="{}")
            for k, r in [("O1", "unknown_client"), ("O2", "unknown_client"), ("O2", "date")]
        ])
    frame = quarantine_by_rule(engine)
    assert list(zip(frame["rule"], frame["rows"], strict=True)) == [
        ("unknown_client", 2), ("date", 1)]


def test_no_published_metrics_gives_an_empty_frame(engine) -> None:
    assert metrics_by_segment(engine).empty
    assert isinstance(metrics_by_segment(engine), pd.DataFrame)


def test_gate_verdicts_list_each_interval_with_its_failed_expectations(engine) -> None:
    from cx_tasks.warehouse.inspect import gate_verdicts
    from cx_tasks.warehouse.schema import quality_runs

    night = datetime(2026, 10, 30, 2)
    with engine.begin() as conn:
        upsert(conn, quality_runs, [
            dict(interval_start=night, interval_end=datetime(2026, 10, 31, 2), status="blocked",
                 failed_expectations='["wms_shipments.row_volume", "erp_orders.freshness"]',
                 results_path=None, skipped_checks="[]"),
            dict(interval_start=START, interval_end=datetime(2026, 10, 2), status="passed",
                 failed_expectations="[]", results_path=None, skipped_checks="[]"),
        ])
    frame = gate_verdicts(engine)
    assert list(frame["status"]) == ["passed", "blocked"]  # in interval order
    assert list(frame["failed_expectations"]) == [
        "-", "wms_shipments.row_volume, erp_orders.freshness"]
