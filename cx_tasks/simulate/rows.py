"""The simulated frames as rows of the 13 contract tables, encoded lazily chunk by chunk.

Columns stay numpy arrays (indices, seconds, day numbers) until a chunk is written, so
millions of rows never exist as Python strings all at once. Keys follow ``keys``; dates
are ``YYYY-MM-DD``, timestamps ``YYYY-MM-DD HH:MM:SS``, booleans Python bools (0/1 in
SQLite), nulls ``None``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any, Protocol

import numpy as np
import pandas as pd

from cx_tasks.collect.contract import ROLES, SIZE_CLASSES, source_table
from cx_tasks.simulate import keys
from cx_tasks.simulate.feedback import Feedback
from cx_tasks.simulate.operations import NO_TIME, UNITS, Operations
from cx_tasks.simulate.parameters import SimulationRules
from cx_tasks.simulate.world import DAY, World


class Encoder(Protocol):
    """A column that turns rows ``[lo, hi)`` into database values."""

    def values(self, lo: int, hi: int) -> list[Any]: ...


@cache
def _times_of_day() -> list[str]:
    return [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)]


def _day_strings(epoch: date, days: np.ndarray) -> tuple[list[str], int]:
    low, high = int(days.min()), int(days.max())
    base = np.datetime64(epoch, "D") + np.arange(low, high + 1)
    return np.datetime_as_string(base, unit="D").tolist(), low


def _nulls(values: list[Any], present: np.ndarray) -> list[Any]:
    if present.all():
        return values
    return [v if ok else None for v, ok in zip(values, present.tolist(), strict=True)]


def _formatted(pattern: str, index: np.ndarray) -> list[Any]:
    """``pattern % (i + 1)`` per index, ``None`` for a negative one; repeated keys (a chunk
    spanning fewer distinct numbers than rows) are formatted once and looked up."""
    present = index >= 0
    if not present.any():
        return [None] * len(index)
    low, high = int(index[present].min()), int(index[present].max())
    if high - low < len(index):
        table = np.array([pattern % (i + 1) for i in range(low, high + 1)] + [None], dtype=object)
        return table[np.where(present, index - low, high - low + 1)].tolist()
    return _nulls([pattern % (i + 1) for i in index.tolist()], present)


@dataclass(frozen=True)
class Keys:
    """Keys ``pattern % (index + 1)``; a negative index is a missing reference (NULL)."""

    pattern: str
    index: np.ndarray

    def values(self, lo: int, hi: int) -> list[Any]:
        return _formatted(self.pattern, self.index[lo:hi])


@dataclass(frozen=True)
class LineKeys:
    """Order-line keys ``O<order>-<line number>``."""

    order: np.ndarray
    line_no: np.ndarray

    def values(self, lo: int, hi: int) -> list[Any]:
        orders = _formatted(keys.ORDER, self.order[lo:hi])
        return [f"{o}-{k}" for o, k in zip(orders, self.line_no[lo:hi].tolist(), strict=True)]


@dataclass(frozen=True)
class Stamps:
    """Timestamps from seconds since ``epoch`` 00:00 (``NO_TIME`` is NULL)."""

    seconds: np.ndarray
    epoch: date

    def values(self, lo: int, hi: int) -> list[Any]:
        secs = self.seconds[lo:hi]
        present = secs != NO_TIME
        if not present.any():
            return [None] * len(secs)
        secs = np.where(present, secs, secs[present][0])
        days, low = _day_strings(self.epoch, secs // DAY)
        tod = _times_of_day()
        out = [
            days[d - low] + tod[t]
            for d, t in zip((secs // DAY).tolist(), (secs % DAY).tolist(), strict=True)
        ]
        return _nulls(out, present)


@dataclass(frozen=True)
class Dates:
    """Dates from day numbers since ``epoch``."""

    days: np.ndarray
    epoch: date

    def values(self, lo: int, hi: int) -> list[Any]:
        days = self.days[lo:hi]
        if not len(days):
            return []
        strings, low = _day_strings(self.epoch, days)
        return [strings[d - low] for d in days.tolist()]


@dataclass(frozen=True)
class Numbers:
    """Numbers as they are (NaN is NULL)."""

    data: np.ndarray

    def values(self, lo: int, hi: int) -> list[Any]:
        part = self.data[lo:hi]
        return _nulls(part.tolist(), ~np.isnan(part)) if part.dtype.kind == "f" else part.tolist()


@dataclass(frozen=True)
class Flags:
    """Booleans."""

    data: np.ndarray

    def values(self, lo: int, hi: int) -> list[Any]:
        return self.data[lo:hi].astype(bool).tolist()


@dataclass(frozen=True)
class Labels:
    """Text labels looked up by code."""

    codes: np.ndarray
    labels: Sequence[str]

    def values(self, lo: int, hi: int) -> list[Any]:
        return np.asarray(self.labels, dtype=object)[self.codes[lo:hi]].tolist()


@dataclass(frozen=True)
class Texts:
    """Free text (``None`` is NULL)."""

    data: Sequence[Any]

    def values(self, lo: int, hi: int) -> list[Any]:
        return list(self.data[lo:hi])


@dataclass(frozen=True)
class Latest:
    """Column ``done`` of the same row, or ``begun`` where ``done`` is NULL (``updated_at`` as
    the time of the latest change), reusing the values already encoded for them."""

    done: str
    begun: str | None = None


@dataclass
class SourceRows:
    """The rows of one contract table: encoders per column, plus cell overrides (defects)."""

    name: str
    length: int
    columns: dict[str, Encoder | Latest]
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = source_table(self.name).column_names
        if list(self.columns) != expected:
            raise ValueError(f"{self.name}: columns {list(self.columns)} != contract {expected}")

    def chunks(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """Consecutive lists of row tuples in contract column order, overrides applied."""
        names = list(self.columns)
        marked = np.array(sorted(self.overrides), dtype=np.int64)
        for lo in range(0, self.length, size):
            hi = min(lo + size, self.length)
            cols = {
                c: e.values(lo, hi) for c, e in self.columns.items() if not isinstance(e, Latest)
            }
            for name, encoder in self.columns.items():
                if isinstance(encoder, Latest):
                    done = cols[encoder.done]
                    begun = cols[encoder.begun] if encoder.begun else done
                    cols[name] = [
                        d if d is not None else b for d, b in zip(done, begun, strict=True)
                    ]
            for row in marked[(marked >= lo) & (marked < hi)].tolist():
                for column, value in self.overrides[row].items():
                    cols[column][row - lo] = value
            yield list(zip(*(cols[c] for c in names), strict=True))


def source_rows(
    world: World, ops: Operations, feedback: Feedback, rules: SimulationRules
) -> list[SourceRows]:
    """All 13 contract tables of the simulation, in dependency order."""
    epoch = world.clock.start
    c, contacts, products = world.clients, world.contacts, world.products
    lines, s, docs = ops.lines, ops.shipments, ops.documents
    order_of_line = lines["order"].to_numpy()
    line_of_ship = s["line"].to_numpy()
    delivered_at = s["delivered_at"].to_numpy()
    clients_n = np.arange(len(c))
    return [
        SourceRows(
            "erp_clients",
            len(c),
            {
                "client_id": Keys(keys.CLIENT, clients_n),
                "name": Texts(c["name"].tolist()),
                "segment": Labels(c["segment"].to_numpy(), world.segments),
                "industry": Texts(c["industry"].tolist()),
                "size_class": Labels(c["size_class"].to_numpy(), SIZE_CLASSES),
                "account_manager": Labels(c["manager"].to_numpy(), world.managers),
                "contract_start": Dates(c["contract_day"].to_numpy(), epoch),
                "updated_at": Stamps(c["updated"].to_numpy(), epoch),
            },
        ),
        SourceRows(
            "erp_products",
            len(products),
            {
                "product_id": Keys(keys.PRODUCT, products["product"].to_numpy()),
                "name": Texts(products["name"].tolist()),
                "category": Texts(products["category"].tolist()),
                "unit": Texts(products["unit"].tolist()),
                "updated_at": Stamps(products["updated"].to_numpy(), epoch),
            },
        ),
        SourceRows(
            "crm_accounts",
            len(c),
            {
                "client_id": Keys(keys.CLIENT, clients_n),
                "key_account": Flags(c["key_account"].to_numpy()),
                "updated_at": Stamps(c["account_updated"].to_numpy(), epoch),
            },
        ),
        SourceRows(
            "crm_contacts",
            len(contacts),
            {
                "contact_id": Keys(keys.CONTACT, contacts["contact"].to_numpy()),
                "client_id": Keys(keys.CLIENT, contacts["client"].to_numpy()),
                "role": Labels(contacts["role"].to_numpy(), ROLES),
                "full_name": Texts(contacts["full_name"].tolist()),
                "email": Texts(contacts["email"].tolist()),
                "language": Texts(contacts["language"].tolist()),
                "opted_out": Flags(contacts["opted_out"].to_numpy()),
                "updated_at": Stamps(contacts["updated"].to_numpy(), epoch),
            },
        ),
        SourceRows(
            "erp_orders",
            len(ops.orders),
            {
                "order_id": Keys(keys.ORDER, np.arange(len(ops.orders))),
                "client_id": Keys(keys.CLIENT, ops.orders["client"].to_numpy()),
                "order_date": Dates(ops.orders["day"].to_numpy(), epoch),
                "updated_at": Stamps(ops.orders["time"].to_numpy(), epoch),
            },
        ),
        SourceRows(
            "erp_order_lines",
            len(lines),
            {
                "order_line_id": LineKeys(order_of_line, lines["line_no"].to_numpy()),
                "order_id": Keys(keys.ORDER, order_of_line),
                "product_id": Keys(keys.PRODUCT, lines["product"].to_numpy()),
                "quantity": Numbers(lines["quantity"].to_numpy()),
                "unit": Labels(lines["unit"].to_numpy(), UNITS),
                "promised_date": Dates(lines["promised_day"].to_numpy(), epoch),
                "price": Numbers(lines["price"].to_numpy()),
                "cost": Numbers(lines["cost"].to_numpy()),
                "cancelled": Flags(lines["cancelled"].to_numpy()),
                "updated_at": Stamps(lines["updated"].to_numpy(), epoch),
            },
        ),
        SourceRows(
            "wms_shipments",
            len(s),
            {
                "shipment_id": Keys(keys.SHIPMENT, np.arange(len(s))),
                "order_line_id": LineKeys(
                    order_of_line[line_of_ship], lines["line_no"].to_numpy()[line_of_ship]
                ),
                "warehouse": Labels(s["warehouse"].to_numpy(), world.warehouses),
                "carrier": Labels(s["carrier"].to_numpy(), world.carriers),
                "shipped_qty": Numbers(s["shipped_qty"].to_numpy()),
                "delivered_qty": Numbers(s["delivered_qty"].to_numpy()),
                "shipped_at": Stamps(s["shipped_at"].to_numpy(), epoch),
                "delivered_at": Stamps(delivered_at, epoch),
                "updated_at": Latest("delivered_at", "shipped_at"),
            },
        ),
        SourceRows(
            "wms_packaging_incidents",
            len(ops.incidents),
            {
                "incident_id": Keys(keys.INCIDENT, np.arange(len(ops.incidents))),
                "shipment_id": Keys(keys.SHIPMENT, ops.incidents["shipment"].to_numpy()),
                "incident_type": Labels(
                    ops.incidents["incident_type"].to_numpy(), list(rules.packaging_types)
                ),
                "reported_at": Stamps(ops.incidents["reported_at"].to_numpy(), epoch),
                "updated_at": Latest("reported_at"),
            },
        ),
        SourceRows(
            "doc_documents",
            len(docs),
            {
                "document_id": Keys(keys.DOCUMENT, np.arange(len(docs))),
                "client_id": Keys(keys.CLIENT, docs["client"].to_numpy()),
                "order_id": Keys(keys.ORDER, docs["order"].to_numpy()),
                "doc_type": Labels(docs["doc_type"].to_numpy(), list(rules.documents.median_hours)),
                "requested_at": Stamps(docs["requested_at"].to_numpy(), epoch),
                "sent_at": Stamps(docs["sent_at"].to_numpy(), epoch),
                "updated_at": Latest("sent_at", "requested_at"),
            },
        ),
        SourceRows(
            "bill_invoices",
            len(ops.invoices),
            {
                "invoice_id": Keys(keys.INVOICE, np.arange(len(ops.invoices))),
                "client_id": Keys(keys.CLIENT, ops.invoices["client"].to_numpy()),
                "order_id": Keys(keys.ORDER, ops.invoices["order"].to_numpy()),
                "amount": Numbers(ops.invoices["amount"].to_numpy()),
                "issued_date": Dates(ops.invoices["issued_day"].to_numpy(), epoch),
                "due_date": Dates(ops.invoices["due_day"].to_numpy(), epoch),
                "updated_at": Stamps(ops.invoices["created"].to_numpy(), epoch),
            },
        ),
        SourceRows(
            "bill_payments",
            len(ops.payments),
            {
                "payment_id": Keys(keys.PAYMENT, np.arange(len(ops.payments))),
                "invoice_id": Keys(keys.INVOICE, ops.payments["invoice"].to_numpy()),
                "paid_date": Dates(ops.payments["day"].to_numpy(), epoch),
                "amount": Numbers(ops.payments["amount"].to_numpy()),
                "updated_at": Stamps(ops.payments["time"].to_numpy(), epoch),
            },
        ),
        _feedback_rows("sd_claims", feedback.claims, keys.CLAIM, "closed_at", epoch),
        _feedback_rows("sd_tickets", feedback.tickets, keys.TICKET, "resolved_at", epoch),
    ]


def _feedback_rows(
    name: str, frame: pd.DataFrame, pattern: str, closed: str, epoch: date
) -> SourceRows:
    columns: dict[str, Encoder] = {
        f"{name[3:-1]}_id": Keys(pattern, np.arange(len(frame))),
        "client_id": Keys(keys.CLIENT, frame["client"].to_numpy()),
        "contact_id": Keys(keys.CONTACT, frame["contact"].to_numpy()),
        "order_id": Keys(keys.ORDER, frame["order"].to_numpy()),
    }
    if name == "sd_claims":
        columns["shipment_id"] = Keys(keys.SHIPMENT, frame["shipment"].to_numpy())
    columns |= {
        "opened_at": Stamps(frame["at"].to_numpy(), epoch),
        closed: Stamps(frame["closed_at"].to_numpy(), epoch),
        "text": Texts(frame["text"].tolist()),
        "updated_at": Latest(closed, "opened_at"),
    }
    return SourceRows(name, len(frame), columns)
