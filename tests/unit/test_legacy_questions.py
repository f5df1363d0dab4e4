"""Answers under the question ids of before the remap (issue 15: ``reduced_effort``,
``decreased_hassles``, ``expertise``) still feed the model and the KPIs, stored or imported:
the survey catalogue's ``legacy_questions`` is the one alias table."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from fixtures.feedback_world import seed_crm, stage_clients
from sqlalchemy import select

from cx_tasks.analyze.satisfaction import read_answers
from cx_tasks.monitor.answers import answers_known
from cx_tasks.monitor.history import kpi_inputs
from cx_tasks.monitor.kpis import observations
from cx_tasks.monitor.past_answers import COLUMNS, import_files
from cx_tasks.monitor.rules import monitor_rules
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.warehouse.db import engine_for, upsert
from cx_tasks.warehouse.schema import past_answers, survey_answers, survey_responses


def test_each_legacy_id_maps_to_the_current_question_of_the_same_factor():
    catalogue = survey_catalogue()
    for old, factor in (("reduced_effort", "reduced_effort"),
                        ("decreased_hassles", "decreased_hassles"),
                        ("expertise", "expertise")):
        assert catalogue.questions[catalogue.current_question(old)].factor == factor
    assert catalogue.current_question("account_manager") == "account_manager"
    assert catalogue.current_question("nps") == "nps"


def test_an_alias_must_lead_to_a_scored_question_and_not_shadow_a_current_one():
    data = survey_catalogue().model_dump()
    for bad in ({"old": "no_such_question"}, {"old": "comment"}, {"nps": "csat"}):
        with pytest.raises(ValueError, match="legacy_questions"):
            SurveyCatalogue.model_validate({**data, "legacy_questions": bad})


def _stored_answer(url: str, question: str, score: int, at: datetime) -> None:
    with engine_for(url).begin() as conn:
        upsert(conn, survey_responses, [{
            "invitation_id": "INV1", "survey_id": "rel_operator", "client_id": "K1",
            "contact_id": "C1", "role": "operator", "first_answered_at": at,
            "updated_at": at, "submitted": True}])
        upsert(conn, survey_answers, [{"invitation_id": "INV1", "question_id": question,
                                       "score": score, "answered_at": at}])


def test_an_answer_stored_under_an_old_id_reaches_the_model_and_the_csi(warehouse_url: str):
    stage_clients(warehouse_url, {"K1": "metals"})
    at = datetime(2026, 3, 2, 10)
    _stored_answer(warehouse_url, "decreased_hassles", 4, at)
    with engine_for(warehouse_url).connect() as conn:
        model = read_answers(conn, date(2026, 3, 1), date(2026, 3, 3))
        known = answers_known(conn, date(2026, 3, 3), survey_catalogue())
    assert model["question_id"].tolist() == ["packaging_handling"]
    assert known["question"].tolist() == ["packaging_handling"]
    inputs = kpi_inputs(monitor_rules())
    obs = observations(known, inputs.question_kinds, inputs.question_factors, inputs.importance)
    # one factor rating, 4 of 1-5: CSI (4 - 1) * 25 = 75 whatever its importance
    assert obs[obs["kpi"] == "csi"]["y"].tolist() == [75.0]


def test_an_imported_answer_under_an_old_id_is_stored_under_the_current_one(
        warehouse_url: str, tmp_path: Path):
    seed_crm(warehouse_url)
    path = tmp_path / "export.csv"
    path.write_text(",".join(COLUMNS) + "\n"
                    "C5,K1,economic_buyer,relationship,expertise,2,,2026-03-03T12:00:00\n",
                    encoding="utf-8")
    summary = import_files(warehouse_url, [path], now=datetime(2026, 11, 4)).to_dict()
    assert (summary["rows_loaded"], summary["rows_quarantined"]) == (1, 0)
    with engine_for(warehouse_url).connect() as conn:
        assert conn.execute(select(past_answers.c.question, past_answers.c.score)).all() == [
            ("account_manager", 2)]
