"""The findings lifecycle: a state per finding, moves with history, dismissal needs a
reason, a resolved finding found again reopens and says so."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from cx_tasks.implement.finding_lifecycle import FindingRefused, set_status, track
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import finding_history, finding_states, findings

DAY = date(2026, 11, 1)


def _finding(finding_id: str) -> dict:
    return {"finding_id": finding_id, "kind": "complaint_cluster", "client_id": None,
            "segment": "metals", "process_class": "documents", "factor": None, "metric": None,
            "summary": "s", "owner": "documents_desk", "owner_person": "Anna Sokolova",
            "found_on": DAY, "due_on": date(2026, 11, 8)}


def _states(url: str) -> dict[str, tuple]:
    with engine_for(url).connect() as conn:
        return {r.finding_id: (r.status, r.reopened, r.last_found_on, r.reason)
                for r in conn.execute(select(finding_states))}


def test_resolved_and_found_again_reopens(warehouse_url: str) -> None:
    engine = engine_for(warehouse_url)
    with engine.begin() as conn:
        conn.execute(findings.insert(), [_finding("cluster:metals:documents"),
                                         _finding("cluster:metals:pricing")])
        assert track(conn, ["cluster:metals:documents"], DAY, datetime(2026, 11, 1, 6)) == {
            "new": 2, "reopened": 0}
        assert set_status(conn, "cluster:metals:documents", "acknowledged", actor="anna",
                          now=datetime(2026, 11, 2, 9))
        assert set_status(conn, "cluster:metals:documents", "resolved", actor="anna",
                          now=datetime(2026, 11, 5, 9))
        with pytest.raises(FindingRefused) as refused:
            set_status(conn, "cluster:metals:pricing", "dismissed", actor="olga",
                       now=datetime(2026, 11, 5, 9))
        assert refused.value.reason == "reason_required"
        set_status(conn, "cluster:metals:pricing", "dismissed", actor="olga",
                   now=datetime(2026, 11, 5, 9), reason="seasonal, expected")
        # found again on the day of its resolution: not "again"
        assert track(conn, ["cluster:metals:documents"], date(2026, 11, 5),
                     datetime(2026, 11, 5, 10))["reopened"] == 0
        # found again the day after: reopened; a rerun of that day reopens nothing more
        for _ in range(2):
            track(conn, ["cluster:metals:documents", "cluster:metals:pricing"],
                  date(2026, 11, 6), datetime(2026, 11, 6, 6))
    assert _states(warehouse_url) == {
        "cluster:metals:documents": ("open", 1, date(2026, 11, 6),
                                     "found again on 2026-11-06 after being resolved on "
                                     "2026-11-05"),
        "cluster:metals:pricing": ("dismissed", 0, date(2026, 11, 6), "seasonal, expected"),
    }
    with engine.connect() as conn:
        moves = [(r.previous, r.status, r.actor) for r in conn.execute(
            select(finding_history).where(finding_history.c.finding_id
                                          == "cluster:metals:documents")
            .order_by(finding_history.c.changed_at))]
    assert moves == [(None, "open", "cx_implement"), ("open", "acknowledged", "anna"),
                     ("acknowledged", "resolved", "anna"), ("resolved", "open", "cx_implement")]
