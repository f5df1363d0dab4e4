"""cx_monitor and the weekly digest through Airflow (``dag.test()``): past answers dropped in
the data folder imported, KPIs published under a version, the digests of a Monday interval
written, saved and delivered to a real SMTP server on loopback; reruns add nothing."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from fixtures.feedback_world import seed_crm, stage_clients
from sqlalchemy import func, select

from cx_tasks.demo.smtp_sink import SmtpSink
from cx_tasks.monitor.funnel import funnel_lines
from cx_tasks.monitor.past_answers import COLUMNS
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import kpi_runs, outbox, past_answers

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_monitor_then_weekly_digest(tmp_path, airflow_db) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cx_tasks.config import settings

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    monitor, weekly = bag.dags["cx_monitor"], bag.dags["cx_monitor_weekly_digest"]
    for task in (*monitor.tasks, *weekly.tasks):
        task.retries = 0
    with pytest.MonkeyPatch.context() as env, SmtpSink(tmp_path / "mail") as sink:
        env.setenv("CX_DATA_DIR", str(tmp_path / "data"))
        env.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sink.smtp_connection_json())
        drop = settings().data_dir / "past_answers"
        drop.mkdir(parents=True)
        url = settings().warehouse_url
        migrate(engine_for(url))
        stage_clients(url, {"K9": "metals"})
        seed_crm(url)
        (drop / "export.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(
            f"C1,K1,,relationship,nps,{s},Комментарий <{d}>,2026-10-{d:02d}T10:00:00"
            for d, s in enumerate([10, 9, 9, 3, 8, 2, 10, 10, 9, 1, 7], start=1)) + "\n",
            encoding="utf-8")

        first = monitor.test(run_conf={"as_of": "2026-11-01"})
        again = monitor.test(run_conf={"as_of": "2026-11-01"})
        assert (first.state, again.state) == (DagRunState.SUCCESS, DagRunState.SUCCESS)
        with engine_for(url).connect() as conn:
            assert conn.scalar(select(func.count()).select_from(past_answers)) == 11
            assert conn.scalar(select(func.count()).select_from(kpi_runs)) == 1  # rerun: same

        # the Monday 2026-11-02 08:00 Moscow tick ends the week [10-26 05:00, 11-02 05:00) UTC
        monday = datetime(2026, 11, 2, 5, tzinfo=UTC)
        assert weekly.test(logical_date=monday).state == DagRunState.SUCCESS
        assert weekly.test(logical_date=monday).state == DagRunState.SUCCESS
        received = sink.mail.messages()
        assert [m["To"] for m in received] == ["cx-team@example.com"]  # owners: nothing
        html = received[0].get_body(("html",)).get_content()
        assert "CX weekly digest, week to 2026-11-02" in received[0]["Subject"]
        # October: 6 promoters, 2 passives, 3 detractors of 11: NPS 100 * 3 / 11 = 27
        assert "27 [" in html
        saved = list((settings().data_dir / "digests" / "weekly").rglob("cx_team.html"))
        assert len(saved) == 1
        with engine_for(url).connect() as conn:
            assert conn.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.kind == "digest")) == 1
            lines = {line.stage: line.count for line in funnel_lines(conn)}
        assert lines["digests sent"] == 1 and lines["KPIs published"] > 0
