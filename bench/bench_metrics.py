"""Benchmark of ``compute_metrics``: order lines per second and peak memory.

Builds synthetic frames with numpy (shaped like ``read_staging(..., arrow_text=True)``'s
output: text as pandas' Arrow-backed ``str``, contract dtypes; keys numbered in time
order like the simulator's),
then times ``compute_metrics`` for one as_of with every window, several times, on one
thread and (interleaved) on two, to show whether two threads overlap. With
``--warehouse URL`` it reads the staging tables of that warehouse instead and also
times the read (and reports read + compute).

    .venv/bin/python bench/bench_metrics.py                 # 2,000,000 order lines
    .venv/bin/python bench/bench_metrics.py --lines 500000 --runs 3
    .venv/bin/python bench/bench_metrics.py --warehouse sqlite:///data/warehouse.db \\
        --as-of 2026-11-01
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from cx_tasks.collect.contract import DOC_TYPES
from cx_tasks.metrics import parallel
from cx_tasks.metrics.compute import compute_metrics
from cx_tasks.metrics.ledger import INPUT_COLUMNS, ledger
from cx_tasks.metrics.parameters import metric_parameters

AS_OF = date(2026, 7, 1)
HISTORY_DAYS = 730


def _ids(pattern: str, numbers: np.ndarray) -> pd.Series:
    """Text keys such as ``O00000042`` as an Arrow-backed ``str`` column."""
    return pd.Series([pattern % n for n in numbers.tolist()], dtype="str")


def _line_ids(orders: np.ndarray, positions: np.ndarray) -> pd.Series:
    return pd.Series([f"O{o:08d}-{p}" for o, p in zip(orders.tolist(), positions.tolist(),
                                                      strict=True)], dtype="str")


def _stamps(days: np.ndarray, hours: np.ndarray | None = None) -> pd.Series:
    """Day numbers (+ hours) since 1970 as datetime64 seconds; NaN becomes NaT."""
    seconds = days * 86400.0 + (0.0 if hours is None else hours * 3600.0)
    values = np.where(np.isnan(seconds), np.iinfo(np.int64).min,
                      np.nan_to_num(seconds).astype(np.int64))
    return pd.Series(values.astype("datetime64[s]"))


def synthetic_frames(n_lines: int, n_clients: int, seed: int) -> dict[str, pd.DataFrame]:
    """A supplier with ``n_lines`` order lines (~3 per order, ~1.3 shipments per line)."""
    rng = np.random.default_rng(seed)
    end = (AS_OF - date(1970, 1, 1)).days
    start = end - HISTORY_DAYS
    lines_per_order = rng.integers(1, 6, size=n_lines // 3 + 10)
    n_orders = int(np.searchsorted(np.cumsum(lines_per_order), n_lines)) + 1
    lines_per_order = lines_per_order[:n_orders]
    lines_per_order[-1] -= int(lines_per_order.sum()) - n_lines
    weights = 1.0 / np.arange(1, n_clients + 1) ** 0.8
    order_client = rng.choice(n_clients, size=n_orders, p=weights / weights.sum())
    order_day = np.sort(rng.integers(start, end, size=n_orders)).astype(np.float64)
    orders = pd.DataFrame({
        "order_id": _ids("O%08d", np.arange(n_orders)),
        "client_id": _ids("C%05d", order_client),
        "order_date": _stamps(order_day),
    })

    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    line_position = np.arange(n_lines) - np.repeat(np.cumsum(lines_per_order) - lines_per_order,
                                                   lines_per_order)
    promised = order_day[line_order] + rng.integers(3, 21, size=n_lines)
    quantity = np.round(rng.lognormal(3.0, 1.0, size=n_lines), 1) + 0.1
    price = np.round(rng.uniform(10, 500, size=n_lines), 2)
    cancelled = rng.random(n_lines) < 0.02
    lines = pd.DataFrame({
        "order_line_id": _line_ids(line_order, line_position),
        "order_id": _ids("O%08d", line_order),
        "quantity": quantity,
        "promised_date": _stamps(promised),
        "price": price,
        "cost": np.round(price * rng.uniform(0.6, 0.95, size=n_lines), 2),
        "cancelled": cancelled,
    })

    live = np.flatnonzero(~cancelled)
    split = live[rng.random(len(live)) < 0.31]
    ship_line = np.sort(np.concatenate([live, split]))
    second = np.r_[False, ship_line[1:] == ship_line[:-1]]
    share = np.where(np.isin(ship_line, split), np.where(second, 0.4, 0.6), 1.0)
    delivered_day = promised[ship_line] + rng.integers(-3, 4, size=len(ship_line)) + second * 2
    delivered_day[rng.random(len(ship_line)) < 0.01] = np.nan
    short = np.where(rng.random(len(ship_line)) < 0.05, rng.uniform(0.5, 0.97), 1.0)
    delivered_qty = np.round(quantity[ship_line] * share * short, 1)
    shipments = pd.DataFrame({
        "shipment_id": _ids("S%09d", np.arange(len(ship_line))),
        "order_line_id": _line_ids(line_order[ship_line], line_position[ship_line]),
        "delivered_qty": np.where(np.isnan(delivered_day), np.nan, delivered_qty),
        "delivered_at": _stamps(delivered_day, rng.uniform(6, 20, size=len(ship_line))),
    })

    hit = np.flatnonzero((rng.random(len(ship_line)) < 0.02) & ~np.isnan(delivered_day))
    incidents = pd.DataFrame({
        "shipment_id": _ids("S%09d", hit),
        "reported_at": _stamps(delivered_day[hit] + rng.integers(0, 3, size=len(hit)),
                               rng.uniform(8, 18, size=len(hit))),
    })

    n_documents = int(n_orders * 1.5)
    doc_order = np.sort(rng.integers(0, n_orders, size=n_documents))
    requested_hours = order_day[doc_order] * 24 + rng.uniform(0, 72, size=n_documents)
    sent_hours = requested_hours + rng.lognormal(2.5, 1.0, size=n_documents)
    sent_hours[rng.random(n_documents) < 0.03] = np.nan
    documents = pd.DataFrame({
        "client_id": _ids("C%05d", order_client[doc_order]),
        "doc_type": pd.Series(np.asarray(DOC_TYPES, dtype=object)[
            rng.integers(0, len(DOC_TYPES), size=n_documents)], dtype="str"),
        "requested_at": _stamps(np.zeros(n_documents), requested_hours),
        "sent_at": _stamps(np.zeros(n_documents), sent_hours),
    })

    amount = np.round(rng.lognormal(8, 1, size=n_orders), 2)
    due = order_day + 30
    invoices = pd.DataFrame({
        "invoice_id": _ids("INV%08d", np.arange(n_orders)),
        "client_id": _ids("C%05d", order_client),
        "amount": amount,
        "due_date": _stamps(due),
    })
    paid = np.flatnonzero(rng.random(n_orders) < 0.95)
    twice = paid[rng.random(len(paid)) < 0.2]
    pay_invoice = np.sort(np.concatenate([paid, twice]))
    first = np.r_[True, pay_invoice[1:] != pay_invoice[:-1]]
    part = np.where(np.isin(pay_invoice, twice), 0.5, 1.0)
    payments = pd.DataFrame({
        "invoice_id": _ids("INV%08d", pay_invoice),
        "paid_date": _stamps(due[pay_invoice] + rng.integers(-10, 20, size=len(pay_invoice))
                             + (~first) * 5),
        "amount": np.round(amount[pay_invoice] * part, 2),
    })
    clients = pd.DataFrame({"client_id": _ids("C%05d", np.arange(n_clients)),
                            "segment": pd.Series(np.asarray(["metals", "chemicals",
                                                             "distribution"], dtype=object)[
                                np.arange(n_clients) % 3], dtype="str")})
    return {
        "erp_clients": clients, "erp_orders": orders, "erp_order_lines": lines,
        "wms_shipments": shipments, "wms_packaging_incidents": incidents,
        "doc_documents": documents, "bill_invoices": invoices, "bill_payments": payments,
    }


def staging_frames(url: str) -> dict[str, pd.DataFrame]:
    """The metrics' input columns read from a warehouse's staging tables, as
    ``compute_and_publish`` reads them (on SQLite: ADBC in a child process)."""
    from cx_tasks.warehouse.db import engine_for
    from cx_tasks.warehouse.frames import read_staging_tables

    return read_staging_tables(engine_for(url), INPUT_COLUMNS)


def timed(runs: int, work: Callable[[], object]) -> tuple[list[float], list[float], object]:
    """Wall-clock and CPU seconds of each of ``runs`` calls of ``work``, and its last result.

    CPU seconds (this process and the child processes it waited for: a SQLite warehouse's
    reader) show what a machine shared with other work would give if it were quiet;
    wall-clock seconds are the figure reported.
    """
    wall, cpu, result = [], [], None
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), _cpu_seconds()
        result = work()
        wall.append(time.perf_counter() - began)
        cpu.append(_cpu_seconds() - began_cpu)
    return wall, cpu, result


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                           resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_on_threads(runs: int, work: Callable[[], object]
                     ) -> dict[int, tuple[list[float], list[float], object]]:
    """``timed`` with the metrics' work on one thread and on two, runs interleaved (so both
    see the same load of a shared machine)."""
    default, sizes = parallel.WORKERS, (1, 2)
    results: dict[int, tuple[list[float], list[float], object]] = {}
    try:
        for _ in range(runs):
            for size in sizes:
                parallel.WORKERS = size
                wall, cpu, result = timed(1, work)
                previous = results.get(size, ([], [], None))
                results[size] = (previous[0] + wall, previous[1] + cpu, result)
    finally:
        parallel.WORKERS = default
    return results


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000, help="order lines to generate")
    parser.add_argument("--clients", type=int, default=5_000, help="clients to generate")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of compute_metrics")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--warehouse", help="read staging from this warehouse URL instead")
    parser.add_argument("--as-of", type=date.fromisoformat, default=AS_OF,
                        help=f"the day the windows end before (default {AS_OF})")
    args = parser.parse_args()

    def load() -> dict[str, pd.DataFrame]:
        if args.warehouse:
            return staging_frames(args.warehouse)
        return synthetic_frames(args.lines, args.clients, args.seed)

    read_wall, read_cpu, frames = timed(1, load)
    source = "read from staging" if args.warehouse else "generated"
    print(f"input {source} in {read_wall[0]:.1f} s ({read_cpu[0]:.1f} s CPU): "
          + ", ".join(f"{t} {len(f):,}" for t, f in frames.items()))
    input_mb = _peak_rss_mb()
    n_lines = len(frames["erp_order_lines"])
    params = metric_parameters()

    by_threads = timed_on_threads(args.runs, lambda: compute_metrics(frames, args.as_of, params))
    wall, cpu, metrics = by_threads[parallel.WORKERS]
    other = 2 if parallel.WORKERS == 1 else 1
    other_wall, other_cpu, _ = by_threads[other]
    join_wall, join_cpu, _ = timed(args.runs, lambda: ledger(frames))
    median, median_cpu = statistics.median(wall), statistics.median(cpu)
    print(f"compute_metrics as of {args.as_of}, windows {list(params.windows)}: "
          f"{len(metrics):,} metric rows, {metrics['client_id'].nunique():,} clients")
    print(f"  runs, wall-clock (s):     {', '.join(f'{s:.2f}' for s in wall)}")
    print(f"  runs, CPU (s):            {', '.join(f'{s:.2f}' for s in cpu)}")
    print(f"  median:                   {median:.2f} s wall-clock, {median_cpu:.2f} s CPU")
    print(f"  order lines per second:   {n_lines / median:,.0f} "
          f"({n_lines / median_cpu:,.0f} per CPU second)")
    print(f"  on {other} thread(s) instead: {statistics.median(other_wall):.2f} s wall-clock, "
          f"{statistics.median(other_cpu):.2f} s CPU (median, runs interleaved)")
    print(f"  of which key joins:       {statistics.median(join_wall):.2f} s wall-clock, "
          f"{statistics.median(join_cpu):.2f} s CPU (ledger)")
    if args.warehouse:
        total, total_cpu = read_wall[0] + median, read_cpu[0] + median_cpu
        print(f"  read + compute:           {total:.2f} s wall-clock, {total_cpu:.2f} s CPU: "
              f"{n_lines / total:,.0f} order lines per second "
              f"({n_lines / total_cpu:,.0f} per CPU second)")
    print(f"  peak RSS:                 {_peak_rss_mb():,.0f} MB ({input_mb:,.0f} MB after input)")


if __name__ == "__main__":
    main()
