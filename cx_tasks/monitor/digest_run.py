"""One digest run: the warehouse read once for a period, the digests of a kind built for
every recipient, saved as HTML files and enqueued in the outbox (``monitor.digests``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, exists, func, not_, select

from cx_tasks.monitor.answers import answers_known
from cx_tasks.monitor.digests import (
    CASE_COLUMNS,
    ESCALATION_COLUMNS,
    INITIATIVE_COLUMNS,
    OWNER_COLUMNS,
    SECTIONS,
    DigestData,
    DigestScope,
    period_folder,
    render_digest,
    save_digest,
    sections_of,
    send_digest,
    slug,
)
from cx_tasks.monitor.history import latest_version, stored_figures
from cx_tasks.monitor.rules import MonitorRules
from cx_tasks.monitor.trends import stored_trends
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import (
    STAGING,
    case_escalations,
    cases,
    drilldown,
    events,
    feedback,
    feedback_acknowledgements,
    findings,
    kpi_values,
    layer_cake,
    money_link,
    pareto_causes,
    quality_runs,
    survey_invitations,
    survey_skips,
)


def _frame(conn: Connection, query: Any) -> pd.DataFrame:
    return pd.read_sql(query, conn)


def implement_frames(conn: Connection, start: datetime, end: datetime) -> dict[str, Any]:
    """The implement stage's part of ``DigestData`` for ``[start, end)``: cases and
    initiatives as they stood at ``end`` (``implement.report``), the escalation steps taken
    in the period and the report's figures per owner."""
    from cx_tasks.feedback.acknowledgement import excerpt
    from cx_tasks.implement.escalation import clock_due
    from cx_tasks.implement.report import (
        cases_as_at,
        escalations_by_owner,
        initiatives_as_at,
        is_overdue,
        is_stalled,
        owner_figures,
    )
    from cx_tasks.implement.rules import implement_rules

    rules = implement_rules()
    clocks = rules.cases.clocks
    found = cases_as_at(conn, end)
    clients = STAGING["erp_clients"]
    managers = dict(conn.execute(select(clients.c.client_id, clients.c.account_manager)).all())
    said = dict(conn.execute(select(cases.c.feedback_id, feedback.c.text).join(
        feedback, feedback.c.feedback_id == cases.c.feedback_id)).all())
    case_frame = pd.DataFrame([(
        c.case_id, c.client_id, c.trigger, c.owner, c.owner_person, c.status, c.opened_at,
        clock_due(c, "acknowledge", clocks) if c.acknowledged_at is None else None,
        clock_due(c, "close", clocks), is_overdue(c, clocks, end),
        excerpt(said.get(c.feedback_id)), managers.get(c.client_id)) for c in found],
        columns=list(CASE_COLUMNS))
    steps = _frame(conn, select(case_escalations.c.case_id, cases.c.client_id, cases.c.owner,
                                case_escalations.c.clock, case_escalations.c.step,
                                case_escalations.c.recipient, case_escalations.c.escalated_at)
                   .join(cases, cases.c.case_id == case_escalations.c.case_id)
                   .where(case_escalations.c.escalated_at >= start,
                          case_escalations.c.escalated_at < end))
    owners = owner_figures(found, escalations_by_owner(conn, before=end), clocks, end)
    owner_frame = pd.DataFrame([(o.owner, o.person, o.open, o.overdue, o.median_acknowledge,
                                 o.median_close, o.share_within_clock, o.escalations)
                                for o in owners], columns=list(OWNER_COLUMNS))
    rows = []
    for r in initiatives_as_at(conn, end):
        ahead = [m for m in r.milestones if m.reached_on is None]
        rows.append((r.initiative_id, r.title, r.owner, r.owner_person, r.status,
                     ahead[0].title if ahead else None, ahead[0].planned_on if ahead else None,
                     r.overdue, is_stalled(r, end, rules.initiatives.stalled_after_days),
                     r.last_change))
    return {"cases": case_frame, "escalations": steps[list(ESCALATION_COLUMNS)],
            "case_owners": owner_frame,
            "initiatives": pd.DataFrame(rows, columns=list(INITIATIVE_COLUMNS))}


def load_digest_data(conn: Connection, start: datetime, end: datetime,
                     rules: MonitorRules) -> DigestData:
    """What every section builder reads for the period ``[start, end)`` (naive UTC)."""
    from cx_tasks.feedback.rules import feedback_rules

    as_of = end.date()
    answers = answers_known(conn, as_of + timedelta(days=1), survey_catalogue())
    answers = answers[(answers["answered_at"] >= start) & (answers["answered_at"] < end)]
    version = latest_version(conn, as_of)
    figures = (stored_figures(conn, version)[lambda f: f["level"].isin(("all", "segment"))]
               if version else pd.DataFrame())
    found = _frame(conn, select(findings).where(findings.c.found_on <= as_of))
    latest_pareto = conn.scalar(select(func.max(pareto_causes.c.period_end))
                                .where(pareto_causes.c.period_end <= as_of))
    pareto = _frame(conn, select(pareto_causes).where(
        pareto_causes.c.period_end == latest_pareto, pareto_causes.c.segment == "all",
        pareto_causes.c.measure == "count").order_by(pareto_causes.c.rank))
    # several trailing windows end on that day: the longest one (the earliest start)
    pareto = pareto[pareto["period_start"] == pareto["period_start"].min()]
    latest_drill = conn.scalar(select(func.max(drilldown.c.as_of))
                               .where(drilldown.c.as_of <= as_of))
    drill = _frame(conn, select(drilldown).where(drilldown.c.as_of == latest_drill,
                                                 drilldown.c.rank == 1)
                   .order_by(drilldown.c.satisfaction_drop.desc()).limit(5))
    failed = _frame(conn, select(quality_runs.c.interval_start,
                                 quality_runs.c.failed_expectations).where(
        quality_runs.c.status != "passed", quality_runs.c.interval_start >= start,
        quality_runs.c.interval_start < end))
    planned = exists().where(survey_invitations.c.event_id == events.c.event_id)
    skipped = exists().where(survey_skips.c.event_id == events.c.event_id)
    awaiting = conn.scalar(select(func.count()).select_from(events).where(
        events.c.occurred_at >= start, events.c.occurred_at < end, not_(planned),
        not_(skipped)))
    overdue_before = end - timedelta(hours=feedback_rules().acknowledge_within_hours)
    decided = exists().where(feedback_acknowledgements.c.feedback_id == feedback.c.feedback_id)
    overdue = conn.scalar(select(func.count()).select_from(feedback).where(
        and_(feedback.c.occurred_at < overdue_before, not_(decided))))
    share = _frame(conn, select(kpi_values).where(kpi_values.c.kpi == "computable_metric_share",
                                                  kpi_values.c.as_of <= as_of))
    cake = _frame(conn, select(layer_cake).where(layer_cake.c.month >= (
        pd.Timestamp(as_of) - pd.DateOffset(months=3)).date()))
    effects, corrections, risks = adjust_frames(conn, as_of)
    return DigestData(start=start, end=end, min_n=rules.kpi.min_n, answers=answers,
                      figures=figures, findings=found,
                      link=_frame(conn, select(money_link).where(money_link.c.month <= as_of)),
                      metric_trends=stored_trends(conn, as_of, "month"), pareto=pareto,
                      drilldown=drill, quality_failures=failed, events_awaiting=int(awaiting),
                      acknowledgements_overdue=int(overdue), automatic_share=share, cake=cake,
                      effects=effects, corrections=corrections, at_risk=risks,
                      **implement_frames(conn, start, end))


def adjust_frames(conn: Connection, as_of: date
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The adjust stage's rows a digest of ``as_of`` shows: the newest initiative effects and
    corrections, and the at-risk lists (``adjust.at_risk.listed``)."""
    from dataclasses import asdict

    from cx_tasks.adjust.at_risk import listed
    from cx_tasks.adjust.rules import adjust_rules
    from cx_tasks.adjust.store import read_at_risk, read_corrections, read_effects

    effects = pd.DataFrame([asdict(e) for e in read_effects(conn, as_of)])
    corrections = pd.DataFrame([asdict(c) for c in read_corrections(conn, as_of)])
    return effects, corrections, listed(read_at_risk(conn, as_of), adjust_rules().at_risk)


def digest_scopes(kind: str, conn: Connection, day: date, rules: MonitorRules
                  ) -> list[DigestScope]:
    """Whom the digests of a run go to: ``daily`` the CX team; ``weekly`` the CX team, every
    owner (owners.yaml) and every account manager of the ERP."""
    from cx_tasks.feedback.rules import owners

    team = tuple(rules.digests.cx_team)
    if kind == "daily":
        return [DigestScope("daily", "cx_team", f"CX daily digest, {day:%Y-%m-%d}", team)]
    scopes = [DigestScope("weekly", "cx_team", f"CX weekly digest, week to {day:%Y-%m-%d}",
                          team)]
    for owner_id, owner in owners().owners.items():
        scopes.append(DigestScope("owner", owner_id, "Your CX cases, findings and initiatives, "
                                  f"week to {day:%Y-%m-%d} ({owner.name['en']})",
                                  (owner.email,)))
    clients = STAGING["erp_clients"]
    managers = sorted(m for m in conn.scalars(select(clients.c.account_manager).distinct())
                      if m)
    address = rules.digests.account_manager_address
    for manager in managers:
        scopes.append(DigestScope(
            "manager", manager, f"Your clients' CX, week to {day:%Y-%m-%d} ({manager})",
            (address.format(slug=slug(manager)),) if address else ()))
    return scopes


def write_digests(warehouse_url: str, kind: str, start: datetime, end: datetime,
                  data_dir: Path, rules: MonitorRules, local_day: date) -> dict[str, Any]:
    """Build, save and enqueue the digests of ``kind`` (``daily`` or ``weekly``, the latter
    with the owners' and managers') for ``[start, end)``; ``local_day`` names the day in the
    CX team's time zone. A rerun writes the same files and enqueues nothing new."""
    engine = engine_for(warehouse_url)
    with engine.connect() as conn:
        data = load_digest_data(conn, start, end, rules)
        scopes = digest_scopes(kind, conn, local_day, rules)
    summary: dict[str, Any] = {"digests": 0, "empty": 0, "enqueued": 0, "files": []}
    folder = period_folder(data_dir, kind, start)
    for scope in scopes:
        sections = sections_of(data, scope, SECTIONS[scope.kind])
        digest = render_digest(data, scope, sections)
        if not digest.says_something and not rules.digests.send_when_empty:
            summary["empty"] += 1
            continue
        summary["digests"] += 1
        summary["files"].append(str(save_digest(digest, folder / scope.kind)))
        with engine.begin() as conn:
            summary["enqueued"] += send_digest(conn, digest, start, end)
    return summary
