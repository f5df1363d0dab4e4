"""The implement stage's steps as the ``cx_implement`` DAG runs them: each takes the
warehouse and the run's time (``now``: when the run was due) and returns a small summary;
data moves through the warehouse.

cases (open, escalate) · findings (lifecycle) · initiatives (decisions file, proposals) ·
progress e-mails · report; ``funnel_lines`` gives the demo's funnel of this stage.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from cx_tasks.config import Settings
from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.feedback.acknowledgement import LinkSettings
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.cases import open_cases, question_kinds
from cx_tasks.implement.decisions import apply_file
from cx_tasks.implement.escalation import escalate
from cx_tasks.implement.finding_lifecycle import track
from cx_tasks.implement.initiatives import propose, tell_owners
from cx_tasks.implement.links import LinkKeys
from cx_tasks.implement.progress_mail import send_progress
from cx_tasks.implement.report import write_report
from cx_tasks.implement.rules import implement_rules
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import (
    case_escalations,
    cases,
    initiative_history,
    initiatives,
    outbox,
    pareto_causes,
    progress_notices,
)

MAIL_KINDS = ("case", "case_closed", "initiative", "progress")
"""The outbox kinds this stage enqueues (and its DAG delivers)."""


def _links(config: Settings) -> LinkSettings:
    return LinkSettings(config.survey_base_url, config.survey_secret,
                        survey_catalogue(config.rules_dir))


def latest_analysis_day(warehouse_url: str) -> date | None:
    """The newest day analysed: the latest end of a stored Pareto window."""
    with engine_for(warehouse_url).connect() as conn:
        return conn.scalar(select(func.max(pareto_causes.c.period_end)))


def run_cases(config: Settings, now: datetime) -> dict[str, Any]:
    """Open the cases the feedback known by ``now`` triggers and take the escalation steps
    due by ``now``."""
    rules = implement_rules(config.rules_dir).cases
    keys = LinkKeys(config.survey_base_url, config.survey_secret)
    registry = owners(config.rules_dir)
    opened = open_cases(config.warehouse_url, now=now, rules=rules, owners=registry,
                        kinds=question_kinds(survey_catalogue(config.rules_dir)), keys=keys)
    escalated = escalate(config.warehouse_url, now=now, rules=rules, owners=registry,
                         keys=keys)
    return {"now": now.isoformat(), "opened": dict(opened), "escalated": dict(escalated)}


def track_findings(config: Settings, as_of: date, now: datetime) -> dict[str, Any]:
    """Give every finding a lifecycle state; reopen the resolved ones found again on
    ``as_of`` (the analysis of that day, recomputed from its stored tables)."""
    from cx_tasks.analyze.drilldown import main_causes
    from cx_tasks.analyze.findings import (
        findings_as_of,
        findings_rules,
        satisfaction_drop_findings,
    )
    from cx_tasks.metrics.catalogue import metric_catalogue

    team = owners(config.rules_dir)
    with engine_for(config.warehouse_url).begin() as conn:
        found = findings_as_of(conn, as_of, findings_rules(config.rules_dir), team,
                               metric_catalogue(config.rules_dir))
        drops = satisfaction_drop_findings(main_causes(conn, as_of), team, as_of)
        ids = [*found["finding_id"], *drops["finding_id"]]
        counts = track(conn, ids, as_of, now)
    return {"as_of": as_of.isoformat(), "found": len(ids), **counts}


def run_initiatives(config: Settings, as_of: date | None, now: datetime) -> dict[str, Any]:
    """Propose initiatives from the analysis of ``as_of``, then apply the decisions file
    (a decision on a proposal of this run applies at once)."""
    rules = implement_rules(config.rules_dir).initiatives
    proposed = [] if as_of is None else propose(
        config.warehouse_url, as_of, rules=rules, owners=owners(config.rules_dir))
    decided = apply_file(config.warehouse_url, config.data_dir, now=now, rules=rules)
    return {"decisions": dict(decided), "proposed": proposed,
            "owners_told": _tell_owners(config, now)}


def _tell_owners(config: Settings, now: datetime) -> int:
    """E-mail each newly approved initiative's owner its milestone links."""
    return tell_owners(config.warehouse_url, now=now, owners=owners(config.rules_dir),
                       keys=LinkKeys(config.survey_base_url, config.survey_secret),
                       valid_hours=24 * implement_rules(config.rules_dir)
                       .initiatives.milestone_link_valid_days)


def run_progress_mail(config: Settings, now: datetime) -> dict[str, Any]:
    """Decide every "you said, we did" notice due at ``now``."""
    return send_progress(config.warehouse_url, now=now,
                         rules=implement_rules(config.rules_dir).progress,
                         owners=owners(config.rules_dir), links=_links(config)).to_dict()


def reports_dir(config: Settings) -> Path:
    """Where the stage writes its report."""
    return config.data_dir / "reports"


def run_report(config: Settings, now: datetime) -> dict[str, Any]:
    """Write the implementation report; return its path."""
    clocks = implement_rules(config.rules_dir).cases.clocks
    with engine_for(config.warehouse_url).connect() as conn:
        path = write_report(conn, clocks, now, reports_dir(config), owners(config.rules_dir))
    return {"report": str(path)}


APPROVED_THROUGH = {"airflow": "in Airflow's Required Actions (human-in-the-loop API)",
                    "file": "by the decisions file", "cli": "by cx initiatives approve"}
"""How an approval's channel reads in the funnel."""


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """The demo's funnel of the implement stage: cases opened, acknowledged, closed and
    escalated; initiatives proposed and approved; progress e-mails sent."""

    def count(query: Any) -> int:
        return int(conn.scalar(query) or 0)

    opened = count(select(func.count()).select_from(cases))
    acknowledged = count(select(func.count()).select_from(cases)
                         .where(cases.c.acknowledged_at.is_not(None)))
    closed = count(select(func.count()).select_from(cases)
                   .where(cases.c.status == "closed"))
    escalated = count(select(func.count(case_escalations.c.case_id.distinct())))
    proposed = count(select(func.count()).select_from(initiatives))
    approved = count(select(func.count(initiative_history.c.initiative_id.distinct()))
                     .where(initiative_history.c.status == "approved"))
    by_channel = conn.execute(
        select(initiative_history.c.channel,
               func.count(initiative_history.c.initiative_id.distinct()))
        .where(initiative_history.c.status == "approved")
        .group_by(initiative_history.c.channel).order_by(initiative_history.c.channel)).all()
    progress = count(select(func.count()).select_from(outbox).where(
        outbox.c.kind == "progress", outbox.c.status == "sent"))
    notices = count(select(func.count()).select_from(progress_notices)
                    .where(progress_notices.c.status == "sent"))
    return [
        FunnelLine("cases opened", opened, 1),
        FunnelLine("cases acknowledged", acknowledged, 1, "owners' one-touch links"),
        FunnelLine("cases closed", closed, 1, "with a resolution note"),
        FunnelLine("cases escalated", escalated, 1, "a clock ran past a step of the ladder"),
        FunnelLine("initiatives proposed", proposed, 1),
        FunnelLine("initiatives approved", approved, 2, ", ".join(
            f"{n} {APPROVED_THROUGH.get(channel, f'through {channel}')}"
            for channel, n in by_channel)),
        FunnelLine("progress e-mails sent", progress, 1, f"{notices} notices"),
    ]


FORM_PREFIX = "Approve initiative "


def initiative_of_form(form: dict[str, str]) -> str:
    """The initiative a Required Actions form (of ``approval_forms``) asks about."""
    return form["subject"].removeprefix(FORM_PREFIX).split(": ", 1)[0]


def approval_forms(config: Settings, proposed: list[str]) -> list[dict[str, str]]:
    """The Required Actions form of each proposal still undecided: its subject and its
    evidence as body."""
    import json

    from cx_tasks.implement.initiatives import get_initiative

    forms = []
    with engine_for(config.warehouse_url).connect() as conn:
        for initiative_id in proposed:
            row = get_initiative(conn, initiative_id)
            if row is None or row["status"] != "proposed":
                continue
            evidence, effect = json.loads(row["evidence"]), json.loads(row["expected_effect"])
            forms.append({
                "subject": f"{FORM_PREFIX}{initiative_id}: {row['title']}",
                "body": (f"**{row['title']}**  \nowner: {row['owner_person'] or 'unowned'}  \n"
                         f"evidence: {evidence['complaints']} complaints, affected revenue "
                         f"{evidence['revenue']:,.0f}, {len(evidence['clients'])} clients, "
                         f"window {evidence['window'][0]} to {evidence['window'][1]}  \n"
                         f"expected effect: {effect['metric']} {effect['direction']} "
                         f"{effect['size_percent']}% by {effect['by']}"),
            })
    return forms


def record_airflow_decisions(config: Settings, proposed: list[str],
                             answers: list[dict[str, Any] | None], now: datetime,
                             answer_within_days: int) -> dict[str, Any]:
    """Record each Required Action's answer (``chosen_options``, ``params_input``,
    ``responded_by_user``) for the proposal at the same position: Approve, or Reject with
    the reason given (a missing answer or reason is said to be one)."""
    from cx_tasks.implement.initiatives import MilestoneRefused, decide

    rules = implement_rules(config.rules_dir).initiatives
    counts: dict[str, int] = {"approved": 0, "rejected": 0, "unchanged": 0, "refused": 0}
    with engine_for(config.warehouse_url).begin() as conn:
        for initiative_id, answer in zip(proposed, answers, strict=True):
            answer = answer or {}
            chosen = (answer.get("chosen_options") or ["Reject"])[0]
            given = answer.get("params_input") or {}
            user = answer.get("responded_by_user") or {}
            actor = (user.get("name") or user.get("id") or "airflow") if user else \
                f"no answer within {answer_within_days} days"
            reason = (given.get("reason") or "").strip() or (
                f"rejected in Airflow by {actor} without a reason" if user else
                f"no answer in Airflow within {answer_within_days} days (default: Reject)")
            decision = "approve" if chosen == "Approve" else "reject"
            try:
                changed = decide(conn, initiative_id, decision, actor=str(actor),
                                 channel="airflow", now=now,
                                 reason=None if decision == "approve" else reason,
                                 sponsor=(given.get("sponsor") or "").strip() or None,
                                 rules=rules)
            except MilestoneRefused:
                counts["refused"] += 1
                continue
            counts[("approved" if decision == "approve" else "rejected") if changed
                   else "unchanged"] += 1
    counts["owners_told"] = _tell_owners(config, now)
    return counts
