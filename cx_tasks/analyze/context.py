"""Operational context of each piece of feedback: what operations did to the order or the
shipment a claim or ticket names.

- ``otif_miss``: the linked order has an ``otif_miss`` event (a line late or short);
- ``document_delay``: the linked order has a ``document_delay`` event (a document not
  sent within its SLA);
- ``packaging_incident``: the type of the first packaging incident on the claim's linked
  shipment (``damaged``, ``wrong_labelling``, ``wrong_packaging``), else None.

Only what was known by the end of ``as_of`` counts: events that occurred and incidents
reported before ``as_of + 1 day``. Survey answers and informal notes name no order, so
their context is empty. A claim is feedback ``claim:<claim_id>`` with ``ref_id`` the claim,
a ticket ``ticket:<ticket_id>`` (see :mod:`cx_tasks.feedback.intake`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, and_, literal, select, union_all

from cx_tasks.warehouse.schema import STAGING, events, feedback
from cx_tasks.warehouse.times import midnight

CONTEXT_COLUMNS = ["feedback_id", "order_id", "shipment_id", "otif_miss", "document_delay",
                   "packaging_incident"]


def day_end(as_of: date) -> datetime:
    """The first moment after ``as_of``: ``as_of + 1 day`` at midnight (naive UTC)."""
    return midnight(as_of + timedelta(days=1))


def context_frame(links: pd.DataFrame, order_events: pd.DataFrame,
                  incidents: pd.DataFrame) -> pd.DataFrame:
    """Context per feedback item from its links (feedback_id, order_id, shipment_id), the
    order events (order_id, event_type) and the packaging incidents (shipment_id,
    incident_type, reported_at); columns ``CONTEXT_COLUMNS``."""
    out = links[["feedback_id", "order_id", "shipment_id"]].copy()
    for event_type in ("otif_miss", "document_delay"):
        orders = set(order_events.loc[order_events["event_type"] == event_type, "order_id"])
        out[event_type] = out["order_id"].isin(orders) & out["order_id"].notna()
    first = (incidents.sort_values(["reported_at", "incident_type"])
             .drop_duplicates("shipment_id").set_index("shipment_id")["incident_type"])
    out["packaging_incident"] = out["shipment_id"].map(first).astype(object)
    out["packaging_incident"] = out["packaging_incident"].where(
        out["packaging_incident"].notna(), None)
    return out[CONTEXT_COLUMNS].reset_index(drop=True)


def read_context(conn: Connection, as_of: date) -> pd.DataFrame:
    """The operational context of every claim and ticket in ``feedback`` that occurred by
    the end of ``as_of`` (module docstring); columns ``CONTEXT_COLUMNS``."""
    end = day_end(as_of)
    claims, tickets = STAGING["sd_claims"], STAGING["sd_tickets"]
    incidents_table = STAGING["wms_packaging_incidents"]
    claim_links = (
        select(feedback.c.feedback_id, claims.c.order_id, claims.c.shipment_id)
        .select_from(feedback.join(claims, and_(feedback.c.source == "claim",
                                                feedback.c.ref_id == claims.c.claim_id)))
        .where(feedback.c.occurred_at < end))
    ticket_links = (
        select(feedback.c.feedback_id, tickets.c.order_id,
               literal(None).label("shipment_id"))
        .select_from(feedback.join(tickets, and_(feedback.c.source == "ticket",
                                                 feedback.c.ref_id == tickets.c.ticket_id)))
        .where(feedback.c.occurred_at < end))
    links = pd.DataFrame(conn.execute(union_all(claim_links, ticket_links)).all(),
                         columns=["feedback_id", "order_id", "shipment_id"])
    linked_orders = union_all(select(claims.c.order_id), select(tickets.c.order_id))
    order_events = pd.DataFrame(conn.execute(
        select(events.c.order_id, events.c.event_type).distinct()
        .where(events.c.event_type.in_(("otif_miss", "document_delay")),
               events.c.occurred_at < end,
               events.c.order_id.in_(linked_orders.scalar_subquery()))).all(),
        columns=["order_id", "event_type"])
    incidents = pd.DataFrame(conn.execute(
        select(incidents_table.c.shipment_id, incidents_table.c.incident_type,
               incidents_table.c.reported_at)
        .where(incidents_table.c.reported_at < end,
               incidents_table.c.shipment_id.in_(select(claims.c.shipment_id)
                                                 .scalar_subquery()))).all(),
        columns=["shipment_id", "incident_type", "reported_at"])
    return context_frame(links, order_events, incidents)
