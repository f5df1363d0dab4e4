"""The adjust stage's lines in the demo's funnel check (``cx_tasks/demo/funnel.py``)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from cx_tasks.adjust.packs import PACK_KIND
from cx_tasks.adjust.register import MEASURED
from cx_tasks.adjust.store import RISK_KINDS
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
    """Model rounds judged on a period they never saw (at least 1: the demo imports 18 months
    of past answers), working-group packs sent, initiative effects of the register measured
    (none required: the demo's CX team approves its initiatives on the demo's last day, so
    none has months after its start; the planted initiatives the demo measures are printed,
    not stored), predictions scored for the at-risk lists (at least 1: clients weekly,
    account managers monthly)."""
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
    kinds = dict(conn.execute(select(at_risk.c.kind, func.count()).group_by(at_risk.c.kind))
                 .tuples().all())
    return [
        FunnelLine("adjust: model rounds (versions judged)", rounds, 1,
                   f"{promoted} promoted; a round judges a whole month of survey answers "
                   "(past answers imported included)"),
        FunnelLine("adjust: working-group packs sent", packs, 1),
        FunnelLine("adjust: initiative effects measured", effects, 0,
                   f"{running} register initiatives in progress or done, {flagged} flagged "
                   "for correction; none required: approved on the demo's last day, no "
                   "after-period yet (the planted initiatives' estimates are printed, not "
                   "stored)"),
        FunnelLine("adjust: at-risk predictions scored", sum(kinds.values()), 1,
                   ", ".join(f"{kinds.get(k, 0)} {k}" for k in RISK_KINDS)
                   + " (clients weekly, account managers monthly)"),
    ]
