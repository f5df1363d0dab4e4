"""
### cx_survey_dispatch: trigger events become survey invitations

Runs whenever trigger events arrive: the Asset `cx_events` (the nightly collect run detected
some) or the Asset `cx_external_events` (a supplier system pushed one through
`POST /api/v2/assets/events`, the event in `extra`). Not on a calendar.

- `ingest_external_events`: checks each pushed event (`event_type`, `client_id`, `ref_id`,
  `occurred_at` required; a known client) and stores it in `events` as
  `<event_type>:<ref_id>`; a bad one goes to `quarantine` (source `external_events`) with
  the rule it broke.
- `plan_and_store`: every event not planned yet (and, once a UTC day, the relationship
  surveys due) becomes invitations or skips with a reason under the contact rules
  (`contact_rules.yaml`); due invitations and reminders are rendered into the outbox.
  Invitations due later (`send_after_hours`) wait and go with the first run that reaches
  them.
- `deliver_invitations`: sends the queued invitations and reminders through `smtp_default`
  (one SMTP session per batch); a server that is down leaves them queued and the task is
  retried. Checked at the run's time: an invitation past its staleness limit is suppressed
  (`stale_at_send`), and so is a message whose links expire within `link_margin_days`
  (`outbox.yaml`).
- `report`: the counts (planned, invited, skipped per reason, suppressed, sent, accounts
  missing a role, rows set aside) in the task log and as the return value.

**One row never stops a run.** A pushed event that breaks a rule (`event_intake.yaml`: the
event window, the size of `extra`), a stored event that cannot be planned, an e-mail that
cannot be rendered or written is quarantined or failed with its reason and counted; the
others go on. Only an unreachable SMTP server fails a run (`deliver_invitations`, retried
2 times, 5 then 10 minutes apart). With `max_active_runs=1` the runs triggered meanwhile
wait queued, not lost, and the next one plans every event not yet planned.

**Time.** A run works at its logical time (for an event-triggered run: when it was due),
never the wall clock, so re-running it writes the same rows and sends nothing twice.
Connections: `cx_warehouse` (else `CX_WAREHOUSE_URL`), `smtp_default`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import dag, get_current_context, task

from cx_airflow.assets import CX_EVENTS, CX_EXTERNAL_EVENTS
from cx_airflow.defaults import NO_CATCHUP_START, default_args, tags
from cx_tasks.warehouse.times import naive_utc

KINDS = ("invitation", "reminder")


def _now() -> datetime:
    """The run's time: its logical date, else when it was due (event-triggered runs)."""
    context = get_current_context()
    return naive_utc(context.get("logical_date") or context["dag_run"].run_after)


@dag(
    dag_id="cx_survey_dispatch",
    description=("On trigger events: invite the right contacts under the contact rules, "
                 "e-mail through the outbox"),
    schedule=(CX_EVENTS | CX_EXTERNAL_EVENTS),
    start_date=NO_CATCHUP_START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=tags("collect", "surveys"),
    doc_md=__doc__,
)
def cx_survey_dispatch() -> None:
    @task
    def ingest_external_events() -> dict[str, Any]:
        """Store the events pushed through the REST API; quarantine the bad ones."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.surveys.dispatch import ingest_external_events as ingest

        triggering = get_current_context().get("triggering_asset_events") or {}
        extras = [dict(e.extra or {}) for e in triggering.get(CX_EXTERNAL_EVENTS, [])]
        result = ingest(warehouse_url(), extras, _now())
        for bad in result["quarantined"]:
            print(f"quarantined external event ({bad['rule']}): {bad['payload']}")
        return result

    @task
    def plan_and_store(ingested: dict[str, Any]) -> dict[str, Any]:
        """Plan invitations and skips, store them, enqueue what is due."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.config import settings
        from cx_tasks.surveys.catalogue import survey_catalogue
        from cx_tasks.surveys.contact_rules import contact_rules
        from cx_tasks.surveys.dispatch import dispatch

        return dispatch(warehouse_url(), _now(), contact_rules(), survey_catalogue(),
                        settings())

    @task
    def deliver_invitations(planned: dict[str, Any]) -> dict[str, int]:
        """Send queued invitations and reminders; record when the server took them."""
        from dataclasses import asdict

        from cx_airflow.connections import warehouse_url
        from cx_airflow.mailer import smtp_transport
        from cx_tasks.mail.outbox import deliver
        from cx_tasks.surveys.dispatch import record_sent

        url = warehouse_url()
        delivered = deliver(url, smtp_transport(), kinds=KINDS, now=_now())
        record_sent(url)
        if delivered.retry:
            raise RuntimeError(f"{delivered.retry} messages left queued (SMTP not reachable "
                               f"or busy): {delivered}; the retry sends them")
        return asdict(delivered)

    @task
    def report(ingested: dict[str, Any], planned: dict[str, Any],
               delivered: dict[str, int]) -> dict[str, Any]:
        """The run's counts, in the log and as the return value."""
        summary = {
            "external_events": {"received": ingested["received"], "new": ingested["new"],
                                "quarantined": len(ingested["quarantined"])},
            **{k: v for k, v in planned.items() if k != "skipped"},
            "skipped": planned["skipped"],
            "delivered": delivered,
        }
        print(f"survey dispatch at {planned['now']}: {planned['events_planned']} events, "
              f"{planned['planned']} candidates, {planned['invited']} invited "
              f"({planned['invited_later']} later), {delivered['sent']} e-mails sent")
        for reason, count in planned["skipped"].items():
            print(f"  skipped {reason:<24} {count}")
        for rule, count in planned["set_aside"].items():
            print(f"  set aside {rule:<22} {count}")
        return summary

    ingested = ingest_external_events()
    planned = plan_and_store(ingested)
    report(ingested, planned, deliver_invitations(planned))


cx_survey_dispatch()
