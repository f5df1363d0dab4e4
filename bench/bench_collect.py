"""Benchmark of the collect stage's extract, quality gate and load over a whole history.

    .venv/bin/python bench/bench_simulate.py --clients 6000 --days 365 --out /tmp/cx-bench
    .venv/bin/python bench/bench_collect.py /tmp/cx-bench/supplier.db

Runs ``collect_interval`` once over the source's whole history (one interval from
2000-01-01 to the day after its newest change) into a fresh SQLite warehouse, and
prints seconds per phase, rows per second, CPU seconds (this process, the writer process
and the extraction processes: on a shared machine wall time is noisy, CPU time much
less) and peak memory.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from cx_tasks.collect.contract import SOURCE_TABLES
from cx_tasks.collect.extract import source_max_updated_at
from cx_tasks.collect.quality import collect_interval
from cx_tasks.warehouse.db import engine_for, migrate

HISTORY_START = datetime(2000, 1, 1)


def _cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds of this process and of its finished child processes."""
    return {who: (usage.ru_utime + usage.ru_stime) for who, usage in (
        ("self", resource.getrusage(resource.RUSAGE_SELF)),
        ("children", resource.getrusage(resource.RUSAGE_CHILDREN)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the supplier's SQLite database")
    parser.add_argument("--out", type=Path, default=None, help="folder for warehouse and files")
    parser.add_argument("--workers", type=int, default=2, help="tables extracted at once")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="cx-bench-collect-"))
    folder.mkdir(parents=True, exist_ok=True)
    source_url = f"sqlite:///{args.source.resolve()}"
    warehouse = folder / "warehouse.db"
    warehouse.unlink(missing_ok=True)
    warehouse_url = f"sqlite:///{warehouse}"
    migrate(engine_for(warehouse_url))
    newest = max(d for t in SOURCE_TABLES if (d := source_max_updated_at(source_url, t.name)))
    end = datetime.combine(newest.date() + timedelta(days=1), datetime.min.time())

    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    result = collect_interval(warehouse_url, source_url, folder / "landing", HISTORY_START, end,
                              quality_dir=folder / "quality", workers=args.workers)
    elapsed = time.perf_counter() - started
    cpu = {who: after - before for (who, after), before in
           zip(_cpu_seconds().items(), cpu_before.values(), strict=True)}

    rows = sum(t["rows_in"] for t in result.tables.values())
    lines = result.tables["erp_order_lines"]["rows_in"]
    print(f"collect_interval [{HISTORY_START:%Y-%m-%d}, {end:%Y-%m-%d}) of {args.source} "
          f"into {warehouse}")
    print(f"  {'table':<26}{'rows in':>12}{'loaded':>12}{'quarantined':>13}")
    for name, counts in result.tables.items():
        print(f"  {name:<26}{counts['rows_in']:>12,}{counts['rows_loaded']:>12,}"
              f"{counts['rows_quarantined']:>13,}")
    phases = result.phase_seconds
    print("phases (wall s; they overlap when extraction and writes run in processes):")
    for phase in ("extract", "gx_setup", "validate", "load"):
        print(f"  {phase:<26}{phases.get(phase, 0.0):>8.1f}")
    writer = phases.get("writer_process_cpu", 0.0)
    print(f"cpu (user + sys) s: this process {cpu['self']:.1f} (validation "
          f"{phases['validate_cpu']:.1f}), writer process {writer:.1f}, extraction processes "
          f"{cpu['children'] - writer:.1f}; total {cpu['self'] + cpu['children']:.1f}")
    print(f"total {elapsed:.1f} s; {rows:,} rows, {rows / elapsed:,.0f} rows/s; "
          f"{lines:,} order lines, {lines / elapsed:,.0f} lines/s")
    print(f"gate passed: {result.passed}; failed: {result.failed_expectations}; "
          f"skipped: {len(result.skipped_checks)} checks")
    print(f"quarantined by rule: {result.quarantined_by_rule}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB (largest extraction or writer process {child:,.0f} MB)")


if __name__ == "__main__":
    main()
