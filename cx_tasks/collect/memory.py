"""Keeping a history load's resident memory to what it uses.

A process's allocators keep memory it freed for reuse: Python's and NumPy's through the C
library's ``malloc``, Arrow's through its own pool. Validating a table of millions of
rows frees hundreds of megabytes of temporaries, and without care the next table's peak
comes on top of them. Two things keep it down:

- ``return_freed_memory_promptly`` (once per process): Arrow allocates from its jemalloc
  pool where pyarrow has one (its default, mimalloc, keeps freed pages longer), and glibc
  serves blocks of 1 MiB and more by ``mmap`` always, so freeing one returns it (by
  default glibc raises that threshold after each large free, up to 32 MiB, and the
  columns of a few million rows then come from a heap that is seldom given back);
- ``release_memory`` after each large table: frees what only reference cycles hold
  (Great Expectations' objects of a run hold its frame in cycles) and hands the free
  memory of both allocators back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from contextlib import suppress
from functools import cache
from typing import Any

import pyarrow as pa

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number for the size served by ``mmap``."""
MMAP_THRESHOLD_BYTES = 1 << 20


@cache
def _libc() -> Any | None:
    """glibc, where the C library is glibc (None elsewhere, e.g. macOS or musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


@cache
def return_freed_memory_promptly() -> None:
    """Configure this process's allocators to give large freed blocks back at once."""
    with suppress(NotImplementedError):  # a pyarrow built without jemalloc keeps its default
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def release_memory() -> None:
    """Collect cyclic garbage, then return the free memory of Arrow's pool and of ``malloc``
    to the operating system (a fraction of a second in a large process)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
