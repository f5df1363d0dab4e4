"""The project's SQL templates: Jinja files under ``sql/`` rendered to bound statements.

Jinja shapes a statement (a column list, a table name taken from the data contract);
values never pass through Jinja: they stay ``:name`` bind parameters of the returned
``TextClause`` and are given when it is executed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import TextClause, text

import cx_tasks


def sql_dir() -> Path:
    """The ``sql/`` folder at the repository root, beside the ``cx_tasks`` package."""
    folder = Path(cx_tasks.__file__).resolve().parent.parent / "sql"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"SQL templates not found at {folder}: install CX Loop from its repository "
            "(pip install -e .) so that sql/ sits beside cx_tasks/")
    return folder


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(sql_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_sql(name: str, **params: Any) -> TextClause:
    """Template ``name`` (a path under ``sql/``, ``.sql`` optional) rendered with ``params``."""
    path = name if name.endswith(".sql") else f"{name}.sql"
    return text(_environment().get_template(path).render(**params))
