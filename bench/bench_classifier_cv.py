"""Does the learned text model help the lexicon on texts it was not trained on?
Leave-one-set-out cross-validation over the labelled sets of the shipped training corpus.

    .venv/bin/python bench/bench_classifier_cv.py [--grid]
    .venv/bin/python bench/bench_classifier_cv.py --write-corpus   # rebuild the corpus

The corpus ``cx_tasks/rules/classifier_training.yaml`` merges the hand-labelled sets of
``tests/fixtures`` (``--write-corpus``; the blind set D is never read), each row naming its
``set``. For each set: the text model (:mod:`cx_tasks.analyze.text_model`) is fitted on the
other sets and the held-out set is classified exactly as production does (``classify``: the
lexicon, its context, the deterioration test, the combination), once with the lexicon only
(text model off) and once with the hybrid. The figures are pooled over the held-out sets:
accuracy on decided items (group and process class right), share sent to review, praise and
neutral recall, complaints decided as praise, accuracy per language, and the model alone
(its kind and process class on every item, nothing to review).

Caveat: the lexicon was broadened from these very sets, so its figures here are optimistic
(the blind set D measured 69.3% right, 25.3% to review); the model's are honest, it never
sees the held-out set. ``--grid`` prints the hybrid for each pair of thresholds
(``min_probability``, ``keep_confidence``, ``keep_no_complaint``); the shipped ones are
chosen from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cx_tasks.analyze.classify import classify, load_classifier  # noqa: E402
from cx_tasks.analyze.evaluation import figures, polarity_figures  # noqa: E402
from cx_tasks.analyze.text_model import (  # noqa: E402
    NO_PROCESS,
    TextModelRules,
    labelled_texts,
    text_model,
)

FIXTURES = REPO / "tests" / "fixtures"
SETS = ("dev", "dev2", "dev3", "dev4", "holdout", "holdout_b", "holdout_c")
"""The labelled sets merged into the corpus: ``classifier_<set>.yaml`` (never D)."""
CORPUS = REPO / "cx_tasks" / "rules" / "classifier_training.yaml"
HEADER = """\
# Training corpus of the learned text model (cx_tasks/analyze/text_model.py): the hand-labelled
# client texts of the sets the lexicon was tuned on (tests/fixtures/classifier_<set>.yaml for
# the sets {sets}; never the blind set D), merged by
# `bench/bench_classifier_cv.py --write-corpus` so that the product ships them. Each row:
# set, id, lang, text, group (none: no complaint), process_class (null: no process),
# polarity (positive or neutral for group none; absent: a complaint), and the context and
# recurring flag of its set where given (the cross-validation reads them).
# Replace or extend it with your own labelled texts (a user's copy in the rules folder
# wins); the people's reviews in the warehouse are added at every run.
"""
AS_OF = date(2026, 11, 30)


def write_corpus() -> None:
    """Merge the labelled sets into ``CORPUS``."""
    rows = []
    for name in SETS:
        entries = yaml.safe_load((FIXTURES / f"classifier_{name}.yaml").read_text("utf-8"))
        for e in entries["items"] if isinstance(entries, dict) else entries:
            row = {"set": name, "id": e["id"], "lang": e.get("lang"), "text": e["text"],
                   "group": e["group"], "process_class": e["process_class"]}
            row |= {k: e[k] for k in ("polarity", "context", "recurring") if e.get(k)}
            rows.append(row)
    text = yaml.safe_dump({"items": rows}, allow_unicode=True, sort_keys=False, width=100)
    CORPUS.write_text(HEADER.format(sets=", ".join(SETS)) + text, encoding="utf-8")
    print(f"wrote {len(rows)} texts to {CORPUS.relative_to(REPO)}")


def frames(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Feedback, context and true labels of corpus rows (each item its own client)."""
    ids = [f"{r['set']}:{r['id']}" for r in rows]
    items = pd.DataFrame({"feedback_id": ids, "client_id": ids,
                          "text": [r["text"] for r in rows], "occurred_at": pd.Timestamp(AS_OF)})
    contexts = [r.get("context") or {} for r in rows]
    context = pd.DataFrame({
        "feedback_id": ids, "order_id": "held-out order", "shipment_id": "held-out shipment",
        "otif_miss": [bool(c.get("otif_miss")) for c in contexts],
        "document_delay": [bool(c.get("document_delay")) for c in contexts],
        "packaging_incident": [c.get("packaging_incident") for c in contexts]})
    truth = pd.DataFrame({"true_group": [r["group"] for r in rows],
                          "true_process_class": [r["process_class"] for r in rows],
                          "lang": [r.get("lang") for r in rows],
                          "true_polarity": [r.get("polarity", "negative") for r in rows],
                          "true_recurring": [bool(r.get("recurring")) for r in rows]})
    return items, context, truth


def summary(joined: pd.DataFrame) -> dict[str, float]:
    """The issue's figures of classes joined with labels."""
    f, p = figures(joined), polarity_figures(joined)
    out = {"right": f.accuracy, "review": f.review_share,
           "praise+neutral recall": p.no_complaint_recall,
           "complaints as praise": p.complaints_as_praise}
    out |= {f"right {lang}": v for lang, v in p.accuracy_by_language.items()}
    return out


def model_alone(held: list[dict], corpus: str, rules: TextModelRules) -> int:
    """How many held-out rows the text model alone gets right (kind and process class)."""
    model = text_model(rules, corpus, None)
    truth = labelled_texts(held)
    readings = model.read([r["text"] for r in held])
    right = []
    for t, r in zip(truth, readings, strict=True):
        complaint = r.kind not in ("positive", "neutral")
        process = (r.process_class if complaint or r.process_probability > r.about_none
                   else NO_PROCESS)
        right.append(t.kind == r.kind and t.process_class == process)
    return sum(right)


def cross_validate(rows: list[dict], grid: list[tuple[float, float, bool]]) -> None:
    """Leave-one-set-out figures: lexicon only, and the hybrid per threshold pair."""
    shipped = load_classifier()
    lexicon_only = replace(shipped, rules=shipped.rules.model_copy(update={
        "text_model": shipped.rules.text_model.model_copy(update={"enabled": False})}))
    results: dict[str, list[pd.DataFrame]] = {}
    alone, timing = [], {"lexicon": 0.0, "hybrid": 0.0, "fit": 0.0}
    for name in SETS:
        held = [r for r in rows if r["set"] == name]
        others = [r for r in rows if r["set"] != name]
        corpus = yaml.safe_dump({"items": others}, allow_unicode=True)
        items, context, truth = frames(held)
        started = time.perf_counter()
        text_model(shipped.rules.text_model, corpus, None)
        timing["fit"] += time.perf_counter() - started
        runs = {"lexicon only": lexicon_only}
        for min_p, keep, keep_none in grid:
            rules = shipped.rules.text_model.model_copy(update={
                "min_probability": min_p, "keep_confidence": keep,
                "keep_no_complaint": keep_none})
            label = f"hybrid p>={min_p} keep>={keep}" + (" keep none" if keep_none else "")
            runs[label] = replace(
                shipped, corpus=corpus,
                rules=shipped.rules.model_copy(update={"text_model": rules}))
        for label, classifier in runs.items():
            started = time.perf_counter()
            classes = classify(items, context, classifier, AS_OF)
            timing["lexicon" if label == "lexicon only" else "hybrid"] += (
                time.perf_counter() - started)
            joined = pd.concat([classes.reset_index(drop=True), truth], axis=1)
            results.setdefault(label, []).append(joined.assign(set=name))
        alone.append(model_alone(held, corpus, shipped.rules.text_model))
    print(f"leave-one-set-out over {len(rows)} texts in {len(SETS)} sets "
          f"({', '.join(SETS)}); figures pooled over the held-out sets")
    table = pd.DataFrame({label: summary(pd.concat(parts, ignore_index=True))
                          for label, parts in results.items()}).T
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string())
        print("\nper held-out set, right on decided / review share:")
        per_set = {label: {name: f"{s['right']:.3f}/{s['review']:.3f}" for name, s in (
            (p["set"].iloc[0], summary(p)) for p in parts)} for label, parts in results.items()}
        print(pd.DataFrame(per_set).T.to_string())
    print(f"\ntext model alone (every item decided, kind and process class): "
          f"{sum(alone) / len(rows):.3f} right")
    n_hybrid = len(results) - 1
    print(f"time: fitting {timing['fit']:.1f} s over {len(SETS)} folds; classify "
          f"{1000 * timing['lexicon'] / len(rows):.2f} ms/item lexicon only, "
          f"{1000 * timing['hybrid'] / len(rows) / max(n_hybrid, 1):.2f} ms/item hybrid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-corpus", action="store_true",
                        help="rebuild the corpus from tests/fixtures, then cross-validate")
    parser.add_argument("--grid", action="store_true",
                        help="the hybrid for a grid of thresholds, not only the shipped pair")
    args = parser.parse_args()
    if args.write_corpus:
        write_corpus()
    rows = yaml.safe_load(CORPUS.read_text("utf-8"))["items"]
    shipped = load_classifier().rules.text_model
    grid = ([(p, k, n) for p in (0.5, 0.6, 0.7) for k in (0.7, 0.8, 0.9) for n in (False, True)]
            if args.grid else [(shipped.min_probability, shipped.keep_confidence,
                                shipped.keep_no_complaint)])
    cross_validate(rows, grid)


if __name__ == "__main__":
    main()
