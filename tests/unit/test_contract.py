"""The data contract is defined once in Python; the DDL and the document must agree with it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cx_tasks.collect.contract import SOURCE_BY_NAME, SOURCE_TABLES, source_table

ROOT = Path(__file__).resolve().parents[2]
DDL_TYPES = {"text": "TEXT", "integer": "INTEGER", "float": "DOUBLE PRECISION",
             "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP"}


def _ddl_columns() -> dict[str, list[tuple[str, str, bool, bool]]]:
    conn = sqlite3.connect(":memory:")
    conn.executescript((ROOT / "sql/source/schema.sql").read_text())
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {
        t: [(name, type_, bool(notnull), bool(pk))
            for _cid, name, type_, notnull, _default, pk in conn.execute(f"PRAGMA table_info({t})")]
        for t in tables
    }


def test_ddl_declares_exactly_the_contract_tables_and_columns() -> None:
    ddl = _ddl_columns()
    assert sorted(ddl) == sorted(SOURCE_BY_NAME)
    for table in SOURCE_TABLES:
        expected = [(c.name, DDL_TYPES[c.type], c.required and c.name != table.key,
                     c.name == table.key) for c in table.columns]
        assert ddl[table.name] == expected, table.name


def test_every_table_is_versioned_by_updated_at_and_references_resolve() -> None:
    for position, table in enumerate(SOURCE_TABLES):
        assert "updated_at" in table.column_names
        assert table.key in table.column_names
        for ref in table.references:
            assert ref.column in table.column_names
            # parents come first, so validation in contract order can resolve references
            assert [t.name for t in SOURCE_TABLES].index(ref.table) < position, ref


def test_data_contract_document_names_every_table_and_column() -> None:
    doc = (ROOT / "docs/data-contract.md").read_text()
    for table in SOURCE_TABLES:
        assert f"`{table.name}`" in doc
        for column in table.columns:
            assert f"`{column.name}`" in doc, (table.name, column.name)


def test_unknown_table_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="erp_clients"):
        source_table("erp_client")
