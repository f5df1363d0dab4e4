"""Warehouse fixtures: a checksum of every table (``warehouse_url`` is in the root conftest)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fixtures.checksums import table_checksums


@pytest.fixture()
def warehouse_checksum() -> Callable[[str], dict[str, str]]:
    """``checksum(url)``: per warehouse table, a SHA-256 of its rows in primary-key order."""
    return table_checksums
