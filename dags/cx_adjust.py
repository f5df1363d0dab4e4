"""
### cx_adjust: correct the model and the plan, with the key accounts at the table

Weekly, Mondays 04:00 UTC, for the week that ended (`CronDataIntervalTimetable`); the day
adjusted (`as_of`) is the interval's end (a manual run without an interval: its day).

- `model_rounds`: the satisfaction model's rounds over real periods: per whole month of
  answers before `as_of`'s month, a version fitted on the answers known by the month's first
  day, judged on that month's answers with the version in force, promoted only when better;
  individual scales aligned against each respondent's own history (`adjust.yaml` `rounds`).
  Stored in `model_rounds`, printed by `cx model` (docs/adjust.md).
- `initiative_effects`: the effect of every initiative of the register in progress or done
  (implement stage; affected clients from its links, start from its approval or first
  milestone, `adjust.yaml` `effects`) on its target metric (complaints of its process class),
  NPS and CSI: difference-in-differences against matched unaffected clients, estimate, 95%
  interval and n; those without a measurable improvement after `correct_after_days` are
  flagged for correction with their owner. Stored in `initiative_effects` and
  `initiative_corrections`; shown in the implementation report, the weekly digest and
  `cx initiatives`.
- `client_risk`: per account with an order in the last six months, the calibrated probability
  of a satisfaction drop (reported CSI) or a fall in orders in the next 90 days, with its top
  reasons and account manager, from the warehouse's operational (OTIF, packaging incidents,
  claims), transactional (orders, revenue, days overdue), survey (NPS, CSI), case and staff
  signals, fitted on every earlier month whose 90 days are over (rolling origin). Stored in
  `at_risk` (kind `client`) for `as_of`; the packs and digests list it.
- `working_group_packs`: for each key account with a working-group meeting in the next
  `packs.days_before` days (`adjust.yaml`; a run's conf `{"meetings": ["YYYY-MM-DD", ...]}`
  calls other meetings): its pack as HTML and PDF under `<data dir>/packs` (the initiatives
  that affect it with their effects, the at-risk lists' rows about it), sent once through
  the outbox to the key account team.

**Re-running** a week rewrites the same rounds and pack files; the outbox keys
(`pack:<client>:<meeting>`) send a pack once. Connection: `cx_warehouse` (else
`CX_WAREHOUSE_URL`).

### cx_adjust_staff: the staff layer, monthly

Monthly, on the 1st at 05:00 UTC, for the month that ended (`CronDataIntervalTimetable`);
`as_of` is the interval's end (the new month's first day).

- `staff_pulse`: in the runs of `staff.pulse_months` (`adjust.yaml`), the quarterly pulse
  survey to every staff member in post (`hr_staff`) through the outbox, one question with
  one-click links; a person who opted out gets it recorded as suppressed.
- `staff_predictions`: per account manager in post, the probability of leaving and of being
  overloaded next quarter with its top reasons and the clients of their portfolio, from the
  HR tables of the data contract, the pulse answers and their clients' signals, with the
  portfolio at risk (the manager's clients, their revenue of the last 12 months, probability
  x revenue); stored in `at_risk` (kinds `leaves`, `overloaded`; the manager named as the
  ERP's `account_manager`) for `as_of`.

**Re-running** a month replaces its predictions with the same rows; the outbox key
`pulse:<staff_id>:<quarter>` sends a person's pulse once a quarter.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from cx_airflow.defaults import NO_CATCHUP_START, default_args, tags


def _as_of() -> date:
    """The day adjusted: the end of the run's data interval (a manual run without one: the
    day it ran after)."""
    context = get_current_context()
    end = context.get("data_interval_end") or context["dag_run"].run_after
    return end.astimezone(UTC).date()


@dag(
    dag_id="cx_adjust",
    schedule=CronDataIntervalTimetable("0 4 * * 1", timezone="UTC"),
    start_date=NO_CATCHUP_START,
    description=("Weekly: initiative effects, the model's rounds over real periods, "
                 "key-account packs"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=tags("adjust", "weekly"),
    doc_md=__doc__,
)
def cx_adjust() -> None:
    @task
    def model_rounds() -> dict[str, Any]:
        """The model's rounds over every whole month of answers before this week."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.adjust.stage import model_rounds as run_rounds
        from cx_tasks.warehouse.db import engine_for

        return run_rounds(engine_for(warehouse_url()), _as_of())

    @task
    def initiative_effects() -> dict[str, Any]:
        """The register's initiatives' effects and the corrections due."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.adjust.stage import register_effects
        from cx_tasks.warehouse.db import engine_for

        return register_effects(engine_for(warehouse_url()), _as_of())

    @task
    def working_group_packs() -> dict[str, Any]:
        """Packs for the key accounts' meetings ahead, printed and sent once."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.adjust.stage import working_group_packs as packs
        from cx_tasks.config import settings
        from cx_tasks.warehouse.db import engine_for

        conf = get_current_context()["dag_run"].conf or {}
        meetings = ([date.fromisoformat(d) for d in conf["meetings"]]
                    if "meetings" in conf else None)
        return packs(engine_for(warehouse_url()), _as_of(), settings().data_dir / "packs",
                     meetings=meetings)

    @task
    def client_risk() -> dict[str, Any]:
        """Each active account's risk of a satisfaction drop or fall in orders in 90 days."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.adjust.stage import client_risk as score
        from cx_tasks.warehouse.db import engine_for

        return score(engine_for(warehouse_url()), _as_of())

    model_rounds() >> initiative_effects() >> client_risk() >> working_group_packs()


cx_adjust()


@dag(
    dag_id="cx_adjust_staff",
    schedule=CronDataIntervalTimetable("0 5 1 * *", timezone="UTC"),
    start_date=NO_CATCHUP_START,
    description="Monthly: the staff pulse survey (quarterly) and the staff predictions",
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=tags("adjust", "monthly"),
    doc_md=__doc__,
)
def cx_adjust_staff() -> None:
    @task
    def staff_pulse() -> dict[str, Any]:
        """The quarterly pulse e-mail to the staff in post, once per person and quarter."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.adjust.stage import staff_pulse as send
        from cx_tasks.config import settings
        from cx_tasks.warehouse.db import engine_for

        config = settings()
        return send(engine_for(warehouse_url()), _as_of(), config.survey_base_url,
                    config.survey_secret)

    @task
    def staff_predictions() -> dict[str, Any]:
        """Leaving and overload risk per account manager for the next quarter."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.adjust.stage import staff_predictions as predict
        from cx_tasks.warehouse.db import engine_for

        return predict(engine_for(warehouse_url()), _as_of())

    staff_pulse() >> staff_predictions()


cx_adjust_staff()
