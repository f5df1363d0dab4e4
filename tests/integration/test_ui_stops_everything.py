"""``cx ui``: airflow standalone on the demo's home becomes healthy on 127.0.0.1, prints the
address and password, and Ctrl-C leaves no process of it running.

Takes a minute or two (standalone migrates its metadata DB and starts four components):
runs in CI (``CI=true``) or with ``CX_TEST_UI=1``, skipped otherwise.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from fixtures.smtp_peers import free_port

from cx_tasks.config import settings
from cx_tasks.demo.run import DemoPlan, reset_data
from cx_tasks.demo.ui import group_alive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("CI", "").lower() != "true"
                       and os.environ.get("CX_TEST_UI") != "1",
                       reason="starts airflow standalone (1-2 min): CI=true or CX_TEST_UI=1"),
]


def _line(stream, pattern: str, deadline: float) -> re.Match[str]:
    """The first line of ``stream`` matching ``pattern`` before ``deadline``."""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"cx ui never printed {pattern!r}")


def test_ctrl_c_stops_every_process_cx_ui_started(tmp_path: Path) -> None:
    data = tmp_path / "data"
    reset_data(settings({"CX_DATA_DIR": str(data)}), DemoPlan(end=date(2026, 11, 1)))
    (data / "airflow").mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= {"CX_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    ui = subprocess.Popen([str(Path(sys.executable).parent / "cx"), "ui", "--port", str(port)],
                          env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        group = int(_line(ui.stdout, r"process group (\d+)", deadline).group(1))
        url = _line(ui.stdout, r"Airflow UI: (http://127\.0\.0\.1:\d+)  user: admin  "
                               r"password: (\S+)", deadline)
        assert url.group(1) == f"http://127.0.0.1:{port}" and url.group(2) != "None"
        health = httpx.get(f"{url.group(1)}/api/v2/monitor/health", timeout=10)
        assert health.status_code == 200
        login = httpx.post(f"{url.group(1)}/auth/token", timeout=30,
                           json={"username": "admin", "password": url.group(2)})
        assert login.status_code == 201, login.text
        assert url.group(2) not in (data / "airflow-ui.log").read_text()  # shown, never logged
        ui.send_signal(signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
        assert ui.wait(timeout=90) == 0
        assert not group_alive(group), "a process of airflow standalone is still running"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url.group(1)}/api/v2/monitor/health", timeout=5)
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
