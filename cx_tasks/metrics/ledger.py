"""The supplier's records as numpy arrays with every reference resolved to a row position.

Metrics are computed on these arrays (bincounts and sorts, no per-row Python). Clients
are numbered by their position in ``client_ids``: the ERP's clients first, then any
client id met in orders, documents or invoices that the ERP table does not hold (so no
row is ever silently dropped); -1 marks a reference that cannot be resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cx_tasks.metrics.keys import key_positions, take
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


def order_rows(orders: pd.DataFrame, client_ids: np.ndarray) -> tuple[OrderRows, np.ndarray]:
    """The orders resolved to client positions, and the client ids extended as needed."""
    client, client_ids = client_positions(client_ids, orders["client_id"])
    return OrderRows(client, day_numbers(orders["order_date"])), client_ids


def line_rows(lines: pd.DataFrame, orders: pd.DataFrame, order_at: OrderRows) -> LineRows:
    """The order lines resolved to their order's position and client."""
    order = key_positions(orders["order_id"], lines["order_id"])
    return LineRows(
        order=order,
        client=take(order_at.client, order, -1),
        promised=day_numbers(lines["promised_date"]),
        quantity=lines["quantity"].to_numpy(dtype=np.float64),
        price=lines["price"].to_numpy(dtype=np.float64),
        cost=lines["cost"].to_numpy(dtype=np.float64),
        cancelled=lines["cancelled"].to_numpy(dtype=bool),
    )


def shipment_rows(shipments: pd.DataFrame, lines: pd.DataFrame, line_at: LineRows) -> ShipmentRows:
    """The shipments resolved to their order line's position and client."""
    line = key_positions(lines["order_line_id"], shipments["order_line_id"])
    return ShipmentRows(
        line=line,
        client=take(line_at.client, line, -1),
        delivered=day_numbers(shipments["delivered_at"]),
        delivered_qty=np.nan_to_num(shipments["delivered_qty"].to_numpy(dtype=np.float64)),
    )


def incident_rows(incidents: pd.DataFrame, shipments: pd.DataFrame,
                  shipment_at: ShipmentRows) -> IncidentRows:
    """The packaging incidents resolved to their shipment's client."""
    shipment = key_positions(shipments["shipment_id"], incidents["shipment_id"])
    return IncidentRows(take(shipment_at.client, shipment, -1),
                        day_numbers(incidents["reported_at"]))


def payment_rows(payments: pd.DataFrame, invoices: pd.DataFrame) -> PaymentRows:
    """The payments resolved to their invoice's position."""
    return PaymentRows(key_positions(invoices["invoice_id"], payments["invoice_id"]),
                       day_numbers(payments["paid_date"]),
                       np.nan_to_num(payments["amount"].to_numpy(dtype=np.float64)))


def ledger(frames: Mapping[str, pd.DataFrame]) -> Ledger:
    """The frames of the source tables (by contract name) as one resolved ledger."""
    clients = frames.get("erp_clients")
    client_ids = (np.empty(0, dtype=object) if clients is None
                  else clients["client_id"].to_numpy(dtype=object))
    orders = lines = shipments = incidents = documents = invoices = payments = None
    if "erp_orders" in frames:
        orders, client_ids = order_rows(frames["erp_orders"], client_ids)
        if "erp_order_lines" in frames:
            lines = line_rows(frames["erp_order_lines"], frames["erp_orders"], orders)
            if "wms_shipments" in frames:
                shipments = shipment_rows(frames["wms_shipments"], frames["erp_order_lines"],
                                          lines)
                if "wms_packaging_incidents" in frames:
                    incidents = incident_rows(frames["wms_packaging_incidents"],
                                              frames["wms_shipments"], shipments)
    if "doc_documents" in frames:
        docs = frames["doc_documents"]
        client, client_ids = client_positions(client_ids, docs["client_id"])
        documents = DocumentRows(client, docs["doc_type"].array,
                                 hour_numbers(docs["requested_at"]), hour_numbers(docs["sent_at"]))
    if "bill_invoices" in frames:
        bills = frames["bill_invoices"]
        client, client_ids = client_positions(client_ids, bills["client_id"])
        invoices = InvoiceRows(client, np.nan_to_num(bills["amount"].to_numpy(dtype=np.float64)),
                               day_numbers(bills["due_date"]))
        if "bill_payments" in frames:
            payments = payment_rows(frames["bill_payments"], bills)
    return Ledger(client_ids, orders, lines, shipments, incidents, documents, invoices, payments)
