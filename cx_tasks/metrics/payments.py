"""Payment discipline: invoices paid in full by their due date, and days paid late.

Invoices count in the window holding their due date. Payments count when dated before
``as_of``; an invoice is paid in full once its payments reach ``amount -
payment_tolerance``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cx_tasks.metrics.ledger import InvoiceRows, PaymentRows
from cx_tasks.metrics.values import MetricValues, ratio, share
from cx_tasks.metrics.windows import WindowCells


@dataclass(frozen=True)
class Settlement:
    """Per invoice as of a day: paid in full by the due date, and days overdue."""

    on_time: np.ndarray
    days_overdue: np.ndarray


def settlement(invoices: InvoiceRows, payments: PaymentRows, tolerance: float,
               as_of: int) -> Settlement:
    """On time = payments dated <= due date reach amount - tolerance; else days overdue > 0.

    Days overdue run from the due date to the day the payments reached amount - tolerance,
    or to ``as_of - 1`` while they have not; they are 0 for an invoice paid on time.
    """
    known = (payments.day < as_of) & (payments.invoice >= 0)
    invoice, day, amount = payments.invoice[known], payments.day[known], payments.amount[known]
    n_invoices = len(invoices.amount)
    target = invoices.amount - tolerance
    by_due = np.bincount(invoice, weights=np.where(day <= invoices.due[invoice], amount, 0.0),
                         minlength=n_invoices)
    order = _by_invoice_and_day(invoice, day)
    invoice, day, amount = invoice[order], day[order], amount[order]
    running = np.cumsum(amount)
    first_of_invoice = np.diff(invoice, prepend=-1) != 0
    group_start = np.maximum.accumulate(np.where(first_of_invoice, np.arange(len(invoice)), 0))
    running -= (running - amount)[group_start]
    reached = running >= target[invoice]
    reached_on = np.full(n_invoices, np.inf)
    np.minimum.at(reached_on, invoice[reached], day[reached])
    on_time = by_due >= target
    settled = np.minimum(reached_on, as_of - 1)
    return Settlement(on_time, np.where(on_time, 0.0, np.maximum(0.0, settled - invoices.due)))


def _by_invoice_and_day(invoice: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The order sorting payments by invoice, then day, ties kept in place (``np.lexsort``'s),
    found with one stable sort of a single integer key (days are whole numbers)."""
    whole_days = day.astype(np.int64)
    first = int(whole_days.min()) if len(whole_days) else 0
    span = int(whole_days.max()) - first + 1 if len(whole_days) else 1
    return np.argsort(invoice * span + (whole_days - first), kind="stable")


def payment_on_time_share(invoices: WindowCells, settled: Settlement) -> MetricValues:
    """Share of invoices due in the window paid in full by their due date."""
    return share("payment_on_time_share", invoices.total(settled.on_time), invoices.total())


def payment_days_overdue(invoices: WindowCells, settled: Settlement) -> MetricValues:
    """Mean days paid late (unpaid: until as_of - 1; on time: 0) over invoices due in window."""
    overdue, count = invoices.total(settled.days_overdue), invoices.total()
    return MetricValues("payment_days_overdue", ratio(overdue, count), count > 0, overdue, count)
