"""Read-only views of the warehouse for the CLI and the demo's report."""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Engine, func, inspect, select

from cx_tasks.warehouse.schema import (
    STAGING,
    events,
    feedback,
    feedback_acknowledgements,
    kpi_values,
    metadata,
    metric_values,
    outbox,
    quality_runs,
    quarantine,
    survey_invitations,
    survey_responses,
    survey_skips,
)


def table_counts(engine: Engine) -> pd.DataFrame:
    """Rows per warehouse table that exists."""
    existing = set(inspect(engine).get_table_names())
    rows = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in existing:
                rows.append((table.name, conn.scalar(select(func.count()).select_from(table))))
    return pd.DataFrame(rows, columns=["table", "rows"])


def quarantine_by_rule(engine: Engine) -> pd.DataFrame:
    """Quarantined rows per source table and rule, largest first."""
    query = (
        select(quarantine.c.source_table, quarantine.c.rule, func.count().label("rows"))
        .group_by(quarantine.c.source_table, quarantine.c.rule)
        .order_by(func.count().desc(), quarantine.c.rule)
    )
    return pd.read_sql(query, engine)


def gate_verdicts(engine: Engine) -> pd.DataFrame:
    """The data-quality gate's verdict per interval, with the expectations that failed."""
    query = select(quality_runs.c.interval_start, quality_runs.c.interval_end,
                   quality_runs.c.status, quality_runs.c.failed_expectations
                   ).order_by(quality_runs.c.interval_start)
    frame = pd.read_sql(query, engine)
    frame["failed_expectations"] = frame["failed_expectations"].map(
        lambda text: ", ".join(json.loads(text)) or "-")
    return frame


def events_by_type(engine: Engine) -> pd.DataFrame:
    """Detected trigger events per type."""
    query = (
        select(events.c.event_type, func.count().label("events"),
               func.min(events.c.occurred_at).label("first"),
               func.max(events.c.occurred_at).label("last"))
        .group_by(events.c.event_type)
        .order_by(events.c.event_type)
    )
    return pd.read_sql(query, engine)


def latest_as_of(engine: Engine) -> pd.Timestamp | None:
    """The most recent date for which metrics were published."""
    with engine.connect() as conn:
        value = conn.scalar(select(func.max(metric_values.c.as_of)))
    return None if value is None else pd.Timestamp(value)


def metrics_by_segment(engine: Engine, window_days: int = 30,
                       as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each metric per segment as of a date: pooled numerator/denominator, else the median.

    Ratios are pooled over the segment's clients (sum of numerators / sum of
    denominators) so a small client does not weigh as much as a large one.
    """
    as_of = as_of if as_of is not None else latest_as_of(engine)
    if as_of is None:
        return pd.DataFrame(columns=["metric", "segment", "value", "clients"])
    clients = STAGING["erp_clients"]
    query = (
        select(metric_values.c.metric, clients.c.segment, metric_values.c.value,
               metric_values.c.numerator, metric_values.c.denominator)
        .join(clients, clients.c.client_id == metric_values.c.client_id)
        .where(metric_values.c.window_days == window_days,
               metric_values.c.as_of == as_of.date())
    )
    frame = pd.read_sql(query, engine)
    if frame.empty:
        return pd.DataFrame(columns=["metric", "segment", "value", "clients"])
    grouped = frame.groupby(["metric", "segment"])
    pooled = grouped["numerator"].sum(min_count=1) / grouped["denominator"].sum(min_count=1)
    out = pd.DataFrame({
        "value": pooled.where(grouped["numerator"].count() > 0, grouped["value"].median()),
        "clients": grouped["value"].count(),
    }).reset_index()
    return out


def kpis(engine: Engine) -> pd.DataFrame:
    """The latest value of every KPI."""
    latest = (select(kpi_values.c.kpi, func.max(kpi_values.c.as_of).label("as_of"))
              .group_by(kpi_values.c.kpi).subquery())
    query = select(kpi_values.c.kpi, kpi_values.c.as_of, kpi_values.c.value).join(
        latest, (latest.c.kpi == kpi_values.c.kpi) & (latest.c.as_of == kpi_values.c.as_of))
    return pd.read_sql(query, engine)


def survey_skips_by_reason(engine: Engine) -> pd.DataFrame:
    """Skipped survey candidates per kind and reason, largest first."""
    query = (
        select(survey_skips.c.kind, survey_skips.c.reason, func.count().label("skipped"))
        .group_by(survey_skips.c.kind, survey_skips.c.reason)
        .order_by(func.count().desc(), survey_skips.c.reason)
    )
    return pd.read_sql(query, engine)


def mail_by_kind(engine: Engine) -> pd.DataFrame:
    """Outbox messages per kind and status (sent, queued, failed, suppressed)."""
    query = (select(outbox.c.kind, outbox.c.status, func.count().label("messages"))
             .group_by(outbox.c.kind, outbox.c.status).order_by(outbox.c.kind, outbox.c.status))
    return pd.read_sql(query, engine)


def feedback_loop(engine: Engine) -> pd.DataFrame:
    """The survey and feedback funnel: invitations planned and sent, responses (clicked,
    form submitted), feedback by source, acknowledgement decisions by outcome."""
    count = func.count()
    with engine.connect() as conn:
        rows = [
            ("invitations planned", conn.scalar(select(count).select_from(survey_invitations))),
            ("invitations sent", conn.scalar(select(count).select_from(survey_invitations)
                                             .where(survey_invitations.c.sent_at.is_not(None)))),
            ("responses (score clicked)", conn.scalar(select(count)
                                                      .select_from(survey_responses))),
            ("responses with the form sent", conn.scalar(
                select(count).select_from(survey_responses)
                .where(survey_responses.c.submitted.is_(True)))),
        ]
        rows += [(f"feedback from {source}", n) for source, n in conn.execute(
            select(feedback.c.source, count).group_by(feedback.c.source)
            .order_by(feedback.c.source))]
        rows += [(f"feedback {status}" + (f" ({reason})" if reason else ""), n)
                 for status, reason, n in conn.execute(
                     select(feedback_acknowledgements.c.status, feedback_acknowledgements.c.reason,
                            count)
                     .group_by(feedback_acknowledgements.c.status,
                               feedback_acknowledgements.c.reason)
                     .order_by(feedback_acknowledgements.c.status,
                               feedback_acknowledgements.c.reason))]
    return pd.DataFrame(rows, columns=["step", "count"])


def published_windows(engine: Engine) -> list[int]:
    """The window lengths (days) for which metrics were published, shortest first."""
    with engine.connect() as conn:
        return list(conn.scalars(select(metric_values.c.window_days).distinct()
                                 .order_by(metric_values.c.window_days)))
