"""Independent array work (the joins of different tables, the metric families), on one thread
or on a pool of threads: numpy sorts and ufuncs and Arrow kernels release the GIL."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

WORKERS = int(os.environ.get("CX_METRIC_THREADS", min(2, os.cpu_count() or 1)))
"""Threads per computation: ``CX_METRIC_THREADS``, else the cores up to two. Two threads
overlap on an idle 2-core machine (``bench/bench_metrics.py`` times both); on a machine
busy with other work they cost ~10-25% more CPU for no gain: set 1 there."""

T = TypeVar("T")


def run_all(jobs: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Each job's result by name, the jobs started in the order given (put the longest first)."""
    if WORKERS == 1:
        return {name: job() for name, job in jobs.items()}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
