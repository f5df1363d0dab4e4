"""Short shipment rate and shortfall volume, computed by hand.

quantity_pct 2: a line is short when delivered before as_of < 98% of its quantity.
as_of = 2026-03-01; every line below has its deadline (= promised date) in February.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.parameters import MetricParameters
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)

# line: (quantity, promised, cancelled, [(delivered_qty, delivered_at)])
LINES = {
    "L1": (100.0, "2026-02-10", False, [(100.0, "2026-02-20")]),  # late but complete: not short
    "L2": (100.0, "2026-02-10", False, [(97.9, "2026-02-10")]),   # 97.9 < 98: short by 2.1
    "L3": (100.0, "2026-02-10", False, [(98.0, "2026-02-10")]),   # 98.0 = limit: not short, by 2
    "L4": (100.0, "2026-02-10", False,                            # 50 known, 50 after as_of:
           [(50.0, "2026-02-10"), (50.0, "2026-03-05")]),          # short by 50
    "L5": (100.0, "2026-02-10", False, [(105.0, "2026-02-10")]),  # over-delivered: shortfall 0
    "L6": (100.0, "2026-02-10", True, []),                        # cancelled: not counted
    "L7": (40.0, "2026-02-27", False, [(10.0, "2026-02-26"), (20.0, "2026-02-28")]),  # short 10
}


def _frames() -> dict[str, pd.DataFrame]:
    return {
        "erp_orders": frame_of("erp_orders", [
            {"order_id": "O1", "client_id": "C1", "order_date": "2026-01-20"}]),
        "erp_order_lines": frame_of("erp_order_lines", [
            {"order_line_id": k, "order_id": "O1", "quantity": q, "promised_date": p,
             "price": 1.0, "cost": 1.0, "cancelled": c} for k, (q, p, c, _) in LINES.items()]),
        "wms_shipments": frame_of("wms_shipments", [
            {"shipment_id": f"S-{k}-{i}", "order_line_id": k, "delivered_qty": q,
             "delivered_at": at, "shipped_qty": q, "shipped_at": "2026-02-01"}
            for k, (*_, deliveries) in LINES.items() for i, (q, at) in enumerate(deliveries)]),
    }


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    return compute_metrics(_frames(), AS_OF, MetricParameters()).set_index(
        ["metric", "window_days"])


def test_short_shipment_rate_counts_lines_short_as_of(metrics: pd.DataFrame) -> None:
    row = metrics.loc[("short_shipment_rate", 30)]
    # evaluable L1..L5, L7 = 6 lines; short: L2 (97.9), L4 (50), L7 (30 of 40 < 39.2) = 3
    assert (row["numerator"], row["denominator"], row["value"]) == (3, 6, 0.5)


def test_shortfall_volume_sums_what_is_missing(metrics: pd.DataFrame) -> None:
    # L2 2.1 + L3 2.0 + L4 50 + L7 10 (L1 0, L5 max(0, -5) = 0) = 64.1
    assert metrics.loc[("shortfall_volume", 30), "value"] == pytest.approx(64.1)
    # window 90 holds the same lines: same total; a shortfall has no ratio
    assert metrics.loc[("shortfall_volume", 90), "value"] == pytest.approx(64.1)
    assert pd.isna(metrics.loc[("shortfall_volume", 30), "denominator"])


def test_short_shipment_in_the_one_day_window(metrics: pd.DataFrame) -> None:
    # window 1 = 2026-02-28: no line has its deadline that day -> no row
    assert ("short_shipment_rate", 1) not in metrics.index
