"""Text to comparable word keys, the same way for the lexicon and for what clients write.

A text is normalised (Unicode NFKC, lower case, ``ё`` read as ``е``, a Latin look-alike
letter inside a Cyrillic word read as Cyrillic and the other way round), split into words
(runs of letters; a run touching a digit, such as an order number, is no word) and each
word turned into its **key**:

- a Cyrillic word: its dictionary lemma from ``pymorphy3`` (``задержали`` -> ``задержать``),
  then the Russian Snowball stem of the lemma (``задержа``), so that the lemma's own forms
  and some derived words meet on one key;
- a Latin word: its English Snowball stem (``delayed`` -> ``delay``).

Keys are cached per word (``functools.lru_cache``): a corpus repeats its words.

Typo tolerance (:class:`TypoIndex`): a word of at least ``min_length`` letters whose key is
not in the lexicon, and which is not a known word (:func:`known_word`: a Russian word in
``pymorphy3``'s dictionary, an English word in ``rules/english_words.yaml``), is matched to
the lexicon key at optimal-string-alignment distance 1 (one letter dropped, added,
replaced, or two neighbours swapped). Candidates come from a symmetric deletion index
(every key with one letter deleted, as SymSpell does) and are verified by the distance.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pymorphy3
import snowballstemmer
from pydantic import BaseModel, ConfigDict

from cx_tasks.config import cached_rules

_WORD = re.compile(r"\w+")
_CYRILLIC = re.compile(r"[а-я]")
_LATIN = re.compile(r"[a-z]")
_LATIN_TO_CYRILLIC = str.maketrans("aceopxykmtbh", "асеорхукмтвн")
_CYRILLIC_TO_LATIN = str.maketrans("асеорхукмтвн", "aceopxykmtbh")


class KnownWords(BaseModel):
    """``rules/english_words.yaml``: English words taken as spelled right."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    words: str
    """Lower-case words separated by white space."""


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The English words of ``rules/english_words.yaml`` (or the user's copy)."""
    return frozenset(normalise(w) for w in cached_rules("english_words", KnownWords).words.split())


@lru_cache(maxsize=1)
def _morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=1)
def _stemmers() -> tuple[snowballstemmer.Stemmer, snowballstemmer.Stemmer]:
    return snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("english")


def normalise(text: str) -> str:
    """The text in NFKC, lower case, with ``ё`` as ``е``; the numero sign ``№`` stays a
    sign (NFKC would make it the word "No", read as an English "no")."""
    return unicodedata.normalize("NFKC", text.replace("№", "#")).lower().replace("ё", "е")


def script(word: str) -> str | None:
    """``ru`` for a word with more Cyrillic than Latin letters, ``en`` for the reverse,
    None for a word with neither (or as many of each)."""
    cyrillic, latin = len(_CYRILLIC.findall(word)), len(_LATIN.findall(word))
    if cyrillic == latin:
        return None
    return "ru" if cyrillic > latin else "en"


def unmix(word: str) -> str:
    """A normalised word in one script: Latin look-alikes in a mostly Cyrillic word become
    Cyrillic (``пoставка`` with a Latin ``o``), Cyrillic look-alikes in a Latin one Latin."""
    kind = script(word)
    if kind == "ru":
        return word.translate(_LATIN_TO_CYRILLIC)
    if kind == "en":
        return word.translate(_CYRILLIC_TO_LATIN)
    return word


def words(text: str) -> list[str]:
    """The words of a text, normalised and in one script each; runs touching a digit and
    runs without a letter are left out."""
    out = []
    for run in _WORD.findall(normalise(text)):
        if "_" in run or any(ch.isdigit() for ch in run) or not any(ch.isalpha() for ch in run):
            continue
        out.append(unmix(run))
    return out


ENGLISH_OWN_KEYS = frozenset({"lately", "shortly"})
"""English words the Snowball stemmer joins to a word of another meaning ("lately" ->
"late", "shortly" -> "short": a late delivery, a short shipment): keyed as written."""


@lru_cache(maxsize=200_000)
def word_key(word: str) -> str:
    """The comparable key of a normalised word: Snowball stem of the pymorphy3 lemma for
    Cyrillic (of the word itself for a comparative: "хуже", "дольше", "позже" say a change
    and keep apart from "плохо", "долг", "поздно"), English Snowball stem for Latin (but
    ``ENGLISH_OWN_KEYS`` as written), the word itself otherwise."""
    russian, english = _stemmers()
    kind = script(word)
    if kind == "ru":
        parse = _morph().parse(word)[0]
        if "COMP" in parse.tag:
            return russian.stemWord(word)
        return russian.stemWord(normalise(parse.normal_form))
    if kind == "en":
        return word if word in ENGLISH_OWN_KEYS else english.stemWord(word)
    return word


@lru_cache(maxsize=200_000)
def known_word(word: str) -> bool:
    """Whether a normalised word is a known word: a Cyrillic word in ``pymorphy3``'s
    dictionary, a Latin word in the English word list (:func:`english_words`)."""
    kind = script(word)
    if kind == "ru":
        return _morph().word_is_known(word)
    return kind == "en" and word in english_words()


def keys(text: str) -> list[str]:
    """The keys of a text's words, in order."""
    return [word_key(w) for w in words(text)]


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbouring letters, each costing 1 (no substring edited twice)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _deletions(key: str) -> set[str]:
    """The key and every string made by deleting one of its letters."""
    return {key} | {key[:i] + key[i + 1:] for i in range(len(key))}


@dataclass(frozen=True)
class Correction:
    """A word read as a lexicon key it misspells."""

    word: str
    key: str
    meant: str


class TypoIndex:
    """Lexicon keys indexed by their one-letter deletions, to read misspelt words as the key
    they are one edit away from (module docstring)."""

    def __init__(self, lexicon_keys: Iterable[str], min_length: int = 6) -> None:
        self.min_length = min_length
        self.keys = frozenset(lexicon_keys)
        self._by_deletion: dict[str, set[str]] = {}
        for key in self.keys:
            for variant in _deletions(key):
                self._by_deletion.setdefault(variant, set()).add(key)
        self._found: dict[str, str | None] = {}

    def meant(self, word: str) -> str | None:
        """The one lexicon key a misspelt word (normalised) is one edit away from, or None
        (word too short, a known key, a known Russian or English word, no key or several
        keys that near)."""
        if word in self._found:
            return self._found[word]
        result = None
        key = word_key(word)
        if len(word) >= self.min_length and key not in self.keys and not known_word(word):
            near = {candidate for variant in _deletions(key) | _deletions(word)
                    for candidate in self._by_deletion.get(variant, ())}
            close = sorted(c for c in near if min(osa_distance(key, c), osa_distance(word, c)) <= 1)
            result = close[0] if len(close) == 1 else None
        self._found[word] = result
        return result

    def read(self, text_words: list[str]) -> tuple[list[str], list[Correction]]:
        """The keys of normalised words, a misspelt word read as the key it misspells; and
        the corrections made."""
        out, corrections = [], []
        for word in text_words:
            key = word_key(word)
            meant = None if key in self.keys else self.meant(word)
            if meant is not None:
                corrections.append(Correction(word, key, meant))
                key = meant
            out.append(key)
        return out, corrections
