"""Row positions for text keys: every join behind the metrics, done by sorting.

Both sides become Arrow strings (no copy for pandas' Arrow-backed ``str`` columns). Each
string's UTF-8 bytes are read straight from the Arrow buffer as 64-bit words and hashed
with numpy; each hash's high bits are packed with the row number into one integer, so a
single vectorised sort lines every wanted value up behind the key with the same hash.
Each match is then compared word by word (and by length) and hash collisions are resolved
exactly: the result is exact. No Python string object is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import ArrayLike

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_WORD = 8
SMALL_TABLE = 1 << 16
"""Tables up to this many keys are joined through the wanted values' distinct values."""


def key_positions(keys: ArrayLike, wanted: ArrayLike) -> np.ndarray:
    """Position of each ``wanted`` value among ``keys`` (compared as text); -1 where absent or null.

    ``keys`` should be unique (a table's natural key); with duplicates any one of the
    equal keys' positions is returned. Against a small table (clients, document types)
    the wanted values are first reduced to their distinct values (Arrow's dictionary
    encoding, whose hash table then stays in the processor's cache).
    """
    key_text, wanted_text = _arrow_text(keys), _arrow_text(wanted)
    if len(key_text) <= SMALL_TABLE and len(wanted_text) > len(key_text):
        encoded = wanted_text.dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
        return take(_sorted_positions(key_text, encoded.dictionary), codes, -1)
    return _sorted_positions(key_text, wanted_text)


def _sorted_positions(key_text: pa.LargeStringArray,
                      wanted_text: pa.LargeStringArray) -> np.ndarray:
    """``key_positions`` by hashing the bytes of both sides and sorting the hashes."""
    positions = np.full(len(wanted_text), -1, dtype=np.int64)
    if key_text.null_count == len(key_text) or wanted_text.null_count == len(wanted_text):
        return positions
    key_rows, wanted_rows = _valid_rows(key_text), _valid_rows(wanted_text)
    width = max(_longest(key_text), _longest(wanted_text))
    key_words, wanted_words = _Words.of(key_text, width), _Words.of(wanted_text, width)
    if key_rows is not None:
        key_words = key_words.rows(key_rows)
    if wanted_rows is not None:
        wanted_words = wanted_words.rows(wanted_rows)
    found = _run_positions(key_words, wanted_words)
    if key_rows is not None:
        found = take(key_rows, found, -1)
    positions[slice(None) if wanted_rows is None else wanted_rows] = found
    return positions


def _run_positions(keys: _Words, wanted: _Words) -> np.ndarray:
    """Positions of the ``wanted`` strings among the keys; when runs of equal consecutive
    strings (an order's lines) make up at least a quarter of them, each run is looked up once."""
    first = np.ones(len(wanted.hash), dtype=bool)
    first[1:] = ~wanted.rows(slice(1, None)).equals(wanted.rows(slice(None, -1)))
    if 4 * int(first.sum()) > 3 * len(first):
        return _word_positions(keys, wanted)
    return _word_positions(keys, wanted.rows(np.flatnonzero(first)))[np.cumsum(first) - 1]


def _word_positions(keys: _Words, wanted: _Words) -> np.ndarray:
    """Positions of the ``wanted`` strings among the keys: by hash, then compared exactly."""
    found = _hash_positions(keys.hash, wanted.hash)
    hit = found >= 0
    wrong = hit & ~keys.rows(np.where(hit, found, 0)).equals(wanted)
    if wrong.any():
        collided = np.flatnonzero(wrong)
        found[collided] = _exact_positions(keys, wanted.rows(collided))
    return found


def take(values: np.ndarray, positions: np.ndarray, missing: object) -> np.ndarray:
    """``values`` at ``positions``, and ``missing`` where the position is -1 (not found)."""
    if len(values) == 0:
        return np.full(len(positions), missing)
    return np.where(positions >= 0, values[positions], missing)


def _arrow_text(values: ArrayLike) -> pa.LargeStringArray:
    """``values`` as one Arrow large-string array; a non-text value is written as text."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    try:
        text = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        objects = np.asarray(values, dtype=object).reshape(-1)
        text = pa.array(objects.astype(str), type=pa.large_string(), mask=pd.isna(objects))
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return text


def _valid_rows(text: pa.LargeStringArray) -> np.ndarray | None:
    """The rows of ``text`` that are not null, or None when all of them are."""
    if text.null_count == 0:
        return None
    return np.flatnonzero(text.is_valid().to_numpy(zero_copy_only=False))


def _offsets(text: pa.LargeStringArray) -> np.ndarray:
    """Where each string of ``text`` starts and ends in its data buffer (n + 1 offsets)."""
    buffer = text.buffers()[1]
    return np.frombuffer(buffer, dtype=np.int64, count=len(text) + 1, offset=text.offset * 8)


def _longest(text: pa.LargeStringArray) -> int:
    """The length in bytes of the longest string of ``text``."""
    return int(np.diff(_offsets(text)).max()) if len(text) else 0


@dataclass(frozen=True)
class _Words:
    """Strings as their lengths and their bytes in 64-bit words (zero-padded), with a hash."""

    length: np.ndarray
    words: tuple[np.ndarray, ...]
    hash: np.ndarray

    @classmethod
    def of(cls, text: pa.LargeStringArray, width: int) -> _Words:
        """The words of every string of ``text``, ``width`` bytes (rounded up to words) each.

        Word k of a string is read, unaligned, from the 8 bytes at its start + 8k, and the
        bytes past the string's end are shifted out (little-endian: they are the high ones).
        """
        offsets = _offsets(text)
        start, length = offsets[:-1], np.diff(offsets)
        data = text.buffers()[2]
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
        padded = np.zeros(len(raw) + width + _WORD, dtype=np.uint8)
        padded[:len(raw)] = raw
        unaligned = np.ndarray(shape=(len(raw) + width + 1,), dtype="<u8", buffer=padded,
                               strides=(1,))
        shortest = int(length.min()) if len(length) else 0
        words = []
        for k in range(0, max(width, 1), _WORD):
            word = unaligned[start + k]
            if shortest < k + _WORD:  # clear the bytes past the end of shorter strings
                past_end = np.uint64(64) - np.clip(length - k, 0, _WORD).astype(np.uint64) * 8
                word <<= past_end
                word >>= past_end
            words.append(word)
        return cls(length, tuple(words), _text_hash(length, words))

    def rows(self, at: np.ndarray | slice) -> _Words:
        """The strings at positions ``at``."""
        return _Words(self.length[at], tuple(w[at] for w in self.words), self.hash[at])

    def equals(self, other: _Words) -> np.ndarray:
        """Row by row: the same length and bytes."""
        same = self.length == other.length
        for mine, theirs in zip(self.words, other.words, strict=True):
            same &= mine == theirs
        return same


def _text_hash(length: np.ndarray, words: list[np.ndarray]) -> np.ndarray:
    """FNV-1a-style hash over each string's length and 64-bit words."""
    digest = np.full(len(length), _FNV_OFFSET, dtype=np.uint64)
    for word in (length.astype(np.uint64), *words):
        digest ^= word
        digest *= _FNV_PRIME
    return digest


def _hash_positions(key_hash: np.ndarray, wanted_hash: np.ndarray) -> np.ndarray:
    """For each wanted hash, the position of a key whose hash has the same high bits, or -1.

    Keys and wanted values are numbered 0..n-1 (keys first) in the low bits under the
    hash's high bits; after one sort a wanted value follows the keys of its hash prefix,
    and the last key before it is its candidate.
    """
    n_keys = len(key_hash)
    row_bits = np.uint64(max(int(n_keys + len(wanted_hash)).bit_length(), 1))
    packed = np.concatenate([key_hash, wanted_hash])
    packed >>= row_bits
    packed <<= row_bits
    packed |= np.arange(len(packed), dtype=np.uint64)
    packed.sort()
    rows = (packed & ((np.uint64(1) << row_bits) - np.uint64(1))).view(np.int64)
    packed >>= row_bits
    is_key = rows < n_keys
    keys_before = np.cumsum(is_key) - 1
    wanted_slots = np.flatnonzero(~is_key)
    key_slots = np.flatnonzero(is_key)
    candidate = key_slots[np.maximum(keys_before[wanted_slots], 0)]
    matches = (keys_before[wanted_slots] >= 0) & (packed[candidate] == packed[wanted_slots])
    positions = np.empty(len(wanted_hash), dtype=np.int64)
    positions[rows[wanted_slots] - n_keys] = np.where(matches, rows[candidate], -1)
    return positions


def _exact_positions(keys: _Words, wanted: _Words) -> np.ndarray:
    """Positions of the ``wanted`` strings among the keys sharing their hashes, compared exactly."""
    candidates = np.flatnonzero(np.isin(keys.hash, wanted.hash))
    by_text = {_identity(keys, i): i for i in candidates[::-1]}
    return np.array([by_text.get(_identity(wanted, i), -1) for i in range(len(wanted.hash))],
                    dtype=np.int64)


def _identity(strings: _Words, i: int) -> tuple[int, ...]:
    """String ``i`` as its length and words: equal exactly when the strings are equal."""
    return (int(strings.length[i]), *(int(w[i]) for w in strings.words))
