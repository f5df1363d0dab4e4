"""The factor catalogue, metric normalisation, factor scores, block scores, the predicted index
per role and account, and reported satisfaction (the CSI of the relationship survey), each
against values computed by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from cx_tasks.analyze.factors import (
    BLOCKS,
    FactorCatalogue,
    FactorLayout,
    factor_catalogue,
    factor_ids,
    factor_scores,
    metric_score,
)
from cx_tasks.analyze.model import (
    INSUFFICIENT_SIGNAL,
    OK,
    ImportanceRules,
    ModelRules,
    SatisfactionTarget,
    SegmentImportance,
    TableStakesRules,
    account_index,
    account_rows,
    block_scores,
    block_weights,
    predict_roles,
    predicted_index,
    reported_satisfaction,
    satisfaction_rules,
    seed_weights,
    weight_vector,
)
from cx_tasks.config import rules_text
from cx_tasks.metrics.catalogue import VALUE_ELEMENTS, metric_catalogue
from cx_tasks.surveys.catalogue import survey_catalogue

NAMES = {"ru": "имя", "en": "name"}
BLOCK_NAMES = {b: NAMES for b in BLOCKS}
ROLE_WEIGHTS = {"economic_buyer": 0.40, "technical_buyer": 0.35, "operator": 0.25}


def _catalogue(**extra: object) -> FactorCatalogue:
    """availability: otif_line (0.80 -> 0, 0.98 -> 100) and its rating; decreased_hassles:
    packaging incidents (0.10 -> 0, 0 -> 100); acceptable_price: its rating."""
    return FactorCatalogue.model_validate({"blocks": BLOCK_NAMES, "factors": [
        {"id": "acceptable_price", "block": "table_stakes", "name": NAMES, "metrics": [
            {"metric": "price_fairness_rating", "question": "acceptable_price", "zero": 1,
             "full": 5}]},
        {"id": "availability", "block": "ease_of_doing_business", "name": NAMES, "metrics": [
            {"metric": "otif_line", "zero": 0.80, "full": 0.98},
            {"metric": "delivery_reliability_rating", "question": "availability", "zero": 1,
             "full": 5}]},
        {"id": "decreased_hassles", "block": "ease_of_doing_business", "name": NAMES,
         "metrics": [{"metric": "packaging_incident_rate", "zero": 0.10, "full": 0.0}]},
        {"id": "vision", "block": "inspirational", "name": NAMES},
    ]}, **extra)


def _checked(data: dict) -> FactorCatalogue:
    return FactorCatalogue.model_validate(data, context={
        "metric_catalogue": metric_catalogue(), "questions": survey_catalogue().questions})


# ---- catalogue -------------------------------------------------------------------------------

def test_shipped_catalogue_lists_the_value_elements_in_five_blocks() -> None:
    catalogue = factor_catalogue()
    assert VALUE_ELEMENTS == factor_ids() == {f.id for f in catalogue.factors}
    assert len(catalogue.factors) == 38 and tuple(catalogue.blocks) == BLOCKS
    layout = catalogue.layout()
    assert "availability" in layout.factors and "vision" not in layout.factors  # unmeasured
    assert set(layout.factor_blocks) <= set(BLOCKS)


def test_shipped_rules_load_together() -> None:
    rules = satisfaction_rules()
    assert set(rules.importance.segments) == {"metals", "chemicals", "distribution"}
    assert rules.model.signal_window_days == 180 and rules.model.min_roles == 2
    assert rules.model.calibration.rounds == 3
    assert rules.question_kinds["nps"] == "nps"


def _shipped() -> dict:
    return yaml.safe_load(rules_text("factors"))


def _availability(data: dict) -> dict:
    return next(f for f in data["factors"] if f["id"] == "availability")


@pytest.mark.parametrize("change", [
    lambda d: _availability(d)["metrics"].append({"metric": "price_fairness_rating",
                                                  "question": "acceptable_price", "zero": 1,
                                                  "full": 5}),   # measures acceptable_price
    lambda d: _availability(d)["metrics"][0].update(zero=0.98, full=0.80),  # wrong direction
    lambda d: _availability(d)["metrics"][1].pop("question"),   # asked metric, no question
    lambda d: _availability(d)["metrics"][1].update(question="acceptable_price"),  # other factor
    lambda d: _availability(d)["metrics"][0].update(question="availability"),  # computable asked
    lambda d: (m := _availability(d)["metrics"][0]).update(full=m["zero"]),  # zero == full
    lambda d: d["factors"].append(dict(_availability(d), metrics=[])),  # listed twice
    lambda d: _availability(d).update(block="basics"),          # unknown block
])
def test_catalogue_rejects_inconsistent_rows(change) -> None:
    data = _shipped()
    _checked(data)
    change(data)
    with pytest.raises(ValidationError):
        _checked(data)


def test_importance_must_cover_every_measured_factor() -> None:
    data = yaml.safe_load(rules_text("importance"))
    ImportanceRules.model_validate(data, context={"factor_catalogue": factor_catalogue()})
    del data["segments"]["metals"]["importance"]["operator"]["availability"]
    with pytest.raises(ValidationError, match="availability"):
        ImportanceRules.model_validate(data, context={"factor_catalogue": factor_catalogue()})


# ---- normalisation ---------------------------------------------------------------------------

def test_metric_score_is_linear_between_zero_and_full_and_clipped() -> None:
    # OTIF 0.80 -> 0, 0.98 -> 100: 0.89 -> 100 * 0.09 / 0.18 = 50; 0.70 and 1.0 clip
    assert metric_score([0.80, 0.89, 0.98, 0.70, 1.0], 0.80, 0.98) == pytest.approx(
        [0, 50, 100, 0, 100])
    # lower is better, 0.10 -> 0, 0 -> 100: 0.025 -> 100 * (0.025 - 0.1) / (0 - 0.1) = 75
    assert metric_score([0.10, 0.025, 0.0, 0.15], 0.10, 0.0) == pytest.approx([0, 75, 100, 0])
    # a rating 1-5: (4 - 1) * 25 = 75
    assert metric_score(4, 1, 5) == pytest.approx(75)
    assert math.isnan(metric_score(np.nan, 1, 5))


def test_factor_scores_shared_and_per_role() -> None:
    metrics = pd.DataFrame({"client_id": ["C1", "C1", "C1", "C2"],
                            "metric": ["otif_line", "packaging_incident_rate", "revenue",
                                       "otif_line"],
                            "value": [0.89, 0.025, 1000.0, np.nan]})
    ratings = pd.DataFrame({"client_id": ["C1", "C1", "C1", "C2"],
                            "role": ["operator", "operator", "technical_buyer", "economic_buyer"],
                            "question_id": ["availability", "availability", "nps",
                                            "acceptable_price"],
                            "score": [3, 5, 9, 2]})
    frame = factor_scores(metrics, ratings, _catalogue())
    got = {(r.client_id, r.role, r.factor): r.score for r in frame.itertuples()}
    # C1 any: availability = otif 0.89 -> 50; decreased_hassles = 0.025 -> 75 (revenue measures
    # nothing). C1 operator availability = mean(otif 50, rating mean(3, 5) = 4 -> 75) = 62.5.
    # C2: otif undefined (NaN) -> no shared score; economic buyer's price rating 2 -> 25.
    assert got == pytest.approx({("C1", "any", "availability"): 50.0,
                                 ("C1", "any", "decreased_hassles"): 75.0,
                                 ("C1", "operator", "availability"): 62.5,
                                 ("C2", "economic_buyer", "acceptable_price"): 25.0})
    operator = frame[(frame["role"] == "operator")].iloc[0]["metrics"]
    assert operator == {"delivery_reliability_rating": {"value": 4.0, "score": 75.0,
                                                        "answers": 2},
                        "otif_line": {"value": 0.89, "score": pytest.approx(50.0)}}


# ---- block score and predicted index ---------------------------------------------------------

LAYOUT = FactorLayout(("a", "b", "c"), ("table_stakes", "table_stakes", "ease_of_doing_business"))


def test_block_score_is_the_importance_weighted_mean_of_scored_factors() -> None:
    scores = np.array([[80.0, 40.0, 60.0],
                       [80.0, np.nan, 60.0],
                       [np.nan, np.nan, 60.0]])
    blocks = block_scores(scores, np.array([3.0, 1.0, 5.0]), LAYOUT)
    # row 1: table stakes (3*80 + 1*40) / 4 = 70; row 2: only a -> 80; row 3: none -> NaN;
    # ease = 60 everywhere; functional, individual, inspirational have no factor -> NaN
    np.testing.assert_allclose(blocks[:, :3], [[70, np.nan, 60], [80, np.nan, 60],
                                               [np.nan, np.nan, 60]])
    assert np.isnan(blocks[:, 3:]).all()
    assert np.isnan(block_scores(scores[:1], np.zeros(3), LAYOUT)).all()  # no importance


def test_predicted_index_weights_the_blocks_that_have_a_score() -> None:
    blocks = np.array([[70.0, np.nan, 50.0], [np.nan, np.nan, np.nan]])
    # (0.5 * 70 + 0.2 * 50) / (0.5 + 0.2) = 45 / 0.7 = 64.2857...
    np.testing.assert_allclose(predicted_index(blocks, np.array([0.5, 0.3, 0.2])),
                               [45 / 0.7, np.nan])


def _segment() -> SegmentImportance:
    blocks = dict.fromkeys(BLOCKS, 0.0) | {"table_stakes": 0.3, "functional": 0.2,
                                           "ease_of_doing_business": 0.5}
    importance = {"a": 3.0, "b": 1.0, "c": 5.0}
    return SegmentImportance(blocks=blocks, importance={
        "economic_buyer": importance, "technical_buyer": importance, "operator": importance})


def test_seed_weights_fold_block_weights_and_importance_into_one_weight_per_factor() -> None:
    seeds = seed_weights(_segment(), LAYOUT)["operator"]
    # blocks with measured factors: table stakes 0.3, ease 0.5 -> 0.375, 0.625 (functional has
    # none); a = 0.375 * 3/4 = 0.28125, b = 0.375 * 1/4 = 0.09375, c = 0.625 * 5/5
    assert seeds == pytest.approx({"a": 0.28125, "b": 0.09375, "c": 0.625})
    vector = weight_vector(seeds, LAYOUT)
    index = predicted_index(block_scores(np.array([80.0, 40.0, 60.0]), vector, LAYOUT),
                            block_weights(vector, LAYOUT))
    # the same as the configured hierarchy: table stakes (3*80 + 40) / 4 = 70, ease 60,
    # (0.3 * 70 + 0.5 * 60) / 0.8 = 63.75
    assert index == pytest.approx([63.75])


def test_predict_roles_uses_a_roles_own_rating_over_the_shared_score() -> None:
    frame = pd.DataFrame({"client_id": ["C1", "C1", "C1"], "role": ["any", "any", "operator"],
                          "factor": ["a", "c", "a"], "score": [80.0, 60.0, 20.0],
                          "metrics": [{}, {}, {}]})
    weights = {"metals": seed_weights(_segment(), LAYOUT)}
    rows = predict_roles(frame, {"C1": "metals", "C9": "unknown"}, weights, LAYOUT)
    got = {r.role: (r.predicted, r.blocks) for r in rows.itertuples()}
    # economic buyer: table stakes = a 80 (b unscored), ease 60 -> (0.375*80 + 0.625*60) = 67.5
    # operator: its own a = 20 -> 0.375*20 + 0.625*60 = 45; C9's segment has no weights
    assert got["economic_buyer"][0] == pytest.approx(67.5)
    assert got["operator"] == (pytest.approx(45.0), {"table_stakes": 20.0,
                                                     "ease_of_doing_business": 60.0})
    assert set(rows["client_id"]) == {"C1"} and set(rows["status"]) == {OK}


# ---- table stakes are not tradeable ------------------------------------------------------------

def _excellent_but(b_score: float) -> pd.DataFrame:
    """Client C1 scoring 100 on every factor of LAYOUT but table stake b."""
    return pd.DataFrame({"client_id": "C1", "role": "any", "factor": ["a", "b", "c"],
                         "score": [100.0, b_score, 100.0], "metrics": [{}, {}, {}]})


@pytest.mark.parametrize(("b_score", "stakes", "expected", "failed"), [
    # seeds: a 0.375 * 3/4, b 0.375 * 1/4, c 0.625. b = 20 < floor 50: uncapped the table
    # stakes block is (3*100 + 1*20) / 4 = 80 and the index 0.375*80 + 0.625*100 = 92.5;
    # the failed table stake caps it at 50
    (20.0, TableStakesRules(floor=50, cap=50), 50.0, ("b",)),
    # b exactly on its floor fails nothing: (300 + 50) / 4 = 87.5 -> 32.8125 + 62.5
    (50.0, TableStakesRules(floor=50, cap=50), 95.3125, ()),
    # b's own floor 10 lets 20 pass: 92.5
    (20.0, TableStakesRules(floor=50, floors={"b": 10}, cap=50), 92.5, ()),
    # a cap of 30
    (20.0, TableStakesRules(floor=50, cap=30), 30.0, ("b",)),
])
def test_a_failed_table_stake_caps_an_index_excellent_on_everything_else(
        b_score: float, stakes: TableStakesRules, expected: float, failed: tuple) -> None:
    weights = {"metals": seed_weights(_segment(), LAYOUT)}
    rows = predict_roles(_excellent_but(b_score), {"C1": "metals"}, weights, LAYOUT, stakes)
    assert rows["predicted"].tolist() == pytest.approx([expected] * 3)
    assert set(rows["failed_table_stakes"]) == {failed}
    # every role answered: the account is the role-weighted mean of equal indexes, capped too
    account = account_rows(rows.assign(reported=70.0), ModelRules(table_stakes=stakes))
    assert account["predicted"].tolist() == pytest.approx([expected])


def test_own_floors_name_table_stakes_only(tmp_path) -> None:
    (tmp_path / "model.yaml").write_text(
        rules_text("model").replace("floors: {}", "floors: {availability: 60}"), encoding="utf-8")
    with pytest.raises(ValueError, match="availability"):
        satisfaction_rules(tmp_path)


def test_an_account_is_capped_when_one_answering_role_fails_a_table_stake() -> None:
    roles = pd.DataFrame({
        "client_id": "C1", "role": list(ROLE_WEIGHTS), "segment": "metals", "status": OK,
        "predicted": [50.0, 90.0, 90.0], "reported": [60.0, 80.0, 80.0], "blocks": [{}] * 3,
        "failed_table_stakes": [("acceptable_price",), (), ()]})
    # uncapped (0.4*50 + 0.35*90 + 0.25*90) / 1.0 = 74; the economic buyer's failed price
    # caps the account at 50
    account = account_rows(roles, ModelRules(table_stakes=TableStakesRules(cap=50)))
    assert account.loc[0, "predicted"] == pytest.approx(50.0)
    assert account.loc[0, "failed_table_stakes"] == ("acceptable_price",)


# ---- account roll-up -------------------------------------------------------------------------

def test_account_index_combines_the_roles_that_answered() -> None:
    predicted = {"economic_buyer": 60.0, "technical_buyer": 80.0, "operator": 70.0}
    # all answered: 0.40*60 + 0.35*80 + 0.25*70 = 24 + 28 + 17.5 = 69.5
    assert account_index(predicted, ROLE_WEIGHTS, ROLE_WEIGHTS, 2) == (OK, pytest.approx(69.5))
    # the operator did not answer: (24 + 28) / 0.75 = 69.333...
    status, index = account_index(predicted, ["economic_buyer", "technical_buyer"],
                                  ROLE_WEIGHTS, 2)
    assert status == OK and index == pytest.approx(52 / 0.75)
    # one role answering is one-sided: no index, not its value
    assert account_index(predicted, ["operator"], ROLE_WEIGHTS, 2) == (INSUFFICIENT_SIGNAL, None)


def test_a_role_of_weight_zero_adds_no_side_to_an_account() -> None:
    predicted = {"economic_buyer": 60.0, "technical_buyer": 80.0, "operator": 70.0}
    weights = {"economic_buyer": 0.5, "technical_buyer": 0.5, "operator": 0.0}
    # economic buyer and operator answered, but the operator weighs 0: one side only
    # (before: ok with index 0.5*60 / 0.5 = 60)
    assert account_index(predicted, ["economic_buyer", "operator"], weights, 2) == (
        INSUFFICIENT_SIGNAL, None)
    # two roles above zero: (0.5*60 + 0.5*80) / 1.0 = 70; the operator's answer changes nothing
    assert account_index(predicted, list(weights), weights, 2) == (OK, pytest.approx(70.0))


def test_account_rows_roll_up_predicted_reported_and_blocks() -> None:
    roles = pd.DataFrame({
        "client_id": ["C1"] * 3 + ["C2"] * 3, "role": list(ROLE_WEIGHTS) * 2,
        "segment": "metals", "status": OK,
        "predicted": [60.0, 80.0, 70.0, 50.0, 50.0, 50.0],
        "reported": [70.0, 90.0, np.nan, np.nan, 40.0, np.nan],
        "blocks": [{"table_stakes": 60.0}, {"table_stakes": 80.0, "functional": 90.0},
                   {"table_stakes": 70.0}, {}, {}, {}]})
    rows = account_rows(roles, ModelRules()).set_index("client_id")
    # C1: economic and technical buyers answered: predicted (24 + 28) / 0.75, reported
    # (0.4*70 + 0.35*90) / 0.75 = 59.5 / 0.75, table stakes the same as predicted, functional
    # only the technical buyer's 90. C2: one role answered -> insufficient signal.
    assert rows.loc["C1", "predicted"] == pytest.approx(52 / 0.75)
    assert rows.loc["C1", "reported"] == pytest.approx(59.5 / 0.75)
    assert rows.loc["C1", "blocks"] == pytest.approx({"table_stakes": 52 / 0.75,
                                                      "functional": 90.0})
    assert rows.loc["C2", "status"] == INSUFFICIENT_SIGNAL
    assert pd.isna(rows.loc["C2", "predicted"]) and pd.isna(rows.loc["C2", "reported"])
    assert set(rows["role"]) == {"account"}


# ---- reported satisfaction -------------------------------------------------------------------

def _answers(rows: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["client_id", "role", "survey_id", "question_id", "score"])


def test_reported_satisfaction_is_the_importance_weighted_csi_of_relationship_ratings() -> None:
    rules = satisfaction_rules()
    assert rules.model.target.measure == "csi"
    answers = _answers([
        ("C1", "economic_buyer", "rel_economic_buyer", "nps", 9),
        ("C1", "economic_buyer", "rel_economic_buyer", "acceptable_price", 4),
        ("C1", "economic_buyer", "rel_economic_buyer", "cost_reduction", 5),
        ("C1", "economic_buyer", "rel_economic_buyer", "responsiveness", 3),
        ("C1", "economic_buyer", "rel_economic_buyer", "responsiveness", 5),
        # a transactional survey's CSAT and factor rating are not the relationship's CSI
        ("C1", "operator", "tx_delivery_completed", "csat", 5),
        ("C1", "operator", "tx_delivery_completed", "availability", 1),
        # NPS alone gives no CSI (NPS is reported as itself, never blended in)
        ("C1", "technical_buyer", "rel_technical_buyer", "nps", 9),
        # a client of no segment of importance.yaml has no importance, so no CSI
        ("C2", "economic_buyer", "rel_economic_buyer", "acceptable_price", 5),
    ])
    got = reported_satisfaction(answers, {"C1": "metals", "C2": "unknown"}, rules)
    # metals economic buyer importance: acceptable_price 9, cost_reduction 8, responsiveness 6;
    # ratings (score - 1) * 25: 75, 100 and the mean of 50 and 100 = 75
    # CSI = (9 * 75 + 8 * 100 + 6 * 75) / (9 + 8 + 6) = 1925 / 23 = 83.696
    assert got[["client_id", "role"]].values.tolist() == [["C1", "economic_buyer"]]
    assert got.loc[0, "reported"] == pytest.approx(1925 / 23)
    assert got.loc[0, "answers"] == 4


def test_reported_satisfaction_can_be_one_named_overall_question() -> None:
    shipped = satisfaction_rules()
    target = SatisfactionTarget(measure="question", question="csat")
    rules = replace(shipped, model=shipped.model.model_copy(update={"target": target}))
    answers = _answers([("C1", "operator", "tx_delivery_completed", "csat", 4),
                        ("C1", "operator", "tx_otif_miss", "csat", 5),
                        ("C1", "operator", "rel_operator", "availability", 1)])
    got = reported_satisfaction(answers, {"C1": "metals"}, rules)
    # (4 - 1) * 25 = 75 and (5 - 1) * 25 = 100: mean 87.5; the factor rating is not the question
    assert got.loc[0, "reported"] == pytest.approx(87.5) and got.loc[0, "answers"] == 2
    with pytest.raises(ValidationError):
        SatisfactionTarget(measure="question")
    with pytest.raises(ValidationError):
        SatisfactionTarget(measure="csi", question="csat")


def test_model_rules_need_every_role_weight() -> None:
    with pytest.raises(ValidationError):
        ModelRules(role_weights={"operator": 1.0})
