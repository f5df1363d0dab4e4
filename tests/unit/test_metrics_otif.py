"""OTIF per line, per order and per client window, computed by hand.

Default tolerance: days_early off, days_late 0, quantity_pct 2 -> for a promised date P the
deadline is P, an early delivery is on time, and in full means >= 98% of the quantity by P.
as_of = 2026-03-01: lines are evaluable when their deadline is on or before 2026-02-28.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.otif import otif_by_line, otif_by_order
from cx_tasks.metrics.parameters import MetricParameters, OtifTolerance
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)
TOLERANCE = OtifTolerance()

# line: (order, quantity, promised, cancelled, [(delivered_qty, delivered_at), ...])
LINES = {
    # two partials, 60 on P-2 + 40 on P (the deadline): 100 >= 98
    "L1": ("O1", 100.0, "2026-02-20", False,
           [(60.0, "2026-02-18 09:00"), (40.0, "2026-02-20 23:59")]),
    # 98.0 of 100 on the deadline: exactly the 2% limit -> in full
    "L2": ("O1", 100.0, "2026-02-22", False, [(98.0, "2026-02-22 10:00")]),
    # 60 before the deadline, 40 one day after: by deadline 60 < 98, and a delivery is late
    "L3": ("O2", 100.0, "2026-02-20", False,
           [(60.0, "2026-02-19 10:00"), (40.0, "2026-02-21 08:00")]),
    # everything 3 days early: early is on time by default (late only with days_early <= 2)
    "L4": ("O2", 100.0, "2026-02-20", False, [(100.0, "2026-02-17 10:00")]),
    # 97.9 of 100 on time: just below the limit -> not in full
    "L5": ("O3", 100.0, "2026-02-10", False, [(97.9, "2026-02-10 10:00")]),
    # cancelled: not counted at all, although nothing arrived
    "L6": ("O3", 100.0, "2026-02-10", True, []),
    # quantity 0: not counted
    "L7": ("O3", 0.0, "2026-02-10", False, []),
    # deadline on as_of itself: not evaluable yet
    "L8": ("O4", 10.0, "2026-03-01", False, []),
    # nothing delivered before as_of (a delivery after as_of is unknown; one in transit too)
    "L9": ("O5", 50.0, "2026-02-28", False, [(50.0, "2026-03-02 10:00"), (None, None)]),
    # 100 on P, then an over-delivery of 5 three days later: still OTIF (nothing needed late)
    "L10": ("O6", 100.0, "2026-02-15", False,
            [(100.0, "2026-02-15 08:00"), (5.0, "2026-02-18 08:00")]),
    # 99 on P, then a zero-quantity record two days later: still OTIF
    "L11": ("O6", 100.0, "2026-02-15", False,
            [(99.0, "2026-02-14 08:00"), (0.0, "2026-02-17 08:00")]),
}


def _frames(lines: dict = LINES) -> dict[str, pd.DataFrame]:
    orders = sorted({o for o, *_ in lines.values()})
    shipments = [
        {"shipment_id": f"S{line}-{k}", "order_line_id": line, "warehouse": "W1", "carrier": "K",
         "shipped_qty": qty or 0.0, "delivered_qty": qty, "shipped_at": "2026-01-01",
         "delivered_at": at}
        for line, (*_, deliveries) in lines.items() for k, (qty, at) in enumerate(deliveries)
    ]
    return {
        "erp_clients": frame_of("erp_clients", [{"client_id": "C1", "segment": "metals"}]),
        "erp_orders": frame_of("erp_orders", [
            {"order_id": o, "client_id": "C1", "order_date": "2026-01-05"} for o in orders]),
        "erp_order_lines": frame_of("erp_order_lines", [
            {"order_line_id": line, "order_id": o, "quantity": q, "promised_date": p,
             "price": 1.0, "cost": 0.5, "cancelled": c}
            for line, (o, q, p, c, _) in lines.items()]),
        "wms_shipments": frame_of("wms_shipments", shipments),
    }


def _line_otif(tolerance: OtifTolerance = TOLERANCE) -> pd.DataFrame:
    f = _frames()
    return otif_by_line(f["erp_order_lines"], f["wms_shipments"], f["erp_orders"], tolerance,
                        AS_OF).set_index("order_line_id")


def test_lines_evaluable_exclude_cancelled_zero_quantity_and_future_deadlines() -> None:
    # L6 cancelled, L7 quantity 0, L8 deadline 2026-03-01 is not before as_of
    assert sorted(_line_otif().index) == ["L1", "L10", "L11", "L2", "L3", "L4", "L5", "L9"]


def test_on_time_in_full_and_otif_per_line() -> None:
    got = _line_otif()[["on_time", "in_full", "otif", "delivered_by_deadline"]]
    expected = pd.DataFrame({
        # L1 60 + 40 = 100 by the deadline, deliveries on P-2 and P: both inside [P-2, P]
        "L1": (True, True, True, 100.0),
        # L2 98.0 >= 100 * (1 - 0.02) = 98.0
        "L2": (True, True, True, 98.0),
        # L3 the 40 arrived on P+1: late, and only 60 by the deadline
        "L3": (False, False, False, 60.0),
        # L4 P-3: early is on time by default; 100 by the deadline is in full
        "L4": (True, True, True, 100.0),
        # L5 97.9 < 98.0: short, but nothing arrived late
        "L5": (True, False, False, 97.9),
        # L9 no delivery before as_of: not on time, 0 by the deadline
        "L9": (False, False, False, 0.0),
        # L10 100 by P; the 5 over-delivered on P+3 are not needed, so not late
        "L10": (True, True, True, 100.0),
        # L11 99 >= 98 by P; the zero-quantity record on P+2 delivers nothing
        "L11": (True, True, True, 99.0),
    }, index=["on_time", "in_full", "otif", "delivered_by_deadline"]).T
    pd.testing.assert_frame_equal(got.loc[expected.index].astype(object), expected.astype(object),
                                  check_names=False)


def test_line_frame_carries_ids_dates_and_quantities() -> None:
    got = _line_otif().loc["L3"]
    assert (got["order_id"], got["client_id"], got["ordered_qty"]) == ("O2", "C1", 100.0)
    assert pd.Timestamp(got["promised_date"]) == pd.Timestamp("2026-02-20")
    assert pd.Timestamp(got["deadline"]) == pd.Timestamp("2026-02-20")


def test_days_late_moves_the_deadline() -> None:
    # days_late 1: L3's deadline becomes 02-21, so 60 + 40 = 100 arrive in [02-18, 02-21]
    got = _line_otif(OtifTolerance(days_late=1)).loc["L3"]
    assert (got["on_time"], got["in_full"], got["otif"]) == (True, True, True)
    assert pd.Timestamp(got["deadline"]) == pd.Timestamp("2026-02-21")


def test_days_early_is_a_stricter_variant_that_makes_early_deliveries_late() -> None:
    # days_early 2: L4 (P-3) is now early, hence not on time and not OTIF; L1's partial on
    # P-2 is exactly the earliest day allowed and stays on time
    strict = _line_otif(OtifTolerance(days_early=2))
    assert tuple(strict.loc["L4", ["on_time", "in_full", "otif"]]) == (False, True, False)
    assert strict.loc["L1", "otif"]
    # days_early 0: L1's first partial on 02-18 is 2 days before P = 02-20
    assert not _line_otif(OtifTolerance(days_early=0)).loc["L1", "on_time"]


def test_otif_by_order_needs_all_lines_and_takes_the_latest_deadline() -> None:
    got = otif_by_order(_line_otif().reset_index()).set_index("order_id")
    # O1 = L1 (OTIF) + L2 (OTIF), deadlines 02-20 and 02-22 -> OTIF, deadline 02-22
    # O2 = L3 (missed) + L4 (OTIF); O3 = L5 only (L6, L7 not counted); O5 = L9;
    # O6 = L10 + L11, both OTIF
    assert got["otif"].to_dict() == {"O1": True, "O2": False, "O3": False, "O5": False,
                                     "O6": True}
    assert pd.Timestamp(got.loc["O1", "deadline"]) == pd.Timestamp("2026-02-22")
    assert got.loc["O1", "client_id"] == "C1"


def _metric(metrics: pd.DataFrame, name: str, window: int) -> pd.Series:
    row = metrics[(metrics["metric"] == name) & (metrics["window_days"] == window)]
    assert len(row) == 1, (name, window, row)
    return row.iloc[0]


@pytest.mark.parametrize(("name", "window", "numerator", "denominator"), [
    # 30-day window [01-30, 03-01): evaluable lines L1 L2 L3 L4 L5 L9 L10 L11 -> 8
    ("otif_line", 30, 5, 8),      # L1, L2, L4, L10, L11
    ("on_time", 30, 6, 8),        # L1, L2, L4, L5, L10, L11
    ("in_full", 30, 5, 8),        # L1, L2, L4, L10, L11
    # orders by latest evaluable deadline: O1 02-22, O2 02-20, O3 02-10, O5 02-28, O6 02-15
    # -> 5; O1 and O6 OTIF
    ("otif_order", 30, 2, 5),
    # 1-day window = 02-28 only: L9 (deadline 02-28), not OTIF
    ("otif_line", 1, 0, 1),
    ("otif_order", 1, 0, 1),
])
def test_client_window_shares(name: str, window: int, numerator: int, denominator: int) -> None:
    row = _metric(compute_metrics(_frames(), AS_OF, MetricParameters()), name, window)
    assert (row["numerator"], row["denominator"]) == (numerator, denominator)
    assert row["value"] == pytest.approx(numerator / denominator)
    assert row["client_id"] == "C1" and row["as_of"] == AS_OF and row["note"] is None


def test_no_evaluable_line_in_window_emits_no_row_rather_than_zero() -> None:
    # keep only L8 (deadline on as_of): nothing evaluable, so no OTIF row at all
    metrics = compute_metrics(_frames({"L8": LINES["L8"]}), AS_OF, MetricParameters())
    assert metrics[metrics["metric"].isin(["otif_line", "on_time", "in_full"])].empty


def test_otif_by_line_on_empty_inputs_is_empty() -> None:
    f = {k: v.iloc[0:0] for k, v in _frames().items()}
    got = otif_by_line(f["erp_order_lines"], f["wms_shipments"], f["erp_orders"], TOLERANCE, AS_OF)
    assert got.empty and "otif" in got.columns
    assert otif_by_order(got).empty


def test_line_of_unknown_order_is_reported_without_order_or_client() -> None:
    f = _frames({"L1": LINES["L1"]})
    orders = f["erp_orders"].iloc[0:0]
    got = otif_by_line(f["erp_order_lines"], f["wms_shipments"], orders, TOLERANCE, AS_OF)
    assert got["order_id"].tolist() == [None] and got["client_id"].tolist() == [None]
    assert bool(np.asarray(got["otif"])[0])
