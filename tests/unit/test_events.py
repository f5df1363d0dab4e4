"""Trigger events, computed by hand on small frames, with their boundaries.

Window throughout: [2026-05-10 02:00, 2026-05-11 02:00), a nightly interval.
OTIF tolerance: 2 days early, 0 days late, 2 % short (98 of 100 is in full).
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
from sqlalchemy import select

from cx_tasks.collect.events import (
    EVENT_COLUMNS,
    claims_closed,
    deliveries_completed,
    detect_events,
    document_delays,
    otif_misses,
    store_events,
    tickets_resolved,
)
from cx_tasks.metrics.parameters import MetricParameters, OtifTolerance
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.frames import frame_of
from cx_tasks.warehouse.schema import events as events_table

START, END = datetime(2026, 5, 10, 2), datetime(2026, 5, 11, 2)
TOLERANCE = OtifTolerance(days_early=2, days_late=0, quantity_pct=2.0)
CREATED = datetime(2026, 5, 1)


def _orders(*ids: str) -> pd.DataFrame:
    return frame_of("erp_orders", [dict(order_id=o, client_id=f"C-{o}", order_date=date(2026, 5, 1),
                                        updated_at=CREATED) for o in ids])


def _lines(*rows: tuple) -> pd.DataFrame:
    """(line id, order id, quantity, promised date, cancelled, updated_at)"""
    return frame_of("erp_order_lines", [
        dict(order_line_id=line, order_id=order, product_id="P", quantity=qty, unit="t",
             promised_date=promised, price=1.0, cost=0.5, cancelled=cancelled,
             updated_at=updated)
        for line, order, qty, promised, cancelled, updated in rows])


def _line(line: str, order: str, qty: float = 100.0, promised: date = date(2026, 5, 10),
          cancelled: bool = False, updated: datetime = CREATED) -> tuple:
    return line, order, qty, promised, cancelled, updated


def _shipments(*rows: tuple) -> pd.DataFrame:
    """(shipment id, line id, delivered qty, delivered_at)"""
    return frame_of("wms_shipments", [
        dict(shipment_id=s, order_line_id=line, warehouse="W1", carrier="K1", shipped_qty=qty,
             delivered_qty=qty, shipped_at=datetime(2026, 5, 2), delivered_at=at,
             updated_at=at or datetime(2026, 5, 2))
        for s, line, qty, at in rows])


def _payload(events: pd.DataFrame, event_id: str) -> dict:
    return json.loads(events.set_index("event_id").loc[event_id, "payload"])


# ---- delivery_completed -------------------------------------------------------------------

def test_delivery_completed_at_the_delivery_that_reaches_the_tolerated_quantity() -> None:
    lines = _lines(_line("L1", "O1"), _line("L2", "O2"))
    shipments = _shipments(
        ("S1", "L1", 60.0, datetime(2026, 5, 9, 10)),   # 60 of 100: not yet
        ("S2", "L1", 38.0, datetime(2026, 5, 10, 15)),  # 60 + 38 = 98 = 100 * 0.98: complete
        ("S3", "L2", 97.9, datetime(2026, 5, 10, 9)),   # 97.9 < 98: still waiting
    )
    found = deliveries_completed(lines, shipments, _orders("O1", "O2"), TOLERANCE, START, END)
    assert list(found.columns) == EVENT_COLUMNS
    assert found["event_id"].tolist() == ["delivery_completed:O1"]
    row = found.iloc[0]
    assert (row["client_id"], row["order_id"], row["ref_id"]) == ("C-O1", "O1", "O1")
    assert row["occurred_at"] == pd.Timestamp("2026-05-10 15:00")
    assert _payload(found, "delivery_completed:O1") == {
        "lines": 1, "shipments": 2, "completed_by": "S2"}


def test_delivery_completed_waits_for_every_line_and_ignores_later_deliveries() -> None:
    lines = _lines(_line("L1", "O3"), _line("L2", "O3"))
    shipments = _shipments(("S1", "L1", 100.0, datetime(2026, 5, 9, 8)),
                           ("S2", "L2", 100.0, datetime(2026, 5, 11, 3)))  # after END
    orders = _orders("O3")
    assert deliveries_completed(lines, shipments, orders, TOLERANCE, START, END).empty
    # the next night sees it: completed at S2's delivery, 2 shipments, 2 live lines
    nxt = deliveries_completed(lines, shipments, orders, TOLERANCE, END,
                               datetime(2026, 5, 12, 2))
    assert nxt["occurred_at"].tolist() == [pd.Timestamp("2026-05-11 03:00")]
    assert _payload(nxt, "delivery_completed:O3") == {
        "lines": 2, "shipments": 2, "completed_by": "S2"}


def test_a_cancelled_line_settles_an_order_when_it_is_cancelled() -> None:
    shipments = _shipments(("S1", "L1", 100.0, datetime(2026, 5, 10, 9)))
    orders = _orders("O4")
    cancelled_in_window = _lines(
        _line("L1", "O4"), _line("L2", "O4", cancelled=True, updated=datetime(2026, 5, 10, 20)))
    found = deliveries_completed(cancelled_in_window, shipments, orders, TOLERANCE, START, END)
    assert found["occurred_at"].tolist() == [pd.Timestamp("2026-05-10 20:00")]
    assert _payload(found, "delivery_completed:O4") == {
        "lines": 1, "shipments": 1, "completed_by": "cancellation"}
    # cancelled only after END: as of END the line was still open -> nothing yet
    cancelled_later = _lines(_line("L1", "O4"),
                             _line("L2", "O4", cancelled=True, updated=datetime(2026, 5, 11, 5)))
    assert deliveries_completed(cancelled_later, shipments, orders, TOLERANCE, START, END).empty


def test_an_order_that_received_nothing_completes_no_delivery() -> None:
    lines = _lines(_line("L1", "O5", cancelled=True, updated=datetime(2026, 5, 10, 12)),
                   _line("L2", "O5", qty=0.0))
    assert deliveries_completed(lines, _shipments(), _orders("O5"), TOLERANCE, START, END).empty


# ---- otif_miss ----------------------------------------------------------------------------

def test_a_delivery_on_the_deadline_day_is_on_time_and_one_a_minute_later_misses() -> None:
    # deadline = promised 2026-05-10 + 0 days late; the deadline day ends 2026-05-11 00:00
    lines = _lines(_line("L1", "O1"), _line("L2", "O2"))
    shipments = _shipments(("S1", "L1", 100.0, datetime(2026, 5, 10, 23, 59)),
                           ("S2", "L2", 100.0, datetime(2026, 5, 11, 0, 0)))
    found = otif_misses(lines, shipments, _orders("O1", "O2"), TOLERANCE, START, END)
    assert found["event_id"].tolist() == ["otif_miss:O2"]
    assert found["occurred_at"].tolist() == [pd.Timestamp("2026-05-11 00:00")]
    assert _payload(found, "otif_miss:O2") == {
        "deadline": "2026-05-10", "lines_missed": 1, "first_line": "L2",
        "on_time": False, "in_full": False}  # nothing arrived by the deadline day


def test_otif_miss_counts_the_lines_of_the_first_missing_deadline_once_per_order() -> None:
    lines = _lines(_line("L1", "O7"), _line("L2", "O7"), _line("L3", "O7"),
                   _line("L4", "O7", promised=date(2026, 5, 12)))
    shipments = _shipments(
        ("S1", "L1", 50.0, datetime(2026, 5, 10, 8)),  # on time, 50 < 98: short
        ("S2", "L2", 100.0, datetime(2026, 5, 7, 12)),  # before earliest 05-08: early
        ("S3", "L3", 100.0, datetime(2026, 5, 8, 0)),  # on earliest day: OTIF
    )
    found = otif_misses(lines, shipments, _orders("O7"), TOLERANCE, START, END)
    assert found["event_id"].tolist() == ["otif_miss:O7"]
    assert _payload(found, "otif_miss:O7") == {
        "deadline": "2026-05-10", "lines_missed": 2, "first_line": "L1",
        "on_time": True, "in_full": False}


def test_an_order_already_missed_on_an_earlier_deadline_is_not_reported_again() -> None:
    lines = _lines(_line("L1", "O8", promised=date(2026, 5, 8)), _line("L2", "O8"))
    shipments = _shipments()  # nothing delivered: L1 missed on 05-08, L2 on 05-10
    orders = _orders("O8")
    assert otif_misses(lines, shipments, orders, TOLERANCE, START, END).empty
    earlier = otif_misses(lines, shipments, orders, TOLERANCE, datetime(2026, 5, 8, 2),
                          datetime(2026, 5, 9, 2))
    assert earlier["occurred_at"].tolist() == [pd.Timestamp("2026-05-09 00:00")]


# ---- claims and tickets -------------------------------------------------------------------

def test_claims_closed_in_the_window_go_to_the_claims_contact() -> None:
    claims = frame_of("sd_claims", [
        dict(claim_id=c, client_id="C1", contact_id=contact, order_id="O1", opened_at=opened,
             closed_at=closed, text="t", updated_at=closed or opened)
        for c, contact, opened, closed in [
            ("K1", "P1", datetime(2026, 5, 8, 2), START),  # at START: in; open 48 h
            ("K2", "P2", datetime(2026, 5, 8, 2), END),  # at END: the next window's
            ("K3", "P3", datetime(2026, 5, 8, 2), None),  # still open
        ]])
    found = claims_closed(claims, START, END)
    assert found["event_id"].tolist() == ["claim_closed:K1"]
    assert (found.iloc[0]["contact_id"], found.iloc[0]["order_id"]) == ("P1", "O1")
    assert _payload(found, "claim_closed:K1") == {"hours_open": 48.0}


def test_tickets_resolved_in_the_window_keep_a_missing_contact_missing() -> None:
    tickets = frame_of("sd_tickets", [
        dict(ticket_id="T1", client_id="C1", contact_id=None, order_id=None,
             opened_at=datetime(2026, 5, 10, 1, 30), resolved_at=datetime(2026, 5, 10, 3),
             text="t", updated_at=datetime(2026, 5, 10, 3))])
    found = tickets_resolved(tickets, START, END)
    assert found["event_id"].tolist() == ["ticket_resolved:T1"]
    assert found.iloc[0]["contact_id"] is None and found.iloc[0]["order_id"] is None
    assert _payload(found, "ticket_resolved:T1") == {"hours_open": 1.5}  # 01:30 -> 03:00


# ---- document_delay -----------------------------------------------------------------------

SLA = {"quality_certificate": 24.0, "invoice": 24.0, "waybill": 4.0, "specification": 48.0}


def test_document_delay_at_sla_expiry_and_an_sla_met_to_the_second_is_no_delay() -> None:
    rows = [  # (id, type, requested, sent)
        ("D1", "waybill", datetime(2026, 5, 10, 8), datetime(2026, 5, 10, 12)),  # due 12:00: met
        ("D2", "waybill", datetime(2026, 5, 10, 8), datetime(2026, 5, 10, 12, 30)),  # 0.5 h late
        ("D3", "waybill", datetime(2026, 5, 10, 8), None),  # unsent at END
        ("D4", "waybill", datetime(2026, 5, 10, 8), datetime(2026, 5, 11, 3)),  # sent after END
        ("D5", "invoice", datetime(2026, 5, 9, 3), None),  # due 05-10 03:00: in the window
        ("D6", "invoice", datetime(2026, 5, 9, 1), None),  # due 05-10 01:00: before START
    ]
    documents = frame_of("doc_documents", [
        dict(document_id=d, client_id="C1", order_id="O1", doc_type=t, requested_at=req,
             sent_at=sent, updated_at=req) for d, t, req, sent in rows])
    found = document_delays(documents, SLA, START, END)
    assert found["event_id"].tolist() == [f"document_delay:{d}" for d in ("D2", "D3", "D4", "D5")]
    assert found.set_index("ref_id")["occurred_at"].to_dict() == {
        "D2": pd.Timestamp("2026-05-10 12:00"), "D3": pd.Timestamp("2026-05-10 12:00"),
        "D4": pd.Timestamp("2026-05-10 12:00"), "D5": pd.Timestamp("2026-05-10 03:00")}
    assert _payload(found, "document_delay:D2") == {
        "doc_type": "waybill", "sla_hours": 4.0, "sent": True, "hours_late": 0.5}
    unsent = {"doc_type": "waybill", "sla_hours": 4.0, "sent": False, "hours_late": None}
    assert _payload(found, "document_delay:D3") == unsent
    assert _payload(found, "document_delay:D4") == unsent  # as the sources stood at END


# ---- all together, and storage ------------------------------------------------------------

def _frames() -> dict[str, pd.DataFrame]:
    return {
        "erp_orders": _orders("O1"),
        "erp_order_lines": _lines(_line("L1", "O1")),
        "wms_shipments": _shipments(("S1", "L1", 100.0, datetime(2026, 5, 11, 0, 30))),
        "sd_claims": frame_of("sd_claims", []),
        "sd_tickets": frame_of("sd_tickets", []),
        "doc_documents": frame_of("doc_documents", [
            dict(document_id="D1", client_id="C-O1", order_id="O1", doc_type="waybill",
                 requested_at=datetime(2026, 5, 10, 8), sent_at=None,
                 updated_at=datetime(2026, 5, 10, 8))]),
    }


def test_detect_events_gathers_every_type_in_time_order() -> None:
    found = detect_events(_frames(), START, END, MetricParameters(otif=TOLERANCE))
    # D1 due 12:00; L1 delivered 05-11 00:30, one day late: OTIF miss at 05-11 00:00,
    # and the order is complete at 00:30
    assert list(zip(found["event_id"], found["occurred_at"], strict=True)) == [
        ("document_delay:D1", pd.Timestamp("2026-05-10 12:00")),
        ("otif_miss:O1", pd.Timestamp("2026-05-11 00:00")),
        ("delivery_completed:O1", pd.Timestamp("2026-05-11 00:30")),
    ]




def test_store_events_keeps_the_first_record_of_an_event(warehouse_url) -> None:
    found = detect_events(_frames(), START, END, MetricParameters(otif=TOLERANCE))
    assert store_events(warehouse_url, found, START) == 3
    assert store_events(warehouse_url, found, START) == 0  # rerun: nothing new
    later = found.assign(payload="{}")  # a later run's view of the same events
    assert store_events(warehouse_url, later, END) == 0
    with engine_for(warehouse_url).connect() as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.event_id)).mappings().all()
    assert [r["event_id"] for r in rows] == [
        "delivery_completed:O1", "document_delay:D1", "otif_miss:O1"]
    assert {r["interval_start"] for r in rows} == {START}
    assert rows[0]["occurred_at"] == datetime(2026, 5, 11, 0, 30)
    assert json.loads(rows[0]["payload"]) == {"lines": 1, "shipments": 1, "completed_by": "S1"}
    assert rows[1]["contact_id"] is None and rows[1]["client_id"] == "C-O1"


# ---- what was known when: rows loaded by later runs, rows that arrive late ------------------

NEXT_START, NEXT_END = END, datetime(2026, 5, 12, 2)


def test_a_row_loaded_by_a_later_run_is_unknown_and_reported_when_it_arrives() -> None:
    # K1 closed 05-10 12:00, inside the window, but entered late: loaded by the next run
    claims = frame_of("sd_claims", [
        dict(claim_id="K1", client_id="C1", contact_id="P1", order_id=None,
             opened_at=datetime(2026, 5, 10, 2), closed_at=datetime(2026, 5, 10, 12),
             text="t", updated_at=datetime(2026, 5, 11, 9))]).assign(interval_start=NEXT_START)
    frames = {**_frames(), "sd_claims": claims}
    params = MetricParameters(otif=TOLERANCE)
    assert "claim_closed:K1" not in set(detect_events(frames, START, END, params)["event_id"])
    late = detect_events(frames, NEXT_START, NEXT_END, params).set_index("event_id")
    assert late.loc["claim_closed:K1", "occurred_at"] == pd.Timestamp("2026-05-10 12:00")


def test_a_late_delivery_record_completes_the_order_when_it_is_loaded() -> None:
    # S1 delivered 05-10 09:00 (in the window) but its record was loaded by the next run
    lines = _lines(_line("L1", "O1")).assign(interval_start=START)
    shipments = _shipments(("S1", "L1", 100.0, datetime(2026, 5, 10, 9))).assign(
        interval_start=NEXT_START)
    orders = _orders("O1")
    frames = {**_frames(), "erp_order_lines": lines, "wms_shipments": shipments,
              "erp_orders": orders}
    params = MetricParameters(otif=TOLERANCE)
    on_time = detect_events(frames, START, END, params)
    assert "delivery_completed:O1" not in set(on_time["event_id"])
    assert "otif_miss:O1" in set(on_time["event_id"])  # what was known: nothing delivered
    late = detect_events(frames, NEXT_START, NEXT_END, params).set_index("event_id")
    assert late.loc["delivery_completed:O1", "occurred_at"] == pd.Timestamp("2026-05-10 09:00")
