"""The adjust stage's lines in the demo's funnel check (``cx_tasks/demo/funnel.py``)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from cx_tasks.adjust.packs import PACK_KIND
from cx_tasks.adjust.register import MEASURED
from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.warehouse.schema import (
    at_risk,
    initiative_corrections,
    initiative_effects,
    initiatives,
    model_rounds,
    outbox,
)


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """Model rounds judged on a period they never saw (none required: the demo's survey
    answers all fall in its last month, and a round judges a whole month before the day),
    working-group packs sent, initiative effects measured (none required: an initiative
    approved on the demo's last day has no months after its start yet), predictions scored
    for the at-risk lists (none required: the monthly staff run scores them)."""
    def count(query: object) -> int:
        return int(conn.scalar(query) or 0)

    rounds = count(select(func.count()).select_from(model_rounds))
    promoted = count(select(func.count()).select_from(model_rounds)
                     .where(model_rounds.c.promoted.is_(True)))
    packs = count(select(func.count()).select_from(outbox).where(outbox.c.kind == PACK_KIND))
    effects = count(select(func.count()).select_from(initiative_effects))
    running = count(select(func.count()).select_from(initiatives)
                    .where(initiatives.c.status.in_(MEASURED)))
    flagged = count(select(func.count()).select_from(initiative_corrections))
    scored = count(select(func.count()).select_from(at_risk))
    return [
        FunnelLine("adjust: model rounds (versions judged)", rounds, 0,
                   f"{promoted} promoted; a round judges a whole month of survey answers"),
        FunnelLine("adjust: working-group packs sent", packs, 1),
        FunnelLine("adjust: initiative effects measured", effects, 0,
                   f"{running} register initiatives in progress or done, {flagged} flagged "
                   "for correction"),
        FunnelLine("adjust: at-risk predictions scored", scored, 0,
                   "clients and account managers (the monthly staff run)"),
    ]
