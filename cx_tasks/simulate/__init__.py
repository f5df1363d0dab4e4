"""The simulated supplier (``cx simulate``): its source tables and a separate answer key.

``simulate`` draws a world (clients, contacts, products, persistent and worsening process
problems), runs the supplier's operations over the period, lets clients write claims and
tickets about what happened, derives each client's latent satisfaction and prices its
lines so margin follows satisfaction, injects a few malformed rows, adds the HR system's
tables of the staff layer (``staff.py``: the account managers' months before ``end``), and
writes everything.
Deterministic for a seed: the same seed gives byte-identical tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd

from cx_tasks.simulate import operations, truth
from cx_tasks.simulate.defects import inject_defects
from cx_tasks.simulate.feedback import collect_feedback
from cx_tasks.simulate.parameters import SimulationRules, simulation_rules
from cx_tasks.simulate.rows import source_rows
from cx_tasks.simulate.staff import staff_history, staff_source_rows
from cx_tasks.simulate.world import build_world, clock, rng_for
from cx_tasks.simulate.writer import (
    is_sqlite,
    rows_per_table,
    write_ground_truth,
    write_source,
)

Progress = Callable[[str, int, int], None]
GENERATE_STEPS = 9


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation produced: its size, period, rows per source table, defects per kind."""

    clients: int
    days: int
    seed: int
    start: date
    end: date
    rows: dict[str, int]
    defects: dict[str, int]


def simulate(
    source_url: str,
    ground_truth_path: Path,
    *,
    end: date,
    clients: int = 300,
    days: int = 180,
    seed: int = 7,
    progress: Progress | None = None,
    rules: SimulationRules | None = None,
) -> SimulationSummary:
    """(Re)create the supplier's database at ``source_url`` and its ground truth file: the
    ``days`` days before ``end`` (the simulation's "now": an input, never the wall clock)."""
    if clients < 1 or days < 1:
        raise ValueError("a simulation needs at least one client and one day")
    rules = rules if rules is not None else simulation_rules()
    step = _stepper(progress)
    world = build_world(rules, clients, clock(end, days), seed)
    step()
    orders = operations.place_orders(world, rules, rng_for(seed, "orders"))
    lines = operations.order_lines(world, orders, rules, rng_for(seed, "lines"))
    step()
    shipments, per_line = operations.ship_lines(world, lines, rules, rng_for(seed, "shipments"))
    step()
    incidents, shipments = operations.packaging_incidents(
        world, shipments, rules, rng_for(seed, "incidents")
    )
    first_ship = operations.first_shipment(orders, lines, shipments)
    documents = operations.request_documents(
        world, orders, first_ship, rules, rng_for(seed, "documents")
    )
    step()
    ops = operations.Operations(
        orders=orders,
        lines=lines,
        shipments=shipments,
        per_line=per_line,
        outcomes=operations.line_outcomes(lines, shipments, per_line, world.clock.days),
        incidents=incidents,
        documents=documents,
        invoices=operations.issue_invoices(world, orders, lines, first_ship),
        payments=pd.DataFrame(),
    )
    feedback = collect_feedback(world, ops, rules, rng_for(seed, "feedback"))
    step()
    latent = truth.latent_state(world, ops, feedback, rules, seed)
    step()
    priced = operations.price_lines(world, lines, latent.margin, rules, rng_for(seed, "prices"))
    invoices = operations.invoice_amounts(ops.invoices, orders, priced)
    ops = replace(
        ops,
        lines=priced,
        invoices=invoices,
        payments=operations.collect_payments(world, invoices, rules, rng_for(seed, "payments")),
    )
    step()
    tables = source_rows(world, ops, feedback, rules)
    tables += staff_source_rows(staff_history(clients, seed, end=end, world=world))
    defects = inject_defects(
        tables, ops, clients, rules.defect_share, is_sqlite(source_url), rng_for(seed, "defects")
    )
    step()
    write_source(source_url, tables, progress)
    write_ground_truth(
        Path(ground_truth_path),
        truth.ground_truth_tables(world, ops, feedback, rules, latent, defects, seed),
    )
    step()
    return SimulationSummary(
        clients=clients,
        days=days,
        seed=seed,
        start=world.clock.start,
        end=world.clock.end,
        rows=rows_per_table(tables),
        defects={str(k): int(v) for k, v in defects["defect"].value_counts().sort_index().items()},
    )


def _stepper(progress: Progress | None) -> Callable[[], None]:
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("generate", done, GENERATE_STEPS)

    return step
