"""Payment discipline: share of invoices paid on time and mean days overdue, by hand.

as_of = 2026-03-01 (so as_of - 1 = Feb 28); payment tolerance 0.01.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.parameters import MetricParameters
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)

INVOICES = {  # invoice: (amount, due_date, [(paid_date, amount)])
    "I1": (1000.0, "2026-02-10", [("2026-02-05", 600.0), ("2026-02-10", 400.0)]),  # on time
    "I2": (1000.0, "2026-02-10", [("2026-02-05", 600.0), ("2026-02-15", 400.0)]),  # 5 days late
    "I3": (1000.0, "2026-02-20", [("2026-02-18", 500.0)]),          # partly paid: Feb 28 -> 8
    "I4": (1000.0, "2026-02-20", [("2026-02-20", 999.995)]),        # within 0.01: on time
    "I5": (500.0, "2026-02-25", [("2026-03-03", 500.0)]),           # paid after as_of: 3 days
    "I6": (200.0, "2026-01-15", [("2026-01-25", 100.0), ("2026-01-20", 100.0)]),  # Jan 25: 10
}


@pytest.fixture(scope="module")
def payments() -> pd.DataFrame:
    frames = {
        "bill_invoices": frame_of("bill_invoices", [
            {"invoice_id": i, "client_id": "C1", "amount": a, "issued_date": "2026-01-01",
             "due_date": d} for i, (a, d, _) in INVOICES.items()]),
        "bill_payments": frame_of("bill_payments", [
            {"payment_id": f"P-{i}-{k}", "invoice_id": i, "paid_date": p, "amount": a}
            for i, (*_, paid) in INVOICES.items() for k, (p, a) in enumerate(paid)]),
    }
    return compute_metrics(frames, AS_OF, MetricParameters()).set_index(["metric", "window_days"])


def test_share_paid_in_full_by_the_due_date(payments: pd.DataFrame) -> None:
    # window 30 = due Jan 30 .. Feb 28: I1..I5; on time I1, I4 -> 2 / 5
    row = payments.loc[("payment_on_time_share", 30)]
    assert (row["numerator"], row["denominator"], row["value"]) == (2, 5, 0.4)


def test_mean_days_overdue_counts_unpaid_until_the_day_before_as_of(payments: pd.DataFrame) -> None:
    # I1 0, I2 Feb 15 - Feb 10 = 5, I3 Feb 28 - Feb 20 = 8, I4 0, I5 Feb 28 - Feb 25 = 3
    row = payments.loc[("payment_days_overdue", 30)]
    assert (row["numerator"], row["denominator"]) == (16, 5)
    assert row["value"] == pytest.approx(16 / 5)
    # window 90 adds I6: paid 100 on Jan 20, 100 more on Jan 25 -> reached Jan 25: 10 days
    assert payments.loc[("payment_days_overdue", 90), "value"] == pytest.approx(26 / 6)


def test_no_invoice_due_in_the_window_emits_no_row(payments: pd.DataFrame) -> None:
    # window 1 = Feb 28: nothing due that day
    assert ("payment_on_time_share", 1) not in payments.index
