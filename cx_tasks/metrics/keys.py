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
_NULL_TEXTS = ("None", "nan", "<NA>", "NaT")
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
    suspects = np.flatnonzero(np.isin(wanted_text, _NULL_TEXTS))
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
    """The columns' values as unicode arrays of one even width (null becomes ``"None"``)."""
    texts, widths = [], [2]
    for values in columns:
        try:
            widths.append(max(map(len, values), default=0))
        except TypeError:  # a null or a number: compare its text
            values = values.astype(str)
            widths.append(values.dtype.itemsize // 4)
        texts.append(values)
    width = max(widths) + max(widths) % 2
    return tuple(text.astype(f"<U{width}") for text in texts)


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
    and the nearest key before it is its candidate.
    """
    n_keys, n_wanted = len(key_hash), len(wanted_hash)
    row_bits = max(int(n_keys + n_wanted).bit_length(), 1)
    row_mask = np.uint64((1 << row_bits) - 1)
    prefix_mask = ~row_mask
    packed = np.concatenate([
        (key_hash & prefix_mask) | np.arange(n_keys, dtype=np.uint64),
        (wanted_hash & prefix_mask) | np.arange(n_keys, n_keys + n_wanted, dtype=np.uint64),
    ])
    packed.sort()
    rows = (packed & row_mask).astype(np.int64)
    is_key = rows < n_keys
    last_key = np.maximum.accumulate(np.where(is_key, np.arange(len(packed)), -1))
    candidate = packed[np.maximum(last_key, 0)]
    matches = (last_key >= 0) & ((candidate & prefix_mask) == (packed & prefix_mask))
    positions = np.full(n_wanted, -1, dtype=np.int64)
    wanted_slots = ~is_key
    positions[rows[wanted_slots] - n_keys] = np.where(
        matches[wanted_slots], (candidate[wanted_slots] & row_mask).astype(np.int64), -1
    )
    return positions


def _exact_positions(key_text: np.ndarray, key_hash: np.ndarray, wanted_text: np.ndarray,
                     wanted_hash: np.ndarray) -> np.ndarray:
    """Positions of ``wanted_text`` among the keys sharing their hashes, by exact comparison."""
    candidates = np.flatnonzero(np.isin(key_hash, wanted_hash))
    by_text = {key_text[i]: i for i in candidates[::-1]}
    return np.array([by_text.get(text, -1) for text in wanted_text], dtype=np.int64)
