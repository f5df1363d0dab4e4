"""The predicted satisfaction index: factor scores -> block scores -> a client role's index ->
the account's index, with weights per segment seeded from interviews (``importance.yaml``),
and the satisfaction the model is calibrated against: the CSI the relationship survey reports
(``target`` in ``model.yaml``, :class:`SatisfactionTarget`).

A model's weights are one non-negative weight per role and measured factor, summing to one
per role ("role -> factor -> weight", as ``model_versions.weights`` stores them). They carry
both levels of the hierarchy: within a block the factors' importance is proportional to
their weights, and a block's weight is the sum of its factors' weights. The interview seeds
become such weights in ``seed_weights``; calibration (``calibration.py``) corrects them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from cx_tasks.analyze.factors import (
    ANY_ROLE,
    BLOCKS,
    FactorCatalogue,
    FactorLayout,
    factor_catalogue,
)
from cx_tasks.collect.contract import ROLES
from cx_tasks.config import parse_yaml, rules_text

ACCOUNT_ROLE = "account"
"""``predicted_index.role`` of the account's index (the roles combined)."""

OK = "ok"
INSUFFICIENT_SIGNAL = "insufficient_signal"
NO_FACTOR_SCORES = "no_factor_scores"
STATUSES = (OK, INSUFFICIENT_SIGNAL, NO_FACTOR_SCORES)
"""``predicted_index.status``: ok; insufficient_signal (an account with fewer than
``min_roles`` roles answering in the signal window); no_factor_scores (nothing measured)."""

Role = Literal["economic_buyer", "technical_buyer", "operator"]
Weights = dict[str, dict[str, float]]
"""A model's weights: role -> factor -> weight (>= 0, summing to one per role)."""

PREDICTION_COLUMNS = ["client_id", "role", "segment", "status", "predicted", "reported",
                      "blocks", "failed_table_stakes"]
"""A prediction frame's columns; ``failed_table_stakes`` (the table-stakes factors under their
floor, a tuple) is not stored, the drill-down recomputes it."""
TABLE_STAKES = "table_stakes"
"""The block of the pyramid's base: its factors are not tradeable (``TableStakesRules``)."""


class SegmentImportance(BaseModel):
    """A segment's block weights and the interviews' importance per role and factor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    blocks: dict[str, float] = Field(description="block -> weight >= 0 (ratios matter)")
    importance: dict[Role, dict[str, float]] = Field(
        description="role -> factor -> importance >= 0 (1-10 interview scale)")


class ImportanceRules(BaseModel):
    """Importance per segment (``importance.yaml``); with the factor catalogue as validation
    context, every measured factor must have an importance for every role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segments: dict[str, SegmentImportance] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> ImportanceRules:
        catalogue: FactorCatalogue | None = (info.context or {}).get("factor_catalogue")
        known = {f.id for f in catalogue.factors} if catalogue else None
        measured = catalogue.layout() if catalogue else None
        for name, segment in self.segments.items():
            if set(segment.blocks) != set(BLOCKS) or min(segment.blocks.values()) < 0:
                raise ValueError(f"segment {name}: a weight >= 0 for each block {list(BLOCKS)}")
            if set(segment.importance) != set(ROLES):
                raise ValueError(f"segment {name}: importance for each role {list(ROLES)}")
            for role, factors in segment.importance.items():
                if factors and min(factors.values()) < 0:
                    raise ValueError(f"segment {name}, role {role}: importance must be >= 0")
                if known is not None and measured is not None:
                    unknown = sorted(set(factors) - known)
                    missing = sorted(set(measured.factors) - set(factors))
                    if unknown or missing:
                        raise ValueError(f"segment {name}, role {role}: unknown factors "
                                         f"{unknown}, measured factors without importance "
                                         f"{missing}")
            if measured is not None and not any(segment.blocks[b] > 0
                                                for b in measured.factor_blocks):
                raise ValueError(f"segment {name}: every measured block has weight 0")
        return self


class ScaleMap(BaseModel):
    """The linear map of an answer to 0-100: ``zero`` scores 0, ``full`` 100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zero: float
    full: float

    @model_validator(mode="after")
    def _span(self) -> ScaleMap:
        if self.full == self.zero:
            raise ValueError("a scale needs full != zero")
        return self


class SatisfactionTarget(BaseModel):
    """``target`` in ``model.yaml``: the satisfaction the model is calibrated against (the
    ``reported`` value of ``predicted_index``), on 0-100.

    ``csi`` (default) is the customer satisfaction index as the methodology defines it: the
    importance-weighted mean of the factor ratings a client role gave in the relationship
    survey, ``CSI = sum(importance_f * rating_f) / sum(importance_f)`` over the factors it
    rated whose importance for the client's segment and the role (``importance.yaml``) is
    above 0, each rating mapped to 0-100 by ``rating`` and averaged over the role's answers
    to that factor in the window. ``question`` is the mean answer to one named
    overall-satisfaction ``question`` of the survey catalogue, mapped by ``rating``. NPS
    and CSAT are reported as themselves (the monitor stage) and never blended in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: Literal["csi", "question"] = "csi"
    rating: ScaleMap = Field(default_factory=lambda: ScaleMap(zero=1, full=5))
    question: str | None = None

    @model_validator(mode="after")
    def _question(self) -> SatisfactionTarget:
        if (self.measure == "question") != (self.question is not None):
            raise ValueError("target: measure 'question' names its question; 'csi' does not")
        return self


class CalibrationRules(BaseModel):
    """How the weights are corrected against reported satisfaction (see ``model.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rounds: int = Field(3, ge=1, description="most calibration rounds per run")
    tolerance: float = Field(0.1, ge=0, description="stop when MAE improves by less (points)")
    min_answers: int = Field(15, ge=2, description="fewest client-roles to fit a role's weights")
    prior_strength: float = Field(2.0, ge=0, description="pull toward the seeds, pseudo-answers")


class TableStakesRules(BaseModel):
    """Table stakes are not tradeable: a table-stakes factor scoring under its floor caps the
    predicted index, however good the other factors are (``model.yaml`` ``table_stakes``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    floor: float = Field(50.0, ge=0, le=100,
                         description="a table-stakes factor scoring below this (0-100) fails")
    floors: dict[str, float] = Field(
        default_factory=dict, description="factor -> its own floor, instead of `floor`")
    cap: float = Field(50.0, ge=0, le=100,
                       description="most a client role failing a table stake is predicted")

    def floor_of(self, factor: str) -> float:
        """The floor of ``factor``: its own, else the common one."""
        return self.floors.get(factor, self.floor)

    def failed(self, scores: np.ndarray, layout: FactorLayout) -> np.ndarray:
        """Clients x factors: True where a table-stakes factor scores under its floor (an
        unscored factor fails nothing)."""
        floors = np.array([self.floor_of(f) if b == TABLE_STAKES else -np.inf
                           for f, b in zip(layout.factors, layout.factor_blocks, strict=True)])
        return np.atleast_2d(scores) < floors


class ModelRules(BaseModel):
    """Account roll-up, signal window, reported satisfaction and calibration (``model.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role_weights: dict[Role, float] = Field(
        default_factory=lambda: {"economic_buyer": 0.40, "technical_buyer": 0.35,
                                 "operator": 0.25},
        description="weight of each role in the account's index")
    signal_window_days: int = Field(180, ge=1, description="days a role's answers count")
    min_roles: int = Field(2, ge=1, description="fewest answering roles of a weight above zero "
                           "for an account index")
    target: SatisfactionTarget = Field(default_factory=SatisfactionTarget,
                                       description="the satisfaction calibrated against")
    calibration: CalibrationRules = CalibrationRules()
    table_stakes: TableStakesRules = TableStakesRules()

    @model_validator(mode="after")
    def _roles(self) -> ModelRules:
        if set(self.role_weights) != set(ROLES) or min(self.role_weights.values()) < 0:
            raise ValueError(f"role_weights: a weight >= 0 for each role {list(ROLES)}")
        return self


@dataclass(frozen=True)
class SatisfactionRules:
    """Everything the model reads: the factor catalogue, importance, model rules, the kind of
    every survey question, the factor every factor question rates and the kind of every
    survey (relationship or transactional)."""

    factors: FactorCatalogue
    importance: ImportanceRules
    model: ModelRules
    question_kinds: Mapping[str, str]
    question_factors: Mapping[str, str] = field(default_factory=dict)
    survey_kinds: Mapping[str, str] = field(default_factory=dict)


def satisfaction_rules(rules_dir: Path | None = None) -> SatisfactionRules:
    """The model's rule tables (``factors``, ``importance``, ``model`` and the survey
    catalogue's questions), the user's copies if present, each validated."""
    from cx_tasks.surveys.catalogue import survey_catalogue

    catalogue = factor_catalogue(rules_dir)
    importance = ImportanceRules.model_validate(
        parse_yaml(rules_text("importance", rules_dir)),
        context={"factor_catalogue": catalogue})
    model = ModelRules.model_validate(parse_yaml(rules_text("model", rules_dir)))
    stakes = {f.id for f in catalogue.factors if f.block == TABLE_STAKES}
    unknown = sorted(set(model.table_stakes.floors) - stakes)
    if unknown:
        raise ValueError(f"model.yaml table_stakes.floors: {unknown} are not table-stakes "
                         f"factors {sorted(stakes)}")
    surveys = survey_catalogue(rules_dir)
    kinds = {q: question.kind for q, question in surveys.questions.items()}
    target = model.target.question
    if target is not None and target not in kinds:
        raise ValueError(f"model.yaml target: question {target!r} is not in the survey catalogue")
    factors = {q: question.factor for q, question in surveys.questions.items()
               if question.factor is not None}
    return SatisfactionRules(catalogue, importance, model, kinds, factors,
                             {s.id: s.kind for s in surveys.surveys})


def seed_weights(segment: SegmentImportance, layout: FactorLayout) -> Weights:
    """Seed weight of factor f = (weight of f's block / sum of the weights of the blocks with
    measured factors) * importance of f / sum of the importance of its block's measured factors
    (a block whose factors all have importance 0 is left out)."""
    seeds: Weights = {}
    for role in ROLES:
        importance = np.array([segment.importance[role][f] for f in layout.factors])
        within = importance @ layout.membership
        blocks = np.array([segment.blocks[b] for b in layout.blocks]) * (within > 0)
        share = np.divide(blocks, blocks.sum() * within, out=np.zeros_like(blocks),
                          where=within > 0)
        weights = importance * (layout.membership @ share)
        seeds[role] = dict(zip(layout.factors, weights.tolist(), strict=True))
    return seeds


def weight_vector(role_weights: Mapping[str, float], layout: FactorLayout) -> np.ndarray:
    """A role's weights in layout order (a factor the mapping lacks weighs 0)."""
    return np.array([role_weights.get(f, 0.0) for f in layout.factors], dtype=np.float64)


def block_weights(weights: np.ndarray, layout: FactorLayout) -> np.ndarray:
    """Block weight = sum of the weights of the block's factors."""
    return weights @ layout.membership


def block_scores(scores: np.ndarray, importance: np.ndarray, layout: FactorLayout
                 ) -> np.ndarray:
    """Block score = sum(importance * score) / sum(importance) over the block's factors that
    have a score (NaN = unmeasured); NaN when that importance sums to 0.

    ``scores``: clients x factors (layout order); returns clients x blocks.
    """
    return _weighted_means(np.atleast_2d(scores), importance, layout.membership)


def predicted_index(block_scores: np.ndarray, block_weights: np.ndarray) -> np.ndarray:
    """Predicted index = sum(block weight * block score) / sum(block weight) over the blocks
    that have a score; NaN when none has (or their weights sum to 0)."""
    blocks = np.atleast_2d(block_scores)
    return _weighted_means(blocks, block_weights, np.ones((blocks.shape[1], 1)))[:, 0]


def _weighted_means(values: np.ndarray, weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per row and group: sum(weight * value) / sum(weight) over the group's non-NaN values."""
    known = ~np.isnan(values)
    present = weights * known
    total = present @ groups
    weighted = (present * np.where(known, values, 0.0)) @ groups
    return np.divide(weighted, total, out=np.full(total.shape, np.nan), where=total > 0)


def factor_table(factor_frame: pd.DataFrame, layout: FactorLayout) -> pd.DataFrame:
    """Factor scores wide: one row per (client_id, role incl. ``any``), one column per measured
    factor in layout order (NaN = no score)."""
    index = pd.MultiIndex.from_frame(factor_frame[["client_id", "role"]])
    scores = pd.Series(factor_frame["score"].to_numpy(dtype=np.float64), index=index)
    keyed = pd.DataFrame({"factor": factor_frame["factor"].to_numpy(), "score": scores},
                         index=index)
    wide = keyed.set_index("factor", append=True)["score"].unstack("factor")
    return wide.reindex(columns=list(layout.factors))


def role_scores(table: pd.DataFrame, clients: pd.Index, role: str) -> np.ndarray:
    """The factor scores a role sees, clients x factors (from ``factor_table``): the role's own
    score of a factor where it rated it, else the shared (``any``) one, else NaN."""
    def rows(of_role: str) -> np.ndarray:
        keys = pd.MultiIndex.from_arrays([clients, [of_role] * len(clients)])
        return table.reindex(keys).to_numpy(dtype=np.float64, na_value=np.nan)

    own = rows(role)
    return np.where(np.isnan(own), rows(ANY_ROLE), own)


def capped_index(predicted: np.ndarray, failed: np.ndarray, cap: float) -> np.ndarray:
    """Predicted index under the table stakes: min(index, cap) where a table stake failed
    (``failed``: clients x factors from ``TableStakesRules.failed``), else the index."""
    return np.where(failed.any(axis=1), np.minimum(predicted, cap), predicted)


def predict_roles(factor_frame: pd.DataFrame, segments: Mapping[str, str],
                  weights: Mapping[str, Weights], layout: FactorLayout,
                  table_stakes: TableStakesRules | None = None) -> pd.DataFrame:
    """Each client's predicted index and block scores per role, from a factor-score frame
    (client_id, role, factor, score; any window) with its segment's weights; a role failing
    a table stake is capped (``capped_index``; default rules: ``TableStakesRules()``).

    Clients whose segment has no weights are left out. Returns client_id, role, segment,
    status (ok | no_factor_scores), predicted, reported (NaN: see ``with_reported``), blocks
    (block -> score) and failed_table_stakes.
    """
    stakes = table_stakes or TableStakesRules()
    table = factor_table(factor_frame, layout)
    parts = []
    for segment, segment_weights in weights.items():
        clients = pd.Index(sorted(c for c, s in segments.items() if s == segment))
        if clients.empty:
            continue
        for role in ROLES:
            vector = weight_vector(segment_weights[role], layout)
            scores = role_scores(table, clients, role)
            blocks = block_scores(scores, vector, layout)
            failed = stakes.failed(scores, layout)
            predicted = capped_index(predicted_index(blocks, block_weights(vector, layout)),
                                     failed, stakes.cap)
            parts.append(pd.DataFrame({
                "client_id": clients, "role": role, "segment": segment,
                "status": np.where(np.isnan(predicted), NO_FACTOR_SCORES, OK),
                "predicted": predicted, "reported": np.nan,
                "blocks": [{b: float(s) for b, s in zip(layout.blocks, row, strict=True)
                            if not np.isnan(s)} for row in blocks],
                "failed_table_stakes": [tuple(np.array(layout.factors)[row]) for row in failed]}))
    if not parts:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    return pd.concat(parts, ignore_index=True)[PREDICTION_COLUMNS]


def reported_satisfaction(answers: pd.DataFrame, segments: Mapping[str, str],
                          rules: SatisfactionRules) -> pd.DataFrame:
    """The satisfaction each client role reported, the model's target
    (:class:`SatisfactionTarget`): CSI from its relationship-survey factor ratings, or the
    mean of the named overall-satisfaction question.

    ``answers``: client_id, role, survey_id, question_id, score (the window's answers; a
    client without a segment of ``importance.yaml`` has no CSI). Returns client_id, role,
    reported (0-100), answers (the ratings it averaged).
    """
    target = rules.model.target
    points = 100.0 * (answers["score"].astype(np.float64) - target.rating.zero) / (
        target.rating.full - target.rating.zero)
    rows = answers.assign(points=points)
    columns = ["client_id", "role", "reported", "answers"]
    if target.measure == "question":
        rows = rows[rows["question_id"] == target.question]
        return (rows.groupby(["client_id", "role"], as_index=False)
                .agg(reported=("points", "mean"), answers=("points", "size")))[columns]
    rated = rows[(rows["survey_id"].map(rules.survey_kinds) == "relationship")
                 & (rows["question_id"].map(rules.question_kinds) == "factor")]
    rated = rated.assign(factor=rated["question_id"].map(rules.question_factors),
                         segment=rated["client_id"].map(segments))
    per_factor = (rated.groupby(["client_id", "role", "segment", "factor"], as_index=False)
                  .agg(points=("points", "mean"), ratings=("points", "size")))

    def importance(row: pd.Series) -> float:
        segment = rules.importance.segments.get(row["segment"])
        return 0.0 if segment is None else segment.importance[row["role"]].get(row["factor"], 0.0)

    if per_factor.empty:
        return pd.DataFrame(columns=columns)
    per_factor["importance"] = per_factor.apply(importance, axis=1)
    per_factor = per_factor[per_factor["importance"] > 0]
    per_factor = per_factor.assign(weighted=per_factor["importance"] * per_factor["points"])
    out = (per_factor.groupby(["client_id", "role"], as_index=False)
           .agg(weighted=("weighted", "sum"), importance=("importance", "sum"),
                answers=("ratings", "sum")))
    return out.assign(reported=out["weighted"] / out["importance"])[columns]


def with_reported(predictions: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with each client role's reported satisfaction (NaN: that role did not
    answer in the signal window)."""
    merged = predictions.drop(columns="reported").merge(
        reported[["client_id", "role", "reported"]], on=["client_id", "role"], how="left")
    return merged[PREDICTION_COLUMNS]


def account_index(predicted: Mapping[str, float], answered: Collection[str],
                  role_weights: Mapping[str, float], min_roles: int
                  ) -> tuple[str, float | None]:
    """Account index = sum(role weight * role index) / sum(role weight) over the roles that
    answered in the signal window; fewer than ``min_roles`` answering roles of a weight above
    zero -> insufficient_signal and no index (a one-sided account is not averaged, and a
    role of weight 0 adds no side).

    ``predicted``: role -> index (NaN or absent = none); returns (status, index).
    """
    weighted = {r for r in answered if role_weights.get(r, 0.0) > 0}
    if len(weighted) < min_roles:
        return INSUFFICIENT_SIGNAL, None
    values = {r: predicted[r] for r in weighted
              if r in predicted and not np.isnan(predicted[r])}
    total = sum(role_weights[r] for r in values)
    if not values or total <= 0:
        return NO_FACTOR_SCORES, None
    return OK, sum(role_weights[r] * v for r, v in values.items()) / total


def account_rows(roles: pd.DataFrame, rules: ModelRules) -> pd.DataFrame:
    """Each client's account row from its role rows (with reported): the account index, the
    reported satisfaction and block scores combined the same way over the roles that
    answered (a role answered when it has a reported satisfaction); a table stake an
    answering role failed caps the account index too (``capped_index``)."""
    rows = []
    for (client, segment), group in roles.groupby(["client_id", "segment"], sort=True):
        answered = group[group["reported"].notna()]
        status, index = account_index(dict(zip(group["role"], group["predicted"], strict=True)),
                                      list(answered["role"]), rules.role_weights,
                                      rules.min_roles)
        ok = status == OK
        failed = tuple(sorted({f for stakes in answered.get("failed_table_stakes", [])
                               for f in stakes}))
        if ok and failed:
            index = min(index, rules.table_stakes.cap)
        weight = answered["role"].map(rules.role_weights).to_numpy(dtype=np.float64)
        reported = float(np.average(answered["reported"], weights=weight)) if ok else None
        blocks = _combined_blocks(list(answered["blocks"]), weight) if ok else {}
        rows.append({"client_id": client, "role": ACCOUNT_ROLE, "segment": segment,
                     "status": status, "predicted": index, "reported": reported,
                     "blocks": blocks, "failed_table_stakes": failed})
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def _combined_blocks(blocks: list[dict[str, float]], weights: np.ndarray) -> dict[str, float]:
    """Per block: the role-weighted mean of the roles' block scores that exist."""
    combined = {}
    for block in BLOCKS:
        pairs = [(b[block], w) for b, w in zip(blocks, weights, strict=True) if block in b]
        total = sum(w for _, w in pairs)
        if pairs and total > 0:
            combined[block] = sum(s * w for s, w in pairs) / total
    return combined
