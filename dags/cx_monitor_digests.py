"""
### cx_monitor_daily_digest and cx_monitor_weekly_digest: what the CX team reads

Two DAGs on their own data-interval timetables in the CX team's time zone
(`monitor.yaml` `digests`): daily at 08:00 (the interval is the day before), weekly on
Monday at 08:00 (the week before). The weekly run also writes each owner's and each account
manager's digest.

- `write_digests`: the digests of the interval built from the warehouse, saved as HTML
  files under `<data dir>/digests/<kind>/<interval start>/` and enqueued in the outbox,
  one per recipient and interval (a digest with nothing to say is neither saved nor sent
  unless `send_when_empty`).
- `deliver_digests`: the queued digests sent through `smtp_default`.

**Re-running** or backfilling an interval writes the same files and enqueues nothing twice
(the outbox key names the kind, scope, interval and recipient).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from cx_airflow.defaults import NO_CATCHUP_START, default_args, tags
from cx_tasks.monitor.rules import digest_crons


def digest_dag(kind: str, cron: str, timezone: str) -> Any:
    """The DAG writing and delivering the ``kind`` digests on ``cron`` in ``timezone``."""

    @dag(
        dag_id=f"cx_monitor_{kind}_digest",
        schedule=CronDataIntervalTimetable(cron, timezone=timezone),
        start_date=NO_CATCHUP_START,
        description=f"The CX team's {kind} digest, each owner's and account manager's, at 08:00 "
                    "in the CX team's time zone",
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        tags=tags("monitor"),
        doc_md=__doc__,
    )
    def digests() -> None:
        @task
        def write_digests() -> dict[str, Any]:
            """Build, save and enqueue the interval's digests."""
            from zoneinfo import ZoneInfo

            from cx_airflow.connections import warehouse_url
            from cx_tasks.config import settings
            from cx_tasks.monitor.digest_run import write_digests as write
            from cx_tasks.monitor.rules import monitor_rules
            from cx_tasks.warehouse.times import naive_utc

            context = get_current_context()
            start, end = context["data_interval_start"], context["data_interval_end"]
            local_day = end.astimezone(ZoneInfo(timezone)).date()
            done = write(warehouse_url(), kind, naive_utc(start), naive_utc(end),
                         settings().data_dir, monitor_rules(), local_day)
            print(f"{kind} digests for {start} to {end}: {done['digests']} written, "
                  f"{done['empty']} with nothing to say, {done['enqueued']} enqueued")
            return {k: v for k, v in done.items() if k != "files"}

        @task
        def deliver_digests(written: dict[str, Any]) -> dict[str, Any]:
            """Send the queued digests."""
            from dataclasses import asdict

            from cx_airflow.connections import warehouse_url
            from cx_airflow.mailer import smtp_transport
            from cx_tasks.mail.outbox import deliver

            delivered = deliver(warehouse_url(), smtp_transport(), kinds=["digest"])
            if delivered.retry:
                raise RuntimeError(f"{delivered.retry} digests left queued: {delivered}")
            return asdict(delivered)

        deliver_digests(write_digests())

    return digests()


for _kind, (_cron, _timezone) in digest_crons().items():
    digest_dag(_kind, _cron, _timezone)
