"""How well the classifier agrees with a known answer: the simulator's ground truth (the
demo; the pipeline itself never reads it) or a hand-labelled set (the benchmark).

Figures over the items the classifier decided (not sent to review): accuracy of the group,
of the process class and of both; per class precision = right / decided as that class and
recall = right / truly that class; the share sent to review is over all items.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, select

from cx_tasks.analyze.taxonomy import DISSATISFACTION_GROUPS
from cx_tasks.warehouse.schema import feedback, feedback_classes

REVIEW = "review"
SOURCE_TABLES = {"claim": "sd_claims", "ticket": "sd_tickets"}
"""Feedback source -> the service-desk table the simulator's answer key names."""


def per_class(truth: pd.Series, decided: pd.Series, classes: tuple[str, ...]) -> pd.DataFrame:
    """Per class: items truly of it (support), decided as it, precision = right / decided,
    recall = right / support (NaN where the denominator is 0)."""
    rows = []
    for name in classes:
        right = int(((truth == name) & (decided == name)).sum())
        support, predicted = int((truth == name).sum()), int((decided == name).sum())
        rows.append({"class": name, "support": support, "decided": predicted,
                     "precision": right / predicted if predicted else float("nan"),
                     "recall": right / support if support else float("nan")})
    return pd.DataFrame(rows)


def confusion(labelled: pd.DataFrame) -> pd.DataFrame:
    """Rows: the true group; columns: the decision (a group, or ``(review)``/``(status)``)."""
    shown = labelled["dissatisfaction_group"].where(labelled["status"] != REVIEW, "(review)")
    shown = shown.fillna("(" + labelled["status"] + ")")
    return pd.crosstab(labelled["true_group"], shown, rownames=["true \\ decided"],
                       colnames=[""])


@dataclass(frozen=True)
class ClassifierFigures:
    """The classifier's agreement with an answer key."""

    items: int
    review_share: float
    accuracy: float
    group_accuracy: float
    process_accuracy: float
    per_group: pd.DataFrame
    confusion: pd.DataFrame


def figures(labelled: pd.DataFrame) -> ClassifierFigures:
    """Figures of classes joined with their true labels (``true_group``,
    ``true_process_class``); ``accuracy`` needs both group and process class right."""
    decided = labelled[labelled["status"] != REVIEW]
    group_ok = decided["dissatisfaction_group"] == decided["true_group"]
    process_ok = decided["process_class"] == decided["true_process_class"]

    def mean(hits: pd.Series) -> float:
        return float(hits.mean()) if len(hits) else float("nan")

    return ClassifierFigures(
        items=len(labelled), review_share=mean(labelled["status"] == REVIEW),
        accuracy=mean(group_ok & process_ok), group_accuracy=mean(group_ok),
        process_accuracy=mean(process_ok),
        per_group=per_class(decided["true_group"], decided["dissatisfaction_group"],
                            DISSATISFACTION_GROUPS).round(3),
        confusion=confusion(labelled))


def with_true_labels(classes: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Stored classes of claims and tickets (feedback ids ``claim:<id>``, ``ticket:<id>``)
    joined with the simulator's labels (source_table, ref_id, group, process_class, cause);
    items without a label are left out."""
    source = classes["feedback_id"].str.split(":", n=1)
    keyed = classes.assign(source_table=source.str[0].map(SOURCE_TABLES), ref_id=source.str[1])
    truth = labels.rename(columns={"group": "true_group", "process_class": "true_process_class",
                                   "cause": "true_cause"})
    return keyed.merge(truth, on=["source_table", "ref_id"], how="inner")


def classifier_figures(conn: Connection, ground_truth: Path) -> ClassifierFigures:
    """The stored classification of the claims and tickets against the simulator's answer
    key (``ground_truth.db``, table ``feedback_labels``)."""
    rows = conn.execute(select(feedback_classes.c.feedback_id, feedback_classes.c.status,
                               feedback_classes.c.dissatisfaction_group,
                               feedback_classes.c.process_class)
                        .join(feedback, feedback.c.feedback_id == feedback_classes.c.feedback_id)
                        .where(feedback.c.source.in_(list(SOURCE_TABLES)))).all()
    classes = pd.DataFrame(rows, columns=["feedback_id", "status", "dissatisfaction_group",
                                          "process_class"])
    with sqlite3.connect(ground_truth) as truth:
        labels = pd.read_sql("select source_table, ref_id, \"group\", process_class, cause "
                             "from feedback_labels", truth)
    return figures(with_true_labels(classes, labels))
