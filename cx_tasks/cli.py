"""The ``cx`` command: simulate a supplier, run the demo, inspect the warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from cx_tasks.adjust.cli import model_app
from cx_tasks.analyze import review_cli
from cx_tasks.cli_format import (
    day_or_today,
    fail,
    parse_day,
    require,
    shorten,
    shown_url,
    wall_clock,
    warehouse,
)
from cx_tasks.cli_format import frame_table as _frame_table
from cx_tasks.demo import ui as demo_ui
from cx_tasks.implement.cli import register as implement_commands
from cx_tasks.metrics.journey_cli import app as journey_app
from cx_tasks.monitor.cli import kpi_app

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Connection, Engine

    from cx_tasks.config import Settings

app = typer.Typer(help="CX Loop: closed-loop B2B customer-experience management.",
                  no_args_is_help=True)
warehouse_app = typer.Typer(help="Inspect the warehouse.", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(review_cli.app, name="review")
app.add_typer(journey_app, name="journey")
app.add_typer(kpi_app, name="kpi")
app.add_typer(model_app, name="model")
implement_commands(app)  # cx cases, cx initiatives, cx finding (cx_tasks/implement/cli.py)
console = Console()
app.command("ui")(demo_ui.ui)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _stage_bars(progress: Progress) -> Callable[[str, int, int], None]:
    """A ``progress(stage, done, total)`` callback drawing one bar per stage."""
    bars: dict[str, TaskID] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = progress.add_task(stage, total=total)
        progress.update(bars[stage], completed=done, total=total)

    return on_progress


@app.command()
def simulate(
    clients: Annotated[int, typer.Option(help="number of client accounts")] = 300,
    days: Annotated[int, typer.Option(help="length of the simulated history in days")] = 180,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same data)")] = 7,
    end: Annotated[str | None, typer.Option(
        help="simulation 'now' (YYYY-MM-DD): the history ends the day before; default today "
             "(UTC)")] = None,
) -> None:
    """Write a simulated supplier's ERP/WMS/CRM/billing/service desk to the source database."""
    from cx_tasks.config import settings

    end_day = day_or_today(end, "--end")
    config = settings()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    from cx_tasks.simulate import simulate as simulate_supplier

    with _progress() as progress:
        summary = simulate_supplier(
            config.source_url, config.ground_truth_path, clients=clients, days=days, seed=seed,
            end=end_day, progress=_stage_bars(progress))
    for table, rows in summary.rows.items():
        console.print(f"  {table:<26} {rows:>12,}")
    console.print(escape(f"source: {shown_url(config.source_url)}\n"
                         f"ground truth: {config.ground_truth_path}"))


@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import migrate as migrate_warehouse

    config = settings()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    version = migrate_warehouse(warehouse(config, creating=True))
    console.print(escape(f"warehouse {shown_url(config.warehouse_url)} at schema version "
                         f"{version}"))


@warehouse_app.command("status")
def warehouse_status() -> None:
    """Rows per warehouse table."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.inspect import table_counts

    console.print(_frame_table(table_counts(warehouse(settings())), "tables"))


@warehouse_app.command("quarantine")
def warehouse_quarantine() -> None:
    """Quarantined rows by source table and rule."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.inspect import quarantine_by_rule

    console.print(_frame_table(quarantine_by_rule(warehouse(settings())),
                               "quarantined rows by rule"))


@warehouse_app.command("gate")
def warehouse_gate() -> None:
    """The data-quality gate's verdict per interval."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.inspect import gate_verdicts

    console.print(_frame_table(gate_verdicts(warehouse(settings())), "gate"))


@warehouse_app.command("events")
def warehouse_events() -> None:
    """Trigger events detected, by type."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.inspect import events_by_type

    console.print(_frame_table(events_by_type(warehouse(settings())), "events"))


@warehouse_app.command("metrics")
def warehouse_metrics(
    window: Annotated[int, typer.Option(help="rolling window in days (1, 30, 90, 365)")] = 30,
) -> None:
    """Every metric per segment at the latest published date."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.inspect import published_windows

    engine = warehouse(settings())
    require(window, published_windows(engine), "window", "give --window in days")
    console.print(_segment_table(engine, window))


def _segment_table(engine: Engine, window: int) -> Table | Text:
    """Each metric per segment with its unit: ratios pooled over the segment's clients,
    other metrics the median per client."""
    from cx_tasks.mail.supplier import supplier
    from cx_tasks.metrics.catalogue import display_units
    from cx_tasks.warehouse.inspect import latest_as_of, metrics_by_segment

    as_of = latest_as_of(engine)
    frame = metrics_by_segment(engine, window_days=window)
    wide = frame.pivot(index="metric", columns="segment", values="value").reset_index()
    wide.insert(1, "unit", wide["metric"].map(display_units(supplier().currency)))
    date_text = "none published" if as_of is None else as_of.date().isoformat()
    return _frame_table(wide, f"metrics per segment, {window}-day window as of {date_text} "
                        "(ratios pooled over the segment's clients, others the median per "
                        "client)")


@app.command()
def explain(
    client_id: Annotated[str, typer.Argument(help="the client's id, e.g. C00066")],
    as_of: Annotated[str | None, typer.Option(help="analysis day (default: the latest)")] = None,
) -> None:
    """Why a client's satisfaction fell: satisfaction -> block -> factor -> metric ->
    process class -> owner, with its satisfaction per role and its latest feedback."""
    from cx_tasks.analyze.reports import (
        analysis_days,
        client_ids,
        client_name,
        recent_complaints,
    )
    from cx_tasks.config import settings

    with warehouse(settings()).connect() as conn:
        days = analysis_days(conn)
        if not days:
            fail("no analysis yet: run the cx_analyze DAG (or cx demo) first")
        require(client_id, client_ids(conn), "client", "client ids look like C00066")
        day = parse_day(as_of, "--as-of") if as_of else days[-1]
        if day not in days:
            span = f"{days[0]} only" if len(days) == 1 else f"{days[0]} to {days[-1]}"
            fail(f"no analysis on {day}: analysed days are {span}")
        console.print(f"[bold]{escape(client_name(conn, client_id))}[/bold] "
                      f"({escape(client_id)}), analysis of {day}")
        _print_explanation(conn, client_id, day)
        console.print(_frame_table(_feedback_rows(recent_complaints(conn, client_id, 5)),
                                   "latest feedback (confidence 0-1)"))


def _feedback_rows(latest: pd.DataFrame) -> pd.DataFrame:
    """A client's latest feedback for 80 columns: day, source, class (group / process class,
    else the status), confidence and the start of the text."""
    import pandas as pd

    decided = latest["group"].notna() & latest["process class"].notna()
    return pd.DataFrame({
        "day": latest["occurred"].map(lambda moment: f"{moment:%Y-%m-%d}"),
        "source": latest["source"],
        "class": (latest["group"] + " / " + latest["process class"]).where(decided,
                                                                          latest["status"]),
        "confidence": latest["confidence"],
        "text": latest["text"].fillna("").map(lambda text: shorten(text, 60)),
    })


def _print_explanation(conn: Connection, client_id: str, day: date) -> None:
    """A client's satisfaction per role and its drill-down chain."""
    from cx_tasks.analyze.reports import chain_lines, satisfaction_of

    console.print(_frame_table(satisfaction_of(conn, client_id, day),
                               "satisfaction (0-100) per role and account"))
    lines = chain_lines(conn, client_id, day)
    console.print(escape("\n".join(lines)) if lines else
                  "satisfaction did not fall by more than the threshold: no drill-down")


def _print_analysis(engine: Engine, config: Settings) -> None:
    """The demo's analyze section: top causes, the classifier against the simulator's
    answer key, three drill-downs, findings per owner."""
    from cx_tasks.analyze.evaluation import classifier_figures
    from cx_tasks.analyze.findings import findings_rules
    from cx_tasks.analyze.reports import (
        client_name,
        findings_by_owner,
        largest_falls,
        latest_analysis_day,
        top_causes,
    )
    from cx_tasks.mail.supplier import supplier

    window = max(findings_rules().pareto.window_days)
    with engine.connect() as conn:
        day = latest_analysis_day(conn)
        if day is None:
            return
        console.print(_frame_table(top_causes(conn, day, window, currency=supplier().currency),
                                   f"top causes of complaints, {window} days to {day}, all "
                                   f"segments (Pareto; charts in {config.charts_dir})"))
        figures = classifier_figures(conn, config.ground_truth_path)
        console.print(_frame_table(figures.per_group, "classifier against the simulator's "
                                   "answer key (groups of dissatisfaction)"))
        console.print(f"classifier: {figures.items} texts, {figures.review_share:.1%} sent to "
                      f"review, accuracy {figures.accuracy:.1%} on the rest (process class "
                      f"{figures.process_accuracy:.1%})")
        for client_id in largest_falls(conn, day, 3):
            console.print(f"\n[bold]drill-down: {escape(client_name(conn, client_id))}[/bold] "
                          f"({escape(client_id)}; cx explain {escape(client_id)})")
            _print_explanation(conn, client_id, day)
        console.print(_frame_table(findings_by_owner(conn), "findings per kind and owner"))


@app.command("findings")
def findings_command(
    owner: Annotated[str | None, typer.Option(help="only this owner's (owners.yaml id)")] = None,
    unowned: Annotated[bool, typer.Option(help="only the findings nobody owns")] = False,
    limit: Annotated[int, typer.Option(help="rows shown")] = 30,
) -> None:
    """What the analysis found, who owns it and when it is due (soonest first)."""
    from cx_tasks.analyze.reports import findings_list
    from cx_tasks.config import settings
    from cx_tasks.feedback.rules import owners

    if owner is not None:
        require(owner, owners().owners, "owner", "or --unowned for the findings nobody owns")
    with warehouse(settings()).connect() as conn:
        found = findings_list(conn, owner=owner, unowned=unowned)
    whose = " nobody owns" if unowned else f" of {owner}" if owner else ""
    console.print(escape(f"{len(found)} findings{whose}"))
    if not found.empty:
        shown = found.head(limit)
        owner_and_person = shown["owner"] + ": " + shown["person"].fillna("-")
        console.print(_frame_table(
            shown[["kind", "due", "summary"]].assign(owner=owner_and_person),
            "findings (soonest due first)"))


@app.command("smtp-sink")
def smtp_sink(
    folder: Annotated[Path, typer.Option(help="where to store received .eml files")] = Path(
        "data/mail"),
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 1025,
) -> None:
    """Run a local SMTP server that stores every received message as a file (Ctrl-C stops)."""
    import threading

    from cx_tasks.demo.smtp_sink import SmtpSink

    with SmtpSink(folder, port=port) as sink:
        console.print(escape(f"SMTP on {sink.host}:{sink.port}, storing into "
                             f"{folder.resolve()}"))
        console.print(escape(f"AIRFLOW_CONN_SMTP_DEFAULT='{sink.smtp_connection_json()}'"))
        threading.Event().wait()


@app.command("serve-surveys")
def serve_surveys(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8765,
) -> None:
    """Serve the survey response app on its own (uvicorn); feedback is announced to Airflow
    when CX_AIRFLOW_API_URL is set."""
    import uvicorn

    from cx_tasks.config import settings
    from cx_tasks.surveys.app import create_app
    from cx_tasks.surveys.asset_events import announcer_from_env

    announcer = announcer_from_env()
    if announcer is None:
        console.print("CX_AIRFLOW_API_URL not set: feedback is not announced to Airflow "
                      "(the next run picks it up)")
    uvicorn.run(create_app(settings(), announcer), host=host, port=port, server_header=False)


@app.command()
def demo(
    clients: Annotated[int, typer.Option(help="simulated client accounts")] = 300,
    days: Annotated[int, typer.Option(help="simulated days of history")] = 180,
    nightly_runs: Annotated[int, typer.Option(help="nightly runs after the history load")] = 5,
    end: Annotated[str | None, typer.Option(
        help="the demo's 'today' (YYYY-MM-DD): it simulates the days before it and runs the "
             "nights up to it; default today (UTC). Pin it for a reproducible run")] = None,
    force: Annotated[bool, typer.Option(
        help="replace the data folder even if cx demo did not make it")] = False,
) -> None:
    """Simulate a supplier, run collect, survey dispatch and feedback through Airflow, have
    the simulated contacts answer, show what it produced, and check the loop's funnel (exit
    1 naming the stages that produced too little)."""
    from concurrent.futures import ProcessPoolExecutor

    from cx_tasks.adjust.demo import planted_effects, print_adjust_report
    from cx_tasks.demo.run import DemoPlan, NotTheDemosFolder, run_demo
    from cx_tasks.metrics.journey import latest_collection_shares
    from cx_tasks.monitor.demo import print_monitor_report
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.inspect import (
        events_by_type,
        feedback_loop,
        gate_verdicts,
        mail_by_kind,
        quarantine_by_rule,
        survey_skips_by_reason,
    )

    plan = DemoPlan(end=day_or_today(end, "--end"), clients=clients, days=days,
                    nightly_runs=nightly_runs)
    # the planted initiatives' history is measured in a process of its own meanwhile
    planting = ProcessPoolExecutor(max_workers=1)
    planted = planting.submit(planted_effects, plan.seed)
    with _progress() as progress:
        # each night and the history load: collect, then dispatch; then feedback, analyze
        runs = progress.add_task("Airflow runs", total=2 * (nightly_runs + 1) + 2, visible=False)

        def on_run(line: str) -> None:
            if line.startswith("RUN "):  # task output (e.g. dispatch summaries) is not shown
                progress.update(runs, advance=1, visible=True)
                progress.console.print(f"  [dim]{line}[/dim]")

        try:
            config, answers, seconds = run_demo(
                plan, wall_clock, on_step=lambda s: progress.console.print(f"- {s}"),
                on_run=on_run, simulate_progress=_stage_bars(progress), force=force)
        except NotTheDemosFolder as refused:
            progress.console.print(f"[red]{escape(str(refused))}[/red]")
            planting.shutdown(cancel_futures=True)
            raise typer.Exit(2) from None
    engine = engine_for(config.warehouse_url)
    console.print(_segment_table(engine, 30))
    console.print(_frame_table(quarantine_by_rule(engine), "quarantined rows by rule"))
    console.print(_frame_table(gate_verdicts(engine), "data-quality gate per interval "
                               "(a blocked interval publishes no metrics and alerts by e-mail)"))
    console.print(_frame_table(events_by_type(engine), "trigger events detected"))
    console.print(_frame_table(latest_collection_shares(engine), "journey-map indicators "
                               "collected from systems, and from systems or automated channels"))
    console.print(_frame_table(survey_skips_by_reason(engine),
                               "survey candidates skipped by the contact rules, by reason"))
    console.print(_frame_table(feedback_loop(engine), "surveys, feedback and acknowledgements"))
    console.print(_frame_table(mail_by_kind(engine), "e-mails in the outbox"))
    console.print(f"simulated contacts: {answers.invitations} invitations received, "
                  f"{answers.answered} answered by a click, {answers.forms_sent} forms sent "
                  f"({answers.comments} with a comment), {answers.refused} refused by the app")
    _print_analysis(engine, config)
    print_monitor_report(console, engine, config)
    print_adjust_report(console, engine, config, plan.seed, planted.result())
    planting.shutdown()
    mail = sorted(config.mail_dir.glob("*.eml"))
    console.print(
        f"\nfinished in {seconds:.0f} s\n"
        f"  warehouse      {config.warehouse_url}\n"
        f"  supplier       {config.source_url}\n"
        f"  ground truth   {config.ground_truth_path}\n"
        f"  GX results     {config.quality_dir}\n"
        f"  e-mails        {config.mail_dir} ({len(mail)} received)\n"
        f"  Airflow home   {config.data_dir / 'airflow'}\n"
        f"  Airflow log    {config.data_dir / 'airflow-demo.log'}\n"
        "  inspect with   cx warehouse status | quarantine | gate | events | metrics")
    _check_funnel(engine)


def _check_funnel(engine: Engine) -> None:
    """Print the loop's funnel; exit 1 naming every stage that produced too little."""
    from cx_tasks.demo.funnel import FunnelBroken, check
    from cx_tasks.demo.stages import demo_funnel

    lines = demo_funnel(engine)
    table = Table(title="funnel check: what each stage of the loop produced",
                  title_justify="left")
    for column, justify in (("stage", "left"), ("count", "right"), ("at least", "right"),
                            ("", "left"), ("note", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for line in lines:
        table.add_row(line.stage, f"{line.count:,}", f"{line.minimum:,}",
                      "ok" if line.passed else "[red]SHORT[/red]", line.note)
    console.print(table)
    try:
        check(lines)
    except FunnelBroken as broken:
        console.print(f"[red]{broken}[/red]")
        raise typer.Exit(1) from None
    console.print("funnel check passed: every stage produced what it must")
