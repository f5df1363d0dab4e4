"""OTIF: order lines and orders delivered on time and in full, within a configurable tolerance.

For an order line: ``deadline = promised_date + days_late`` (dates; a delivery on the
deadline day is on time). A line is OTIF when the quantity delivered by its deadline reaches
``ordered * (1 - quantity_pct/100)``; an early delivery is on time. What arrives after the
deadline (an over-delivery, a zero-quantity record) never turns an OTIF line late. The
stricter variant ``days_early`` (off by default) also makes a line late when anything was
delivered before ``promised_date - days_early``.

Its deliveries are its shipments with a ``delivered_at`` and a quantity above 0, dated by
that timestamp's day, known when dated before ``as_of``. A line is *evaluable* as of
``as_of`` when its deadline is before ``as_of``; cancelled lines and lines with quantity
<= 0 are not counted at all (neither met nor missed). An order is judged on its evaluable
lines; its deadline is the latest of theirs. A delivery dated before its order is bad data
that the quality gate quarantines (``delivery_before_order``) before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from cx_tasks.metrics.keys import take
from cx_tasks.metrics.ledger import LineRows, ShipmentRows, ledger
from cx_tasks.metrics.parameters import OtifTolerance
from cx_tasks.metrics.values import MetricValues, share
from cx_tasks.metrics.windows import WindowCells, day_number

_RELATIVE_ROUNDING = 1e-9


def reaches(amount: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``amount >= target``, forgiving float rounding of sums (one part in 10^9)."""
    return amount >= target - _RELATIVE_ROUNDING * np.abs(target)


@dataclass(frozen=True)
class LineOutcomes:
    """Per order line as of a day: evaluable or not, deadline, quantities, on time, in full."""

    evaluable: np.ndarray
    deadline: np.ndarray
    ordered: np.ndarray
    delivered_by_deadline: np.ndarray
    delivered: np.ndarray
    on_time: np.ndarray
    in_full: np.ndarray

    @property
    def otif(self) -> np.ndarray:
        """On time and in full."""
        return self.on_time & self.in_full


def line_outcomes(lines: LineRows, shipments: ShipmentRows, tolerance: OtifTolerance,
                  as_of: int) -> LineOutcomes:
    """In full = quantity delivered by the deadline >= ordered * (1 - quantity_pct/100); on time
    = in full, or something arrived by the deadline and nothing after it (nothing needed came
    late); with ``days_early`` set, nothing before the earliest day either; as of ``as_of``.

    ``delivered`` is everything delivered before ``as_of`` (what short shipment looks at).
    """
    deadline = lines.promised + tolerance.days_late
    evaluable = ~lines.cancelled & (lines.quantity > 0) & (deadline < as_of)
    known = (shipments.delivered < as_of) & (shipments.line >= 0) & (shipments.delivered_qty > 0)
    line, day, quantity = (shipments.line[known], shipments.delivered[known],
                           shipments.delivered_qty[known])
    n_lines = len(lines.quantity)
    in_time = day <= deadline[line]
    by_deadline = np.bincount(line[in_time], weights=quantity[in_time], minlength=n_lines)
    in_full = reaches(by_deadline, lines.quantity * tolerance.quantity_share)
    arrived_in_time = np.bincount(line[in_time], minlength=n_lines) > 0
    came_late = np.bincount(line[~in_time], minlength=n_lines) > 0
    on_time = in_full | (arrived_in_time & ~came_late)
    if tolerance.days_early is not None:
        early = day < lines.promised[line] - tolerance.days_early
        on_time &= np.bincount(line[early], minlength=n_lines) == 0
    return LineOutcomes(
        evaluable=evaluable,
        deadline=deadline,
        ordered=lines.quantity,
        delivered_by_deadline=by_deadline,
        delivered=np.bincount(line, weights=quantity, minlength=n_lines),
        on_time=on_time,
        in_full=in_full,
    )


@dataclass(frozen=True)
class OrderOutcomes:
    """Per order: evaluable lines, their latest deadline, and whether all were OTIF."""

    lines: np.ndarray
    deadline: np.ndarray
    otif: np.ndarray


def order_outcomes(order: np.ndarray, deadline: np.ndarray, otif: np.ndarray,
                   n_orders: int) -> OrderOutcomes:
    """An order is OTIF when every one of its evaluable lines is; its deadline is their latest."""
    lines = np.bincount(order, minlength=n_orders)
    met = np.bincount(order, weights=otif, minlength=n_orders)
    latest = np.full(n_orders, -np.inf)
    np.maximum.at(latest, order, deadline)
    return OrderOutcomes(lines, np.where(lines > 0, latest, np.nan), (lines > 0) & (met == lines))


def otif_by_line(lines: pd.DataFrame, shipments: pd.DataFrame, orders: pd.DataFrame,
                 tolerance: OtifTolerance, as_of: date) -> pd.DataFrame:
    """OTIF of every order line evaluable as of ``as_of`` (see ``line_outcomes``).

    Columns: order_line_id, order_id, client_id, promised_date, deadline, ordered_qty,
    delivered_by_deadline, on_time, in_full, otif.
    """
    book = ledger({"erp_orders": orders, "erp_order_lines": lines, "wms_shipments": shipments})
    line_at, client_ids = book.lines, book.client_ids
    assert line_at is not None and book.shipments is not None
    outcomes = line_outcomes(line_at, book.shipments, tolerance, day_number(as_of))
    rows = np.flatnonzero(outcomes.evaluable)
    order_ids = orders["order_id"].to_numpy(dtype=object)
    order, client = line_at.order[rows], line_at.client[rows]
    return pd.DataFrame({
        "order_line_id": lines["order_line_id"].to_numpy(dtype=object)[rows],
        "order_id": take(order_ids, order, None),
        "client_id": take(client_ids, client, None),
        "promised_date": lines["promised_date"].to_numpy()[rows],
        "deadline": _dates(outcomes.deadline[rows]),
        "ordered_qty": outcomes.ordered[rows],
        "delivered_by_deadline": outcomes.delivered_by_deadline[rows],
        "on_time": outcomes.on_time[rows],
        "in_full": outcomes.in_full[rows],
        "otif": outcomes.otif[rows],
    })


def otif_by_order(line_otif: pd.DataFrame) -> pd.DataFrame:
    """OTIF per order from ``otif_by_line``: all its lines OTIF; deadline = latest line deadline.

    Columns: order_id, client_id, deadline, otif.
    """
    order, order_ids = pd.factorize(line_otif["order_id"].to_numpy(dtype=object))
    known = order >= 0
    first_line = np.flatnonzero(known)[np.unique(order[known], return_index=True)[1]]
    deadline = line_otif["deadline"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    outcomes = order_outcomes(order[known], deadline[known].astype(np.float64),
                              line_otif["otif"].to_numpy(dtype=bool)[known], len(order_ids))
    return pd.DataFrame({
        "order_id": np.asarray(order_ids, dtype=object),
        "client_id": line_otif["client_id"].to_numpy(dtype=object)[first_line],
        "deadline": _dates(outcomes.deadline),
        "otif": outcomes.otif,
    })


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as dates (datetime64, day resolution kept as seconds)."""
    return days.astype(np.int64).astype("datetime64[D]").astype("datetime64[s]")


def otif_line(lines: WindowCells, outcomes: LineOutcomes) -> MetricValues:
    """Share of evaluable order lines (deadline in window) delivered on time and in full."""
    return share("otif_line", lines.total(outcomes.otif), lines.total())


def on_time(lines: WindowCells, outcomes: LineOutcomes) -> MetricValues:
    """Share of evaluable order lines (deadline in window) with no needed delivery late."""
    return share("on_time", lines.total(outcomes.on_time), lines.total())


def in_full(lines: WindowCells, outcomes: LineOutcomes) -> MetricValues:
    """Share of evaluable order lines (deadline in window) delivered in full by the deadline."""
    return share("in_full", lines.total(outcomes.in_full), lines.total())


def otif_order(orders: WindowCells, outcomes: OrderOutcomes) -> MetricValues:
    """Share of orders (latest line deadline in window) whose evaluable lines were all OTIF."""
    return share("otif_order", orders.total(outcomes.otif), orders.total())
