"""Findings: complaint clusters, metric thresholds (both directions), satisfaction drops,
owners and due dates, unowned findings, and the checks of findings.yaml."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from cx_tasks.analyze.findings import (
    FINDING_COLUMNS,
    ThresholdRule,
    complaint_cluster_findings,
    findings_rules,
    metric_threshold_findings,
    satisfaction_drop_findings,
    unowned_findings,
)
from cx_tasks.config import rules_text
from cx_tasks.feedback.rules import owners
from cx_tasks.metrics.catalogue import metric_catalogue

OWNERS = owners()
CATALOGUE = metric_catalogue()
FOUND = date(2025, 3, 1)


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("finding_id")


PARETO = pd.DataFrame(
    [  # segment, measure, process_class, complaints, share, vital_few
        ("metals", "count", "delivery_planning", 5, 0.5, True),
        ("metals", "count", "documents", 3, 0.3, True),
        ("metals", "count", "pricing", 2, 0.2, False),
        ("metals", "revenue", "pricing", 2, 0.9, True),
        ("chemicals", "count", "payments", 2, 1.0, True),
        ("all", "count", "delivery_planning", 7, 0.7, True),
    ],
    columns=["segment", "measure", "process_class", "complaints", "share", "vital_few"])


def test_clusters_are_vital_few_segment_classes_with_enough_complaints() -> None:
    found = _by_id(complaint_cluster_findings(PARETO, 3, OWNERS, FOUND))
    # metals pricing is not vital by count (its revenue rank does not count), chemicals
    # payments has 2 < 3 complaints, and segment "all" is no cluster of its own.
    assert list(found.index) == ["cluster:metals:delivery_planning", "cluster:metals:documents"]
    assert set(found["kind"]) == {"complaint_cluster"}
    assert found.loc["cluster:metals:delivery_planning", "summary"] == (
        "5 complaints about delivery planning from segment metals "
        "(50% of the segment's complaints; in the vital few)")
    # logistics owns delivery planning, due in 14 days; the documents desk in 7.
    assert list(found["owner"]) == ["logistics", "documents_desk"]
    assert list(found["due_on"]) == [date(2025, 3, 15), date(2025, 3, 8)]
    assert found["client_id"].isna().all()


VALUES = pd.DataFrame(
    [  # client_id, segment, metric, window_days, value, denominator
        ("C1", "metals", "otif_line", 30, 0.85, 10.0),    # 0.85 < 0.90: finding
        ("C2", "metals", "otif_line", 30, 0.90, 10.0),    # equal to the threshold: fine
        ("C3", "chemicals", "otif_line", 30, 0.50, 2.0),  # 2 lines < min_denominator 5
        ("C1", "metals", "otif_line", 90, 0.50, 40.0),    # not the rule's window
        ("C2", "metals", "payment_days_overdue", 90, 20.0, 3.0),   # 20 > 15 days: finding
        ("C3", "chemicals", "payment_days_overdue", 90, 10.0, 3.0),  # 10 <= 15: fine
        ("C4", None, "payment_days_overdue", 90, None, None),      # no value: not judged
    ],
    columns=["client_id", "segment", "metric", "window_days", "value", "denominator"])
RULES = (ThresholdRule(metric="otif_line", window_days=30, threshold=0.90, min_denominator=5),
         ThresholdRule(metric="payment_days_overdue", window_days=90, threshold=15))


def test_metric_thresholds_follow_the_catalogues_direction() -> None:
    found = _by_id(metric_threshold_findings(VALUES, RULES, CATALOGUE, OWNERS, FOUND))
    assert list(found.index) == ["metric:C1:otif_line:30d", "metric:C2:payment_days_overdue:90d"]
    otif = found.loc["metric:C1:otif_line:30d"]
    # otif_line: higher is better, delivery planning -> logistics, factor availability.
    assert (otif["kind"], otif["client_id"], otif["segment"], otif["process_class"],
            otif["factor"], otif["owner"], otif["due_on"]) == (
        "metric_threshold", "C1", "metals", "delivery_planning", "availability", "logistics",
        date(2025, 3, 15))
    assert otif["summary"] == ("OTIF (order lines) of client C1 over 30 days is 0.85 share; "
                               "the threshold is at least 0.9")
    # payment_days_overdue: higher is NOT better, so 20 above 15 is the finding; payments ->
    # credit control, 30 days -> 31 March.
    late = found.loc["metric:C2:payment_days_overdue:90d"]
    assert (late["owner"], late["due_on"]) == ("credit_control", date(2025, 3, 31))
    assert late["summary"].endswith("is 20 days; the threshold is at most 15")


def test_a_metric_without_a_process_class_gives_an_unowned_finding() -> None:
    values = pd.DataFrame({"client_id": ["C1"], "segment": ["metals"],
                           "metric": ["order_frequency"], "window_days": [90],
                           "value": [0.5], "denominator": [None]})
    rule = ThresholdRule(metric="order_frequency", window_days=90, threshold=1.0)
    found = metric_threshold_findings(values, [rule], CATALOGUE, OWNERS, FOUND)
    # 0.5 orders per 30 days < 1.0; order_frequency names no process class -> nobody owns it.
    assert list(found["finding_id"]) == ["metric:C1:order_frequency:90d"]
    assert found[["owner", "owner_person", "due_on"]].isna().all(axis=None)
    assert list(unowned_findings(found)["finding_id"]) == ["metric:C1:order_frequency:90d"]


def test_removing_a_process_owner_lists_its_findings_as_unowned(tmp_path: Path) -> None:
    data = yaml.safe_load(rules_text("owners"))
    del data["by_process"]["delivery_planning"]
    (tmp_path / "owners.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                          encoding="utf-8")
    reduced = owners(tmp_path)
    found = metric_threshold_findings(VALUES, RULES, CATALOGUE, reduced, FOUND)
    unowned = unowned_findings(found)
    assert list(unowned["finding_id"]) == ["metric:C1:otif_line:30d"]
    assert unowned.loc[0, "factor"] == "availability"
    assert unowned.loc[0, "due_on"] is None
    assert list(found["owner"]) == [None, "credit_control"]


DROPS = pd.DataFrame({"client_id": ["C1", "C2"], "segment": ["metals", "chemicals"],
                      "drop": [12.34, 8.0], "process_class": ["documents", None]})


def test_satisfaction_drops_go_to_the_owner_of_their_main_cause() -> None:
    found = _by_id(satisfaction_drop_findings(DROPS, OWNERS, FOUND))
    assert list(found.index) == ["drop:C1", "drop:C2"]
    assert found.loc["drop:C1", "summary"] == (
        "Satisfaction of client C1 fell by 12.3 points; main cause: documents")
    assert (found.loc["drop:C1", "owner"], found.loc["drop:C1", "due_on"]) == (
        "documents_desk", date(2025, 3, 8))
    assert found.loc["drop:C2", "summary"].endswith("main cause unknown")
    assert list(unowned_findings(found.reset_index())["finding_id"]) == ["drop:C2"]
    assert list(found.reset_index().columns) == FINDING_COLUMNS


def test_a_drop_keeps_the_factor_and_metric_of_its_cause() -> None:
    found = satisfaction_drop_findings(
        DROPS.assign(factor=["information_transparency", None],
                     metric=["document_within_sla", None]), OWNERS, FOUND)
    assert list(found["factor"]) == ["information_transparency", None]
    assert list(found["metric"]) == ["document_within_sla", None]


def test_no_rows_give_an_empty_frame_with_every_column() -> None:
    found = complaint_cluster_findings(PARETO.iloc[0:0], 3, OWNERS, FOUND)
    assert found.empty and list(found.columns) == FINDING_COLUMNS


def _findings_dir(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(rules_text("findings"))
    change(data)
    (tmp_path / "findings.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return tmp_path


def test_the_shipped_rules_load_with_their_documented_defaults() -> None:
    rules = findings_rules()
    assert (rules.pareto.cutoff, rules.pareto.window_days) == (0.8, (30, 90))
    assert (rules.clusters.window_days, rules.clusters.min_complaints) == (30, 3)
    assert rules.thresholds[0] == ThresholdRule(metric="otif_line", window_days=30,
                                                threshold=0.70, min_denominator=10)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["thresholds"].append({"metric": "happiness", "window_days": 30,
                                       "threshold": 1}), "unknown metrics"),
    (lambda d: d["pareto"].update(window_days=[30, 60]), "not metric windows"),
])
def test_rules_are_checked_against_the_catalogue_and_metric_windows(
        tmp_path: Path, change, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        findings_rules(_findings_dir(tmp_path, change))


def test_the_cluster_window_must_be_a_pareto_window(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="clusters.window_days"):
        findings_rules(_findings_dir(tmp_path, lambda d: d["clusters"].update(window_days=365)))
