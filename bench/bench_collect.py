"""Benchmark of the collect stage's extract, quality gate and load over a whole history.

    .venv/bin/python bench/bench_simulate.py --clients 6000 --days 365 --out /tmp/cx-bench
    .venv/bin/python bench/bench_collect.py /tmp/cx-bench/supplier.db

Runs ``collect_interval`` once over the source's whole history (one interval from
2000-01-01 to the day after its newest change) into a fresh SQLite warehouse, and
prints seconds per phase, rows per second, CPU seconds (this process, its parking thread
and the extraction's child processes: on a shared machine wall time is noisy, CPU time much
less) and peak memory.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from cx_tasks.collect.contract import SOURCE_TABLES
from cx_tasks.collect.extract import source_max_updated_at
from cx_tasks.collect.quality import collect_interval
from cx_tasks.metrics.compute import compute_and_publish
from cx_tasks.warehouse.db import engine_for, migrate

HISTORY_START = datetime(2000, 1, 1)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``: those its threads started (from
    /proc/<pid>/task/*/children, not a scan of every process: this runs 5 times a second
    beside what is measured)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:  # ended meanwhile
            continue
    return found


def _cpu_seconds() -> dict[str, float]:
    """User + system CPU seconds of this process, and of every other process it started:
    those it reaped (the ADBC reader of a SQLite source), and those alive (a fork server,
    with every process it forked and reaped: the extraction processes of another
    database)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    alive = 0.0
    for child in _children(os.getpid()):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        alive += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return {"self": own.ru_utime + own.ru_stime,
            "children": reaped.ru_utime + reaped.ru_stime + alive}


class _PeakMemory(threading.Thread):
    """Samples the peak resident memory (VmHWM) of every process below this one."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            pending = _children(os.getpid())
            while pending:
                pid = pending.pop()
                pending += _children(pid)
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks[pid] = max(self.peaks.get(pid, 0.0),
                                              int(line.split()[1]) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the supplier's SQLite database")
    parser.add_argument("--out", type=Path, default=None, help="folder for warehouse and files")
    parser.add_argument("--workers", type=int, default=2,
                        help="tables extracted at once (a SQLite source is read by one reader)")
    parser.add_argument("--metrics", action="store_true",
                        help="then compute and publish every metric (compute_and_publish)")
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
    peaks = _PeakMemory()
    peaks.start()
    started = time.perf_counter()
    result = collect_interval(warehouse_url, source_url, folder / "landing", HISTORY_START, end,
                              quality_dir=folder / "quality", workers=args.workers)
    elapsed = time.perf_counter() - started
    collect_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    time.sleep(0.5)  # a fork server reaps its last children
    cpu = {who: after - before for (who, after), before in
           zip(_cpu_seconds().items(), cpu_before.values(), strict=True)}
    if args.metrics:
        metrics_cpu = time.process_time()
        metrics_began = time.perf_counter()
        published = compute_and_publish(warehouse_url, end.date(), known_by=HISTORY_START)
        metrics_elapsed = time.perf_counter() - metrics_began
        metrics_cpu = time.process_time() - metrics_cpu
    peaks.done.set()

    rows = sum(t["rows_in"] for t in result.tables.values())
    lines = result.tables["erp_order_lines"]["rows_in"]
    print(f"collect_interval [{HISTORY_START:%Y-%m-%d}, {end:%Y-%m-%d}) of {args.source} "
          f"into {warehouse}")
    print(f"  {'table':<26}{'rows in':>12}{'loaded':>12}{'quarantined':>13}")
    for name, counts in result.tables.items():
        print(f"  {name:<26}{counts['rows_in']:>12,}{counts['rows_loaded']:>12,}"
              f"{counts['rows_quarantined']:>13,}")
    phases = result.phase_seconds
    print("phases (wall s; they overlap: extraction and writes run beside the validation):")
    for phase in ("extract", "gx_setup", "validate", "load"):
        print(f"  {phase:<26}{phases.get(phase, 0.0):>8.1f}")
    print(f"cpu (user + sys) s: this process {cpu['self']:.1f} (validation "
          f"{phases['validate_cpu']:.1f}), extraction (child processes) "
          f"{cpu['children']:.1f}; total {cpu['self'] + cpu['children']:.1f}")
    print(f"total {elapsed:.1f} s; {rows:,} rows, {rows / elapsed:,.0f} rows/s; "
          f"{lines:,} order lines, {lines / elapsed:,.0f} lines/s")
    print(f"gate passed: {result.passed}; failed: {result.failed_expectations}; "
          f"skipped: {len(result.skipped_checks)} checks")
    print(f"quarantined by rule: {result.quarantined_by_rule}")
    if args.metrics:
        print(f"compute_and_publish as of {published['as_of']}: {metrics_elapsed:.1f} s, "
              f"{metrics_cpu:.1f} CPU-s, "
              f"{published['rows']:,} metric rows; collect + metrics "
              f"{elapsed + metrics_elapsed:.1f} s")
    others = max(peaks.peaks.values(), default=0.0)
    print(f"peak RSS of the collect {collect_peak:,.0f} MB (largest extraction "
          f"process {others:,.0f} MB)")
    if args.metrics:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS with the metrics after it (same process) {peak:,.0f} MB")


if __name__ == "__main__":
    main()
