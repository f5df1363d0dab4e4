"""Warehouse fixtures: every test here runs on a SQLite file and on the test PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty warehouse: a SQLite temp file, or a fresh schema of PostgreSQL.

    The PostgreSQL schema comes from the root ``postgres_url`` fixture (dropped after the
    test; skipped with the reason when no server answers, failed when ``CI=true``).
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate(engine_for(url))
    yield url
    engine_for(url).dispose()


def checksum(url: str) -> dict[str, str]:
    """Per warehouse table, a SHA-1 of all its rows selected in primary-key order."""
    sums = {}
    with engine_for(url).connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            sums[table.name] = hashlib.sha1(repr([tuple(r) for r in rows]).encode()).hexdigest()
    return sums


@pytest.fixture()
def warehouse_checksum() -> Callable[[str], dict[str, str]]:
    """``checksum(url)``: per warehouse table, a SHA-1 of its rows in primary-key order."""
    return checksum
