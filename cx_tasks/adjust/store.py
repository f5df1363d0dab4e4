"""The adjust stage's rows in the warehouse: initiative effects and corrections per ``as_of``,
model rounds per segment and judged period, the at-risk predictions per kind and ``as_of``.
Each write replaces the rows of its key, so a rerun for the same day leaves the same state;
each read takes the newest day on or before the day asked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import pandas as pd
from sqlalchemy import Connection, Table, delete, func, select

from cx_tasks.adjust.effect import Correction, Effect
from cx_tasks.adjust.rounds import Round
from cx_tasks.warehouse.db import upsert
from cx_tasks.warehouse.schema import (
    at_risk,
    initiative_corrections,
    initiative_effects,
    model_rounds,
)

RISK_KINDS = ("client", "leaves", "overloaded")
"""The at-risk predictions: a client's drop in the next 90 days, a manager leaving or
overloaded next quarter."""
RISK_COLUMNS = ("probability", "reasons", "manager", "clients", "revenue", "revenue_at_risk")


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


def _newest(conn: Connection, table: Table, as_of: date) -> date | None:
    """The newest ``as_of`` of ``table`` on or before ``as_of``."""
    return conn.scalar(select(func.max(table.c.as_of)).where(table.c.as_of <= as_of))


def read_effects(conn: Connection, as_of: date) -> list[Effect]:
    """The effects of the newest measuring day on or before ``as_of``."""
    day = _newest(conn, initiative_effects, as_of)
    rows = conn.execute(select(initiative_effects).where(initiative_effects.c.as_of == day)
                        .order_by(initiative_effects.c.initiative_id,
                                  initiative_effects.c.metric)).all()
    return [Effect(r.initiative_id, r.metric, r.estimate, r.low, r.high, r.n, r.clusters,
                   r.affected, r.controls) for r in rows]


def read_corrections(conn: Connection, as_of: date) -> list[Correction]:
    """The initiatives flagged for correction on the newest measuring day on or before
    ``as_of`` (the effects' day: a day with effects and no flag has none)."""
    day = _newest(conn, initiative_effects, as_of)
    rows = conn.execute(select(initiative_corrections)
                        .where(initiative_corrections.c.as_of == day)
                        .order_by(initiative_corrections.c.initiative_id)).all()
    return [Correction(r.initiative_id, r.owner, r.metric, r.days_running, r.reason)
            for r in rows]


def write_at_risk(conn: Connection, as_of: date, kind: str, scored: pd.DataFrame) -> int:
    """Replace ``as_of``'s predictions of ``kind`` (``RISK_KINDS``) by ``scored``: indexed by
    client or manager id, ``probability`` and ``reasons`` (``risk.predict``) and any of
    ``manager``, ``clients``, ``revenue``, ``revenue_at_risk``. Return the rows written."""
    if kind not in RISK_KINDS:
        raise ValueError(f"unknown at-risk kind {kind!r}")
    conn.execute(delete(at_risk).where(at_risk.c.as_of == as_of, at_risk.c.kind == kind))
    rows = [{"kind": kind, "subject_id": str(subject), "as_of": as_of,
             **{c: None if pd.isna(v := values.get(c)) else v for c in RISK_COLUMNS}}
            for subject, values in scored.to_dict("index").items()]
    upsert(conn, at_risk, rows)
    return len(rows)


def read_at_risk(conn: Connection, as_of: date) -> pd.DataFrame:
    """Per kind, the predictions of its newest day on or before ``as_of``, highest
    probability first (columns of the ``at_risk`` table)."""
    latest = (select(at_risk.c.kind, func.max(at_risk.c.as_of).label("day"))
              .where(at_risk.c.as_of <= as_of).group_by(at_risk.c.kind).subquery())
    query = (select(at_risk).join(latest, (latest.c.kind == at_risk.c.kind)
                                  & (latest.c.day == at_risk.c.as_of))
             .order_by(at_risk.c.kind, at_risk.c.probability.desc(), at_risk.c.subject_id))
    return pd.DataFrame(conn.execute(query).all(), columns=[c.name for c in at_risk.c])
