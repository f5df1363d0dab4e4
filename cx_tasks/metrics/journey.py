"""The customer-journey map (``rules/journey.yaml``) and the share of its indicators collected
automatically, per segment and day.

The map: stage -> the client's state -> indicator (a metric of the catalogue) -> its current
collection method in a segment (``CatalogueMetric.collection_in``) -> the process class
behind it. The methodology's goal is to move indicators from in person into automated
channels and into systems, so two shares are KPIs with history (table
``collection_shares``):

    system_share    = indicators collected from systems / indicators on the map
    automated_share = indicators collected from systems or automated channels / indicators
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from sqlalchemy import Connection, Engine, delete, func, select

from cx_tasks.config import parse_yaml, rules_text
from cx_tasks.metrics.catalogue import MetricCatalogue, metric_catalogue
from cx_tasks.warehouse.db import frame_records, upsert
from cx_tasks.warehouse.schema import collection_shares

STAGES = ("awareness", "evaluation_and_deal", "usage", "post_sale")
"""The four stages of the customer journey, in order."""

ALL_SEGMENTS = "all"
"""``collection_shares.segment`` of the catalogue's default methods (no segment's own)."""

SHARE_COLUMNS = ["segment", "indicators", "from_systems", "from_automated_channels", "in_person",
                 "system_share", "automated_share"]
MAP_COLUMNS = ["stage", "client_state", "indicator", "name", "collection", "process_class"]


class Names(BaseModel):
    """A text in every shipped language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ru: str = Field(min_length=1)
    en: str = Field(min_length=1)


class JourneyStage(BaseModel):
    """One stage: the client's state there and the indicators measured there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Literal["awareness", "evaluation_and_deal", "usage", "post_sale"]
    client_state: Names
    indicators: tuple[str, ...] = Field(min_length=1)


class JourneyMap(BaseModel):
    """The four stages in order, each indicator once; with the metric catalogue as validation
    context, every indicator is one of its metrics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: tuple[JourneyStage, ...]

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> JourneyMap:
        if tuple(s.stage for s in self.stages) != STAGES:
            raise ValueError(f"stages must be {list(STAGES)} in this order")
        listed = self.indicators
        twice = sorted({i for i in listed if listed.count(i) > 1})
        if twice:
            raise ValueError(f"indicators on the map more than once: {twice}")
        catalogue: MetricCatalogue | None = (info.context or {}).get("metric_catalogue")
        if catalogue is not None:
            unknown = sorted(set(listed) - {m.id for m in catalogue.metrics})
            if unknown:
                raise ValueError(f"indicators not in the metric catalogue: {unknown}")
        return self

    @property
    def indicators(self) -> list[str]:
        """Every indicator on the map, in journey order."""
        return [i for stage in self.stages for i in stage.indicators]


def journey_map(rules_dir: Path | None = None,
                catalogue: MetricCatalogue | None = None) -> JourneyMap:
    """The journey map from ``journey.yaml`` (the user's copy if present), checked against the
    metric catalogue (default: ``metric_catalogue(rules_dir)``)."""
    return JourneyMap.model_validate(
        parse_yaml(rules_text("journey", rules_dir)),
        context={"metric_catalogue": catalogue or metric_catalogue(rules_dir)})


def map_rows(journey: JourneyMap, catalogue: MetricCatalogue, segment: str = ALL_SEGMENTS,
             language: str = "en") -> pd.DataFrame:
    """The map as a table, one row per indicator: stage, client_state, indicator, name,
    collection (its method in ``segment``), process_class (None for an outcome)."""
    rows = []
    for stage in journey.stages:
        for indicator in stage.indicators:
            metric = catalogue.by_id(indicator)
            rows.append({"stage": stage.stage,
                         "client_state": getattr(stage.client_state, language),
                         "indicator": indicator, "name": metric.name,
                         "collection": metric.collection_in(segment),
                         "process_class": metric.process_class})
    return pd.DataFrame(rows, columns=MAP_COLUMNS)


def collection_share(journey: JourneyMap, catalogue: MetricCatalogue, segment: str
                     ) -> dict[str, float | int | str]:
    """One segment's counts and shares: system_share = from systems / indicators;
    automated_share = (from systems + from automated channels) / indicators."""
    methods = [catalogue.by_id(i).collection_in(segment) for i in journey.indicators]
    systems, channels = methods.count("system"), methods.count("automated_channel")
    return {"segment": segment, "indicators": len(methods), "from_systems": systems,
            "from_automated_channels": channels, "in_person": methods.count("in_person"),
            "system_share": systems / len(methods),
            "automated_share": (systems + channels) / len(methods)}


def collection_shares_of(journey: JourneyMap, catalogue: MetricCatalogue,
                         segments: Iterable[str]) -> pd.DataFrame:
    """``collection_share`` for ``all`` (the default methods) and each of ``segments``."""
    named = sorted({str(s) for s in segments} - {ALL_SEGMENTS})
    return pd.DataFrame([collection_share(journey, catalogue, s)
                         for s in [ALL_SEGMENTS, *named]], columns=SHARE_COLUMNS)


def publish_collection_shares(conn: Connection, shares: pd.DataFrame, as_of: date) -> int:
    """Replace the rows of ``as_of`` in ``collection_shares`` by ``shares``; return rows
    written (a rerun of the day leaves the same rows; other days are the history)."""
    conn.execute(delete(collection_shares).where(collection_shares.c.as_of == as_of))
    records = frame_records(shares.assign(as_of=as_of))
    upsert(conn, collection_shares, records)
    return len(records)


def latest_collection_shares(engine: Engine) -> pd.DataFrame:
    """The stored collection shares of the latest day, per segment (``all`` first)."""
    with engine.connect() as conn:
        day = conn.scalar(select(func.max(collection_shares.c.as_of)))
        rows = conn.execute(select(collection_shares).where(collection_shares.c.as_of == day)
                            ).mappings().all()
    frame = pd.DataFrame(rows, columns=["as_of", *SHARE_COLUMNS])
    return frame.sort_values("segment", key=lambda s: s != ALL_SEGMENTS, kind="stable"
                             ).reset_index(drop=True)
