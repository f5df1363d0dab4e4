"""Benchmark of the simulated supplier: time per stage, rows per second, peak memory.

    .venv/bin/python bench/bench_simulate.py --clients 6000 --days 365   # >= 2 million lines

Prints figures; asserts nothing (speed targets are read by people, not tests).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from cx_tasks.simulate import simulate


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=6000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    # A fixed day, not today: the same arguments give the same data, so figures compare run
    # to run (the README's `bench_metrics --as-of 2026-11-01` reads this default's last day).
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1),
                        help="the simulation's 'now' (YYYY-MM-DD)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the databases")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="cx-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    marks: dict[str, tuple[float, float]] = {}
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        key = f"{stage} {done}/{total}" if stage == "generate" else stage
        if stage == "generate" or done >= total:
            marks.setdefault(key, (time.perf_counter() - started, peak_rss_mb()[0]))

    summary = simulate(
        f"sqlite:///{folder / 'supplier.db'}",
        folder / "ground_truth.db",
        clients=args.clients,
        days=args.days,
        seed=args.seed,
        end=args.end,
        progress=progress,
    )
    elapsed = time.perf_counter() - started
    rows = sum(summary.rows.values())
    lines = summary.rows["erp_order_lines"]
    own, child = peak_rss_mb()
    print(f"simulated {args.clients} clients x {args.days} days (seed {args.seed}) into {folder}")
    for name, count in summary.rows.items():
        print(f"  {name:26s} {count:>10,d}")
    print(f"  defects: {summary.defects}")
    print("stage reached at (seconds, peak RSS MB so far):")
    for key, (at, rss) in marks.items():
        print(f"  {key:16s} {at:7.1f} s {rss:8,.0f} MB")
    print(
        f"total {elapsed:.1f} s; {rows:,d} rows, {rows / elapsed:,.0f} rows/s; "
        f"{lines:,d} order lines, {lines / elapsed:,.0f} lines/s"
    )
    print(f"peak RSS {own:,.0f} MB (largest child process {child:,.0f} MB)")


if __name__ == "__main__":
    main()
