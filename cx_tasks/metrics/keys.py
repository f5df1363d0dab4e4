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


def key_positions(keys: ArrayLike, wanted: ArrayLike) -> np.ndarray:
    """Position of each ``wanted`` value among ``keys`` (compared as text); -1 where absent or null.

    ``keys`` should be unique (a table's natural key); with duplicates any one of the
    equal keys' positions is returned.
    """
    wanted_values = _objects(wanted)
    if len(_objects(keys)) == 0:
        return np.full(len(wanted_values), -1, dtype=np.int64)
    key_text, wanted_text = _same_width(_objects(keys).astype(str), wanted_values.astype(str))
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


def _same_width(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unicode arrays padded to one width (at least one character)."""
    width = max(a.dtype.itemsize, b.dtype.itemsize, 4) // 4
    return a.astype(f"<U{width}", copy=False), b.astype(f"<U{width}", copy=False)


def _text_hash(text: np.ndarray) -> np.ndarray:
    """FNV-1a over the code points of each string of a fixed-width unicode array."""
    code_points = text.view(np.uint32).reshape(len(text), text.dtype.itemsize // 4)
    digest = np.full(len(text), _FNV_OFFSET, dtype=np.uint64)
    for column in code_points.T:
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
