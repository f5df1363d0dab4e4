"""Delivery rhythm irregularity = sqrt(mean((gap - m)^2)) / m, computed by hand.

as_of = 2026-03-01, baseline 365 days, so every delivery below lies in the baseline.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.parameters import MetricParameters
from cx_tasks.metrics.rhythm import TOO_FEW_DELIVERIES
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)

DELIVERIES = {
    # C1: delivery days Jan 1, 8, 15, 22, Feb 5, 12, 26 (two shipments on Feb 12: one day)
    # gaps 7, 7, 7, 14, 7, 14 -> sorted 7 7 7 7 14 14 -> median m = 7
    "C1": ["2026-01-01", "2026-01-08", "2026-01-15", "2026-01-22", "2026-02-05",
           "2026-02-12 08:00", "2026-02-12 17:00", "2026-02-26"],
    # C2: a single delivery: no gap at all
    "C2": ["2026-02-20"],
    # C3: two delivery days = one gap: still fewer than 2 gaps
    "C3": ["2026-02-01", "2026-02-15"],
    # C4: perfectly regular every 10 days, last one on Feb 28 (the 1-day window)
    "C4": ["2026-01-19", "2026-01-29", "2026-02-08", "2026-02-18", "2026-02-28"],
}


def _frames() -> dict[str, pd.DataFrame]:
    clients = list(DELIVERIES)
    return {
        "erp_clients": frame_of("erp_clients", [{"client_id": c} for c in clients]),
        "erp_orders": frame_of("erp_orders", [
            {"order_id": f"O-{c}", "client_id": c, "order_date": "2025-12-01"} for c in clients]),
        "erp_order_lines": frame_of("erp_order_lines", [
            {"order_line_id": f"L-{c}", "order_id": f"O-{c}", "quantity": 100.0,
             "promised_date": "2026-06-01", "price": 1.0, "cost": 1.0, "cancelled": False}
            for c in clients]),
        "wms_shipments": frame_of("wms_shipments", [
            {"shipment_id": f"S-{c}-{i}", "order_line_id": f"L-{c}", "delivered_qty": 1.0,
             "delivered_at": at, "shipped_qty": 1.0, "shipped_at": "2025-12-01"}
            for c, days in DELIVERIES.items() for i, at in enumerate(days)]),
    }


@pytest.fixture(scope="module")
def rhythm() -> pd.DataFrame:
    metrics = compute_metrics(_frames(), AS_OF, MetricParameters())
    return metrics[metrics["metric"] == "rhythm_irregularity"].set_index(
        ["client_id", "window_days"])


def test_irregularity_is_rms_deviation_over_usual_cadence(rhythm: pd.DataFrame) -> None:
    # window 30 = [Jan 30, Mar 1): gaps ending Feb 5 (14), Feb 12 (7), Feb 26 (14)
    # deviations from m = 7: 7, 0, 7 -> sqrt((49 + 0 + 49) / 3) = sqrt(32.667) = 5.7155
    row = rhythm.loc[("C1", 30)]
    assert row["numerator"] == pytest.approx(math.sqrt(98 / 3))
    assert row["denominator"] == 7
    assert row["value"] == pytest.approx(math.sqrt(98 / 3) / 7)  # 0.8165
    # window 90 = all 6 gaps: deviations 0 0 0 7 0 7 -> sqrt(98 / 6) / 7 = 0.5774
    assert rhythm.loc[("C1", 90), "value"] == pytest.approx(math.sqrt(98 / 6) / 7)


def test_regular_deliveries_give_zero(rhythm: pd.DataFrame) -> None:
    # C4: gaps 10, 10, 10, 10 -> m = 10, every deviation 0; the Feb 28 gap is in window 1
    assert rhythm.loc[("C4", 1), "value"] == 0.0
    assert rhythm.loc[("C4", 30), "value"] == 0.0


@pytest.mark.parametrize("client", ["C2", "C3"])
def test_too_few_deliveries_is_undefined_with_a_note_not_zero(rhythm: pd.DataFrame,
                                                                client: str) -> None:
    row = rhythm.loc[(client, 30)]
    assert math.isnan(row["value"])
    assert row["note"] == TOO_FEW_DELIVERIES


def test_clients_without_delivery_in_the_window_get_no_row(rhythm: pd.DataFrame) -> None:
    # window 1 = Feb 28: only C4 delivered that day
    assert sorted(c for c, w in rhythm.index if w == 1) == ["C4"]
