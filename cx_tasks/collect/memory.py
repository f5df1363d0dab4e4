"""Giving a history load's freed memory back to the operating system between tables.

A process's allocators keep memory it freed for reuse: Python's and NumPy's through the
C library's ``malloc``, Arrow's through its own pool. After a table of millions of rows
that is hundreds of megabytes no longer used, and the next table's peak comes on top of
it. ``release_memory`` frees what only reference cycles still hold (Great Expectations'
objects of a run hold its frame in cycles) and hands the free memory back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache

import pyarrow as pa


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:
    """glibc's ``malloc_trim`` (None where the C library has none, e.g. macOS or musl)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    return getattr(ctypes.CDLL(name), "malloc_trim", None)


def release_memory() -> None:
    """Collect cyclic garbage, then return the free memory of Arrow's pool and of ``malloc``
    to the operating system (a fraction of a second in a large process)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
