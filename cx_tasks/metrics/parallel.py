"""Independent array work (the joins of different tables, the metric families), on one thread
or on a pool of threads: numpy sorts and ufuncs and Arrow kernels release the GIL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

WORKERS = 1
"""Threads per computation. One: on the shared 2-core machine two threads cost ~10-25% more
CPU and were no faster (``bench/bench_metrics.py`` times both); try 2 on an idle machine."""

T = TypeVar("T")


def run_all(jobs: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Each job's result by name, the jobs started in the order given (put the longest first)."""
    if WORKERS == 1:
        return {name: job() for name, job in jobs.items()}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
