"""``cx kpi``: import past answers, publish, and print the figures with their intervals."""

from __future__ import annotations

from pathlib import Path

from fixtures.feedback_world import seed_crm
from typer.testing import CliRunner

from cx_tasks.cli import app
from cx_tasks.monitor.past_answers import COLUMNS
from cx_tasks.warehouse.db import engine_for, migrate


def test_import_publish_and_show(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    migrate(engine_for(url))
    seed_crm(url)
    export = tmp_path / "export.csv"
    # 12 NPS answers in March: 8 promoters, 2 passives, 2 detractors: NPS 100 * 6 / 12 = 50;
    # adjusted Wald n' = 15, p' = 8.75 / 15 = 0.583333, d' = 2.75 / 15 = 0.183333,
    # Var = (0.766667 - 0.16) / 15 = 0.040444, sd 0.201108: 0.4 -+ 0.394164 -> [1, 79]
    scores = [10, 10, 9, 9, 10, 9, 10, 9, 8, 7, 3, 5]
    export.write_text(",".join(COLUMNS) + "\n" + "\n".join(
        f"C1,K1,,relationship,nps,{s},,2026-03-{d:02d}T10:00:00"
        for d, s in enumerate(scores, start=1)) + "\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["kpi", "import", str(export), "--now", "2026-11-01"]
                         ).exit_code == 0
    assert runner.invoke(app, ["kpi", "publish", "--as-of", "2026-04-01"]).exit_code == 0
    shown = runner.invoke(app, ["kpi", "show", "--level", "all", "--period", "month"],
                          env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "50 [1, 79] (12)" in shown.output
