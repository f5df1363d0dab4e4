"""The layer cake per client and month, and role gaps within an account.

The layer cake (DOMAIN.md: a balanced scorecard seen from the client), one row per client
and calendar month:

1. satisfaction: NPS, CSAT, CES and CSI of the client's answers in the month, each with
   its n (``monitor.kpis`` definitions; no minimum n here: the cake is a ledger, the
   minimum applies where a KPI is published);
2. transactional experience: orders dated in the month, their revenue and gross margin %
   (non-cancelled lines: sum((price - cost) * quantity) / sum(price * quantity)), and the
   share of the invoices due in the month that were paid in full by their due date
   (payment discipline). Share of wallet is asked by no survey of the catalogue yet, so
   it has no column;
3. operational experience: OTIF of the order lines whose deadline fell in the month
   (``metrics.otif.otif_by_line``, the metric parameters' tolerance);
4. employee experience: no column until the adjust stage brings staff data.

Role gap: over the trailing ``window_days`` (180), each role's mean score at an account
(every scored answer put on 0-100 by its scale: (score - lowest) / (highest - lowest) *
100); an account where one role's mean is at least ``satisfied_at`` and another's below
``unsatisfied_below``, each on at least ``min_answers`` answers, is a finding naming both
roles, owned by ``role_gap.owner`` with the account manager as the person.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cx_tasks.monitor.kpis import kpi_figures
from cx_tasks.monitor.rules import KpiRules, RoleGapRules

SATISFACTION = ("nps", "csat", "ces", "csi")
CAKE_TABLES: dict[str, list[str] | None] = {
    "erp_orders": None, "erp_order_lines": None, "wms_shipments": None,
    "bill_invoices": None, "bill_payments": None}
"""The staged tables the transactional and operational layers read."""


def _month(values: pd.Series) -> pd.Series:
    """The first day of each value's month."""
    return pd.to_datetime(values).dt.to_period("M").dt.start_time.dt.date


def satisfaction_layer(obs: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per client and month: nps, csat, ces, csi and their n (``<kpi>_n``)."""
    figures = kpi_figures(obs, as_of, KpiRules(min_n=1), levels=("account",))
    figures = figures[(figures["period"] == "month") & figures["kpi"].isin(SATISFACTION)]
    wide = figures.pivot_table(index=["group_key", "period_start"], columns="kpi",
                               values=["value", "n"], aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    for kpi in SATISFACTION:
        out[kpi] = wide["value"].get(kpi, np.nan)
        out[f"{kpi}_n"] = wide["n"][kpi].fillna(0).astype(int) if kpi in wide["n"] else 0
    out.index.names = ["client_id", "month"]
    return out.reset_index()


TYPED = {"erp_orders": ({"order_date"}, set()),
         "erp_order_lines": (set(), {"price", "cost", "quantity"}),
         "bill_invoices": ({"due_date"}, {"amount"}),
         "bill_payments": ({"paid_date"}, {"amount"})}
"""Per staged table, its date and number columns the layers compute with."""


def typed(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The staged frames with their date and number columns typed (an empty table comes
    back as text)."""
    out = dict(frames)
    for name, (dates, numbers) in TYPED.items():
        frame = out[name].copy()
        for column in dates:
            frame[column] = pd.to_datetime(frame[column])
        for column in numbers:
            frame[column] = pd.to_numeric(frame[column])
        if name == "erp_order_lines":
            frame["cancelled"] = frame["cancelled"].astype(bool)
        out[name] = frame
    return out


def transactional_layer(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per client and month: orders, revenue, gross_margin_pct, invoices_due and
    payment_on_time (module doc)."""
    frames = typed(frames)
    orders = frames["erp_orders"][["order_id", "client_id", "order_date"]].assign(
        month=lambda f: _month(f["order_date"]))
    lines = frames["erp_order_lines"]
    live = lines[~lines["cancelled"]]
    priced = live.assign(revenue=live["price"] * live["quantity"],
                         margin=(live["price"] - live["cost"]) * live["quantity"]).merge(
        orders[["order_id", "client_id", "month"]], on="order_id")
    money = priced.groupby(["client_id", "month"])[["revenue", "margin"]].sum()
    counted = orders.groupby(["client_id", "month"]).size().rename("orders")
    invoices = frames["bill_invoices"]
    payments = frames["bill_payments"].merge(invoices[["invoice_id", "due_date"]],
                                             on="invoice_id")
    in_time = payments[payments["paid_date"] <= payments["due_date"]].groupby(
        "invoice_id")["amount"].sum()
    due = invoices.assign(month=_month(invoices["due_date"]),
                          on_time=pd.to_numeric(invoices["invoice_id"].map(in_time)).fillna(0)
                          >= invoices["amount"] - 0.005)
    paying = due.groupby(["client_id", "month"]).agg(invoices_due=("on_time", "size"),
                                                     payment_on_time=("on_time", "mean"))
    out = pd.concat([counted, money, paying], axis=1).reset_index()
    out["gross_margin_pct"] = np.where(out["revenue"] > 0,
                                       100 * out["margin"] / out["revenue"], np.nan)
    out["payment_on_time"] = 100 * out["payment_on_time"]
    out[["orders", "invoices_due"]] = out[["orders", "invoices_due"]].fillna(0).astype(int)
    return out.drop(columns="margin")


def operational_layer(frames: Mapping[str, pd.DataFrame], as_of: date) -> pd.DataFrame:
    """Per client and month of the lines' deadlines: lines_due and otif_line (percent)."""
    from cx_tasks.metrics.otif import otif_by_line
    from cx_tasks.metrics.parameters import metric_parameters

    if frames["erp_order_lines"].empty:
        return pd.DataFrame(columns=["client_id", "month", "lines_due", "otif_line"])
    lines = otif_by_line(frames["erp_order_lines"], frames["wms_shipments"],
                         frames["erp_orders"], metric_parameters().otif, as_of)
    lines = lines.assign(month=_month(lines["deadline"]), otif=lines["otif"].astype(float))
    return lines.groupby(["client_id", "month"]).agg(
        lines_due=("otif", "size"), otif_line=("otif", "mean")).assign(
        otif_line=lambda f: 100 * f["otif_line"]).reset_index()


def layer_cake(obs: pd.DataFrame, frames: Mapping[str, pd.DataFrame],
               accounts: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per client and month before ``as_of`` with every layer (module doc);
    ``accounts``: client_id, segment, account_manager."""
    keys = ["client_id", "month"]
    cake = satisfaction_layer(obs, as_of).merge(
        transactional_layer(frames), on=keys, how="outer").merge(
        operational_layer(frames, as_of), on=keys, how="outer")
    cake = cake[cake["month"] < as_of]
    for column in ("orders", "invoices_due", "lines_due", *(f"{k}_n" for k in SATISFACTION)):
        cake[column] = cake[column].fillna(0).astype(int)
    cake = cake.merge(accounts, on="client_id", how="left")
    return cake.sort_values(keys, ignore_index=True)


# --- role gaps ------------------------------------------------------------------------------

def normalised_scores(answers: pd.DataFrame, scales: Mapping[str, tuple[int, int]]
                      ) -> pd.Series:
    """Each answer's score on 0-100 by its question's scale: (score - lowest) / (highest -
    lowest) * 100."""
    low = answers["question"].map({q: s[0] for q, s in scales.items()})
    high = answers["question"].map({q: s[1] for q, s in scales.items()})
    return 100 * (answers["score"] - low) / (high - low)


def role_gaps(answers: pd.DataFrame, scales: Mapping[str, tuple[int, int]], as_of: date,
              window_days: int, rules: RoleGapRules) -> pd.DataFrame:
    """Accounts where one role is satisfied and another is not over ``[as_of - window_days,
    as_of)``: client_id, segment, account_manager, satisfied_role, satisfied_score,
    satisfied_n, unsatisfied_role, unsatisfied_score, unsatisfied_n; the most satisfied and
    the least satisfied role of each such account."""
    start = pd.Timestamp(as_of - timedelta(days=window_days))
    recent = answers[(answers["answered_at"] >= start)
                     & (answers["answered_at"] < pd.Timestamp(as_of))]
    recent = recent.assign(points=normalised_scores(recent, scales)).dropna(subset=["points"])
    by_role = recent.groupby(["client_id", "role"]).agg(
        score=("points", "mean"), n=("points", "size"),
        segment=("segment", "first"), account_manager=("account_manager", "first"))
    by_role = by_role[by_role["n"] >= rules.min_answers].reset_index()
    ordered = by_role.sort_values(["client_id", "score", "role"])
    worst = ordered.groupby("client_id").first()
    best = ordered.groupby("client_id").last()
    gap = (best["score"] >= rules.satisfied_at) & (worst["score"] < rules.unsatisfied_below)
    out = pd.DataFrame({
        "segment": best["segment"], "account_manager": best["account_manager"],
        "satisfied_role": best["role"], "satisfied_score": best["score"],
        "satisfied_n": best["n"], "unsatisfied_role": worst["role"],
        "unsatisfied_score": worst["score"], "unsatisfied_n": worst["n"]})[gap]
    return out.reset_index()


def role_gap_findings(gaps: pd.DataFrame, rules: RoleGapRules, found_on: date
                      ) -> list[dict[str, object]]:
    """A finding per role gap, naming both roles (``findings`` columns); its id names the
    account and the two roles, so a gap that persists stays one finding."""
    return [{
        "finding_id": f"role_gap:{g.client_id}:{g.satisfied_role}:{g.unsatisfied_role}",
        "kind": "role_gap", "client_id": g.client_id, "segment": g.segment,
        "process_class": None, "factor": None, "metric": None,
        "summary": (f"Client {g.client_id}: the {g.satisfied_role.replace('_', ' ')} is "
                    f"satisfied ({g.satisfied_score:.0f}/100 on {g.satisfied_n} answers), the "
                    f"{g.unsatisfied_role.replace('_', ' ')} is not ({g.unsatisfied_score:.0f}"
                    f"/100 on {g.unsatisfied_n} answers)"),
        "owner": rules.owner, "owner_person": g.account_manager, "found_on": found_on,
        "due_on": found_on + timedelta(days=rules.due_days)} for g in gaps.itertuples()]

