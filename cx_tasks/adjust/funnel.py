"""The adjust stage's lines in the demo's funnel check (``cx_tasks/demo/funnel.py``)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from cx_tasks.adjust.packs import PACK_KIND
from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.warehouse.schema import initiative_effects, model_rounds, outbox


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """Model rounds judged on a period they never saw, working-group packs sent, initiative
    effects measured (no minimum until the initiative register feeds the effects)."""
    def count(query: object) -> int:
        return int(conn.scalar(query) or 0)

    rounds = count(select(func.count()).select_from(model_rounds))
    promoted = count(select(func.count()).select_from(model_rounds)
                     .where(model_rounds.c.promoted.is_(True)))
    packs = count(select(func.count()).select_from(outbox).where(outbox.c.kind == PACK_KIND))
    effects = count(select(func.count()).select_from(initiative_effects))
    return [
        FunnelLine("adjust: model rounds", rounds, 1, f"{promoted} promoted"),
        FunnelLine("adjust: working-group packs sent", packs, 1),
        FunnelLine("adjust: initiative effects measured", effects, 0,
                   "fed by the initiative register (implement stage)"),
    ]
