"""The adjust stage's rows in the warehouse: initiative effects and corrections per ``as_of``,
model rounds per segment and judged period. Each write replaces the rows of its key, so a
rerun for the same day leaves the same state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, delete, select

from cx_tasks.adjust.effect import Correction, Effect
from cx_tasks.adjust.rounds import Round
from cx_tasks.warehouse.db import upsert
from cx_tasks.warehouse.schema import initiative_corrections, initiative_effects, model_rounds


def write_effects(
    conn: Connection, as_of: date, effects: Sequence[Effect], corrections: Sequence[Correction]
) -> None:
    """Replace ``as_of``'s effects and corrections."""
    for table in (initiative_effects, initiative_corrections):
        conn.execute(delete(table).where(table.c.as_of == as_of))
    upsert(conn, initiative_effects, [
        {"initiative_id": e.initiative_id, "metric": e.metric, "as_of": as_of,
         "estimate": e.estimate, "low": e.low, "high": e.high, "n": e.n,
         "clusters": e.clusters, "affected": e.affected, "controls": e.controls}
        for e in effects])
    upsert(conn, initiative_corrections, [
        {"initiative_id": c.initiative_id, "as_of": as_of, "owner": c.owner,
         "metric": c.metric, "days_running": c.days_running, "reason": c.reason}
        for c in corrections])


def write_rounds(conn: Connection, rounds: Sequence[Round]) -> None:
    """Insert or replace each round (key: segment and judged period)."""
    upsert(conn, model_rounds, [
        {"segment": r.segment, "judged_from": r.judged_from, "alignment": r.alignment,
         "current_version": r.current_version, "candidate_version": r.candidate_version,
         "answers_known": r.answers_known, "answers_judged": r.answers_judged,
         "mae_current": r.mae_current, "mae_candidate": r.mae_candidate,
         "r2_current": r.r2_current, "r2_candidate": r.r2_candidate, "promoted": r.promoted,
         "weights": json.dumps(
             {role: {f: round(w, 6) for f, w in ws.items()} for role, ws in r.weights.items()},
             sort_keys=True),
         "note": r.note}
        for r in rounds])


def read_rounds(conn: Connection) -> list[dict[str, object]]:
    """Every stored round, by segment and judged period."""
    rows = conn.execute(select(model_rounds).order_by(model_rounds.c.segment,
                                                      model_rounds.c.judged_from))
    return [dict(row._mapping) for row in rows]
