"""Fit the classifier's confidence table (``confidence`` in ``rules/classifier.yaml``) on the
simulated supplier's labelled claims and tickets, and check it on clients it never saw.

    .venv/bin/python bench/fit_confidence.py [--data /work/demo-data] [--as-of 2026-11-30]

Every claim and ticket of the demo warehouse is classified by the raw rules (threshold 0,
learned model off, confidence = the margin; :func:`cx_tasks.analyze.classify.raw_rules`)
and compared with ``ground_truth.db`` (``feedback_labels``). The table is fitted on the
clients with an even numeric id and evaluated on those with an odd one: the reliability
table (confidence band vs share right) of the raw margin and of the fitted table, and the
review share and accuracy on decided items of the calibrated classifier with the learned
model off and on. Prints the YAML block to paste into ``classifier.yaml``. In production
refit from the people's reviews with
:func:`cx_tasks.analyze.classification.refit_confidence`.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_classifier import warehouse_items  # noqa: E402

from cx_tasks.analyze.classify import classify, load_classifier, raw_rules  # noqa: E402
from cx_tasks.analyze.confidence import (  # noqa: E402
    calibrated,
    fit_confidence_map,
    outcomes,
    reliability,
)
from cx_tasks.analyze.evaluation import figures, with_true_labels  # noqa: E402


def even_client(labelled: pd.DataFrame) -> pd.Series:
    """Whether each item's client has an even numeric id (``C00278`` -> 278)."""
    return labelled["client_id"].str.extract(r"(\d+)$")[0].astype(int) % 2 == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/demo-data"))
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 30))
    args = parser.parse_args()
    shipped = load_classifier()
    items, context = warehouse_items(args.data, args.as_of)
    with sqlite3.connect(args.data / "ground_truth.db") as truth_db:
        labels = pd.read_sql("select * from feedback_labels", truth_db)
    raw = with_true_labels(classify(items, context, raw_rules(shipped), args.as_of), labels)
    even = even_client(raw)
    margins, right = outcomes(raw[even])
    fitted = fit_confidence_map(
        margins, right, f"simulated claims and tickets of clients with even ids ({args.data.name}, "
        f"as of {args.as_of}), fitted {date.today()}")
    print("# confidence table to paste into classifier.yaml:")
    print(yaml.safe_dump({"confidence": fitted.model_dump(mode="json")}, sort_keys=False,
                         width=100, default_flow_style=None, allow_unicode=True))
    held_margin, held_right = outcomes(raw[~even])
    held = [calibrated(fitted, m) for m in held_margin]
    fit_side = [calibrated(fitted, m) for m in margins]
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        for title, conf, ok in [("fit half (even clients), fitted table", fit_side, right),
                                ("held-out half (odd clients), raw margin", held_margin,
                                 held_right),
                                ("held-out half (odd clients), fitted table", held, held_right)]:
            print(f"\nreliability, {title}:")
            print(reliability(conf, ok).to_string(index=False))
    rules = shipped.rules.model_copy(update={"confidence": fitted})
    for learned in (False, True):
        use = rules.model_copy(update={"learned": rules.learned.model_copy(
            update={"enabled": learned})})
        out = with_true_labels(classify(items, context, replace(shipped, rules=use),
                                        args.as_of), labels)
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


if __name__ == "__main__":
    main()
