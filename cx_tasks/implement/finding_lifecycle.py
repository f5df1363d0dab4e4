"""The lifecycle of a finding: open -> acknowledged -> in progress -> resolved, or dismissed
with a reason; a resolved finding that the analysis finds again reopens and says so.

``finding_states`` holds each finding's status (the ``findings`` table stays the analysis'
own: what was found, its owner and due date); ``finding_history`` every change. Moves::

    open ──► acknowledged ──► in_progress ──► resolved ──(found again)──► open
      └───────────┴────────────────┴────────► dismissed (a reason is required)

``track`` runs after each analysis: every finding gets a state (open) when first seen, and
a resolved one found again on a later day than its resolution is reopened by the pipeline
with the reason ``found again on <day> after being resolved on <day>`` (``reopened``
counts how often). A dismissed finding stays dismissed: dismissing is the decision not to
act on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Literal

from sqlalchemy import Connection, select, update

from cx_tasks.warehouse.db import insert_if_absent
from cx_tasks.warehouse.schema import finding_history, finding_states, findings

FindingStatus = Literal["open", "acknowledged", "in_progress", "resolved", "dismissed"]
MOVES: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "in_progress", "resolved", "dismissed"}),
    "acknowledged": frozenset({"in_progress", "resolved", "dismissed"}),
    "in_progress": frozenset({"resolved", "dismissed"}),
    "resolved": frozenset(),
    "dismissed": frozenset(),
}
"""The statuses a person may move a finding to from each status."""


class FindingRefused(ValueError):
    """A finding change that must not happen; ``reason`` says why."""

    def __init__(self, reason: Literal["unknown_finding", "transition", "reason_required"]):
        super().__init__(reason)
        self.reason = reason


def _history(conn: Connection, finding_id: str, at: datetime, status: str,
             previous: str | None, actor: str, reason: str | None) -> None:
    insert_if_absent(conn, finding_history, [{
        "finding_id": finding_id, "changed_at": at, "status": status, "previous": previous,
        "actor": actor, "reason": reason}])


def track(conn: Connection, found_ids: Iterable[str], as_of: date, now: datetime) -> dict[str,
                                                                                        int]:
    """Give every stored finding a state and reopen the resolved ones in ``found_ids`` (the
    findings of ``as_of``) found after their resolution day; return counts ``new`` and
    ``reopened``."""
    found = set(found_ids)
    states = {r.finding_id: r for r in conn.execute(select(finding_states))}
    counts = {"new": 0, "reopened": 0}
    for finding_id, found_on in conn.execute(select(findings.c.finding_id,
                                                    findings.c.found_on)):
        seen = as_of if finding_id in found else found_on
        state = states.get(finding_id)
        if state is None:
            insert_if_absent(conn, finding_states, [{
                "finding_id": finding_id, "status": "open", "reason": None, "changed_at": now,
                "reopened": 0, "last_found_on": seen}])
            _history(conn, finding_id, now, "open", None, "cx_implement", None)
            counts["new"] += 1
            continue
        if finding_id not in found or seen <= state.last_found_on:
            continue
        values: dict[str, object] = {"last_found_on": seen}
        if state.status == "resolved" and seen > state.changed_at.date():
            reason = (f"found again on {seen.isoformat()} after being resolved on "
                      f"{state.changed_at.date().isoformat()}")
            values.update(status="open", reason=reason, changed_at=now,
                          reopened=state.reopened + 1)
            _history(conn, finding_id, now, "open", "resolved", "cx_implement", reason)
            counts["reopened"] += 1
        conn.execute(update(finding_states).where(finding_states.c.finding_id == finding_id)
                     .values(**values))
    return counts


def set_status(conn: Connection, finding_id: str, status: FindingStatus, *, actor: str,
               now: datetime, reason: str | None = None) -> bool:
    """Move a finding to ``status`` at ``now`` (a person's decision); False when it is
    already there. Dismissing needs a reason."""
    state = conn.execute(select(finding_states).where(
        finding_states.c.finding_id == finding_id)).first()
    if state is None:
        raise FindingRefused("unknown_finding")
    if state.status == status:
        return False
    if status not in MOVES[state.status]:
        raise FindingRefused("transition")
    reason = " ".join((reason or "").split()) or None
    if status == "dismissed" and reason is None:
        raise FindingRefused("reason_required")
    conn.execute(update(finding_states).where(finding_states.c.finding_id == finding_id)
                 .values(status=status, reason=reason, changed_at=now))
    _history(conn, finding_id, now, status, state.status, actor, reason)
    return True
