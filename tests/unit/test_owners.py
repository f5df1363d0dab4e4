"""Owners per process class: routing, unowned classes, due dates and the rule table's checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from cx_tasks.analyze.owners import assign_owners, owner_for_process, process_owners
from cx_tasks.config import rules_text
from cx_tasks.feedback.rules import owners

OWNERS = owners()


def _rules_dir(tmp_path: Path, change) -> Path:
    """A rules folder whose owners.yaml is the shipped one changed by ``change(data)``."""
    data = yaml.safe_load(rules_text("owners"))
    change(data)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "owners.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                          encoding="utf-8")
    return tmp_path


def test_each_process_class_is_routed_to_its_department_and_person() -> None:
    documents = owner_for_process("documents", OWNERS)
    assert documents is not None
    assert (documents.owner, documents.person.name, documents.due_days) == (
        "documents_desk", "Anna Sokolova", 7)
    assert owner_for_process("delivery_planning", OWNERS).owner == "logistics"
    assert owner_for_process("payments", OWNERS).owner == "credit_control"
    assert owner_for_process(None, OWNERS) is None


def test_acknowledgement_owners_are_unchanged_by_the_process_owners() -> None:
    owner_id, owner, promise = OWNERS.for_source("claim")
    assert (owner_id, owner.email, promise.respond_within_hours) == (
        "quality", "claims@example.com", 24)


def test_due_date_is_found_on_plus_the_owners_due_days() -> None:
    frame = pd.DataFrame({"process_class": ["delivery_planning", "documents", None],
                          "found_on": [date(2025, 3, 1)] * 3})
    routed = assign_owners(frame, OWNERS)
    # delivery planning: 14 days -> 15 March; documents: 7 days -> 8 March; none: unowned.
    assert list(routed["owner"]) == ["logistics", "documents_desk", None]
    assert list(routed["owner_person"]) == ["Sergei Ivanov <s.ivanov@example.com>",
                                            "Anna Sokolova <a.sokolova@example.com>", None]
    assert list(routed["due_on"]) == [date(2025, 3, 15), date(2025, 3, 8), None]


def test_a_process_class_left_out_of_the_table_is_unowned(tmp_path: Path) -> None:
    reduced = owners(_rules_dir(tmp_path, lambda d: d["by_process"].pop("pricing")))
    assert owner_for_process("pricing", reduced) is None
    table = process_owners(reduced).set_index("process_class")
    assert table.loc["pricing"].isna().all()
    assert table.loc["documents", "department"] == "Documents desk"
    assert len(table) == 7


def test_an_unknown_process_class_or_owner_is_rejected(tmp_path: Path) -> None:
    def unknown_class(data: dict) -> None:
        data["by_process"]["logistics"] = data["by_process"]["pricing"]

    def unknown_owner(data: dict) -> None:
        data["by_process"]["pricing"]["owner"] = "marketing"

    with pytest.raises(ValidationError, match="unknown process classes"):
        owners(_rules_dir(tmp_path / "a", unknown_class))
    with pytest.raises(ValidationError, match="unknown owners"):
        owners(_rules_dir(tmp_path / "b", unknown_owner))


def test_due_days_must_be_positive(tmp_path: Path) -> None:
    def zero_days(data: dict) -> None:
        data["by_process"]["pricing"]["due_days"] = 0

    with pytest.raises(ValidationError):
        owners(_rules_dir(tmp_path, zero_days))
