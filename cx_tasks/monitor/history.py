"""KPI recalculations stored with their version, so a backfill reproduces a past figure.

``publish_kpis(as_of)`` computes every figure from the answers known before ``as_of`` and
stores it under the version ``<as_of>:<definition hash>:<inputs fingerprint>``
(``cx_tasks.monitor.kpis``). A rerun with the same definitions and inputs finds its version
stored and writes nothing; a changed definition or a changed answer gives a new version
beside the old one, so "why did last March's NPS change" is answered by the two versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, func, select

from cx_tasks.monitor.answers import answers_known
from cx_tasks.monitor.kpis import (
    KpiVersion,
    definition_hash,
    inputs_fingerprint,
    kpi_figures,
    observations,
)
from cx_tasks.monitor.rules import KpiRules
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.warehouse.db import engine_for, frame_records, insert_if_absent
from cx_tasks.warehouse.schema import kpi_figures as kpi_figures_table
from cx_tasks.warehouse.schema import kpi_runs

if TYPE_CHECKING:
    from cx_tasks.analyze.model import ImportanceRules

STORED = ("kpi", "level", "group_key", "period", "period_start", "period_end", "n",
          "clusters", "value", "low", "high", "change")


def importance_table(rules_dir: Any = None) -> pd.DataFrame:
    """``importance.yaml`` as rows: segment, role, factor, weight."""
    from cx_tasks.analyze.model import satisfaction_rules

    return importance_rows(satisfaction_rules(rules_dir).importance)


def importance_rows(importance: ImportanceRules) -> pd.DataFrame:
    """Importance per segment, role and factor as rows: segment, role, factor, weight."""
    return pd.DataFrame(
        [(segment, role, factor, float(weight))
         for segment, spec in importance.segments.items()
         for role, factors in spec.importance.items()
         for factor, weight in factors.items()],
        columns=["segment", "role", "factor", "weight"])


@dataclass(frozen=True)
class KpiInputs:
    """The definitions' parameters a recalculation uses."""

    rules: KpiRules
    catalogue: SurveyCatalogue
    importance: pd.DataFrame

    @property
    def question_kinds(self) -> dict[str, str]:
        return {q: question.kind for q, question in self.catalogue.questions.items()}

    @property
    def question_factors(self) -> dict[str, str]:
        return {q: question.factor for q, question in self.catalogue.questions.items()
                if question.factor is not None}


def kpi_inputs(rules: KpiRules) -> KpiInputs:
    """The survey catalogue and importance table as the rule tables say."""
    return KpiInputs(rules, survey_catalogue(), importance_table())


def recalculate(answers: pd.DataFrame, as_of: date, inputs: KpiInputs
                ) -> tuple[KpiVersion, pd.DataFrame]:
    """The version and every KPI figure of ``answers`` as of ``as_of``."""
    version = KpiVersion(as_of, definition_hash(inputs.rules, inputs.importance,
                                                inputs.question_kinds),
                         inputs_fingerprint(answers))
    obs = observations(answers, inputs.question_kinds, inputs.question_factors,
                       inputs.importance)
    return version, kpi_figures(obs, as_of, inputs.rules)


def publish_kpis(warehouse_url: str, as_of: date, inputs: KpiInputs) -> dict[str, Any]:
    """Recalculate as of ``as_of`` and store the figures under their version, once."""
    engine = engine_for(warehouse_url)
    with engine.connect() as conn:
        answers = answers_known(conn, as_of, inputs.catalogue)
    version, figures = recalculate(answers, as_of, inputs)
    with engine.begin() as conn:
        new = insert_if_absent(conn, kpi_runs, [{
            "version": version.version, "as_of": as_of,
            "definition_hash": version.definition_hash,
            "inputs_fingerprint": version.inputs_fingerprint, "answers": len(answers),
            "figures": len(figures),
            "sequence": (conn.scalar(select(func.max(kpi_runs.c.sequence))) or 0) + 1}])
        if new:
            rows = frame_records(figures[list(STORED)].assign(version=version.version))
            insert_if_absent(conn, kpi_figures_table, rows)
    return {"version": version.version, "answers": len(answers), "figures": len(figures),
            "published": bool(figures["value"].notna().sum()), "new": bool(new)}


def latest_version(conn: Connection, as_of: date | None = None) -> str | None:
    """The version of the latest recalculation (as of ``as_of`` or before), if any."""
    query = select(kpi_runs.c.version).order_by(kpi_runs.c.as_of.desc(),
                                                kpi_runs.c.sequence.desc()).limit(1)
    if as_of is not None:
        query = query.where(kpi_runs.c.as_of <= as_of)
    return conn.scalar(query)


def stored_figures(conn: Connection, version: str,
                   where: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The figures of one version (optionally only rows whose columns equal ``where``)."""
    query = select(*(kpi_figures_table.c[c] for c in STORED)).where(
        kpi_figures_table.c.version == version)
    for column, value in (where or {}).items():
        query = query.where(kpi_figures_table.c[column] == value)
    return pd.read_sql(query, conn)


def published_count(conn: Connection, version: str) -> int:
    """Figures of a version that have a value (n at least the minimum)."""
    return int(conn.scalar(select(func.count()).select_from(kpi_figures_table).where(
        (kpi_figures_table.c.version == version) & kpi_figures_table.c.value.is_not(None))))
