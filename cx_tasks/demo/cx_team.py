"""The demo's simulated CX team and case owners.

- The CX lead approves the two proposals with the most complaints and their owners record
  the root cause found and the fix in place (the first client-visible milestone), through
  the decisions file
  (``initiative_decisions.yaml`` in the data folder): the demo runs ``cx_implement`` by
  ``dag.test()`` in a child process, where a task waiting in Airflow's Required Actions
  would wait alone until its timeout, so the demo runs it with ``ask_in_airflow`` false.
- Owners open the case e-mails the local SMTP server received and use their one-touch
  links through the response app's real endpoints: every second case is acknowledged, and
  every fourth is closed with a resolution note; the others are left to their clocks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import yaml
from sqlalchemy import select

from cx_tasks.config import Settings
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import initiatives

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


def approve_two(config: Settings, reached_on: date) -> list[str]:
    """Write the CX lead's decisions: approve the two proposals with the most complaints and
    record their milestones up to the first client-visible one reached on ``reached_on``;
    return their ids."""
    with engine_for(config.warehouse_url).connect() as conn:
        proposed = conn.execute(select(initiatives.c.initiative_id, initiatives.c.evidence)
                                .where(initiatives.c.status == "proposed")).all()
    chosen = [i for i, _ in sorted(proposed, key=lambda r: (-json.loads(r[1])["complaints"],
                                                            r[0]))[:2]]
    rows = []
    for initiative in chosen:
        rows.append({"initiative": initiative, "decision": "approve", "by": "CX lead (demo)",
                     "sponsor": "COO (demo)"})
        rows += [{"initiative": initiative, "decision": "reach", "milestone": milestone,
                  "reached_on": reached_on.isoformat(), "by": "owner (demo)"}
                 for milestone in MILESTONES]
    (config.data_dir / "initiative_decisions.yaml").write_text(
        yaml.safe_dump(rows, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return chosen


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
