"""The adjust stage in ``cx demo``: one ``cx_adjust_staff`` and one ``cx_adjust`` run at the
demo's clock (after the monitor), and the report of what it made next to the planted truth.

The demo's supplier has no initiative old enough to show an effect (the CX team approves
its first ones on the demo's last day), so the report also measures the simulator's planted
initiatives (``simulate.initiatives``: one cutting packaging incidents in the south, two
placebos) on a history of their own and prints each estimate against what was planted.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cx_tasks.config import Settings

PLANTED_CLIENTS = 200
PLANTED_DAYS = 300
"""The planted history the demo measures (the bench, ``bench/bench_effects.py``, uses more
clients and seeds): long enough for the after window of every planted initiative."""


def adjust_demo_runs(at: datetime) -> list[tuple[list[str], str]]:
    """The adjust runs at ``at`` (arguments of ``cx_airflow.run_dag``, and what each does):
    ``cx_adjust_staff`` (the staff predictions, so the packs and lists carry them), then
    ``cx_adjust``, whose working groups meet on the demo's day, so every key account's pack
    is due."""
    from cx_tasks.demo.run import once

    return [(once("cx_adjust_staff", at),
             "running cx_adjust_staff: the staff pulse (in a pulse month) and the account "
             "managers' leaving and overload predictions"),
            (once("cx_adjust", at, {"meetings": [at.date().isoformat()]}),
             "running cx_adjust: the model's rounds, the register's initiatives' effects, "
             "the client risk, working-group packs for the key accounts' meeting on "
             f"{at.date().isoformat()}")]


def planted_effects(seed: int, clients: int = PLANTED_CLIENTS, days: int = PLANTED_DAYS
                    ) -> list[dict[str, Any]]:
    """Each planted initiative's effect per metric: the estimate with its 95% interval and n,
    what the simulator planted in the same rows, and whether the interval holds it."""
    from cx_tasks.adjust.effect import Initiative, initiative_effects
    from cx_tasks.adjust.rules import adjust_rules
    from cx_tasks.simulate.initiatives import planted_history, true_effect

    rules = adjust_rules().effects
    history = planted_history(clients, days, seed)
    planted = {p.spec.id: p for p in history.initiatives}
    measured = initiative_effects(
        [Initiative(p.spec.id, p.spec.owner, p.clients, p.start, "packaging_rate")
         for p in history.initiatives], history.panel, rules)
    out = []
    for effect in measured:
        truth = true_effect(history.panel, planted[effect.initiative_id], effect.metric,
                            rules.after_days)
        out.append({"initiative": effect.initiative_id, "metric": effect.metric,
                    "planted": truth, "estimate": effect.estimate, "low": effect.low,
                    "high": effect.high, "n": effect.n,
                    "held": effect.low <= truth <= effect.high})
    return out


def print_adjust_report(console: Any, engine: Any, config: Settings, seed: int,
                        planted: list[dict[str, Any]]) -> None:
    """The demo's adjust report: the register's effects, the planted initiatives' effects
    (``planted_effects`` of ``seed``) against the truth, the model's versions and errors, the
    backtests' commands, the packs."""
    from rich.markup import escape
    from rich.table import Table

    from cx_tasks.adjust.store import read_at_risk, read_corrections, read_effects, read_rounds
    from cx_tasks.implement.report import shown_effect

    with engine.connect() as conn:
        last = datetime.max.date()
        effects, due, rounds = read_effects(conn, last), read_corrections(conn, last), \
            read_rounds(conn)
        risks = read_at_risk(conn, last)
    console.print(f"adjust: {len(effects)} effects of the register's initiatives measured"
                  + "".join(f"\n  {escape(e.initiative_id)}: {escape(shown_effect(e))}"
                            for e in effects)
                  + "".join(f"\n  for correction: {escape(c.initiative_id)} ({escape(c.owner)})"
                            f": {escape(c.reason)}" for c in due))
    held = sum(r["held"] for r in planted)
    console.print(f"planted initiatives ({PLANTED_CLIENTS} clients, {PLANTED_DAYS} days, seed "
                  f"{seed}): the 95% interval holds the planted effect in {held} of "
                  f"{len(planted)} estimates (difference-in-differences)"
                  + "".join(f"\n  {r['initiative']} {r['metric']}: planted {r['planted']:+.3g}, "
                            f"estimate {r['estimate']:+.3g} (95% interval {r['low']:+.3g} to "
                            f"{r['high']:+.3g}, n {r['n']})"
                            + ("" if r["held"] else " [red]not held[/red]") for r in planted))
    versions = Table(title="the satisfaction model's rounds (versions judged on a month they "
                     "never saw; mean absolute error)", title_justify="left")
    for column in ("segment", "judged from", "in force", "candidate", "MAE in force",
                   "MAE candidate", "promoted"):
        versions.add_column(column)
    for r in rounds:
        versions.add_row(escape(str(r["segment"])), str(r["judged_from"]),
                         escape(str(r["current_version"])), escape(str(r["candidate_version"])),
                         _shown(r["mae_current"]), _shown(r["mae_candidate"]),
                         "yes" if r["promoted"] else "no")
    console.print(versions if rounds else "model rounds: none (fewer than "
                  "first_round_after whole months of survey answers in the warehouse)")
    console.print("at-risk predictions (the newest day of each kind): "
                  + (", ".join(f"{len(group)} {kind} (highest {group['probability'].max():.2f})"
                               for kind, group in risks.groupby("kind"))
                     if not risks.empty else "none (too few outcomes of either kind to fit)"))
    packs = sorted((config.data_dir / "packs").glob("*.pdf"))
    console.print(f"working-group packs: {len(packs)} PDF (and HTML) under "
                  f"{config.data_dir / 'packs'}\n"
                  "backtests on the simulator (not run by the demo: minutes each):\n"
                  "  effects, coverage and placebo rate  .venv/bin/python bench/bench_effects.py"
                  " --seeds 20\n"
                  "  staff and client risk, AUC and top decile  .venv/bin/python "
                  "bench/bench_risk.py --seeds 3\n"
                  "  model rounds against the oracle     .venv/bin/python bench/bench_rounds.py")


def _shown(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
