"""
### cx_feedback: take feedback in, acknowledge it within a minute

Runs whenever feedback may have arrived: on the Asset `cx_feedback` (a survey response
stored by the response app) or `cx_events` (a nightly collect run staged new claims and
tickets). Not on a clock.

- `intake`: claims and tickets staged by collect and known by the triggering interval
  (only when `cx_events` triggered the run; a manual run takes everything staged), the
  CSV drop folder `<data dir>/feedback_inbox/*.csv` and the table `informal_feedback`
  into the table `feedback`; bad informal notes go to `quarantine` with the rule they
  broke (docs/feedback-intake.md).
- `announce_intake`: updates the Asset `cx_feedback_intake` with the new `feedback_ids`
  when intake added any (skipped otherwise).
- `acknowledge`: every undecided piece of feedback with a contact gets an acknowledgement
  (reference number, owner, next steps) in the outbox, once; the rest is recorded as not
  acknowledged with its reason (no contact, opted out, older than 72 h, ...).
- `deliver_acknowledgements`: sends the queued acknowledgements through `smtp_default`;
  a server that is down fails the task, which retries after 15 s (exponential backoff).

**No loop.** This DAG is scheduled on `cx_feedback`, so it never updates `cx_feedback`:
what it takes in is announced on `cx_feedback_intake` instead, and a later stage that
wants every new piece of feedback schedules on `cx_feedback | cx_feedback_intake`.

**Latency.** One run at a time (the outbox allows one deliverer per kind); Asset events
that arrive during a run are consumed together by the next run. A run triggered by
`cx_feedback` alone skips the service desk (it changes only with nightly collect runs),
so a survey response is acknowledged in a few task start-ups.

**Time.** A run works at the time it was due (`run_after`), never the wall clock.

**Re-running** is safe: feedback, decisions and outbox messages are insert-if-absent,
and a CSV file is taken once by the hash of its bytes. Connections: `cx_warehouse`
(else `CX_WAREHOUSE_URL`), `smtp_default`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from cx_airflow.assets import CX_EVENTS, CX_FEEDBACK, CX_FEEDBACK_INTAKE
from cx_airflow.defaults import NO_CATCHUP_START, default_args, tags
from cx_tasks.warehouse.times import naive_utc


def _now() -> datetime:
    """The run's time: when it was due (``run_after``: an Asset-triggered run is due when its
    event arrived), as naive UTC (the warehouse's convention). A rerun keeps it."""
    return naive_utc(get_current_context()["dag_run"].run_after)


def _service_desk_scope() -> tuple[bool, datetime | None]:
    """Whether this run takes in claims and tickets, and as known by which interval: the
    latest ``interval_start`` of the triggering ``cx_events``; everything staged for a run
    triggered by nothing (manual); none for a run triggered by ``cx_feedback`` alone."""
    triggering = get_current_context().get("triggering_asset_events") or {}
    starts = [e.extra.get("interval_start") for e in triggering.get(CX_EVENTS, [])]
    starts = [datetime.fromisoformat(s) for s in starts if s]
    if starts:
        return True, max(starts)
    return not triggering, None


@dag(
    dag_id="cx_feedback",
    description=("On new feedback: take in answers, claims, tickets and notes; "
                 "acknowledge each by e-mail"),
    schedule=(CX_FEEDBACK | CX_EVENTS),
    start_date=NO_CATCHUP_START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(retries=3, retry_delay=timedelta(seconds=15),
                              max_retry_delay=timedelta(minutes=10)),
    tags=tags("collect", "feedback"),
    doc_md=__doc__,
)
def cx_feedback() -> None:
    @task
    def intake() -> dict[str, Any]:
        """Take in claims and tickets, the CSV drop folder and the informal_feedback table."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.config import settings
        from cx_tasks.feedback.intake import inbox_dir, take_in
        from cx_tasks.feedback.rules import feedback_rules

        service_desk, known_by = _service_desk_scope()
        summary = take_in(warehouse_url(), inbox_dir(settings().data_dir), feedback_rules(),
                          now=_now(), service_desk=service_desk, known_by=known_by)
        return summary.to_dict()

    @task(outlets=[CX_FEEDBACK_INTAKE])
    def announce_intake(summary: dict[str, Any]) -> int:
        """Update cx_feedback_intake with the new feedback ids (skipped when there are none)."""
        if not summary["feedback_ids"]:
            raise AirflowSkipException("intake added no feedback")
        outlet = get_current_context()["outlet_events"][CX_FEEDBACK_INTAKE]
        outlet.extra = {"feedback_ids": summary["feedback_ids"]}
        return len(summary["feedback_ids"])

    @task
    def acknowledge(summary: dict[str, Any]) -> dict[str, Any]:
        """Queue an acknowledgement for every undecided piece of feedback that has a contact."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.config import settings
        from cx_tasks.feedback.acknowledgement import LinkSettings
        from cx_tasks.feedback.acknowledgement import acknowledge as decide_all
        from cx_tasks.feedback.rules import feedback_rules, owners
        from cx_tasks.surveys.catalogue import survey_catalogue

        config = settings()
        links = LinkSettings(config.survey_base_url, config.survey_secret, survey_catalogue())
        return decide_all(warehouse_url(), now=_now(), rules=feedback_rules(), owners=owners(),
                          links=links).to_dict()

    @task
    def deliver_acknowledgements(decided: dict[str, Any]) -> dict[str, int]:
        """Send the queued acknowledgements; fail (and retry) while the server is unreachable."""
        from dataclasses import asdict

        from cx_airflow.connections import warehouse_url
        from cx_airflow.mailer import smtp_transport
        from cx_tasks.feedback.acknowledgement import KIND
        from cx_tasks.mail.outbox import deliver

        delivered = deliver(warehouse_url(), smtp_transport(), kinds=[KIND])
        if delivered.retry:
            raise RuntimeError(f"acknowledgements not delivered yet: {delivered}")
        return asdict(delivered)

    taken = intake()
    announce_intake(taken)
    deliver_acknowledgements(acknowledge(taken))


cx_feedback()
