"""cx_analyze through Airflow (``dag.test()``) on a small warehouse: two metals clients, one
whose deliveries went from on time to late. The run classifies the claims, ranks their
causes, predicts satisfaction, drills into the client whose satisfaction fell down to the
logistics department, and files the findings; a rerun leaves every table identical."""

from __future__ import annotations

import os
from datetime import date, datetime

import pytest
from fixtures.checksums import table_checksums
from fixtures.feedback_world import stage
from sqlalchemy import select

from cx_tasks.analyze.reports import chain_lines, findings_list
from cx_tasks.warehouse.db import engine_for, migrate, upsert
from cx_tasks.warehouse.schema import (
    drilldown,
    feedback,
    feedback_classes,
    findings,
    metric_values,
    pareto_causes,
    predicted_index,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

AS_OF = date(2026, 11, 1)
LATE = ["Order O-{n} arrived 6 days late, our line stopped.",
        "Поставка по заказу O-{n} опоздала на неделю, срок поставки сорван."]


def _metrics(client: str, window: int, otif: float, revenue: float) -> list[dict]:
    """OTIF and revenue over 20 lines, and 20 shipments delivered without an incident."""
    return [{"client_id": client, "metric": metric, "as_of": AS_OF, "window_days": window,
             "value": value, "numerator": None, "denominator": 20.0, "note": None}
            for metric, value in (("otif_line", otif), ("revenue", revenue),
                                  ("packaging_incident_rate", 0.0))]


def _world(url: str) -> None:
    """K1: OTIF 0.95 over the year, 0.50 over the last 30 days, four late-delivery claims in
    October; K2: OTIF 0.90 both ways, one claim about an off-spec batch. Every claim closed
    in two days; 20 shipments delivered per window."""
    stage(url, "erp_clients", [{"client_id": c, "name": f"Client {c}", "segment": "metals"}
                               for c in ("K1", "K2")])
    with engine_for(url).begin() as conn:
        upsert(conn, metric_values, [
            *_metrics("K1", 30, 0.50, 1000.0), *_metrics("K1", 90, 0.70, 3000.0),
            *_metrics("K1", 365, 0.95, 12000.0),
            *_metrics("K2", 30, 0.90, 500.0), *_metrics("K2", 90, 0.90, 1500.0),
            *_metrics("K2", 365, 0.90, 6000.0)])
        texts = [("K1", LATE[n % 2].format(n=n)) for n in range(4)]
        texts.append(("K2", "The batch failed our incoming lab inspection: off-spec, "
                            "values out of tolerance."))
        conn.execute(feedback.insert(), [
            {"feedback_id": f"claim:SC{n}", "source": "claim", "channel": "service_desk",
             "client_id": client, "text": text, "ref_id": f"SC{n}",
             "occurred_at": datetime(2026, 10, 10 + n, 9), "recorded_at": datetime(2026, 10, 31)}
            for n, (client, text) in enumerate(texts)])
    stage(url, "sd_claims", [  # each claim closed two days after it was opened
        {"claim_id": f"SC{n}", "client_id": client, "opened_at": datetime(2026, 10, 10 + n, 9),
         "closed_at": datetime(2026, 10, 12 + n, 9), "text": text}
        for n, (client, text) in enumerate(texts)])


def test_analysis_goes_from_complaints_and_metrics_to_owned_findings(tmp_path,
                                                                       airflow_db) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cx_tasks.config import settings

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["cx_analyze"]
    for task in dag.tasks:  # a failing task fails the test now, not after a retry delay
        task.retries = 0
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CX_DATA_DIR", str(tmp_path / "data"))
        settings().data_dir.mkdir(parents=True)
        url, charts = settings().warehouse_url, settings().charts_dir
        migrate(engine_for(url))
        _world(url)

        first = dag.test(run_conf={"as_of": AS_OF.isoformat()})
        assert first.state == DagRunState.SUCCESS
        after_first = table_checksums(url)
        second = dag.test(run_conf={"as_of": AS_OF.isoformat()})
        assert second.state == DagRunState.SUCCESS
        assert table_checksums(url) == after_first

        with engine_for(url).connect() as conn:
            classes = {r.feedback_id: (r.status, r.dissatisfaction_group, r.process_class)
                       for r in conn.execute(select(feedback_classes))}
            pareto = conn.execute(select(pareto_causes).where(
                pareto_causes.c.segment == "all", pareto_causes.c.measure == "count",
                pareto_causes.c.period_end == AS_OF, pareto_causes.c.period_start
                == date(2026, 10, 2)).order_by(pareto_causes.c.rank)).all()
            accounts = {r.client_id: r.status for r in conn.execute(
                select(predicted_index).where(predicted_index.c.role == "account"))}
            chain = conn.execute(select(drilldown).order_by(drilldown.c.rank)).all()
            found = {r.finding_id: r for r in conn.execute(select(findings))}
            claim_metrics = {(r.client_id, r.metric): (r.value, r.numerator, r.denominator)
                             for r in conn.execute(select(metric_values).where(
                                 metric_values.c.window_days == 30,
                                 metric_values.c.metric.in_(["quality_claim_rate",
                                                             "claim_resolution_days"])))}
            explained = chain_lines(conn, "K1")
            logistics = findings_list(conn, owner="logistics")
            nobody = findings_list(conn, unowned=True)

    late = {f"claim:SC{n}" for n in range(4)}
    assert {classes[k] for k in late} == {("classified", "delivery_discipline",
                                           "delivery_planning")}
    assert classes["claim:SC4"][2] == "specification"
    # 30 days to 2026-11-01: four delivery-planning complaints and one specification one:
    # shares 4/5 = 0.8 (the cut-off: the vital few on its own) and 1/5
    assert [(r.process_class, r.complaints, r.share, r.vital_few) for r in pareto] == [
        ("delivery_planning", 4, 0.8, True), ("specification", 1, 0.2, False)]
    # K2's off-spec claim is its one quality claim in 30 days, over 20 shipments: 1/20; K1's
    # four late deliveries are no quality claims; every claim took 2 days to close
    assert claim_metrics == {("K1", "quality_claim_rate"): (0.0, 0.0, 20.0),
                             ("K2", "quality_claim_rate"): (0.05, 1.0, 20.0),
                             ("K1", "claim_resolution_days"): (2.0, 8.0, 4.0),
                             ("K2", "claim_resolution_days"): (2.0, 2.0, 1.0)}
    assert accounts == {"K1": "insufficient_signal", "K2": "insufficient_signal"}
    # only K1 fell: its availability score went from 100 (OTIF 0.95) to 0 (OTIF 0.50)
    assert {r.client_id for r in chain} == {"K1"}
    assert (chain[0].factor, chain[0].metric, chain[0].process_class, chain[0].owner) == (
        "availability", "otif_line", "delivery_planning", "logistics")
    assert chain[0].metric_trend == pytest.approx(0.50 - 0.95)
    assert found["drop:K1"].owner == "logistics" and found["drop:K1"].due_on is not None
    assert found["metric:K1:otif_line:30d"].owner == "logistics"
    assert found["cluster:metals:delivery_planning"].owner == "logistics"  # per segment
    # what `cx explain K1` and `cx findings` show
    assert explained[1].startswith(
        "  1. ease of doing business > availability > otif_line = 0.5 (trend -0.45) > "
        "Delivery planning > logistics")
    assert sorted(logistics["finding"]) == sorted(found) and nobody.empty
    # windows 30 and 90 days, segments all and metals, measures count and revenue
    drawn = sorted(p.name for p in charts.glob("*.png"))
    assert len(drawn) == 8 and drawn[0] == "pareto_20260803_20261101_all_count.png"


def test_analyze_dag_shape(dag_bag) -> None:
    dag = dag_bag.dags["cx_analyze"]
    assert dag.max_active_runs == 1 and dag.doc_md
    assert sorted(a.uri for a in dag.timetable.asset_condition.objects) == [
        "cx://collect/feedback", "cx://collect/feedback-intake", "cx://collect/metrics"]
    downstream = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert downstream == {"classify": ["publish_claim_metrics", "rank_causes"],
                          "rank_causes": ["route_findings"],
                          "publish_claim_metrics": ["predict_satisfaction"],
                          "predict_satisfaction": ["explain_falls"],
                          "explain_falls": ["route_findings"], "route_findings": []}
    outlets = {t.task_id: [o.uri for o in t.outlets] for t in dag.tasks if t.outlets}
    assert outlets == {"route_findings": ["cx://analyze/findings"]}
