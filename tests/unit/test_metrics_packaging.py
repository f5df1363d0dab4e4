"""Packaging incident rate = incidents reported in the window / shipments delivered in it."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.packaging import NO_DELIVERIES
from cx_tasks.metrics.parameters import MetricParameters
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)

SHIPMENTS = {  # shipment: (client, delivered_at)
    "S1": ("C1", "2026-02-02"), "S2": ("C1", "2026-02-10"), "S3": ("C1", "2026-02-20"),
    "S4": ("C1", "2026-02-28"),
    "S5": ("C1", None),              # in transit: not a delivered shipment
    "S6": ("C1", "2026-01-05"),      # delivered before the 30-day window (inside 90)
    "S7": ("C2", "2026-01-10"),      # C2 has nothing delivered in the last 30 days
}
INCIDENTS = {  # incident: (shipment, reported_at)
    "I1": ("S2", "2026-02-11 09:00"),  # in window 30
    "I2": ("S6", "2026-01-06 09:00"),  # in window 90 only
    "I3": ("S7", "2026-02-15 10:00"),  # C2, in window 30, its shipment delivered in January
}


def _frames() -> dict[str, pd.DataFrame]:
    clients = ["C1", "C2"]
    return {
        "erp_orders": frame_of("erp_orders", [
            {"order_id": f"O-{c}", "client_id": c, "order_date": "2025-12-01"} for c in clients]),
        "erp_order_lines": frame_of("erp_order_lines", [
            {"order_line_id": f"L-{c}", "order_id": f"O-{c}", "quantity": 10.0,
             "promised_date": "2026-06-01", "price": 1.0, "cost": 1.0, "cancelled": False}
            for c in clients]),
        "wms_shipments": frame_of("wms_shipments", [
            {"shipment_id": s, "order_line_id": f"L-{c}", "delivered_qty": 1.0,
             "delivered_at": at, "shipped_qty": 1.0, "shipped_at": "2025-12-01"}
            for s, (c, at) in SHIPMENTS.items()]),
        "wms_packaging_incidents": frame_of("wms_packaging_incidents", [
            {"incident_id": i, "shipment_id": s, "incident_type": "damaged", "reported_at": at}
            for i, (s, at) in INCIDENTS.items()]),
    }


def _rate() -> pd.DataFrame:
    metrics = compute_metrics(_frames(), AS_OF, MetricParameters())
    return metrics[metrics["metric"] == "packaging_incident_rate"].set_index(
        ["client_id", "window_days"])


def test_incidents_per_delivered_shipment() -> None:
    rate = _rate()
    # C1 window 30: I1 / (S1, S2, S3, S4) = 1 / 4
    assert tuple(rate.loc[("C1", 30), ["numerator", "denominator", "value"]]) == (1, 4, 0.25)
    # C1 window 90: (I1, I2) / (S1, S2, S3, S4, S6) = 2 / 5
    assert rate.loc[("C1", 90), "value"] == 0.4
    # C1 window 1 (Feb 28): S4 delivered, no incident -> 0, a real zero
    assert rate.loc[("C1", 1), "value"] == 0.0


def test_incidents_without_deliveries_in_the_window_are_undefined_with_a_note() -> None:
    row = _rate().loc[("C2", 30)]
    assert math.isnan(row["value"]) and row["numerator"] == 1 and row["denominator"] == 0
    assert row["note"] == NO_DELIVERIES
    # window 90: I3 / S7 = 1
    assert _rate().loc[("C2", 90), "value"] == 1.0
