"""Confidence as a calibrated probability that a decision's group and process class are right.

The rules decide the label; their raw **margin** ``(L1 - L2) / (L1 + smoothing)``
(:mod:`cx_tasks.analyze.classify`) only orders items from doubtful to sure. The confidence
reported is that margin mapped through a monotone step table (``confidence`` in
``rules/classifier.yaml``): a margin takes the probability of the last breakpoint at or
below it (the first breakpoint's below the first), so "0.6" means that six decisions in ten
with that confidence were right on the data the table was fitted on. Steps, not lines
between breakpoints: a margin between two fitted blocks was not seen in the data, so it gets
the lower block's rate rather than a guess toward the higher one.

The table is fitted (:func:`fit_confidence_map`) on labelled items, each a margin of the raw
rules (learned model off) and whether the rules' final group and process class agreed with
the label: an isotonic regression of right (1) / wrong (0) on the margin pools neighbouring
margins into blocks of one rate, each block's rate is then taken as ``(right + 1) /
(items + 2)`` (Laplace's rule of succession: a block of 70 right out of 70 says 0.986, not
certainty), a second isotonic pass over the blocks keeps the table non-decreasing, and each
step starts at its block's smallest margin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

RELIABILITY_BANDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
"""Default edges of the confidence bands of :func:`reliability` (each band (lo, hi])."""


class ConfidenceMap(BaseModel):
    """Breakpoints of the margin -> probability-of-being-right table and what it was fitted
    on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fitted_on: str
    """The data and the day of the fit, in words."""
    items: int = Field(ge=1)
    """Labelled items the table was fitted on."""
    margin: tuple[float, ...] = Field(min_length=1)
    probability: tuple[float, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _monotone(self) -> ConfidenceMap:
        if len(self.margin) != len(self.probability):
            raise ValueError("confidence: margin and probability need as many breakpoints")
        if any(b < a for a, b in zip(self.margin, self.margin[1:], strict=False)):
            raise ValueError("confidence: margin breakpoints must not decrease")
        if any(b < a for a, b in zip(self.probability, self.probability[1:], strict=False)):
            raise ValueError("confidence: probability must not decrease with the margin")
        if not all(0 <= p <= 1 for p in self.probability):
            raise ValueError("confidence: probabilities lie in [0, 1]")
        return self


def calibrated(confidence_map: ConfidenceMap, margin: float) -> float:
    """The probability of being right of a raw margin: that of the last breakpoint at or
    below it (the first breakpoint's for a margin below them all)."""
    step = int(np.searchsorted(confidence_map.margin, margin, side="right")) - 1
    return confidence_map.probability[max(step, 0)]


def _isotonic(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0).fit_transform(x, y, sample_weight=weight)


def fit_confidence_map(margins: Sequence[float], right: Sequence[bool],
                       fitted_on: str) -> ConfidenceMap:
    """The margin -> probability table of labelled items (module docstring): isotonic
    blocks, each at ``(right + 1) / (items + 2)``, made non-decreasing again; a breakpoint
    at the smallest margin of each block whose probability differs from the block before
    (margins cut down to 3 decimals, below the block's smallest margin even when that
    was stored rounded to 4, so the block's own items stay on its step; probabilities
    rounded to 3). Raises ValueError without items."""
    x, y = np.asarray(margins, dtype=float), np.asarray(right, dtype=float)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError("fit_confidence_map needs as many margins as right/wrong flags, >= 1")
    items = pd.DataFrame({"margin": x, "right": y, "block": _isotonic(x, y)})
    blocks = (items.groupby("block", sort=True)
              .agg(low=("margin", "min"), right=("right", "sum"), items=("right", "size"))
              .reset_index(drop=True))
    rate = ((blocks["right"] + 1) / (blocks["items"] + 2)).to_numpy()
    smoothed = _isotonic(blocks["low"].to_numpy(), rate, (blocks["items"] + 2).to_numpy())
    points: list[tuple[float, float]] = []
    for low, p in zip(blocks["low"], smoothed, strict=True):
        if not points or round(float(p), 3) != points[-1][1]:
            points.append((max(0.0, math.floor(float(low) * 1e3 - 0.1) / 1e3),
                           round(float(p), 3)))
    return ConfidenceMap(fitted_on=fitted_on, items=len(x),
                         margin=tuple(m for m, _ in points),
                         probability=tuple(p for _, p in points))


def reliability(confidence: Sequence[float], right: Sequence[bool],
                bands: Sequence[float] = RELIABILITY_BANDS) -> pd.DataFrame:
    """Per confidence band (lo, hi] (the first band includes its lower edge): items, mean
    confidence and the share right; bands without items are left out."""
    frame = pd.DataFrame({"confidence": np.asarray(confidence, dtype=float),
                          "right": np.asarray(right, dtype=float)})
    frame["band"] = pd.cut(frame["confidence"], list(bands), include_lowest=True)
    out = (frame.groupby("band", observed=True)
           .agg(items=("right", "size"), confidence=("confidence", "mean"),
                right=("right", "mean")).reset_index())
    out["band"] = out["band"].astype(str)
    return out


def outcomes(labelled: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(margin, right) of the items the raw rules gave a label (status ``classified``) in
    classes joined with true labels (``confidence`` holding the raw margin, ``true_group``,
    ``true_process_class``); right = group and process class both agree."""
    decided = labelled[labelled["status"] == "classified"]
    right = ((decided["dissatisfaction_group"] == decided["true_group"])
             & (decided["process_class"] == decided["true_process_class"]))
    return decided["confidence"].astype(float).to_numpy(), right.to_numpy()
