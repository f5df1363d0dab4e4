"""The collect stage's lines in the demo's funnel check."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.warehouse.schema import events


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """Trigger events detected: at least one (no event, no survey)."""
    detected = conn.scalar(select(func.count()).select_from(events)) or 0
    return [FunnelLine("trigger events detected", detected, 1)]
