"""How well the classifier of dissatisfaction does, against labels it never saw.

    .venv/bin/python bench/bench_classifier.py [--data /work/demo-data] [--as-of 2026-11-30]

(a) Simulated ground truth: every claim and ticket in the warehouse of a data folder made by
``cx demo`` (``warehouse.db`` after the collect stage and ``cx_feedback``, and the
simulator's ``ground_truth.db``, table ``feedback_labels``), classified with its operational
context and its client's history exactly as ``classify_feedback`` would, compared with the
true group and process class. The warehouse is only read.

(b) The blind holdout ``tests/fixtures/classifier_holdout.yaml`` (written by someone else,
never read by the lexicon's author; a YAML list, or a mapping whose ``items`` is the list,
of {id, lang, text, group, process_class, context?, polarity?, recurring?}), if present:
each item its own client, so only the text's worsening cues can make deterioration. Group
``none`` labels praise and questions (polarity ``positive`` or ``neutral``; a label without
a polarity is a complaint). Only figures are printed, never a text.

(c) The holdout as the production loop sees it once people have reviewed half of it: two
folds, each taking one half as the reviews, which refit the confidence table
(``classifier.yaml`` ``confidence``, shipped fitted on simulated texts) and train the
learned model, and measuring the other half. The lexicon is not touched.

Holdouts A, B and C and the development sets are in the text model's training corpus
(``rules/classifier_training.yaml``), so (b) and (c) on them measure how well the hybrid
fits what it was trained on, not how it generalises: for that, the leave-one-set-out
``bench/bench_classifier_cv.py`` and a set outside the corpus (the blind set D).

Prints items, the share sent to review (target <= 20%), accuracy on the items not sent to
review (target >= 85%; a ``no_complaint`` decision on a complaint counts as wrong),
per-class precision and recall for the group and for the process class, the group
confusion matrix, deterioration's precision and recall, and the wall time; on a labelled set
also praise and neutral recall, the share of complaints decided as praise, accuracy and
review share per language, and the recurring flag's precision and recall (issue 15).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd
import yaml
from sqlalchemy import create_engine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cx_tasks.analyze.classification import read_feedback  # noqa: E402
from cx_tasks.analyze.classify import classify, load_classifier, raw_rules  # noqa: E402
from cx_tasks.analyze.confidence import fit_confidence_map, outcomes  # noqa: E402
from cx_tasks.analyze.context import read_context  # noqa: E402
from cx_tasks.analyze.evaluation import (  # noqa: E402
    NO_GROUP,
    figures,
    per_class,
    polarity_figures,
    with_true_labels,
)
from cx_tasks.analyze.taxonomy import PROCESS_CLASSES  # noqa: E402

HOLDOUT = REPO / "tests" / "fixtures" / "classifier_holdout.yaml"


def report(title: str, decided: pd.DataFrame, elapsed: float) -> None:
    """Print the figures of one evaluation (``decided``: classes joined with true labels)."""
    n = len(decided)
    review = decided["status"] == "review"
    done = decided[~review]
    scored = figures(decided)
    print(f"\n=== {title} ===")
    print(f"items {n}, classified in {elapsed:.2f} s ({1000 * elapsed / max(n, 1):.2f} ms/item)")
    print(f"sent to review {int(review.sum())} = {review.mean():.1%} (target <= 20%)")
    bands = pd.cut(decided.loc[review, "confidence"].astype(float),
                   [-0.01, 0.0, 0.2, 0.4, 0.6], labels=["0", "(0, .2]", "(.2, .4]", "(.4, .6)"])
    print(f"review items by confidence: {bands.value_counts(sort=False).to_dict()}; by true "
          f"group: {decided.loc[review, 'true_group'].value_counts().to_dict()}")
    print(f"decided {len(done)}: status {done['status'].value_counts().to_dict()}")
    print(f"accuracy on decided items: group and process class {scored.accuracy:.1%} (target "
          f">= 85%), group {scored.group_accuracy:.1%}, process class "
          f"{scored.process_accuracy:.1%}")
    if "true_cause" in decided:
        print(f"cause agrees on decided items: {(done['cause'] == done['true_cause']).mean():.1%}")
    with pd.option_context("display.width", 160, "display.float_format", "{:.2f}".format):
        print("\nper group (decided items):")
        print(scored.per_group.to_string(index=False))
        print("\nper process class (decided items):")
        print(per_class(done["true_process_class"], done["process_class"],
                        PROCESS_CLASSES).to_string(index=False))
        print("\ngroup confusion matrix (rows: true group, columns: decision):")
        print(scored.confusion.to_string())
    if "deterioration" in decided:
        rules = done.loc[done["deterioration"].notna()]
        hits = rules["true_group"] == "deterioration"
        print("\ndeterioration rules fired (and how many were truly deterioration):")
        for rule, group in rules.groupby("deterioration"):
            print(f"  {rule}: {len(group)} ({int(hits[group.index].sum())})")
        truly = done["true_group"] == "deterioration"
        said = done["dissatisfaction_group"] == "deterioration"
        print(f"deterioration on decided items: precision {int((truly & said).sum())}/"
              f"{int(said.sum())}, recall {int((truly & said).sum())}/{int(truly.sum())}; "
              f"flagged recurring {int(done['recurring'].fillna(False).astype(bool).sum())}")
    if "true_polarity" in decided:
        print_polarity(decided)


def print_polarity(decided: pd.DataFrame) -> None:
    """The praise, question and language figures of a labelled set (issue 15)."""
    f = polarity_figures(decided)
    quiet = decided["true_polarity"].isin(["positive", "neutral"])
    print(f"\npraise and neutral texts {int(quiet.sum())}: recall (decided as no complaint) "
          f"{f.no_complaint_recall:.1%} of all, {f.no_complaint_recall_decided:.1%} of the "
          f"{f.no_complaint_decided} decided (target >= 80%)")
    print(f"complaints decided ({int((~quiet & (decided['status'] != 'review')).sum())}): as "
          f"praise {f.complaints_as_praise:.1%} (target <= 3%), as no complaint at all "
          f"{f.complaints_as_no_complaint:.1%}")
    print("accuracy on decided items by language: " + ", ".join(
        f"{lang} {acc:.1%} (review {f.review_by_language[lang]:.1%})"
        for lang, acc in f.accuracy_by_language.items()) + " (target: en within 5 points of ru)")
    print(f"deterioration precision {f.deterioration_precision:.2f}, recall "
          f"{f.deterioration_recall:.2f}; recurring flag precision {f.recurring_precision:.2f}, "
          f"recall {f.recurring_recall:.2f} (decided items)")


def warehouse_items(data: Path, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feedback and its context in a data folder's warehouse (read only)."""
    engine = create_engine(f"sqlite:///{data / 'warehouse.db'}")
    with engine.connect() as conn:
        items, context = read_feedback(conn, as_of), read_context(conn, as_of)
    engine.dispose()
    return items, context


def simulated(data: Path, as_of: date) -> None:
    """(a): the demo warehouse against ``ground_truth.db``."""
    classifier = load_classifier()
    items, context = warehouse_items(data, as_of)
    with sqlite3.connect(data / "ground_truth.db") as truth_db:
        labels = pd.read_sql("select * from feedback_labels", truth_db)
    started = time.perf_counter()
    classes = classify(items, context, classifier, as_of)
    elapsed = time.perf_counter() - started
    joined = with_true_labels(classes, labels)
    report(f"simulated ground truth ({data}, as of {as_of}, classifier "
           f"{classifier.version}; {len(items)} feedback texts classified, {len(joined)} "
           "claims and tickets with a true label)", joined, elapsed)


@dataclass(frozen=True)
class Holdout:
    """The holdout fixture as feedback, context and true labels (one row each, in order)."""

    items: pd.DataFrame
    context: pd.DataFrame
    truth: pd.DataFrame
    languages: dict[str, int]
    labels: pd.DataFrame
    """lang, true_polarity, true_recurring per item."""


def holdout_set(path: Path, as_of: date) -> Holdout:
    """Read the blind holdout fixture (``{items: [...]}`` or a bare list)."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(entries, dict):
        entries = entries["items"]
    items = pd.DataFrame({
        "feedback_id": [f"holdout:{e['id']}" for e in entries],
        "client_id": [f"holdout:{e['id']}" for e in entries],
        "text": [e["text"] for e in entries],
        "occurred_at": pd.Timestamp(as_of),
    })
    contexts = [e.get("context") or {} for e in entries]
    context = pd.DataFrame({
        "feedback_id": items["feedback_id"],
        "order_id": "holdout order", "shipment_id": "holdout shipment",
        "otif_miss": [bool(c.get("otif_miss")) for c in contexts],
        "document_delay": [bool(c.get("document_delay")) for c in contexts],
        "packaging_incident": [c.get("packaging_incident") for c in contexts],
    })
    truth = pd.DataFrame({"true_group": [e["group"] for e in entries],
                          "true_process_class": [e["process_class"] for e in entries]})
    languages = pd.Series([e.get("lang") for e in entries]).value_counts().to_dict()
    labels = pd.DataFrame({"lang": [e.get("lang") for e in entries],
                           "true_polarity": [e.get("polarity", "negative") for e in entries],
                           "true_recurring": [bool(e.get("recurring")) for e in entries]})
    return Holdout(items, context, truth, languages, labels)


def labelled(classes: pd.DataFrame, held: Holdout) -> pd.DataFrame:
    """Classes and true labels of the same items side by side (both in item order)."""
    return pd.concat([classes.reset_index(drop=True), held.truth.reset_index(drop=True),
                      held.labels.reset_index(drop=True)], axis=1)


def holdout(path: Path, as_of: date, history: tuple[pd.DataFrame, pd.DataFrame] | None) -> None:
    """(b): the blind holdout fixture, classified as if it arrived at the supplier of
    ``history`` (its warehouse's feedback and context; the learned model learns from the
    rules' decisions there) or alone."""
    classifier = load_classifier()
    held = holdout_set(path, as_of)
    items, context, n = held.items, held.context, len(held.items)
    if history is not None:
        items = pd.concat([items, history[0][["feedback_id", "client_id", "text",
                                              "occurred_at"]]], ignore_index=True)
        context = pd.concat([context, history[1]], ignore_index=True)
    started = time.perf_counter()
    classes = classify(items, context, classifier, as_of).iloc[:n]
    elapsed = time.perf_counter() - started
    report(f"blind holdout ({path.name}: {n} items, languages {held.languages}; "
           + (f"classified together with the {len(items) - n} warehouse items" if history
              is not None else "alone") + ")", labelled(classes, held), elapsed)


def holdout_refit(path: Path, as_of: date) -> None:
    """(c): the holdout as the production loop would see it after people reviewed half of
    it: two folds, each taking one half (odd or even item number) as the reviews, which
    refit the confidence table (``refit_confidence``) and train the learned model, and
    measuring the other half. The lexicon is not changed."""
    shipped = load_classifier()
    held = holdout_set(path, as_of)
    raw = labelled(classify(held.items, held.context, raw_rules(shipped), as_of), held)
    odd = (held.items["feedback_id"].str.extract(r"(\d+)$")[0].astype(int) % 2 == 1).to_numpy()
    parts, elapsed = [], 0.0
    for reviewed in (odd, ~odd):
        fitted = fit_confidence_map(*outcomes(raw[reviewed]), "one half of the holdout")
        print(f"fold table (fitted on {int(reviewed.sum())} reviews): margin {fitted.margin} "
              f"-> probability {fitted.probability}")
        use = replace(shipped, rules=shipped.rules.model_copy(update={"confidence": fitted}))
        complaint = reviewed & (held.truth["true_group"] != NO_GROUP).to_numpy()
        reviews = pd.DataFrame({"feedback_id": held.items["feedback_id"][complaint],
                                "dissatisfaction_group": held.truth["true_group"][complaint],
                                "process_class": held.truth["true_process_class"][complaint]})
        started = time.perf_counter()
        classes = classify(held.items, held.context, use, as_of, reviews=reviews)
        elapsed += time.perf_counter() - started
        parts.append(labelled(classes, held)[~reviewed])
    report(f"blind holdout after reviews of the other half (confidence refit, learned model "
           f"trained on them; 2 folds, {path.name})", pd.concat(parts, ignore_index=True),
           elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/demo-data"),
                        help="data folder of a finished `cx demo` (warehouse.db, ground_truth.db)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30),
                        help="classification day (feedback that occurred by its end)")
    parser.add_argument("--holdout", type=Path, default=HOLDOUT)
    args = parser.parse_args()
    history = None
    if (args.data / "warehouse.db").exists() and (args.data / "ground_truth.db").exists():
        simulated(args.data, args.as_of)
        history = warehouse_items(args.data, args.as_of)
    else:
        print(f"(a) skipped: {args.data} holds no warehouse.db and ground_truth.db; run "
              "`cx demo` with CX_DATA_DIR there first")
    if args.holdout.exists():
        holdout(args.holdout, args.as_of, None)
        if history is not None:
            holdout(args.holdout, args.as_of, history)
        holdout_refit(args.holdout, args.as_of)
    else:
        print(f"(b) skipped: no {args.holdout}")


if __name__ == "__main__":
    main()
