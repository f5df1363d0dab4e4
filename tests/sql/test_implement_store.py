"""The implement stage's tables on SQLite and PostgreSQL: migration 9 brings them to a
warehouse of version 5, and a whole stage run (cases, escalation, findings, decisions,
proposals, progress e-mails, report) repeated at the same time leaves every table identical."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from fixtures.checksums import table_checksums
from fixtures.implement_world import complaint, pareto, seed_world
from sqlalchemy import func, inspect, select

from cx_tasks.config import settings
from cx_tasks.implement.stage import (
    funnel_lines,
    run_cases,
    run_initiatives,
    run_progress_mail,
    run_report,
    track_findings,
)
from cx_tasks.warehouse import db
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import V9_TABLES, feedback, findings, quarantine

NOW = datetime(2026, 11, 6, 23)
INIT = "init:metals:documents:2026-11-01"


def test_migration_9_on_a_version_5_warehouse(tmp_path: Path, monkeypatch) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'v5.db'}")
    monkeypatch.setattr(db, "MIGRATIONS", [m for m in db.MIGRATIONS if m[0] <= 5])
    migrate(engine)
    assert not {t.name for t in V9_TABLES} & set(inspect(engine).get_table_names())
    monkeypatch.undo()
    assert migrate(engine) == max(v for v, _, _ in db.MIGRATIONS)
    assert {t.name for t in V9_TABLES} <= set(inspect(engine).get_table_names())


def test_a_stage_run_repeated_changes_nothing(warehouse_url: str, tmp_path: Path) -> None:
    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_WAREHOUSE_URL": warehouse_url,
                       "CX_SURVEY_SECRET": "s"})
    seed_world(warehouse_url)
    for n in range(3):
        complaint(warehouse_url, f"claim:D{n}", "K1", "C1", "Нет сертификатов", "documents",
                  datetime(2026, 10, 20 + n, 9))
    pareto(warehouse_url, "metals", "documents", 3)
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(feedback.insert(), {
            "feedback_id": "survey:i1", "source": "survey", "channel": "email_survey",
            "client_id": "K2", "contact_id": "C3", "role": "economic_buyer", "text": "Bad",
            "scores": json.dumps({"nps": 2}), "ref_id": None,
            "occurred_at": datetime(2026, 11, 6, 8), "recorded_at": datetime(2026, 11, 6, 8)})
        conn.execute(findings.insert(), {
            "finding_id": "cluster:metals:documents", "kind": "complaint_cluster",
            "client_id": None, "segment": "metals", "process_class": "documents",
            "factor": None, "metric": None, "summary": "s", "owner": "documents_desk",
            "owner_person": "Anna Sokolova", "found_on": datetime(2026, 11, 1).date(),
            "due_on": None})
    (tmp_path / "initiative_decisions.csv").write_text(
        "initiative,decision,by,reason,sponsor,milestone,reached_on\n"
        f"{INIT},approve,lead,,,,\n{INIT},reach,anna,,,fix_in_place,2026-11-06\n",
        encoding="utf-8")
    as_of = datetime(2026, 11, 1).date()

    def stage_run() -> None:
        run_cases(config, NOW)
        track_findings(config, as_of, NOW)
        run_initiatives(config, as_of, NOW)
        run_progress_mail(config, NOW)
        run_report(config, NOW)

    stage_run()   # proposes, applies the file (approve, reach the milestone), tells C1
    after = table_checksums(warehouse_url)
    stage_run()
    assert table_checksums(warehouse_url) == after
    with engine_for(warehouse_url).connect() as conn:
        lines = funnel_lines(conn)
    counts = {line.stage: line.count for line in lines}
    assert [line.note for line in lines if line.stage == "initiatives approved"] == [
        "1 by the decisions file"]
    # one case (C3's detractor, opened 08:00): at 23:00 its acknowledge reminder (12 h) is due
    assert counts == pytest.approx({
        "cases opened": 1, "cases acknowledged": 0, "cases closed": 0, "cases escalated": 1,
        "initiatives proposed": 1, "initiatives approved": 1, "progress e-mails sent": 0})
    # nothing quarantined: the file's rows found their proposal
    with engine_for(warehouse_url).connect() as conn:
        assert conn.scalar(select(func.count()).select_from(quarantine)) == 0


def test_required_actions_answers_are_recorded(warehouse_url: str, tmp_path: Path) -> None:
    from cx_tasks.feedback.rules import owners
    from cx_tasks.implement.initiatives import get_initiative, propose
    from cx_tasks.implement.rules import implement_rules
    from cx_tasks.implement.stage import (
        approval_forms,
        initiative_of_form,
        record_airflow_decisions,
    )

    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_WAREHOUSE_URL": warehouse_url,
                       "CX_SURVEY_SECRET": "s"})
    seed_world(warehouse_url)
    for process in ("documents", "pricing", "payments"):
        for n in range(3):
            complaint(warehouse_url, f"claim:{process}{n}", "K1", "C1", "x", process,
                      datetime(2026, 10, 20 + n, 9))
        pareto(warehouse_url, "metals", process, 3)
    proposed = propose(warehouse_url, datetime(2026, 11, 1).date(),
                       rules=implement_rules().initiatives, owners=owners())
    forms = approval_forms(config, proposed)
    assert [initiative_of_form(f) for f in forms] == proposed
    admin = {"id": "admin", "name": "admin"}
    answers = [
        {"chosen_options": ["Approve"], "params_input": {"sponsor": "COO"},
         "responded_by_user": admin},
        {"chosen_options": ["Reject"], "params_input": {"reason": ""},
         "responded_by_user": admin},
        None,  # the response timeout passed: the default, Reject
    ]
    counts = record_airflow_decisions(config, proposed, answers, NOW, 5)
    assert counts == {"approved": 1, "rejected": 2, "unchanged": 0, "refused": 0,
                      "owners_told": 1}
    with engine_for(warehouse_url).connect() as conn:
        rows = {i: get_initiative(conn, i) for i in proposed}
    decided = [(r["status"], r["decided_by"], r["sponsor"], r["reason"])  # type: ignore[index]
               for r in rows.values()]
    # proposals in id order: documents, payments, pricing
    assert decided == [
        ("approved", "admin", "COO", None),
        ("rejected", "admin", None, "rejected in Airflow by admin without a reason"),
        ("rejected", "no answer within 5 days", None,
         "no answer in Airflow within 5 days (default: Reject)"),
    ]


def test_the_demo_leads_answers_approve_the_chosen_and_reject_the_others(
        warehouse_url: str, tmp_path: Path) -> None:
    """The answers the demo's CX lead PATCHes to ``hitlDetails``, recorded as Airflow hands
    them to ``record_decisions``: the chosen proposal approved with its sponsor, the others
    rejected with the lead's reason; the funnel says the approval came through Airflow."""
    from cx_tasks.demo.cx_team import NOT_NOW, lead_answer
    from cx_tasks.feedback.rules import owners
    from cx_tasks.implement.initiatives import get_initiative, propose
    from cx_tasks.implement.rules import implement_rules
    from cx_tasks.implement.stage import approval_forms, record_airflow_decisions

    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_WAREHOUSE_URL": warehouse_url,
                       "CX_SURVEY_SECRET": "s"})
    seed_world(warehouse_url)
    for process in ("documents", "pricing"):
        for n in range(3):
            complaint(warehouse_url, f"claim:{process}{n}", "K1", "C1", "x", process,
                      datetime(2026, 10, 20 + n, 9))
        pareto(warehouse_url, "metals", process, 3)
    proposed = propose(warehouse_url, datetime(2026, 11, 1).date(),
                       rules=implement_rules().initiatives, owners=owners())
    pricing = "init:metals:pricing:2026-11-01"
    lead = {"id": "cx_lead", "name": "cx_lead"}
    answers = [{**lead_answer(form["subject"], [pricing]), "responded_by_user": lead}
               for form in approval_forms(config, proposed)]
    counts = record_airflow_decisions(config, proposed, answers, NOW, 5)
    assert (counts["approved"], counts["rejected"]) == (1, 1)
    with engine_for(warehouse_url).connect() as conn:
        decided = {i: (r["status"], r["decided_by"], r["sponsor"], r["reason"])  # type: ignore[index]
                   for i in proposed if (r := get_initiative(conn, i))}
        approved = [line.note for line in funnel_lines(conn)
                    if line.stage == "initiatives approved"]
    assert decided == {INIT: ("rejected", "cx_lead", None, NOT_NOW),
                       pricing: ("approved", "cx_lead", "COO (demo)", None)}
    assert approved == ["1 in Airflow's Required Actions (human-in-the-loop API)"]
