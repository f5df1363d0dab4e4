"""Independent array work run on two threads: numpy sorts and ufuncs and Arrow kernels
release the GIL, so the joins of different tables and the metric families overlap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

WORKERS = 2
"""Threads per computation (the machine the targets are set on has two cores)."""

T = TypeVar("T")


def run_all(jobs: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Each job's result by name, the jobs started in the order given (put the longest first)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
