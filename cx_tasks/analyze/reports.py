"""What the analyze stage stored, read back as small tables for people: the top causes, a
client's explanation, the findings per owner (the CLI, the demo and the digests)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Connection, func, select

from cx_tasks.analyze.drilldown import explanation
from cx_tasks.analyze.pareto import ALL_SEGMENTS, process_label, stored_pareto
from cx_tasks.warehouse.schema import (
    STAGING,
    drilldown,
    feedback,
    feedback_classes,
    findings,
    predicted_index,
)


def latest_analysis_day(conn: Connection) -> date | None:
    """The newest ``as_of`` with a stored predicted index (the last analysis run)."""
    return conn.scalar(select(func.max(predicted_index.c.as_of)))


def analysis_days(conn: Connection) -> list[date]:
    """Every ``as_of`` with a stored predicted index, oldest first."""
    return list(conn.scalars(select(predicted_index.c.as_of).distinct()
                             .order_by(predicted_index.c.as_of)))


def client_ids(conn: Connection) -> list[str]:
    """The ERP's client ids, in order."""
    clients = STAGING["erp_clients"]
    return list(conn.scalars(select(clients.c.client_id).distinct()
                             .order_by(clients.c.client_id)))


def top_causes(conn: Connection, as_of: date, window_days: int, *,
               currency: str, segment: str = ALL_SEGMENTS,
               measure: str = "count") -> pd.DataFrame:
    """The stored Pareto ranking of one window, segment and measure: rank, process class,
    complaints, affected revenue (millions of ``currency``), share, cumulative share, vital
    few."""
    table = stored_pareto(conn, as_of, window_days)
    rows = table[(table["segment"] == segment) & (table["measure"] == measure)]
    return pd.DataFrame({
        "rank": rows["rank"], "process class": rows["process_class"].map(process_label),
        "complaints": rows["complaints"],
        f"affected revenue, mln {currency}": (rows["revenue"] / 1e6).round(1),
        "share": rows["share"].round(3), "cumulative": rows["cumulative_share"].round(3),
        "vital few": rows["vital_few"].map({True: "yes", False: ""}),
    }).reset_index(drop=True)


def largest_falls(conn: Connection, as_of: date, count: int) -> list[str]:
    """The ``count`` clients whose satisfaction fell most on ``as_of`` (drill-down order)."""
    rows = conn.execute(select(drilldown.c.client_id)
                        .where(drilldown.c.as_of == as_of, drilldown.c.rank == 1)
                        .order_by(drilldown.c.satisfaction_drop.desc(), drilldown.c.client_id)
                        .limit(count))
    return list(rows.scalars())


def client_name(conn: Connection, client_id: str) -> str:
    """The client's name in the ERP (its id when unknown)."""
    clients = STAGING["erp_clients"]
    name = conn.scalar(select(clients.c.name).where(clients.c.client_id == client_id))
    return name or client_id


def satisfaction_of(conn: Connection, client_id: str, as_of: date) -> pd.DataFrame:
    """A client's predicted and reported satisfaction per role and for the account."""
    rows = conn.execute(select(predicted_index.c.role, predicted_index.c.status,
                               predicted_index.c.predicted, predicted_index.c.reported)
                        .where(predicted_index.c.client_id == client_id,
                               predicted_index.c.as_of == as_of)
                        .order_by(predicted_index.c.role)).all()
    frame = pd.DataFrame(rows, columns=["role", "status", "predicted", "reported"])
    return frame.astype({"predicted": "float64", "reported": "float64"})


def chain_lines(conn: Connection, client_id: str, as_of: date | None = None) -> list[str]:
    """A client's drill-down as people read it, one line per link of the chain: the fall,
    then block > factor > metric = value (trend) > process class > owner."""
    chain = explanation(conn, client_id, as_of)
    if chain.empty:
        return []
    first = chain.iloc[0]
    lines = [f"{first['role'].replace('_', ' ')}: predicted satisfaction fell "
             f"{first['satisfaction_drop']:.1f} points (recent metrics against the baseline)"]
    for link in chain.itertuples(index=False):
        trend = _number(link.metric_trend, signed=True)
        measured = "no metric" if link.metric is None else (
            f"{link.metric} = {_number(link.metric_value)} (trend {trend})")
        process = process_label(link.process_class) if link.process_class else "no process"
        lines.append(f"  {link.rank}. {link.block.replace('_', ' ')} > "
                     f"{link.factor.replace('_', ' ')} > {measured} > {process} > "
                     f"{link.owner or 'UNOWNED'}")
    return lines


def _number(value: float | None, *, signed: bool = False) -> str:
    """A metric value for a line of text: 3 significant digits, ``?`` when unknown."""
    if value is None or pd.isna(value):
        return "?"
    return f"{value:+.3g}" if signed else f"{value:.3g}"


def recent_complaints(conn: Connection, client_id: str, count: int) -> pd.DataFrame:
    """A client's latest classified feedback: when, source, group, process class, status,
    confidence and the text."""
    rows = conn.execute(
        select(feedback.c.occurred_at, feedback.c.source,
               feedback_classes.c.dissatisfaction_group, feedback_classes.c.process_class,
               feedback_classes.c.status, feedback_classes.c.confidence, feedback.c.text)
        .select_from(feedback_classes.join(
            feedback, feedback.c.feedback_id == feedback_classes.c.feedback_id))
        .where(feedback_classes.c.client_id == client_id)
        .order_by(feedback.c.occurred_at.desc(), feedback.c.feedback_id).limit(count)).all()
    frame = pd.DataFrame(rows, columns=["occurred", "source", "group", "process class",
                                        "status", "confidence", "text"])
    return frame


def findings_by_owner(conn: Connection) -> pd.DataFrame:
    """Findings per kind and owner (``unowned`` where nobody owns them), most first."""
    rows = conn.execute(select(findings.c.kind, findings.c.owner, func.count())
                        .group_by(findings.c.kind, findings.c.owner)).all()
    frame = pd.DataFrame(rows, columns=["kind", "owner", "findings"])
    frame["owner"] = frame["owner"].fillna("unowned")
    return frame.sort_values(["findings", "kind", "owner"], ascending=[False, True, True],
                             ignore_index=True)


def findings_list(conn: Connection, *, owner: str | None = None,
                  unowned: bool = False) -> pd.DataFrame:
    """Findings with their owner, person and due date, soonest due first (unowned last):
    all, one owner's, or the unowned ones."""
    query = select(findings.c.finding_id, findings.c.kind, findings.c.summary,
                   findings.c.owner, findings.c.owner_person, findings.c.found_on,
                   findings.c.due_on)
    if unowned:
        query = query.where(findings.c.owner.is_(None))
    elif owner is not None:
        query = query.where(findings.c.owner == owner)
    rows = conn.execute(query.order_by(findings.c.due_on.is_(None), findings.c.due_on,
                                       findings.c.finding_id)).all()
    frame = pd.DataFrame(rows, columns=["finding", "kind", "summary", "owner", "person",
                                        "found", "due"])
    frame["owner"] = frame["owner"].fillna("UNOWNED")
    return frame
