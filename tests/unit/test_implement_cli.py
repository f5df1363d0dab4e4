"""``cx cases``, ``cx initiatives`` and ``cx finding`` against a warehouse: the same changes
as the other paths, recorded with the channel ``cli``; client text printed as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures.implement_world import AS_OF, complaint, pareto, seed_world
from sqlalchemy import select
from typer.testing import CliRunner

from cx_tasks.cli import app
from cx_tasks.config import settings
from cx_tasks.feedback.rules import owners
from cx_tasks.implement import cli as implement_cli
from cx_tasks.implement.cases import open_cases, question_kinds
from cx_tasks.implement.initiatives import propose
from cx_tasks.implement.links import LinkKeys
from cx_tasks.implement.rules import implement_rules
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import case_history, feedback, initiatives

NOW = datetime.now(UTC).replace(tzinfo=None)  # the CLI acts at the wall clock
RULES = implement_rules()


@pytest.fixture()
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_SURVEY_SECRET", "cli")
    url = settings().warehouse_url
    migrate(engine_for(url))
    seed_world(url)
    for n in range(3):
        complaint(url, f"claim:D{n}", "K1", "C1", "x", "documents", datetime(2026, 10, 20 + n))
    pareto(url, "metals", "documents", 3)
    propose(url, AS_OF, rules=RULES.initiatives, owners=owners())
    with engine_for(url).begin() as conn:
        conn.execute(feedback.insert(), {
            "feedback_id": "survey:i1", "source": "survey", "channel": "email_survey",
            "client_id": "K1", "contact_id": "C1", "role": "operator",
            "text": "[bold red]call me[/bold red]", "scores": json.dumps({"nps": 1}),
            "ref_id": None, "occurred_at": NOW, "recorded_at": NOW})
    open_cases(url, now=NOW, rules=RULES.cases, owners=owners(),
               kinds=question_kinds(survey_catalogue()), keys=LinkKeys("http://x", b"cli"))
    monkeypatch.setattr(implement_cli.console, "width", 300)  # tables unwrapped
    yield url
    engine_for(url).dispose()


def test_cases_from_the_terminal(url: str) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["cases", "list"])
    assert listed.exit_code == 0 and "case:survey:i1" in listed.output
    shown = runner.invoke(app, ["cases", "show", "case:survey:i1"])
    assert "[bold red]call me[/bold red]" in shown.output  # markup printed as text
    refused = runner.invoke(app, ["cases", "close", "case:survey:i1", "--by", "t", "--note",
                                  " "])
    assert refused.exit_code == 1 and "note_required" in refused.output
    assert runner.invoke(app, ["cases", "ack", "case:survey:i1", "--by", "t"]).exit_code == 0
    assert runner.invoke(app, ["cases", "close", "case:survey:i1", "--by", "t", "--note",
                               "called back"]).exit_code == 0
    with engine_for(url).connect() as conn:
        moves = [(r.status, r.channel, r.actor) for r in conn.execute(
            select(case_history).order_by(case_history.c.changed_at))]
    assert moves == [("open", "pipeline", "cx_implement"), ("acknowledged", "cli", "t"),
                     ("closed", "cli", "t")]


def test_initiatives_and_findings_from_the_terminal(url: str) -> None:
    runner = CliRunner()
    init = "init:metals:documents:2026-11-01"
    assert init in runner.invoke(app, ["initiatives"]).output
    assert runner.invoke(app, ["initiatives", "approve", init, "--by", "lead", "--sponsor",
                               "COO"]).exit_code == 0
    reached = runner.invoke(app, ["initiatives", "reach", init, "root_cause", "--by", "anna"])
    assert reached.exit_code == 0 and "root_cause reached" in reached.output
    with engine_for(url).connect() as conn:
        assert conn.scalar(select(initiatives.c.status)) == "in_progress"
    report = runner.invoke(app, ["initiatives", "report"])
    assert report.exit_code == 0 and Path(report.output.strip().replace("\n", "")).exists()
    unknown = runner.invoke(app, ["finding", "set", "cluster:x", "resolved", "--by", "a"])
    assert unknown.exit_code == 1 and "unknown_finding" in unknown.output
