"""The simulator's past answers: the import layout, scores that follow the true satisfaction."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
from fixtures.feedback_world import seed_crm

from cx_tasks.monitor.past_answers import COLUMNS, import_files
from cx_tasks.simulate.past_answers import past_answers
from cx_tasks.surveys.catalogue import survey_catalogue

CONTACTS = pd.DataFrame(
    [("C1", "K1", "operator", "ivan@k1.example"),
     ("C2", "K1", "technical_buyer", "Anna.Smith@K1.example"),
     ("C5", "K1", "economic_buyer", "petr@k1.example"),
     ("C3", "K2", "economic_buyer", None),
     ("C4", "K2", "operator", "olga@k2.example")],
    columns=["contact_id", "client_id", "role", "email"])
# K1 is delighted in every role, K2 miserable
ROLES = pd.DataFrame([(c, r, 95.0 if c == "K1" else 10.0)
                      for c in ("K1", "K2") for r in ("economic_buyer", "technical_buyer",
                                                      "operator")],
                     columns=["client_id", "role", "satisfaction"])
FACTORS = pd.DataFrame({"availability": [95.0, 10.0]}, index=["K1", "K2"])


def _answers(**kwargs) -> pd.DataFrame:
    return past_answers(CONTACTS, ROLES, FACTORS, survey_catalogue(), end=date(2026, 11, 1),
                        **{"drift_sd": 0.0, "bad_share": 0.0, "relationship_rate": 1.0,
                           "transactional_per_month": 2.0, **kwargs})


def test_rows_follow_the_layout_and_the_18_months_before_the_end() -> None:
    answers = _answers()
    assert list(answers.columns) == list(COLUMNS)
    moments = pd.to_datetime(answers["answered_at"])
    # 18 months of 30.4375 days = 547.9 days before 2026-11-01, the last day 2026-10-31
    assert moments.max() < datetime(2026, 11, 1)
    assert moments.min() >= datetime(2025, 4, 30)
    # every contact answers 3 relationship waves (rate 1): 5 contacts x 3 NPS rows
    assert (answers["question"] == "nps").sum() == 15
    assert set(answers["survey_kind"]) == {"relationship", "transactional"}
    assert _answers().equals(answers)  # deterministic for a seed


def test_scores_follow_each_clients_true_satisfaction() -> None:
    answers = _answers()
    nps = answers[answers["question"] == "nps"].groupby("client")["score"].mean()
    csat = answers[answers["question"] == "csat"].groupby("client")["score"].mean()
    # truth 95 -> 9.5 on 0-10 (noise 8 points: scores 8-10); truth 10 -> about 1
    assert nps["K1"] >= 8.5 and nps["K2"] <= 2.5
    assert csat["K1"] >= 4.5 and csat["K2"] <= 1.8


def test_the_import_takes_every_simulated_row_but_the_wrong_ones(warehouse_url: str,
                                                                 tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    answers = _answers(bad_share=0.05)
    path = tmp_path / "past.csv"
    answers.to_csv(path, index=False)
    wrong = (answers["score"] == 99) | answers["contact"].str.startswith("left.company")

    summary = import_files(warehouse_url, [path], now=datetime(2026, 11, 1)).to_dict()

    assert wrong.sum() > 0
    assert summary["rows_quarantined"] == wrong.sum()
    assert summary["rows_loaded"] == len(answers) - wrong.sum()
