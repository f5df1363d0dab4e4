"""The predicted satisfaction model against the warehouse: what is read (windows end at as_of,
exclusive), what is stored, and that a rerun for the same as_of leaves the same state
(SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest
from fixtures.feedback_world import stage_clients
from sqlalchemy import delete, select

from cx_tasks.analyze.model import satisfaction_rules
from cx_tasks.analyze.satisfaction import predict_window, score_and_predict
from cx_tasks.warehouse.db import engine_for, upsert
from cx_tasks.warehouse.schema import (
    factor_scores,
    metric_values,
    model_versions,
    predicted_index,
    survey_answers,
    survey_responses,
)

AS_OF = date(2025, 3, 1)
FACTORS = """
blocks: {table_stakes: {ru: a, en: a}, functional: {ru: b, en: b},
         ease_of_doing_business: {ru: c, en: c}, individual: {ru: d, en: d},
         inspirational: {ru: e, en: e}}
factors:
  - id: acceptable_price
    block: table_stakes
    name: {ru: цена, en: price}
    metrics:
      - {metric: price_fairness_rating, question: acceptable_price, zero: 1, full: 5}
  - id: availability
    block: ease_of_doing_business
    name: {ru: наличие, en: availability}
    metrics:
      - {metric: otif_line, zero: 0.80, full: 0.98}
      - {metric: delivery_reliability_rating, question: availability, zero: 1, full: 5}
  - id: vision
    block: inspirational
    name: {ru: видение, en: vision}
"""
ROLE_IMPORTANCE = "{acceptable_price: 5, availability: 5}"
SEGMENT = f"""
    blocks: {{table_stakes: 0.4, functional: 0.1, ease_of_doing_business: 0.6, individual: 0,
             inspirational: 0}}
    importance: {{economic_buyer: {ROLE_IMPORTANCE}, technical_buyer: {ROLE_IMPORTANCE},
                 operator: {ROLE_IMPORTANCE}}}"""
IMPORTANCE = f"segments:\n  metals:{SEGMENT}\n  chemicals:{SEGMENT}\n"
# invitation, survey, client, role, question, score, answered at
ANSWERS = [
    ("I1", "rel_operator", "C1", "operator", "nps", 8, datetime(2025, 2, 20, 10)),
    ("I1", "rel_operator", "C1", "operator", "availability", 5, datetime(2025, 2, 20, 10)),
    ("I2", "rel_economic_buyer", "C1", "economic_buyer", "nps", 6, datetime(2024, 12, 1, 10)),
    ("I2", "rel_economic_buyer", "C1", "economic_buyer", "acceptable_price", 3,
     datetime(2024, 12, 1, 10)),
    ("I3", "tx_delivery_completed", "C1", "technical_buyer", "csat", 5,
     datetime(2025, 3, 1, 0)),  # as_of: outside
    ("I4", "tx_delivery_completed", "C2", "operator", "csat", 4, datetime(2025, 2, 1, 10)),
]
# client, window, OTIF
OTIF = [("C1", 30, 0.89), ("C1", 365, 0.98), ("C2", 30, 0.98), ("C3", 30, 0.80),
        ("C4", 30, 0.90)]


@pytest.fixture()
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "factors.yaml").write_text(FACTORS, encoding="utf-8")
    (folder / "importance.yaml").write_text(IMPORTANCE, encoding="utf-8")
    return folder


def _load(url: str) -> None:
    stage_clients(url, {"C1": "metals", "C2": "metals", "C3": "chemicals", "C4": "glass"})
    with engine_for(url).begin() as conn:
        upsert(conn, metric_values, [
            {"client_id": client, "metric": "otif_line", "as_of": AS_OF, "window_days": days,
             "value": value} for client, days, value in OTIF])
        upsert(conn, survey_responses, [
            {"invitation_id": inv, "survey_id": survey, "client_id": client, "contact_id": inv,
             "role": role, "first_answered_at": at, "updated_at": at, "submitted": True}
            for inv, survey, client, role, _, _, at in ANSWERS])
        upsert(conn, survey_answers, [
            {"invitation_id": inv, "question_id": question, "score": score, "answered_at": at}
            for inv, _, _, _, question, score, at in ANSWERS])


def _index(url: str) -> dict[tuple[str, str], tuple]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(select(predicted_index).where(predicted_index.c.as_of == AS_OF))
        return {(r.client_id, r.role): (r.status, r.predicted, r.reported, r.model_version)
                for r in rows}


def test_score_and_predict_stores_scores_versions_and_index(warehouse_url: str,
                                                            rules_dir: Path) -> None:
    _load(warehouse_url)
    rules = satisfaction_rules(rules_dir)
    summary = score_and_predict(engine_for(warehouse_url), AS_OF, 30, rules)
    with engine_for(warehouse_url).connect() as conn:
        scores = {(r.client_id, r.role, r.factor): r.score
                  for r in conn.execute(select(factor_scores))}
        versions = {(r.version, r.segment): r for r in conn.execute(select(model_versions))}
    # OTIF 0.89 -> 50, 0.98 -> 100, 0.80 -> 0; C1's operator rated availability 5 -> 100 in
    # the 30-day window: mean(50, 100) = 75; the price rating of 1 December is older than 30
    # days. C4's segment (glass) has no importance: scored, not predicted.
    assert scores == pytest.approx({("C1", "any", "availability"): 50.0,
                                    ("C1", "operator", "availability"): 75.0,
                                    ("C2", "any", "availability"): 100.0,
                                    ("C3", "any", "availability"): 0.0,
                                    ("C4", "any", "availability"): 90 / 0.18 - 80 / 0.18})
    index = _index(warehouse_url)
    version = "2025-03-01.r0"
    # seeds only (2 client-roles < min_answers 15). Reported = the CSI of the relationship
    # survey's factor ratings (importance 5 each; NPS and CSAT are not blended in): the
    # operator rated availability 5 -> (5 - 1) * 25 = 100, the economic buyer acceptable_price
    # 3 -> 50 (within 180 days); the technical buyer and C2 gave only CSAT: no CSI.
    assert index[("C1", "operator")] == ("ok", pytest.approx(75.0), pytest.approx(100.0),
                                         version)
    assert index[("C1", "economic_buyer")] == ("ok", pytest.approx(50.0), pytest.approx(50.0),
                                               version)
    assert index[("C1", "technical_buyer")] == ("ok", pytest.approx(50.0), None, version)
    # account: economic buyer and operator answered: (0.4*50 + 0.25*75) / 0.65 = 38.75 / 0.65;
    # reported (0.4*50 + 0.25*100) / 0.65 = 45 / 0.65
    assert index[("C1", "account")] == ("ok", pytest.approx(38.75 / 0.65),
                                        pytest.approx(45 / 0.65), version)
    assert index[("C2", "account")] == ("insufficient_signal", None, None, version)
    assert index[("C3", "account")] == ("insufficient_signal", None, None, version)
    assert index[("C3", "operator")][1] == pytest.approx(0.0)
    assert not any(client == "C4" for client, _ in index)
    assert len(index) == 3 * 4
    # metals: |75 - 100| + |50 - 50| over 2 = 12.5; chemicals: nothing to compare
    metals = versions[(version, "metals")]
    assert (metals.round, metals.clients, metals.mae_after) == (0, 1, pytest.approx(12.5))
    stored = json.loads(metals.weights)
    assert stored["weights"]["operator"] == pytest.approx({"acceptable_price": 0.4,
                                                           "availability": 0.6})
    assert "not calibrated: too few answers" in stored["note"]
    assert versions[(version, "chemicals")].mae_after is None
    assert set(versions) == {(version, "metals"), (version, "chemicals")}
    assert summary["accounts"] == {"insufficient_signal": 2, "ok": 1}


def test_rerun_leaves_the_same_state_and_drops_what_is_gone(
        warehouse_url: str, rules_dir: Path,
        warehouse_checksum: Callable[[str], dict[str, str]]) -> None:
    _load(warehouse_url)
    rules = satisfaction_rules(rules_dir)
    engine = engine_for(warehouse_url)
    score_and_predict(engine, AS_OF, 30, rules)
    first = warehouse_checksum(warehouse_url)
    with engine.begin() as conn:
        score_and_predict(conn, AS_OF, 30, rules)  # on the caller's connection
    assert warehouse_checksum(warehouse_url) == first
    with engine.begin() as conn:
        conn.execute(delete(metric_values).where(metric_values.c.client_id == "C3"))
    score_and_predict(engine, AS_OF, 30, rules)
    with engine.connect() as conn:
        clients = set(conn.scalars(select(factor_scores.c.client_id)))
    assert "C3" not in clients
    assert _index(warehouse_url)[("C3", "operator")][0] == "no_factor_scores"


def test_predict_window_uses_the_stored_weights_on_other_metric_windows(
        warehouse_url: str, rules_dir: Path) -> None:
    _load(warehouse_url)
    rules = satisfaction_rules(rules_dir)
    score_and_predict(engine_for(warehouse_url), AS_OF, 30, rules)
    baseline = predict_window(engine_for(warehouse_url), AS_OF, 365, rules)
    got = {(r.client_id, r.role): r.predicted for r in baseline.itertuples()}
    # 365 days: C1's OTIF 0.98 -> 100; the economic buyer's price rating 3 -> 50 now counts:
    # 0.4 * 50 + 0.6 * 100 = 80; the operator: availability mean(100, rating 100) = 100
    assert got[("C1", "economic_buyer")] == pytest.approx(80.0)
    assert got[("C1", "operator")] == pytest.approx(100.0)
    assert _index(warehouse_url)[("C1", "economic_buyer")][1] == pytest.approx(50.0)
