"""One metric's values for every window and client, and the long table they all form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from cx_tasks.metrics.windows import Windows

COLUMNS = ["client_id", "metric", "as_of", "window_days", "value", "numerator", "denominator",
           "note"]


@dataclass(frozen=True)
class MetricValues:
    """A metric per window and client (arrays shaped windows x clients) and which cells count.

    A cell is emitted when the client has records the metric looks at in that window
    (or, for counts, whenever the client is known). An emitted cell whose value is
    undefined holds NaN and a ``note`` saying why: undefined is never reported as 0.
    Where both numerator and denominator are given, value = numerator / denominator, so
    a ratio can be pooled over clients (sum of numerators / sum of denominators).
    """

    metric: str
    value: np.ndarray
    emitted: np.ndarray
    numerator: np.ndarray | None = None
    denominator: np.ndarray | None = None
    note: np.ndarray | None = None


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` where the denominator is positive, else NaN."""
    defined = denominator > 0
    return np.divide(numerator, denominator, out=np.full(np.shape(numerator), np.nan),
                     where=defined)


def undefined_notes(value: np.ndarray, emitted: np.ndarray, reason: str | np.ndarray) -> np.ndarray:
    """``reason`` in every emitted cell whose value is NaN, None elsewhere."""
    return np.where(emitted & np.isnan(value), reason, None).astype(object)


def share(metric: str, part: np.ndarray, whole: np.ndarray) -> MetricValues:
    """``part / whole`` emitted where ``whole`` is positive."""
    return MetricValues(metric, ratio(part, whole), whole > 0, part, whole)


def long_frame(results: Sequence[MetricValues], windows: Windows, client_ids: np.ndarray,
               as_of: date) -> pd.DataFrame:
    """Every emitted cell as a row: client_id, metric, as_of, window_days, value, numerator,
    denominator, note."""
    n_clients = len(client_ids)
    window_days = np.repeat(np.asarray(windows.days), n_clients).reshape(len(windows.days), -1)
    clients = np.arange(n_clients)
    parts = []
    for result in results:
        cells = result.emitted
        nothing = np.full(int(cells.sum()), np.nan)
        parts.append(pd.DataFrame({
            "client_id": client_ids[np.broadcast_to(clients, cells.shape)[cells]],
            "metric": result.metric,
            "window_days": window_days[cells],
            "value": result.value[cells],
            "numerator": nothing if result.numerator is None else result.numerator[cells],
            "denominator": nothing if result.denominator is None else result.denominator[cells],
            "note": np.full(len(nothing), None) if result.note is None else result.note[cells],
        }))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    frame["as_of"] = as_of
    frame["window_days"] = frame["window_days"].astype("int64")
    for column in ("value", "numerator", "denominator"):
        frame[column] = frame[column].astype("float64")
    frame["note"] = frame["note"].astype(object)
    return frame[COLUMNS]
