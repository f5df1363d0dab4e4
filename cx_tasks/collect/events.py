"""Trigger events: the moments after which the survey stage asks a client something.

Five event types, each detected by one function from validated source rows, each
event keyed ``<event type>:<id of the thing it is about>``:

- ``delivery_completed`` (per order): every live line has received its ordered quantity
  within the OTIF quantity tolerance; at the delivery (or cancellation) that settled the
  last line.
- ``otif_miss`` (per order, once): a line missed OTIF; at the end of the deadline day of
  the order's first missing line.
- ``claim_closed``, ``ticket_resolved``: when the service desk closed or resolved it.
- ``document_delay`` (per document): not sent within its SLA; when the SLA expired.

Detection for a window ``[start, end)`` replays what was known at its end:

- it sees only the rows *loaded* by this interval or an earlier one (staging's
  ``interval_start <= start``) and ignores deliveries, sendings and cancellations
  stamped at or after ``end``;
- it reports an event that occurred in the window, or one that occurred earlier but
  became known only now, because a row it depends on was loaded by this interval (a late
  delivery record, a claim entered after the fact).

Events are facts recorded once: storing keeps the first detection of an ``event_id``
(insert if absent). So re-running any interval, before or after later ones, leaves the
events table identical, and the ``interval_start`` of an event names the run that found
it (the survey stage asks about each event once).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from cx_tasks.metrics.otif import otif_by_line, reaches
from cx_tasks.metrics.parameters import MetricParameters, OtifTolerance, metric_parameters
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.frames import read_staging
from cx_tasks.warehouse.schema import events as events_table

EVENT_COLUMNS = ["event_id", "event_type", "client_id", "contact_id", "order_id", "ref_id",
                 "occurred_at", "payload"]
SOURCES = ("erp_orders", "erp_order_lines", "wms_shipments", "doc_documents", "sd_claims",
           "sd_tickets")
LOADED = "interval_start"
"""Staging's column naming the interval that loaded a row."""


# --- what was known at the end of the window ----------------------------------------------

def loaded_at(frame: pd.DataFrame) -> pd.Series:
    """When each row was loaded (its interval's start); NaT for frames built by hand."""
    if LOADED not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[LOADED])


def loaded_by(frame: pd.DataFrame, start: datetime) -> pd.DataFrame:
    """The rows loaded by the interval starting at ``start`` or an earlier one."""
    loaded = loaded_at(frame)
    return frame[loaded.isna() | (loaded <= start)]


def lines_as_of(lines: pd.DataFrame, end: datetime) -> pd.DataFrame:
    """Order lines as they stood at ``end``: a cancellation stamped at or after it is undone."""
    out = lines.copy()
    out["cancelled"] = out["cancelled"] & (out["updated_at"] < end)
    return out


def deliveries_as_of(shipments: pd.DataFrame, end: datetime) -> pd.DataFrame:
    """Shipments as they stood at ``end``: a delivery at or after it has not happened yet."""
    out = shipments.copy()
    later = out["delivered_at"].isna() | (out["delivered_at"] >= end)
    out.loc[later, "delivered_at"] = pd.NaT
    out.loc[later, "delivered_qty"] = float("nan")
    return out


def order_loaded_at(lines: pd.DataFrame, shipments: pd.DataFrame) -> pd.Series:
    """Per order, when the last of its lines and shipments was loaded (by order_id)."""
    line_order = lines.set_index("order_line_id")["order_id"]
    rows = pd.concat([
        pd.DataFrame({"order_id": lines["order_id"], "loaded": loaded_at(lines)}),
        pd.DataFrame({"order_id": shipments["order_line_id"].map(line_order),
                      "loaded": loaded_at(shipments)}),
    ], ignore_index=True)
    return rows.groupby("order_id")["loaded"].max().rename("loaded")


def _reported(candidates: pd.DataFrame, occurred: str, start: datetime,
              end: datetime) -> pd.DataFrame:
    """Candidates that occurred in the window, or before it and became known in it (a row
    they depend on, whose load time is in column ``loaded``, was loaded by this interval)."""
    at, loaded = candidates[occurred], candidates["loaded"]
    return candidates[at.notna() & (at < end) & ((at >= start) | (loaded == start))]


# --- building event rows ------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """A JSON-friendly scalar: timestamps as ISO text, numpy numbers as Python, NaN as None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _payloads(frame: pd.DataFrame, columns: Mapping[str, str]) -> list[str]:
    """One compact, key-sorted JSON object per row from ``{payload key: frame column}``."""
    return [json.dumps({key: _plain(row[column]) for key, column in columns.items()},
                       sort_keys=True)
            for row in frame.to_dict("records")]


def _events(frame: pd.DataFrame, event_type: str, ref: str, occurred: str,
            payload: Mapping[str, str], contact: str | None = None) -> pd.DataFrame:
    """``frame`` turned into event rows (``EVENT_COLUMNS``)."""
    out = pd.DataFrame({
        "event_id": event_type + ":" + frame[ref].astype(str),
        "event_type": event_type,
        "client_id": frame["client_id"],
        "contact_id": frame[contact] if contact else None,
        "order_id": frame["order_id"],
        "ref_id": frame[ref],
        "occurred_at": pd.to_datetime(frame[occurred]),
        "payload": _payloads(frame, payload),
    }, columns=EVENT_COLUMNS)
    return out.astype({"contact_id": object, "order_id": object})


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return ((later - earlier).dt.total_seconds() / 3600).round(2)


# --- the five event types -----------------------------------------------------------------

def line_settlements(
    lines: pd.DataFrame, deliveries: pd.DataFrame, tolerance: OtifTolerance
) -> pd.DataFrame:
    """When each order line stopped waiting for goods: the delivery whose running total
    reached ``quantity * (1 - quantity_pct/100)``, or its cancellation (at ``updated_at``);
    a live line needing nothing is settled without a time. Unsettled lines are absent.

    Columns: order_line_id, order_id, settled_at, settled_by (shipment id or "cancellation").
    """
    live = lines.loc[~lines["cancelled"], ["order_line_id", "order_id", "quantity"]]
    needed = live.assign(needed=live["quantity"] * tolerance.quantity_share)
    received = (deliveries[["shipment_id", "order_line_id", "delivered_qty", "delivered_at"]]
                .merge(needed, on="order_line_id")
                .sort_values(["order_line_id", "delivered_at", "shipment_id"]))
    received["running_total"] = received.groupby("order_line_id")["delivered_qty"].cumsum()
    reached = reaches(received["running_total"].to_numpy(), received["needed"].to_numpy())
    by_delivery = (received[reached]
                   .groupby("order_line_id", sort=False).head(1)
                   .rename(columns={"delivered_at": "settled_at", "shipment_id": "settled_by"}))
    cancelled = lines.loc[lines["cancelled"], ["order_line_id", "order_id", "updated_at"]]
    return pd.concat([
        by_delivery[["order_line_id", "order_id", "settled_at", "settled_by"]],
        needed.loc[needed["needed"] <= 0, ["order_line_id", "order_id"]].assign(
            settled_at=pd.NaT, settled_by=None),
        cancelled.rename(columns={"updated_at": "settled_at"}).assign(settled_by="cancellation"),
    ], ignore_index=True).drop_duplicates("order_line_id")


def deliveries_completed(
    lines: pd.DataFrame, shipments: pd.DataFrame, orders: pd.DataFrame,
    tolerance: OtifTolerance, start: datetime, end: datetime,
) -> pd.DataFrame:
    """Orders whose every line is settled (see ``line_settlements``), at the delivery or
    cancellation that settled the last one.

    Deliveries count whenever they came (late ones too); an order that received nothing
    (all lines cancelled or of zero quantity) completes no delivery.
    """
    loaded = order_loaded_at(lines, shipments)
    lines = lines_as_of(lines, end)
    deliveries = deliveries_as_of(shipments, end).dropna(subset=["delivered_at", "delivered_qty"])
    settled = line_settlements(lines, deliveries, tolerance)
    open_lines = lines[~lines["order_line_id"].isin(settled["order_line_id"])]
    received = deliveries.merge(lines[["order_line_id", "order_id"]], on="order_line_id")
    last = (settled[~settled["order_id"].isin(open_lines["order_id"])
                    & settled["order_id"].isin(received["order_id"])]
            .dropna(subset=["settled_at"])
            .sort_values(["order_id", "settled_at", "settled_by"])
            .groupby("order_id").tail(1)
            .join(loaded, on="order_id"))
    last = _reported(last, "settled_at", start, end)
    live_lines = lines[~lines["cancelled"]].groupby("order_id").size().rename("lines")
    until = received.merge(last[["order_id", "settled_at"]], on="order_id")
    shipments_until = (until[until["delivered_at"] <= until["settled_at"]]
                       .groupby("order_id").size().rename("shipments"))
    found = (last.merge(orders[["order_id", "client_id"]], on="order_id")
             .join(live_lines, on="order_id").join(shipments_until, on="order_id"))
    return _events(found, "delivery_completed", "order_id", "settled_at",
                   {"lines": "lines", "shipments": "shipments", "completed_by": "settled_by"})


def otif_misses(
    lines: pd.DataFrame, shipments: pd.DataFrame, orders: pd.DataFrame,
    tolerance: OtifTolerance, start: datetime, end: datetime,
) -> pd.DataFrame:
    """Orders with a line that missed OTIF, once per order: at the end of the deadline day
    (deadline + 1 day, 00:00) of the order's first missing line."""
    line_otif = otif_by_line(lines_as_of(lines, end), deliveries_as_of(shipments, end), orders,
                             tolerance, end.date())
    missed = line_otif[(line_otif["otif"] == 0).fillna(False).astype(bool)].copy()
    missed["deadline"] = pd.to_datetime(missed["deadline"]).dt.normalize()
    missed = missed.sort_values(["order_id", "deadline", "order_line_id"])
    first = missed.groupby("order_id").head(1).copy()
    first["occurred_at"] = first["deadline"] + pd.Timedelta(days=1)
    first = _reported(first.join(order_loaded_at(lines, shipments), on="order_id"),
                      "occurred_at", start, end)
    same_day = missed.merge(first[["order_id", "deadline"]], on=["order_id", "deadline"])
    first = first.join(same_day.groupby("order_id").size().rename("lines_missed"),
                       on="order_id")
    first["deadline_day"] = first["deadline"].dt.date.astype(str)
    first["on_time"] = first["on_time"].astype(bool)
    first["in_full"] = first["in_full"].astype(bool)
    return _events(first, "otif_miss", "order_id", "occurred_at", {
        "deadline": "deadline_day", "lines_missed": "lines_missed",
        "first_line": "order_line_id", "on_time": "on_time", "in_full": "in_full"})


def claims_closed(claims: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Claims closed, at their closing time, addressed to the claim's contact."""
    closed = _reported(claims.assign(loaded=loaded_at(claims)), "closed_at", start, end).copy()
    closed["hours_open"] = _hours(closed["closed_at"], closed["opened_at"])
    return _events(closed, "claim_closed", "claim_id", "closed_at",
                   {"hours_open": "hours_open"}, contact="contact_id")


def tickets_resolved(tickets: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Tickets resolved, at their resolution time, for the ticket's contact."""
    resolved = _reported(tickets.assign(loaded=loaded_at(tickets)), "resolved_at", start,
                         end).copy()
    resolved["hours_open"] = _hours(resolved["resolved_at"], resolved["opened_at"])
    return _events(resolved, "ticket_resolved", "ticket_id", "resolved_at",
                   {"hours_open": "hours_open"}, contact="contact_id")


def document_delays(
    documents: pd.DataFrame, sla_hours: Mapping[str, float], start: datetime, end: datetime,
) -> pd.DataFrame:
    """Documents sent after ``requested_at + SLA`` or unsent when it expired, at that expiry.

    A document sent exactly at the expiry met its SLA. ``hours_late`` is known only when
    it was sent before ``end``; otherwise the payload says ``sent: false``.
    """
    docs = documents.assign(loaded=loaded_at(documents))
    docs["sla_hours"] = docs["doc_type"].map(dict(sla_hours)).astype(float)
    docs["due_at"] = docs["requested_at"] + pd.to_timedelta(docs["sla_hours"], unit="h")
    late = docs["sent_at"].isna() | (docs["sent_at"] > docs["due_at"])
    docs = _reported(docs[late], "due_at", start, end).copy()
    docs["sent"] = docs["sent_at"].notna() & (docs["sent_at"] < end)
    docs["hours_late"] = _hours(docs["sent_at"], docs["due_at"]).where(docs["sent"])
    return _events(docs, "document_delay", "document_id", "due_at", {
        "doc_type": "doc_type", "sla_hours": "sla_hours", "sent": "sent",
        "hours_late": "hours_late"})


# --- all together -------------------------------------------------------------------------

def detect_events(
    frames: Mapping[str, pd.DataFrame], start: datetime, end: datetime,
    params: MetricParameters,
) -> pd.DataFrame:
    """Every trigger event of the window ``[start, end)`` (``EVENT_COLUMNS``), in time then
    id order. ``frames`` holds typed frames of the ``SOURCES`` tables, as staging has them
    (with ``interval_start``) or built by hand (then every row counts as loaded long ago)."""
    known = {name: loaded_by(frames[name], start) for name in SOURCES}
    lines, shipments, orders = (known[n] for n in ("erp_order_lines", "wms_shipments",
                                                    "erp_orders"))
    detectors: list[Callable[[], pd.DataFrame]] = [
        lambda: deliveries_completed(lines, shipments, orders, params.otif, start, end),
        lambda: otif_misses(lines, shipments, orders, params.otif, start, end),
        lambda: claims_closed(known["sd_claims"], start, end),
        lambda: tickets_resolved(known["sd_tickets"], start, end),
        lambda: document_delays(known["doc_documents"], params.document_sla_hours, start, end),
    ]
    found = [frame for frame in (detect() for detect in detectors) if not frame.empty]
    if not found:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    return (pd.concat(found, ignore_index=True)
            .sort_values(["occurred_at", "event_id"], ignore_index=True))


def store_events(warehouse_url: str, events: pd.DataFrame, interval_start: datetime) -> int:
    """Record events not recorded yet, stamped with the interval that detected them; an
    ``event_id`` already stored keeps its first record. Return how many were new."""
    rows = [
        {**{k: v.to_pydatetime() if k == "occurred_at" else _plain(v) for k, v in row.items()},
         LOADED: interval_start}
        for row in events[EVENT_COLUMNS].to_dict("records")
    ]
    with engine_for(warehouse_url).begin() as conn:
        return insert_if_absent(conn, events_table, rows)


def detect_and_store(warehouse_url: str, start: datetime, end: datetime) -> dict[str, int]:
    """Detect the window's events from the validated staging rows and record them; return
    how many were detected and how many of those were new."""
    engine = engine_for(warehouse_url)
    frames = {name: read_staging(engine, name) for name in SOURCES}
    found = detect_events(frames, start, end, metric_parameters())
    return {"detected": len(found), "new": store_events(warehouse_url, found, start)}
