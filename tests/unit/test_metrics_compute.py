"""compute_metrics' long table, and publishing it to the warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pandas as pd
import pytest
from sqlalchemy import func, select

from cx_tasks.collect.contract import source_table
from cx_tasks.metrics import parallel
from cx_tasks.metrics.catalogue import metric_catalogue
from cx_tasks.metrics.complaints import COMPLAINT_METRIC_FUNCTIONS
from cx_tasks.metrics.compute import compute_and_publish, compute_metrics, publish_metrics
from cx_tasks.metrics.parameters import MetricParameters
from cx_tasks.warehouse import frames
from cx_tasks.warehouse.db import engine_for, migrate, upsert
from cx_tasks.warehouse.frames import frame_of, read_staging, read_staging_tables
from cx_tasks.warehouse.schema import STAGING, collection_shares, kpi_values, metric_values

AS_OF = date(2026, 3, 1)

ROWS = {
    "erp_clients": [
        {"client_id": "C1", "name": "Alpha", "segment": "metals", "size_class": "A",
         "contract_start": "2020-01-01"},
        {"client_id": "C2", "name": "Beta", "segment": "chemicals", "size_class": "C",
         "contract_start": "2021-01-01"},
    ],
    "erp_orders": [
        {"order_id": "O1", "client_id": "C1", "order_date": "2026-02-01"},
        {"order_id": "O2", "client_id": "C2", "order_date": "2026-02-02"},
        {"order_id": "O3", "client_id": "C9", "order_date": "2026-02-03"},  # not in erp_clients
    ],
    "erp_order_lines": [
        {"order_line_id": "L1", "order_id": "O1", "product_id": "P1", "quantity": 10.0,
         "unit": "t", "promised_date": "2026-02-10", "price": 100.0, "cost": 80.0,
         "cancelled": False},
        {"order_line_id": "L2", "order_id": "O2", "product_id": "P1", "quantity": 10.0,
         "unit": "t", "promised_date": "2026-02-10", "price": 50.0, "cost": 45.0,
         "cancelled": False},
        {"order_line_id": "L3", "order_id": "O3", "product_id": "P1", "quantity": 4.0,
         "unit": "t", "promised_date": "2026-02-12", "price": 10.0, "cost": 5.0,
         "cancelled": False},
    ],
    "wms_shipments": [
        {"shipment_id": "S1", "order_line_id": "L1", "warehouse": "W", "carrier": "K",
         "shipped_qty": 10.0, "delivered_qty": 10.0, "shipped_at": "2026-02-08 08:00",
         "delivered_at": "2026-02-09 10:00"},
        {"shipment_id": "S2", "order_line_id": "L2", "warehouse": "W", "carrier": "K",
         "shipped_qty": 5.0, "delivered_qty": 5.0, "shipped_at": "2026-02-08 08:00",
         "delivered_at": "2026-02-12 10:00"},
        {"shipment_id": "S3", "order_line_id": "L3", "warehouse": "W", "carrier": "K",
         "shipped_qty": 4.0, "delivered_qty": 4.0, "shipped_at": "2026-02-10 08:00",
         "delivered_at": "2026-02-11 10:00"},
    ],
    "wms_packaging_incidents": [
        {"incident_id": "PI1", "shipment_id": "S2", "incident_type": "damaged",
         "reported_at": "2026-02-12 12:00"},
    ],
    "doc_documents": [
        {"document_id": "D1", "client_id": "C1", "order_id": "O1", "doc_type": "invoice",
         "requested_at": "2026-02-01 09:00", "sent_at": "2026-02-01 15:00"},
    ],
    "bill_invoices": [
        {"invoice_id": "I1", "client_id": "C1", "order_id": "O1", "amount": 1000.0,
         "issued_date": "2026-02-01", "due_date": "2026-02-15"},
    ],
    "bill_payments": [
        {"payment_id": "P1", "invoice_id": "I1", "paid_date": "2026-02-20", "amount": 1000.0},
    ],
}


def _frames() -> dict[str, pd.DataFrame]:
    return {table: frame_of(table, rows) for table, rows in ROWS.items()}


def _value(metrics: pd.DataFrame, client: str, metric: str, window: int) -> float:
    row = metrics[(metrics["client_id"] == client) & (metrics["metric"] == metric)
                  & (metrics["window_days"] == window)]
    assert len(row) == 1
    return float(row["value"].iloc[0])


def test_emits_exactly_the_catalogues_computable_metrics() -> None:
    metrics = compute_metrics(_frames(), AS_OF, MetricParameters())
    # all but the claim metrics, which the analyze stage publishes once claims are classified
    computed_here = set(metric_catalogue().computable_ids()) - set(COMPLAINT_METRIC_FUNCTIONS)
    assert sorted(metrics["metric"].unique()) == sorted(computed_here)


def test_long_format_columns_and_types() -> None:
    metrics = compute_metrics(_frames(), AS_OF, MetricParameters())
    assert list(metrics.columns) == ["client_id", "metric", "as_of", "window_days", "value",
                                     "numerator", "denominator", "note"]
    assert set(metrics["as_of"]) == {AS_OF} and set(metrics["window_days"]) == {1, 30, 90, 365}
    assert metrics.duplicated(["client_id", "metric", "window_days"]).sum() == 0
    assert all(str(metrics[c].dtype) == "float64" for c in ("value", "numerator", "denominator"))


def test_value_is_numerator_over_denominator_wherever_both_are_given() -> None:
    metrics = compute_metrics(_frames(), AS_OF, MetricParameters())
    both = metrics.dropna(subset=["numerator", "denominator"])
    both = both[both["denominator"] > 0]
    assert len(both) > 50 and both["metric"].nunique() == 11
    pd.testing.assert_series_equal(both["value"], both["numerator"] / both["denominator"],
                                   check_names=False)


def test_two_threads_compute_exactly_what_one_does(monkeypatch: pytest.MonkeyPatch) -> None:
    one = compute_metrics(_frames(), AS_OF, MetricParameters())
    monkeypatch.setattr(parallel, "WORKERS", 2)
    two = compute_metrics(_frames(), AS_OF, MetricParameters())
    assert len(one) > 100
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_a_client_missing_from_the_erp_table_is_still_measured() -> None:
    metrics = compute_metrics(_frames(), AS_OF, MetricParameters())
    # C9 (only in orders): L3 4 of 4 on 02-11 for promise 02-12 -> OTIF 1.0
    assert _value(metrics, "C9", "otif_line", 30) == 1.0
    # C2: 5 of 10 on 02-12 for promise 02-10 -> late and short
    assert _value(metrics, "C2", "otif_line", 30) == 0.0
    assert _value(metrics, "C2", "short_shipment_rate", 30) == 1.0


def test_tables_left_out_skip_their_metrics() -> None:
    frames = {k: v for k, v in _frames().items() if k in ("erp_clients", "doc_documents")}
    metrics = compute_metrics(frames, AS_OF, MetricParameters())
    assert set(metrics["metric"]) == {"document_turnaround_median_h", "document_turnaround_p90_h",
                                      "document_within_sla"}


def _stage(url: str) -> None:
    """Load ROWS into the warehouse's staging tables, as the collect stage would."""
    with engine_for(url).begin() as conn:
        for table, frame in _frames().items():
            contract = source_table(table)
            records = []
            for row in frame.to_dict("records"):
                for column in contract.columns:
                    value = row[column.name]
                    if pd.isna(value):
                        row[column.name] = None
                    elif column.type == "date":
                        row[column.name] = value.date()
                    elif column.type == "timestamp":
                        row[column.name] = value.to_pydatetime()
                records.append({**row, "interval_start": datetime(2026, 2, 28)})
            upsert(conn, STAGING[table], records)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path) -> str:
    """A migrated warehouse with ROWS in staging: a SQLite file or a fresh PostgreSQL schema."""
    url = (f"sqlite:///{tmp_path / 'w.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    migrate(engine_for(url))
    _stage(url)
    return url


def _published(url: str) -> tuple[list[tuple], list[tuple]]:
    with engine_for(url).connect() as conn:
        metrics = conn.execute(select(metric_values).order_by(
            *metric_values.primary_key.columns)).all()
        kpis = conn.execute(select(kpi_values)).all()
    return [tuple(r) for r in metrics], [tuple(r) for r in kpis]


def test_compute_and_publish_writes_metrics_and_the_collection_shares(warehouse: str) -> None:
    summary = compute_and_publish(warehouse, AS_OF)
    metrics, kpis = _published(warehouse)
    expected = compute_metrics(_frames(), AS_OF, MetricParameters())
    # the metrics, and a collection-shares row for all, chemicals and metals
    assert summary["rows"] == len(expected) + 3 and len(metrics) == len(expected)
    assert kpis == []  # the constant computable_metric_share is gone
    assert summary["clients"] == 3 and summary["metrics"] == 17
    # 34 indicators on the journey map: 16 from systems, 16 more through e-mail surveys
    assert summary["collection_shares"]["metals"] == {"system": round(16 / 34, 4),
                                                      "automated": round(32 / 34, 4)}
    with engine_for(warehouse).connect() as conn:
        segments = conn.scalars(select(collection_shares.c.segment).where(
            collection_shares.c.as_of == AS_OF).order_by(collection_shares.c.segment)).all()
    assert segments == ["all", "chemicals", "metals"]
    # 30-day OTIF per segment: metals C1 = 1.0 (10 of 10 a day early), chemicals C2 = 0.0
    assert summary["segment_means"]["otif_line"] == {"metals": 1.0, "chemicals": 0.0,
                                                     "(unknown)": 1.0}
    # NaN is stored as NULL, a note beside it where the value is undefined
    with engine_for(warehouse).connect() as conn:
        nulls = conn.scalar(select(func.count()).where(metric_values.c.value.is_(None)))
    assert nulls == int(expected["value"].isna().sum())


def test_publishing_again_leaves_the_warehouse_identical(warehouse: str) -> None:
    compute_and_publish(warehouse, AS_OF)
    first = _published(warehouse)
    compute_and_publish(warehouse, AS_OF)
    assert _published(warehouse) == first


def test_publishing_replaces_rows_no_longer_emitted(warehouse: str) -> None:
    compute_and_publish(warehouse, AS_OF)
    other_stage = {"client_id": "C1", "metric": "nps", "as_of": AS_OF, "window_days": 365,
                   "value": 40.0, "numerator": None, "denominator": None, "note": None}
    with engine_for(warehouse).begin() as conn:
        upsert(conn, metric_values, [other_stage])
    fewer = compute_metrics(_frames(), AS_OF, MetricParameters()).iloc[:5]
    publish_metrics(engine_for(warehouse), fewer,
                    pd.DataFrame(columns=["kpi", "as_of", "value", "detail"]))
    metrics, kpis = _published(warehouse)
    # the 5 rows recomputed, plus the survey stage's NPS row left alone
    assert len(metrics) == 6 and ("C1", "nps", AS_OF, 365) in [m[:4] for m in metrics]
    assert kpis == []


def test_an_empty_computation_clears_the_dates_computable_metrics(warehouse: str) -> None:
    compute_and_publish(warehouse, AS_OF)
    kpi = pd.DataFrame([{"kpi": "some_kpi", "as_of": AS_OF, "value": 0.5, "detail": "x"}])
    nothing = compute_metrics({}, AS_OF, MetricParameters())
    assert publish_metrics(engine_for(warehouse), nothing, kpi) == 1
    metrics, kpis = _published(warehouse)
    assert metrics == [] and kpis == [("some_kpi", AS_OF, 0.5, "x")]


def _read_alone(url: str, table: str, arrow_text: bool, columns: list[str] | None = None,
                known_by: datetime | None = None) -> pd.DataFrame:
    with engine_for(url).connect() as conn:
        return read_staging(conn, table, columns, known_by, arrow_text=arrow_text)


def _read_together(url: str, table: str, arrow_text: bool, columns: list[str] | None = None,
                   known_by: datetime | None = None) -> pd.DataFrame:
    wanted = {name: None for name in ROWS} | {table: columns}
    return read_staging_tables(engine_for(url), wanted, known_by)[table]


@pytest.mark.parametrize(("read", "arrow_text"), [
    (_read_alone, False), (_read_alone, True), (_read_together, True),
], ids=["python text", "arrow text", "every table at once (SQLite: ADBC in a child)"])
def test_staging_reads_back_what_was_staged(warehouse: str, read: Callable[..., pd.DataFrame],
                                            arrow_text: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "READ_CHUNK_ROWS", 2)  # 3 rows -> chunks of 2 and 1
    for table, staged in _frames().items():
        got_table = read(warehouse, table, arrow_text)
        assert list(got_table.columns) == [*staged.columns, "interval_start"]
        assert got_table["interval_start"].tolist() == [pd.Timestamp(2026, 2, 28)] * len(staged)
        for column in source_table(table).columns:
            got, expected = got_table[column.name], staged[column.name]
            if column.type == "text":
                assert str(got.dtype) == ("str" if arrow_text else "object")
                assert got.astype(object).where(got.notna(), None).tolist() == (
                    expected.tolist())
            else:
                assert got.dtype.kind == expected.dtype.kind
                assert got.isna().tolist() == expected.isna().tolist()
                assert got.dropna().tolist() == expected.dropna().tolist()
    lines = read(warehouse, "erp_order_lines", arrow_text, ["order_line_id", "promised_date"],
                 datetime(2026, 2, 27))
    assert list(lines.columns) == ["order_line_id", "promised_date"] and len(lines) == 0
    assert lines["promised_date"].dtype.kind == "M"


def test_columns_holding_only_nulls_read_at_once_as_their_contract_types(
        warehouse: str) -> None:
    with engine_for(warehouse).begin() as conn:  # S1-S3 in transit, carriers not yet known
        conn.execute(STAGING["wms_shipments"].update().values(
            delivered_qty=None, delivered_at=None, carrier=None))
    shipments = read_staging_tables(engine_for(warehouse), {"wms_shipments": [
        "shipment_id", "delivered_qty", "delivered_at", "carrier"]})["wms_shipments"]
    assert shipments["shipment_id"].tolist() == ["S1", "S2", "S3"]
    assert str(shipments["delivered_qty"].dtype) == "float64"
    assert shipments["delivered_at"].dtype.kind == "M"
    assert str(shipments["carrier"].dtype) == "str"
    assert shipments[["delivered_qty", "delivered_at", "carrier"]].isna().all().all()
