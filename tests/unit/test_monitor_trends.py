"""The computable metrics' trends per segment, month and quarter, by hand: OTIF pooled over
a segment's lines (not the mean of its clients'), revenue the mean over clients, n and what
it counts; stored once per version."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from fixtures.feedback_world import stage

from cx_tasks.monitor.rules import TrendRules
from cx_tasks.monitor.trends import metric_trends, periods, publish_trends, stored_trends
from cx_tasks.warehouse.db import engine_for, frame_records
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 12, 1)
RULES = TrendRules(months=2)
CLIENTS = {"K1": "metals", "K2": "metals", "K3": "chemicals"}
# line: client, order, promised day, delivered day, delivered quantity (of 10)
LINES = {
    "L1": ("K1", "O1", "2026-10-10", "2026-10-09", 10.0),  # OTIF
    "L2": ("K1", "O1", "2026-10-20", "2026-10-25", 10.0),  # late
    "L3": ("K1", "O2", "2026-11-10", "2026-11-09", 10.0),  # OTIF
    "L4": ("K2", "O3", "2026-10-15", "2026-10-14", 5.0),   # short: not in full
    "L5": ("K2", "O4", "2026-11-05", "2026-11-04", 10.0),  # OTIF
    "L6": ("K2", "O4", "2026-11-06", "2026-11-05", 10.0),  # OTIF
    "L7": ("K3", "O5", "2026-10-12", "2026-10-11", 10.0),  # OTIF
}
ORDERS = {"O1": ("K1", "2026-10-01"), "O2": ("K1", "2026-11-01"), "O3": ("K2", "2026-10-01"),
          "O4": ("K2", "2026-11-01"), "O5": ("K3", "2026-10-01")}
ROWS = {
    "erp_clients": [{"client_id": c, "name": c, "segment": s, "size_class": "B",
                     "contract_start": "2020-01-01"} for c, s in CLIENTS.items()],
    "erp_orders": [{"order_id": o, "client_id": c, "order_date": d}
                   for o, (c, d) in ORDERS.items()],
    "erp_order_lines": [{"order_line_id": line, "order_id": o, "product_id": "P1",
                         "quantity": 10.0, "unit": "t", "promised_date": promised,
                         "price": 10.0, "cost": 8.0, "cancelled": False}
                        for line, (_, o, promised, _, _) in LINES.items()],
    "wms_shipments": [{"shipment_id": f"S{line}", "order_line_id": line, "warehouse": "W",
                       "carrier": "K", "shipped_qty": qty, "delivered_qty": qty,
                       "shipped_at": f"{delivered} 08:00", "delivered_at": f"{delivered} 10:00"}
                      for line, (_, _, _, delivered, qty) in LINES.items()],
    "wms_packaging_incidents": [], "doc_documents": [], "bill_invoices": [], "bill_payments": [],
}


def _frames() -> dict[str, pd.DataFrame]:
    return {table: frame_of(table, rows) for table, rows in ROWS.items()}


def _figure(trends: pd.DataFrame, metric: str, segment: str, period: str,
            start: date) -> tuple:
    row = trends[(trends["metric"] == metric) & (trends["segment"] == segment)
                 & (trends["period"] == period) & (trends["period_start"] == start)]
    assert len(row) == 1, (metric, segment, period, start)
    r = row.iloc[0]
    return round(float(r["value"]), 4), int(r["n"]), r["counted"], int(r["clients"])


def test_the_periods_are_calendar_months_and_quarters_the_running_one_to_as_of() -> None:
    spans = periods(date(2026, 12, 7), 3, None)
    assert spans.values.tolist() == [
        ["month", date(2026, 10, 1), date(2026, 11, 1)],
        ["month", date(2026, 11, 1), date(2026, 12, 1)],
        ["month", date(2026, 12, 1), date(2026, 12, 7)],
        ["quarter", date(2026, 10, 1), date(2026, 12, 7)]]
    # no data before 2026-11-20: nothing before November
    assert periods(date(2026, 12, 1), 18, date(2026, 11, 20))["period_start"].tolist() == [
        date(2026, 11, 1), date(2026, 10, 1)]


def test_otif_is_pooled_over_the_segments_lines_and_revenue_is_the_mean_of_its_clients(
        ) -> None:
    trends = metric_trends(_frames(), AS_OF, RULES)
    oct_, nov, q4 = date(2026, 10, 1), date(2026, 11, 1), date(2026, 10, 1)
    # October, metals: K1 1 of 2 lines OTIF, K2 0 of 1: 1/3 (the clients' mean would be 0.25)
    assert _figure(trends, "otif_line", "metals", "month", oct_) == (0.3333, 3, "lines", 2)
    assert _figure(trends, "otif_line", "chemicals", "month", oct_) == (1.0, 1, "lines", 1)
    assert _figure(trends, "otif_line", "all", "month", oct_) == (0.5, 4, "lines", 3)
    # November: K1 1/1, K2 2/2; K3 had no line due: no chemicals OTIF
    assert _figure(trends, "otif_line", "metals", "month", nov) == (1.0, 3, "lines", 2)
    assert trends[(trends["metric"] == "otif_line") & (trends["segment"] == "chemicals")
                  & (trends["period_start"] == nov)].empty
    # Q4 so far [10-01, 12-01): metals 4 of 6 lines, all 5 of 7
    assert _figure(trends, "otif_line", "metals", "quarter", q4) == (0.6667, 6, "lines", 2)
    assert _figure(trends, "otif_line", "all", "quarter", q4) == (0.7143, 7, "lines", 3)
    # revenue (10 x 10 per line) in October: K1 200, K2 100: the mean over clients, n clients
    assert _figure(trends, "revenue", "metals", "month", oct_) == (150.0, 2, "clients", 2)
    assert set(trends["period_end"]) == {date(2026, 11, 1), date(2026, 12, 1)}


@pytest.fixture()
def staged(warehouse_url: str) -> str:
    for table, frame in _frames().items():
        stage(warehouse_url, table, frame_records(frame), loaded=datetime(2026, 11, 30, 2))
    return warehouse_url


def test_a_recalculation_is_stored_once_per_version(staged: str) -> None:
    first = publish_trends(staged, AS_OF, RULES)
    again = publish_trends(staged, AS_OF, RULES)
    assert first["trend_new"] and not again["trend_new"]
    assert again["trend_version"] == first["trend_version"]
    assert first["trend_version"].startswith("2026-12-01:")
    with engine_for(staged).connect() as conn:
        stored = stored_trends(conn, AS_OF, "month")
        assert stored_trends(conn, date(2026, 11, 30)).empty  # none as of before
    assert len(stored) == first["trend_rows"] - len(
        metric_trends(_frames(), AS_OF, RULES).query("period == 'quarter'"))
    metals = stored[(stored["metric"] == "otif_line") & (stored["segment"] == "metals")]
    assert metals[["value", "n"]].round(4).values.tolist() == [[0.3333, 3], [1.0, 3]]
    # a row staged later (L8, late) is not known by 12-01: same inputs, same version;
    # a recalculation a day later knows it: a new version beside the old one
    late = frame_of("erp_order_lines", [{**ROWS["erp_order_lines"][0], "order_line_id": "L8",
                                         "promised_date": "2026-11-20"}])
    stage(staged, "erp_order_lines", frame_records(late), loaded=datetime(2026, 12, 1, 2))
    assert publish_trends(staged, AS_OF, RULES)["trend_new"] is False
    later = publish_trends(staged, date(2026, 12, 2), RULES)
    assert later["trend_new"] and later["trend_version"] != first["trend_version"]


def test_cx_kpi_trends_prints_the_stored_months(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cx_tasks.cli import app
    from cx_tasks.warehouse.db import migrate

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_WAREHOUSE_URL", url)
    migrate(engine_for(url))
    runner = CliRunner()
    assert runner.invoke(app, ["kpi", "trends"]).exit_code == 1  # nothing stored yet
    for table, frame in _frames().items():
        stage(url, table, frame_records(frame), loaded=datetime(2026, 11, 30, 2))
    publish_trends(url, date(2026, 12, 7), TrendRules(months=3))
    shown = runner.invoke(app, ["kpi", "trends", "--metric", "otif_line", "--segment",
                                "metals"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    # October 1 of 3 lines, November 3 of 3; December so far has no line due
    assert "2026-10" in shown.output and "2026-12 (to 12-07)" in shown.output
    assert "0.333 (n 3 lines)" in shown.output and "1.000 (n 3 lines)" in shown.output
    quarter = runner.invoke(app, ["kpi", "trends", "--period", "quarter", "--metric",
                                  "otif_line", "--segment", "all"], env={"COLUMNS": "200"})
    assert "2026 Q4 (to 12-07)" in quarter.output and "0.714 (n 7 lines)" in quarter.output
