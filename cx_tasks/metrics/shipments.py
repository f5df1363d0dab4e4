"""Short shipment: evaluable order lines (see ``otif``) whose deliveries so far fall short.

Unlike in-full, short shipment looks at everything delivered before ``as_of``, late
deliveries included: a line delivered in full but late is late, not short.
"""

from __future__ import annotations

import numpy as np

from cx_tasks.metrics.otif import LineOutcomes, reaches
from cx_tasks.metrics.parameters import OtifTolerance
from cx_tasks.metrics.values import MetricValues, share
from cx_tasks.metrics.windows import WindowCells


def short_shipment_rate(lines: WindowCells, outcomes: LineOutcomes,
                        tolerance: OtifTolerance) -> MetricValues:
    """Share of evaluable order lines (deadline in window) short of quantity as of as_of."""
    short = ~reaches(outcomes.delivered, outcomes.ordered * tolerance.quantity_share)
    return share("short_shipment_rate", lines.total(short), lines.total())


def shortfall_volume(lines: WindowCells, outcomes: LineOutcomes) -> MetricValues:
    """Sum over evaluable order lines (deadline in window) of max(0, ordered - delivered)."""
    shortfall = np.maximum(0.0, outcomes.ordered - outcomes.delivered)
    counted = lines.total()
    return MetricValues("shortfall_volume", lines.total(shortfall), counted > 0)
