"""House rules that code review alone would miss."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CX_TASKS_FILES = sorted((REPO_ROOT / "cx_tasks").rglob("*.py"))


def imported_modules(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement names, wherever it sits."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_the_scan_sees_nested_and_from_imports() -> None:
    source = "import os\ndef f():\n    from airflow.sdk import task\n    import airflow\n"
    assert imported_modules(source) == {"os", "airflow.sdk", "airflow"}


@pytest.mark.parametrize("path", CX_TASKS_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_cx_tasks_never_imports_airflow(path: Path) -> None:
    airflow = sorted(m for m in imported_modules(path.read_text(encoding="utf-8"))
                     if m == "airflow" or m.startswith(("airflow.", "cx_airflow")))
    assert airflow == [], f"{path.relative_to(REPO_ROOT)} imports {airflow}"
