"""The adjust stage's rule table (``rules/adjust.yaml``) as a model."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.config import load_rules


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EffectRules(_Strict):
    """How an initiative's effect is measured (difference-in-differences) and when it is due."""

    controls_per_client: int = Field(ge=1)
    match_days: int = Field(ge=1)
    before_days: int = Field(ge=1)
    after_days: int = Field(ge=1)
    confidence: float = Field(gt=0, lt=1)
    correct_after_days: int = Field(ge=1)
    metrics: tuple[str, ...]
    lower_is_better: tuple[str, ...] = ()
    start: Literal["approval", "first_milestone"] = "approval"

    def lower_better(self, metric: str) -> bool:
        """``metric`` improves when it falls: it or its family (``complaints`` of
        ``complaints:packaging``) is in ``lower_is_better``."""
        return metric in self.lower_is_better or metric.split(":")[0] in self.lower_is_better


class RoundRules(_Strict):
    """How the model learns over real periods and how individual scales are aligned."""

    first_round_after: int = Field(ge=1)
    alignment: Literal["none", "residual"]
    shrinkage: float = Field(ge=0)


class RiskRules(_Strict):
    """The classifiers behind the level-5 predictions."""

    staff_model: Literal["logistic", "boosting"]
    client_model: Literal["logistic", "boosting"]
    reasons: int = Field(ge=1)
    overloaded_hours: float = Field(gt=0)


class StaffRunRules(_Strict):
    """When the quarterly staff pulse survey goes out and how long its links work."""

    pulse_months: tuple[int, ...] = Field(min_length=1)
    pulse_link_days: int = Field(ge=1)


class AtRiskRules(_Strict):
    """Which predictions the digests and the packs list as at risk."""

    listed_from: float = Field(ge=0, le=1)
    listed_at_most: int = Field(ge=1)


class PackRules(_Strict):
    """When working-group packs are prepared for the key accounts and what they cover."""

    meetings: tuple[date, ...]
    days_before: int = Field(ge=0)
    history_days: int = Field(ge=1)


class AdjustRules(_Strict):
    """Every rule of the adjust stage."""

    effects: EffectRules
    rounds: RoundRules
    risk: RiskRules
    at_risk: AtRiskRules
    staff: StaffRunRules
    packs: PackRules


def adjust_rules(rules_dir: Path | None = None) -> AdjustRules:
    """The adjust stage's rules: the user's ``adjust.yaml`` if present, else the default."""
    return load_rules("adjust", AdjustRules, rules_dir)
