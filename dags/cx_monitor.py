"""
### cx_monitor: NPS, CSAT, CES and CSI with their intervals, the layer cake, the money link

Runs after the nightly metrics (Asset `cx_metrics`) and on new answers (`cx_feedback`).
The day monitored (`as_of`) is the newest `as_of` of the triggering `cx_metrics` events,
else `as_of` from the run's conf (a backfill: `{"as_of": "2026-03-01"}`), else the newest
day with published metrics.

- `import_past_answers`: every CSV or XLSX export of past answers dropped in
  `<data dir>/past_answers` (docs/monitor.md), each file once by its hash; bad rows to
  `quarantine` with the rule they broke.
- `monitor`: KPIs recalculated as of the day and stored under their version (definition
  hash, inputs fingerprint; a rerun with the same inputs writes nothing), the layer cake per
  client and month, the computable metrics per segment by month and quarter (stored under
  their own version the same way), the satisfaction-margin link per segment and month, and
  findings: a weakened or sign-changed link, satisfaction up but payments not, role gaps.
  Updates the Asset `cx_kpis`.

**Re-running** a day leaves the same state: figures once per version, everything else an
upsert by its natural key. Connection: `cx_warehouse` (else `CX_WAREHOUSE_URL`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, get_current_context, task

from cx_airflow.assets import CX_FEEDBACK, CX_KPIS, CX_METRICS
from cx_airflow.defaults import NO_CATCHUP_START, default_args, tags
from cx_tasks.warehouse.times import naive_utc


def _requested_day() -> str | None:
    """The triggering metrics' newest ``as_of``, else the conf's, else None."""
    context = get_current_context()
    triggering = context.get("triggering_asset_events") or {}
    days = [e.extra.get("as_of") for e in triggering.get(CX_METRICS, []) if e.extra]
    days = [d for d in days if d]
    return max(days) if days else (context["dag_run"].conf or {}).get("as_of")


@dag(
    dag_id="cx_monitor",
    schedule=(CX_METRICS | CX_FEEDBACK),
    start_date=NO_CATCHUP_START,
    description=("On new metrics and answers: past answers imported, KPIs with intervals, "
                 "layer cake, money link"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=tags("monitor"),
    doc_md=__doc__,
)
def cx_monitor() -> None:
    @task
    def import_past_answers() -> dict[str, Any]:
        """Import the past answers dropped in the data folder."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.config import settings
        from cx_tasks.monitor.stage import import_dropped_answers

        run_after = naive_utc(get_current_context()["dag_run"].run_after)
        return import_dropped_answers(warehouse_url(), settings().data_dir, run_after)

    @task(outlets=[CX_KPIS])
    def monitor(imported: dict[str, Any]) -> dict[str, Any]:
        """KPIs, layer cake, money link and findings as of the day monitored."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.monitor.stage import monitor_as_of, monitor_day

        url = warehouse_url()
        run_after = naive_utc(get_current_context()["dag_run"].run_after)
        done = monitor_day(url, monitor_as_of(url, _requested_day(), run_after.date()))
        get_current_context()["outlet_events"][CX_KPIS].extra = {
            k: v for k, v in done.items() if isinstance(v, (str, int, bool))}
        print(f"monitor as of {done['version'].split(':')[0]}: {done['figures']} KPI figures "
              f"(version {done['version']}), {done['findings']} findings; "
              f"{imported['rows_loaded']} past answers imported")
        return done

    monitor(import_past_answers())


cx_monitor()
