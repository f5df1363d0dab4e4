"""Key joins (``key_positions``) and window arithmetic the metrics are built on."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cx_tasks.metrics import keys
from cx_tasks.metrics.keys import key_positions, take
from cx_tasks.metrics.windows import Windows, day_numbers, hour_numbers


@pytest.fixture(autouse=True, params=["distinct values first", "sorted hashes only"])
def join_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test through both ways of joining (small-table shortcut or not)."""
    if request.param == "sorted hashes only":
        monkeypatch.setattr(keys, "SMALL_TABLE", 0)


def test_positions_of_present_absent_and_null_values() -> None:
    table = pd.Series(["O-1", "O-22", "Ж-3", "O-4444"], dtype=object)
    wanted = pd.Series(["O-4444", "O-1", "O-5", None, "Ж-3", "O-1", "O-22", "O-2"], dtype=object)
    assert key_positions(table, wanted).tolist() == [3, 0, -1, -1, 2, 0, 1, -1]


def test_text_none_is_a_key_but_a_null_is_not() -> None:
    assert key_positions(["None", "x"], pd.Series(["None", None, np.nan])).tolist() == [0, -1, -1]


def test_values_of_other_types_compare_as_text() -> None:
    assert key_positions(["1", "22"], np.array([22, 1, 3], dtype=object)).tolist() == [1, 0, -1]


def test_arrow_backed_strings_and_empty_sides() -> None:
    assert key_positions(pd.Series(["a", "b"], dtype="str"), ["b", "c"]).tolist() == [1, -1]
    assert key_positions([], ["a"]).tolist() == [-1]
    assert key_positions(["a"], []).tolist() == []


def test_a_long_value_after_short_ones_is_not_cut() -> None:
    # the width is guessed from the first 256 values ("k0".."k299" -> 4 characters)
    long_key = "k-" + "x" * 40
    table = np.array([f"k{i}" for i in range(300)] + [long_key, long_key[:4]], dtype=object)
    wanted = np.array([f"k{i}" for i in range(300)] + [long_key, long_key[:4]], dtype=object)
    assert key_positions(table, wanted).tolist() == list(range(302))


def test_lengths_word_boundaries_and_null_keys() -> None:
    # bytes are compared in 8-byte words: a trailing NUL, exactly one word, a word and a
    # byte, and multi-byte characters (Ж is 2 bytes) must all stay distinct
    table = pd.Series(["", "a", "a\x00", "12345678", "123456789", "ЖЖЖЖ", None], dtype=object)
    wanted = ["a\x00", "a", "", "123456789", "12345678", "ЖЖЖЖ", "ЖЖЖ", "None"]
    assert key_positions(table, wanted).tolist() == [2, 1, 0, 4, 3, 5, -1, -1]


def test_a_slice_of_arrow_backed_strings() -> None:
    table = pd.Series(["x", "y", "k1", "k22", "k333"], dtype="str").iloc[2:]
    wanted = pd.Series(["q", "k333", "k1", "k22", None], dtype="str").iloc[1:]
    assert key_positions(table, wanted).tolist() == [2, 0, 1, -1]


def test_hash_collisions_are_resolved_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    # every string gets the same hash: each match must come from the exact comparison
    monkeypatch.setattr(keys, "_text_hash",
                        lambda length, words: np.zeros(len(length), dtype=np.uint64))
    table = np.array([f"K{i}" for i in range(50)], dtype=object)
    wanted = np.array(["K7", "K49", "nope", "K0", "K7"], dtype=object)
    assert key_positions(table, wanted).tolist() == [7, 49, -1, 0, 7]


def test_agrees_with_pandas_on_a_shuffled_table() -> None:
    rng = np.random.default_rng(7)
    table = np.array([f"L{i:06d}-{i % 3}" for i in rng.permutation(5000)], dtype=object)
    wanted = np.array([f"L{i:06d}-{i % 3}" for i in rng.integers(0, 6000, 20000)], dtype=object)
    expected = pd.Index(table, dtype=object).get_indexer(wanted)
    assert np.array_equal(key_positions(table, wanted), expected)


def test_runs_of_equal_values_are_looked_up_once_each() -> None:
    # 6 of 11 wanted values repeat the one before (an order's lines): runs are joined by
    # their first value; a null and an absent value interrupt or end runs
    table = pd.Series(["O-1", "O-22", "O-333"], dtype="str")
    wanted = pd.Series(["O-22", "O-22", "O-22", "O-1", "O-1", None, "O-1", "O-333", "O-333",
                        "O-9", "O-9"], dtype="str")
    assert key_positions(table, wanted).tolist() == [1, 1, 1, 0, 0, -1, 0, 2, 2, -1, -1]


def test_take_marks_missing_positions() -> None:
    assert take(np.array([10, 20]), np.array([1, -1, 0]), -1).tolist() == [20, -1, 10]
    assert take(np.array([]), np.array([-1]), None).tolist() == [None]


def test_day_and_hour_numbers() -> None:
    stamps = pd.Series(pd.to_datetime(["1970-01-02 18:00", None, "2026-03-01 00:30"]))
    assert day_numbers(stamps)[[0, 2]].tolist() == [1.0, 20513.0]  # 2026-03-01 = day 20513
    assert np.isnan(day_numbers(stamps)[1])
    assert hour_numbers(stamps)[0] == 42.0  # 24 + 18


def test_windows_are_nested_and_end_before_as_of() -> None:
    windows = Windows.ending(date(2026, 3, 1), (30, 1, 90))
    as_of = windows.as_of
    # ages 0 (Feb 28) -> window 1; 1 and 29 -> window 30; 30 -> window 90; 90 or as_of -> none
    days = np.array([as_of - 1, as_of - 2, as_of - 30, as_of - 31, as_of - 91, as_of, np.nan])
    assert windows.band(days).tolist() == [0, 1, 1, 2, 3, 3, 3]
    cells = windows.cells(np.array([0, 0, 1, 1, 0, 0, 0]), days, 2)
    # client 0 has ages 0, 1 (and the excluded ones); client 1 has ages 29 and 30
    assert cells.total().tolist() == [[1, 0], [2, 1], [2, 2]]
    assert cells.total(np.array([1.0, 2.0, 4.0, 8.0, 0, 0, 0])).tolist() == [
        [1, 0], [3, 4], [3, 12]]
