"""``cx cases``, ``cx initiatives`` and ``cx finding``: the implement stage from a terminal.

Changes are made at the wall clock's time (the CLI is an edge) and recorded with the
channel ``cli`` and the ``--by`` name. Client text is printed as text, never as markup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cx_tasks.cli_format import parse_day, wall_clock

console = Console()
cases_app = typer.Typer(help="Close-the-loop cases: list, show, acknowledge, close, dismiss.",
                        no_args_is_help=True)
initiatives_app = typer.Typer(help="The initiatives register: list, approve, reject, reach "
                              "a milestone, write the report.", invoke_without_command=True)
finding_app = typer.Typer(help="A finding's lifecycle (acknowledged, in_progress, resolved, "
                          "dismissed).", no_args_is_help=True)

By = Annotated[str, typer.Option("--by", help="who does it (kept in the history)")]


def register(app: typer.Typer) -> None:
    """Add the stage's command groups to ``cx``."""
    app.add_typer(cases_app, name="cases")
    app.add_typer(initiatives_app, name="initiatives")
    app.add_typer(finding_app, name="finding")


def _now() -> datetime:
    """The command line's clock (``cli_format.wall_clock``) as naive UTC."""
    return wall_clock().replace(tzinfo=None)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text("—" if v is None else str(v)) for v in row))
    return table


def _fail(error: Exception) -> None:
    console.print(Text(f"refused: {getattr(error, 'reason', error)}", style="red"))
    raise typer.Exit(1)


@cases_app.command("list")
def cases_list(
    owner: Annotated[str | None, typer.Option(help="only this owner's (owners.yaml id)")] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="closed ones too")] = False,
) -> None:
    """Cases (open ones unless --all), oldest first, with their clocks' deadlines."""
    from cx_tasks.config import settings
    from cx_tasks.implement.escalation import clock_due
    from cx_tasks.implement.report import is_overdue, stored_cases
    from cx_tasks.implement.rules import implement_rules
    from cx_tasks.warehouse.db import engine_for

    config, now = settings(), _now()
    clocks = implement_rules(config.rules_dir).cases.clocks
    with engine_for(config.warehouse_url).connect() as conn:
        found = stored_cases(conn, owner=owner, open_only=not all_cases)
    console.print(_table(f"{len(found)} cases", [
        "case", "client", "trigger", "owner", "status", "opened", "acknowledge by",
        "close by", "overdue"], [[
            c.case_id, c.client_id, c.trigger, c.owner_person or c.owner, c.status,
            f"{c.opened_at:%Y-%m-%d %H:%M}",
            f"{clock_due(c, 'acknowledge', clocks):%Y-%m-%d %H:%M}",
            f"{clock_due(c, 'close', clocks):%Y-%m-%d %H:%M}",
            "yes" if is_overdue(c, clocks, now) else ""] for c in found]))


@cases_app.command("show")
def cases_show(case_id: str) -> None:
    """One case: what the client said, its status history and escalations."""
    from sqlalchemy import select

    from cx_tasks.config import settings
    from cx_tasks.implement.cases import get_case
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.schema import case_escalations, case_history, feedback

    with engine_for(settings().warehouse_url).connect() as conn:
        case = get_case(conn, case_id)
        if case is None:
            _fail(ValueError("unknown_case"))
        assert case is not None
        text = conn.scalar(select(feedback.c.text)
                           .where(feedback.c.feedback_id == case.feedback_id))
        history = conn.execute(select(case_history).where(case_history.c.case_id == case_id)
                               .order_by(case_history.c.changed_at)).all()
        steps = conn.execute(select(case_escalations)
                             .where(case_escalations.c.case_id == case_id)
                             .order_by(case_escalations.c.due_at)).all()
    console.print(Text(f"{case.case_id}: {case.trigger} from {case.client_id}, owner "
                       f"{case.owner_person or case.owner} <{case.owner_email}>, {case.status}"))
    console.print(Text(f"the client said: {text or '—'}"))
    console.print(_table("history", ["at", "from", "to", "by", "channel", "note"], [
        [f"{h.changed_at:%Y-%m-%d %H:%M}", h.previous, h.status, h.actor, h.channel, h.note]
        for h in history]))
    console.print(_table("escalations", ["clock", "step", "due", "told"], [
        [s.clock, s.step, f"{s.due_at:%Y-%m-%d %H:%M}", s.recipient] for s in steps]))


def _act(case_id: str, status: str, by: str, note: str | None) -> None:
    from cx_tasks.config import settings
    from cx_tasks.feedback.acknowledgement import LinkSettings
    from cx_tasks.implement.cases import CaseRefused, act
    from cx_tasks.implement.rules import implement_rules
    from cx_tasks.surveys.catalogue import survey_catalogue

    config = settings()
    links = LinkSettings(config.survey_base_url, config.survey_secret,
                         survey_catalogue(config.rules_dir))
    try:
        changed = act(config.warehouse_url, case_id, status, actor=by,  # type: ignore[arg-type]
                      channel="cli", now=_now(), note=note,
                      rules=implement_rules(config.rules_dir).cases, links=links)
    except CaseRefused as error:
        _fail(error)
    console.print(f"{case_id}: {status}" if changed else f"{case_id} was already {status}")


@cases_app.command("ack")
def cases_ack(case_id: str, by: By) -> None:
    """Acknowledge a case (stops its acknowledge clock)."""
    _act(case_id, "acknowledged", by, None)


@cases_app.command("progress")
def cases_progress(case_id: str, by: By) -> None:
    """Mark a case in progress."""
    _act(case_id, "in_progress", by, None)


@cases_app.command("close")
def cases_close(case_id: str, by: By,
                note: Annotated[str, typer.Option(help="the resolution (required)")]) -> None:
    """Close a case with its resolution (the client is told, unless configured not to)."""
    _act(case_id, "closed", by, note)


@cases_app.command("dismiss")
def cases_dismiss(case_id: str, by: By,
                  reason: Annotated[str, typer.Option(help="why (required)")]) -> None:
    """Dismiss a case with a reason."""
    _act(case_id, "dismissed", by, reason)


@initiatives_app.callback()
def initiatives_list(ctx: typer.Context) -> None:
    """Every initiative: owner, status, milestones planned / actual, complaints, clients,
    progress e-mails, measured effects (the list when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from cx_tasks.config import settings
    from cx_tasks.implement.report import initiative_rows, shown_effect
    from cx_tasks.warehouse.db import engine_for

    with engine_for(settings().warehouse_url).connect() as conn:
        rows = initiative_rows(conn, _now().date())
    console.print(_table(f"{len(rows)} initiatives", [
        "initiative", "owner", "status", "milestones (planned / actual)", "complaints",
        "clients", "progress e-mails", "measured effect"], [[
            i.initiative_id, i.owner_person or i.owner, i.status,
            "; ".join(f"{m.milestone_id} {m.planned_on or '-'} / {m.reached_on or '-'}"
                      + (" OVERDUE" if m.overdue else "") for m in i.milestones),
            i.complaints, i.clients, i.progress_emails,
            "; ".join(shown_effect(e) for e in i.effects)
            + (f"; FOR CORRECTION: {i.correction}" if i.correction else "")] for i in rows]))


def _decide(initiative_id: str, decision: str, by: str, **extra: Any) -> None:
    from cx_tasks.config import settings
    from cx_tasks.implement.initiatives import MilestoneRefused, decide
    from cx_tasks.implement.rules import implement_rules
    from cx_tasks.warehouse.db import engine_for

    config = settings()
    try:
        with engine_for(config.warehouse_url).begin() as conn:
            changed = decide(conn, initiative_id, decision,  # type: ignore[arg-type]
                             actor=by, channel="cli", now=_now(),
                             rules=implement_rules(config.rules_dir).initiatives, **extra)
    except MilestoneRefused as error:
        _fail(error)
    console.print(f"{initiative_id}: {decision}d" if changed else f"{initiative_id}: unchanged")


@initiatives_app.command("approve")
def initiatives_approve(initiative_id: str, by: By, sponsor: Annotated[
        str | None, typer.Option(help="the sponsor")] = None) -> None:
    """Approve a proposal (plans its milestones from today)."""
    _decide(initiative_id, "approve", by, sponsor=sponsor)


@initiatives_app.command("reject")
def initiatives_reject(initiative_id: str, by: By,
                       reason: Annotated[str, typer.Option(help="why (required)")]) -> None:
    """Reject a proposal (not proposed again for the cool-down)."""
    _decide(initiative_id, "reject", by, reason=reason)


@initiatives_app.command("drop")
def initiatives_drop(initiative_id: str, by: By,
                     reason: Annotated[str, typer.Option(help="why (required)")]) -> None:
    """Drop an initiative."""
    _decide(initiative_id, "drop", by, reason=reason)


@initiatives_app.command("reach")
def initiatives_reach(initiative_id: str, milestone: str, by: By, on: Annotated[
        str | None, typer.Option(help="the day reached (YYYY-MM-DD; default today)")] = None
                      ) -> None:
    """Record a milestone reached (a client-visible one tells the clients who spoke)."""
    from cx_tasks.config import settings
    from cx_tasks.implement.initiatives import MilestoneRefused, reach_milestone

    now = _now()
    try:
        changed = reach_milestone(settings().warehouse_url, initiative_id, milestone,
                                  on=parse_day(on, "--on") if on else now.date(), actor=by,
                                  channel="cli", now=now)
    except MilestoneRefused as error:
        _fail(error)
    console.print(f"{initiative_id}: {milestone} reached" if changed else "already reached")


@initiatives_app.command("report")
def initiatives_report() -> None:
    """Write the implementation report (HTML) to the data folder."""
    from cx_tasks.config import settings
    from cx_tasks.implement.stage import run_report

    console.print(run_report(settings(), _now())["report"])


@finding_app.command("set")
def finding_set(finding_id: str, status: str, by: By, reason: Annotated[
        str | None, typer.Option(help="why (required to dismiss)")] = None) -> None:
    """Move a finding to acknowledged, in_progress, resolved or dismissed."""
    from cx_tasks.config import settings
    from cx_tasks.implement.finding_lifecycle import FindingRefused, set_status
    from cx_tasks.warehouse.db import engine_for

    try:
        with engine_for(settings().warehouse_url).begin() as conn:
            changed = set_status(conn, finding_id, status, actor=by,  # type: ignore[arg-type]
                                 now=_now(), reason=reason)
    except FindingRefused as error:
        _fail(error)
    console.print(f"{finding_id}: {status}" if changed else f"{finding_id} was already {status}")
