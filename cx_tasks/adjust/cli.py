"""``cx model``: the model's versions over real periods, their errors and the promotions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cx_tasks.cli_format import day_or_today

model_app = typer.Typer(help="The satisfaction model's rounds over real periods: versions, "
                        "their errors on the next period and the promotion decisions.")
console = Console()


def _number(value: object) -> str:
    return "-" if value is None else f"{value:.3f}"


def rounds_table(rows: list[dict[str, object]]) -> Table:
    """One line per stored round: segment, judged period, version in force and candidate,
    their MAE and R^2 on the judged period, and the decision."""
    table = Table(title="model rounds (each judged on a period it never saw)",
                  title_justify="left")
    for name in ("segment", "judged from", "alignment", "in force", "candidate", "known",
                 "judged", "MAE in force", "MAE candidate", "R2 in force", "R2 candidate",
                 "decision"):
        table.add_column(name)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in (
            row["segment"], row["judged_from"], row["alignment"], row["current_version"],
            row["candidate_version"], row["answers_known"], row["answers_judged"],
            _number(row["mae_current"]), _number(row["mae_candidate"]),
            _number(row["r2_current"]), _number(row["r2_candidate"]),
            "promoted" if row["promoted"] else "kept")))
    return table


@model_app.callback(invoke_without_command=True)
def show(ctx: typer.Context) -> None:
    """Print every stored round (run them with ``cx model run``)."""
    if ctx.invoked_subcommand is not None:
        return
    from cx_tasks.adjust.store import read_rounds
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for, migrate

    engine = engine_for(settings().warehouse_url)
    migrate(engine)
    with engine.connect() as conn:
        rows = read_rounds(conn)
    if not rows:
        console.print("no model rounds yet: run `cx model run` (or the cx_adjust DAG)")
        return
    console.print(rounds_table(rows))


@model_app.command("run")
def run(
    as_of: Annotated[str, typer.Option(
        help="run day YYYY-MM-DD: judge every whole month before its month "
             "(default: today, the one place this command reads the clock)")] = "",
) -> None:
    """Run the rounds on the warehouse's answers and store them."""
    from cx_tasks.adjust.stage import model_rounds
    from cx_tasks.config import settings
    from cx_tasks.warehouse.db import engine_for, migrate

    engine = engine_for(settings().warehouse_url)
    migrate(engine)
    day = day_or_today(as_of, "--as-of")
    console.print(escape(str(model_rounds(engine, day))))
