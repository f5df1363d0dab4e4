"""The analyze stage's lines in the demo's funnel check."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.warehouse.schema import feedback, feedback_classes, findings


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """Feedback classified (a decision per text: a class, the review queue, or no complaint):
    at least one; findings routed to an owner: at least one."""
    count = func.count()
    texts = conn.scalar(select(count).select_from(feedback)
                        .where(feedback.c.text.is_not(None), feedback.c.text != "")) or 0
    decided = conn.scalar(select(count).select_from(feedback_classes)) or 0
    routed = conn.scalar(select(count).select_from(findings)
                         .where(findings.c.owner.is_not(None))) or 0
    unowned = conn.scalar(select(count).select_from(findings)
                          .where(findings.c.owner.is_(None))) or 0
    return [FunnelLine("feedback classified", decided, 1, f"of {texts:,} texts"),
            FunnelLine("findings routed", routed, 1, f"{unowned} unowned")]
