"""The demo's simulated CX team and case owners.

- The CX lead answers the proposals waiting in Airflow's Required Actions through Airflow's
  public REST API (``hitlDetails``; the demo's short-lived ``airflow api-server``, which
  shares the metadata DB with the ``dag.test()`` run that waits for the answers): Approve,
  with a sponsor, for the two proposals with the most complaints; Reject, with the reason,
  for the others (a run ends only when every form is answered).
- Their owners record the root cause found and the fix in place (the first client-visible
  milestone) through the decisions file (``initiative_decisions.yaml`` in the data folder).
- Owners open the case e-mails the local SMTP server received and use their one-touch
  links through the response app's real endpoints: every second case is acknowledged, and
  every fourth is closed with a resolution note; the others are left to their clocks.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from cx_tasks.config import Settings
from cx_tasks.implement.stage import initiative_of_form
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import initiatives

if TYPE_CHECKING:
    import httpx

ACK = re.compile(r"^Acknowledge \(one click\): (\S+)$", re.MULTILINE)
CLOSE = re.compile(r"^Close with a resolution note: (\S+)$", re.MULTILINE)
MILESTONES = ("root_cause", "fix_in_place")
RESOLUTION = ("Called the client, found the cause with the warehouse team and agreed the "
              "next delivery; credit note issued.")


@dataclass(frozen=True)
class OwnerActions:
    """What the simulated owners did: case e-mails read, acknowledged, closed, refused."""

    cases: int
    acknowledged: int
    closed: int
    refused: int


SPONSOR = "COO (demo)"
NOT_NOW = "Not this quarter: the two proposals with the most complaints go first (demo)."
APPROVALS = "/api/v2/dags/cx_implement/dagRuns/~/"
WAITING = "awaiting_input"
SETTLED = frozenset({WAITING, "success", "skipped", "failed", "upstream_failed", "removed"})
"""States of an ``approve_initiative`` task instance that no longer change by themselves:
its form is waiting for an answer, or it has ended."""


@dataclass(frozen=True)
class LeadAnswers:
    """The proposals the CX lead approved and rejected in Airflow's Required Actions."""

    approved: list[str]
    rejected: list[str]


def largest_proposals(config: Settings, count: int = 2) -> list[str]:
    """The ``count`` proposals with the most complaints (ties by id), from the register."""
    with engine_for(config.warehouse_url).connect() as conn:
        proposed = conn.execute(select(initiatives.c.initiative_id, initiatives.c.evidence)
                                .where(initiatives.c.status == "proposed")).all()
    return [i for i, _ in sorted(proposed, key=lambda r: (-json.loads(r[1])["complaints"],
                                                           r[0]))[:count]]


def lead_answer(subject: str, chosen: list[str]) -> dict[str, Any]:
    """The CX lead's answer to the form ``subject``: Approve with the sponsor when it asks
    about one of ``chosen``, else Reject with the reason (a ``hitlDetails`` PATCH body)."""
    if initiative_of_form({"subject": subject}) in chosen:
        return {"chosen_options": ["Approve"], "params_input": {"reason": "",
                                                                "sponsor": SPONSOR}}
    return {"chosen_options": ["Reject"], "params_input": {"reason": NOT_NOW, "sponsor": ""}}


def answer_required_actions(connect: Callable[[], httpx.Client],
                            choose: Callable[[], list[str]], run_goes_on: Callable[[], bool],
                            timeout_s: float = 300.0) -> LeadAnswers:
    """The CX lead answers every form of ``cx_implement`` waiting in Required Actions through
    Airflow's REST API (``connect`` gives the client) once the run's ``approve_initiative``
    task instances have all settled (waiting or ended): Approve for the proposals ``choose``
    names then, Reject for the others. Raises when that takes longer than ``timeout_s`` or
    the run ends (``run_goes_on`` false) first."""
    deadline = time.monotonic() + timeout_s
    with connect() as api:
        while True:
            tasks = api.get(f"{APPROVALS}taskInstances", params={
                "task_id": "approve_initiative", "limit": 100})
            tasks.raise_for_status()
            states = [t["state"] for t in tasks.json()["task_instances"]]
            if states and all(s in SETTLED for s in states):
                break
            if not run_goes_on() or time.monotonic() > deadline:
                raise RuntimeError(f"no approval forms to answer in Airflow (states {states})")
            time.sleep(1)
        waiting = api.get(f"{APPROVALS}hitlDetails", params={
            "response_received": False, "limit": 100})
        waiting.raise_for_status()
        chosen = choose()
        approved, rejected = [], []
        for form in waiting.json()["hitl_details"]:
            ti = form["task_instance"]
            answer = lead_answer(form["subject"], chosen)
            respond(api, ti, answer).raise_for_status()
            decided = approved if answer["chosen_options"] == ["Approve"] else rejected
            decided.append(initiative_of_form(form))
    return LeadAnswers(approved, rejected)


def respond(api: httpx.Client, task: dict[str, Any], answer: dict[str, Any],
            attempts: int = 5) -> httpx.Response:
    """PATCH ``answer`` to the ``hitlDetails`` of ``task`` (a ``task_instance`` of the API),
    again after a server error (a SQLite metadata DB answers "database is locked" while the
    scheduler writes; the same answer twice stores it once), at most ``attempts`` times."""
    path = (f"/api/v2/dags/{task['dag_id']}/dagRuns/{task['dag_run_id']}/taskInstances/"
            f"{task['task_id']}/{task['map_index']}/hitlDetails")
    for attempt in range(attempts):
        response = api.patch(path, json=answer)
        if response.status_code < 500:
            break
        time.sleep(1 + attempt)
    return response


def record_milestones(config: Settings, approved: list[str], reached_on: date) -> None:
    """The owners of the ``approved`` initiatives record their milestones up to the first
    client-visible one, reached on ``reached_on``, in the decisions file."""
    rows = [{"initiative": initiative, "decision": "reach", "milestone": milestone,
             "reached_on": reached_on.isoformat(), "by": "owner (demo)"}
            for initiative in approved for milestone in MILESTONES]
    (config.data_dir / "initiative_decisions.yaml").write_text(
        yaml.safe_dump(rows, allow_unicode=True, sort_keys=False), encoding="utf-8")


def owners_act(config: Settings, port: int, now: Callable[[], datetime]) -> OwnerActions:
    """The owners act on their new-case e-mails through the response app, served on ``port``
    (``config.survey_base_url``) on the demo's clock ``now`` while they do."""
    import httpx

    from cx_tasks.demo.smtp_sink import MailFolder
    from cx_tasks.surveys.app import create_app
    from cx_tasks.surveys.serving import serving

    notices = [m for m in MailFolder(config.mail_dir).messages()
               if str(m["Subject"]).startswith("New case ")]
    acknowledged = closed = refused = 0
    with serving(create_app(config, now=now), port=port), httpx.Client(timeout=30) as http:
        for n, message in enumerate(notices):
            text = message.get_body(("plain",)).get_content()
            ack, close = ACK.search(text), CLOSE.search(text)
            if ack is None or close is None or n % 2:
                continue
            http.get(ack.group(1))  # the page first, as a person would see it
            answer = http.post(ack.group(1))
            acknowledged += answer.status_code == 200
            refused += answer.status_code != 200
            if n % 4 == 0:
                http.get(close.group(1))
                answer = http.post(close.group(1), data={"note": RESOLUTION})
                closed += answer.status_code == 200
                refused += answer.status_code != 200
    return OwnerActions(len(notices), acknowledged, closed, refused)
