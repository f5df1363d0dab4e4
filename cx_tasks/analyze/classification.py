"""Classification in the warehouse: classify every piece of feedback with a text, apply the
people's reviews, store ``feedback_classes``; the manual review queue and recording a review.

A run for ``as_of`` reads every ``feedback`` row with a non-blank text that occurred before
``as_of + 1 day``, the operational context known by then (:mod:`cx_tasks.analyze.context`)
and the reviews made by then, and upserts one ``feedback_classes`` row per item
(``classified_on = as_of``): a second run for the same ``as_of`` writes the same rows.
A person's review overrides the classifier: status ``reviewed``, the reviewer's group and
process class, confidence 1, polarity ``negative`` (a person chose a group of
dissatisfaction), the classifier's cause kept only when its process class is the reviewer's,
the classifier's own evidence kept after the review's. A review that says "no complaint"
(polarity ``positive`` or ``neutral``) gives status ``no_complaint``: no group, cause or
deterioration, not recurring, the process class the person named or else the classifier's,
confidence 1; like the classifier's own ``no_complaint`` it is never a complaint downstream.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from cx_tasks.analyze.classify import (
    CLASS_COLUMNS,
    Classifier,
    classify,
    load_classifier,
    raw_rules,
)
from cx_tasks.analyze.confidence import ConfidenceMap, fit_confidence_map, outcomes
from cx_tasks.analyze.context import day_end, read_context
from cx_tasks.analyze.taxonomy import (
    DISSATISFACTION_GROUPS,
    NO_COMPLAINT_POLARITIES,
    PROCESS_CLASSES,
)
from cx_tasks.warehouse.db import began, upsert
from cx_tasks.warehouse.schema import feedback, feedback_classes, feedback_reviews

FEEDBACK_COLUMNS = ["feedback_id", "source", "client_id", "text", "occurred_at"]
REVIEW_COLUMNS = ["feedback_id", "dissatisfaction_group", "process_class", "reviewer",
                  "reviewed_at", "polarity"]



@dataclass
class ClassificationSummary:
    """What one classification run decided."""

    as_of: date
    classifier_version: str
    items: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_group: Counter[str] = field(default_factory=Counter)
    by_deterioration_rule: Counter[str] = field(default_factory=Counter)
    by_polarity: Counter[str] = field(default_factory=Counter)
    recurring: int = 0

    @property
    def review_share(self) -> float:
        """Share of the items waiting in the review queue (0 when there are none)."""
        return self.by_status["review"] / self.items if self.items else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values (for XCom and reports)."""
        return {**asdict(self), "as_of": self.as_of.isoformat(),
                "by_status": dict(self.by_status), "by_group": dict(self.by_group),
                "by_deterioration_rule": dict(self.by_deterioration_rule),
                "by_polarity": dict(self.by_polarity),
                "review_share": round(self.review_share, 4)}


def read_feedback(conn: Connection, as_of: date) -> pd.DataFrame:
    """Feedback with a non-blank text that occurred before ``as_of + 1 day``, oldest first."""
    rows = conn.execute(
        select(*(feedback.c[c] for c in FEEDBACK_COLUMNS))
        .where(feedback.c.text.is_not(None), func.trim(feedback.c.text) != "",
               feedback.c.occurred_at < day_end(as_of))
        .order_by(feedback.c.occurred_at, feedback.c.feedback_id)).all()
    return pd.DataFrame(rows, columns=FEEDBACK_COLUMNS)


def read_reviews(conn: Connection, as_of: date) -> pd.DataFrame:
    """Reviews made before ``as_of + 1 day``."""
    rows = conn.execute(select(*(feedback_reviews.c[c] for c in REVIEW_COLUMNS))
                        .where(feedback_reviews.c.reviewed_at < day_end(as_of))).all()
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)


def apply_reviews(classes: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """The classes with each reviewed item's decision replaced by the person's (module
    docstring)."""
    out = classes.copy()
    by_id = reviews.set_index("feedback_id")
    hit = out["feedback_id"].isin(by_id.index).to_numpy()
    for i in out.index[hit]:
        review = by_id.loc[out.at[i, "feedback_id"]]
        said = (f"classifier said {out.at[i, 'status']} {out.at[i, 'dissatisfaction_group']}/"
                f"{out.at[i, 'process_class']}")
        by_person = (f"reviewed by {review['reviewer']} on "
                     f"{pd.Timestamp(review['reviewed_at']).date()}")
        out.at[i, "confidence"] = 1.0
        out.at[i, "polarity"] = review["polarity"]
        if review["polarity"] in NO_COMPLAINT_POLARITIES:
            if isinstance(review["process_class"], str):
                out.at[i, "process_class"] = review["process_class"]
            out.at[i, "status"] = "no_complaint"
            out.at[i, "dissatisfaction_group"] = None
            out.at[i, "cause"] = out.at[i, "deterioration"] = None
            out.at[i, "recurring"] = False
            by_person += f" as no complaint ({review['polarity']})"
        else:
            if out.at[i, "process_class"] != review["process_class"]:
                out.at[i, "cause"] = None
            out.at[i, "status"] = "reviewed"
            out.at[i, "dissatisfaction_group"] = review["dissatisfaction_group"]
            out.at[i, "process_class"] = review["process_class"]
            out.at[i, "deterioration"] = ("review" if review["dissatisfaction_group"]
                                          == "deterioration" else None)
        out.at[i, "evidence"] = f"{by_person} ({said}); " + out.at[i, "evidence"]
    return out


def classify_feedback(engine_or_conn: Engine | Connection, as_of: date,
                      classifier: Classifier | None = None) -> ClassificationSummary:
    """Classify all feedback known by the end of ``as_of`` and upsert ``feedback_classes``
    (module docstring); ``classifier`` defaults to the rule tables' (``load_classifier``)."""
    classifier = classifier or load_classifier()
    with began(engine_or_conn) as conn:
        return _classify_in(conn, as_of, classifier)


def _classify_in(conn: Connection, as_of: date, classifier: Classifier) -> ClassificationSummary:
    items = read_feedback(conn, as_of)
    summary = ClassificationSummary(as_of, classifier.version, len(items))
    if items.empty:
        return summary
    reviews = read_reviews(conn, as_of)
    classes = classify(items, read_context(conn, as_of), classifier, as_of, reviews=reviews)
    classes = apply_reviews(classes, reviews)
    upsert(conn, feedback_classes, classes[CLASS_COLUMNS].to_dict("records"))
    summary.by_status.update(classes["status"])
    summary.by_group.update(classes["dissatisfaction_group"].dropna())
    summary.by_deterioration_rule.update(classes["deterioration"].dropna())
    summary.by_polarity.update(classes["polarity"].dropna())
    summary.recurring = int(classes["recurring"].fillna(False).astype(bool).sum())
    return summary


def review_queue(conn: Connection) -> pd.DataFrame:
    """Items waiting for a person: status ``review`` and no review recorded yet, oldest
    first, with their text and the classifier's evidence."""
    query = (select(feedback_classes.c.feedback_id, feedback_classes.c.client_id,
                    feedback.c.source, feedback.c.occurred_at, feedback.c.text,
                    feedback_classes.c.confidence, feedback_classes.c.evidence,
                    feedback_classes.c.classified_on)
             .select_from(feedback_classes.join(
                 feedback, feedback.c.feedback_id == feedback_classes.c.feedback_id))
             .where(feedback_classes.c.status == "review",
                    ~select(feedback_reviews.c.feedback_id)
                    .where(feedback_reviews.c.feedback_id == feedback_classes.c.feedback_id)
                    .exists())
             .order_by(feedback.c.occurred_at, feedback_classes.c.feedback_id))
    rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["feedback_id", "client_id", "source", "occurred_at",
                                       "text", "confidence", "evidence", "classified_on"])


def record_review(conn: Connection, feedback_id: str, group: str, process_class: str,
                  reviewer: str, reviewed_at: datetime) -> None:
    """Store (or replace) a person's label for a feedback item: a complaint of ``group`` and
    ``process_class``; the next classification run applies it. Raises ValueError for an
    unknown item, group or process class."""
    if group not in DISSATISFACTION_GROUPS:
        raise ValueError(f"group {group!r} is not one of {', '.join(DISSATISFACTION_GROUPS)}")
    if process_class not in PROCESS_CLASSES:
        raise ValueError(f"process class {process_class!r} is not one of "
                         f"{', '.join(PROCESS_CLASSES)}")
    _store_review(conn, feedback_id, group, process_class, "negative", reviewer, reviewed_at)


def record_no_complaint(conn: Connection, feedback_id: str, polarity: str,
                        process_class: str | None, reviewer: str,
                        reviewed_at: datetime) -> None:
    """Store (or replace) a person's "no complaint" for a feedback item: praise
    (``positive``) or a question, request or information (``neutral``), about
    ``process_class`` (None: the classifier's stays); the next classification run applies it.
    Raises ValueError for an unknown item, polarity or process class."""
    if polarity not in NO_COMPLAINT_POLARITIES:
        raise ValueError(f"polarity {polarity!r} is not one of "
                         f"{', '.join(NO_COMPLAINT_POLARITIES)}")
    if process_class is not None and process_class not in PROCESS_CLASSES:
        raise ValueError(f"process class {process_class!r} is not one of "
                         f"{', '.join(PROCESS_CLASSES)}")
    _store_review(conn, feedback_id, None, process_class, polarity, reviewer, reviewed_at)


def _store_review(conn: Connection, feedback_id: str, group: str | None,
                  process_class: str | None, polarity: str, reviewer: str,
                  reviewed_at: datetime) -> None:
    if not reviewer.strip():
        raise ValueError("reviewer is empty")
    known = conn.scalar(select(feedback.c.feedback_id).where(feedback.c.feedback_id == feedback_id))
    if known is None:
        raise ValueError(f"no feedback {feedback_id!r}")
    upsert(conn, feedback_reviews, [{"feedback_id": feedback_id, "dissatisfaction_group": group,
                                     "process_class": process_class, "polarity": polarity,
                                     "reviewer": reviewer.strip(),
                                     "reviewed_at": reviewed_at}])


def refit_confidence(conn: Connection, as_of: date,
                     classifier: Classifier | None = None) -> ConfidenceMap:
    """The confidence table (``confidence`` in ``classifier.yaml``) fitted on the people's
    reviews made by the end of ``as_of``: all feedback classified by the raw rules
    (:func:`cx_tasks.analyze.classify.raw_rules`: the margin, no learned model), each
    reviewed item's decision compared with its review. Reviews cover mostly the margins the
    queue showed; review a sample of classified items too, or the table above the threshold
    rests on few items.
    Raises ValueError when no reviewed item has a label from the rules."""
    classifier = classifier or load_classifier()
    items, reviews = read_feedback(conn, as_of), read_reviews(conn, as_of)
    if not items["feedback_id"].isin(reviews["feedback_id"]).any():
        raise ValueError(f"no reviewed feedback by {as_of}")
    classes = classify(items, read_context(conn, as_of), raw_rules(classifier), as_of)
    labelled = classes.merge(reviews.rename(columns={
        "dissatisfaction_group": "true_group", "process_class": "true_process_class"}),
        on="feedback_id")
    margins, right = outcomes(labelled)
    return fit_confidence_map(margins, right,
                              f"{len(margins)} reviewed items by {as_of}, fitted {as_of}")
