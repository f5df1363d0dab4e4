"""OTIF against a slow, obvious implementation of the definition, on thousands of random lines.

The definition (DOMAIN.md): a line is OTIF when the quantity delivered by its deadline
(promised date + days_late) reaches ordered x (1 - quantity_pct/100); an early delivery is
on time unless the stricter ``days_early`` is set; cancelled and zero-quantity lines, and
lines whose deadline is not before as_of, are not counted; an order is OTIF when all its
counted lines are. The reference below works line by line in exact fractions.

Quantities are multiples of 1/100 000 so that "exactly at the percent tolerance" is exact
(ordered in hundredths x (100 - pct) / 100 with pct in tenths of a percent).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cx_tasks.metrics.otif import otif_by_line, otif_by_order
from cx_tasks.metrics.parameters import OtifTolerance
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)
UNIT = Fraction(1, 100_000)
FIRST_PROMISED = date(2026, 2, 1)


@st.composite
def tolerances(draw: st.DrawFn) -> OtifTolerance:
    return OtifTolerance(days_early=draw(st.sampled_from([None, None, 0, 2])),
                         days_late=draw(st.sampled_from([0, 0, 1, 3])),
                         quantity_pct=draw(st.sampled_from([0.0, 2.0, 2.5, 10.0])))


@st.composite
def lines(draw: st.DrawFn, quantity_pct: float) -> dict:
    """One order line with its deliveries: split, partial, exactly at the tolerance, late,
    over-delivered, zero-quantity, undelivered, cancelled or of quantity zero."""
    ordered = Fraction(draw(st.integers(0, 200_000) | st.sampled_from([0, 1, 100, 10_000])), 100)
    target = ordered * (1 - Fraction(str(quantity_pct)) / 100)
    promised = FIRST_PROMISED + timedelta(days=draw(st.integers(0, 30)))
    amount = draw(st.sampled_from(["target", "just_below", "full", "random"]))
    total = {"target": target, "just_below": max(target - UNIT, Fraction(0)), "full": ordered,
             "random": UNIT * draw(st.integers(0, int(ordered / UNIT) + 10))}[amount]
    parts = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(0, int(total / UNIT)), min_size=parts - 1,
                                max_size=parts - 1)))
    bounds = [0, *cuts, int(total / UNIT)]
    deliveries = [(UNIT * (b - a), _moment(draw, promised)) for a, b in zip(bounds, bounds[1:],
                                                                           strict=False)]
    extras = draw(st.lists(st.tuples(
        st.sampled_from([Fraction(0), Fraction(5), UNIT]), st.just(None)), max_size=2))
    deliveries += [(qty, _moment(draw, promised)) for qty, _ in extras]
    if draw(st.booleans()):
        deliveries.append((None, None))  # shipped, not delivered yet
    return {"quantity": ordered, "promised": promised, "cancelled": draw(st.booleans()) and
            draw(st.booleans()), "deliveries": deliveries}


def _moment(draw: st.DrawFn, promised: date) -> datetime:
    """A delivery time near the promised date: days -5..+5, the day's first or last minute or
    midday, sometimes after as_of."""
    day = promised + timedelta(days=draw(st.integers(-5, 5) | st.just(40)))
    return datetime.combine(day, datetime.min.time()) + draw(st.sampled_from(
        [timedelta(0), timedelta(hours=12), timedelta(hours=23, minutes=59)]))


@st.composite
def books(draw: st.DrawFn) -> tuple[OtifTolerance, dict[str, tuple[str, dict]]]:
    tolerance = draw(tolerances())
    drawn = draw(st.lists(lines(tolerance.quantity_pct), min_size=1, max_size=60))
    orders = draw(st.lists(st.integers(0, 15), min_size=len(drawn), max_size=len(drawn)))
    return tolerance, {f"L{i}": (f"O{o}", line)
                       for i, (o, line) in enumerate(zip(orders, drawn, strict=True))}


def reference_line_otif(line: dict, tolerance: OtifTolerance) -> bool | None:
    """The definition, slowly: None when the line is not counted, else whether it is OTIF."""
    deadline = line["promised"] + timedelta(days=tolerance.days_late)
    if line["cancelled"] or line["quantity"] <= 0 or deadline >= AS_OF:
        return None
    known = [(qty, at.date()) for qty, at in line["deliveries"]
             if at is not None and qty and qty > 0 and at.date() < AS_OF]
    by_deadline = sum((qty for qty, day in known if day <= deadline), Fraction(0))
    target = line["quantity"] * (1 - Fraction(str(tolerance.quantity_pct)) / 100)
    early = tolerance.days_early is not None and any(
        day < line["promised"] - timedelta(days=tolerance.days_early) for _, day in known)
    return by_deadline >= target and not early


def _frames(book: dict[str, tuple[str, dict]]) -> dict[str, pd.DataFrame]:
    orders = sorted({order for order, _ in book.values()})
    shipments = [
        {"shipment_id": f"S{line_id}-{k}", "order_line_id": line_id, "warehouse": "W1",
         "carrier": "K", "shipped_qty": float(qty or 0), "delivered_qty":
         None if qty is None else float(qty), "shipped_at": "2026-01-01",
         "delivered_at": None if at is None else at.isoformat(sep=" ")}
        for line_id, (_, line) in book.items() for k, (qty, at) in enumerate(line["deliveries"])
    ]
    return {
        "erp_orders": frame_of("erp_orders", [
            {"order_id": o, "client_id": "C1", "order_date": "2026-01-05"} for o in orders]),
        "erp_order_lines": frame_of("erp_order_lines", [
            {"order_line_id": line_id, "order_id": order, "quantity": float(line["quantity"]),
             "promised_date": line["promised"].isoformat(), "price": 1.0, "cost": 0.5,
             "cancelled": line["cancelled"]}
            for line_id, (order, line) in book.items()]),
        "wms_shipments": frame_of("wms_shipments", shipments),
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(books())
def test_otif_by_line_and_by_order_follow_the_definition(case: tuple) -> None:
    tolerance, book = case
    f = _frames(book)
    got = otif_by_line(f["erp_order_lines"], f["wms_shipments"], f["erp_orders"], tolerance,
                       AS_OF)
    expected = {line_id: reference_line_otif(line, tolerance)
                for line_id, (_, line) in book.items()}
    counted = {line_id: otif for line_id, otif in expected.items() if otif is not None}
    assert dict(zip(got["order_line_id"], got["otif"].astype(bool), strict=True)) == counted
    by_order: dict[str, bool] = {}
    for line_id, otif in counted.items():
        order = book[line_id][0]
        by_order[order] = by_order.get(order, True) and otif
    orders = otif_by_order(got)
    assert dict(zip(orders["order_id"], orders["otif"].astype(bool), strict=True)) == by_order
    # OTIF is exactly on time and in full
    assert (got["otif"] == (got["on_time"] & got["in_full"])).all()
