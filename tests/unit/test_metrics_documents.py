"""Document turnaround (median, p90) and share within SLA, computed by hand.

as_of = 2026-03-01 00:00. SLA hours: quality_certificate 24, invoice 24, waybill 4,
specification 48.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.documents import NONE_SENT
from cx_tasks.metrics.parameters import MetricParameters
from cx_tasks.warehouse.frames import frame_of

AS_OF = date(2026, 3, 1)

DOCUMENTS = [  # (document, client, type, requested_at, sent_at)
    ("D1", "C1", "invoice", "2026-02-10 08:00", "2026-02-10 20:00"),       # 12 h <= 24: within
    ("D2", "C1", "waybill", "2026-02-11 08:00", "2026-02-11 14:00"),       # 6 h > 4: out
    ("D3", "C1", "quality_certificate", "2026-02-12 08:00", "2026-02-13 08:00"),  # 24 h: within
    ("D4", "C1", "specification", "2026-02-28 10:00", None),  # unsent, 14 h of 48: within
    ("D5", "C1", "waybill", "2026-02-27 10:00", None),        # unsent, 38 h of 4: out
    ("D6", "C1", "invoice", "2026-02-20 10:00", "2026-03-02 10:00"),  # sent after as_of: out
    ("D7", "C1", "invoice", "2026-01-10 10:00", "2026-01-10 11:00"),  # 1 h, window 90 only
    ("D8", "C2", "waybill", "2026-02-28 22:00", None),        # unsent, 2 h of 4: within
]


@pytest.fixture(scope="module")
def documents() -> pd.DataFrame:
    frames = {"doc_documents": frame_of("doc_documents", [
        {"document_id": d, "client_id": c, "doc_type": t, "requested_at": r, "sent_at": s}
        for d, c, t, r, s in DOCUMENTS])}
    return compute_metrics(frames, AS_OF, MetricParameters()).set_index(
        ["client_id", "metric", "window_days"])


def test_median_and_p90_of_sent_documents(documents: pd.DataFrame) -> None:
    # window 30, sent before as_of: D1 12 h, D2 6 h, D3 24 h -> sorted 6, 12, 24
    median = documents.loc[("C1", "document_turnaround_median_h", 30)]
    assert median["value"] == 12.0 and median["denominator"] == 3
    # p90: position 0.9 * (3 - 1) = 1.8 -> 12 + 0.8 * (24 - 12) = 21.6
    p90 = documents.loc[("C1", "document_turnaround_p90_h", 30), "value"]
    assert p90 == pytest.approx(21.6) == np.quantile([6, 12, 24], 0.9)
    # window 90 adds D7 (1 h): 1, 6, 12, 24 -> median (6 + 12) / 2 = 9
    assert documents.loc[("C1", "document_turnaround_median_h", 90), "value"] == 9.0


def test_share_within_sla_counts_unsent_documents_by_their_sla(documents: pd.DataFrame) -> None:
    # window 30: D1..D6 requested = 6; within: D1, D3, D4 = 3
    row = documents.loc[("C1", "document_within_sla", 30)]
    assert (row["numerator"], row["denominator"], row["value"]) == (3, 6, 0.5)
    # C2: D8 unsent but its 4 h SLA runs until Mar 1 02:00 -> within
    assert documents.loc[("C2", "document_within_sla", 1), "value"] == 1.0


def test_nothing_sent_yet_is_undefined_with_a_note(documents: pd.DataFrame) -> None:
    row = documents.loc[("C2", "document_turnaround_median_h", 30)]
    assert math.isnan(row["value"]) and row["note"] == NONE_SENT and row["denominator"] == 0
    # window 1 (Feb 28) for C1: D4 requested, unsent
    assert math.isnan(documents.loc[("C1", "document_turnaround_p90_h", 1), "value"])
