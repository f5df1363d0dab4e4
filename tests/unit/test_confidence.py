"""The confidence table: a step map from the rules' margin to the probability of being
right, fitted by isotonic regression with Laplace-smoothed block rates (values by hand)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cx_tasks.analyze.confidence import (
    ConfidenceMap,
    calibrated,
    fit_confidence_map,
    reliability,
)


def table(margin: list[float], probability: list[float]) -> ConfidenceMap:
    return ConfidenceMap(fitted_on="by hand", items=10, margin=margin, probability=probability)


def test_a_margin_takes_the_probability_of_the_last_breakpoint_at_or_below_it() -> None:
    steps = table([0.0, 0.4, 0.6], [0.3, 0.6, 0.9])
    assert calibrated(steps, 0.0) == 0.3
    assert calibrated(steps, 0.39) == 0.3  # below 0.4: still the first step
    assert calibrated(steps, 0.4) == 0.6  # on a breakpoint: its own step
    assert calibrated(steps, 0.55) == 0.6
    assert calibrated(steps, 1.0) == 0.9  # beyond the last breakpoint
    assert calibrated(table([0.2], [0.7]), 0.1) == 0.7  # below the first: the first


def test_the_table_must_be_monotone_and_well_formed() -> None:
    with pytest.raises(ValidationError, match="must not decrease with the margin"):
        table([0.0, 0.5], [0.8, 0.6])
    with pytest.raises(ValidationError, match="margin breakpoints must not decrease"):
        table([0.5, 0.0], [0.6, 0.8])
    with pytest.raises(ValidationError, match="as many breakpoints"):
        table([0.0, 0.5], [0.6])
    with pytest.raises(ValidationError, match="in \\[0, 1\\]"):
        table([0.0], [1.2])


def test_fit_pools_violators_and_smooths_each_block() -> None:
    # margins 0.1 (2 items: 1 right), 0.3 (2: both wrong), 0.5 (4: all right), 0.8 (2: 1 right)
    # isotonic: 0.1 (rate 0.5) > 0.3 (rate 0) -> pooled: 1 of 4 = 0.25;
    # 0.5 (1.0) > 0.8 (0.5) -> pooled: 5 of 6 = 0.833.
    # Laplace: (1 + 1) / (4 + 2) = 1/3 and (5 + 1) / (6 + 2) = 0.75; already increasing.
    # Breakpoints at each block's smallest margin cut to 3 decimals below it: 0.1 -> 0.099,
    # 0.5 -> 0.499
    margins = [0.1, 0.1, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5, 0.8, 0.8]
    right = [1, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    fitted = fit_confidence_map(margins, [bool(r) for r in right], "by hand")
    assert fitted.margin == (0.099, 0.499)
    assert fitted.probability == (0.333, 0.75)
    assert fitted.items == 10
    assert calibrated(fitted, 0.3) == 0.333 and calibrated(fitted, 0.5) == 0.75


def test_smoothed_blocks_that_fall_are_pooled_again() -> None:
    # margin 0.2: 1 of 1 right (isotonic 1.0); 0.6: 9 of 10 right -> isotonic pools both:
    # 10 of 11 one block. With 0.2: 0 of 1 and 0.6: 10 of 10 -> two blocks, Laplace
    # (0 + 1) / 3 = 0.333 and (10 + 1) / 12 = 0.917
    pooled = fit_confidence_map([0.2] + [0.6] * 10, [True] + [True] * 9 + [False], "h")
    # (10 + 1) / (11 + 2) = 0.846, one step from 0.199
    assert (pooled.margin, pooled.probability) == ((0.199,), (0.846,))
    split = fit_confidence_map([0.2] + [0.6] * 10, [False] + [True] * 10, "h")
    assert (split.margin, split.probability) == ((0.199, 0.599), (0.333, 0.917))
    with pytest.raises(ValueError, match="needs as many"):
        fit_confidence_map([], [], "h")


def test_reliability_counts_items_per_band() -> None:
    out = reliability([0.3, 0.55, 0.58, 0.97], [False, True, False, True])
    # (0, 0.5]: 0.3 wrong; (0.5, 0.6]: 0.55 right, 0.58 wrong -> 0.5; (0.95, 1]: 1 right
    assert out["items"].tolist() == [1, 2, 1]
    assert out["right"].tolist() == [0.0, 0.5, 1.0]
    assert out["confidence"].tolist() == pytest.approx([0.3, 0.565, 0.97])
