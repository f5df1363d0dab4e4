"""cx_adjust through Airflow (``dag.test()``) for the week ending Monday 2026-06-08: a key
account whose working group meets on 2026-06-15 gets its pack printed and sent once; the
model's rounds run on the (here empty) answers; a rerun of the week changes nothing."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime

import pytest
from fixtures.checksums import table_checksums
from sqlalchemy import select

from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import STAGING, outbox

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

STAMP = {"interval_start": datetime(2026, 1, 1), "updated_at": datetime(2026, 1, 1)}


@pytest.mark.skipif(shutil.which("chromium") is None and os.environ.get("CI") != "true",
                    reason="Debian's chromium is not installed")
def test_the_weekly_run_prints_and_sends_the_packs_due_once(tmp_path, airflow_db) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cx_tasks.config import settings

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["cx_adjust"]
    for task in dag.tasks:
        task.retries = 0
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CX_DATA_DIR", str(tmp_path / "data"))
        settings().data_dir.mkdir(parents=True)
        url = settings().warehouse_url
        migrate(engine_for(url))
        with engine_for(url).begin() as conn:
            conn.execute(STAGING["erp_clients"].insert().values(
                client_id="K1", name="Kappa", segment="metals", size_class="A",
                account_manager="Sidorova A.A.", contract_start=date(2020, 1, 1), **STAMP))
            conn.execute(STAGING["crm_accounts"].insert().values(
                client_id="K1", key_account=True, **STAMP))
        # the run of Monday 2026-06-08 04:00 (its logical date is its interval's end) covers
        # the week to then: as_of 2026-06-08, the meeting of 06-15 is 7 days ahead
        week = datetime(2026, 6, 8, 4, tzinfo=UTC)
        first = dag.test(logical_date=week)
        assert first.state == DagRunState.SUCCESS
        assert first.data_interval_end == week
        after = table_checksums(url)
        assert dag.test(logical_date=week).state == DagRunState.SUCCESS
        assert table_checksums(url) == after
        with engine_for(url).connect() as conn:
            keys = conn.execute(select(outbox.c.idempotency_key)).scalars().all()
        assert keys == ["pack:K1:2026-06-15"]
        assert (settings().data_dir / "packs" / "K1-2026-06-15.pdf").read_bytes()[:4] == b"%PDF"


def test_the_monthly_staff_run_sends_the_pulse_once_and_stores_the_predictions(
        tmp_path, airflow_db) -> None:
    """cx_adjust_staff for November 2026 (run on 2026-12-01, a pulse month): the simulated
    HR tables go through the real gate, every manager in post gets the fourth quarter's pulse
    (an opted-out one's recorded as suppressed) and a probability per target; a rerun of the
    month leaves the warehouse as it was. (A ten-manager history has too few departures to
    fit on: ``staff_predictions`` then names the target skipped.)"""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cx_tasks.collect.quality import collect_interval
    from cx_tasks.config import settings
    from cx_tasks.simulate.staff import staff_history, staff_source_rows
    from cx_tasks.simulate.writer import write_source
    from cx_tasks.warehouse.schema import at_risk

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["cx_adjust_staff"]
    for task in dag.tasks:
        task.retries = 0
    history = staff_history(clients=2000, seed=2, end=date(2026, 12, 1))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CX_DATA_DIR", str(tmp_path / "data"))
        settings().data_dir.mkdir(parents=True)
        url = settings().warehouse_url
        migrate(engine_for(url))
        source = f"sqlite:///{tmp_path / 'supplier.db'}"
        hr = staff_source_rows(history)
        write_source(source, hr)
        collect_interval(url, source, tmp_path / "landing", datetime(2010, 1, 1),
                         datetime(2026, 12, 1), quality_dir=tmp_path / "quality")
        staff = dict(zip(hr[0].columns, zip(*next(hr[0].chunks(10_000)), strict=True),
                         strict=True))
        in_post = {s for s, left in zip(staff["staff_id"], staff["left_on"], strict=True)
                   if left is None}
        names = dict(zip(staff["staff_id"], staff["full_name"], strict=True))
        opted_out = {s for s, o in zip(staff["staff_id"], staff["pulse_opted_out"], strict=True)
                     if o and s in in_post}
        month = datetime(2026, 12, 1, 5, tzinfo=UTC)
        first = dag.test(logical_date=month)
        assert first.state == DagRunState.SUCCESS
        after = table_checksums(url)
        assert dag.test(logical_date=month).state == DagRunState.SUCCESS
        assert table_checksums(url) == after
        with engine_for(url).connect() as conn:
            mails = conn.execute(select(outbox.c.idempotency_key, outbox.c.status)).all()
            risk = conn.execute(select(at_risk.c.subject_id, at_risk.c.kind,
                                       at_risk.c.probability, at_risk.c.as_of,
                                       at_risk.c.clients)).all()
    assert len(in_post) == 50  # 2000 clients / 40 per manager, each slot one person in post
    assert sorted(mails) == sorted(
        (f"pulse:{s}:2026-10-01", "suppressed" if s in opted_out else "queued")
        for s in in_post)
    assert {r.as_of for r in risk} == {date(2026, 12, 1)}
    # each manager in post under the name the ERP's account_manager gives them
    assert {r.subject_id for r in risk} == {names[s] for s in in_post}
    # 15 departures and enough overloaded quarters in 36 months: both targets fitted
    assert sorted((r.subject_id, r.kind) for r in risk) == sorted(
        (names[s], t) for s in in_post for t in ("leaves", "overloaded"))
    assert all(0 < r.probability < 1 for r in risk)
    # no ERP clients staged here: every portfolio is empty
    assert {r.clients for r in risk} == {0}
