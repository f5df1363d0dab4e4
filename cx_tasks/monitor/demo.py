"""The monitor stage in ``cx demo``: the simulated supplier's past answers dropped for
import, the monitor and digest runs through Airflow, and the report of what they made."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cx_tasks.config import Settings
    from cx_tasks.demo.run import DemoPlan
    from cx_tasks.monitor.rules import DigestRules


def monitor_demo_answers(config: Settings, plan: DemoPlan, on_step: Callable[[str], None]
                         ) -> None:
    """Write 18 months of the simulated supplier's past answers into the drop folder that
    ``cx_monitor`` imports from."""
    from cx_tasks.monitor.stage import past_answers_dir
    from cx_tasks.simulate.past_answers import write_past_answers

    path = past_answers_dir(config.data_dir) / "past_answers.csv"
    rows = write_past_answers(config.source_url, config.ground_truth_path, path,
                              end=plan.end, seed=plan.seed)
    on_step(f"18 months of past survey answers exported from the 'previous tool': {rows} rows "
            f"-> {path}")


def last_digest_time(at: datetime, rules: DigestRules, weekday: int | None = None
                     ) -> datetime:
    """The latest digest time at or before ``at`` (aware): ``daily_hour`` in the CX team's
    time zone, on ``weekday`` (0 Monday) when given; aware UTC."""
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo(rules.timezone))
    tick = local.replace(hour=rules.daily_hour, minute=0, second=0, microsecond=0)
    if tick > local:
        tick -= timedelta(days=1)
    if weekday is not None:
        tick -= timedelta(days=(tick.weekday() - weekday) % 7)
    return tick.astimezone(UTC)


def monitor_demo_runs(at: datetime, rules: DigestRules) -> list[tuple[list[str], str]]:
    """The monitor's Airflow runs (arguments of ``cx_airflow.run_dag``, and what each does):
    cx_monitor once at ``at`` (the demo's clock), then the daily and the weekly digest whose
    intervals end last at or before ``at`` (08:00 in the CX team's time zone; Monday for the
    weekly): the demo's own day and week, no run dated after its clock."""
    from cx_tasks.demo.run import once

    daily = last_digest_time(at, rules)
    weekly = last_digest_time(at, rules, rules.weekly_weekday)
    # run_dag takes an interval's end by its UTC day: the tick on that day ends the interval
    return [
        (once("cx_monitor", at), "running cx_monitor: past answers imported, KPIs with "
                                 "intervals, layer cake, money link, findings"),
        (["cx_monitor_daily_digest", "--first", f"{daily:%Y-%m-%d}", "--last",
          f"{daily:%Y-%m-%d}"],
         f"running cx_monitor_daily_digest for the day ending {daily:%Y-%m-%d %H:%M} UTC "
         f"({rules.daily_hour:02d}:00 CX team's time)"),
        (["cx_monitor_weekly_digest", "--first", f"{weekly:%Y-%m-%d}", "--last",
          f"{weekly:%Y-%m-%d}"],
         f"running cx_monitor_weekly_digest for the week ending {weekly:%Y-%m-%d %H:%M} UTC, "
         "with the owners' and account managers' digests"),
    ]


def print_monitor_report(console: Any, engine: Any, config: Settings) -> None:
    """The demo's monitor report: the KPI table with intervals, the money link per segment,
    the role gaps, and where the digests are."""
    import pandas as pd
    from rich.markup import escape
    from rich.table import Table
    from sqlalchemy import func, select

    from cx_tasks.monitor.cli import kpi_table
    from cx_tasks.monitor.history import latest_version, stored_figures
    from cx_tasks.monitor.rules import monitor_rules
    from cx_tasks.warehouse.schema import findings, money_link, outbox

    min_n = monitor_rules().kpi.min_n
    with engine.connect() as conn:
        version = latest_version(conn)
        if version is None:
            console.print("monitor: no KPI recalculation stored")
            return
        figures = stored_figures(conn, version, {"period": "t90"})
        link = pd.read_sql(select(money_link).where(money_link.c.slope.is_not(None))
                           .order_by(money_link.c.segment, money_link.c.month), conn)
        gaps = conn.execute(select(findings.c.summary, findings.c.owner_person)
                            .where(findings.c.kind == "role_gap")
                            .order_by(findings.c.finding_id)).all()
        digests = conn.execute(select(outbox.c.status, func.count())
                               .where(outbox.c.kind == "digest")
                               .group_by(outbox.c.status)).all()
    figures = figures[figures["level"].isin(("all", "segment", "role"))]
    console.print(kpi_table(figures, min_n, f"KPIs, trailing 90 days (version {version}; "
                                            "95% intervals; ▲▼ significant change)"))
    table = Table(title="satisfaction (CSI, 3 months) and gross margin % per segment and "
                  "month", title_justify="left")
    for column in ("segment", "month", "clients", "slope", "standardised", "R²", "p",
                   "Spearman ρ"):
        table.add_column(column, justify="left" if column in ("segment", "month") else "right")
    for r in link.itertuples():
        table.add_row(escape(str(r.segment)), f"{r.month:%Y-%m}", str(r.clients),
                      f"{r.slope:.3f}", f"{r.standardised:.2f}", f"{r.r2:.3f}",
                      f"{r.p_value:.4f}", f"{r.spearman_rho:.2f}")
    console.print(table)
    console.print(f"role gaps ({len(gaps)}):")
    for summary, manager in gaps:
        console.print(f"  {escape(summary)} — account manager {escape(str(manager))}")
    archive = config.data_dir / "digests"
    kinds = sorted({p.parent.name for p in archive.rglob("*.html")}) if archive.is_dir() else []
    console.print(f"digests: {sum(c for _, c in digests)} in the outbox "
                  f"({', '.join(f'{s} {c}' for s, c in digests)}); saved as HTML under "
                  f"{archive} ({', '.join(kinds)})")
