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
