"""Each survey question measures what its metric says: the question -> metric -> factor map, the
account manager's rating (who is asked, who owns it, per manager)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from pydantic import ValidationError

from cx_tasks.analyze.account_managers import NO_MANAGER, rating_questions, ratings_by_manager
from cx_tasks.analyze.factors import FactorCatalogue, factor_catalogue
from cx_tasks.analyze.findings import satisfaction_drop_findings
from cx_tasks.analyze.owners import assign_owners
from cx_tasks.config import parse_yaml, rules_text
from cx_tasks.feedback.rules import owners
from cx_tasks.metrics.catalogue import metric_catalogue
from cx_tasks.surveys.catalogue import Question, survey_catalogue

# question -> (the metric its answers give, the factor it rates), read off each question's
# text and each metric's definition
SHIPPED = {
    "availability": ("delivery_reliability_rating", "availability"),
    "meeting_specifications": ("specification_compliance_rating", "meeting_specifications"),
    "information_transparency": ("document_delivery_speed_rating", "information_transparency"),
    "responsiveness": ("support_responsiveness_rating", "responsiveness"),
    "claims_handling": ("claims_handling_rating", "responsiveness"),
    "acceptable_price": ("price_fairness_rating", "acceptable_price"),
    "cost_reduction": ("total_cost_rating", "cost_reduction"),
    "product_quality": ("product_quality_rating", "product_quality"),
    "account_manager": ("account_manager_rating", "expertise"),
    # "easy to place and track an order" (before: the packaging question fed this metric)
    "ordering_ease": ("ordering_ease_rating", "reduced_effort"),
    # "packaging, labelling, receiving" (before: "free of hassle" fed this metric)
    "packaging_handling": ("packaging_rating", "decreased_hassles"),
}


def test_every_factor_question_gives_the_metric_and_factor_it_asks_about() -> None:
    questions = survey_catalogue().questions
    got = {q: (question.metric, question.factor) for q, question in questions.items()
           if question.kind == "factor"}
    assert got == SHIPPED
    # factors.yaml reads each of those metrics from that same question
    from_factors = {m.question: (m.metric, f.id) for f in factor_catalogue().factors
                    for m in f.metrics if m.question}
    assert from_factors == SHIPPED
    assert "ease of handling" not in questions["ordering_ease"].text["en"]
    assert "packaging" in questions["packaging_handling"].text["en"]


def test_a_question_giving_a_metric_of_another_factor_is_refused() -> None:
    data = parse_yaml(rules_text("factors"))
    questions = dict(survey_catalogue().questions)
    # the packaging question claiming to give the ordering-ease metric
    questions["packaging_handling"] = Question(
        kind="factor", factor="decreased_hassles", metric="ordering_ease_rating",
        text=questions["packaging_handling"].text)
    with pytest.raises(ValidationError, match="packaging_handling"):
        FactorCatalogue.model_validate(data, context={"metric_catalogue": metric_catalogue(),
                                                      "questions": questions})
    with pytest.raises(ValidationError, match="factor and a metric"):
        Question(kind="factor", factor="expertise", text={"ru": "x", "en": "x"})


def test_the_account_manager_is_rated_by_the_roles_the_catalogue_names() -> None:
    catalogue = survey_catalogue()
    asked_by = {r for s in catalogue.surveys if "account_manager" in s.questions
                for r in s.roles}
    # metric catalogue: "survey: relationship (economic buyer, technical buyer)"
    assert "economic buyer, technical buyer" in metric_catalogue().by_id(
        "account_manager_rating").source
    assert asked_by == {"economic_buyer", "technical_buyer"}
    assert rating_questions(catalogue) == ["account_manager"]


def test_findings_on_the_account_managers_rating_go_to_account_management() -> None:
    routing = owners()
    assert set(routing.by_metric) <= {m.id for m in metric_catalogue().metrics}
    findings = pd.DataFrame({
        "metric": ["account_manager_rating", "otif_line", None],
        "process_class": [None, "delivery_planning", "documents"],
        "found_on": [date(2026, 5, 1)] * 3})
    got = assign_owners(findings, routing)
    # the rating has no process class: its own owner; OTIF and a cluster: their process's
    assert got["owner"].tolist() == ["key_accounts", "logistics", "documents_desk"]
    assert got["due_on"].tolist()[0] == date(2026, 5, 15)  # 14 days


def test_ratings_are_reported_per_account_manager() -> None:
    answers = pd.DataFrame([
        ("C1", "economic_buyer", "account_manager", 5.0),
        ("C1", "technical_buyer", "account_manager", 3.0),
        ("C2", "economic_buyer", "account_manager", 4.0),
        ("C3", "technical_buyer", "account_manager", 1.0),
        ("C4", "economic_buyer", "account_manager", 2.0),
        ("C1", "economic_buyer", "acceptable_price", 1.0),  # another question: not counted
    ], columns=["client_id", "role", "question_id", "score"])
    managers = {"C1": "Ivanova", "C2": "Ivanova", "C3": "Petrov", "C4": None}
    got = ratings_by_manager(answers, managers, ["account_manager"])
    # Petrov: C3's 1 -> 1.0; C4 has no manager: 2.0; Ivanova: (5 + 3 + 4) / 3 = 4.0
    assert got.values.tolist() == [
        ["Petrov", 1.0, 1, 1, "technical_buyer"],
        [NO_MANAGER, 2.0, 1, 1, "economic_buyer"],
        ["Ivanova", 4.0, 3, 2, "economic_buyer, technical_buyer"],
    ]


def test_a_drop_caused_by_the_account_managers_rating_is_owned_by_account_management() -> None:
    drops = pd.DataFrame({"client_id": ["C1"], "segment": ["metals"], "drop": [12.0],
                          "process_class": [None], "factor": ["expertise"],
                          "metric": ["account_manager_rating"]})
    got = satisfaction_drop_findings(drops, owners(), date(2026, 5, 1)).iloc[0]
    assert (got["owner"], got["due_on"]) == ("key_accounts", date(2026, 5, 15))
    assert got["summary"].endswith("main cause: account_manager_rating")
