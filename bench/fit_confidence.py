"""Fit the classifier's confidence table (``confidence`` in ``rules/classifier.yaml``) on
labelled items, and check it on items it never saw.

    .venv/bin/python bench/fit_confidence.py [--data /work/demo-data] [--as-of 2026-11-30]
    .venv/bin/python bench/fit_confidence.py --labelled tests/fixtures/classifier_dev.yaml
        [--rules-dir DIR] [--with-simulated] [--thresholds 0.6 0.65 0.7] [--splits 30]

Items are classified by the raw rules (threshold 0, learned model off, confidence = the
margin; :func:`cx_tasks.analyze.classify.raw_rules`) and compared with their labels.

Simulated (default): every claim and ticket of the demo warehouse against
``ground_truth.db`` (``feedback_labels``). The table is fitted on the clients with an even
numeric id and evaluated on those with an odd one: the reliability table (confidence band vs
share right) of the raw margin and of the fitted table, and the review share and accuracy
on decided items of the calibrated classifier with the learned model off and on.

Labelled set (``--labelled``): the items of a hand-labelled YAML file in the format of
``bench/bench_classifier.py --holdout`` (each item its own client), scored by the rule
tables of ``--rules-dir`` (a folder holding a ``lexicon.yaml`` and/or ``classifier.yaml``,
e.g. an earlier lexicon that never saw the set's texts; default the shipped tables). The
table to ship is fitted on all of them (with ``--with-simulated`` pooled with the
simulated claims and tickets of the even clients). The operating point is checked by a
cross-validated split: the items with an even id number fit a table, those with an odd one
are measured with it, and the other way round; for each threshold the review share and the
accuracy on decided items of both held-out halves together (learned model off); with
``--splits N`` also the mean and spread over N random halvings (seed 0, each half fitting the
table for the other), steadier than the one split by parity on a few hundred items.

Prints the YAML block to paste into ``classifier.yaml``. In production refit from the
people's reviews with :func:`cx_tasks.analyze.classification.refit_confidence`.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_classifier import Holdout, holdout_set, labelled, warehouse_items  # noqa: E402

from cx_tasks.analyze.classify import Classifier, classify, load_classifier, raw_rules  # noqa: E402
from cx_tasks.analyze.confidence import (  # noqa: E402
    ConfidenceMap,
    calibrated,
    fit_confidence_map,
    outcomes,
    reliability,
)
from cx_tasks.analyze.evaluation import (  # noqa: E402
    ClassifierFigures,
    figures,
    with_true_labels,
)


def even_client(classes: pd.DataFrame) -> pd.Series:
    """Whether each item's client has an even numeric id (``C00278`` -> 278; a labelled
    set's item ``d012`` is its own client ``holdout:d012`` -> 12)."""
    return classes["client_id"].str.extract(r"(\d+)$")[0].astype(int) % 2 == 0


def calibrated_with(classifier: Classifier, table: ConfidenceMap, threshold: float | None = None,
                    learned: bool = False) -> Classifier:
    """The classifier with confidence table ``table``, the learned model on or off and,
    when given, another threshold."""
    rules = classifier.rules
    update = {"confidence": table,
              "learned": rules.learned.model_copy(update={"enabled": learned})}
    if threshold is not None:
        update["threshold"] = threshold
    return replace(classifier, rules=rules.model_copy(update=update))


def print_table(fitted: ConfidenceMap) -> None:
    """The ``confidence`` block to paste into ``classifier.yaml``."""
    print("# confidence table to paste into classifier.yaml:")
    print(yaml.safe_dump({"confidence": fitted.model_dump(mode="json")}, sort_keys=False,
                         width=100, default_flow_style=None, allow_unicode=True))


def print_reliability(rows: list[tuple[str, list[float], np.ndarray]]) -> None:
    """Reliability tables (:func:`reliability`) of (title, confidences, right)."""
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        for title, conf, ok in rows:
            print(f"\nreliability, {title}:")
            print(reliability(conf, ok).to_string(index=False))


def simulated_raw(data: Path, as_of: date, classifier: Classifier
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The demo warehouse's feedback, context and true labels, and the raw rules' classes
    joined with the labels."""
    items, context = warehouse_items(data, as_of)
    with sqlite3.connect(data / "ground_truth.db") as truth_db:
        labels = pd.read_sql("select * from feedback_labels", truth_db)
    raw = with_true_labels(classify(items, context, raw_rules(classifier), as_of), labels)
    return items, context, labels, raw


def fit_simulated(data: Path, as_of: date) -> None:
    """The default mode (module docstring): fit on even simulated clients, check on odd."""
    shipped = load_classifier()
    items, context, labels, raw = simulated_raw(data, as_of, shipped)
    even = even_client(raw)
    margins, right = outcomes(raw[even])
    # a script's edge: the table's provenance names the day someone fitted it
    fitted = fit_confidence_map(
        margins, right, f"simulated claims and tickets of clients with even ids ({data.name}, "
        f"as of {as_of}), fitted {date.today()}")
    print_table(fitted)
    held_margin, held_right = outcomes(raw[~even])
    print_reliability([
        ("fit half (even clients), fitted table", [calibrated(fitted, m) for m in margins],
         right),
        ("held-out half (odd clients), raw margin", list(held_margin), held_right),
        ("held-out half (odd clients), fitted table",
         [calibrated(fitted, m) for m in held_margin], held_right)])
    for learned in (False, True):
        out = with_true_labels(classify(items, context, calibrated_with(shipped, fitted,
                                                                        learned=learned),
                                        as_of), labels)
        for half, mask in [("even (fit)", even_client(out)), ("odd (held out)",
                                                              ~even_client(out))]:
            f = figures(out[mask])
            print(f"calibrated, learned model {'on' if learned else 'off'}, {half}: "
                  f"{f.items} items, review {f.review_share:.1%}, accuracy on decided "
                  f"{f.accuracy:.1%}")
        if learned:
            model = out[out["evidence"].str.startswith("linear model") & ~even_client(out)]
            ok = ((model["dissatisfaction_group"] == model["true_group"])
                  & (model["process_class"] == model["true_process_class"]))
            print("\nreliability of the learned model's decisions, odd clients:")
            print(reliability(model["confidence"].astype(float), ok).to_string(index=False))


def held_out_figures(classifier: Classifier, raw: pd.DataFrame, held: Holdout, as_of: date,
                     fit_halves: list[np.ndarray], threshold: float) -> ClassifierFigures:
    """Figures of the held-out items when each mask of ``fit_halves`` fits a table (on the
    raw rules' classes ``raw``) that classifies the items outside it at ``threshold``."""
    parts = []
    for fit_half in fit_halves:
        table = fit_confidence_map(*outcomes(raw[fit_half]), "fold")
        classes = classify(held.items, held.context,
                           calibrated_with(classifier, table, threshold), as_of)
        parts.append(labelled(classes, held)[~fit_half])
    return figures(pd.concat(parts, ignore_index=True))


def fit_labelled(path: Path, as_of: date, rules_dir: Path | None, data: Path | None,
                 thresholds: list[float], splits: int) -> None:
    """The ``--labelled`` mode (module docstring): fit on the whole set (optionally pooled
    with the even simulated clients), then the cross-validated split by id parity."""
    classifier = load_classifier(rules_dir)
    held = holdout_set(path, as_of)
    raw = labelled(classify(held.items, held.context, raw_rules(classifier), as_of), held)
    own_margins, own_right = outcomes(raw)
    margins, right = own_margins, own_right
    source = f"the {len(raw)} texts of {path.name}"
    if rules_dir is not None:
        source += f" scored by the rule tables of {rules_dir}"
    if data is not None:
        sim = simulated_raw(data, as_of, classifier)[3]
        sim_margins, sim_right = outcomes(sim[even_client(sim)])
        margins = np.concatenate([margins, sim_margins])
        right = np.concatenate([right, sim_right])
        source += (f" and the simulated claims and tickets of clients with even ids "
                   f"({data.name}, as of {as_of})")
    fitted = fit_confidence_map(margins, right,  # provenance: the day someone fitted it
                                f"{source}, fitted {date.today()}")
    print_table(fitted)
    even = even_client(raw).to_numpy()
    folds = []
    for name, fit_half in [("even ids fit, odd measured", even),
                           ("odd ids fit, even measured", ~even)]:
        table = fit_confidence_map(*outcomes(raw[fit_half]), name)
        print(f"fold '{name}': margin {table.margin} -> probability {table.probability}")
        folds.append((table, ~fit_half))
    held_conf, held_right = [], []
    for table, measured in folds:
        m, ok = outcomes(raw[measured])
        held_conf += [calibrated(table, x) for x in m]
        held_right += list(ok)
    print_reliability([("all items, raw margin", list(own_margins), own_right),
                       ("held-out halves, fold tables", held_conf, np.array(held_right))])
    print()
    rng = np.random.default_rng(0)
    halvings = [rng.permutation(len(raw)) < len(raw) // 2 for _ in range(splits)]
    for threshold in thresholds:
        f = held_out_figures(classifier, raw, held, as_of, [even, ~even], threshold)
        print(f"cross-validated by id parity, threshold {threshold}: {f.items} items, review "
              f"{f.review_share:.1%}, accuracy on decided {f.accuracy:.1%} (group "
              f"{f.group_accuracy:.1%}, process class {f.process_accuracy:.1%})")
        if halvings:
            runs = np.array([(r.review_share, r.accuracy) for r in (
                held_out_figures(classifier, raw, held, as_of, [half, ~half], threshold)
                for half in halvings)])
            print(f"  {splits} random halvings: review {runs[:, 0].mean():.1%} (sd "
                  f"{runs[:, 0].std():.1%}), accuracy on decided {runs[:, 1].mean():.1%} "
                  f"(sd {runs[:, 1].std():.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/demo-data"))
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30))
    parser.add_argument("--labelled", type=Path,
                        help="a hand-labelled YAML set to fit on instead of the simulated items")
    parser.add_argument("--rules-dir", type=Path,
                        help="with --labelled: score with the rule tables in this folder")
    parser.add_argument("--with-simulated", action="store_true",
                        help="with --labelled: pool the simulated even clients (--data) in")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.6, 0.65, 0.7],
                        help="with --labelled: thresholds of the cross-validated split")
    parser.add_argument("--splits", type=int, default=0,
                        help="with --labelled: also this many random halvings")
    args = parser.parse_args()
    if args.labelled is None:
        fit_simulated(args.data, args.as_of)
    else:
        fit_labelled(args.labelled, args.as_of, args.rules_dir,
                     args.data if args.with_simulated else None, args.thresholds, args.splits)


if __name__ == "__main__":
    main()
