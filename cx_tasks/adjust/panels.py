"""The client panel the level-5 predictions read from the warehouse, and a manager's portfolio.

Per client (``stg_erp_clients``) and whole month before ``until``'s month (a ``month_number``),
from the month of the first order on:

- manager_id: the account manager's staff id (``hr_staff``, the person in post whose
  ``full_name`` is the client's ``account_manager``; else the name itself). The ERP holds the
  current manager only, so every month carries it;
- transactional: orders (``erp_orders`` by order date), revenue (``bill_invoices`` amount by
  issue date), days_overdue (``payment_days_overdue`` of the nightly metrics);
- operational: otif (``otif_order`` of the nightly metrics), incidents (packaging incidents
  of the client's shipments by report date), claims (``sd_claims`` by opening);
- survey: nps and csi (``stage.outcome_panel``: past answers imported and CX Loop's own);
- cases: cases_opened (close-the-loop cases opened that month), cases_open (opened by the
  month's end and not closed by then).

A nightly metric's month value is its value on the month's last measured day over the
shortest window measured; NaN where a month has none.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from cx_tasks.adjust.staff import month_number
from cx_tasks.warehouse.frames import read_staging
from cx_tasks.warehouse.schema import cases, metric_values
from cx_tasks.warehouse.times import midnight

CLIENT_PANEL_COLUMNS = ["client_id", "month", "manager_id", "orders", "revenue", "incidents",
                        "claims", "nps", "csi", "otif", "days_overdue", "cases_opened",
                        "cases_open"]


def months_of(moments: pd.Series) -> pd.Series:
    """Each moment's ``month_number``."""
    moments = pd.to_datetime(moments)
    return moments.dt.year * 12 + moments.dt.month - 1


def _per_month(frame: pd.DataFrame, moment: str, value: str | None = None) -> pd.Series:
    """Per (client_id, month): the rows (or the sum of ``value``) in the month of ``moment``."""
    keyed = frame.assign(month=months_of(frame[moment]))
    grouped = keyed.groupby(["client_id", "month"])
    return grouped.size() if value is None else grouped[value].sum()


def managers_by_name(conn: Connection) -> dict[str, str]:
    """Account manager name (as ``erp_clients.account_manager`` writes it) -> staff id of the
    person in post with that name (of several, the latest hired)."""
    staff = read_staging(conn, "hr_staff", ["staff_id", "full_name", "position", "hired_on",
                                            "left_on"])
    staff = staff[(staff["position"] == "account_manager") & staff["left_on"].isna()]
    staff = staff.sort_values(["hired_on", "staff_id"], kind="stable")
    return dict(zip(staff["full_name"], staff["staff_id"], strict=True))


def _metric_months(conn: Connection, metric: str, until: date) -> pd.Series:
    """Per (client_id, month): ``metric``'s value on the month's last measured day, over the
    shortest window measured (module doc)."""
    rows = pd.DataFrame(conn.execute(
        select(metric_values.c.client_id, metric_values.c.as_of, metric_values.c.window_days,
               metric_values.c.value)
        .where(metric_values.c.metric == metric, metric_values.c.as_of < until)).all(),
        columns=["client_id", "as_of", "window_days", "value"])
    if rows.empty:
        return pd.Series(dtype=float)
    rows = rows[rows["window_days"] == rows["window_days"].min()]
    rows = rows.assign(month=months_of(rows["as_of"])).sort_values("as_of", kind="stable")
    return rows.dropna(subset=["value"]).groupby(["client_id", "month"])["value"].last()


def client_panel(conn: Connection, until: date, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The client panel before ``until``'s month (module doc; ``CLIENT_PANEL_COLUMNS``);
    ``outcomes`` is ``stage.outcome_panel`` (client_id, period_start, nps, csi)."""
    last = month_number(until) - 1
    accounts = read_staging(conn, "erp_clients", ["client_id", "account_manager"])
    orders = read_staging(conn, "erp_orders", ["order_id", "client_id", "order_date"])
    orders = orders[months_of(orders["order_date"]) <= last]
    if orders.empty or accounts.empty:
        return pd.DataFrame(columns=CLIENT_PANEL_COLUMNS)
    first = int(months_of(orders["order_date"]).min())
    grid = pd.MultiIndex.from_product([sorted(accounts["client_id"]), range(first, last + 1)],
                                      names=["client_id", "month"])
    invoices = read_staging(conn, "bill_invoices", ["client_id", "amount", "issued_date"])
    claims = read_staging(conn, "sd_claims", ["client_id", "opened_at"])
    lines = read_staging(conn, "erp_order_lines", ["order_line_id", "order_id"])
    shipments = read_staging(conn, "wms_shipments", ["shipment_id", "order_line_id"])
    incidents = (read_staging(conn, "wms_packaging_incidents", ["shipment_id", "reported_at"])
                 .merge(shipments, on="shipment_id").merge(lines, on="order_line_id")
                 .merge(orders[["order_id", "client_id"]], on="order_id"))
    opened = pd.DataFrame(conn.execute(select(cases.c.client_id, cases.c.opened_at,
                                              cases.c.closed_at)
                                       .where(cases.c.opened_at < midnight(until))).all(),
                          columns=["client_id", "opened_at", "closed_at"])
    survey = outcomes.assign(month=months_of(outcomes["period_start"])).set_index(
        ["client_id", "month"]) if not outcomes.empty else pd.DataFrame(columns=["nps", "csi"])
    panel = pd.DataFrame(index=grid)
    panel["orders"] = _per_month(orders, "order_date")
    panel["revenue"] = _per_month(invoices, "issued_date", "amount")
    panel["incidents"] = _per_month(incidents, "reported_at")
    panel["claims"] = _per_month(claims, "opened_at")
    panel["cases_opened"] = _per_month(opened, "opened_at")
    panel = panel.fillna(0.0)
    for column in ("nps", "csi"):
        panel[column] = survey[column].groupby(level=[0, 1]).mean().reindex(grid) \
            if not survey.empty else np.nan
    panel["otif"] = _metric_months(conn, "otif_order", until).reindex(grid)
    panel["days_overdue"] = _metric_months(conn, "payment_days_overdue", until).reindex(grid)
    panel["cases_open"] = _open_cases(opened, grid)
    names = accounts.set_index("client_id")["account_manager"]
    staff = managers_by_name(conn)
    panel = panel.reset_index()
    panel["manager_id"] = [staff.get(name, name) for name in panel["client_id"].map(names)]
    return panel[CLIENT_PANEL_COLUMNS]


def _open_cases(opened: pd.DataFrame, grid: pd.MultiIndex) -> np.ndarray:
    """Per grid cell: the client's cases opened by the month's end and not closed by then."""
    cells = grid.to_frame(index=False)
    cells["end"] = pd.to_datetime([date((m + 1) // 12, (m + 1) % 12 + 1, 1)
                                   for m in cells["month"]])
    pairs = cells.reset_index().merge(opened, on="client_id")
    closed = pd.to_datetime(pairs["closed_at"])
    open_then = (pd.to_datetime(pairs["opened_at"]) < pairs["end"]) & (
        closed.isna() | (closed >= pairs["end"]))
    return (open_then.groupby(pairs["index"]).sum().reindex(cells.index).fillna(0)
            .to_numpy(dtype=float))


def manager_portfolios(conn: Connection, as_of: date, months: int = 12) -> pd.DataFrame:
    """Per account manager name (``erp_clients.account_manager``): their clients and those
    clients' invoiced revenue of the ``months`` months before ``as_of`` (``months * 365 / 12``
    days, rounded)."""
    accounts = read_staging(conn, "erp_clients", ["client_id", "account_manager"])
    invoices = read_staging(conn, "bill_invoices", ["client_id", "amount", "issued_date"])
    since = as_of - timedelta(days=round(months * 365 / 12))
    issued = pd.to_datetime(invoices["issued_date"])
    recent = invoices[(issued >= pd.Timestamp(since)) & (issued < pd.Timestamp(as_of))]
    revenue = recent.groupby("client_id")["amount"].sum()
    accounts = accounts.assign(revenue=accounts["client_id"].map(revenue).fillna(0.0))
    return accounts.dropna(subset=["account_manager"]).groupby("account_manager").agg(
        clients=("client_id", "size"), revenue=("revenue", "sum"))
