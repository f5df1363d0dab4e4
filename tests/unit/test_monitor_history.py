"""KPI recalculations stored with their version: a rerun writes nothing, a change a new one."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fixtures.feedback_world import seed_crm
from sqlalchemy import select

from cx_tasks.monitor.history import kpi_inputs, latest_version, publish_kpis, stored_figures
from cx_tasks.monitor.past_answers import COLUMNS, import_files
from cx_tasks.monitor.rules import KpiRules
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import kpi_runs


def _import(url: str, path: Path, scores: list[int]) -> None:
    lines = [f"C1,K1,,relationship,nps,{s},,2026-03-{day:02d}T10:00:00"
             for day, s in enumerate(scores, start=1)]
    path.write_text(",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    import_files(url, [path], now=datetime(2026, 11, 1))


def test_a_rerun_reproduces_its_version_and_a_changed_answer_makes_a_new_one(
        warehouse_url: str, tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    _import(warehouse_url, tmp_path / "a.csv", [10, 10, 9, 8, 3])
    inputs = kpi_inputs(KpiRules(min_n=5))

    first = publish_kpis(warehouse_url, date(2026, 4, 1), inputs)
    again = publish_kpis(warehouse_url, date(2026, 4, 1), inputs)
    assert first["new"] and not again["new"] and first["version"] == again["version"]
    with engine_for(warehouse_url).connect() as conn:
        march = stored_figures(conn, first["version"], {"kpi": "nps", "level": "all",
                                                        "period": "month"})
    # 3 promoters, 1 passive, 1 detractor of 5: NPS = 100 * (3 - 1) / 5 = 40
    assert march[["n", "value"]].values.tolist() == [[5, 40.0]]

    _import(warehouse_url, tmp_path / "b.csv", [10, 10, 9, 8, 0])  # the detractor says 0
    changed = publish_kpis(warehouse_url, date(2026, 4, 1), inputs)
    assert changed["version"] != first["version"]
    assert changed["version"].split(":")[:2] == first["version"].split(":")[:2]  # same defs
    with engine_for(warehouse_url).connect() as conn:
        assert conn.scalar(select(kpi_runs.c.answers).where(
            kpi_runs.c.version == changed["version"])) == 5
        assert latest_version(conn, date(2026, 4, 1)) == changed["version"]
        # the old figures stay under their version: a past figure can still be read
        assert len(stored_figures(conn, first["version"], {"kpi": "nps"})) > 0
