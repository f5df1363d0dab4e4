"""The factor catalogue (``rules/factors.yaml``) and factor scores: each satisfaction factor
(a B2B element of value) measured by its metrics, each metric normalised to 0-100.

``factors.yaml`` is the one place that lists the factors; ``factor_ids`` reads their ids
cheaply (no validation) for ``cx_tasks.metrics.catalogue.VALUE_ELEMENTS``, so this module
imports neither the metric nor the survey catalogue at import time (they import it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from cx_tasks.config import parse_yaml, rules_text

if TYPE_CHECKING:
    from cx_tasks.metrics.catalogue import MetricCatalogue
    from cx_tasks.surveys.catalogue import Question

BLOCKS = ("table_stakes", "functional", "ease_of_doing_business", "individual", "inspirational")
"""The five blocks of the B2B Elements of Value pyramid, bottom first."""

ANY_ROLE = "any"
"""``factor_scores.role`` of a score every role shares (computable metrics only)."""

FACTOR_SCORE_COLUMNS = ["client_id", "role", "factor", "score", "metrics"]


class Names(BaseModel):
    """A name in every shipped language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)


class FactorMetric(BaseModel):
    """A metric measuring a factor and its linear map to 0-100 (``zero`` scores 0, ``full``
    scores 100)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(description="metric id in metric_catalogue.yaml")
    question: str | None = Field(
        None, description="asked metrics: the survey question whose answers are its value")
    zero: float = Field(description="value scoring 0")
    full: float = Field(description="value scoring 100")

    @model_validator(mode="after")
    def _distinct_ends(self) -> FactorMetric:
        if self.zero == self.full:
            raise ValueError(f"metric {self.metric}: zero and full must differ")
        return self


class Factor(BaseModel):
    """One factor: its block, names and the metrics measuring it (none = unmeasured)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    block: str
    name: Names
    metrics: tuple[FactorMetric, ...] = ()


@dataclass(frozen=True)
class FactorLayout:
    """The measured factors in catalogue order, the block of each, and the blocks."""

    factors: tuple[str, ...]
    factor_blocks: tuple[str, ...]
    blocks: tuple[str, ...] = BLOCKS

    @cached_property
    def membership(self) -> np.ndarray:
        """Factors x blocks matrix: 1 where the factor belongs to the block."""
        return np.array([[float(b == block) for block in self.blocks]
                         for b in self.factor_blocks]).reshape(len(self.factors),
                                                                len(self.blocks))


class FactorCatalogue(BaseModel):
    """The five blocks and every factor once; checked against the metric catalogue and the
    survey questions when they are given as validation context."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blocks: dict[str, Names]
    factors: tuple[Factor, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> FactorCatalogue:
        if tuple(self.blocks) != BLOCKS:
            raise ValueError(f"blocks must be {list(BLOCKS)} in this order")
        ids = [f.id for f in self.factors]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"factors listed more than once: {repeated}")
        unknown = sorted({f.block for f in self.factors} - set(BLOCKS))
        if unknown:
            raise ValueError(f"unknown blocks: {unknown}")
        metrics = [m.metric for f in self.factors for m in f.metrics]
        questions = [m.question for f in self.factors for m in f.metrics if m.question]
        for what, listed in (("metrics", metrics), ("questions", questions)):
            twice = sorted({i for i in listed if listed.count(i) > 1})
            if twice:
                raise ValueError(f"{what} measuring more than one factor (or twice): {twice}")
        context = info.context or {}
        if "metric_catalogue" in context:
            self._check_metrics(context["metric_catalogue"], context.get("questions", {}))
        return self

    def _check_metrics(self, catalogue: MetricCatalogue, questions: Mapping[str, Question]
                       ) -> None:
        known = {m.id: m for m in catalogue.metrics}
        for question_id, question in questions.items():
            if question.metric is None:
                continue
            metric = known.get(question.metric)
            if metric is None or metric.kind != "asked" or metric.factor != question.factor:
                raise ValueError(f"question {question_id}: {question.metric!r} is not an asked "
                                 f"metric of factor {question.factor} in the metric catalogue")
        for factor in self.factors:
            for fm in factor.metrics:
                where = f"factor {factor.id}, metric {fm.metric}"
                metric = known.get(fm.metric)
                if metric is None:
                    raise ValueError(f"{where}: not in the metric catalogue")
                if metric.factor != factor.id:
                    raise ValueError(f"{where}: the metric catalogue says it measures "
                                     f"{metric.factor!r}")
                if (fm.full > fm.zero) != metric.higher_is_better:
                    side = "above" if metric.higher_is_better else "below"
                    raise ValueError(f"{where}: full must be {side} zero (higher_is_better="
                                     f"{metric.higher_is_better})")
                if (metric.kind == "asked") != (fm.question is not None):
                    raise ValueError(f"{where}: an asked metric names its survey question, a "
                                     "computable one does not")
                if fm.question is None:
                    continue
                question = questions.get(fm.question)
                if question is None or question.kind in ("comment", "nps", "csat"):
                    raise ValueError(f"{where}: {fm.question!r} is not a rating question of "
                                     "the survey catalogue")
                if question.factor not in (None, factor.id):
                    raise ValueError(f"{where}: question {fm.question} rates {question.factor}")
                if question.metric != fm.metric:
                    raise ValueError(f"{where}: question {fm.question} gives {question.metric}")

    @property
    def measured(self) -> tuple[Factor, ...]:
        """The factors with at least one metric, in catalogue order."""
        return tuple(f for f in self.factors if f.metrics)

    def layout(self) -> FactorLayout:
        """The measured factors and their blocks."""
        return FactorLayout(tuple(f.id for f in self.measured),
                            tuple(f.block for f in self.measured))

    def block_of(self, factor_id: str) -> str:
        """The block of factor ``factor_id``."""
        return next(f.block for f in self.factors if f.id == factor_id)

    def metric_maps(self, asked: bool) -> pd.DataFrame:
        """One row per computable (or asked) metric: factor, metric, question, zero, full."""
        rows = [{"factor": f.id, "metric": m.metric, "question": m.question, "zero": m.zero,
                 "full": m.full} for f in self.factors for m in f.metrics
                if (m.question is not None) == asked]
        return pd.DataFrame(rows, columns=["factor", "metric", "question", "zero", "full"])


def factor_ids(rules_dir: Path | None = None) -> frozenset[str]:
    """The ids of the factors listed in ``factors.yaml`` (read without validation)."""
    return frozenset(f["id"] for f in parse_yaml(rules_text("factors", rules_dir))["factors"])


def factor_catalogue(rules_dir: Path | None = None) -> FactorCatalogue:
    """The factor catalogue from ``factors.yaml``, checked against the metric catalogue and
    the survey questions (the user's copies if present)."""
    from cx_tasks.metrics.catalogue import metric_catalogue
    from cx_tasks.surveys.catalogue import survey_catalogue

    context = {"metric_catalogue": metric_catalogue(rules_dir),
               "questions": survey_catalogue(rules_dir).questions}
    return FactorCatalogue.model_validate(parse_yaml(rules_text("factors", rules_dir)),
                                          context=context)


def metric_score(value: Any, zero: Any, full: Any) -> np.ndarray:
    """Metric score = 100 * (value - zero) / (full - zero), clipped to [0, 100] (NaN stays NaN)."""
    value, zero, full = (np.asarray(x, dtype=np.float64) for x in (value, zero, full))
    return np.clip(100.0 * (value - zero) / (full - zero), 0.0, 100.0)


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (value, zero, full) plus its metric ``score``; rows without a value left out."""
    frame = frame[frame["value"].notna()].copy()
    frame["score"] = metric_score(frame["value"], frame["zero"], frame["full"])
    return frame


def factor_scores(metric_values: pd.DataFrame, ratings: pd.DataFrame,
                  catalogue: FactorCatalogue) -> pd.DataFrame:
    """Factor score = mean of the 0-100 scores of the factor's metrics that have a value:
    role ``any`` from the computable metrics alone; a role that rated the factor gets its own
    row from the computable metrics and that role's mean rating of each asked metric.

    ``metric_values``: client_id, metric, value (one window, one as_of); ``ratings``:
    client_id, role, question_id, score (the answers in the window). Returns client_id, role,
    factor, score and ``metrics`` (metric -> {value, score[, answers]}).
    """
    computable = _scored(metric_values[["client_id", "metric", "value"]]
                         .merge(catalogue.metric_maps(asked=False), on="metric"))
    asked_maps = catalogue.metric_maps(asked=True)
    answers = (ratings.merge(asked_maps, left_on="question_id", right_on="question")
               .groupby(["client_id", "role", "factor", "metric", "zero", "full"],
                        as_index=False)
               .agg(value=("score", "mean"), answers=("score", "size")))
    asked = _scored(answers)
    shared = computable.assign(role=ANY_ROLE)
    rated = asked[["client_id", "role", "factor"]].drop_duplicates()
    per_role = pd.concat([computable.merge(rated, on=["client_id", "factor"]), asked],
                         ignore_index=True)
    long = pd.concat([shared, per_role], ignore_index=True)
    if long.empty:
        return pd.DataFrame(columns=FACTOR_SCORE_COLUMNS)
    long = long.sort_values(["client_id", "role", "factor", "metric"], kind="stable")
    rows = []
    for (client, role, factor), group in long.groupby(["client_id", "role", "factor"],
                                                      sort=False):
        metrics = {m: _metric_entry(v, s, n) for m, v, s, n in
                   zip(group["metric"], group["value"], group["score"],
                       group["answers"],
                       strict=True)}
        rows.append({"client_id": client, "role": role, "factor": factor,
                     "score": float(group["score"].mean()), "metrics": metrics})
    return pd.DataFrame(rows, columns=FACTOR_SCORE_COLUMNS)


def _metric_entry(value: float, score: float, answers: float) -> dict[str, float | int]:
    """What a factor score records of one metric: its value, its score and, for a rating,
    how many answers it averages."""
    entry: dict[str, float | int] = {"value": float(value), "score": float(score)}
    if not pd.isna(answers):
        entry["answers"] = int(answers)
    return entry
