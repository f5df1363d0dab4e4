"""Days, hours and rolling windows as numbers; per-client sums over every window at once.

Dates become float day numbers (days since 1970-01-01, NaN for a missing date) so that
every comparison with a missing date is simply false. A window of N days is
``[as_of - N, as_of)``; the windows are nested, so a value is added once to the band of
the shortest window holding it and the bands are summed cumulatively.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Days from 1970-01-01 to ``day``."""
    return (day - _EPOCH).days


def day_numbers(values: pd.Series) -> np.ndarray:
    """The calendar day of each date or timestamp as days since 1970-01-01 (NaN when missing)."""
    days = values.to_numpy(dtype="datetime64[D]")
    numbers = days.astype(np.int64).astype(np.float64)
    numbers[np.isnat(days)] = np.nan
    return numbers


def hour_numbers(values: pd.Series) -> np.ndarray:
    """Each timestamp as hours since 1970-01-01 00:00 (NaN when missing)."""
    stamps = values.to_numpy(dtype="datetime64[s]")
    numbers = stamps.astype(np.int64) / 3600.0
    numbers[np.isnat(stamps)] = np.nan
    return numbers


@dataclass(frozen=True)
class Windows:
    """The nested windows ``[as_of - N, as_of)`` of one computation, shortest first."""

    as_of: int
    days: tuple[int, ...]

    @classmethod
    def ending(cls, as_of: date, days: tuple[int, ...]) -> Windows:
        """The windows of ``days`` lengths ending (exclusively) at ``as_of``."""
        return cls(day_number(as_of), tuple(sorted(days)))

    @property
    def longest(self) -> int:
        """The length of the longest window in days."""
        return self.days[-1]

    def band(self, day: np.ndarray) -> np.ndarray:
        """Index of the shortest window holding each day (``len(days)`` when in none)."""
        age = self.as_of - 1 - day
        band = np.zeros(age.shape, dtype=np.int64)
        for days in self.days[:-1]:
            band += age >= days
        band[~((age >= 0) & (age < self.longest))] = len(self.days)
        return band

    def cells(self, client: np.ndarray, day: np.ndarray, n_clients: int,
              where: np.ndarray | None = None) -> WindowCells:
        """Each row's (shortest window holding its day, client) cell.

        Rows of an unknown (negative) client, of a day in no window, or outside ``where``
        are left out.
        """
        band = self.band(day)
        keep = (band < len(self.days)) & (client >= 0)
        if where is not None:
            keep &= where
        return WindowCells(keep, band[keep] * n_clients + client[keep],
                           (len(self.days), n_clients))


@dataclass(frozen=True)
class WindowCells:
    """Rows placed in (window, client) cells; ``total`` sums a quantity over each window."""

    keep: np.ndarray
    cell: np.ndarray
    shape: tuple[int, int]

    def total(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``weights`` (count of rows when None) per window and client."""
        kept = None if weights is None else np.asarray(weights, dtype=np.float64)[self.keep]
        sums = np.bincount(self.cell, weights=kept, minlength=self.shape[0] * self.shape[1])
        return np.cumsum(sums.reshape(self.shape), axis=0).astype(np.float64)
