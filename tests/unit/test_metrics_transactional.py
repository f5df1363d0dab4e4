"""Order frequency, revenue and gross margin per client, computed by hand (as_of 2026-03-01)."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.parameters import MetricParameters
from cx_tasks.metrics.transactional import NO_REVENUE
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)

ORDERS = {  # order: (client, order_date)
    "O1": ("C1", "2026-02-28"), "O2": ("C1", "2026-02-15"), "O3": ("C1", "2026-02-01"),
    "O4": ("C1", "2026-01-10"), "O5": ("C1", "2025-12-15"),
    "O6": ("C2", "2026-02-20"),
}
LINES = [  # (order, price, cost, quantity, cancelled)
    ("O1", 10.0, 7.0, 100.0, False),   # revenue 1000, margin 300
    ("O2", 20.0, 15.0, 10.0, False),   # revenue 200, margin 50
    ("O2", 100.0, 0.0, 10.0, True),    # cancelled: left out
    ("O4", 5.0, 5.0, 10.0, False),     # revenue 50, margin 0 (window 90 only)
    ("O6", 30.0, 20.0, 5.0, True),     # C2's only line is cancelled
]


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    frames = {
        "erp_clients": frame_of("erp_clients", [{"client_id": c} for c in ("C1", "C2", "C3")]),
        "erp_orders": frame_of("erp_orders", [
            {"order_id": o, "client_id": c, "order_date": d} for o, (c, d) in ORDERS.items()]),
        "erp_order_lines": frame_of("erp_order_lines", [
            {"order_line_id": f"L{i}", "order_id": o, "price": p, "cost": c, "quantity": q,
             "cancelled": x, "promised_date": "2026-06-01"}
            for i, (o, p, c, q, x) in enumerate(LINES)]),
    }
    return compute_metrics(frames, AS_OF, MetricParameters()).set_index(
        ["client_id", "metric", "window_days"])


@pytest.mark.parametrize(("window", "orders", "per_30_days"), [
    (1, 1, 30.0),           # O1 on Feb 28: 1 order in 1 day = 30 per 30 days
    (30, 3, 3.0),           # O1, O2, O3 in [Jan 30, Mar 1)
    (90, 5, 5 * 30 / 90),   # O1..O5 in [Dec 1, Mar 1): 1.667
])
def test_order_frequency_per_30_days(metrics: pd.DataFrame, window: int, orders: int,
                                     per_30_days: float) -> None:
    row = metrics.loc[("C1", "order_frequency", window)]
    assert row["numerator"] == orders
    assert row["value"] == pytest.approx(per_30_days)


def test_known_client_without_orders_has_a_real_zero(metrics: pd.DataFrame) -> None:
    assert metrics.loc[("C3", "order_frequency", 30), "value"] == 0.0
    assert metrics.loc[("C3", "revenue", 30), "value"] == 0.0
    assert ("C3", "gross_margin_pct", 30) not in metrics.index


def test_gross_margin_over_non_cancelled_lines(metrics: pd.DataFrame) -> None:
    # window 30: revenue 1000 + 200 = 1200, margin 300 + 50 = 350 -> 350 / 1200 = 29.17 %
    assert metrics.loc[("C1", "revenue", 30), "value"] == 1200.0
    assert metrics.loc[("C1", "gross_margin", 30), "value"] == 350.0
    row = metrics.loc[("C1", "gross_margin_pct", 30)]
    assert (row["numerator"], row["denominator"]) == (100 * 350.0, 1200.0)
    assert row["value"] == pytest.approx(100 * 350 / 1200)
    # window 90 adds O4: 350 / 1250 = 28 %
    assert metrics.loc[("C1", "gross_margin_pct", 90), "value"] == pytest.approx(28.0)


def test_orders_without_revenue_leave_margin_undefined(metrics: pd.DataFrame) -> None:
    row = metrics.loc[("C2", "gross_margin_pct", 30)]
    assert math.isnan(row["value"]) and row["note"] == NO_REVENUE
    assert metrics.loc[("C2", "revenue", 30), "value"] == 0.0
