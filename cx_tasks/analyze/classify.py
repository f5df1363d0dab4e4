"""The classifier of dissatisfaction: lexicon terms plus operational context, a confidence,
and the deterioration test; every decision carries the evidence behind it.

For each item: the text's words are keyed (:mod:`cx_tasks.analyze.text`; a misspelt word is
read as the lexicon word it misspells), lexicon terms are matched
(:mod:`cx_tasks.analyze.lexicon`), each cause scores the weights of its terms plus the
context weights of ``rules/classifier.yaml`` (OTIF miss, document delay, packaging
incident), and causes sharing a (group, process class) label add up. With ``L1`` the best
label's score and ``L2`` the runner-up's::

    margin = (L1 - L2) / (L1 + smoothing)

and the confidence is the margin mapped to the probability that the group and process class
are right (:mod:`cx_tasks.analyze.confidence`, ``confidence`` in the rules; without that
table the confidence is the raw margin).

Status:

- ``classified``: confidence >= threshold; group and process class of the best label,
  cause its best cause; the group becomes ``deterioration`` when a rule of
  :mod:`cx_tasks.analyze.deterioration` fires (process class kept);
- ``no_complaint``: no clause complains (:mod:`cx_tasks.analyze.clauses`: the clause that
  complains decides), and the text praises (polarity ``positive``, praise weight ``P``) or
  asks (``neutral``, request weight ``P``, a question mark weighing 1) with ``P / (P +
  smoothing) >= threshold``; no group, the process class the text speaks about (its best
  cause label among all its terms, if any); never a complaint. A question about an order
  with an operational failure ("где наш груз?" on an order that missed OTIF) is read by
  its context like any other item;
- ``review``: anything else (confidence below the threshold, or no evidence at all);
  group, process class and cause stay empty: a person decides (``feedback_reviews``).

Before that, a linear model (:func:`consult_model`, ``learned`` in the rules) trained on the
people's reviews and the rules' confident decisions may classify an item the rules sent to
review when its probability reaches ``min_probability``; its evidence says so.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.analyze.clauses import (
    COMPLAINT,
    COURTESY,
    PRAISED,
    REQUEST,
    Clause,
    PolarityRules,
    Reading,
    read,
)
from cx_tasks.analyze.confidence import ConfidenceMap, calibrated
from cx_tasks.analyze.context import CONTEXT_COLUMNS
from cx_tasks.analyze.deterioration import DeteriorationRules, deterioration
from cx_tasks.analyze.lexicon import (
    PRAISE,
    Lexicon,
    LexiconFile,
    compile_lexicon,
    match_terms,
)
from cx_tasks.analyze.taxonomy import DISSATISFACTION_GROUPS, NO_COMPLAINT_POLARITIES
from cx_tasks.analyze.text_model import (
    CORPUS,
    NO_PROCESS,
    LabelledText,
    TextModelRules,
    combine,
    kind_of,
    text_model,
)
from cx_tasks.collect.contract import PACKAGING_INCIDENT_TYPES
from cx_tasks.config import parse_yaml, rules_text

CLASS_COLUMNS = ["feedback_id", "client_id", "status", "dissatisfaction_group", "process_class",
                 "cause", "confidence", "deterioration", "evidence", "classifier_version",
                 "classified_on", "polarity", "recurring"]
"""The columns of ``feedback_classes``, in order."""
STATUSES = ("classified", "review", "reviewed", "no_complaint")


class ContextWeights(BaseModel):
    """Evidence from operations: cause -> weight added when the signal is present."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    otif_miss: dict[str, float] = Field(
        default_factory=dict, description="cause -> weight when the item's order missed OTIF")
    document_delay: dict[str, float] = Field(
        default_factory=dict,
        description="cause -> weight when a document of the item's order was late")
    packaging_incident: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="incident type -> cause -> weight when the claim's "
        "shipment had a packaging incident")


class LearnedModel(BaseModel):
    """The linear model consulted for items the rules send to review."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="consult the model for items the rules send to "
                          "review")
    learn_from_rules: bool = Field(
        True, description="learn from the rules' confident decisions too, not only from reviews")
    min_training_items: int = Field(50, ge=2, description="fewer examples than this: no model")
    min_probability: float = Field(0.6, gt=0, le=1,
                                   description="probability of the best label needed to decide")
    regularisation: float = Field(1.0, gt=0,
                                  description="inverse regularisation strength C")


class ClassifierRules(BaseModel):
    """``rules/classifier.yaml``: threshold, smoothing, the confidence table, context
    weights, deterioration and the learned model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.6, ge=0, le=1, description="confidence needed to classify "
                             "without a person (left out: 0.6)")
    smoothing: float = Field(0.5, gt=0, description="shrinks thin evidence in the margin "
                             "(L1 - L2) / (L1 + smoothing)")
    confidence: ConfidenceMap | None = Field(None, description=(
        "margin -> probability of being right (the calibration table); left out: the "
        "confidence is the raw margin"))
    context: ContextWeights = Field(default_factory=ContextWeights)
    deterioration: DeteriorationRules = Field(default_factory=DeteriorationRules)
    polarity: PolarityRules = Field(default_factory=PolarityRules)
    learned: LearnedModel = Field(default_factory=LearnedModel)
    text_model: TextModelRules = Field(default_factory=TextModelRules)


@dataclass(frozen=True)
class Classifier:
    """The lexicon and rules one classification run uses, and their version."""

    lexicon: Lexicon
    rules: ClassifierRules
    version: str
    """``rules-`` and the first 12 hex digits of the SHA-256 of the three YAML texts."""
    corpus: str = ""
    """The YAML text of the text model's training corpus (``classifier_training.yaml``;
    empty: no text model)."""


def build_classifier(lexicon: LexiconFile, rules: ClassifierRules, version: str,
                     corpus: str = "") -> Classifier:
    """A classifier from validated rule tables and the text model's corpus (empty: no text
    model); raises when the context names a cause or an incident type the lexicon and the
    data contract do not know."""
    known = set(lexicon.causes)
    named = {*rules.context.otif_miss, *rules.context.document_delay,
             *(c for by_cause in rules.context.packaging_incident.values() for c in by_cause)}
    if named - known:
        raise ValueError(f"classifier.yaml context names unknown causes {sorted(named - known)}")
    types = set(rules.context.packaging_incident) - set(PACKAGING_INCIDENT_TYPES)
    if types:
        raise ValueError(f"classifier.yaml names unknown packaging incident types {sorted(types)}")
    return Classifier(compile_lexicon(lexicon), rules, version, corpus)


def raw_rules(classifier: Classifier) -> Classifier:
    """The classifier as the confidence table is fitted on: every item with a best label
    decided (threshold 0), confidence = the raw margin, no learned model, no text model."""
    rules = classifier.rules.model_copy(update={
        "threshold": 0.0, "confidence": None,
        "learned": classifier.rules.learned.model_copy(update={"enabled": False}),
        "text_model": classifier.rules.text_model.model_copy(update={"enabled": False})})
    return replace(classifier, rules=rules, version=f"{classifier.version}-raw")


def load_classifier(rules_dir: Path | None = None) -> Classifier:
    """The classifier of ``rules/lexicon.yaml``, ``rules/classifier.yaml`` and the text
    model's corpus ``rules/classifier_training.yaml`` (or the user's copies in
    ``rules_dir``)."""
    texts = [rules_text(name, rules_dir) for name in ("lexicon", "classifier", CORPUS)]
    version = "rules-" + hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:12]
    return build_classifier(LexiconFile.model_validate(parse_yaml(texts[0])),
                            ClassifierRules.model_validate(parse_yaml(texts[1])), version,
                            texts[2])


@dataclass(frozen=True)
class Scored:
    """One item scored: the decision before the deterioration test and its evidence."""

    status: str
    group: str | None
    process_class: str | None
    cause: str | None
    confidence: float
    worsening: float
    evidence: list[str]
    features: tuple[str, ...] = ()
    """What the learned model sees: word keys, pairs of neighbouring keys, context signals."""
    polarity: str | None = None
    """negative (a complaint), positive (praise), neutral (a question, request or
    information) or None (nothing known)."""
    recurrence: float = 0.0
    """Weight of the text's recurrence cues (the problem happened before)."""


def _context_evidence(rules: ContextWeights, signals: dict,
                      named: set[str]) -> list[tuple[str, float, str]]:
    """(cause, weight, signal in words) of an item's operational context. A signal listing
    several causes supports those of them the text names (``named``), all of them when
    the text names none (an OTIF miss confirms the late or the short delivery a text
    speaks of; alone it points at both)."""
    listed: list[tuple[dict[str, float], str]] = []
    order = signals.get("order_id")
    if signals.get("otif_miss"):
        listed.append((rules.otif_miss, f"order {order} missed OTIF"))
    if signals.get("document_delay"):
        listed.append((rules.document_delay, f"a document of order {order} was late"))
    incident = signals.get("packaging_incident")
    if isinstance(incident, str):
        shipment = signals.get("shipment_id")
        where = f" on shipment {shipment}" if isinstance(shipment, str) else ""
        listed.append((rules.packaging_incident.get(incident, {}),
                       f"packaging incident '{incident}'{where}"))
    out = []
    for weights, signal in listed:
        chosen = [c for c in weights if c in named] or list(weights)
        out += [(c, weights[c], signal) for c in chosen if weights[c] > 0]
    return out


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _features(text_keys: list[str], signals: dict) -> tuple[str, ...]:
    """Word keys, neighbouring key pairs and the context signals present, as model features."""
    pairs = [f"{a} {b}" for a, b in zip(text_keys, text_keys[1:], strict=False)]
    context = [f"context:{name}" for name in ("otif_miss", "document_delay")
               if signals.get(name)]
    if isinstance(signals.get("packaging_incident"), str):
        context.append(f"context:packaging_incident:{signals['packaging_incident']}")
    return (*text_keys, *pairs, *context)


def _topic(lexicon: Lexicon, clauses: list[Clause]) -> tuple[str | None, str]:
    """The process class clauses speak about (the most weight among their cause and
    ``topics`` terms read without praise), and the terms in words."""
    score: dict[str, float] = defaultdict(float)
    named = []
    for clause in clauses:
        for m in match_terms(lexicon, lexicon.topics, list(clause.keys)):
            score[lexicon.process_class(m.term.cause)] += m.term.weight
            named.append(f"'{m.term.written}'")
    if not score:
        return None, ""
    best = min(score, key=lambda process_class: (-score[process_class], process_class))
    return best, f"; speaks of {best} ({', '.join(named)})"


def _no_complaint(classifier: Classifier, reading: Reading, cue: float, recurrence: float,
                  evidence: list[str], features: tuple[str, ...]) -> Scored:
    """A text no clause of which complains: praise (positive) or a question (neutral)."""
    lexicon, rules = classifier.lexicon, classifier.rules
    kind = PRAISED if reading.polarity == "positive" else REQUEST
    clauses = reading.of_kind(kind) or reading.of_kind(COURTESY)
    if kind == PRAISED:
        weight = sum(c.praise for c in clauses)
        said = "praise " + _fmt(weight) + " <- " + ", ".join(
            f"'{m.term.written}'" for c in clauses for m in c.matches if m.term.cause == PRAISE)
    else:
        weight = sum(max(1.0 if c.asks else 0.0, sum(
            m.term.weight for m in match_terms(lexicon, lexicon.requests, list(c.keys))))
            for c in clauses)
        said = f"a question or request {_fmt(weight)}"
    confidence = weight / (weight + rules.smoothing)
    process_class, spoken = _topic(lexicon, clauses)
    status = "no_complaint" if confidence >= rules.threshold else "review"
    evidence.insert(0, f"no complaint ({reading.polarity}): {said}{spoken}")
    return Scored(status, None, process_class if status == "no_complaint" else None, None,
                  confidence, cue, evidence, features, reading.polarity, recurrence)


def _worsening_only(classifier: Classifier, reading: Reading, cue: float, recurrence: float,
                    evidence: list[str], features: tuple[str, ...]) -> Scored:
    """A text with no cause term: review, unless it says something is getting worse
    (worsening cues of at least ``deterioration.worsening.min_score``) and names the process
    ("the last batches are noticeably worse", "lead times всё длиннее"): deterioration of
    that process, confidence the calibrated ``cue / (cue + smoothing)``."""
    rules = classifier.rules
    process_class, spoken = _topic(classifier.lexicon, list(reading.clauses))
    worse = rules.deterioration.worsening
    if process_class is None or not worse.enabled or cue < worse.min_score:
        return Scored("review", None, None, None, 0.0, cue,
                      ["no lexicon term and no operational signal", *evidence], features,
                      reading.polarity, recurrence)
    margin = cue / (cue + rules.smoothing)
    confidence = margin if rules.confidence is None else calibrated(rules.confidence, margin)
    evidence.insert(0, f"no cause term; worsening {_fmt(cue)}: margin {margin:.2f} -> "
                       f"confidence {confidence:.2f}{spoken}")
    status = "classified" if confidence >= rules.threshold else "review"
    return Scored(status, "deterioration" if status == "classified" else None,
                  process_class if status == "classified" else None, None, confidence, cue,
                  evidence, features, "negative", recurrence)


def score_item(classifier: Classifier, text: str, signals: dict) -> Scored:
    """The decision for one text and its context signals (``CONTEXT_COLUMNS`` keys, any
    may be missing), before the deterioration test. Only the clauses that complain score
    causes (:mod:`cx_tasks.analyze.clauses`); a text none of whose clauses complains is
    praise or a question and gets no group."""
    lexicon, rules = classifier.lexicon, classifier.rules
    reading = read(lexicon, text)
    text_keys = reading.keys
    worsening = match_terms(lexicon, lexicon.worsening, text_keys)
    recurring = match_terms(lexicon, lexicon.recurrence, text_keys)
    evidence = [f"typo '{c.word}' read as '{c.meant}'" for c in reading.corrections]
    cue = sum(m.term.weight for m in worsening)
    recurrence = sum(m.term.weight for m in recurring)
    features = _features(text_keys, signals)
    if worsening:
        evidence.append("worsening cues " + ", ".join(f"'{m.term.written}'" for m in worsening))
    if reading.fine_before:
        cue += rules.polarity.fine_before
        evidence.append(f"fine before, a complaint now {_fmt(rules.polarity.fine_before)}")
    if recurring:
        evidence.append("recurrence cues " + ", ".join(f"'{m.term.written}'" for m in recurring))
    set_aside = [c for c in reading.clauses if c.kind != COMPLAINT or c.past]
    if reading.polarity == "negative" and set_aside:
        evidence.append("clauses set aside: " + ", ".join(
            f"{'past ' if c.past else ''}{c.kind} '{' '.join(c.keys)}'" for c in set_aside))
    cause_score: dict[str, float] = defaultdict(float)
    reasons: dict[str, list[str]] = defaultdict(list)
    for m in (m for c in reading.of_kind(COMPLAINT) for m in c.matches):
        if m.term.cause != PRAISE:
            cause_score[m.term.cause] += m.term.weight
            reasons[m.term.cause].append(f"'{m.term.written}' {_fmt(m.term.weight)}")
    context = _context_evidence(rules.context, signals, set(cause_score))
    if reading.polarity == "positive" or (reading.polarity == "neutral" and not context):
        return _no_complaint(classifier, reading, cue, recurrence, evidence, features)
    for cause, weight, signal in context:
        cause_score[cause] += weight
        reasons[cause].append(f"{signal} {_fmt(weight)}")
    if not cause_score:
        return _worsening_only(classifier, reading, cue, recurrence, evidence, features)
    by_label: dict[tuple[str, str], float] = defaultdict(float)
    for cause, score in cause_score.items():
        by_label[lexicon.label(cause)] += score
    order = list(lexicon.causes)
    ranked = sorted(by_label.items(), key=lambda kv: -kv[1])
    (best, top), runner_up = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
    margin = (top - runner_up) / (top + rules.smoothing)
    confidence = margin if rules.confidence is None else calibrated(rules.confidence, margin)
    cause = min((c for c in cause_score if lexicon.label(c) == best),
                key=lambda c: (-cause_score[c], order.index(c)))
    described = [f"{'/'.join(label)} {_fmt(score)} <- " + "; ".join(
        f"{c}: {', '.join(reasons[c])}" for c in cause_score if lexicon.label(c) == label)
        for label, score in ranked]
    said = (f"margin ({_fmt(top)} - {_fmt(runner_up)}) / ({_fmt(top)} + "
            f"{_fmt(rules.smoothing)}) = {margin:.2f}")
    if rules.confidence is not None:
        said += f" -> confidence {confidence:.2f} (calibration table)"
    evidence[:0] = [said, *described]
    if confidence >= rules.threshold:
        return Scored("classified", best[0], best[1], cause, confidence, cue, evidence,
                      features, "negative", recurrence)
    return Scored("review", None, None, None, confidence, cue, evidence, features,
                  "negative", recurrence)


def consult_model(scored: list[Scored], labels: list[tuple[str, str] | None],
                  rules: LearnedModel) -> list[Scored]:
    """Items the rules sent to review, decided by a linear model where it is sure enough.

    The model (TF-IDF of :func:`_features`, multinomial logistic regression with inverse
    regularisation ``regularisation``) learns the (group, process class) of ``labels``
    (a person's review, None where there is none) and, with ``learn_from_rules``, of the
    rules' own confident decisions. An item in review whose best label has a probability
    of at least ``min_probability`` is classified with it (confidence = that probability,
    cause unknown); its evidence names the model and the features that weighed most.
    Nothing changes with fewer than ``min_training_items`` examples or a single label.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    examples = [(s.features, label if label is not None else (s.group, s.process_class))
                for s, label in zip(scored, labels, strict=True)
                if label is not None or (rules.learn_from_rules and s.status == "classified")]
    if len(examples) < rules.min_training_items or len({y for _, y in examples}) < 2:
        return scored
    waiting = [i for i, s in enumerate(scored) if s.status == "review" and labels[i] is None]
    if not waiting:
        return scored
    vectoriser = TfidfVectorizer(analyzer=list, sublinear_tf=True)
    x = vectoriser.fit_transform([f for f, _ in examples])
    names = [f"{g}/{p}" for _, (g, p) in examples]
    model = LogisticRegression(C=rules.regularisation, max_iter=2000).fit(x, names)
    unseen = vectoriser.transform([scored[i].features for i in waiting])
    probabilities = model.predict_proba(unseen)
    vocabulary = vectoriser.get_feature_names_out()
    out = list(scored)
    for row, i in enumerate(waiting):
        best = int(probabilities[row].argmax())
        p = float(probabilities[row, best])
        if p < rules.min_probability:
            continue
        weights = (unseen[row].toarray()[0] * model.coef_[best]
                   if len(model.classes_) > 2 else unseen[row].toarray()[0])
        top = [f"'{vocabulary[j]}'" for j in weights.argsort()[::-1][:3] if weights[j] > 0]
        group, process_class = str(model.classes_[best]).split("/")
        said = (f"linear model trained on {len(examples)} decided items: {group}/"
                f"{process_class} p = {p:.2f} (features {', '.join(top)})")
        out[i] = replace(scored[i], status="classified", group=group,
                         process_class=process_class, confidence=p,
                         evidence=[said, *scored[i].evidence])
    return out


def reviewed_texts(feedback: pd.DataFrame, reviews: pd.DataFrame | None) -> list[LabelledText]:
    """The people's reviews of items in ``feedback`` as training texts of the text model, in
    feedback order."""
    if reviews is None or reviews.empty:
        return []
    by_id = reviews.set_index("feedback_id")
    out = []
    for fid, text in zip(feedback["feedback_id"], feedback["text"], strict=True):
        if fid not in by_id.index:
            continue
        review = by_id.loc[fid]
        group = review["dissatisfaction_group"]
        polarity = review.get("polarity")
        kind = kind_of(group if isinstance(group, str) else "none",
                       polarity if isinstance(polarity, str) else None)
        process_class = review["process_class"]
        if kind in DISSATISFACTION_GROUPS or kind in NO_COMPLAINT_POLARITIES:
            out.append(LabelledText(text, kind, process_class if isinstance(process_class, str)
                                    else NO_PROCESS))
    return out


def with_text_model(scored: list[Scored], feedback: pd.DataFrame, classifier: Classifier,
                    reviews: pd.DataFrame | None) -> list[Scored]:
    """The lexicon's decisions combined with the text model's readings
    (:func:`cx_tasks.analyze.text_model.combine`); the model learns the shipped corpus and
    the people's ``reviews``."""
    rules = classifier.rules.text_model
    model = text_model(rules, classifier.corpus, reviewed_texts(feedback, reviews))
    readings = model.read([str(t) for t in feedback["text"]])
    return [combine(s, r, rules, model.size) for s, r in zip(scored, readings, strict=True)]


def classify(feedback: pd.DataFrame, context: pd.DataFrame, classifier: Classifier,
             as_of: date, history: pd.DataFrame | None = None,
             reviews: pd.DataFrame | None = None) -> pd.DataFrame:
    """One ``feedback_classes`` row per item of ``feedback`` (feedback_id, client_id, text,
    occurred_at), with its ``context`` (``CONTEXT_COLUMNS``, rows may be missing), the
    clients' earlier items ``history`` (client_id, cause, occurred_at; the items
    themselves always count) for the deterioration test, and the people's ``reviews``
    (feedback_id, dissatisfaction_group, process_class; a review without a group is no
    complaint and teaches it nothing) the learned model learns from;
    columns ``CLASS_COLUMNS``."""
    signals = (context.set_index("feedback_id")[CONTEXT_COLUMNS[1:]].to_dict("index")
               if len(context) else {})
    scored = [score_item(classifier, text, signals.get(fid, {}))
              for fid, text in zip(feedback["feedback_id"], feedback["text"], strict=True)]
    if classifier.rules.text_model.enabled and classifier.corpus:
        scored = with_text_model(scored, feedback, classifier, reviews)
    if classifier.rules.learned.enabled:
        reviewed = {} if reviews is None else {
            r.feedback_id: (r.dissatisfaction_group, r.process_class)
            for r in reviews.itertuples(index=False)
            if isinstance(r.dissatisfaction_group, str)  # a "no complaint" names no group
            and r.dissatisfaction_group != "deterioration"}
        scored = consult_model(scored, [reviewed.get(f) for f in feedback["feedback_id"]],
                               classifier.rules.learned)
    out = pd.DataFrame({
        "feedback_id": feedback["feedback_id"].to_numpy(),
        "client_id": feedback["client_id"].to_numpy(),
        "status": [s.status for s in scored],
        "dissatisfaction_group": [s.group for s in scored],
        "process_class": [s.process_class for s in scored],
        "cause": [s.cause for s in scored],
        "confidence": [round(s.confidence, 4) for s in scored],
    })
    items = pd.DataFrame({"feedback_id": out["feedback_id"], "client_id": out["client_id"],
                          "cause": out["cause"],
                          "occurred_at": pd.to_datetime(feedback["occurred_at"]).to_numpy(),
                          "worsening": [s.worsening for s in scored],
                          "recurrence": [s.recurrence for s in scored],
                          "decided": [s.status == "classified" for s in scored]})
    counted = items[["client_id", "cause", "occurred_at"]]
    if history is not None and len(history):
        counted = pd.concat([counted, history[["client_id", "cause", "occurred_at"]]
                             .astype({"occurred_at": "datetime64[ns]"})], ignore_index=True)
    start = counted["occurred_at"].min() if len(counted) else pd.Timestamp(as_of)
    rules = deterioration(items, counted, classifier.rules.deterioration, start)
    moved = rules["rule"].notna().to_numpy()
    out.loc[moved, "dissatisfaction_group"] = "deterioration"
    out["deterioration"] = rules["rule"].to_numpy()
    out["evidence"] = ["; ".join([*s.evidence, *([f"deterioration ({r}): {d}"]
                                                 if isinstance(r, str) else  # NaN: none
                                                 [d] if isinstance(d, str) else [])])
                       for s, r, d in zip(scored, rules["rule"], rules["detail"], strict=True)]
    out["polarity"] = [s.polarity for s in scored]
    out["recurring"] = rules["recurring"].to_numpy(bool)
    out["classifier_version"] = classifier.version
    out["classified_on"] = as_of
    return out[CLASS_COLUMNS].astype(object).where(out[CLASS_COLUMNS].notna(), None)
