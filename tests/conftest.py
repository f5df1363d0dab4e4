"""Test-session environment, set before anything imports Airflow or reads settings.

Airflow reads ``AIRFLOW_HOME`` and its ``AIRFLOW__*`` variables when first imported, so
they are set here, at the top of the root conftest: a throw-away Airflow home (its
metadata DB included), the project's DAG and plugin folders, no example DAGs. CX Loop's
own data folder is a throw-away too, and the URL variables a developer may have
exported are dropped so every test sees the embedded defaults unless it says otherwise.

Clock-shifted runs: with ``CX_TEST_CLOCK_SHIFT_DAYS=N`` (e.g. 730 or -365) the whole session
runs on the process clock moved N days (``time-machine``, ticking), which proves that no test
and no code under test depends on the day it runs. Only this process travels: tests whose
subprocesses or servers read their own clock do not qualify: ``.ci/run`` runs the shifted
sessions over ``tests/unit`` and ``tests/sql``, where such a test is marked ``real_clock``
and skipped in a shifted session.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO_ROOT = Path(__file__).resolve().parents[1]
_SCRATCH = Path(tempfile.mkdtemp(prefix="cx-tests-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)

for _name in ("CX_WAREHOUSE_URL", "CX_SOURCE_URL", "CX_RULES_DIR", "CX_ALERT_EMAILS",
              "AIRFLOW_CONN_CX_WAREHOUSE", "AIRFLOW_CONN_CX_SOURCE", "AIRFLOW_CONN_SMTP_DEFAULT"):
    os.environ.pop(_name, None)
os.environ.update({
    "AIRFLOW_HOME": str(_SCRATCH / "airflow"),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    # the API's token key: long enough for SHA-512 (RFC 7518), fresh per test session
    "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex * 2,
    "CX_DATA_DIR": str(_SCRATCH / "data"),
    "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO_ROOT / "plugins"), os.environ.get("PYTHONPATH", "")) if p),
})
# Airflow puts the plugins folder on sys.path; tests import cx_airflow the same way.
sys.path.insert(0, str(REPO_ROOT / "plugins"))

CLOCK_SHIFT = "CX_TEST_CLOCK_SHIFT_DAYS"
if os.environ.get(CLOCK_SHIFT):
    from datetime import UTC, datetime, timedelta

    import time_machine

    # the wall clock read once, to move it: the shifted session's only real "now"
    time_machine.travel(datetime.now(UTC) + timedelta(days=int(os.environ[CLOCK_SHIFT])),
                        tick=True).start()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_clock: a child process or server reads the wall "
                            "clock (skipped when the session's clock is shifted)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In a clock-shifted session, skip the tests marked ``real_clock``, saying why."""
    if not os.environ.get(CLOCK_SHIFT):
        return
    skip = pytest.mark.skip(reason=f"reads a wall clock {CLOCK_SHIFT} cannot move")
    for item in items:
        if item.get_closest_marker("real_clock"):
            item.add_marker(skip)


def pytest_report_header() -> str | None:
    """Say so when the session runs on a shifted clock."""
    if os.environ.get(CLOCK_SHIFT):
        from datetime import UTC, datetime

        return (f"process clock shifted by {os.environ[CLOCK_SHIFT]} days ({CLOCK_SHIFT}): "
                f"now {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return None


POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@pytest.fixture()
def postgres_url():
    """A URL of the test PostgreSQL whose search_path is a fresh schema, dropped afterwards.

    Skips with the reason when no server answers, except in CI (``CI=true``): there the
    server is part of the job, so its absence fails the test.
    """
    server = create_engine(POSTGRES_SERVER, connect_args={"connect_timeout": 3})
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with server.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - any failure to reach the server
        server.dispose()
        message = f"PostgreSQL at 127.0.0.1:5432/test not reachable: {error.__class__.__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    url = f"{POSTGRES_SERVER}?options=-csearch_path%3D{schema}"
    yield url
    from cx_tasks.warehouse.db import engine_for

    engine_for(url).dispose()
    with server.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    server.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty warehouse: a SQLite temp file, or a fresh schema of PostgreSQL.

    The PostgreSQL schema comes from the root ``postgres_url`` fixture (dropped after the
    test; skipped with the reason when no server answers, failed when ``CI=true``).
    """
    from cx_tasks.warehouse.db import engine_for, migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate(engine_for(url))
    yield url
    engine_for(url).dispose()
