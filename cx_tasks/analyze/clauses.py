"""The clause that complains: a text read clause by clause, so that praise, a question or the
past in one clause neither makes nor hides a complaint in another.

A text is cut into sentences (at ``.``, ``!``, ``?``, ``;`` or ``:`` before a space, a line
break, a dash between spaces) and a sentence into clauses at each ``contrast`` word of the
lexicon (``но``, ``однако``, ``а``, ``but``, ``however``) and at a ``turn`` word
(``теперь``, ``now``) that follows a ``past`` word (``раньше``, ``used to``): the clauses
from the past word up to the turn are **past**. Each clause's cause and praise terms are
matched (:func:`cx_tasks.analyze.lexicon.match_terms`), with ``cause`` and ``praise`` the
weights found, and the clause is

- ``complaint`` when it has cause terms and either neither praise nor a request, or a
  **problem** (:func:`problems`) and cause terms at least as heavy as its praise
  ("delivery late на 2-3 дня, стабильно"): "вышлите
  сертификат" names a document without complaining about it, "сертификат так и не
  прислали" complains; a problem the clause says is absent ("задержек не было", "no
  damage") counts as praise weighing 1;
- ``praise`` when it praises beyond mere ``courtesy`` ("спасибо", "thanks") and does not
  complain;
- ``request`` when its sentence ends with ``?`` or it holds a ``requests`` cue (a question,
  a request, plain information such as "fyi", "сообщаем");
- ``courtesy`` when its only praise is politeness; ``plain`` otherwise.

Praise after a past word inside one clause ("раньше возили чётко день в день, ...", "you
used to be reliable") is praise of the past: it does not count as praise, and with a
complaint it is a worsening the client points out (``fine_before``).

A question whose problem is named in another clause ("почему цена в счёте выше? Требуем
исправить") complains too: when no clause complains but a present plain or asking clause
names a problem, the asking clauses with cause terms complain.

The text's **polarity**: ``negative`` when a clause that is not past complains, else
``positive`` when one praises, else ``neutral`` when one asks, else ``positive`` when one
thanks and none names a problem ("Спасибо!"), else None (nothing known: the operational
context, if any, decides).
The past decides only through the worsening it shows: a past clause that did not complain
("раньше всегда вовремя", "used to be reliable", "раньше отвечали за час") or praise of the
past inside a clause, before a complaint now, adds ``fine_before`` to the text's worsening
cues; a past that complained too ("раньше были задержки, теперь ещё и брак") shows none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.analyze.lexicon import PRAISE, Lexicon, Match, match_terms
from cx_tasks.analyze.text import Correction, words

COMPLAINT, PRAISED, REQUEST, COURTESY, PLAIN = (
    "complaint", "praise", "request", "courtesy", "plain")
"""What a clause is (module docstring)."""

_SENTENCE_END = re.compile(r"([.!?;:]+)(?=\s|$)|[\r\n]+|\s[\u2014\u2013-]\s")


class PolarityRules(BaseModel):
    """``polarity`` in ``rules/classifier.yaml``: how clauses decide a text's polarity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fine_before: float = Field(1.0, ge=0, description="worsening weight of a past that was "
                               "fine (praised or did not complain) before a complaint now")


@dataclass(frozen=True)
class Clause:
    """One clause: its word keys, cause and praise terms and what it is."""

    keys: tuple[str, ...]
    matches: tuple[Match, ...]
    cause: float
    praise: float
    asks: bool
    past: bool
    kind: str
    problem: bool = False
    """It names a problem (:func:`problems`)."""
    absent: int = 0
    """Problems it says are absent (each counts as praise weighing 1)."""
    past_praise: float = 0.0
    """Praise after a past word in the clause ("you used to be reliable"): praise of the
    past, not counted as praise."""


@dataclass(frozen=True)
class Reading:
    """A text read clause by clause."""

    keys: list[str]
    """The whole text's word keys (misspellings read as the lexicon key they miss)."""
    corrections: list[Correction]
    clauses: tuple[Clause, ...]
    polarity: str | None
    fine_before: bool
    """Praise in a past clause before a complaint now."""

    def of_kind(self, kind: str) -> list[Clause]:
        """The present (not past) clauses of one kind."""
        return [c for c in self.clauses if c.kind == kind and not c.past]


def sentences(text: str) -> list[tuple[str, bool]]:
    """The text's sentences and whether each is a question (ends with ``?``)."""
    out, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        out.append((text[start:end.start()], "?" in (end.group(1) or "")))
        start = end.end()
    out.append((text[start:], False))
    return [(s, q) for s, q in out if s.strip()]


def _occurrences(keys: list[str], phrases: tuple[tuple[str, ...], ...]
                 ) -> list[tuple[int, int]]:
    """(start, end) word positions of every phrase found in the keys, end exclusive."""
    return [(i, i + len(p)) for p in phrases for i in range(len(keys) - len(p) + 1)
            if tuple(keys[i:i + len(p)]) == p]


def problems(lexicon: Lexicon, keys: list[str], praised: set[int],
             complained: frozenset[int] = frozenset()) -> tuple[bool, int]:
    """Whether a clause names a problem, and how many problems it says are absent.

    A ``problems`` word names one unless an ``absence_before`` phrase ends among the
    ``negation_reach`` words before it ("ни одной протечки", "no damage", "не было
    задержек") or an ``absence_after`` phrase starts right after it or one word later
    ("задержек не было", "брака нет"): then the problem is absent. A negator that cancels
    no problem names one ("не пришли", "did not arrive", "still no reply"), except the
    ``negators_not_alone`` ("без вопросов"). Words of praise terms (``praised``
    positions: "no issues") name nothing; words of cause terms matched without a gap
    (``complained`` positions: "без ответа", "нет сертификата", "no reply") make nothing
    absent: the absence is the complaint ("claim висит без ответа уже месяц")."""
    before = [o for o in _occurrences(keys, lexicon.absence_before)
              if not complained.intersection(range(*o))]
    after = [o for o in _occurrences(keys, lexicon.absence_after)
             if not complained.intersection(range(*o))]
    used: set[int] = set()
    named, absent = False, 0
    for i, k in enumerate(keys):
        if i in praised or k not in lexicon.problems:
            continue
        cancel = ([o for o in before if i - lexicon.negation_reach <= o[1] - 1 < i]
                  + [o for o in after if i < o[0] <= i + 2])
        if cancel:
            absent += 1
            used.update(p for start, end in cancel for p in range(start, end))
        else:
            named = True
    lone = lexicon.negators - lexicon.negators_not_alone
    named = named or any(k in lone and i not in used and i not in praised
                         for i, k in enumerate(keys))
    return named, absent


def _clause(lexicon: Lexicon, keys: list[str], question: bool, past: bool) -> Clause:
    matches = tuple(match_terms(lexicon, lexicon.terms, keys))
    in_terms = {p for m in matches for p in m.positions}
    past_word = next((i for i in range(len(keys)) if i not in in_terms
                      and _ends_phrase(keys[:i + 1], lexicon.past)), None)
    praised = {p for m in matches if m.term.cause == PRAISE for p in m.positions}
    complained = frozenset(p for m in matches if m.term.cause != PRAISE
                           and m.positions[-1] - m.positions[0] == len(m.positions) - 1
                           for p in m.positions)  # words of cause terms matched without a gap
    named, absent = problems(lexicon, keys, praised, complained)
    praise = past_praise = courtesy = 0.0
    for m in matches:
        if m.term.cause != PRAISE:
            continue
        if past_word is not None and m.positions[0] > past_word:
            past_praise += m.term.weight
        else:
            praise += m.term.weight
            courtesy += m.term.weight if m.term.keys in lexicon.courtesy else 0.0
    if past_word is None:
        praise += absent
    cause = sum(m.term.weight for m in matches if m.term.cause != PRAISE)
    asks = question or bool(match_terms(lexicon, lexicon.requests, keys))
    plain_complaint = cause > 0 and praise == 0 and not asks
    if plain_complaint or (0 < cause >= praise and named):
        kind = COMPLAINT
    elif praise > courtesy:
        kind = PRAISED
    elif asks:
        kind = REQUEST
    elif praise > 0:
        kind = COURTESY
    else:
        kind = PLAIN
    return Clause(tuple(keys), matches, cause, praise, asks, past, kind, named, absent,
                  past_praise)


def _ends_phrase(keys: list[str], phrases: tuple[tuple[str, ...], ...]) -> bool:
    """Whether the keys end with one of the phrases."""
    return any(tuple(keys[-len(p):]) == p for p in phrases if len(p) <= len(keys))


def read(lexicon: Lexicon, text: str) -> Reading:
    """The text read clause by clause (module docstring)."""
    all_keys: list[str] = []
    corrections: list[Correction] = []
    raw: list[tuple[list[str], bool]] = []
    past: set[int] = set()
    past_from: int | None = None
    for sentence, question in sentences(text):
        keys, fixed = lexicon.typos.read(words(sentence))
        all_keys += keys
        corrections += fixed
        current: list[str] = []
        for key in keys:
            turn = key in lexicon.turn and past_from is not None
            if key in lexicon.contrast or turn:
                if current:
                    raw.append((current, question))
                if turn:
                    past.update(range(past_from, len(raw)))
                    past_from = None
                current = [key]
                continue
            current.append(key)
            if past_from is None and _ends_phrase(current, lexicon.past):
                past_from = len(raw)
        if current:
            raw.append((current, question))
    clauses = tuple(_clause(lexicon, k, q, i in past) for i, (k, q) in enumerate(raw))
    if not any(c.kind == COMPLAINT for c in clauses) and any(
            c.problem and c.kind in (PLAIN, REQUEST) and not c.past for c in clauses):
        clauses = tuple(replace(c, kind=COMPLAINT) if c.kind == REQUEST and c.cause > 0
                        and not c.past else c for c in clauses)
    present = [c for c in clauses if not c.past]
    kinds = {c.kind for c in present}
    polite = COURTESY in kinds and not any(c.problem for c in present)
    polarity = ("negative" if COMPLAINT in kinds else "positive" if PRAISED in kinds
                else "neutral" if REQUEST in kinds else "positive" if polite else None)
    fine_before = polarity == "negative" and any(
        (c.past and c.kind != COMPLAINT) or c.past_praise > 0 for c in clauses)
    return Reading(all_keys, corrections, clauses, polarity, fine_before)
