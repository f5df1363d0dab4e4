"""The survey stage's lines in the demo's funnel check."""

from __future__ import annotations

import math

from sqlalchemy import Connection, func, select

from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.warehouse.schema import survey_invitations, survey_responses

ANSWERED_SHARE = 0.2
"""Answers stored must reach this share of the invitations sent (the demo's contacts answer
about a third: ``respondents.yaml``)."""


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """Invitations sent (accepted by the SMTP server): at least one; answers stored: at least
    ``ANSWERED_SHARE`` of the invitations sent, rounded up."""
    count = func.count()
    sent = conn.scalar(select(count).select_from(survey_invitations)
                       .where(survey_invitations.c.sent_at.is_not(None))) or 0
    answered = conn.scalar(select(count).select_from(survey_responses)) or 0
    return [FunnelLine("invitations sent", sent, 1),
            FunnelLine("answers stored", answered, max(1, math.ceil(ANSWERED_SHARE * sent)),
                       f"at least {ANSWERED_SHARE:.0%} of {sent} invitations")]
