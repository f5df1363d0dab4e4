"""The supplier's records as numpy arrays with every reference resolved to a row position.

Metrics are computed on these arrays (bincounts and sorts, no per-row Python). Clients
are numbered by their position in ``client_ids``: the ERP's clients first, then any
client id met in orders, documents or invoices that the ERP table does not hold (so no
row is ever silently dropped); -1 marks a reference that cannot be resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cx_tasks.metrics.keys import key_positions, take
from cx_tasks.metrics.parallel import run_all
from cx_tasks.metrics.windows import day_numbers, hour_numbers

INPUT_COLUMNS: dict[str, list[str]] = {
    "erp_clients": ["client_id", "segment"],
    "erp_orders": ["order_id", "client_id", "order_date"],
    "erp_order_lines": ["order_line_id", "order_id", "quantity", "promised_date", "price", "cost",
                        "cancelled"],
    "wms_shipments": ["shipment_id", "order_line_id", "delivered_qty", "delivered_at"],
    "wms_packaging_incidents": ["shipment_id", "reported_at"],
    "doc_documents": ["client_id", "doc_type", "requested_at", "sent_at"],
    "bill_invoices": ["invoice_id", "client_id", "amount", "due_date"],
    "bill_payments": ["invoice_id", "paid_date", "amount"],
}
"""The columns of each source table the metrics read."""

REFERENCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "erp_order_lines": ("erp_orders", "order_id", ()),
    "wms_shipments": ("erp_order_lines", "order_line_id", ("erp_orders",)),
    "wms_packaging_incidents": ("wms_shipments", "shipment_id", ("erp_orders", "erp_order_lines")),
    "bill_payments": ("bill_invoices", "invoice_id", ()),
}
"""Each referring table: the table it refers to, the key column both share, and the tables
the reference is only resolved with (a shipment's client is found through its line's order)."""

CLIENT_TABLES = ("erp_orders", "doc_documents", "bill_invoices")
"""The tables that name a client, in the order their unknown client ids are numbered."""


@dataclass(frozen=True)
class OrderRows:
    """Orders: client position and order day."""

    client: np.ndarray
    day: np.ndarray


@dataclass(frozen=True)
class LineRows:
    """Order lines: order and client positions, promised day, quantity, price, cost, cancelled."""

    order: np.ndarray
    client: np.ndarray
    promised: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    cost: np.ndarray
    cancelled: np.ndarray


@dataclass(frozen=True)
class ShipmentRows:
    """Shipments: line and client positions, delivery day (NaN if not delivered), delivered qty."""

    line: np.ndarray
    client: np.ndarray
    delivered: np.ndarray
    delivered_qty: np.ndarray


@dataclass(frozen=True)
class IncidentRows:
    """Packaging incidents: client position (through the shipment) and day reported."""

    client: np.ndarray
    day: np.ndarray


@dataclass(frozen=True)
class DocumentRows:
    """Documents: client position, type (text, as read), requested and sent hours (NaN if not
    sent)."""

    client: np.ndarray
    doc_type: ArrayLike
    requested: np.ndarray
    sent: np.ndarray


@dataclass(frozen=True)
class InvoiceRows:
    """Invoices: client position, amount, due day."""

    client: np.ndarray
    amount: np.ndarray
    due: np.ndarray


@dataclass(frozen=True)
class PaymentRows:
    """Payments: invoice position, day paid, amount."""

    invoice: np.ndarray
    day: np.ndarray
    amount: np.ndarray


@dataclass(frozen=True)
class Ledger:
    """All the records the metrics read; a table absent from the input is None."""

    client_ids: np.ndarray
    orders: OrderRows | None
    lines: LineRows | None
    shipments: ShipmentRows | None
    incidents: IncidentRows | None
    documents: DocumentRows | None
    invoices: InvoiceRows | None
    payments: PaymentRows | None

    @property
    def n_clients(self) -> int:
        """How many clients are numbered."""
        return len(self.client_ids)


def client_positions(client_ids: np.ndarray, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``values`` among ``client_ids``, appending the ids not yet numbered."""
    positions = key_positions(client_ids, values)
    unknown = positions < 0
    if not unknown.any():
        return positions, client_ids
    unknown[unknown] = values[unknown].notna().to_numpy()
    missing = values[unknown]
    new_ids = pd.unique(missing.to_numpy(dtype=object))
    positions[unknown] = len(client_ids) + key_positions(new_ids, missing)
    return positions, np.concatenate([client_ids, new_ids]).astype(object)


def client_rows(frames: Mapping[str, pd.DataFrame],
                client_ids: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Client positions of each of CLIENT_TABLES present (ids not yet numbered appended as met,
    in that order), and the extended client ids."""
    positions = {}
    for table in CLIENT_TABLES:
        if table in frames:
            positions[table], client_ids = client_positions(client_ids, frames[table]["client_id"])
    return positions, client_ids


def order_rows(orders: pd.DataFrame, client: np.ndarray) -> OrderRows:
    """The orders with their clients' positions."""
    return OrderRows(client, day_numbers(orders["order_date"]))


def line_rows(lines: pd.DataFrame, order: np.ndarray, order_at: OrderRows) -> LineRows:
    """The order lines with their orders' positions, and their clients."""
    return LineRows(
        order=order,
        client=take(order_at.client, order, -1),
        promised=day_numbers(lines["promised_date"]),
        quantity=lines["quantity"].to_numpy(dtype=np.float64),
        price=lines["price"].to_numpy(dtype=np.float64),
        cost=lines["cost"].to_numpy(dtype=np.float64),
        cancelled=lines["cancelled"].to_numpy(dtype=bool),
    )


def shipment_rows(shipments: pd.DataFrame, line: np.ndarray, line_at: LineRows) -> ShipmentRows:
    """The shipments with their order lines' positions, and their clients."""
    return ShipmentRows(
        line=line,
        client=take(line_at.client, line, -1),
        delivered=day_numbers(shipments["delivered_at"]),
        delivered_qty=np.nan_to_num(shipments["delivered_qty"].to_numpy(dtype=np.float64)),
    )


def incident_rows(incidents: pd.DataFrame, shipment: np.ndarray,
                  shipment_at: ShipmentRows) -> IncidentRows:
    """The packaging incidents with their shipments' clients."""
    return IncidentRows(take(shipment_at.client, shipment, -1),
                        day_numbers(incidents["reported_at"]))


def payment_rows(payments: pd.DataFrame, invoice: np.ndarray) -> PaymentRows:
    """The payments with their invoices' positions."""
    return PaymentRows(invoice, day_numbers(payments["paid_date"]),
                       np.nan_to_num(payments["amount"].to_numpy(dtype=np.float64)))


def _joins(frames: Mapping[str, pd.DataFrame]) -> dict[str, Callable[[], np.ndarray]]:
    """The key joins of REFERENCES whose tables are all present, largest wanted side first."""
    jobs = {}
    for child, (parent, column, needs) in REFERENCES.items():
        if all(table in frames for table in (child, parent, *needs)):
            jobs[child] = partial(key_positions, frames[parent][column], frames[child][column])
    return dict(sorted(jobs.items(), key=lambda job: -len(frames[job[0]])))


def ledger(frames: Mapping[str, pd.DataFrame]) -> Ledger:
    """The frames of the source tables (by contract name) as one resolved ledger.

    The key joins are independent of one another (``run_all`` may run them on several threads).
    """
    clients = frames.get("erp_clients")
    erp_ids = (np.empty(0, dtype=object) if clients is None
               else clients["client_id"].to_numpy(dtype=object))
    jobs: dict[str, Callable[[], Any]] = dict(_joins(frames))
    jobs["clients"] = partial(client_rows, frames, erp_ids)
    found = run_all(jobs)
    client, client_ids = found.pop("clients")
    orders = lines = shipments = incidents = documents = invoices = payments = None
    if "erp_orders" in frames:
        orders = order_rows(frames["erp_orders"], client["erp_orders"])
        if "erp_order_lines" in found:
            lines = line_rows(frames["erp_order_lines"], found["erp_order_lines"], orders)
            if "wms_shipments" in found:
                shipments = shipment_rows(frames["wms_shipments"], found["wms_shipments"], lines)
                if "wms_packaging_incidents" in found:
                    incidents = incident_rows(frames["wms_packaging_incidents"],
                                              found["wms_packaging_incidents"], shipments)
    if "doc_documents" in frames:
        docs = frames["doc_documents"]
        documents = DocumentRows(client["doc_documents"], docs["doc_type"].array,
                                 hour_numbers(docs["requested_at"]), hour_numbers(docs["sent_at"]))
    if "bill_invoices" in frames:
        bills = frames["bill_invoices"]
        invoices = InvoiceRows(client["bill_invoices"],
                               np.nan_to_num(bills["amount"].to_numpy(dtype=np.float64)),
                               day_numbers(bills["due_date"]))
        if "bill_payments" in found:
            payments = payment_rows(frames["bill_payments"], found["bill_payments"])
    return Ledger(client_ids, orders, lines, shipments, incidents, documents, invoices, payments)
