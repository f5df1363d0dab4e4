"""The metric catalogue (``rules/metric_catalogue.yaml``): every metric the methodology names.

Each metric is either *computable* from the supplier's own systems or must be *asked*, and
has a current *collection method* per segment: ``system``, ``automated_channel`` (the
e-mail surveys and the response app) or ``in_person`` (meetings and calls). Moving metrics
into automated channels and systems is a stated goal of the methodology, so the shares of
the journey map's indicators collected each way are KPIs (``cx_tasks.metrics.journey``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cx_tasks.analyze.factors import factor_ids
from cx_tasks.analyze.taxonomy import PROCESS_CLASSES
from cx_tasks.config import cached_rules, load_rules

CollectionMethod = Literal["system", "automated_channel", "in_person"]
COLLECTION_METHODS: tuple[str, ...] = ("system", "automated_channel", "in_person")
"""How a metric is collected today, most automatic first."""

VALUE_ELEMENTS = factor_ids()
"""Factor ids of the B2B Elements of Value pyramid: the factors listed in ``factors.yaml``
(``cx_tasks.analyze.factors``; the user's copy if present)."""


class CatalogueMetric(BaseModel):
    """One metric: what it measures, where it comes from, and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="the metric's id everywhere")
    name: str = Field(min_length=1, description="human name")
    layer: Literal["satisfaction", "transactional", "operational", "employee"] = Field(
        description="layer of the data 'layer cake' the metric belongs to"
    )
    factor: str | None = Field(
        description="value element measured; null for outcomes (satisfaction, client behaviour)"
    )
    process_class: str | None = Field(
        description="the process that moves the metric (taxonomy.PROCESS_CLASSES); null for "
        "outcomes"
    )
    kind: Literal["computable", "asked"] = Field(
        description="computable from internal systems, or asked in a survey"
    )
    collection: CollectionMethod = Field(
        description="how it is collected today: system, automated_channel or in_person")
    collection_by_segment: dict[str, CollectionMethod] = Field(
        default_factory=dict, description="segment -> method, where it differs")
    source: str = Field(min_length=1, description="source systems, or the survey asking it")
    higher_is_better: bool = Field(description="direction of improvement")
    unit: str = Field(min_length=1, description="unit of the value")
    definition: str = Field(min_length=1, description="one-line definition")

    @model_validator(mode="after")
    def _known_factor(self) -> CatalogueMetric:
        if self.factor is not None and self.factor not in VALUE_ELEMENTS:
            raise ValueError(f"metric {self.id}: unknown factor {self.factor!r}")
        if self.process_class is not None and self.process_class not in PROCESS_CLASSES:
            raise ValueError(f"metric {self.id}: unknown process class {self.process_class!r}")
        methods = {self.collection, *self.collection_by_segment.values()}
        if (self.kind == "computable") != (methods == {"system"}):
            raise ValueError(f"metric {self.id}: a computable metric is collected from the "
                             f"system in every segment, an asked one never; got {methods}")
        return self

    def collection_in(self, segment: str) -> CollectionMethod:
        """The metric's collection method in ``segment``."""
        return self.collection_by_segment.get(segment, self.collection)


class MetricCatalogue(BaseModel):
    """All metrics, each id once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: tuple[CatalogueMetric, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> MetricCatalogue:
        ids = [m.id for m in self.metrics]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"metric ids listed more than once: {repeated}")
        return self

    def computable_ids(self) -> list[str]:
        """Ids of the metrics computable from internal systems."""
        return [m.id for m in self.metrics if m.kind == "computable"]

    def by_id(self, metric_id: str) -> CatalogueMetric:
        """The metric with id ``metric_id``."""
        return next(m for m in self.metrics if m.id == metric_id)


def metric_catalogue(rules_dir: Path | None = None) -> MetricCatalogue:
    """The metric catalogue from ``metric_catalogue.yaml`` (the user's copy if present)."""
    if rules_dir is None:
        return cached_rules("metric_catalogue", MetricCatalogue)
    return load_rules("metric_catalogue", MetricCatalogue, rules_dir)


def display_units(currency: str) -> dict[str, str]:
    """Each metric's unit as a table header shows it: ``currency`` named (e.g. RUB)."""
    return {m.id: currency if m.unit == "currency" else m.unit for m in metric_catalogue().metrics}
