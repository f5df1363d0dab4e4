"""The data-quality gate's rules as Great Expectations expectations.

Row-level rules are derived from the data contract (required columns, keys, types,
non-negative and allowed values, references) and ``rules/quality.yaml`` (date ranges,
the delivered-quantity cap); each has a stable name ``<table>.<column>.<rule>``. Derived
facts that GX cannot compute by itself (does the text parse as a number, does a
reference resolve, what is the line's delivered total) are prepared by the gate as
helper columns of the validated frame, named by the functions below; the decision is
always GX's, so the results written for the engineers are GX validation results.

Suite-level rules (row volume, freshness, quarantine share) quarantine nothing; a
failure blocks the interval's metric publication.

``great_expectations`` takes seconds to import: it is imported inside ``GxRunner`` only.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, field_validator

from cx_tasks.collect.contract import SOURCE_BY_NAME, SourceTable
from cx_tasks.config import load_rules

DELIVERY_TABLE, DELIVERED, ORDERED_TABLE, ORDERED = (
    "wms_shipments", "delivered_qty", "erp_order_lines", "quantity")
QUARANTINED_SHARE = "_quarantined_share"
DELIVERY_BEFORE_ORDER = "wms_shipments.delivered_at.not_before_order_date"
"""The rule that quarantines a delivery dated before its order (the day of ``delivered_at``
earlier than the line's order's ``order_date``): bad data, never an early delivery."""
READS_NULLS = frozenset({"ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeNull"})
"""The expectations GX evaluates on every row; the others skip the rows where the column is
null (``GxRunner.run_by_column``)."""
COLUMN_BATCH_ROWS = 100_000
"""Rows from which each check that skips nulls is validated on its column alone (below, the
copies cost less than a GX run per column)."""


class VolumeRules(BaseModel):
    """Row volume of an interval against the median of the previous intervals."""

    band: float = Field(0.5, gt=0, lt=1)
    history: int = Field(7, ge=1)
    min_history: int = Field(3, ge=1)
    min_median_rows: int = Field(50, ge=0)
    tables: list[str] = ["erp_orders", "erp_order_lines", "wms_shipments"]

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, tables: list[str]) -> list[str]:
        unknown = sorted(set(tables) - set(SOURCE_BY_NAME))
        if unknown:
            raise ValueError(f"not contract tables: {unknown}")
        return tables


class QualityRules(BaseModel):
    """``rules/quality.yaml``: the thresholds of the data-quality gate (see the file)."""

    earliest_date: date = date(2000, 1, 1)
    planned_date_columns: list[str] = [
        "erp_clients.contract_start", "erp_order_lines.promised_date", "bill_invoices.due_date"]
    planned_horizon_days: int = Field(730, ge=0)
    max_delivered_share: float = Field(1.10, ge=1)
    max_quarantine_share: float = Field(0.05, ge=0, le=1)
    min_rows_for_share: int = Field(20, ge=1)
    volume: VolumeRules = VolumeRules()

    @field_validator("planned_date_columns")
    @classmethod
    def _known_date_columns(cls, columns: list[str]) -> list[str]:
        for qualified in columns:
            table_name, _, column = qualified.partition(".")
            table = SOURCE_BY_NAME.get(table_name)
            if table is None or column not in table.date_columns:
                raise ValueError(f"{qualified!r} is not a date column of the contract")
        return columns


def quality_rules(rules_dir: Path | None = None) -> QualityRules:
    """The gate's rules from ``quality.yaml`` (the user's copy in ``CX_RULES_DIR`` if any)."""
    return load_rules("quality", QualityRules, rules_dir)


def value_column(column: str) -> str:
    """Helper column: the value parsed to the contract's type (null when it does not parse)."""
    return f"{column}__value"


def unparsed_column(column: str) -> str:
    """Helper column: the source text that did not parse to the contract's type, else null."""
    return f"{column}__unparsed"


def unresolved_column(column: str) -> str:
    """Helper column: a reference value that resolves to no known row, else null."""
    return f"{column}__unresolved"


def before_order_column() -> str:
    """Helper column: the order date of a shipment delivered on an earlier day, else null."""
    return "delivered_at__before_order_date"


def over_cap_column() -> str:
    """Helper column: by how much the shipment's line delivers more than it may, i.e. the
    line's delivered total over all its shipments minus ordered x allowed share."""
    return f"{DELIVERED}__line_over_cap"


@dataclass(frozen=True)
class Check:
    """One expectation of the gate: its rule name, GX expectation class and arguments."""

    rule: str
    expectation: str
    kwargs: dict[str, Any]
    meaning: str


@dataclass(frozen=True)
class Outcome:
    """What GX said about one check: success, failing row positions and their values."""

    rule: str
    success: bool
    positions: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    observed: Any = None
    meaning: str = ""


def date_range(table: SourceTable, column: str, rules: QualityRules,
               end: datetime) -> tuple[datetime, datetime]:
    """The sane range of a date column: planned dates up to the horizon, others up to ``end``."""
    earliest = datetime.combine(rules.earliest_date, datetime.min.time())
    if f"{table.name}.{column}" in rules.planned_date_columns:
        return earliest, end + timedelta(days=rules.planned_horizon_days)
    return earliest, end


def _column_checks(table: SourceTable, rules: QualityRules, end: datetime) -> list[Check]:
    checks: list[Check] = []
    for column in table.columns:
        rule = f"{table.name}.{column.name}"
        if column.required:
            checks.append(Check(f"{rule}.not_null", "ExpectColumnValuesToNotBeNull",
                                {"column": column.name}, "required value is null"))
        if column.type in ("float", "integer"):
            checks.append(Check(f"{rule}.numeric", "ExpectColumnValuesToBeNull",
                                {"column": unparsed_column(column.name)},
                                f"not a{'n integer' if column.type == 'integer' else ' number'}"))
        if column.non_negative:
            checks.append(Check(f"{rule}.non_negative", "ExpectColumnValuesToBeBetween",
                                {"column": value_column(column.name), "min_value": 0},
                                "negative"))
        if column.type == "boolean":
            checks.append(Check(f"{rule}.boolean", "ExpectColumnValuesToBeNull",
                                {"column": unparsed_column(column.name)}, "not a boolean"))
        if column.type in ("date", "timestamp"):
            low, high = date_range(table, column.name, rules, end)
            checks.append(Check(f"{rule}.valid_{column.type}", "ExpectColumnValuesToBeNull",
                                {"column": unparsed_column(column.name)},
                                f"not a valid {column.type}"))
            checks.append(Check(f"{rule}.sane_range", "ExpectColumnValuesToBeBetween",
                                {"column": value_column(column.name),
                                 "min_value": low, "max_value": high},
                                f"outside [{low:%Y-%m-%d}, {high:%Y-%m-%d %H:%M}]"))
        if column.allowed:
            checks.append(Check(f"{rule}.allowed_values", "ExpectColumnValuesToBeInSet",
                                {"column": column.name, "value_set": list(column.allowed)},
                                f"not one of {', '.join(column.allowed)}"))
    return checks


def row_checks(table: SourceTable, rules: QualityRules, end: datetime) -> list[Check]:
    """The row-level checks of one table for an interval ending at ``end``."""
    checks = _column_checks(table, rules, end)
    checks.append(Check(f"{table.name}.{table.key}.unique", "ExpectColumnValuesToBeUnique",
                        {"column": table.key}, "key occurs more than once in the interval"))
    for ref in table.references:
        checks.append(Check(f"{table.name}.{ref.column}.resolves_to.{ref.table}",
                            "ExpectColumnValuesToBeNull", {"column": unresolved_column(ref.column)},
                            f"no valid {ref.table} row with this key"))
    if table.name == DELIVERY_TABLE:
        percent = round(rules.max_delivered_share * 100)
        checks.append(Check(
            f"{DELIVERY_TABLE}.{DELIVERED}.within_{percent}pct_of_ordered",
            "ExpectColumnValuesToBeBetween", {"column": over_cap_column(), "max_value": 0},
            f"the line's deliveries exceed {percent}% of its ordered quantity; excess"))
        checks.append(Check(
            DELIVERY_BEFORE_ORDER, "ExpectColumnValuesToBeNull",
            {"column": before_order_column()},
            "delivered on a day before its order was placed (bad data); order date"))
    return checks


def volume_check(table: SourceTable, rules: QualityRules,
                 history: Sequence[int]) -> Check | str:
    """Rows in within the band around the median of ``history``, or why it is skipped."""
    if len(history) < rules.volume.min_history:
        return (f"{table.name}.row_volume: skipped, {len(history)} previous interval(s), "
                f"needs {rules.volume.min_history}")
    median = statistics.median(history)
    if median < rules.volume.min_median_rows:
        return (f"{table.name}.row_volume: skipped, median {median:g} rows of the last "
                f"{len(history)} intervals is below {rules.volume.min_median_rows}")
    low = math.ceil((1 - rules.volume.band) * median)
    high = math.floor((1 + rules.volume.band) * median)
    return Check(f"{table.name}.row_volume", "ExpectTableRowCountToBeBetween",
                 {"min_value": low, "max_value": high},
                 f"rows in outside [{low}, {high}] (median {median:g} of the last "
                 f"{len(history)} intervals)")


def quarantine_share_check(table: SourceTable, rules: QualityRules) -> Check:
    """The share of the interval's rows quarantined within the limit.

    The table suite's frame has one row per row in (for the row volume) and carries the
    share on every row; GX reads its maximum (a column mean would make GX scan every
    value in Python for decimals).
    """
    return Check(f"{table.name}.quarantine_share", "ExpectColumnMaxToBeBetween",
                 {"column": QUARANTINED_SHARE, "min_value": 0,
                  "max_value": rules.max_quarantine_share},
                 f"more than {rules.max_quarantine_share:.0%} of the rows quarantined")


def freshness_check(table: SourceTable, end: datetime) -> Check:
    """The source's newest ``updated_at`` at most ``freshness_hours`` before ``end``."""
    assert table.freshness_hours is not None
    threshold = end - timedelta(hours=table.freshness_hours)
    return Check(f"{table.name}.freshness", "ExpectColumnMaxToBeBetween",
                 {"column": table.name, "min_value": threshold},
                 f"no change since {threshold:%Y-%m-%d %H:%M} ({table.freshness_hours:g} h "
                 "before the interval's end)")


class GxRunner:
    """An ephemeral Great Expectations context that validates frames against checks."""

    def __init__(self, results_dir: Path | None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints every pandas batch by hashing all its cells (seconds per million
        # rows) only to label the batch in its results; batches here are named by table
        # and interval, so the fingerprint is switched off.
        pandas_execution_engine.HASH_THRESHOLD = 0
        self._gx = gx
        self.context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ))
        self.results_dir = results_dir

    def run_by_column(self, name: str, frame: pd.DataFrame,
                      checks: Sequence[Check]) -> list[Outcome]:
        """Validate ``frame`` against ``checks`` as suite ``name``; from ``COLUMN_BATCH_ROWS``
        rows on, only the checks that read nulls are validated on the whole frame, and each
        column the other checks read is validated alone, as suite ``<name>.<column>``.

        GX validates a check that skips nulls on a copy of the batch's rows where the
        column is not null, every column of the batch copied: on a frame of many columns
        and millions of rows that is seconds and hundreds of megabytes per check.
        """
        if len(frame) < COLUMN_BATCH_ROWS:
            return self.run(name, frame, checks)
        reading: list[Check] = []
        by_column: dict[str, list[Check]] = {}
        for check in checks:
            if check.expectation in READS_NULLS:
                reading.append(check)
            else:
                by_column.setdefault(check.kwargs["column"], []).append(check)
        outcomes = self.run(name, frame, reading)
        for column, skipping in by_column.items():
            outcomes += self.run(f"{name}.{column}", frame[[column]], skipping)
        return sorted(outcomes, key=lambda o: o.rule)

    def run(self, name: str, frame: pd.DataFrame, checks: Sequence[Check]) -> list[Outcome]:
        """Validate ``frame`` (a RangeIndex) against ``checks`` as suite ``name``."""
        import great_expectations.expectations as gxe

        if not checks:
            return []
        gx = self._gx
        by_rule = {c.rule: c for c in checks}
        suite = gx.ExpectationSuite(name=name, expectations=[
            getattr(gxe, c.expectation)(**c.kwargs, meta={"rule": c.rule}) for c in checks])
        # a data source per run, dropped after it: its engine caches the batch and metrics
        source = self.context.data_sources.add_pandas(name)
        try:
            batch = (source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
                     .get_batch(batch_parameters={"dataframe": frame}))
            result = batch.validate(suite, result_format={
                "result_format": "COMPLETE", "return_unexpected_index_query": False})
        finally:
            self.context.data_sources.delete(name)
        if self.results_dir is not None:
            self.results_dir.mkdir(parents=True, exist_ok=True)
            (self.results_dir / f"{name}.json").write_text(
                json.dumps(result.to_json_dict(), indent=1, default=str), encoding="utf-8")
        outcomes = []
        for item in result.results:
            rule = item.expectation_config.meta["rule"]
            if item.exception_info and item.exception_info.get("raised_exception"):
                raise RuntimeError(f"expectation {rule} could not be evaluated: "
                                   f"{item.exception_info.get('exception_message')}")
            detail = item.result or {}
            outcomes.append(Outcome(
                rule=rule, success=bool(item.success),
                positions=[int(i) for i in detail.get("unexpected_index_list") or []],
                values=list(detail.get("unexpected_list") or []),
                observed=detail.get("observed_value"), meaning=by_rule[rule].meaning,
            ))
        return sorted(outcomes, key=lambda o: o.rule)
