"""The learned text model and its combination with the lexicon (cx_tasks.analyze.text_model):
the combination rule on constructed readings, a model fitted on a tiny corpus, the shipped
corpus, and the model inside ``classify``."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import yaml

from cx_tasks.analyze.classify import Scored, classify, load_classifier, reviewed_texts
from cx_tasks.analyze.text_model import (
    LabelledText,
    Reading,
    TextModel,
    TextModelRules,
    combine,
    corpus_rows,
    labelled_texts,
)

RULES = TextModelRules(min_probability=0.5, keep_confidence=0.9, keep_no_complaint=True)
LATE = Scored("classified", "delivery_discipline", "delivery_planning", "late_delivery", 0.73,
              0.0, ["lexicon"], polarity="negative")
REVIEW = Scored("review", None, None, None, 0.56, 0.0, ["lexicon"], polarity="negative")


def reading(kind: str, p: float, process: str = "documents", q: float = 0.6,
            none: float = 0.1) -> Reading:
    return Reading(kind, p, process, q, none)


def test_the_lexicon_stands_where_the_model_agrees_or_it_is_sure_or_it_saw_a_worsening() -> None:
    assert combine(LATE, reading("delivery_discipline", 0.3), RULES, 10) is LATE
    sure = replace(LATE, confidence=0.93)  # >= keep_confidence 0.9
    assert combine(sure, reading("quality", 0.99), RULES, 10) is sure
    worse = replace(LATE, group="deterioration")
    assert combine(worse, reading("quality", 0.99), RULES, 10) is worse
    # praise the lexicon found, the model reading a question: both say no complaint
    praise = Scored("no_complaint", None, None, None, 0.67, 0.0, [], polarity="positive")
    assert combine(praise, reading("neutral", 0.9), RULES, 10) is praise
    # ... the model reading a complaint: the lexicon's no complaint stands unless
    # keep_no_complaint is off, then the sure model decides
    assert combine(praise, reading("quality", 0.9), RULES, 10) is praise
    loose = RULES.model_copy(update={"keep_no_complaint": False})
    assert combine(praise, reading("quality", 0.9), loose, 10).group == "quality"


def test_a_sure_model_decides_an_unsure_one_sends_to_review() -> None:
    # the lexicon's 0.73 < 0.9 and the model says quality with p 0.8 >= 0.5: the model's
    # group and best process class, confidence = p, no cause
    out = combine(LATE, reading("quality", 0.8, "specification", 0.7), RULES, 1584)
    assert (out.status, out.group, out.process_class, out.cause, out.confidence) == (
        "classified", "quality", "specification", None, 0.8)
    assert out.evidence[0] == ("decided by the text model (1584 texts): quality p = 0.80, "
                               "specification p = 0.70")
    # p 0.4 < 0.5 disagreeing with a decision: review; with an item in review: unchanged
    out = combine(LATE, reading("quality", 0.4), RULES, 10)
    assert (out.status, out.group, out.process_class, out.cause) == ("review", None, None, None)
    assert out.evidence[0].endswith("disagrees with the lexicon (delivery_discipline): review")
    assert combine(REVIEW, reading("quality", 0.4), RULES, 10) is REVIEW


def test_the_model_reads_praise_with_the_process_it_names_if_any() -> None:
    # process p 0.6 > none's 0.1: named; 0.2 < none's 0.7: no process class
    out = combine(REVIEW, reading("positive", 0.7, "documents", 0.6, 0.1), RULES, 10)
    assert (out.status, out.group, out.process_class, out.polarity) == (
        "no_complaint", None, "documents", "positive")
    out = combine(REVIEW, reading("neutral", 0.7, "documents", 0.2, 0.7), RULES, 10)
    assert (out.status, out.process_class, out.polarity) == ("no_complaint", None, "neutral")


TINY = ([LabelledText(t, "delivery_discipline", "delivery_planning") for t in (
            "груз опоздал на неделю", "поставка опоздала", "the truck was late again",
            "delivery late by two days")]
        + [LabelledText(t, "quality", "specification") for t in (
            "трубы с трещинами", "трещины на металле", "cracked sheets", "cracks in the coil")]
        + [LabelledText(t, "positive", "none") for t in (
            "спасибо, всё отлично", "большое спасибо", "thank you, great job", "thanks a lot")])


def test_a_model_fitted_on_a_tiny_corpus_reads_an_obvious_text_the_same_every_time() -> None:
    first, second = TextModel(TINY, 10.0), TextModel(TINY, 10.0)
    texts = ["опять опоздали с поставкой", "спасибо за отличную работу", "cracked pipes"]
    a, b = first.read(texts), second.read(texts)
    assert a == b
    assert [r.kind for r in a] == ["delivery_discipline", "positive", "quality"]
    assert a[0].process_class == "delivery_planning" and a[2].process_class == "specification"
    assert np.isclose(sum(first.kinds.predict_proba(first.features.transform(texts[:1]))[0]), 1)
    assert first.read([]) == []


def test_the_shipped_corpus_holds_the_labelled_sets_but_never_the_blind_set_d() -> None:
    classifier = load_classifier()
    rows = corpus_rows(classifier.corpus)
    sets = {r["set"] for r in rows}
    assert sets == {"dev", "dev2", "dev3", "dev4", "holdout", "holdout_b", "holdout_c"}
    assert len(rows) == 1584
    kinds = {t.kind for t in labelled_texts(rows)}
    assert kinds == {"delivery_discipline", "quality", "service", "deterioration", "positive",
                     "neutral"}


def test_classify_lets_the_text_model_decide_what_the_lexicon_cannot() -> None:
    shipped = load_classifier()
    corpus = yaml.safe_dump({"items": [
        {"text": t.text, "group": "none" if t.kind == "positive" else t.kind,
         "process_class": None if t.process_class == "none" else t.process_class,
         **({"polarity": "positive"} if t.kind == "positive" else {})} for t in TINY]},
        allow_unicode=True)
    tiny = replace(shipped, corpus=corpus)
    feedback = pd.DataFrame({"feedback_id": ["f1"], "client_id": ["c1"],
                             "text": ["металл весь в трещинках"],
                             "occurred_at": pd.Timestamp("2026-11-20")})
    context = pd.DataFrame(columns=["feedback_id", "order_id", "shipment_id", "otif_miss",
                                    "document_delay", "packaging_incident"])
    alone = classify(feedback, context, replace(shipped, corpus=""), date(2026, 11, 30))
    both = classify(feedback, context, tiny, date(2026, 11, 30))
    # the lexicon knows no word of it ("трещинках" is no term of it); the model reads the
    # stem of "трещины" in its character n-grams
    assert alone.loc[0, "status"] == "review"
    assert (both.loc[0, "status"], both.loc[0, "dissatisfaction_group"],
            both.loc[0, "process_class"]) == ("classified", "quality", "specification")
    assert both.loc[0, "evidence"].startswith("decided by the text model (12 texts): quality")


def test_reviews_become_training_texts_of_the_model() -> None:
    feedback = pd.DataFrame({"feedback_id": ["a", "b", "c"],
                             "text": ["late again", "thanks", "unreviewed"]})
    reviews = pd.DataFrame({"feedback_id": ["b", "a"],
                            "dissatisfaction_group": [None, "delivery_discipline"],
                            "process_class": [None, "delivery_planning"],
                            "polarity": ["positive", "negative"]})
    assert reviewed_texts(feedback, reviews) == [
        LabelledText("late again", "delivery_discipline", "delivery_planning"),
        LabelledText("thanks", "positive", "none")]
    assert reviewed_texts(feedback, None) == []
