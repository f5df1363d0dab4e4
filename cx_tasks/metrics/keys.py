"""Row positions for text keys: every join behind the metrics, done by sorting.

A hash table of millions of Python strings spends most of its time on cache misses. Here
the keys become fixed-width unicode arrays hashed to 64 bits with numpy; each hash's high
bits are packed with the row number into one integer, so a single vectorised sort lines
every wanted value up behind the key with the same hash. Each match is then compared
character by character and hash collisions are resolved exactly: the result is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_NULL_TEXTS = ("None", "nan", "<NA>", "NaT")  # how astype(str) writes a null
_WIDTH_SAMPLE = 256
SMALL_TABLE = 1 << 16
"""Tables up to this many keys are joined through the wanted values' distinct values."""


def key_positions(keys: ArrayLike, wanted: ArrayLike) -> np.ndarray:
    """Position of each ``wanted`` value among ``keys`` (compared as text); -1 where absent or null.

    ``keys`` should be unique (a table's natural key); with duplicates any one of the
    equal keys' positions is returned. Against a small table (clients, document types)
    the wanted values are first reduced to their distinct values, whose hash table then
    stays in the processor's cache.
    """
    key_values, wanted_values = _objects(keys), _objects(wanted)
    if len(key_values) <= SMALL_TABLE:
        codes, distinct = pd.factorize(wanted_values)
        return take(_sorted_positions(key_values, _objects(distinct)), codes, -1)
    return _sorted_positions(key_values, wanted_values)


def _sorted_positions(key_values: np.ndarray, wanted_values: np.ndarray) -> np.ndarray:
    """``key_positions`` by hashing the text of both sides and sorting the hashes."""
    if len(key_values) == 0 or len(wanted_values) == 0:
        return np.full(len(wanted_values), -1, dtype=np.int64)
    key_text, wanted_text = _fixed_width_text(key_values, wanted_values)
    key_hash, wanted_hash = _text_hash(key_text), _text_hash(wanted_text)
    positions = _hash_positions(key_hash, wanted_hash)
    found = positions >= 0
    wrong = found & (key_text[np.where(found, positions, 0)] != wanted_text)
    if wrong.any():
        collided = np.flatnonzero(wrong)
        positions[collided] = _exact_positions(key_text, key_hash, wanted_text[collided],
                                               wanted_hash[collided])
    null_hashes = _text_hash(np.asarray(_NULL_TEXTS, dtype=wanted_text.dtype))
    suspects = np.flatnonzero(np.isin(wanted_hash, null_hashes))
    positions[suspects[pd.isna(wanted_values[suspects])]] = -1
    return positions


def take(values: np.ndarray, positions: np.ndarray, missing: object) -> np.ndarray:
    """``values`` at ``positions``, and ``missing`` where the position is -1 (not found)."""
    if len(values) == 0:
        return np.full(len(positions), missing)
    return np.where(positions >= 0, values[positions], missing)


def _objects(values: ArrayLike) -> np.ndarray:
    """``values`` as a one-dimensional numpy object array."""
    if isinstance(values, pd.Series | pd.Index):
        return values.to_numpy(dtype=object)
    return np.asarray(values, dtype=object).reshape(-1)


def _fixed_width_text(*columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """The columns' values as unicode arrays of one even width (a null becomes ``"None"``)."""
    texts = [_unicode(values) for values in columns]
    width = max(text.dtype.itemsize for text in texts) // 4
    return tuple(text.astype(f"<U{width}", copy=False) for text in texts)


def _unicode(values: np.ndarray) -> np.ndarray:
    """``values`` as a fixed-width unicode array, its width guessed from the first values.

    The width is the longest of the first values' texts plus one, made even; should the
    last character of any converted value be used (a value may have been cut), the
    conversion is repeated at twice the width. This spares a pass measuring every value.
    """
    longest = max((len(str(v)) for v in values[:_WIDTH_SAMPLE]), default=0) + 1
    width = longest + longest % 2
    while True:
        text = values.astype(f"<U{width}")
        if len(text) == 0 or not text.view(np.uint32).reshape(len(text), width)[:, -1].any():
            return text
        width *= 2


def _text_hash(text: np.ndarray) -> np.ndarray:
    """FNV-1a-style hash over each string's code points, taken two at a time (64-bit words)."""
    words = text.view(np.uint64).reshape(len(text), text.dtype.itemsize // 8)
    digest = np.full(len(text), _FNV_OFFSET, dtype=np.uint64)
    for column in words.T:
        digest ^= column
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


def _exact_positions(key_text: np.ndarray, key_hash: np.ndarray, wanted_text: np.ndarray,
                     wanted_hash: np.ndarray) -> np.ndarray:
    """Positions of ``wanted_text`` among the keys sharing their hashes, by exact comparison."""
    candidates = np.flatnonzero(np.isin(key_hash, wanted_hash))
    by_text = {key_text[i]: i for i in candidates[::-1]}
    return np.array([by_text.get(text, -1) for text in wanted_text], dtype=np.int64)
