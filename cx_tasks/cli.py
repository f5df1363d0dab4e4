"""The ``cx`` command: simulate a supplier, run the demo, inspect the warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cx_tasks.implement.cli import register as implement_commands

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from cx_tasks.config import Settings

app = typer.Typer(help="CX Loop: closed-loop B2B customer-experience management.",
                  no_args_is_help=True)
warehouse_app = typer.Typer(help="Inspect the warehouse.", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")
review_app = typer.Typer(help="The manual review queue of feedback the classifier did not "
                         "decide.", no_args_is_help=True)
app.add_typer(review_app, name="review")
implement_commands(app)  # cx cases, cx initiatives, cx finding (cx_tasks/implement/cli.py)
console = Console()


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


def _frame_table(frame: object, title: str) -> Table:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = frame[column].dtype.kind in "if"
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row])
    return table


@app.command()
def simulate(
    clients: Annotated[int, typer.Option(help="number of client accounts")] = 300,
    days: Annotated[int, typer.Option(help="length of the simulated history in days")] = 180,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same data)")] = 7,
    end: Annotated[str, typer.Option(help="simulation 'now' (YYYY-MM-DD)")] = "2026-11-01",
) -> None:
    """Write a simulated supplier's ERP/WMS/CRM/billing/service desk to the source database."""
    from cx_tasks.config import settings

    config = settings()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    from cx_tasks.simulate import simulate as simulate_supplier

    with _progress() as progress:
        summary = simulate_supplier(
            config.source_url, config.ground_truth_path, clients=clients, days=days, seed=seed,
            end=date.fromisoformat(end), progress=_stage_bars(progress))
    for table, rows in summary.rows.items():
        console.print(f"  {table:<26} {rows:>12,}")
    console.print(f"source: {config.source_url}\nground truth: {config.ground_truth_path}")


@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.db import migrate as migrate_warehouse

    config = settings()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    version = migrate_warehouse(engine_for(config.warehouse_url))
    console.print(f"warehouse {config.warehouse_url} at schema version {version}")


@warehouse_app.command("status")
def warehouse_status() -> None:
    """Rows per warehouse table."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.inspect import table_counts

    console.print(_frame_table(table_counts(engine_for(settings().warehouse_url)), "tables"))


@warehouse_app.command("quarantine")
def warehouse_quarantine() -> None:
    """Quarantined rows by source table and rule."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.inspect import quarantine_by_rule

    engine = engine_for(settings().warehouse_url)
    console.print(_frame_table(quarantine_by_rule(engine), "quarantined rows by rule"))


@warehouse_app.command("gate")
def warehouse_gate() -> None:
    """The data-quality gate's verdict per interval."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.inspect import gate_verdicts

    console.print(_frame_table(gate_verdicts(engine_for(settings().warehouse_url)), "gate"))


@warehouse_app.command("events")
def warehouse_events() -> None:
    """Trigger events detected, by type."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.inspect import events_by_type

    console.print(_frame_table(events_by_type(engine_for(settings().warehouse_url)), "events"))


@warehouse_app.command("metrics")
def warehouse_metrics(
    window: Annotated[int, typer.Option(help="rolling window in days (1, 30, 90, 365)")] = 30,
) -> None:
    """Every metric per segment at the latest published date."""
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for

    console.print(_segment_table(engine_for(settings().warehouse_url), window))


def _segment_table(engine: object, window: int) -> Table:
    from cx_tasks.warehouse.inspect import latest_as_of, metrics_by_segment

    as_of = latest_as_of(engine)  # type: ignore[arg-type]
    frame = metrics_by_segment(engine, window_days=window)  # type: ignore[arg-type]
    wide = frame.pivot(index="metric", columns="segment", values="value").reset_index()
    date_text = "none published" if as_of is None else as_of.date().isoformat()
    return _frame_table(wide, f"metrics per segment, {window}-day window as of {date_text}")


@app.command()
def explain(
    client_id: Annotated[str, typer.Argument(help="the client's id, e.g. C00066")],
    as_of: Annotated[str | None, typer.Option(help="analysis day (default: the latest)")] = None,
) -> None:
    """Why a client's satisfaction fell: satisfaction -> block -> factor -> metric ->
    process class -> owner, with its satisfaction per role and its latest feedback."""
    from cx_tasks.analyze.reports import client_name, latest_analysis_day, recent_complaints
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for

    with engine_for(settings().warehouse_url).connect() as conn:
        day = date.fromisoformat(as_of) if as_of else latest_analysis_day(conn)
        if day is None:
            console.print("no analysis yet: run cx_analyze first")
            raise typer.Exit(1)
        console.print(f"[bold]{client_name(conn, client_id)}[/bold] ({client_id}), "
                      f"analysis of {day}")
        _print_explanation(conn, client_id, day)
        console.print(_frame_table(recent_complaints(conn, client_id, 5), "latest feedback"))


def _print_explanation(conn: Connection, client_id: str, day: date) -> None:
    """A client's satisfaction per role and its drill-down chain."""
    from cx_tasks.analyze.reports import chain_lines, satisfaction_of

    console.print(_frame_table(satisfaction_of(conn, client_id, day),
                               "satisfaction (0-100) per role and account"))
    lines = chain_lines(conn, client_id, day)
    console.print("\n".join(lines) if lines else
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

    window = max(findings_rules().pareto.window_days)
    with engine.connect() as conn:
        day = latest_analysis_day(conn)
        if day is None:
            return
        console.print(_frame_table(top_causes(conn, day, window),
                                   f"top causes of complaints, {window} days to {day}, all "
                                   f"segments (Pareto; charts in {config.charts_dir})"))
        figures = classifier_figures(conn, config.ground_truth_path)
        console.print(_frame_table(figures.per_group, "classifier against the simulator's "
                                   "answer key (groups of dissatisfaction)"))
        console.print(f"classifier: {figures.items} texts, {figures.review_share:.1%} sent to "
                      f"review, accuracy {figures.accuracy:.1%} on the rest (process class "
                      f"{figures.process_accuracy:.1%})")
        for client_id in largest_falls(conn, day, 3):
            console.print(f"\n[bold]drill-down: {client_name(conn, client_id)}[/bold] "
                          f"({client_id}; cx explain {client_id})")
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
    from cx_tasks.warehouse.db import engine_for

    with engine_for(settings().warehouse_url).connect() as conn:
        found = findings_list(conn, owner=owner, unowned=unowned)
    console.print(f"{len(found)} findings")
    console.print(_frame_table(found.head(limit).drop(columns="finding"), "findings"))


@review_app.command("list")
def review_list(
    limit: Annotated[int, typer.Option(help="items shown")] = 20,
) -> None:
    """Feedback waiting for a person's label, oldest first, with the classifier's evidence."""
    from cx_tasks.analyze.classification import review_queue
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for

    with engine_for(settings().warehouse_url).connect() as conn:
        queue = review_queue(conn)
    console.print(f"{len(queue)} items wait for review")
    shown = queue.head(limit)[["feedback_id", "confidence", "text", "evidence"]]
    console.print(_frame_table(shown.assign(text=shown["text"].str.slice(0, 70)),
                               "review queue"))


@review_app.command("refit")
def review_refit() -> None:
    """Refit the classifier's confidence table from the people's reviews so far; prints the
    `confidence` block to put in classifier.yaml (in CX_RULES_DIR)."""
    from datetime import UTC, datetime

    import yaml

    from cx_tasks.analyze.classification import refit_confidence
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for

    try:
        with engine_for(settings().warehouse_url).connect() as conn:
            fitted = refit_confidence(conn, datetime.now(UTC).date())
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    print(yaml.safe_dump({"confidence": fitted.model_dump(mode="json")}, sort_keys=False,
                         width=100, default_flow_style=None, allow_unicode=True))


@review_app.command("label")
def review_label(
    feedback_id: Annotated[str, typer.Argument(help="the item, e.g. claim:CL-000123")],
    group: Annotated[str, typer.Argument(help="delivery_discipline | quality | service | "
                                         "deterioration")],
    process_class: Annotated[str, typer.Argument(help="pricing | delivery_planning | "
                                                 "specification | order_fulfilment | "
                                                 "documents | claims_handling | payments")],
    reviewer: Annotated[str, typer.Option(help="who decided")],
) -> None:
    """Label an item; the next cx_analyze run applies it (status reviewed)."""
    from datetime import UTC, datetime

    from cx_tasks.analyze.classification import record_review
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for

    try:
        with engine_for(settings().warehouse_url).begin() as conn:
            record_review(conn, feedback_id, group, process_class, reviewer,
                          datetime.now(UTC).replace(tzinfo=None))
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    console.print(f"{feedback_id}: {group} / {process_class} by {reviewer}")


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
        console.print(f"SMTP on {sink.host}:{sink.port}, storing into {folder.resolve()}")
        console.print(f"AIRFLOW_CONN_SMTP_DEFAULT='{sink.smtp_connection_json()}'")
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
    uvicorn.run(create_app(settings(), announcer), host=host, port=port)


@app.command()
def demo(
    clients: Annotated[int, typer.Option(help="simulated client accounts")] = 300,
    days: Annotated[int, typer.Option(help="simulated days of history")] = 180,
    nightly_runs: Annotated[int, typer.Option(help="nightly runs after the history load")] = 5,
) -> None:
    """Simulate a supplier, run collect, survey dispatch and feedback through Airflow, have
    the simulated contacts answer, and show what it produced."""
    from cx_tasks.demo.run import DemoPlan, run_demo
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.inspect import (
        events_by_type,
        feedback_loop,
        gate_verdicts,
        kpis,
        mail_by_kind,
        quarantine_by_rule,
        survey_skips_by_reason,
    )

    plan = DemoPlan(clients=clients, days=days, nightly_runs=nightly_runs)
    with _progress() as progress:
        # each night and the history load: collect, then dispatch; then feedback, analyze
        runs = progress.add_task("Airflow runs", total=2 * (nightly_runs + 1) + 2, visible=False)

        def on_run(line: str) -> None:
            if line.startswith("RUN "):  # task output (e.g. dispatch summaries) is not shown
                progress.update(runs, advance=1, visible=True)
                progress.console.print(f"  [dim]{line}[/dim]")

        config, answers, seconds = run_demo(
            plan, on_step=lambda s: progress.console.print(f"- {s}"), on_run=on_run,
            simulate_progress=_stage_bars(progress))
    engine = engine_for(config.warehouse_url)
    console.print(_segment_table(engine, 30))
    console.print(_frame_table(quarantine_by_rule(engine), "quarantined rows by rule"))
    console.print(_frame_table(gate_verdicts(engine), "data-quality gate per interval "
                               "(a blocked interval publishes no metrics and alerts by e-mail)"))
    console.print(_frame_table(events_by_type(engine), "trigger events detected"))
    console.print(_frame_table(kpis(engine), "KPIs"))
    console.print(_frame_table(survey_skips_by_reason(engine),
                               "survey candidates skipped by the contact rules, by reason"))
    console.print(_frame_table(feedback_loop(engine), "surveys, feedback and acknowledgements"))
    console.print(_frame_table(mail_by_kind(engine), "e-mails in the outbox"))
    console.print(f"simulated contacts: {answers.invitations} invitations received, "
                  f"{answers.answered} answered by a click, {answers.forms_sent} forms sent "
                  f"({answers.comments} with a comment), {answers.refused} refused by the app")
    _print_analysis(engine, config)
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
