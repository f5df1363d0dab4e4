"""Event intake rules (``rules/event_intake.yaml``): which trigger events are sane enough to
act on. An event's time must lie in the *event window*: not more than ``max_days_ahead``
after the run's time and not before its client's contract start; a pushed event's
``extra`` must fit in ``extra_max_bytes``. The checks return the rule broken, never raise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.config import load_rules
from cx_tasks.warehouse.times import naive_utc


class EventIntakeRules(BaseModel):
    """The event window and the size limit of a pushed event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_days_ahead: float = Field(30, ge=0, description="latest event time, in days after "
                                                        "the run's time")
    extra_max_bytes: int = Field(16384, ge=256, description="largest pushed extra, in bytes "
                                                            "of compact ASCII JSON")


def event_intake_rules(rules_dir: Path | None = None) -> EventIntakeRules:
    """The intake rules from ``event_intake.yaml`` (the user's copy if present)."""
    return load_rules("event_intake", EventIntakeRules, rules_dir)


def parse_moment(text: str) -> datetime | None:
    """An ISO 8601 date and time as naive UTC, or None when it is none or has no UTC form
    (``0001-01-01T00:00:00+01:00`` lies before the year 1 in UTC)."""
    try:
        return naive_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def window_refusal(occurred: datetime, now: datetime, contract_start: date | None,
                   rules: EventIntakeRules) -> str | None:
    """Why an event at ``occurred`` (naive UTC) lies outside the event window of a run at
    ``now``, or None: more than ``max_days_ahead`` after ``now``, or before the client's
    ``contract_start`` (unknown: not checked)."""
    if occurred - now > timedelta(days=rules.max_days_ahead):
        return f"occurred_at: more than {rules.max_days_ahead:g} days after the run's time"
    if contract_start is not None and occurred.date() < contract_start:
        return f"occurred_at: before the client's contract start {contract_start.isoformat()}"
    return None


def compact_json(value: Mapping[str, Any]) -> str:
    """``value`` as compact, key-sorted JSON with non-ASCII escaped (what the size counts)."""
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), default=str)


def size_refusal(extra: Mapping[str, Any], rules: EventIntakeRules) -> str | None:
    """Why a pushed event's ``extra`` is too large to act on, or None."""
    if len(compact_json(extra)) > rules.extra_max_bytes:
        return f"extra: larger than {rules.extra_max_bytes} bytes"
    return None
