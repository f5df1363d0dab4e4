"""The transactional layer: how often a client orders and what it earns the supplier.

Orders count in the window holding their order date; revenue and margin come from the
non-cancelled lines of those orders. Counts are reported for every known client (no
orders in a window is a real 0); the margin percentage needs revenue to be defined.
"""

from __future__ import annotations

import numpy as np

from cx_tasks.metrics.keys import take
from cx_tasks.metrics.ledger import LineRows, OrderRows
from cx_tasks.metrics.values import MetricValues, ratio, undefined_notes
from cx_tasks.metrics.windows import WindowCells, Windows

NO_REVENUE = "orders in the window but no revenue (all lines cancelled or unpriced)"


def ordered_lines(lines: LineRows, orders: OrderRows, windows: Windows,
                  n_clients: int) -> WindowCells:
    """The non-cancelled order lines placed in the windows by their order's date."""
    order_day = take(orders.day, lines.order, np.nan)
    return windows.cells(lines.client, order_day, n_clients, where=~lines.cancelled)


def order_frequency(orders: OrderRows, windows: Windows, n_clients: int,
                    per_days: int) -> MetricValues:
    """Orders dated in the window per order_frequency_days (default 30) days."""
    placed = windows.cells(orders.client, orders.day, n_clients).total()
    periods = np.broadcast_to((np.asarray(windows.days, dtype=np.float64) / per_days)[:, None],
                              placed.shape).copy()
    return MetricValues("order_frequency", placed / periods, np.ones_like(placed, dtype=bool),
                        placed, periods)


def revenue(lines: WindowCells, line_rows: LineRows) -> MetricValues:
    """Sum of price * quantity over non-cancelled lines of orders dated in the window."""
    value = lines.total(line_rows.price * line_rows.quantity)
    return MetricValues("revenue", value, np.ones_like(value, dtype=bool))


def gross_margin(lines: WindowCells, line_rows: LineRows) -> MetricValues:
    """Sum of (price - cost) * quantity over non-cancelled lines of orders dated in the window."""
    value = lines.total((line_rows.price - line_rows.cost) * line_rows.quantity)
    return MetricValues("gross_margin", value, np.ones_like(value, dtype=bool))


def gross_margin_pct(lines: WindowCells, line_rows: LineRows, orders: OrderRows,
                     windows: Windows, n_clients: int) -> MetricValues:
    """100 * gross margin / revenue over non-cancelled lines of orders dated in the window.

    The numerator is 100 * gross margin, so that value = numerator / denominator.
    """
    margin_x100 = lines.total(100.0 * (line_rows.price - line_rows.cost) * line_rows.quantity)
    sales = lines.total(line_rows.price * line_rows.quantity)
    value = ratio(margin_x100, sales)
    emitted = windows.cells(orders.client, orders.day, n_clients).total() > 0
    return MetricValues("gross_margin_pct", value, emitted, margin_x100, sales,
                        undefined_notes(value, emitted, NO_REVENUE))
