"""The numbers behind the computable metrics (``rules/metric_parameters.yaml``).

Every field's default and meaning is documented here and beside it in the YAML file;
the CX team edits the YAML (or a copy in ``CX_RULES_DIR``), never the code.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cx_tasks.collect.contract import DOC_TYPES
from cx_tasks.config import DayWindows, cached_rules, load_rules


class OtifTolerance(BaseModel):
    """How late and how short a delivery may be and still count as OTIF (and, in the stricter
    variant, how early)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_early: int | None = Field(
        None, ge=0, description="stricter variant, off (null) by default: a delivery more than "
        "this many days before the promised date makes the line late")
    days_late: int = Field(0, ge=0, description="days after the promised date still on time")
    quantity_pct: float = Field(
        2.0, ge=0, lt=100, description="percent of the ordered quantity that may be missing"
    )

    @property
    def quantity_share(self) -> float:
        """The share of the ordered quantity that must arrive: ``1 - quantity_pct/100``."""
        return 1.0 - self.quantity_pct / 100.0


class MetricParameters(BaseModel):
    """Windows, tolerances and service levels of the computable metrics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: DayWindows = Field(
        (1, 30, 90, 365),
        description="window lengths in days; a window is [as_of - N days, as_of)",
    )
    otif: OtifTolerance = Field(default_factory=OtifTolerance)
    rhythm_baseline_days: int = Field(
        365, ge=1, description="days before as_of whose delivery gaps give the usual cadence"
    )
    document_sla_hours: dict[str, float] = Field(
        {"quality_certificate": 24.0, "invoice": 24.0, "waybill": 4.0, "specification": 48.0},
        description="hours from request to sent allowed per document type",
    )
    payment_tolerance: float = Field(
        0.01, ge=0, description="an invoice is paid in full when payments reach amount minus this"
    )
    order_frequency_days: int = Field(
        30, ge=1, description="order frequency is reported as orders per this many days"
    )
    summary_window_days: int = Field(
        30, ge=1, description="window whose per-segment means the nightly summary reports"
    )


    @field_validator("document_sla_hours")
    @classmethod
    def _every_document_type(cls, sla: dict[str, float]) -> dict[str, float]:
        missing = sorted(set(DOC_TYPES) - set(sla))
        unknown = sorted(set(sla) - set(DOC_TYPES))
        if missing or unknown or any(h <= 0 for h in sla.values()):
            raise ValueError(
                f"document_sla_hours needs a positive SLA for exactly {list(DOC_TYPES)}; "
                f"missing {missing}, unknown {unknown}"
            )
        return sla

    @model_validator(mode="after")
    def _summary_window_is_a_window(self) -> MetricParameters:
        if self.summary_window_days not in self.windows:
            raise ValueError(f"summary_window_days {self.summary_window_days} not in windows")
        return self


def metric_parameters(rules_dir: Path | None = None) -> MetricParameters:
    """The metric parameters from ``metric_parameters.yaml`` (the user's copy if present)."""
    if rules_dir is None:
        return cached_rules("metric_parameters", MetricParameters)
    return load_rules("metric_parameters", MetricParameters, rules_dir)
