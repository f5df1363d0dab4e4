"""The metric catalogue and the metric parameters: validation and consistency with the code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cx_tasks.config import rules_text
from cx_tasks.metrics.catalogue import MetricCatalogue, metric_catalogue
from cx_tasks.metrics.complaints import COMPLAINT_METRIC_FUNCTIONS
from cx_tasks.metrics.compute import METRIC_FUNCTIONS
from cx_tasks.metrics.parameters import MetricParameters, metric_parameters

EVERY_METRIC_FUNCTION = {**METRIC_FUNCTIONS, **COMPLAINT_METRIC_FUNCTIONS}


def test_catalogue_lists_every_computable_metric_the_code_defines() -> None:
    assert sorted(metric_catalogue().computable_ids()) == sorted(EVERY_METRIC_FUNCTION)


@pytest.mark.parametrize("metric_id", sorted(EVERY_METRIC_FUNCTION))
def test_catalogue_definition_is_the_functions_first_docstring_line(metric_id: str) -> None:
    first_line = EVERY_METRIC_FUNCTION[metric_id].__doc__.strip().splitlines()[0]
    assert metric_catalogue().by_id(metric_id).definition == first_line


def test_catalogue_holds_asked_metrics_of_the_methodology() -> None:
    asked = set(metric_catalogue().computable_ids()) ^ {m.id for m in metric_catalogue().metrics}
    assert {"nps", "csat", "ces", "csi", "account_manager_rating",
            "document_delivery_speed_rating", "product_quality_rating"} <= asked


def test_every_metric_has_its_collection_method_and_computable_means_from_the_system() -> None:
    catalogue = metric_catalogue()
    # 19 computable (17 by the metrics stage, 2 of the service desk's claims) of 38 listed
    assert (len(catalogue.computable_ids()), len(catalogue.metrics)) == (19, 38)
    methods = {m.id: m.collection for m in catalogue.metrics}
    assert {m for m, method in methods.items() if method == "system"} == set(
        catalogue.computable_ids())
    # asked only in meetings and calls today: no e-mail survey asks them
    assert {m for m, method in methods.items() if method == "in_person"} == {
        "share_of_wallet", "regulatory_compliance_rating", "employee_nps"}
    # a computable metric collected in person somewhere is refused
    data = yaml.safe_load(rules_text("metric_catalogue"))
    data["metrics"][0]["collection_by_segment"] = {"metals": "in_person"}
    with pytest.raises(ValidationError, match="collected from the system"):
        MetricCatalogue.model_validate(data)


def _catalogue_with(**change: object) -> dict:
    data = yaml.safe_load(rules_text("metric_catalogue"))
    data["metrics"][0].update(change)
    return data


@pytest.mark.parametrize("change", [
    {"factor": "speed"},            # not a value element
    {"kind": "guessed"},            # neither computable nor asked
    {"id": "OTIF Line"},            # not an id
    {"id": "otif_order"},           # listed twice
])
def test_catalogue_rejects_bad_rows(change: dict) -> None:
    with pytest.raises(ValidationError):
        MetricCatalogue.model_validate(_catalogue_with(**change))


def test_parameters_defaults_match_the_yaml_file() -> None:
    assert metric_parameters() == MetricParameters()
    assert metric_parameters().otif.quantity_share == pytest.approx(0.98)


def test_parameters_from_a_user_rules_folder(tmp_path: Path) -> None:
    (tmp_path / "metric_parameters.yaml").write_text(
        "windows: [7, 1]\nsummary_window_days: 7\notif: {days_late: 1}\n", encoding="utf-8")
    params = metric_parameters(tmp_path)
    assert params.windows == (1, 7) and params.otif.days_late == 1
    assert params.otif.days_early is None  # default kept: the stricter variant is off


@pytest.mark.parametrize("bad", [
    {"windows": [30, 30]},
    {"windows": [0, 30]},
    {"summary_window_days": 7},
    {"document_sla_hours": {"invoice": 24}},
    {"otif": {"quantity_pct": -1}},
    {"unknown_field": 1},
])
def test_parameters_reject_bad_values(bad: dict) -> None:
    with pytest.raises(ValidationError):
        MetricParameters.model_validate(bad)
