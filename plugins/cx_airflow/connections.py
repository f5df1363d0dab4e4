"""Where the warehouse and the supplier's systems are: Airflow connections, else settings.

``cx_warehouse`` and ``cx_source`` are looked up as Airflow connections (any secrets
backend, e.g. ``AIRFLOW_CONN_CX_WAREHOUSE``); when one is not defined the URL comes from
``cx_tasks.config.settings()`` (``CX_WAREHOUSE_URL`` / ``CX_SOURCE_URL``, default: SQLite
files in the data folder). Call these inside tasks, not at parse time.
"""

from __future__ import annotations

from typing import Any

from cx_tasks.config import settings

WAREHOUSE_CONN_ID = "cx_warehouse"
SOURCE_CONN_ID = "cx_source"

_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2"}


def sqlalchemy_url(connection: Any) -> str:
    """The SQLAlchemy URL of an Airflow connection.

    ``postgres``/``postgresql`` become ``postgresql+psycopg2``; ``sqlite`` becomes
    ``sqlite:///PATH`` with the file path taken from the host (or schema) field; any
    other type's URI (e.g. ``postgresql+psycopg2://...`` given whole) is kept.
    """
    if connection.conn_type == "sqlite":
        path = connection.host or connection.schema
        return f"sqlite:///{path}"
    uri = connection.get_uri()
    scheme, rest = uri.split("://", 1)
    return f"{_DRIVERS.get(scheme, scheme)}://{rest}"


def _url_of(conn_id: str) -> str | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return sqlalchemy_url(BaseHook.get_connection(conn_id))
    except AirflowNotFoundException:
        return None


def warehouse_url() -> str:
    """The warehouse's SQLAlchemy URL (connection ``cx_warehouse``, else settings)."""
    return _url_of(WAREHOUSE_CONN_ID) or settings().warehouse_url


def source_url() -> str:
    """The supplier systems' SQLAlchemy URL (connection ``cx_source``, else settings)."""
    return _url_of(SOURCE_CONN_ID) or settings().source_url
