"""How well the classifier agrees with a known answer: the simulator's ground truth (the
demo; the pipeline itself never reads it) or a hand-labelled set (the benchmark).

Figures over the items the classifier decided (not sent to review): accuracy of the group,
of the process class and of both; per class precision = right / decided as that class and
recall = right / truly that class; the share sent to review is over all items.

A text that praises or asks is labelled with the group ``none`` (and its polarity,
``positive`` or ``neutral``); a ``no_complaint`` decision is the group ``none``. A process
class left empty is right where the label leaves it empty too (general praise).
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
NO_GROUP = "none"
"""The group of a text that voices no dissatisfaction (praise, a question): its label, and
what a ``no_complaint`` decision counts as."""
NO_COMPLAINT = "no_complaint"
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


def decided_group(labelled: pd.DataFrame) -> pd.Series:
    """The group decided: ``none`` for a ``no_complaint`` decision."""
    return labelled["dissatisfaction_group"].where(labelled["status"] != NO_COMPLAINT, NO_GROUP)


def right_labels(labelled: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per item, whether the decided group and the process class agree with the label (an
    empty process class agrees with an empty label)."""
    group_ok = decided_group(labelled) == labelled["true_group"]
    decided, true = labelled["process_class"], labelled["true_process_class"]
    process_ok = (decided == true) | (decided.isna() & true.isna())
    return group_ok, process_ok


def confusion(labelled: pd.DataFrame) -> pd.DataFrame:
    """Rows: the true group; columns: the decision (a group, or ``(review)``/``(status)``)."""
    shown = decided_group(labelled).where(labelled["status"] != REVIEW, "(review)")
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
    group_ok, process_ok = right_labels(decided)

    def mean(hits: pd.Series) -> float:
        return float(hits.mean()) if len(hits) else float("nan")

    return ClassifierFigures(
        items=len(labelled), review_share=mean(labelled["status"] == REVIEW),
        accuracy=mean(group_ok & process_ok), group_accuracy=mean(group_ok),
        process_accuracy=mean(process_ok),
        per_group=per_class(decided["true_group"], decided_group(decided),
                            (*DISSATISFACTION_GROUPS, NO_GROUP)).round(3),
        confusion=confusion(labelled))


@dataclass(frozen=True)
class PolarityFigures:
    """Praise and questions against complaints, per language, and the deterioration group
    (a regression) against the recurring flag (a repeat), on a labelled set."""

    no_complaint_recall: float
    """Share of the praise and neutral texts decided as no complaint (review counts as a
    miss)."""
    no_complaint_recall_decided: float
    """The same among those not sent to review."""
    no_complaint_decided: int
    complaints_as_praise: float
    """Share of the complaints not sent to review that were decided as praise."""
    complaints_as_no_complaint: float
    """... decided as no complaint at all (praise or neutral)."""
    accuracy_by_language: dict[str, float]
    review_by_language: dict[str, float]
    deterioration_precision: float
    deterioration_recall: float
    recurring_precision: float
    recurring_recall: float


def polarity_figures(labelled: pd.DataFrame) -> PolarityFigures:
    """:class:`PolarityFigures` of classes joined with labels (``true_group``,
    ``true_process_class``, ``true_polarity``, ``lang``, ``true_recurring``)."""
    quiet = labelled["true_polarity"].isin(["positive", "neutral"])
    decided = labelled["status"] != REVIEW
    said_none = labelled["status"] == NO_COMPLAINT
    complaint = ~quiet & decided
    group_ok, process_ok = right_labels(labelled)
    right = group_ok & process_ok

    def share(hits: pd.Series, among: pd.Series) -> float:
        return float(hits[among].mean()) if among.any() else float("nan")

    languages = sorted(labelled["lang"].dropna().unique())
    worse_true = labelled["true_group"] == "deterioration"
    worse_said = decided & (labelled["dissatisfaction_group"] == "deterioration")
    again_true = labelled["true_recurring"].fillna(False).astype(bool)
    again_said = decided & labelled["recurring"].fillna(False).astype(bool)
    return PolarityFigures(
        no_complaint_recall=share(said_none, quiet),
        no_complaint_recall_decided=share(said_none, quiet & decided),
        no_complaint_decided=int((quiet & decided).sum()),
        complaints_as_praise=share(said_none & (labelled["polarity"] == "positive"), complaint),
        complaints_as_no_complaint=share(said_none, complaint),
        accuracy_by_language={lang: share(right, decided & (labelled["lang"] == lang))
                              for lang in languages},
        review_by_language={lang: share(~decided, labelled["lang"] == lang)
                            for lang in languages},
        deterioration_precision=share(worse_true, worse_said),
        deterioration_recall=share(worse_said, worse_true & decided),
        recurring_precision=share(again_true, again_said),
        recurring_recall=share(again_said, again_true & decided))


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
