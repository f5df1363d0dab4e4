"""A proposal approved through Airflow's REST API under a real ``airflow standalone``:
``cx_implement`` proposes an initiative, the proposal waits in Required Actions
(``GET .../hitlDetails``), a person approves it with a sponsor (``PATCH``), and the register
records the approval by that user through the channel ``airflow``.

Slow (Airflow starts in about a minute). Skips when ``airflow`` is not on the venv's path,
except in CI, where it fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fixtures.implement_world import complaint, pareto, seed_world
from sqlalchemy import select

from cx_tasks.demo.cx_team import respond
from cx_tasks.loopback import free_port
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import initiative_history, initiatives

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
INIT = "init:metals:documents:2026-11-01"


def _env(home: Path, data: Path, api_port: int) -> dict[str, str]:
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "cx_implement.py").symlink_to(REPO / "dags" / "cx_implement.py")
    venv_bin = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": free_port(),
            "extra": {"from_email": "cx@example.com", "disable_ssl": True,
                      "disable_tls": True, "timeout": 5, "retry_limit": 1}}),
        "CX_DATA_DIR": str(data),
        "CX_WAREHOUSE_URL": f"sqlite:///{data / 'warehouse.db'}",
        "CX_SURVEY_SECRET": "approval-test",
    }


def _wait(what: str, check: Callable[[], object], timeout: float,
          process: subprocess.Popen) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"airflow standalone exited ({process.returncode}) before {what}")
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_proposal_is_approved_through_hitl_details(tmp_path: Path) -> None:
    airflow = Path(sys.executable).parent / "airflow"
    if not airflow.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("airflow is not installed in the venv")
        pytest.skip("airflow is not installed in the venv")
    data, home = tmp_path / "data", tmp_path / "airflow"
    data.mkdir()
    api_port = free_port()
    env = _env(home, data, api_port)
    url = env["CX_WAREHOUSE_URL"]
    migrate(engine_for(url))
    seed_world(url)
    for n in range(3):
        complaint(url, f"claim:D{n}", "K1", "C1", "no certificates", "documents",
                  datetime(2026, 10, 20 + n, 9))
    pareto(url, "metals", "documents", 3)
    engine_for(url).dispose()

    log = (tmp_path / "standalone.log").open("w")
    process = subprocess.Popen([str(airflow), "standalone"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=60)
    try:
        passwords = home / "simple_auth_manager_passwords.json.generated"
        _wait("the api-server", lambda: passwords.exists() and api.get(
            "/api/v2/monitor/health").status_code == 200, 300, process)
        token = api.post("/auth/token", json={
            "username": "admin", "password": json.loads(passwords.read_text())["admin"]},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        # unpaused once the api-server answers (a task started earlier cannot reach the
        # execution API and waits for its retry): the scheduler starts the latest hourly run
        _wait("cx_implement parsed", lambda: api.patch(
            "/api/v2/dags/cx_implement", headers=headers, json={"is_paused": False}
        ).status_code == 200, 300, process)
        # answered only once its task is parked: Airflow resumes a task on a response only
        # from awaiting_input (a response that arrives while it still runs is kept, unused)
        waiting = _wait("a proposal in Required Actions", lambda: [
            d for d in api.get("/api/v2/dags/~/dagRuns/~/hitlDetails", headers=headers)
            .json().get("hitl_details", []) if not d["response_received"]
            and d["task_instance"]["state"] == "awaiting_input"], 400, process)
        detail = waiting[0]  # type: ignore[index]
        assert INIT in detail["subject"] and detail["defaults"] == ["Reject"]
        assert detail["options"] == ["Approve", "Reject"]
        ti = detail["task_instance"]
        api.headers.update(headers)
        answer = respond(api, ti, {"chosen_options": ["Approve"],
                                   "params_input": {"reason": "", "sponsor": "COO"}})
        assert answer.status_code == 200, answer.text
        run = f"/api/v2/dags/cx_implement/dagRuns/{ti['dag_run_id']}"
        state = _wait("the run to finish", lambda: (s := api.get(run, headers=headers).json()
                                                    ["state"]) in ("success", "failed") and s,
                      300, process)
        assert state == "success", (tmp_path / "standalone.log").read_text()[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    with engine_for(url).connect() as conn:
        row = conn.execute(select(initiatives).where(
            initiatives.c.initiative_id == INIT)).one()
        moves = [(h.status, h.channel) for h in conn.execute(
            select(initiative_history).order_by(initiative_history.c.changed_at))]
    assert (row.status, row.sponsor, row.decided_by) == ("approved", "COO", "admin")
    assert moves == [("proposed", "pipeline"), ("approved", "airflow")]
