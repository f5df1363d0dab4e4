"""``cx kpi``: import past answers, recalculate the KPIs, print them with their intervals."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cx_tasks.cli_format import day_or_today, parse_day

kpi_app = typer.Typer(help="NPS, CSAT, CES and CSI with their 95% intervals.",
                      no_args_is_help=True)
console = Console()


def _day(text: str | None) -> date:
    """A day given as YYYY-MM-DD; without one, today (UTC)."""
    return day_or_today(text, "--as-of")


@kpi_app.command("import")
def import_past(files: Annotated[list[Path], typer.Argument(help="CSV or XLSX files of past "
                                                            "answers (docs/past-answers.md)")],
                now: Annotated[str | None, typer.Option(help="the import's day (YYYY-MM-DD); "
                                                        "default today")] = None) -> None:
    """Import past survey answers; bad rows go to quarantine with the rule they broke."""
    from cx_tasks.config import settings
    from cx_tasks.monitor.past_answers import import_files

    moment = datetime.combine(_day(now), datetime.min.time())
    summary = import_files(settings().warehouse_url, files, now=moment)
    console.print(summary.to_dict())


@kpi_app.command("publish")
def publish(as_of: Annotated[str | None, typer.Option(help="figures as of this day, "
                                                      "YYYY-MM-DD; default today")] = None
            ) -> None:
    """Recalculate every KPI figure as of a day and store it under its version."""
    from cx_tasks.config import settings
    from cx_tasks.monitor.history import kpi_inputs, publish_kpis
    from cx_tasks.monitor.rules import monitor_rules

    result = publish_kpis(settings().warehouse_url, _day(as_of),
                          kpi_inputs(monitor_rules().kpi))
    console.print(result)


def kpi_table(frame: object, min_n: int, title: str) -> Table:
    """A table of KPI figures: one row per group, one column per KPI (value [interval])."""
    import pandas as pd

    from cx_tasks.monitor.display import LABELS, figure_text

    assert isinstance(frame, pd.DataFrame)
    table = Table(title=title, title_justify="left")
    table.add_column("group")
    table.add_column("period")
    kpis = [k for k in LABELS if k in set(frame["kpi"])]
    for kpi in kpis:
        table.add_column(f"{LABELS[kpi]} (n)", justify="right")
    for (group, start), rows in frame.groupby(["group_key", "period_start"], sort=True):
        by_kpi = {r.kpi: r for r in rows.itertuples()}
        cells = []
        for kpi in kpis:
            r = by_kpi.get(kpi)
            cells.append("" if r is None else
                         f"{figure_text(kpi, r.value, r.low, r.high, r.n, min_n, r.change)}"
                         f" ({r.n})")
        table.add_row(escape(str(group)), str(start), *map(escape, cells))
    return table


@kpi_app.command("show")
def show(level: Annotated[str, typer.Option(help="all, segment, account_manager, role, "
                                            "account, account_role")] = "segment",
         period: Annotated[str, typer.Option(help="month, quarter or t90")] = "quarter",
         as_of: Annotated[str | None, typer.Option(help="the latest run as of this day "
                                                   "(default: the latest run)")] = None,
         last: Annotated[int, typer.Option(help="periods shown, latest last")] = 2) -> None:
    """Print the stored KPI figures of the latest recalculation with their 95% intervals."""
    from cx_tasks.config import settings
    from cx_tasks.monitor.history import latest_version, stored_figures
    from cx_tasks.monitor.rules import monitor_rules
    from cx_tasks.warehouse.db import engine_for

    with engine_for(settings().warehouse_url).connect() as conn:
        version = latest_version(conn, parse_day(as_of, "--as-of") if as_of else None)
        if version is None:
            console.print("no KPI recalculation stored yet: run `cx kpi publish`")
            raise typer.Exit(1)
        frame = stored_figures(conn, version, {"level": level, "period": period})
    starts = sorted(set(frame["period_start"]))[-last:]
    frame = frame[frame["period_start"].isin(starts)]
    min_n = monitor_rules().kpi.min_n
    console.print(kpi_table(frame, min_n, f"KPIs by {level}, {period} (version {version}; "
                                          "95% intervals; ▲▼ significant change)"))


@kpi_app.command("trends")
def trends(period: Annotated[str, typer.Option(help="month or quarter")] = "month",
           segment: Annotated[str | None, typer.Option(help="one segment (all: every "
                                                       "client); default every one")] = None,
           metric: Annotated[list[str] | None, typer.Option(
               help="a metric id (repeatable); default OTIF and the weekly digest's others")
           ] = None,
           as_of: Annotated[str | None, typer.Option(help="the latest recalculation as of "
                                                     "this day (default: the latest)")] = None,
           last: Annotated[int, typer.Option(help="periods shown, latest last")] = 3) -> None:
    """Print the computable metrics per segment and month or quarter, with n (what it
    counts in brackets), from the latest stored recalculation."""
    from cx_tasks.config import settings
    from cx_tasks.monitor.trends import TREND_METRICS, stored_trends, trend_table
    from cx_tasks.warehouse.db import engine_for

    with engine_for(settings().warehouse_url).connect() as conn:
        frame = stored_trends(conn, parse_day(as_of, "--as-of") if as_of else None, period)
    if frame.empty:
        console.print("no trends stored yet: cx_monitor stores them with the KPIs")
        raise typer.Exit(1)
    columns, rows = trend_table(frame, last, metric or TREND_METRICS, segment)
    table = Table(title=f"Computable metrics by {period} (version {frame['version'].iloc[0]}"
                  f"; n and what it counts): {len(rows)} rows", title_justify="left")
    for name in columns:
        table.add_column(escape(name))
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)
