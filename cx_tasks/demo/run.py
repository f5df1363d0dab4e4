"""``cx demo``: simulate a supplier, run the collect stage through Airflow, report.

1. simulate the supplier's systems; 2. a history load and the nightly runs of
``cx_collect_nightly``, each night followed by ``cx_survey_dispatch`` (the invitations reach
the local SMTP server); 3. the simulated contacts answer a share of the invitations they
received through the response app's real endpoints; 4. ``cx_feedback`` takes the answers
(and the service desk) in and acknowledges them; 5. ``cx_analyze`` classifies the feedback,
ranks its causes, models satisfaction and drills into the clients whose satisfaction fell;
6. ``cx_implement`` opens cases and proposes initiatives, each proposal waiting in Airflow's
Required Actions; the simulated CX lead answers them through Airflow's REST API (a
short-lived ``airflow api-server`` on the same metadata DB) and approves two, their owners
record two milestones (decisions file), case owners act through their one-touch links
(``cx_tasks.demo.cx_team``), a second run tells the clients "you said, we did", and an
hourly run dated 25 hours later escalates the cases nobody acknowledged;
7. ``cx_monitor`` and the digests; 8. ``cx_adjust_staff`` and ``cx_adjust`` once at the
demo's clock (``cx_tasks.adjust.demo``): staff and client risk, rounds, the register's
effects, working-group packs.

Everything lives inside the project: the data folder (``data/``) holds the simulated
supplier, the warehouse, the GX results and every e-mail the local SMTP server
received; ``data/airflow`` is an isolated Airflow home. Airflow runs in a child
process (``cx_airflow.run_dag``: real ``dag.test()`` runs), so this module stays free
of Airflow imports like the rest of ``cx_tasks``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from cx_tasks.adjust.demo import adjust_demo_runs
from cx_tasks.config import Settings, settings
from cx_tasks.demo.respondents import (
    AnswerClock,
    Answers,
    answer,
    respondent_rules,
    respondents,
    survey_invitations,
)
from cx_tasks.demo.smtp_sink import SmtpSink
from cx_tasks.loopback import free_port
from cx_tasks.monitor.demo import monitor_demo_answers, monitor_demo_runs
from cx_tasks.monitor.rules import monitor_rules

REPO_ROOT = Path(__file__).resolve().parents[2]
# The history load reads everything: clients, products and contacts predate the
# simulated period by years (contract start dates), so it must start well before it.
HISTORY_FROM = date(2000, 1, 1)
T = TypeVar("T")


@dataclass(frozen=True)
class DemoPlan:
    """What the demo simulates and which nightly intervals it runs through Airflow.

    ``end`` is the demo's "today": the simulated period is the ``days`` days before it (it
    ends the day before), and the last nightly run is the one due at 02:00 UTC on ``end``.
    ``cx demo`` takes today (UTC) by default, so every clock the demo meets agrees with the
    real one; ``--end`` pins it (same seed and end, same data).
    """

    end: date
    clients: int = 300
    days: int = 180
    seed: int = 7
    nightly_runs: int = 5
    settle_days: int = 10
    """Days the supplier's snapshot runs past ``end`` (also when ``end`` is today: the
    simulated world then runs ``settle_days`` past the wall clock, and that is deliberate).
    The nights are replayed from one snapshot, which holds each row's LAST version only: a
    shipment delivered after the snapshot would appear on its ship day, a shipment delivered
    before it on its delivery day, so the last nights of a snapshot taken at ``end`` carry
    both and look like a volume surge to the gate (which then blocks them). Snapshotting
    later (longest transit plus lateness) makes every replayed night look like the ones
    before it, as each would have looked when it really ran. The rows changed after ``end``
    (simulated, so they may be in the real future) stay invisible to the pipeline: every
    extraction is bounded by its interval, and the last interval ends at ``end``. Only the
    source freshness check reads a whole table's newest ``updated_at``, and a newer one
    only says the source is fresh. Taking ``settle_days`` = 0 when ``end`` is today would
    make the demo's last nights fail the gate: a replay artefact, not the loop's behaviour."""

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days)

    @property
    def snapshot_end(self) -> date:
        """The day the simulated supplier's systems are read (``end`` + ``settle_days``)."""
        return self.end + timedelta(days=self.settle_days)

    @property
    def first_interval_start(self) -> date:
        """The start of the first interval the demo runs (the history load's): the nightly
        DAG's start (``CX_START_DATE``), so the demo's runs are the schedule's first ones and
        an unpaused ``cx_collect_nightly`` under ``cx ui`` carries on from them."""
        return self.first_nightly - timedelta(days=2)

    @property
    def first_nightly(self) -> date:
        """The first nightly interval's end; the history load ends the day before it."""
        return self.end - timedelta(days=self.nightly_runs - 1)


def demo_clock(plan: DemoPlan, wall_clock: Callable[[], datetime]) -> Callable[[], datetime]:
    """The demo's clock after the nights: ``wall_clock`` moved back by the whole days between
    ``plan.end`` and the wall clock's day, so that a demo pinned to an earlier ``end`` answers
    and acknowledges surveys the day its nights ran, as today's demo does (its links are
    valid 30 days from the nights that sent them). For today's demo it is the wall clock."""
    shift = wall_clock().astimezone(UTC).date() - plan.end

    def now() -> datetime:
        return wall_clock() - shift

    return now


def airflow_environment(config: Settings, plan: DemoPlan, smtp_connection: str) -> dict[str, str]:
    """The environment of the Airflow child process: isolated home, project DAGs, demo SMTP."""
    home = config.data_dir / "airflow"
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_SMTP_DEFAULT": smtp_connection,
        "CX_DATA_DIR": str(config.data_dir),
        "CX_WAREHOUSE_URL": config.warehouse_url,
        "CX_SOURCE_URL": config.source_url,
        "CX_START_DATE": plan.first_interval_start.isoformat(),
        "CX_SURVEY_BASE_URL": config.survey_base_url,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT / "plugins"), env.get("PYTHONPATH", "")) if p),
    })
    return env


DEMO_MARK = ".cx-demo"
"""The file that marks a data folder as made by ``cx demo`` (which may then replace it)."""
EARLIER_DEMO_LOG = "airflow-demo.log"
"""Written only by the demo: a folder holding it was made by an earlier demo (before the mark)."""


class NotTheDemosFolder(RuntimeError):
    """The data folder holds files, and the demo did not make it: it is not replaced."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        super().__init__(f"{folder} holds data that cx demo did not make; not replacing it "
                         "(choose another folder with CX_DATA_DIR, or pass --force)")


def replaceable(folder: Path) -> bool | None:
    """Whether the demo may replace ``folder``: None when there is nothing to replace (absent
    or empty), True when an earlier demo made it, False otherwise."""
    if not folder.exists() or not any(folder.iterdir()):
        return None
    return (folder / DEMO_MARK).exists() or (folder / EARLIER_DEMO_LOG).exists()


def reset_data(config: Settings, plan: DemoPlan) -> None:
    """Remove what an earlier demo left and mark the folder as the demo's own (the mark
    keeps the plan: ``cx ui`` runs Airflow on the demo's dates)."""
    for name in ("supplier.db", "warehouse.db", "ground_truth.db"):
        for suffix in ("", "-wal", "-shm"):
            (config.data_dir / f"{name}{suffix}").unlink(missing_ok=True)
    (config.data_dir / EARLIER_DEMO_LOG).unlink(missing_ok=True)
    for folder in (config.landing_dir, config.quality_dir, config.mail_dir,
                   config.data_dir / "airflow", config.data_dir / "past_answers",
                   config.data_dir / "digests", config.data_dir / "packs"):
        shutil.rmtree(folder, ignore_errors=True)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / DEMO_MARK).write_text(json.dumps(
        {"made_by": "cx demo (it may replace this folder)", **asdict(plan)}, default=str,
        indent=1) + "\n")


def demo_plan_of(folder: Path) -> DemoPlan | None:
    """The plan of the demo that made ``folder`` (None if no demo did, or an older one)."""
    try:
        fields = json.loads((folder / DEMO_MARK).read_text())
    except (OSError, ValueError):
        return None
    fields.pop("made_by", None)
    return DemoPlan(**{**fields, "end": date.fromisoformat(fields["end"])})


def run_in_airflow(config: Settings, plan: DemoPlan, smtp_connection: str,
                   arguments: list[str], on_line: Callable[[str], None],
                   alongside: Callable[[Callable[[], bool]], T] | None = None) -> T | None:
    """``cx_airflow.run_dag`` with ``arguments`` in a child process; its lines to ``on_line``,
    its log appended to ``airflow-demo.log``; raises if a run failed. ``alongside`` (told
    whether the child still runs) runs meanwhile in this thread: a person answering what the
    runs wait for; its result is returned; if it raises, the child is stopped and the error
    raised."""
    command = [sys.executable, "-m", "cx_airflow.run_dag", *arguments]
    env = airflow_environment(config, plan, smtp_connection)
    log = config.data_dir / EARLIER_DEMO_LOG
    with log.open("a") as log_file, subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=log_file, text=True, cwd=REPO_ROOT
    ) as child:
        output = child.stdout
        assert output is not None
        reader = threading.Thread(target=lambda: [on_line(line.rstrip()) for line in output])
        reader.start()
        done = None
        try:
            if alongside is not None:
                done = alongside(lambda: child.poll() is None)
        except BaseException:
            child.kill()
            raise
        finally:
            reader.join()
    if child.returncode != 0:
        raise RuntimeError(f"Airflow runs failed (exit {child.returncode}); see {log}")
    return done


def nightly_arguments(plan: DemoPlan) -> list[str]:
    """The history load and every night of ``cx_collect_nightly``, each followed by
    ``cx_survey_dispatch`` at the night's end."""
    return ["cx_collect_nightly",
            "--first", (plan.first_nightly - timedelta(days=1)).isoformat(),
            "--last", plan.end.isoformat(),
            "--history-from", HISTORY_FROM.isoformat(),
            "--then", "cx_survey_dispatch"]


def once(dag_id: str, at: datetime, conf: dict[str, object] | None = None) -> list[str]:
    """One run of ``dag_id`` at ``at`` (the demo's clock: its answers were stored by then),
    with the run's ``conf``."""
    moment = at.astimezone(UTC).replace(tzinfo=None).isoformat()
    return [dag_id, "--once", "--at", moment, *(["--conf", json.dumps(conf)] if conf else [])]


def answer_surveys(config: Settings, plan: DemoPlan, port: int,
                   now: Callable[[], datetime]) -> Answers:
    """The simulated contacts answer the invitations in the mail folder through the
    response app, served on ``port`` (``config.survey_base_url``), each at a moment of the
    last ``answer_within_hours`` before the demo's clock ``now``, after its sending
    (``AnswerClock``)."""
    import httpx

    from cx_tasks.demo.smtp_sink import MailFolder
    from cx_tasks.surveys.app import create_app
    from cx_tasks.surveys.serving import serving

    invitations = survey_invitations(MailFolder(config.mail_dir).messages(),
                                     config.survey_base_url)
    people = respondents(config.source_url, config.ground_truth_path)
    rules = respondent_rules()
    clock = AnswerClock(now, rules.answer_within_hours, plan.seed)
    with serving(create_app(config, now=clock), port=port), httpx.Client(timeout=30) as http:
        return answer(invitations, people, rules, http, plan.seed, clock.at)


def run_demo(
    plan: DemoPlan,
    wall_clock: Callable[[], datetime],
    on_step: Callable[[str], None],
    on_run: Callable[[str], None],
    simulate_progress: Callable[[str, int, int], None] | None = None,
    *,
    force: bool = False,
) -> tuple[Settings, Answers, float]:
    """Simulate, migrate, start the SMTP sink, run Airflow, answer surveys, acknowledge;
    return the settings, what the contacts did, and the seconds taken. Replaces the data
    folder if an earlier demo made it (or ``force``), else raises ``NotTheDemosFolder``."""
    from cx_tasks.simulate import simulate
    from cx_tasks.warehouse.db import engine_for, migrate

    started = time.perf_counter()
    app_port = free_port()
    config = replace(settings(), survey_base_url=f"http://127.0.0.1:{app_port}")
    mine = replaceable(config.data_dir)
    if mine is False and not force:
        raise NotTheDemosFolder(config.data_dir)
    if mine is not None:
        on_step(f"replacing the data folder {config.data_dir}"
                + ("" if mine else " (--force: cx demo did not make it)"))
    reset_data(config, plan)
    now = demo_clock(plan, wall_clock)
    on_step(f"simulating {plan.clients} clients x {plan.days} days, {plan.start} to "
            f"{plan.end - timedelta(days=1)} (seed {plan.seed})")
    simulate(config.source_url, config.ground_truth_path, clients=plan.clients,
             days=plan.days + plan.settle_days, seed=plan.seed, end=plan.snapshot_end,
             progress=simulate_progress)
    monitor_demo_answers(config, plan, on_step)
    on_step("creating the warehouse")
    migrate(engine_for(config.warehouse_url))
    config.survey_secret  # noqa: B018 - made once here, shared with the Airflow process
    with SmtpSink(config.mail_dir) as sink:
        smtp = sink.smtp_connection_json()
        on_step(f"local SMTP server on {sink.host}:{sink.port} -> {config.mail_dir}")
        on_step(f"running cx_collect_nightly through Airflow: history load to "
                f"{plan.first_nightly - timedelta(days=1)}, then {plan.nightly_runs} nightly "
                "runs, each followed by cx_survey_dispatch")
        run_in_airflow(config, plan, smtp, nightly_arguments(plan), on_run)
        on_step(f"simulated contacts answer through the response app at "
                f"{config.survey_base_url}")
        answers = answer_surveys(config, plan, app_port, now)
        on_step("running cx_feedback: intake and acknowledgements")
        run_in_airflow(config, plan, smtp, once("cx_feedback", now()), on_run)
        on_step("running cx_analyze: classification, Pareto, satisfaction model, "
                "drill-down, findings")
        run_in_airflow(config, plan, smtp, once("cx_analyze", now()), on_run)
        implement(config, plan, smtp, app_port, now, on_step, on_run)
        for arguments, step in monitor_demo_runs(now(), monitor_rules().digests):
            on_step(step)
            run_in_airflow(config, plan, smtp, arguments, on_run)
        for arguments, step in adjust_demo_runs(now()):
            on_step(step)
            run_in_airflow(config, plan, smtp, arguments, on_run)
    return config, answers, time.perf_counter() - started


def implement(config: Settings, plan: DemoPlan, smtp: str, app_port: int,
              now: Callable[[], datetime], on_step: Callable[[str], None],
              on_run: Callable[[str], None]) -> None:
    """The implement stage on the demo's clock ``now``: cases and proposals, the CX lead's
    answers in Airflow's Required Actions, the owners' milestones and one-touch links,
    progress e-mails, then the clocks a day later (``cx_tasks.demo.cx_team``)."""
    from cx_tasks.demo.cx_team import (
        answer_required_actions,
        largest_proposals,
        owners_act,
        record_milestones,
    )
    from cx_tasks.demo.ui import api_server

    on_step("running cx_implement: close-the-loop cases, findings' lifecycle, proposals; "
            "each proposal waits in Airflow's Required Actions, and the simulated CX lead "
            "answers them through Airflow's human-in-the-loop REST API (PATCH hitlDetails, "
            "a short-lived airflow api-server on the same metadata DB)")
    with api_server(config, plan, smtp, user="cx_lead") as connect:
        lead = run_in_airflow(
            config, plan, smtp, once("cx_implement", now(), {"ask_in_airflow": True}), on_run,
            alongside=lambda running: answer_required_actions(
                connect, lambda: largest_proposals(config), running))
    assert lead is not None
    record_milestones(config, lead.approved, now().date())
    on_step(f"the simulated CX lead approved {len(lead.approved)} proposals "
            f"({', '.join(lead.approved)}) and rejected {len(lead.rejected)} (not this "
            "quarter) in Airflow's Required Actions, through its REST API; the owners record "
            "the root cause and the fix in place (the first milestone the clients hear "
            "about) in the decisions file")
    acted = owners_act(config, app_port, now)
    on_step(f"owners open {acted.cases} case e-mails and, through their one-touch links, "
            f"acknowledge {acted.acknowledged} and close {acted.closed} with a note "
            f"({acted.refused} refused)")
    # the later runs propose nothing new; nobody would answer a form they asked
    nothing_asked = {"ask_in_airflow": False}
    on_step("running cx_implement again: milestones applied, closures and \"you said, we "
            "did\" e-mails sent")
    run_in_airflow(config, plan, smtp, once("cx_implement", now(), nothing_asked), on_run)
    later = (now() + timedelta(hours=25)).replace(minute=0, second=0, microsecond=0)
    on_step(f"running the hourly cx_implement of {later:%Y-%m-%d %H:%M} UTC: the clocks of "
            "the cases nobody acknowledged escalate")
    run_in_airflow(config, plan, smtp, once("cx_implement", later, nothing_asked), on_run)
