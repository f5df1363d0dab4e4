"""The monitor stage for one day (``dags/cx_monitor.py``): KPIs and the computable metrics'
trends per segment and period published under their versions, the layer cake and the
satisfaction-margin link stored, findings for the CX lead and the account teams (a weakened
link, satisfaction up but payments not, role gaps).

Everything is computed from what the warehouse knows before ``as_of`` and written by natural
key (upserts; KPI figures once per version), so a rerun of a day leaves the same state and a
backfill of an earlier day writes that day's figures.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from cx_tasks.monitor.answers import answers_known
from cx_tasks.monitor.finance import (
    link_changes,
    link_findings,
    money_link,
    payments_not_findings,
    satisfaction_up_payments_not,
)
from cx_tasks.monitor.history import KpiInputs, kpi_inputs, publish_kpis
from cx_tasks.monitor.kpis import observations
from cx_tasks.monitor.layers import (
    CAKE_TABLES,
    layer_cake,
    role_gap_findings,
    role_gaps,
    typed,
)
from cx_tasks.monitor.rules import MonitorRules, monitor_rules
from cx_tasks.monitor.trends import publish_trends
from cx_tasks.warehouse.db import engine_for, frame_records, upsert
from cx_tasks.warehouse.frames import read_staging_tables
from cx_tasks.warehouse.schema import STAGING
from cx_tasks.warehouse.schema import layer_cake as layer_cake_table
from cx_tasks.warehouse.schema import money_link as money_link_table
from cx_tasks.warehouse.times import midnight


def past_answers_dir(data_dir: Path) -> Path:
    """The drop folder of past-answer exports (CSV or XLSX): ``<data dir>/past_answers``."""
    return data_dir / "past_answers"


def import_dropped_answers(warehouse_url: str, data_dir: Path, now: datetime
                           ) -> dict[str, Any]:
    """Import every CSV and XLSX file in the drop folder (each file once, by its hash)."""
    from cx_tasks.monitor.past_answers import import_files

    folder = past_answers_dir(data_dir)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".csv", ".xlsx")) \
        if folder.is_dir() else []
    return import_files(warehouse_url, files, now=now).to_dict()


def monitor_as_of(warehouse_url: str, requested: str | None, fallback: date) -> date:
    """The day monitored: the one requested (a backfill, a triggering metrics event), else
    the newest day with published metrics, else ``fallback`` (the run's own day)."""
    from cx_tasks.analyze.stage import latest_metrics_day

    if requested:
        return date.fromisoformat(requested)
    return latest_metrics_day(warehouse_url) or fallback


def monitor_day(warehouse_url: str, as_of: date, rules: MonitorRules | None = None,
                inputs: KpiInputs | None = None) -> dict[str, Any]:
    """Run the monitor stage as of ``as_of`` (module doc); return a small summary."""
    from cx_tasks.analyze.findings import FINDING_COLUMNS, store_findings

    rules = rules or monitor_rules()
    inputs = inputs or kpi_inputs(rules.kpi)
    kpis = publish_kpis(warehouse_url, as_of, inputs)
    trends = publish_trends(warehouse_url, as_of, rules.trends)
    engine = engine_for(warehouse_url)
    with engine.connect() as conn:
        answers = answers_known(conn, as_of, inputs.catalogue)
        clients = STAGING["erp_clients"]
        accounts = pd.read_sql(select(clients.c.client_id, clients.c.segment,
                                      clients.c.account_manager), conn)
    frames = typed(read_staging_tables(engine, CAKE_TABLES, midnight(as_of)))
    obs = observations(answers, inputs.question_kinds, inputs.question_factors,
                       inputs.importance)
    cake = layer_cake(obs, frames, accounts, as_of)
    link = money_link(cake, rules.link)
    scales = {q: question.scale for q, question in inputs.catalogue.questions.items()
              if question.scale is not None}
    window = rules.kpi.trailing_days
    gaps = role_gaps(answers, scales, as_of, rules.role_gap.window_days, rules.role_gap)
    flagged = satisfaction_up_payments_not(obs[obs["kpi"] == "csi"], frames["bill_invoices"],
                                           frames["bill_payments"], as_of, window,
                                           rules.link.alpha)
    found = (link_findings(link_changes(link, rules.link), rules.link, as_of)
             + payments_not_findings(flagged, rules.link, as_of, window)
             + role_gap_findings(gaps, rules.role_gap, as_of))
    with engine.begin() as conn:
        upsert(conn, layer_cake_table, frame_records(
            cake[[c.name for c in layer_cake_table.columns]]))
        upsert(conn, money_link_table, frame_records(link))
        stored = store_findings(conn, pd.DataFrame(found, columns=FINDING_COLUMNS))
    return {**kpis, **trends, "layer_cake_rows": len(cake),
            "link_rows": int(link["slope"].notna().sum()), "role_gaps": len(gaps),
            "satisfaction_up_payments_not": len(flagged), "findings": stored}
