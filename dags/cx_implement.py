"""
### cx_implement: every finding acted on

Runs on the Asset `cx_analysis` (a day's analysis is ready) **and** every hour on the hour
for the clocks (`AssetOrTimeSchedule`). `now` is when the run was due
(its logical date, else its `run_after`), never the wall clock at a task's start, so a
rerun decides the same.

- `cases`: a close-the-loop case for every new detractor, low CSAT/CES, contact request,
  deterioration and key account's negative feedback, with its owner (`owners.yaml`) and
  an e-mail carrying one-touch links; then every escalation step due (reminder at half a
  clock, manager when it runs out, CX lead at twice; `implement.yaml`), once per case.
- `findings_lifecycle`: every finding gets a state; a resolved one found again reopens.
- `initiatives`: proposals from the Pareto's vital few and the drill-downs (one open per
  process class and segment), then decisions from `<data dir>/initiative_decisions.yaml|csv`.
- `approval_forms` / `approve_initiative` / `record_decisions`: each new proposal waits in
  Airflow's **Required Actions** (`HITLEntryOperator`: Approve or Reject, a reason and a
  sponsor); no answer in 5 days ends in "Reject" with that reason. With the param
  `ask_in_airflow` false (teams approving by file or `cx initiatives approve`), nothing
  waits. Only this branch keeps a run open while it waits; the hourly runs go on.
- `progress_mail`: "you said, we did" for every reached client-visible milestone.
- `deliver`: the stage's e-mails (cases, closures, progress) through `smtp_default`.
- `write_report`: `<data dir>/reports/implementation.html`; updates `cx_implementation`.

**Re-running** is safe: cases, escalation steps, decisions, notices and e-mails are
insert-if-absent on their natural keys. Connections: `cx_warehouse` (else
`CX_WAREHOUSE_URL`), `smtp_default`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLEntryOperator
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task
from airflow.sdk import get_current_context as context

from cx_airflow.assets import CX_ANALYSIS, CX_IMPLEMENTATION
from cx_airflow.defaults import NO_CATCHUP_START, default_args, tags
from cx_tasks.warehouse.times import naive_utc

APPROVE, REJECT = "Approve", "Reject"
ANSWER_WITHIN = timedelta(days=5)


def _now() -> datetime:
    """When this run was due: its logical date, else (an asset-triggered run) its
    ``run_after``; kept by a rerun."""
    run = context()["dag_run"]
    return naive_utc(run.logical_date or run.run_after)


def _config() -> Any:
    from dataclasses import replace

    from cx_airflow.connections import warehouse_url
    from cx_tasks.config import settings

    return replace(settings(), warehouse_url=warehouse_url())


def _as_of() -> date | None:
    """The day analysed: the triggering `cx_analysis` events' newest, else the newest."""
    from cx_tasks.implement.stage import latest_analysis_day

    triggering = context().get("triggering_asset_events") or {}
    days = [e.extra.get("as_of") for e in triggering.get(CX_ANALYSIS, [])]
    days = [d for d in days if d]
    return max(date.fromisoformat(d) for d in days) if days else latest_analysis_day(
        _config().warehouse_url)


@dag(
    dag_id="cx_implement",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"),
                                 assets=CX_ANALYSIS),
    start_date=NO_CATCHUP_START,
    description=("On new analysis and hourly: close-the-loop cases and their clocks, initiatives, "
                 "'you said, we did' e-mails"),
    catchup=False,
    default_args=default_args(),
    tags=tags("implement"),
    params={"ask_in_airflow": Param(True, type="boolean",
                                    description="new proposals wait for approval in Airflow")},
    doc_md=__doc__,
)
def cx_implement() -> None:
    @task
    def cases() -> dict[str, Any]:
        """Open the triggered cases and take the escalation steps due."""
        from cx_tasks.implement.stage import run_cases

        return run_cases(_config(), _now())

    @task
    def findings_lifecycle() -> dict[str, Any]:
        """A state for every finding; reopen the resolved ones found again."""
        from airflow.sdk.exceptions import AirflowSkipException

        from cx_tasks.implement.stage import track_findings

        as_of = _as_of()
        if as_of is None:
            raise AirflowSkipException("nothing analysed yet")
        return track_findings(_config(), as_of, _now())

    @task
    def initiatives() -> dict[str, Any]:
        """Propose initiatives from the analysis; apply the decisions file."""
        from cx_tasks.implement.stage import run_initiatives

        return run_initiatives(_config(), _as_of(), _now())

    @task
    def approval_forms(decided: dict[str, Any]) -> list[dict[str, str]]:
        """One approval form per new proposal still undecided (none unless
        `ask_in_airflow`)."""
        from cx_tasks.implement.stage import approval_forms as forms

        if not context()["params"]["ask_in_airflow"]:
            return []
        return forms(_config(), decided["proposed"])

    @task(trigger_rule="all_done")
    def record_decisions(forms: list[dict[str, str]]) -> dict[str, Any]:
        """Record each answer of the Required Actions in the register."""
        from cx_tasks.implement.stage import initiative_of_form, record_airflow_decisions

        answers = [context()["ti"].xcom_pull(task_ids="approve_initiative", map_indexes=i)
                   for i in range(len(forms))]
        return record_airflow_decisions(_config(), [initiative_of_form(f) for f in forms],
                                        answers, _now(), ANSWER_WITHIN.days)

    @task
    def progress_mail(handled: dict[str, Any], decided: dict[str, Any]) -> dict[str, Any]:
        """"You said, we did" for every reached client-visible milestone."""
        from cx_tasks.implement.stage import run_progress_mail

        return run_progress_mail(_config(), _now())

    @task
    def deliver(sent: dict[str, Any]) -> dict[str, int]:
        """Send the stage's queued e-mails; fail (and retry) while the server is unreachable."""
        from dataclasses import asdict

        from cx_airflow.mailer import smtp_transport
        from cx_tasks.implement.stage import MAIL_KINDS
        from cx_tasks.mail.outbox import deliver as deliver_queue

        delivered = deliver_queue(_config().warehouse_url, smtp_transport(), kinds=MAIL_KINDS)
        if delivered.retry:
            raise RuntimeError(f"e-mails not delivered yet: {delivered}")
        return asdict(delivered)

    @task(outlets=[CX_IMPLEMENTATION], trigger_rule="none_failed")
    def write_report(delivered: dict[str, int], handled: dict[str, Any],
                     findings: dict[str, Any] | None) -> dict[str, Any]:
        """Write the implementation report; announce the stage's run."""
        from cx_tasks.implement.stage import run_report

        written = run_report(_config(), _now())
        context()["outlet_events"][CX_IMPLEMENTATION].extra = {
            "now": handled["now"], "opened": handled["opened"],
            "escalated": handled["escalated"], "sent": delivered["sent"]}
        return written

    handled = cases()
    decided = initiatives()
    forms = approval_forms(decided)
    approve = HITLEntryOperator.partial(
        task_id="approve_initiative", options=[APPROVE, REJECT], defaults=[REJECT],
        response_timeout=ANSWER_WITHIN, map_index_template="{{ task.subject }}",
        params={"reason": Param("", type="string", description="why (needed to reject)"),
                "sponsor": Param("", type="string", description="the sponsor, on approval")},
    ).expand_kwargs(forms)
    approve >> record_decisions(forms)
    write_report(deliver(progress_mail(handled, decided)), handled, findings_lifecycle())


cx_implement()
