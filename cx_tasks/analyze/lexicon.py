"""The bilingual lexicon of dissatisfaction (``rules/lexicon.yaml``), loaded and matched.

Users write plain words and phrases; on load every term is turned into word keys by the
same functions that read clients' texts (:mod:`cx_tasks.analyze.text`), so ``задержали``,
``задержка`` or ``delayed`` written in the file meet their inflected forms in a text.

A term matches a text when its keys occur in the text in the term's order with at most
``max_gap`` other words between them in total. Longer terms match first and claim their
words for their cause: ``задержка документов`` (documents) takes the word ``задержка``
away from a shorter delivery term, while other terms of the same cause may still use it.
Terms of causes and of praise share one pass (``без задержек`` is praise, not a late
delivery); worsening cues (a regression: ``всё хуже``, ``used to be fine``) and recurrence
cues (a repeat: ``снова``, ``once again``) are matched on their own. A praise term with a
negator (``не``, ``not``) among the ``negation_reach`` words before it does not count.

Word lists read a text's clauses (:mod:`cx_tasks.analyze.clauses`): ``contrast`` words
start a new clause (``но``, ``but``), ``turn`` words start the present after a ``past``
word (``раньше ..., теперь``; ``used to ..., now``), ``requests`` mark a question, a request
or plain information (``подскажите``, ``could you``, ``fyi``) and ``problems`` name a
problem (``задержка``, ``missing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cx_tasks.analyze.taxonomy import DISSATISFACTION_GROUPS, PROCESS_CLASSES
from cx_tasks.analyze.text import TypoIndex, keys
from cx_tasks.collect.contract import LANGUAGES
from cx_tasks.config import load_rules

PRAISE = "no_complaint"
"""The pseudo-cause of praise terms (a text that voices no dissatisfaction)."""
WORSENING = "worsening"
"""The pseudo-cause of worsening cues (a problem the client says is getting worse)."""
RECURRENCE = "recurrence"
"""The pseudo-cause of recurrence cues (a problem the client says happened before)."""
TOPIC = "topic:"
"""Prefix of the pseudo-cause of a ``topics`` term (``topic:delivery_planning``)."""
REQUEST = "request"
"""The pseudo-cause of request cues (a question or a request, no complaint by itself)."""

Term = str | dict[str, float]
"""A term as written: ``"plain words"`` (default weight) or ``{"plain words": weight}``."""


class TermLists(BaseModel):
    """Terms per language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ru: tuple[Term, ...] = ()
    en: tuple[Term, ...] = ()


class CauseEntry(BaseModel):
    """A cause of dissatisfaction: where it belongs and the words that name it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    process_class: str
    description: str
    terms: TermLists

    @model_validator(mode="after")
    def _taxonomy(self) -> CauseEntry:
        if self.group not in DISSATISFACTION_GROUPS or self.group == "deterioration":
            raise ValueError(f"group {self.group!r} is not one of delivery_discipline, "
                             "quality, service (deterioration is decided by its rules)")
        if self.process_class not in PROCESS_CLASSES:
            raise ValueError(f"process_class {self.process_class!r} is not one of "
                             f"{', '.join(PROCESS_CLASSES)}")
        return self


class LexiconFile(BaseModel):
    """``rules/lexicon.yaml`` as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phrase_weight_per_extra_word: float = Field(
        0.5, ge=0, description="extra weight of a phrase per word after the first")
    max_gap: int = Field(2, ge=0, description="other words allowed inside a phrase match, in "
                         "total")
    negation_reach: int = Field(2, ge=1,
                                description="words before a praise term searched for a negator")
    typo_min_length: int = Field(6, ge=3, description="shortest word read as a misspelling")
    negators: TermLists = Field(description="words negating praise (and, alone, naming a "
                                "problem)")
    causes: dict[str, CauseEntry] = Field(min_length=1, description="cause -> group, process "
                                          "class, description, terms")
    worsening: TermLists = Field(description="worsening cues: a problem getting worse than it "
                                 "was (a regression)")
    recurrence: TermLists = Field(TermLists(), description="recurrence cues: a problem that "
                                  "happened before (a repeat: the flag recurring)")
    no_complaint: TermLists = Field(description="praise terms")
    requests: TermLists = Field(TermLists(), description="a question, a request or plain "
                                "information")
    problems: TermLists = Field(TermLists(), description="words that name a problem")
    topics: dict[str, TermLists] = Field(default_factory=dict, description=(
        "process class -> words that name it without complaining: what praise or a question "
        "speaks about"))
    courtesy: TermLists = Field(TermLists(), description="praise that is mere politeness")
    absence_before: TermLists = Field(TermLists(), description="words before a problem that "
                                      "make it absent (praise)")
    absence_after: TermLists = Field(TermLists(), description="words after a problem that "
                                     "make it absent (praise)")
    negators_not_alone: TermLists = Field(TermLists(), description="negators that name no "
                                          "problem on their own")
    contrast: TermLists = Field(TermLists(), description="words that start a new clause")
    past: TermLists = Field(TermLists(), description="words that start the past")
    turn: TermLists = Field(TermLists(), description="words that start the present after a "
                            "past word")

    @model_validator(mode="after")
    def _reserved(self) -> LexiconFile:
        taken = {PRAISE, WORSENING, RECURRENCE, REQUEST} & set(self.causes)
        if taken:
            raise ValueError(f"cause names {sorted(taken)} are reserved")
        unknown = set(self.topics) - set(PROCESS_CLASSES)
        if unknown:
            raise ValueError(f"topics name unknown process classes {sorted(unknown)}")
        return self


@dataclass(frozen=True)
class LexiconTerm:
    """A term as matched: its keys, weight, the cause (or pseudo-cause) and how it was written."""

    cause: str
    keys: tuple[str, ...]
    weight: float
    written: str
    language: str


@dataclass(frozen=True)
class Match:
    """A term found in a text at word positions ``positions``."""

    term: LexiconTerm
    positions: tuple[int, ...]


@dataclass(frozen=True)
class TermSet:
    """Terms, longest first, and for each word key the positions of the terms holding it."""

    terms: tuple[LexiconTerm, ...]
    by_key: Mapping[str, tuple[int, ...]]

    @classmethod
    def of(cls, terms: Iterable[LexiconTerm]) -> TermSet:
        """The terms sorted longest first (heavier first among equals), indexed by key."""
        ordered = tuple(sorted(terms, key=lambda t: (-len(t.keys), -t.weight)))
        positions: dict[str, list[int]] = {}
        for i, term in enumerate(ordered):
            for key in set(term.keys):
                positions.setdefault(key, []).append(i)
        return cls(ordered, {k: tuple(v) for k, v in positions.items()})

    def within(self, present: set[str]) -> list[LexiconTerm]:
        """The terms all of whose keys are among ``present``, in their order."""
        hits = sorted({i for key in present for i in self.by_key.get(key, ())})
        return [self.terms[i] for i in hits if present.issuperset(self.terms[i].keys)]


@dataclass(frozen=True)
class Lexicon:
    """The compiled lexicon: terms by cause, the cause labels and the typo index."""

    causes: dict[str, CauseEntry]
    terms: TermSet
    """Cause and praise terms."""
    topics: TermSet
    """Cause terms and ``topics`` terms (cause ``topic:<process class>``): what a text
    speaks about when it does not complain."""
    worsening: TermSet
    recurrence: TermSet
    requests: TermSet
    negators: frozenset[str]
    problems: frozenset[str]
    """Word keys that name a problem (a clause with praise or a request complains only
    with one)."""
    courtesy: frozenset[tuple[str, ...]]
    """Keys of the praise terms that are mere politeness (``спасибо``, ``thanks``)."""
    absence_before: tuple[tuple[str, ...], ...]
    """Word keys of the phrases saying a problem word after them is absent (``ни``,
    ``не было``, ``no``)."""
    absence_after: tuple[tuple[str, ...], ...]
    """... and before them (``нет``, ``не было``)."""
    negators_not_alone: frozenset[str]
    """Negators that name no problem alone (``без``, ``without``: "без вопросов")."""
    contrast: frozenset[str]
    """Word keys that start a new clause."""
    past: tuple[tuple[str, ...], ...]
    """Keys of the words and phrases that open the past (``раньше``, ``last year``)."""
    turn: frozenset[str]
    max_gap: int
    negation_reach: int
    typos: TypoIndex = field(compare=False)

    def label(self, cause: str) -> tuple[str, str]:
        """(dissatisfaction group, process class) of a cause."""
        entry = self.causes[cause]
        return entry.group, entry.process_class

    def process_class(self, cause: str) -> str:
        """The process class of a cause or of a ``topics`` term's pseudo-cause."""
        return cause.removeprefix(TOPIC) if cause.startswith(TOPIC) else self.label(cause)[1]


def _compile(cause: str, lists: TermLists, extra_word: float) -> list[LexiconTerm]:
    """The terms of one list, keyed; raises on a term without words or written twice."""
    out, seen = [], set()
    for language in LANGUAGES:
        for term in getattr(lists, language):
            if isinstance(term, dict):
                if len(term) != 1:
                    raise ValueError(f"{cause}: a weighted term is one 'words: weight' pair")
                (written, weight), = term.items()
            else:
                written, weight = term, None
            term_keys = tuple(keys(written))
            if not term_keys:
                raise ValueError(f"{cause}: term {written!r} has no words")
            if term_keys in seen:
                raise ValueError(f"{cause}: term {written!r} repeats another term's words")
            seen.add(term_keys)
            if weight is None:
                weight = 1.0 + extra_word * (len(term_keys) - 1)
            out.append(LexiconTerm(cause, term_keys, float(weight), written, language))
    return out


def compile_lexicon(source: LexiconFile) -> Lexicon:
    """The lexicon with every term keyed by :func:`cx_tasks.analyze.text.keys`."""
    extra = source.phrase_weight_per_extra_word
    terms = [t for cause, entry in source.causes.items()
             for t in _compile(cause, entry.terms, extra)]
    topics = TermSet.of([*terms, *(t for process_class, lists in source.topics.items()
                                   for t in _compile(f"{TOPIC}{process_class}", lists, 0))])
    terms += _compile(PRAISE, source.no_complaint, extra)
    worsening = _compile(WORSENING, source.worsening, extra)
    recurrence = _compile(RECURRENCE, source.recurrence, extra)
    requests = _compile(REQUEST, source.requests, extra)

    def single(name: str, lists: TermLists) -> frozenset[str]:
        return frozenset(k for t in _compile(name, lists, 0) for k in t.keys)

    def phrases(name: str, lists: TermLists) -> tuple[tuple[str, ...], ...]:
        return tuple(t.keys for t in _compile(name, lists, 0))

    every_key = {k for t in (*terms, *worsening, *recurrence, *requests) for k in t.keys}
    every_key |= single("problems", source.problems)
    return Lexicon(dict(source.causes), TermSet.of(terms), topics, TermSet.of(worsening),
                   TermSet.of(recurrence), TermSet.of(requests),
                   single("negators", source.negators), single("problems", source.problems),
                   frozenset(phrases("courtesy", source.courtesy)),
                   phrases("absence_before", source.absence_before),
                   phrases("absence_after", source.absence_after),
                   single("negators_not_alone", source.negators_not_alone),
                   single("contrast", source.contrast),
                   phrases("past", source.past), single("turn", source.turn),
                   source.max_gap, source.negation_reach,
                   TypoIndex(every_key, source.typo_min_length))


def load_lexicon(rules_dir: Path | None = None) -> Lexicon:
    """``rules/lexicon.yaml`` (or the user's copy in ``rules_dir``), validated and compiled."""
    return compile_lexicon(load_rules("lexicon", LexiconFile, rules_dir))


def _find(term: LexiconTerm, text_keys: list[str], owners: list[set[str]],
          max_gap: int) -> list[tuple[int, ...]]:
    """Non-overlapping places of the term's keys in order, at most ``max_gap`` other words
    between its first and last, over words no other cause has used; the places found are
    marked as used by the term's cause."""
    found: list[tuple[int, ...]] = []
    n, size = len(text_keys), len(term.keys)

    def usable(j: int, key: str) -> bool:
        return text_keys[j] == key and (not owners[j] or term.cause in owners[j])

    taken: set[int] = set()
    for start in range(n):
        if start in taken or not usable(start, term.keys[0]):
            continue
        positions, at = [start], start
        limit = min(n, start + size + max_gap)
        for key in term.keys[1:]:
            nxt = next((j for j in range(at + 1, limit) if j not in taken and usable(j, key)),
                       None)
            if nxt is None:
                break
            positions.append(nxt)
            at = nxt
        if len(positions) == size:
            found.append(tuple(positions))
            taken.update(positions)
    for p in taken:
        owners[p].add(term.cause)
    return found


def _negated(lexicon: Lexicon, text_keys: list[str], first: int) -> bool:
    """Whether a negator stands among the ``negation_reach`` words before ``first``; a
    negator that starts an ``absence_after`` phrase right after a problem word says that
    problem is absent ("задержек не было, всё отлично") and negates nothing else."""
    start = max(0, first - lexicon.negation_reach)

    def says_absent(j: int) -> bool:
        before = text_keys[max(0, j - 2):j]
        return any(k in lexicon.problems for k in before) and any(
            tuple(text_keys[j:j + len(p)]) == p for p in lexicon.absence_after)

    return any(text_keys[j] in lexicon.negators and not says_absent(j)
               for j in range(start, first))


def match_terms(lexicon: Lexicon, terms: TermSet, text_keys: list[str]) -> list[Match]:
    """The terms found in a text (module docstring): longest first; a word used by a term
    of one cause is not available to other causes' terms (terms written alike in several
    causes all match there); a negated praise term is dropped."""
    owners: list[set[str]] = [set() for _ in text_keys]
    matches: list[Match] = []
    places_of: dict[tuple[str, ...], list[tuple[int, ...]]] = {}
    for term in terms.within(set(text_keys)):
        if term.keys in places_of:
            places = places_of[term.keys]
            for p in (p for place in places for p in place):
                owners[p].add(term.cause)
        else:
            places = places_of[term.keys] = _find(term, text_keys, owners, lexicon.max_gap)
        if term.cause == PRAISE:
            places = [p for p in places if not _negated(lexicon, text_keys, p[0])]
        if places:
            matches.append(Match(term, places[0]))
    return matches
