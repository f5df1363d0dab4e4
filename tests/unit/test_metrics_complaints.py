"""The service desk's claim metrics, computed by hand: quality claims per delivered shipment
and days to close a claim, per client and window ending at as_of."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from cx_tasks.metrics.complaints import (
    NO_DELIVERIES,
    claim_resolution_days,
    quality_claim_rate,
)

AS_OF = date(2026, 11, 1)  # windows end at 2026-11-01 00:00: 1 day = 31 Oct, 30 days from 2 Oct


def _claims(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["client_id", "opened_at", "closed_at",
                                        "dissatisfaction_group"])
    return frame.astype({"opened_at": "datetime64[us]", "closed_at": "datetime64[us]"})


CLAIMS = _claims([
    ("K1", datetime(2026, 10, 31, 9), None, "quality"),                      # day 1 and 30
    ("K1", datetime(2026, 10, 20, 9), datetime(2026, 10, 25, 9), "quality"),  # 30 days
    ("K1", datetime(2026, 9, 1), datetime(2026, 10, 31, 21), "delivery_discipline"),
    ("K1", datetime(2026, 11, 1, 0), datetime(2026, 11, 2), "quality"),        # after as_of
    ("K2", datetime(2026, 10, 30), datetime(2026, 10, 31, 12), None),          # unclassified
    ("K3", datetime(2026, 10, 15), None, "quality"),                          # no deliveries
])
DELIVERED = pd.DataFrame({"client_id": ["K1", "K1", "K2"], "window_days": [1, 30, 30],
                          "shipments": [2.0, 40.0, 10.0]})


def _by(frame: pd.DataFrame) -> dict[tuple[str, int], tuple]:
    return {(r.client_id, r.window_days): (r.value, r.numerator, r.denominator, r.note)
            for r in frame.itertuples()}


def test_quality_claims_per_delivered_shipment() -> None:
    rate = _by(quality_claim_rate(CLAIMS, DELIVERED, AS_OF, [1, 30]))
    # K1, 1 day (31 Oct): one quality claim opened, 2 shipments -> 0.5; 30 days: two quality
    # claims (31 Oct and 20 Oct; the delivery claim and the one opened on as_of do not
    # count), 40 shipments -> 0.05. K2: shipments but no quality claim -> 0. K3: a quality
    # claim but no delivery in the window -> undefined, with the reason.
    assert rate[("K1", 1)][:3] == (0.5, 1.0, 2.0)
    assert rate[("K1", 30)][:3] == (0.05, 2.0, 40.0)
    assert rate[("K2", 30)][:3] == (0.0, 0.0, 10.0)
    value, numerator, denominator, note = rate[("K3", 30)]
    assert pd.isna(value) and (numerator, denominator, note) == (1.0, 0.0, NO_DELIVERIES)
    assert ("K2", 1) not in rate and ("K3", 1) not in rate  # nothing to count that day


def test_days_to_close_the_claims_closed_in_the_window() -> None:
    days = _by(claim_resolution_days(CLAIMS, AS_OF, [1, 30]))
    # closed on 31 Oct: K1's delivery claim (1 Sep 00:00 -> 31 Oct 21:00 = 60.875 days) and
    # K2's (30 Oct 00:00 -> 31 Oct 12:00 = 1.5 days); 30 days also K1's 20 -> 25 Oct (5 days):
    # K1 mean (60.875 + 5) / 2 = 32.9375. Closed on 2 Nov: after as_of, not counted.
    assert days[("K1", 1)][:3] == pytest.approx((60.875, 60.875, 1.0))
    assert days[("K2", 1)][:3] == pytest.approx((1.5, 1.5, 1.0))
    assert days[("K1", 30)][:3] == pytest.approx((32.9375, 65.875, 2.0))
    assert ("K3", 30) not in days  # its claim is still open
