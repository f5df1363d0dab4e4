"""Default arguments and tags every CX Loop DAG starts from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cx_airflow.notifiers import task_failure_notifier

OWNER = "cx-data-engineering"
TAGS = ["cx-loop"]
NO_CATCHUP_START = datetime(2000, 1, 1, tzinfo=UTC)
"""The start of the DAGs without catch-up (those scheduled on Assets, the digests, adjust):
it only has to precede every run's logical date, since a run dated before its DAG's start
gets no task instances (a demo pinned to 2025 had empty survey dispatch runs under the
earlier start of 2026-01-01)."""


def default_args(**overrides: Any) -> dict[str, Any]:
    """Owner, retries with exponential backoff, and an e-mail to the data engineers when a
    task finally fails; ``overrides`` replace or extend them for one DAG."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "on_failure_callback": task_failure_notifier(),
    }
    args.update(overrides)
    return args


def tags(*stage_tags: str) -> list[str]:
    """The project tag plus the DAG's own (stage, subject)."""
    return [*TAGS, *stage_tags]
