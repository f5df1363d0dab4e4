"""Delivery rhythm irregularity: how far a client's gaps between deliveries stray from its cadence.

For a client, delivery days are the distinct days with a delivery (before ``as_of``) and
a gap is the number of days between consecutive delivery days, dated by the day that
ends it. The usual cadence ``m`` is the median of the gaps ending in the baseline (the
``rhythm_baseline_days`` before ``as_of``). Over the gaps ``g_1..g_k`` ending in a window:

    irregularity = sqrt(mean((g_i - m)^2)) / m

0 means deliveries came exactly at the usual cadence; 1 means they strayed from it, in
root-mean-square, by a whole cadence. It is reported for clients with a delivery in the
window (every delivery day but a client's first ends a gap) and is undefined (NaN, with
a note; never 0) when the baseline holds fewer than 2 gaps (3 delivery days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cx_tasks.metrics.ledger import ShipmentRows
from cx_tasks.metrics.quantiles import grouped_quantile
from cx_tasks.metrics.values import MetricValues, ratio, undefined_notes
from cx_tasks.metrics.windows import Windows

TOO_FEW_DELIVERIES = "fewer than 3 delivery days in the baseline: no usual cadence yet"


@dataclass(frozen=True)
class DeliveryDays:
    """Each client's distinct delivery days (sorted by client, day) and the gaps between them."""

    client: np.ndarray
    day: np.ndarray
    gap_client: np.ndarray
    gap: np.ndarray
    gap_end: np.ndarray


def delivery_days(shipments: ShipmentRows, as_of: int) -> DeliveryDays:
    """The distinct days with a delivery per client before ``as_of``, and the gaps between them."""
    known = (shipments.delivered < as_of) & (shipments.client >= 0)
    day = shipments.delivered[known].astype(np.int64)
    first = int(day.min()) if len(day) else 0
    span = int(day.max()) - first + 1 if len(day) else 1
    key = np.sort(shipments.client[known] * span + (day - first))
    key = key[np.diff(key, prepend=-1) != 0]
    client, day = key // span, key % span + first
    same_client = client[1:] == client[:-1]
    return DeliveryDays(client, day.astype(np.float64), client[1:][same_client],
                        np.diff(day)[same_client], day[1:][same_client].astype(np.float64))


def usual_cadence(days: DeliveryDays, as_of: int, baseline_days: int,
                  n_clients: int) -> tuple[np.ndarray, np.ndarray]:
    """Median gap per client over the gaps ending in the baseline, and how many there were."""
    in_baseline = days.gap_end >= as_of - baseline_days
    client, gap = days.gap_client[in_baseline], days.gap[in_baseline]
    widest = int(gap.max()) + 1 if len(gap) else 1
    key = np.sort(client * widest + gap)
    median = grouped_quantile(key // widest, (key % widest).astype(np.float64), n_clients, 0.5)
    return median, np.bincount(client, minlength=n_clients)


def rhythm_irregularity(shipments: ShipmentRows, windows: Windows, baseline_days: int,
                        n_clients: int) -> MetricValues:
    """RMS deviation of delivery gaps ending in the window from the usual cadence m, over m."""
    days = delivery_days(shipments, windows.as_of)
    cadence, baseline_gaps = usual_cadence(days, windows.as_of, baseline_days, n_clients)
    gaps = windows.cells(days.gap_client, days.gap_end, n_clients)
    deviation = (days.gap - cadence[days.gap_client]) ** 2
    gap_count = gaps.total()
    spread = np.sqrt(ratio(gaps.total(deviation), gap_count))
    usual = np.where(baseline_gaps >= 2, cadence, np.nan)
    value = spread / usual
    emitted = windows.cells(days.client, days.day, n_clients).total() > 0
    return MetricValues("rhythm_irregularity", value, emitted, spread,
                        np.broadcast_to(usual, value.shape).copy(),
                        undefined_notes(value, emitted, TOO_FEW_DELIVERIES))
