"""``cx ui``: the demo's Airflow under ``airflow standalone``, with its UI, on this machine;
and ``api_server``: the demo's short-lived ``airflow api-server`` for its simulated people.

It runs on the demo's own Airflow home (``<data dir>/airflow``: its runs, task logs and DAGs,
its dates: ``CX_START_DATE`` is the demo's first day), with settings for a 2-core laptop:
``[core] parallelism`` 4 (Airflow starts 32 LocalExecutor workers by default), the
api-server on 127.0.0.1 only, the demo's SMTP sink for any e-mail a run sends. It prints the
address and the admin password, and Ctrl-C stops every process it started: ``airflow
standalone`` runs in its own process group (its scheduler, api-server, dag-processor,
triggerer and workers with it), and the whole group is stopped, not only its leader (a
SIGTERM to the leader alone can leave the scheduler and workers running).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import httpx

    from cx_tasks.config import Settings
    from cx_tasks.demo.run import DemoPlan

PARALLELISM = 4
HOST = "127.0.0.1"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
READY_TIMEOUT_S = 240.0
STOP_GRACE_S = 30.0


def ui_environment(config: Settings, plan: DemoPlan, smtp_connection: str,
                   port: int) -> dict[str, str]:
    """The demo's Airflow environment for ``airflow standalone`` on ``HOST:port``."""
    from cx_tasks.demo.run import airflow_environment

    env = airflow_environment(config, plan, smtp_connection)
    env.update({
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        # tasks reach the api-server here (else they fail with ConnectError on a moved port)
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # standalone starts its components as `airflow ...`: the venv's bin/ comes first
        "PATH": os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", ""))),
    })
    return env


def admin_password(airflow_home: Path, user: str = "admin") -> str:
    """The password of ``user`` in ``airflow_home``'s SimpleAuthManager passwords file, made
    here (random, the file readable by its owner only) when the file has none: Airflow then
    finds it and prints no generated password into its log."""
    import secrets

    path = airflow_home / PASSWORDS_FILE
    try:
        passwords = json.loads(path.read_text())
    except (OSError, ValueError):
        passwords = {}
    if user not in passwords:
        passwords[user] = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords) + "\n")
    return passwords[user]


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Whether ``url``/api/v2/monitor/health answered 200 before ``timeout_s`` (False as soon
    as ``process`` exits)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def stop_group(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """Stop ``process``'s whole process group: SIGTERM, then SIGKILL to whatever is left
    after ``grace_s`` seconds."""
    group = process.pid
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sent)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and group_alive(group):
            process.poll()  # reaps the leader: a zombie would count as alive
            time.sleep(0.2)
        if not group_alive(group):
            break
    process.wait()


def group_alive(group: int) -> bool:
    """Whether any process of process group ``group`` is still running."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def api_server(config: Settings, plan: DemoPlan, smtp_connection: str,
               user: str) -> Iterator[Callable[[], httpx.Client]]:
    """A short-lived ``airflow api-server`` on the demo's home: Airflow's public REST API only
    (``--apps core``, one worker) on a free loopback port, in its own process group, stopped
    at exit, its log appended to the demo's. Yields ``connect``: it waits until the server
    answers and returns a client logged in as ``user`` (SimpleAuthManager, role admin; a
    bearer token from ``POST /auth/token``). It shares the metadata DB with the demo's
    ``dag.test()`` runs, so a response it records resumes a task waiting there."""
    import httpx

    from cx_tasks.demo.run import EARLIER_DEMO_LOG
    from cx_tasks.loopback import free_port

    port = free_port()
    url = f"http://{HOST}:{port}"
    env = ui_environment(config, plan, smtp_connection, port)
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = f"{user}:admin"
    password = admin_password(config.data_dir / "airflow", user)
    with (config.data_dir / EARLIER_DEMO_LOG).open("ab") as log:
        process = subprocess.Popen(
            ["airflow", "api-server", "--apps", "core", "--host", HOST, "--port", str(port),
             "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def connect() -> httpx.Client:
        if not wait_until_healthy(url, process, READY_TIMEOUT_S):
            raise RuntimeError(f"airflow api-server did not become healthy (exit "
                               f"{process.poll()}); see {config.data_dir / EARLIER_DEMO_LOG}")
        token = httpx.post(f"{url}/auth/token", timeout=30, json={
            "username": user, "password": password})
        token.raise_for_status()
        return httpx.Client(base_url=url, timeout=30, headers={
            "Authorization": f"Bearer {token.json()['access_token']}"})

    try:
        yield connect
    finally:
        stop_group(process)


def run_ui(config: Settings, plan: DemoPlan, port: int, say: Callable[[str], None]) -> int:
    """``airflow standalone`` on the demo's home until Ctrl-C (or it exits); its exit code."""
    from cx_tasks.demo.smtp_sink import SmtpSink

    home = config.data_dir / "airflow"
    url = f"http://{HOST}:{port}"
    password = admin_password(home)
    with SmtpSink(config.mail_dir) as sink:
        env = ui_environment(config, plan, sink.smtp_connection_json(), port)
        log = config.data_dir / "airflow-ui.log"
        with log.open("ab") as out:
            process = subprocess.Popen(["airflow", "standalone"], env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        say(f"airflow standalone (process group {process.pid}) on {home}, log {log}; "
            f"waiting for {url} ...")
        try:
            if not wait_until_healthy(url, process, READY_TIMEOUT_S):
                say(f"Airflow did not become healthy (exit {process.poll()}); see {log}")
                return 1
            say(f"Airflow UI: {url}  user: admin  password: {password}")
            say(f"e-mails sent by runs arrive in {config.mail_dir}; Ctrl-C stops everything")
            return process.wait()
        except KeyboardInterrupt:
            say("stopping airflow standalone and every process it started ...")
            return 0
        finally:
            stop_group(process)
            say("stopped")


def ui(
    port: Annotated[int, typer.Option(help="port of the UI and API on 127.0.0.1")] = 8080,
) -> None:
    """Start the demo's Airflow with its UI (airflow standalone, parallelism 4, 127.0.0.1);
    prints the address and admin password; Ctrl-C stops every process it started."""
    from cx_tasks.config import settings
    from cx_tasks.demo.run import demo_plan_of

    config = settings()
    plan = demo_plan_of(config.data_dir)
    if plan is None or not (config.data_dir / "airflow").is_dir():
        typer.echo(f"no demo in {config.data_dir}: run `cx demo` (or `python3 dev.py demo`) "
                   "first", err=True)
        raise typer.Exit(2)
    raise typer.Exit(run_ui(config, plan, port, typer.echo))
