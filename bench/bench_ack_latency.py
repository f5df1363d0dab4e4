"""Acknowledgement latency: survey response stored -> acknowledgement accepted by SMTP.

    .venv/bin/python bench/bench_ack_latency.py --responses 20 --spacing 3

Starts a real ``airflow standalone`` (scratch AIRFLOW_HOME, free ports, a DAG folder
holding only ``cx_feedback``), a local aiosmtpd server that timestamps every arrival, and
a scratch SQLite warehouse with one contact and one sent invitation per response. Then it
answers the invitations one by one through the response app's real endpoint, mounted in
Airflow's api-server (``GET /cx-surveys/r/<token>?score=N``: the app stores the response
and its feedback row, then registers the asset event on ``cx_feedback``), and waits for
every acknowledgement. Prints p50/p95/max of (SMTP arrival - feedback ``recorded_at``),
matched by the acknowledgement's ``Message-ID``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cx_tasks.loopback import free_port  # noqa: E402
from cx_tasks.mail.outbox import message_id_for  # noqa: E402
from cx_tasks.surveys.catalogue import survey_catalogue  # noqa: E402
from cx_tasks.surveys.links import answer_token, score_links  # noqa: E402
from cx_tasks.warehouse.db import engine_for, migrate  # noqa: E402
from cx_tasks.warehouse.schema import STAGING, feedback, survey_invitations  # noqa: E402

SECRET = "bench-ack-latency-secret"
SURVEY = "tx_delivery_completed"


class Arrivals:
    """aiosmtpd handler: the wall-clock time (naive UTC) each Message-ID arrived."""

    def __init__(self) -> None:
        self.at: dict[str, datetime] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        arrived = datetime.now(UTC).replace(tzinfo=None)
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=policy.default)
        with self.lock:
            self.at[str(message["Message-ID"]).strip()] = arrived
        return "250 accepted"



def seed(url: str, n: int) -> list[tuple[str, str]]:
    """A client, ``n`` contacts and one sent invitation each; (invitation id, contact id)."""
    migrate(engine_for(url))
    now = datetime.now(UTC).replace(tzinfo=None)
    pairs = [(f"inv:bench:{i:03d}", f"BC{i:03d}") for i in range(n)]
    with engine_for(url).begin() as conn:
        conn.execute(STAGING["erp_clients"].insert(), [
            {"client_id": "BK1", "name": "Bench client", "interval_start": now}])
        conn.execute(STAGING["crm_contacts"].insert(), [
            {"contact_id": c, "client_id": "BK1", "role": "operator",
             "full_name": f"Contact {c}", "email": f"{c.lower()}@client.example",
             "language": "ru" if i % 2 else "en", "opted_out": False, "interval_start": now}
            for i, (_, c) in enumerate(pairs)])
        conn.execute(survey_invitations.insert(), [
            {"invitation_id": inv, "event_id": f"bench:{inv}", "survey_id": SURVEY,
             "kind": "transactional", "client_id": "BK1", "contact_id": c, "role": "operator",
             "language": "en", "scheduled_at": now, "planned_in": now, "sent_at": now}
            for inv, c in pairs])
    return pairs


def airflow_env(home: Path, data: Path, api_port: int, smtp_port: int) -> dict[str, str]:
    """The environment of ``airflow standalone`` (and of every task it starts)."""
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "cx_feedback.py").symlink_to(REPO / "dags" / "cx_feedback.py")
    venv_bin = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # the scheduler's and triggerer's log servers: free ports, not 8793/8794
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
            "extra": {"from_email": "cx-loop@example.com", "disable_ssl": True,
                      "disable_tls": True, "timeout": 10, "retry_limit": 1}}),
        "CX_DATA_DIR": str(data),
        "CX_WAREHOUSE_URL": f"sqlite:///{data / 'warehouse.db'}",
        "CX_SURVEY_SECRET": SECRET,
        "CX_SURVEY_BASE_URL": f"http://127.0.0.1:{api_port}/cx-surveys",
    }


def wait_until(what: str, check, timeout: float, process: subprocess.Popen) -> None:
    """Poll ``check()`` until it is true; fail after ``timeout`` s or if Airflow exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"airflow standalone exited ({process.returncode}) before {what}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def ack_message_id(invitation_id: str) -> str:
    """The Message-ID of the acknowledgement of an invitation's response."""
    return message_id_for(f"ack:survey:{invitation_id}")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``share`` of values <= it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=1,
                        help="responses answered first and reported apart (a fresh Airflow's "
                             "first task and the api-server's first survey request are cold)")
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between responses")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the acknowledgements after the last response")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="cx-bench-ack-"))
    data, home = scratch / "data", scratch / "airflow"
    data.mkdir()
    api_port, smtp_port = free_port(), free_port()
    env = airflow_env(home, data, api_port, smtp_port)
    pairs = seed(env["CX_WAREHOUSE_URL"], args.warmup + args.responses)
    arrivals = Arrivals()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    log = (scratch / "standalone.log").open("w")
    started = time.monotonic()
    airflow = subprocess.Popen(["airflow", "standalone"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=60)
    try:
        password_file = home / "simple_auth_manager_passwords.json.generated"
        wait_until("the api-server", lambda: password_file.exists() and api.get(
            "/api/v2/monitor/health").status_code == 200, 240, airflow)
        password = json.loads(password_file.read_text())["admin"]
        token = api.post("/auth/token", json={"username": "admin", "password": password}
                         ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        wait_until("cx_feedback and its asset", lambda: api.get(
            "/api/v2/assets", params={"uri_pattern": "cx://collect/feedback"},
            headers=headers).json().get("total_entries", 0) > 0 and api.get(
            "/api/v2/dags/cx_feedback", headers=headers).status_code == 200, 240, airflow)
        print(f"airflow standalone ready in {time.monotonic() - started:.0f} s "
              f"(api :{api_port}, smtp :{smtp_port}, home {home})", flush=True)

        catalogue = survey_catalogue()
        survey = next(s for s in catalogue.surveys if s.id == SURVEY)
        issued = datetime.now(UTC)
        for i, (invitation_id, contact_id) in enumerate(pairs):
            token_ = answer_token(invitation_id, contact_id, survey, catalogue, issued,
                                  SECRET.encode())
            _, link = score_links(env["CX_SURVEY_BASE_URL"], token_, 4, 4)[0]
            page = api.get(link.removeprefix(f"http://127.0.0.1:{api_port}"))
            if page.status_code != 200:
                raise SystemExit(f"response {i} refused: {page.status_code} {page.text[:200]}")
            if i + 1 == args.warmup:  # measure a warm Airflow, not the warm-up's queue
                wait_until("the warm-up acknowledgements", lambda: {
                    ack_message_id(inv) for inv, _ in pairs[:args.warmup]} <= set(arrivals.at),
                    args.timeout, airflow)
            time.sleep(args.spacing)

        wanted = {ack_message_id(inv): inv for inv, _ in pairs}
        wait_until(f"{len(wanted)} acknowledgements", lambda: set(wanted) <= set(arrivals.at),
                   args.timeout, airflow)
        with engine_for(env["CX_WAREHOUSE_URL"]).connect() as conn:
            recorded = {r.ref_id: r.recorded_at for r in conn.execute(
                select(feedback.c.ref_id, feedback.c.recorded_at))}
        every = [(arrivals.at[mid] - recorded[inv]).total_seconds()
                 for mid, inv in wanted.items()]
        warm, latencies = every[:args.warmup], every[args.warmup:]
        print("warm-up (not counted): " + " ".join(f"{x:.1f} s" for x in warm))
        print(f"responses {len(latencies)}, one every {args.spacing:g} s; latency = SMTP arrival"
              " - feedback recorded_at")
        print(f"p50 {percentile(latencies, 0.50):.1f} s   p95 {percentile(latencies, 0.95):.1f} s"
              f"   max {max(latencies):.1f} s   min {min(latencies):.1f} s")
        print("in response order: " + " ".join(f"{x:.1f}" for x in latencies))
        print(f"p50/p95/max over all {len(every)} (warm-up included): "
              f"{percentile(every, 0.5):.1f} / {percentile(every, 0.95):.1f} / {max(every):.1f} s")
        return 0
    finally:
        os.killpg(airflow.pid, signal.SIGTERM)
        try:
            airflow.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(airflow.pid, signal.SIGKILL)
        smtp.stop()
        log.close()
        if not args.keep:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"scratch kept: {scratch}")


if __name__ == "__main__":
    sys.exit(main())
