"""Decisions on initiatives from a file in the data folder, for teams that do not use
Airflow's UI: ``initiative_decisions.yaml`` (a list of mappings) or
``initiative_decisions.csv`` (a header row), one decision per row:

==============  ============================================================================
``initiative``  the initiative id (``cx initiatives`` lists them)
``decision``    approve | reject | drop | reach (a milestone reached)
``by``          who decided (kept in the history)
``reason``      required to reject or drop
``sponsor``     optional, on approval
``milestone``   the milestone id, for ``reach``
``reached_on``  the day the milestone was reached (YYYY-MM-DD), for ``reach``
==============  ============================================================================

The file is read on every ``cx_implement`` run; a row already applied changes nothing (the
register's transitions are idempotent), so the file may keep growing. A row that cannot be
applied goes to ``quarantine`` (source ``initiative_decisions``) with the rule it broke,
and the others still apply.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cx_tasks.config import parse_yaml
from cx_tasks.implement.initiatives import MilestoneRefused, decide, reach
from cx_tasks.implement.rules import InitiativeRules
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import quarantine

FILE_NAMES = ("initiative_decisions.yaml", "initiative_decisions.csv")
SOURCE = "initiative_decisions"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a decisions file (YAML list or CSV with a header)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return [dict(r) for r in csv.DictReader(text.splitlines())]
    data = parse_yaml(text) or []
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: expected a list of decisions")
    return [r if isinstance(r, dict) else {"_raw": r} for r in data]


def apply_row(conn: Any, row: Mapping[str, Any], *, now: datetime,
              rules: InitiativeRules) -> bool:
    """Apply one decision row; True when it changed the register. Raises ``ValueError``
    (or ``MilestoneRefused``) naming what is wrong with it."""
    initiative = str(row.get("initiative") or "").strip()
    decision = str(row.get("decision") or "").strip().lower()
    actor = str(row.get("by") or "").strip() or "decisions file"
    if not initiative:
        raise ValueError("missing_initiative")
    if decision == "reach":
        milestone = str(row.get("milestone") or "").strip()
        on = row.get("reached_on")
        day = on if isinstance(on, date) else date.fromisoformat(str(on or "").strip())
        return reach(conn, initiative, milestone, on=day, actor=actor, channel="file", now=now)
    if decision not in ("approve", "reject", "drop"):
        raise ValueError("unknown_decision")
    return decide(conn, initiative, decision, actor=actor, channel="file", now=now,
                  reason=row.get("reason") or None, sponsor=row.get("sponsor") or None,
                  rules=rules)


def apply_file(warehouse_url: str, data_dir: Path, *, now: datetime,
               rules: InitiativeRules) -> Counter[str]:
    """Apply every decision file in ``data_dir``; counts ``applied``, ``unchanged`` and
    ``quarantined``."""
    counts: Counter[str] = Counter()
    engine = engine_for(warehouse_url)
    for name in FILE_NAMES:
        path = data_dir / name
        if not path.exists():
            continue
        for row in read_rows(path):
            try:
                with engine.begin() as conn:
                    counts["applied" if apply_row(conn, row, now=now, rules=rules)
                           else "unchanged"] += 1
            except (ValueError, MilestoneRefused) as error:
                payload = json.dumps(row, sort_keys=True, default=str)
                with engine.begin() as conn:
                    insert_if_absent(conn, quarantine, [{
                        "source_table": SOURCE, "interval_start": now.replace(minute=0, second=0,
                                                                              microsecond=0),
                        "row_key": hashlib.sha256(payload.encode()).hexdigest()[:32],
                        "rule": getattr(error, "reason", None) or str(error)[:120],
                        "detail": f"{name}: {error}", "payload": payload}])
                counts["quarantined"] += 1
    return counts
