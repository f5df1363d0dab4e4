"""Document turnaround: hours from a client's request for a document to the document being sent.

Documents count in the window holding the day they were requested. A document is *sent*
when its ``sent_at`` is before ``as_of`` (midnight); one sent later is still open as of
``as_of``. Quantiles interpolate linearly between the sent documents' hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cx_tasks.metrics.keys import key_positions, take
from cx_tasks.metrics.ledger import DocumentRows
from cx_tasks.metrics.quantiles import grouped_quantile
from cx_tasks.metrics.values import MetricValues, share, undefined_notes
from cx_tasks.metrics.windows import Windows

NONE_SENT = "no document requested in the window was sent before as_of"


@dataclass(frozen=True)
class Turnarounds:
    """Documents requested per window and client, and the hours of those already sent.

    ``client``, ``hours`` and ``band`` (the shortest window holding the request day) are
    sorted by (client, hours).
    """

    requested: np.ndarray
    sent: np.ndarray
    client: np.ndarray
    hours: np.ndarray
    band: np.ndarray


def turnarounds(documents: DocumentRows, windows: Windows, n_clients: int) -> Turnarounds:
    """Hours from request to sent of the documents sent before ``as_of``, grouped by client."""
    request_day = np.floor(documents.requested / 24.0)
    is_sent = documents.sent < windows.as_of * 24.0
    sent = windows.cells(documents.client, request_day, n_clients, where=is_sent)
    client = documents.client[sent.keep]
    hours = (documents.sent - documents.requested)[sent.keep]
    order = np.argsort(hours)
    order = order[np.argsort(_small_ints(client[order], n_clients), kind="stable")]
    return Turnarounds(
        requested=windows.cells(documents.client, request_day, n_clients).total(),
        sent=sent.total(),
        client=client[order],
        hours=hours[order],
        band=windows.band(request_day[sent.keep][order]),
    )


def _small_ints(values: np.ndarray, n_values: int) -> np.ndarray:
    """Non-negative ``values`` below ``n_values`` in 16 bits when they fit (numpy's stable sort
    of 16-bit integers is a radix sort)."""
    return values.astype(np.uint16) if n_values <= 1 << 16 else values


def _quantile_hours(turns: Turnarounds, q: float) -> np.ndarray:
    """The ``q`` quantile of sent documents' hours per window (rows) and client (columns)."""
    n_windows, n_clients = turns.requested.shape
    return np.vstack([
        grouped_quantile(turns.client[turns.band <= w], turns.hours[turns.band <= w], n_clients, q)
        for w in range(n_windows)
    ])


def _turnaround_quantile(metric: str, turns: Turnarounds, q: float) -> MetricValues:
    """A quantile of turnaround hours, emitted where documents were requested in the window."""
    value = _quantile_hours(turns, q)
    emitted = turns.requested > 0
    return MetricValues(metric, value, emitted, None, turns.sent,
                        undefined_notes(value, emitted, NONE_SENT))


def document_turnaround_median_h(turns: Turnarounds) -> MetricValues:
    """Median hours from request to sent of documents requested in the window."""
    return _turnaround_quantile("document_turnaround_median_h", turns, 0.5)


def document_turnaround_p90_h(turns: Turnarounds) -> MetricValues:
    """90th percentile hours from request to sent of documents requested in the window."""
    return _turnaround_quantile("document_turnaround_p90_h", turns, 0.9)


def document_within_sla(documents: DocumentRows, windows: Windows, n_clients: int,
                        sla_hours: Mapping[str, float]) -> MetricValues:
    """Share of documents requested in the window sent within SLA (or unsent, SLA not over)."""
    types = list(sla_hours)
    at = key_positions(types, documents.doc_type)
    sla = take(np.asarray([sla_hours[t] for t in types]), at, np.nan)
    as_of_hour = windows.as_of * 24.0
    is_sent = documents.sent < as_of_hour
    elapsed = np.where(is_sent, documents.sent, as_of_hour) - documents.requested
    requested = windows.cells(documents.client, np.floor(documents.requested / 24.0), n_clients,
                              where=at >= 0)
    return share("document_within_sla", requested.total(elapsed <= sla), requested.total())
