"""The learned text model beside the lexicon: a supervised classifier of what a text says,
trained on the hand-labelled corpus the product ships (``rules/classifier_training.yaml``)
plus the people's reviews, and the rule that combines it with the lexicon's decision.

Two multinomial logistic regressions (``class_weight`` balanced) on the same features, TF-IDF
of character n-grams within words (``char_wb``, lengths 2-5: stems, endings and typos in
Russian, English and mixed texts alike) and of word unigrams and bigrams:

- the *kind*: a complaint's group (``delivery_discipline``, ``quality``, ``service``,
  ``deterioration``) or, for no complaint, its polarity (``positive``, ``neutral``);
- the *process class* (``none`` for a text about no process, e.g. general praise).

The model is fitted at first use and kept for the process (same corpus, same model: lbfgs is
deterministic). The combination (:func:`combine`, ``text_model`` in ``classifier.yaml``) per
item, with the lexicon's decision L and the model's kind k of probability p:

1. L decided and of kind k, or both no complaint (praise or a question): L stands;
2. L decided with confidence >= ``keep_confidence``, L put it in ``deterioration`` (its
   worsening cues), or L found no complaint and ``keep_no_complaint`` (its clauses read
   negation and contrast): L stands;
3. p >= ``min_probability``: the model decides (a complaint: group k and the model's best
   process class; no complaint: polarity k and the process class it names, if any);
4. otherwise: review.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.config import parse_yaml

if TYPE_CHECKING:
    from cx_tasks.analyze.classify import Scored

NO_PROCESS = "none"
"""The process class label of a text about no process."""
NO_COMPLAINT_KINDS = ("positive", "neutral")
CORPUS = "classifier_training"
"""The rule table of the shipped training corpus."""


class TextModelRules(BaseModel):
    """``text_model`` in ``classifier.yaml``: the learned model and how it joins the lexicon."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="combine the lexicon with the learned text model")
    min_probability: float = Field(0.6, ge=0, le=1, description=(
        "probability of the model's kind needed for it to decide"))
    keep_confidence: float = Field(0.8, ge=0, le=1.01, description=(
        "a lexicon decision at least this confident stands against the model"))
    keep_no_complaint: bool = Field(True, description=(
        "the lexicon's no complaint (praise, a question) stands against the model"))
    regularisation: float = Field(10.0, gt=0, description="inverse regularisation strength C")


@dataclass(frozen=True)
class LabelledText:
    """One training text: its kind (group or no-complaint polarity) and process class."""

    text: str
    kind: str
    process_class: str


@dataclass(frozen=True)
class Reading:
    """The model's view of one text: its best kind and process class with probabilities
    (``process_class`` the best real process class, ``about_none`` the probability of none)."""

    kind: str
    kind_probability: float
    process_class: str
    process_probability: float
    about_none: float


def kind_of(group: str, polarity: str | None) -> str:
    """The kind of a label: the group of a complaint, the polarity of no complaint."""
    return polarity if group == "none" and polarity in NO_COMPLAINT_KINDS else group


def corpus_rows(text: str) -> list[dict]:
    """The training corpus's rows (``items`` of the YAML text)."""
    return list(parse_yaml(text)["items"])


def labelled_texts(rows: list[dict]) -> list[LabelledText]:
    """Corpus rows as training texts (polarity ``neutral`` when a ``none`` row lacks one)."""
    return [LabelledText(r["text"], kind_of(r["group"], r.get("polarity") or "neutral"),
                         r.get("process_class") or NO_PROCESS) for r in rows]


class TextModel:
    """The fitted pair of regressions (module docstring)."""

    def __init__(self, examples: list[LabelledText], regularisation: float) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion

        self.size = len(examples)
        self.features = FeatureUnion([
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                      lowercase=True, min_df=2)),
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                      lowercase=True, token_pattern=r"(?u)\b\w+\b"))])
        x = self.features.fit_transform([e.text for e in examples])

        def regression(labels: list[str]) -> LogisticRegression:
            return LogisticRegression(C=regularisation, class_weight="balanced",
                                      max_iter=3000, solver="newton-cg").fit(x, labels)

        self.kinds = regression([e.kind for e in examples])
        self.processes = regression([e.process_class for e in examples])

    def read(self, texts: list[str]) -> list[Reading]:
        """The model's reading of each text."""
        if not texts:
            return []
        x = self.features.transform(texts)
        kinds, processes = self.kinds.predict_proba(x), self.processes.predict_proba(x)
        classes = [str(c) for c in self.processes.classes_]
        real = [j for j, c in enumerate(classes) if c != NO_PROCESS]
        none = classes.index(NO_PROCESS) if NO_PROCESS in classes else None
        out = []
        for k_row, p_row in zip(kinds, processes, strict=True):
            best = int(k_row.argmax())
            process = max(real, key=lambda j: (p_row[j], -j))
            out.append(Reading(str(self.kinds.classes_[best]), float(k_row[best]),
                               classes[process], float(p_row[process]),
                               float(p_row[none]) if none is not None else 0.0))
        return out


@lru_cache(maxsize=8)
def _fitted(examples: tuple[LabelledText, ...], regularisation: float) -> TextModel:
    return TextModel(list(examples), regularisation)


def text_model(rules: TextModelRules, corpus: str,
               reviewed: list[LabelledText] | None = None) -> TextModel:
    """The model fitted on the ``corpus`` (YAML text, ``items``) and the people's
    ``reviewed`` texts; fitted once per process for the same input."""
    examples = (*labelled_texts(corpus_rows(corpus)), *(reviewed or []))
    return _fitted(examples, rules.regularisation)


def lexicon_kind(scored: Scored) -> str | None:
    """The kind the lexicon decided (None: sent to review)."""
    if scored.status == "no_complaint":
        return scored.polarity
    return scored.group if scored.status == "classified" else None


def agree(said: str, kind: str) -> bool:
    """Whether two kinds agree: the same group, or both no complaint (praise or a question:
    the polarity alone decides no group)."""
    return said == kind or (said in NO_COMPLAINT_KINDS and kind in NO_COMPLAINT_KINDS)


def combine(scored: Scored, reading: Reading, rules: TextModelRules, size: int) -> Scored:
    """The lexicon's decision joined with the model's reading (module docstring, steps 1-4);
    ``size``: the model's training texts, named in the evidence."""
    said = lexicon_kind(scored)
    if said is not None and (agree(said, reading.kind) or said == "deterioration"
                             or scored.confidence >= rules.keep_confidence
                             or (rules.keep_no_complaint and said in NO_COMPLAINT_KINDS)):
        return scored
    model = (f"text model ({size} texts): {reading.kind} p = {reading.kind_probability:.2f}, "
             f"{reading.process_class} p = {reading.process_probability:.2f}")
    if reading.kind_probability < rules.min_probability:
        if said is None:
            return scored
        return replace(scored, status="review", group=None, process_class=None, cause=None,
                       evidence=[f"{model} disagrees with the lexicon ({said}): review",
                                 *scored.evidence])
    evidence = [f"decided by the {model}", *scored.evidence]
    if reading.kind in NO_COMPLAINT_KINDS:
        about = (reading.process_class if reading.process_probability > reading.about_none
                 else None)
        return replace(scored, status="no_complaint", group=None, process_class=about,
                       cause=None, confidence=reading.kind_probability, evidence=evidence,
                       polarity=reading.kind)
    return replace(scored, status="classified", group=reading.kind,
                   process_class=reading.process_class, cause=None,
                   confidence=reading.kind_probability, evidence=evidence, polarity="negative")
