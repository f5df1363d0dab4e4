"""The client prediction's product path against the warehouse: the client panel built from
staged ERP, billing, WMS and service desk rows, the nightly metrics, cases and survey
outcomes (by hand on a small warehouse), a manager's portfolio, and ``client_risk`` storing
its predictions per day, a rerun of the day replacing them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
from fixtures.checksums import table_checksums
from fixtures.feedback_world import stage
from sqlalchemy import func, select

from cx_tasks.adjust.panels import CLIENT_PANEL_COLUMNS, client_panel, manager_portfolios
from cx_tasks.adjust.staff import month_number
from cx_tasks.adjust.stage import client_risk
from cx_tasks.adjust.store import read_at_risk
from cx_tasks.warehouse.db import engine_for, upsert
from cx_tasks.warehouse.schema import at_risk, cases, metric_values

UNTIL = date(2026, 11, 1)
AUG, SEP, OCT = (month_number(date(2026, m, 1)) for m in (8, 9, 10))


def _case(case_id: str, client: str, opened: datetime, closed: datetime | None) -> dict:
    return {"case_id": case_id, "feedback_id": f"f-{case_id}", "client_id": client,
            "trigger": "detractor", "owner": "logistics", "owner_email": "l@x.example",
            "status": "open" if closed is None else "closed", "opened_at": opened,
            "closed_at": closed}


def test_the_client_panel_and_portfolios_by_hand(warehouse_url):
    stage(warehouse_url, "erp_clients", [
        {"client_id": "K1", "name": "K1", "account_manager": "Sidorova A.A."},
        {"client_id": "K2", "name": "K2", "account_manager": "Petrov P.P."}])
    stage(warehouse_url, "hr_staff", [
        # the Sidorova in post is AM2; the one who left no longer manages anyone
        {"staff_id": "AM1", "full_name": "Sidorova A.A.", "position": "account_manager",
         "hired_on": date(2019, 1, 1), "left_on": date(2021, 1, 31)},
        {"staff_id": "AM2", "full_name": "Sidorova A.A.", "position": "account_manager",
         "hired_on": date(2021, 2, 1), "left_on": None}])
    stage(warehouse_url, "erp_orders", [
        {"order_id": o, "client_id": c, "order_date": d} for o, c, d in (
            ("O1", "K1", date(2026, 8, 3)), ("O2", "K1", date(2026, 8, 20)),
            ("O3", "K1", date(2026, 9, 10)), ("O4", "K2", date(2026, 9, 5)),
            ("O5", "K2", date(2026, 11, 2)))])  # after the panel's last month
    stage(warehouse_url, "bill_invoices", [
        {"invoice_id": i, "client_id": c, "amount": a, "issued_date": d} for i, c, a, d in (
            ("I0", "K1", 1000.0, date(2025, 10, 15)), ("I9", "K1", 10.0, date(2025, 11, 5)),
            ("I1", "K1", 100.0, date(2026, 8, 3)), ("I3", "K1", 50.0, date(2026, 9, 10)),
            ("I4", "K2", 200.0, date(2026, 9, 5)))])
    stage(warehouse_url, "erp_order_lines", [{"order_line_id": "L1", "order_id": "O1"}])
    stage(warehouse_url, "wms_shipments", [{"shipment_id": "S1", "order_line_id": "L1"}])
    stage(warehouse_url, "wms_packaging_incidents", [
        {"incident_id": "P1", "shipment_id": "S1", "reported_at": datetime(2026, 9, 2, 10)}])
    stage(warehouse_url, "sd_claims", [
        {"claim_id": "Q1", "client_id": "K2", "opened_at": datetime(2026, 10, 2, 9)}])
    with engine_for(warehouse_url).begin() as conn:
        upsert(conn, cases, [
            _case("c1", "K1", datetime(2026, 8, 25, 9), datetime(2026, 9, 5, 9)),
            _case("c2", "K2", datetime(2026, 10, 20, 9), None)])
        upsert(conn, metric_values, [
            {"client_id": "K1", "metric": "otif_order", "as_of": d, "window_days": w,
             "value": v} for d, w, v in ((date(2026, 9, 15), 30, 0.9),
                                         (date(2026, 9, 30), 30, 0.8),
                                         (date(2026, 9, 30), 90, 0.5))])
    outcomes = pd.DataFrame({"client_id": ["K1"], "period_start": [pd.Timestamp(2026, 9, 1)],
                             "nps": [100.0], "csi": [80.0]})
    with engine_for(warehouse_url).connect() as conn:
        panel = client_panel(conn, UNTIL, outcomes)
        portfolios = manager_portfolios(conn, UNTIL)
    nan = np.nan
    expected = pd.DataFrame([
        # client, month, manager, orders, revenue, incidents, claims, nps, csi, otif,
        # days overdue, cases opened, cases open
        ("K1", AUG, "AM2", 2, 100, 0, 0, nan, nan, nan, nan, 1, 1),
        ("K1", SEP, "AM2", 1, 50, 1, 0, 100, 80, 0.8, nan, 0, 0),
        ("K1", OCT, "AM2", 0, 0, 0, 0, nan, nan, nan, nan, 0, 0),
        ("K2", AUG, "Petrov P.P.", 0, 0, 0, 0, nan, nan, nan, nan, 0, 0),
        ("K2", SEP, "Petrov P.P.", 1, 200, 0, 0, nan, nan, nan, nan, 0, 0),
        ("K2", OCT, "Petrov P.P.", 0, 0, 0, 1, nan, nan, nan, nan, 1, 1),
    ], columns=CLIENT_PANEL_COLUMNS)
    pd.testing.assert_frame_equal(panel.reset_index(drop=True), expected, check_dtype=False)
    # the 12 months before 2026-11-01 start on 2025-11-01: I0 is older
    assert portfolios.to_dict("index") == {"Petrov P.P.": {"clients": 1, "revenue": 200.0},
                                           "Sidorova A.A.": {"clients": 1, "revenue": 160.0}}


def test_client_risk_is_stored_per_day_and_a_rerun_replaces_it(warehouse_url):
    """Twelve clients ordering three times a month from January to October 2026, six of them
    not from July on: a fall in orders (3 or 0 orders after 9) at the origins of May, June and
July, none at March's and April's (9 and 6 after 9); a model
    fits and every client gets a probability with its manager."""
    clients = [f"C{i:02d}" for i in range(1, 13)]
    stage(warehouse_url, "erp_clients", [
        {"client_id": c, "name": c, "account_manager": "Sidorova A.A." if i < 6 else "Petrov"}
        for i, c in enumerate(clients)])
    stage(warehouse_url, "erp_orders", [
        {"order_id": f"{c}-{m}-{k}", "client_id": c, "order_date": date(2026, m, 3 + 7 * k)}
        for i, c in enumerate(clients) for m in range(1, 11) for k in range(3)
        if i >= 6 or m < 7])
    engine = engine_for(warehouse_url)
    first = client_risk(engine, UNTIL)
    # origins March to July (two months of history, their 90 days over by October), 12
    # clients each; falls: the six stopping clients at May, June and July
    assert (first["samples"], first["positives"], first["stored"]) == (60, 18, 12)
    after = table_checksums(warehouse_url)
    assert client_risk(engine, UNTIL) == first
    assert table_checksums(warehouse_url) == after
    client_risk(engine, date(2026, 11, 8))
    with engine.connect() as conn:
        days = conn.execute(select(at_risk.c.as_of, func.count()).group_by(at_risk.c.as_of)
                            .order_by(at_risk.c.as_of)).all()
        latest = read_at_risk(conn, date(2026, 11, 30))
    assert [tuple(d) for d in days] == [(UNTIL, 12), (date(2026, 11, 8), 12)]
    assert set(latest["as_of"]) == {date(2026, 11, 8)}
    assert set(latest["kind"]) == {"client"}
    assert dict(zip(latest["subject_id"], latest["manager"], strict=True)) == {
        c: "Sidorova A.A." if i < 6 else "Petrov" for i, c in enumerate(clients)}
    assert latest["probability"].between(0, 1).all()
