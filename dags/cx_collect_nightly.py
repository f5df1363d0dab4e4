"""
### cx_collect_nightly: the collect stage, every night

Reads the interval's new and changed rows from the supplier's systems, validates them,
publishes the computable metrics when the data can be trusted, and detects the trigger
events the survey stage reacts to.

- `extract`, one per contract table: rows with `updated_at` in `[start, end)` land in a file.
- `validate_and_load`: the Great Expectations gate; bad rows go to `quarantine` with the
  rule that caught them, good rows are upserted into staging.
- `gate`: passed -> `compute_metrics`, failed -> `alert_data_engineers`.
- `compute_metrics`: OTIF, shipments, rhythm, packaging, documents, payments as of the
  interval's end day, and per segment the shares of the journey map's indicators collected
  from systems and automatically (`collection_shares`); updates the Asset `cx_metrics`.
- `alert_data_engineers`: an e-mail naming every failed expectation, through the outbox and
  `smtp_default` (recipients: `CX_ALERT_EMAILS`); no metrics are published.
- `detect_events`: delivery completed, OTIF miss, claim closed, ticket resolved, document
  delay, from validated rows whatever the gate said; updates the Asset `cx_events`, which
  schedules the survey stage.

**Interval.** Nightly at 02:00 UTC for the day before (`CronDataIntervalTimetable`),
catch-up on, one run at a time. The first interval starts at `CX_START_DATE`
(default 2026-05-01).

**History load.** Trigger a run with the param `history_from` (YYYY-MM-DD) and its
extraction (and event detection) starts at that date instead of the interval's start:
one run loads the whole history before the nightly runs take over. Master data (clients,
products, contacts) changes rarely: pick a date before its oldest `updated_at` (e.g.
2000-01-01), or orders referring to older clients are quarantined as unresolved.

**Re-running** any interval is safe: every write is an upsert on a natural key, and an
alert already sent is not sent again. Connections: `cx_source`, `cx_warehouse` (else
`CX_SOURCE_URL` / `CX_WAREHOUSE_URL`), `smtp_default`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from cx_airflow.assets import CX_EVENTS, CX_METRICS
from cx_airflow.defaults import default_args, tags
from cx_tasks.collect.contract import SOURCE_TABLES

# Airflow needs a fixed start (a moving one would shift every interval): a deployment sets
# CX_START_DATE to its first night (the demo: the first night it runs, cx_tasks.demo.run);
# the default is only where a fresh install with no setting would start its catch-up.
START_DATE = datetime.fromisoformat(os.environ.get("CX_START_DATE", "2026-05-01")).replace(
    tzinfo=UTC)


def _window() -> tuple[datetime, datetime]:
    """This run's extraction window ``[history_from or interval start, interval end)``,
    as naive UTC datetimes (the warehouse's convention)."""
    context = get_current_context()
    end = context["data_interval_end"].astimezone(UTC).replace(tzinfo=None)
    # Read from the run's own conf: dag.test() leaks one run's conf into the DAG's params
    # for every later run in the process (Airflow 3.3), params would repeat a history load.
    history_from = (context["dag_run"].conf or {}).get("history_from") or ""
    if history_from:
        return datetime.fromisoformat(history_from), end
    return context["data_interval_start"].astimezone(UTC).replace(tzinfo=None), end


@dag(
    dag_id="cx_collect_nightly",
    description=("Nightly: extract the supplier systems' changes, gate their quality, "
                 "publish metrics, detect trigger events"),
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=True,
    max_active_runs=1,
    default_args=default_args(),
    tags=tags("collect", "nightly"),
    doc_md=__doc__,
    params={
        "history_from": Param(
            "", type="string", pattern=r"^(\d{4}-\d{2}-\d{2})?$",
            description="History load: extract from this date (YYYY-MM-DD) instead of the "
                        "interval's start. Empty for a nightly run.",
        ),
    },
)
def cx_collect_nightly() -> None:
    @task(map_index_template="{{ table }}")
    def extract(table: str) -> dict[str, Any]:
        """Land the window's new and changed rows of one source table."""
        from cx_airflow.connections import source_url
        from cx_tasks.collect.extract import extract_table, land
        from cx_tasks.config import settings

        start, end = _window()
        rows = extract_table(source_url(), table, start, end)
        path = land(rows, settings().landing_dir, table, start)
        return {"table": table, "rows": rows.num_rows, "path": str(path)}

    @task
    def validate_and_load(landed: list[dict[str, Any]]) -> dict[str, Any]:
        """Validate the landed rows, quarantine the bad ones, load the rest into staging."""
        from cx_airflow.connections import source_url, warehouse_url
        from cx_tasks.collect.quality import LandedFrames
        from cx_tasks.collect.quality import validate_and_load as gate_and_load

        start, end = _window()
        # one slice fetches every mapped result at once (iterating asks one by one, then
        # once more past the end, which Airflow logs as an error)
        frames = LandedFrames({item["table"]: Path(item["path"]) for item in landed[:]})
        result = gate_and_load(warehouse_url(), source_url(), frames, start, end)
        return {
            "passed": bool(result.passed),
            "failed_expectations": list(result.failed_expectations),
            "quarantined_by_rule": {str(k): int(v) for k, v in
                                    result.quarantined_by_rule.items()},
            "results_path": str(result.results_path) if result.results_path else None,
        }

    @task.branch
    def gate(summary: dict[str, Any]) -> str:
        """Publish metrics only for an interval that passed the data-quality gate."""
        return "compute_metrics" if summary["passed"] else "alert_data_engineers"

    @task(outlets=[CX_METRICS])
    def compute_metrics() -> dict[str, Any]:
        """Compute and publish every computable metric as of the interval's end day."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.metrics.compute import compute_and_publish

        start, end = _window()
        published = compute_and_publish(warehouse_url(), end.date(), known_by=start)
        get_current_context()["outlet_events"][CX_METRICS].extra = {"as_of": published["as_of"]}
        return published

    @task
    def alert_data_engineers(summary: dict[str, Any]) -> dict[str, int]:
        """Mail the data engineers about the blocked interval (once, however often re-run)."""
        from dataclasses import asdict

        from cx_airflow.connections import warehouse_url
        from cx_airflow.mailer import smtp_transport
        from cx_tasks.mail.outbox import deliver
        from cx_tasks.mail.quality_alert import KIND, enqueue_quality_alert
        from cx_tasks.mail.recipients import alert_recipients
        from cx_tasks.warehouse.db import engine_for

        start, end = _window()
        url = warehouse_url()
        with engine_for(url).begin() as conn:
            queued = enqueue_quality_alert(
                conn, interval_start=start, interval_end=end,
                failed_expectations=summary["failed_expectations"],
                quarantined_by_rule=summary["quarantined_by_rule"],
                results_path=summary["results_path"], recipients=alert_recipients(),
            )
        delivered = deliver(url, smtp_transport(), kinds=[KIND])
        if delivered.retry or delivered.failed:
            raise RuntimeError(f"quality alert not delivered: {delivered}; see the outbox")
        return {"queued": queued, **asdict(delivered)}

    @task(outlets=[CX_EVENTS])
    def detect_events(summary: dict[str, Any]) -> dict[str, Any]:
        """Record the window's trigger events from validated staging rows; the Asset event
        says which window, and how many events were new (stored with this interval_start)."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.collect.events import detect_and_store

        start, end = _window()
        counts = detect_and_store(warehouse_url(), start, end)
        extra = {"interval_start": start.isoformat(), "interval_end": end.isoformat(),
                 **counts, "gate_passed": summary["passed"]}
        get_current_context()["outlet_events"][CX_EVENTS].extra = extra
        return extra

    summary = validate_and_load(extract.expand(table=[t.name for t in SOURCE_TABLES]))
    gate(summary) >> [compute_metrics(), alert_data_engineers(summary)]
    detect_events(summary)


cx_collect_nightly()
