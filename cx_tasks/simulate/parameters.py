"""The simulated supplier's parameters: the rule table ``rules/simulation.yaml`` as a model.

Every field's default lives in the YAML file beside a comment saying what it means; this
model only fixes the shape and the ranges so that a bad edit fails on load, not halfway
through a simulation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cx_tasks.collect.contract import DOC_TYPES, ROLES, SIZE_CLASSES
from cx_tasks.config import load_rules

Probability = Annotated[float, Field(ge=0, le=1)]
FACTORS = (
    "on_time_delivery",
    "in_full_delivery",
    "packaging",
    "documents",
    "quality",
    "responsiveness",
    "claims_handling",
    "price",
    "payment_terms",
    "product_range",
)
ProblemKind = Literal[
    "warehouse_short",
    "warehouse_packaging",
    "carrier_late",
    "document_delay",
    "manager_unresponsive",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segment(_Strict):
    """One client segment: its share, industries, lead times, margins and factor importances."""

    share: float = Field(gt=0)
    industries: list[str] = Field(min_length=1)
    lead_days: tuple[int, int]
    margin_mean: float = Field(gt=0, lt=1)
    margin_sd: float = Field(gt=0, lt=1)
    certificate_share: Probability = Field(ge=0, le=1)
    importance: dict[str, dict[str, float]]

    @model_validator(mode="after")
    def _every_factor_and_role(self) -> Segment:
        if set(self.importance) != set(FACTORS):
            raise ValueError(f"importance must list exactly the factors {FACTORS}")
        for factor, by_role in self.importance.items():
            if set(by_role) != set(ROLES) or min(by_role.values()) <= 0:
                raise ValueError(f"importance of {factor} needs a positive weight per role {ROLES}")
        return self


class SizeClass(_Strict):
    """A size class: the share of clients (largest first) and their usual order cadence."""

    client_share: float = Field(gt=0, le=1)
    cadence_days: float = Field(gt=0)


class Carrier(_Strict):
    """A carrier: nominal transit days and the regions it mostly serves."""

    transit_days: int = Field(ge=0)
    regions: list[str] = Field(min_length=1)


class Problem(_Strict):
    """A persistent process problem; with a slope it gets worse over time."""

    name: str
    kind: ProblemKind
    target: str
    region: str | None = None
    rate: float = Field(ge=0)
    start_days_before_end: int | None = Field(default=None, ge=1)
    slope_per_30_days: float = Field(default=0.0, ge=0)
    description: str


class Documents(_Strict):
    """Document flow: request shares per order, turnaround and the SLA."""

    sla_hours: float = Field(gt=0)
    request_share: dict[str, Probability]
    median_hours: dict[str, float]
    spread: float = Field(gt=0)
    unlinked_share: Probability = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _known_types(self) -> Documents:
        for mapping in (self.request_share, self.median_hours):
            if not set(mapping) <= set(DOC_TYPES):
                raise ValueError(f"document types must be among {DOC_TYPES}")
        return self


class PayerKind(_Strict):
    """A payment behaviour: its share of clients and the delay after the due date."""

    share: Probability
    delay_mean_days: float
    delay_sd_days: float = Field(ge=0)


class Payments(_Strict):
    """Billing: payment terms offered, payer behaviours, split payments."""

    terms_days: dict[int, Probability]
    payers: dict[str, PayerKind]
    split_share: Probability = Field(ge=0, le=1)


class Feedback(_Strict):
    """How often operational events turn into claims and tickets, and how texts vary."""

    claim_late_order: Probability
    claim_short_line: Probability
    claim_packaging: dict[str, Probability]
    quality_issue_per_shipment: Probability
    ticket_late_document: Probability
    ticket_delivery_status: Probability
    ticket_invoice_issue: Probability
    ticket_price_question: Probability
    service_complaints_per_client_month: float = Field(ge=0)
    unresponsive_multiplier: float = Field(ge=1)
    deterioration_window_days: int = Field(ge=1)
    deterioration_share: Probability
    claim_close_days_median: float = Field(gt=0)
    ticket_resolve_hours_median: float = Field(gt=0)
    no_contact_share: Probability
    typo_share: Probability
    mixed_language_share: Probability


class SimulationRules(_Strict):
    """Every parameter of the simulated supplier (see ``rules/simulation.yaml``)."""

    segments: dict[str, Segment]
    size_classes: dict[str, SizeClass]
    pareto_alpha: float = Field(gt=0)
    irregular_share: Probability
    weekend_moved_share: Probability
    new_client_share: Probability
    products_per_segment: int = Field(ge=4)
    favourite_products: int = Field(ge=1)
    lines_per_order: list[float] = Field(min_length=8, max_length=8)
    cancelled_share: Probability
    zero_quantity_share: Probability
    role_missing_share: Probability
    opted_out_share: Probability
    english_client_share: Probability
    key_account_classes: list[str]
    regions: dict[str, float]
    warehouses: dict[str, str]
    own_warehouse_share: Probability
    carriers: dict[str, Carrier]
    own_carrier_share: Probability
    shipments_per_line: list[float] = Field(min_length=3, max_length=3)
    late_probability: Probability
    short_probability: Probability
    packaging_probability: Probability
    damage_probability: Probability
    packaging_types: dict[str, Probability]
    problems: list[Problem]
    documents: Documents
    payments: Payments
    feedback: Feedback
    satisfaction_noise: float = Field(ge=0)
    margin_satisfaction_coefficient: float = Field(ge=-1, le=1)
    line_margin_noise: float = Field(ge=0)
    margin_bounds: tuple[float, float]
    defect_share: Probability = Field(ge=0, le=0.05)

    @model_validator(mode="after")
    def _consistent(self) -> SimulationRules:
        if set(self.size_classes) != set(SIZE_CLASSES):
            raise ValueError(f"size_classes must be exactly {SIZE_CLASSES}")
        if abs(sum(c.client_share for c in self.size_classes.values()) - 1) > 1e-9:
            raise ValueError("size class client shares must add up to 1")
        if set(self.warehouses.values()) != set(self.regions):
            raise ValueError("every region needs exactly one home warehouse")
        for problem in self.problems:
            known = {
                "warehouse_short": self.warehouses,
                "warehouse_packaging": self.warehouses,
                "carrier_late": self.carriers,
                "document_delay": self.documents.median_hours,
            }.get(problem.kind)
            if known is not None and problem.target not in known:
                raise ValueError(f"problem {problem.name}: unknown target {problem.target!r}")
            if problem.region is not None and problem.region not in self.regions:
                raise ValueError(f"problem {problem.name}: unknown region {problem.region!r}")
        return self


def simulation_rules(rules_dir: Path | None = None) -> SimulationRules:
    """The simulation parameters: the user's ``simulation.yaml`` if present, else the default."""
    return load_rules("simulation", SimulationRules, rules_dir)
