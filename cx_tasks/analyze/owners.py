"""Routing findings to owners: a finding's owner is its metric's own owner (``rules/owners.yaml``
``by_metric``, e.g. the account manager's rating -> account management), else the owner of
its process class (``by_process``); a finding without either, or on a class nobody owns, is
unowned and listed as such.

The owners themselves (departments, people, due days) are one rule table, validated by
``cx_tasks.feedback.rules.Owners``; this module only reads it.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from cx_tasks.analyze.taxonomy import PROCESS_CLASSES
from cx_tasks.feedback.rules import Owners, ProcessOwner


def owner_for_process(process_class: str | None, owners: Owners) -> ProcessOwner | None:
    """The owner of ``process_class`` (department, person, due days); None when the class
    is missing (null) or nobody owns it."""
    if process_class is None or pd.isna(process_class):
        return None
    return owners.by_process.get(process_class)


def owner_for(metric: str | None, process_class: str | None, owners: Owners
              ) -> ProcessOwner | None:
    """The owner of a finding on ``metric`` about ``process_class``: the metric's own owner
    (``by_metric``), else the process class's (``owner_for_process``)."""
    if metric is not None and not pd.isna(metric) and metric in owners.by_metric:
        return owners.by_metric[metric]
    return owner_for_process(process_class, owners)


def person_label(assigned: ProcessOwner) -> str:
    """The owning person as an address line: ``Name <email>``."""
    return f"{assigned.person.name} <{assigned.person.email}>"


def assign_owners(findings: pd.DataFrame, owners: Owners) -> pd.DataFrame:
    """``findings`` with ``owner``, ``owner_person`` and ``due_on`` (= ``found_on`` + the
    owner's due days) set from each row's ``metric`` (if any) and ``process_class``
    (``owner_for``); all three null when unowned."""
    out = findings.copy()
    metrics = out["metric"] if "metric" in out else pd.Series(None, index=out.index)
    assigned = [owner_for(m, pc, owners)
                for m, pc in zip(metrics, out["process_class"], strict=True)]

    def column(values: list[object]) -> pd.Series:
        return pd.Series(values, index=out.index, dtype=object)

    out["owner"] = column([a.owner if a else None for a in assigned])
    out["owner_person"] = column([person_label(a) if a else None for a in assigned])
    out["due_on"] = column([found + timedelta(days=a.due_days) if a else None
                            for found, a in zip(out["found_on"], assigned, strict=True)])
    return out


def process_owners(owners: Owners) -> pd.DataFrame:
    """Every process class with its department, person and due days (nulls where unowned),
    in the order of the customer journey: the routing table the CLI and the docs show."""
    rows = []
    for process_class in PROCESS_CLASSES:
        assigned = owner_for_process(process_class, owners)
        rows.append({
            "process_class": process_class,
            "owner": assigned.owner if assigned else None,
            "department": owners.owners[assigned.owner].name["en"] if assigned else None,
            "owner_person": person_label(assigned) if assigned else None,
            "due_days": assigned.due_days if assigned else None,
        })
    return pd.DataFrame(rows, columns=["process_class", "owner", "department", "owner_person",
                                       "due_days"])
