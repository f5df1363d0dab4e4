"""cx_collect_nightly end to end through Airflow (``dag.test()``) on SQLite.

A simulated supplier (20 clients x 40 days ending 2026-11-01) is loaded by one history
run, then seven nightly runs; the same eight runs again must leave the warehouse
identical. The gate's verdict decides each night: metrics published, or the data
engineers alerted (once, however often the night runs). A night after the simulation
ends (the sources went stale) must be blocked and alert through a real SMTP server.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from fixtures.checksums import table_checksums
from sqlalchemy import func, select

from cx_tasks.config import Settings
from cx_tasks.demo.smtp_sink import SmtpSink
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import events, metric_values, outbox, quality_runs

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SIM_END = date(2026, 11, 1)
NIGHTS = [SIM_END - timedelta(days=n) for n in range(6, -1, -1)]  # 10-26 .. 11-01
HISTORY_NIGHT = NIGHTS[0] - timedelta(days=1)
HISTORY_FROM = date(2000, 1, 1)  # before the oldest master data
# The source's newest row is from before 2026-11-01 00:00; the interval ending 11-05 02:00
# allows 72 h (orders, lines, shipments): anything older than 11-02 02:00 is stale.
STALE_NIGHT = SIM_END + timedelta(days=4)


def interval_end(night: date) -> datetime:
    """The end of the nightly interval that closes at 02:00 UTC on ``night``."""
    return datetime(night.year, night.month, night.day, 2, tzinfo=UTC)


def interval_start(night: date) -> datetime:
    """The (naive UTC) start of that interval, as the warehouse stores it."""
    return interval_end(night).replace(tzinfo=None) - timedelta(days=1)


def run_night(dag, night: date, history_from: date | None = None) -> float:
    """One ``dag.test()`` run of the interval ending on ``night``; return its seconds."""
    from airflow.utils.state import DagRunState

    conf = {"history_from": history_from.isoformat()} if history_from else {}
    started = time.perf_counter()
    run = dag.test(logical_date=interval_end(night), run_conf=conf)
    seconds = time.perf_counter() - started
    assert run.state == DagRunState.SUCCESS, f"run for {night} ended {run.state}"
    return seconds


def run_week(dag) -> list[float]:
    """The history load, then the seven nights; seconds of each run."""
    return [run_night(dag, HISTORY_NIGHT, HISTORY_FROM)] + [run_night(dag, n) for n in NIGHTS]


@dataclass
class Week:
    config: Settings
    sink: SmtpSink
    dag: object
    after_first_pass: dict[str, str]
    after_second_pass: dict[str, str]
    seconds: list[float]


@pytest.fixture(scope="module")
def week(tmp_path_factory, airflow_db):
    """A simulated supplier run through the week twice, with an SMTP server listening."""
    from airflow.dag_processing.dagbag import DagBag

    from cx_tasks.config import settings
    from cx_tasks.simulate import simulate

    # a DAG of its own: the session's DagBag must keep the real retries for the policy test
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["cx_collect_nightly"]
    for task in dag.tasks:  # a failing task fails the test now, not after a retry delay
        task.retries = 0
    data = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as env, SmtpSink(data / "mail") as sink:
        env.setenv("CX_DATA_DIR", str(data))
        env.setenv("CX_ALERT_EMAILS", "oncall@example.com")
        env.setenv("AIRFLOW_CONN_SMTP_DEFAULT", sink.smtp_connection_json())
        config = settings()
        started = time.perf_counter()
        simulate(config.source_url, config.ground_truth_path, clients=20, days=40, seed=7,
                 end=SIM_END)
        migrate(engine_for(config.warehouse_url))
        first = run_week(dag)
        after_first = table_checksums(config.warehouse_url)
        second = run_week(dag)
        seconds = [time.perf_counter() - started, *first, *second]
        print(f"\ne2e: simulate + 2 x (history + 7 nights) {seconds[0]:.1f} s; history run "
              f"{first[0]:.1f} s; nightly runs {min(first[1:]):.1f}-{max(first[1:]):.1f} s "
              f"(median {sorted(first[1:])[3]:.1f} s)")
        yield Week(config, sink, dag, after_first, table_checksums(config.warehouse_url),
                   seconds)


def _verdicts(url: str) -> dict[datetime, list[str]]:
    """Failed expectations per gated interval start (empty list: passed)."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(select(quality_runs.c.interval_start,
                                   quality_runs.c.failed_expectations)).all()
    return {start: json.loads(failed) for start, failed in rows}


def test_rerunning_the_week_leaves_every_warehouse_table_identical(week) -> None:
    changed = sorted(t for t, s in week.after_second_pass.items()
                     if week.after_first_pass[t] != s)
    assert changed == []


def test_the_gate_decides_each_night_metrics_or_one_alert(week) -> None:
    url = week.config.warehouse_url
    verdicts = _verdicts(url)
    with engine_for(url).connect() as conn:
        assert conn.scalar(select(func.count()).select_from(events)) > 0
        published = set(conn.scalars(select(metric_values.c.as_of).distinct()))
    passed = [n for n in NIGHTS if not verdicts[interval_start(n)]]
    assert passed, f"no night passed the gate: {verdicts}"
    assert [n for n in NIGHTS if n in published] == passed  # as_of = the interval's end day
    blocked = [start for start, failed in verdicts.items() if failed]
    mails = week.sink.mail.messages()  # two passes, yet one alert per blocked interval
    assert sorted(m["Subject"].split(" UTC")[0] for m in mails) == sorted(
        f"[CX Loop] Data-quality gate failed for {s:%Y-%m-%d %H:%M}" for s in blocked)


def test_a_stale_night_is_blocked_and_alerts_once(week) -> None:
    url = week.config.warehouse_url
    before = len(week.sink.mail.messages())
    seconds = [run_night(week.dag, STALE_NIGHT), run_night(week.dag, STALE_NIGHT)]
    failed = _verdicts(url)[interval_start(STALE_NIGHT)]
    assert failed, "a night without source rows passed the gate"
    assert {"erp_orders.freshness", "erp_order_lines.freshness",
            "wms_shipments.freshness"} <= set(failed)
    with engine_for(url).connect() as conn:
        assert STALE_NIGHT not in set(conn.scalars(select(metric_values.c.as_of).distinct()))
        alert = conn.execute(select(outbox.c.status, outbox.c.recipient).where(
            outbox.c.idempotency_key.startswith("quality_alert:2026-11-04T02:00:00"))).all()
    assert alert == [("sent", "oncall@example.com")]
    mails = week.sink.mail.messages()
    assert len(mails) == before + 1  # the rerun sent nothing more
    mail = mails[-1]
    assert mail["To"] == "oncall@example.com"
    assert mail["Subject"].startswith("[CX Loop] Data-quality gate failed for 2026-11-04 02:00")
    body = mail.get_body(preferencelist=("plain",)).get_content().splitlines()
    assert all(f"  - {name}" in body for name in failed)
    print(f"\nstale night: {seconds[0]:.1f} s, rerun {seconds[1]:.1f} s")
