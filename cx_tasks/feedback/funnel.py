"""The feedback stage's line in the demo's funnel check."""

from __future__ import annotations

from sqlalchemy import Connection, func, literal, or_, select

from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.feedback.acknowledgement import KIND
from cx_tasks.surveys.responses import FEEDBACK_SOURCE
from cx_tasks.warehouse.schema import feedback, feedback_acknowledgements, outbox


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """Acknowledgements of survey answers accepted by the SMTP server (outbox ``sent``): at
    least one per answer whose contact had not opted out (each of those must get its e-mail)."""
    decided = feedback_acknowledgements.c
    expected = conn.scalar(
        select(func.count()).select_from(feedback.outerjoin(
            feedback_acknowledgements, decided.feedback_id == feedback.c.feedback_id))
        .where(feedback.c.source == FEEDBACK_SOURCE,
               or_(decided.reason.is_(None), decided.reason != "opted_out"))) or 0
    accepted = conn.scalar(
        select(func.count()).select_from(outbox.join(
            feedback, outbox.c.idempotency_key == literal("ack:") + feedback.c.feedback_id))
        .where(feedback.c.source == FEEDBACK_SOURCE, outbox.c.kind == KIND,
               outbox.c.status == "sent")) or 0
    return [FunnelLine("acknowledgements accepted by the SMTP server", accepted,
                       max(1, expected),
                       f"one per answer from a contact not opted out ({expected})")]
