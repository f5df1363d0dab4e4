"""
### cx_analyze: from "satisfaction dropped" to this metric, this process, this owner

Runs whenever there is something new to analyse: new feedback (the Assets `cx_feedback`,
a survey response, and `cx_feedback_intake`, claims, tickets and notes taken in) or the
nightly metrics (`cx_metrics`). Not on a clock. The day analysed (`as_of`) is the newest
`as_of` of the triggering `cx_metrics` events, else `as_of` from the run's conf, else the
newest day with published metrics (none yet: the run is skipped). Survey answers count up
to the time the run was due, so a run on a new answer uses it at once.

- `classify`: every claim, ticket, survey comment and informal note gets one group of
  dissatisfaction (delivery discipline, quality, service, deterioration) and a process
  class, or goes to the manual review queue when the classifier's confidence is below the
  threshold (`classifier.yaml`, `lexicon.yaml`; docs/classification.md).
- `rank_causes`: Pareto of process classes by complaints and by affected revenue, per
  segment and trailing window, stored in `pareto_causes` and drawn as PNG charts under
  `<data dir>/charts` (`findings.yaml`; docs/pareto-and-owners.md).
- `publish_claim_metrics`: the service desk's claim metrics of the day (quality claims per
  delivered shipment, days to close a claim) join the computable metrics in
  `metric_values`; the first needs the claims classified.
- `predict_satisfaction`: factor scores from the metrics and survey ratings, the model
  calibrated against reported satisfaction (up to three rounds per segment, each stored in
  `model_versions`), the predicted index per role and account (docs/factor-model.md).
- `explain_falls`: for every client whose satisfaction fell, the chain satisfaction ->
  block -> factor -> metric -> process class -> owner in `drilldown` (`drilldown.yaml`).
- `route_findings`: complaint clusters, metrics over their thresholds and satisfaction
  drops become `findings` with an owner and a due date (`owners.yaml`); unowned findings
  are counted. Updates the Asset `cx_analysis`.

**Re-running** a day rewrites that day's rows with the same values (every table is keyed
by `as_of` or by its subject). Connection: `cx_warehouse` (else `CX_WAREHOUSE_URL`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from cx_airflow.assets import CX_ANALYSIS, CX_FEEDBACK, CX_FEEDBACK_INTAKE, CX_METRICS
from cx_airflow.defaults import NO_CATCHUP_START, default_args, tags
from cx_tasks.warehouse.times import naive_utc


def _as_of() -> date:
    """The day analysed: the triggering metrics' newest ``as_of``, else the run conf's, else
    the newest day with published metrics."""
    from cx_airflow.connections import warehouse_url
    from cx_tasks.analyze.stage import latest_metrics_day

    context = get_current_context()
    triggering = context.get("triggering_asset_events") or {}
    days = [e.extra.get("as_of") for e in triggering.get(CX_METRICS, [])]
    days = [d for d in days if d] or [(context["dag_run"].conf or {}).get("as_of")]
    if days[0]:
        return max(date.fromisoformat(d) for d in days)
    latest = latest_metrics_day(warehouse_url())
    if latest is None:  # feedback before the first nightly run: nothing to analyse against
        raise AirflowSkipException("no metrics published yet (cx_collect_nightly has not run)")
    return latest


def _answers_until() -> datetime:
    """Survey answers count up to when this run was due (kept by a rerun of the run)."""
    return naive_utc(get_current_context()["dag_run"].run_after)


@dag(
    dag_id="cx_analyze",
    description=("On feedback and metrics: classify complaints, rank causes, model "
                 "satisfaction, route findings to owners"),
    schedule=(CX_FEEDBACK | CX_FEEDBACK_INTAKE | CX_METRICS),
    start_date=NO_CATCHUP_START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=tags("analyze"),
    doc_md=__doc__,
)
def cx_analyze() -> None:
    @task
    def classify() -> dict[str, Any]:
        """Classify every piece of feedback known by the day analysed."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.analyze.stage import classify as classify_all

        return classify_all(warehouse_url(), _as_of())

    @task
    def rank_causes(classified: dict[str, Any]) -> dict[str, Any]:
        """Pareto of process classes per segment and window, stored and drawn."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.analyze.stage import rank_causes as rank
        from cx_tasks.config import settings

        return rank(warehouse_url(), date.fromisoformat(classified["as_of"]),
                    settings().charts_dir)

    @task
    def publish_claim_metrics(classified: dict[str, Any]) -> dict[str, Any]:
        """Quality claims per delivered shipment and days to close a claim, as metrics."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.analyze.stage import publish_claim_metrics as publish

        return publish(warehouse_url(), date.fromisoformat(classified["as_of"]))

    @task
    def predict_satisfaction(published: dict[str, Any]) -> dict[str, Any]:
        """Factor scores, calibrated model versions, predicted index per role and account."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.analyze.stage import predict_satisfaction as predict

        return predict(warehouse_url(), date.fromisoformat(published["as_of"]),
                       _answers_until())

    @task
    def explain_falls(predicted: dict[str, Any]) -> dict[str, Any]:
        """The drill-down chain of every client whose satisfaction fell."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.analyze.stage import explain_falls as explain

        return explain(warehouse_url(), date.fromisoformat(predicted["as_of"]),
                       _answers_until())

    @task(outlets=[CX_ANALYSIS])
    def route_findings(ranked: dict[str, Any], explained: dict[str, Any]) -> dict[str, Any]:
        """Findings with owners and due dates; announce the day's analysis."""
        from cx_airflow.connections import warehouse_url
        from cx_tasks.analyze.stage import route_findings as route

        routed = route(warehouse_url(), date.fromisoformat(explained["as_of"]))
        get_current_context()["outlet_events"][CX_ANALYSIS].extra = routed
        print(f"analysis of {routed['as_of']}: {routed['findings']} findings "
              f"{routed['by_kind']}, {routed['unowned']} unowned")
        return routed

    classified = classify()
    predicted = predict_satisfaction(publish_claim_metrics(classified))
    route_findings(rank_causes(classified), explain_falls(predicted))


cx_analyze()
