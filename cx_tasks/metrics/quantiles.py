"""Quantiles per group of values already sorted by (group, value), without a per-group loop."""

from __future__ import annotations

import numpy as np


def grouped_quantile(group: np.ndarray, value: np.ndarray, n_groups: int, q: float) -> np.ndarray:
    """The ``q`` quantile of each group's values, interpolated linearly; NaN for an empty group.

    Interpolation follows numpy's default (``np.quantile(..., method="linear")``).
    ``group`` and ``value`` must be sorted by (group, value).
    """
    counts = np.bincount(group, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    position = q * np.maximum(counts - 1, 0)
    below = np.floor(position).astype(np.int64)
    fraction = position - below
    present = counts > 0
    low_at = np.where(present, starts + below, 0)
    high_at = np.where(present, starts + np.minimum(below + 1, counts - 1), 0)
    if len(value) == 0:
        return np.full(n_groups, np.nan)
    low, high = value[low_at], value[high_at]
    return np.where(present, low + fraction * (high - low), np.nan)
