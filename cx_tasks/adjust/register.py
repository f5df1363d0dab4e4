"""The implement stage's initiatives register as the effect estimate reads it.

An initiative of the register is measured once it is in progress or done: its affected
clients are the distinct clients of its links (the findings and feedback it answers), its
start the day it was approved or the day its first milestone was reached (``adjust.yaml``
``effects.start``), its target metric its expected effect's (``complaints:<process
class>``), its owner the person of its process (else the owner id, else ``unowned``).

A complaint metric is a count per client and calendar month: the client's feedback of that
process class (classified or reviewed, as the proposals count it) given in the month, 0 in a
month without any, for every client of a segment and every month from the first month with
feedback to the last whole month before the day measured.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Literal

import pandas as pd
from sqlalchemy import Connection, func, select

from cx_tasks.adjust.effect import Initiative
from cx_tasks.warehouse.schema import (
    STAGING,
    feedback,
    feedback_classes,
    initiative_links,
    initiative_milestones,
    initiatives,
)
from cx_tasks.warehouse.times import midnight

MEASURED = ("in_progress", "done")
"""Statuses of an initiative whose effect is measured."""
COMPLAINTS = "complaints"
"""The family of the complaint metrics: ``complaints:<process class>``."""


def register_initiatives(conn: Connection, start: Literal["approval", "first_milestone"]
                         ) -> list[Initiative]:
    """The register's initiatives in progress or done (module doc), by id; one without a
    start (no milestone reached when ``start`` is ``first_milestone``) is left out."""
    clients: dict[str, set[str]] = {}
    for initiative_id, client in conn.execute(
            select(initiative_links.c.initiative_id, initiative_links.c.client_id)
            .where(initiative_links.c.client_id.is_not(None)).distinct()):
        clients.setdefault(initiative_id, set()).add(client)
    first_reached = dict(conn.execute(
        select(initiative_milestones.c.initiative_id,
               func.min(initiative_milestones.c.reached_on))
        .group_by(initiative_milestones.c.initiative_id)).all())
    out = []
    for row in conn.execute(select(initiatives).where(initiatives.c.status.in_(MEASURED))
                            .order_by(initiatives.c.initiative_id)).mappings():
        began = (row["decided_at"].date() if start == "approval" and row["decided_at"]
                 else first_reached.get(row["initiative_id"]))
        if began is None:
            continue
        out.append(Initiative(
            id=row["initiative_id"],
            owner=row["owner_person"] or row["owner"] or "unowned",
            clients=frozenset(clients.get(row["initiative_id"], ())),
            start=began,
            target_metric=json.loads(row["expected_effect"])["metric"]))
    return out


def complaint_panel(conn: Connection, until: date, metrics: Sequence[str]) -> pd.DataFrame:
    """Per client (with a segment) and whole month before ``until``: one column per complaint
    metric of ``metrics`` (``complaints:<process class>``; others are ignored), the count of
    the client's feedback of that class in the month (module doc)."""
    classes = {m: m.split(":", 1)[1] for m in metrics if m.startswith(f"{COMPLAINTS}:")}
    columns = ["client_id", "segment", "period_start", "period_end", *classes]
    if not classes:
        return pd.DataFrame(columns=columns)
    clients = STAGING["erp_clients"]
    said = pd.DataFrame(conn.execute(
        select(feedback.c.client_id, feedback.c.occurred_at, feedback_classes.c.process_class)
        .join(feedback_classes, feedback_classes.c.feedback_id == feedback.c.feedback_id)
        .where(feedback_classes.c.status.in_(("classified", "reviewed")),
               feedback_classes.c.process_class.is_not(None),
               feedback.c.occurred_at < midnight(until.replace(day=1)))).all(),
        columns=["client_id", "occurred_at", "process_class"])
    segments = pd.DataFrame(conn.execute(
        select(clients.c.client_id, clients.c.segment)
        .where(clients.c.segment.is_not(None))).all(), columns=["client_id", "segment"])
    if said.empty or segments.empty:
        return pd.DataFrame(columns=columns)
    month = pd.to_datetime(said["occurred_at"]).astype("datetime64[us]").dt.to_period("M")
    said = said.assign(period_start=month.dt.start_time)
    months = pd.period_range(month.min(), pd.Period(until, "M") - 1, freq="M").start_time
    grid = segments.merge(pd.DataFrame({"period_start": months}), how="cross")
    for metric, process_class in classes.items():
        counts = (said[said["process_class"] == process_class]
                  .groupby(["client_id", "period_start"]).size().rename(metric))
        grid = grid.join(counts, on=["client_id", "period_start"])
        grid[metric] = grid[metric].fillna(0.0)
    grid["period_end"] = grid["period_start"] + pd.offsets.MonthBegin(1)
    return grid[columns]
