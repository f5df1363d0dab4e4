"""The data contract: the tables CX Loop reads from the supplier's systems.

This module is the single definition of every source table: its system, natural key,
columns and types, which columns reference other tables, and which timestamp marks a
row as new or changed (extraction takes rows whose ``updated_at`` lies in the run's
data interval ``[start, end)``). ``sql/source/schema.sql`` is the same contract as DDL
for the data engineer who maps a real ERP/WMS/CRM onto it; a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "integer", "float", "boolean", "date", "timestamp"]


@dataclass(frozen=True)
class Column:
    """One source column: name, type, and whether a value is required."""

    name: str
    type: ColumnType
    required: bool = True
    non_negative: bool = False
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reference:
    """A column whose value must resolve to the key of another source table."""

    column: str
    table: str


@dataclass(frozen=True)
class SourceTable:
    """A table of one supplier system, keyed by ``key`` and versioned by ``updated_at``."""

    name: str
    system: str
    key: str
    columns: tuple[Column, ...]
    references: tuple[Reference, ...] = ()
    freshness_hours: float | None = None
    description: str = ""
    date_columns: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        dated = tuple(c.name for c in self.columns if c.type in ("date", "timestamp"))
        object.__setattr__(self, "date_columns", dated)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


ROLES = ("economic_buyer", "technical_buyer", "operator")
LANGUAGES = ("ru", "en")
SIZE_CLASSES = ("A", "B", "C", "D")
DOC_TYPES = ("quality_certificate", "invoice", "waybill", "specification")
PACKAGING_INCIDENT_TYPES = ("damaged", "wrong_labelling", "wrong_packaging")
STAFF_POSITIONS = ("account_manager", "process_team")
"""An account manager carries a portfolio of clients; a process team member works for the
process named in ``hr_staff.process`` (the process classes of the taxonomy)."""

_UPDATED = Column("updated_at", "timestamp")

SOURCE_TABLES: tuple[SourceTable, ...] = (
    SourceTable(
        "erp_clients", "ERP", "client_id",
        (
            Column("client_id", "text"),
            Column("name", "text"),
            Column("segment", "text"),
            Column("industry", "text", required=False),
            Column("size_class", "text", allowed=SIZE_CLASSES),
            Column("account_manager", "text", required=False),
            Column("contract_start", "date"),
            _UPDATED,
        ),
        description="Client accounts: segment, size class A-D, account manager.",
    ),
    SourceTable(
        "erp_products", "ERP", "product_id",
        (
            Column("product_id", "text"),
            Column("name", "text"),
            Column("category", "text", required=False),
            Column("unit", "text"),
            _UPDATED,
        ),
        description="Products the supplier sells.",
    ),
    SourceTable(
        "erp_orders", "ERP", "order_id",
        (
            Column("order_id", "text"),
            Column("client_id", "text"),
            Column("order_date", "date"),
            _UPDATED,
        ),
        references=(Reference("client_id", "erp_clients"),),
        freshness_hours=72,
        description="Order headers.",
    ),
    SourceTable(
        "erp_order_lines", "ERP", "order_line_id",
        (
            Column("order_line_id", "text"),
            Column("order_id", "text"),
            Column("product_id", "text"),
            Column("quantity", "float", non_negative=True),
            Column("unit", "text"),
            Column("promised_date", "date"),
            Column("price", "float", non_negative=True),
            Column("cost", "float", non_negative=True),
            Column("cancelled", "boolean"),
            _UPDATED,
        ),
        references=(Reference("order_id", "erp_orders"), Reference("product_id", "erp_products")),
        freshness_hours=72,
        description="Order lines: ordered quantity, promised date, unit price and unit cost.",
    ),
    SourceTable(
        "wms_shipments", "WMS", "shipment_id",
        (
            Column("shipment_id", "text"),
            Column("order_line_id", "text"),
            Column("warehouse", "text"),
            Column("carrier", "text"),
            Column("shipped_qty", "float", non_negative=True),
            Column("delivered_qty", "float", required=False, non_negative=True),
            Column("shipped_at", "timestamp"),
            Column("delivered_at", "timestamp", required=False),
            _UPDATED,
        ),
        references=(Reference("order_line_id", "erp_order_lines"),),
        freshness_hours=72,
        description="Shipments per order line; several partial shipments per line are normal.",
    ),
    SourceTable(
        "wms_packaging_incidents", "WMS", "incident_id",
        (
            Column("incident_id", "text"),
            Column("shipment_id", "text"),
            Column("incident_type", "text", allowed=PACKAGING_INCIDENT_TYPES),
            Column("reported_at", "timestamp"),
            _UPDATED,
        ),
        references=(Reference("shipment_id", "wms_shipments"),),
        description="Packaging incidents: damaged, wrong labelling, wrong packaging type.",
    ),
    SourceTable(
        "doc_documents", "Document flow", "document_id",
        (
            Column("document_id", "text"),
            Column("client_id", "text"),
            Column("order_id", "text", required=False),
            Column("doc_type", "text", allowed=DOC_TYPES),
            Column("requested_at", "timestamp"),
            Column("sent_at", "timestamp", required=False),
            _UPDATED,
        ),
        references=(Reference("client_id", "erp_clients"), Reference("order_id", "erp_orders")),
        description="Documents a client needs, with requested and sent timestamps.",
    ),
    SourceTable(
        "bill_invoices", "Billing", "invoice_id",
        (
            Column("invoice_id", "text"),
            Column("client_id", "text"),
            Column("order_id", "text", required=False),
            Column("amount", "float", non_negative=True),
            Column("issued_date", "date"),
            Column("due_date", "date"),
            _UPDATED,
        ),
        references=(Reference("client_id", "erp_clients"), Reference("order_id", "erp_orders")),
        description="Invoices with due dates.",
    ),
    SourceTable(
        "bill_payments", "Billing", "payment_id",
        (
            Column("payment_id", "text"),
            Column("invoice_id", "text"),
            Column("paid_date", "date"),
            Column("amount", "float", non_negative=True),
            _UPDATED,
        ),
        references=(Reference("invoice_id", "bill_invoices"),),
        description="Payments against invoices.",
    ),
    SourceTable(
        "crm_accounts", "CRM", "client_id",
        (
            Column("client_id", "text"),
            Column("key_account", "boolean"),
            _UPDATED,
        ),
        references=(Reference("client_id", "erp_clients"),),
        description="CRM account flags (key account).",
    ),
    SourceTable(
        "crm_contacts", "CRM", "contact_id",
        (
            Column("contact_id", "text"),
            Column("client_id", "text"),
            Column("role", "text", allowed=ROLES),
            Column("full_name", "text"),
            Column("email", "text"),
            Column("language", "text", allowed=LANGUAGES),
            Column("opted_out", "boolean"),
            _UPDATED,
        ),
        references=(Reference("client_id", "erp_clients"),),
        description="Contacts per client with role, e-mail, language and opt-out flag.",
    ),
    SourceTable(
        "sd_claims", "Service desk", "claim_id",
        (
            Column("claim_id", "text"),
            Column("client_id", "text"),
            Column("contact_id", "text", required=False),
            Column("order_id", "text", required=False),
            Column("shipment_id", "text", required=False),
            Column("opened_at", "timestamp"),
            Column("closed_at", "timestamp", required=False),
            Column("text", "text"),
            _UPDATED,
        ),
        references=(
            Reference("client_id", "erp_clients"),
            Reference("contact_id", "crm_contacts"),
            Reference("order_id", "erp_orders"),
            Reference("shipment_id", "wms_shipments"),
        ),
        description="Claims (reclamations) with free text and links to orders/shipments.",
    ),
    SourceTable(
        "sd_tickets", "Service desk", "ticket_id",
        (
            Column("ticket_id", "text"),
            Column("client_id", "text"),
            Column("contact_id", "text", required=False),
            Column("order_id", "text", required=False),
            Column("opened_at", "timestamp"),
            Column("resolved_at", "timestamp", required=False),
            Column("text", "text"),
            _UPDATED,
        ),
        references=(
            Reference("client_id", "erp_clients"),
            Reference("contact_id", "crm_contacts"),
            Reference("order_id", "erp_orders"),
        ),
        description="Support tickets with free text.",
    ),
    SourceTable(
        "hr_staff", "HR", "staff_id",
        (
            Column("staff_id", "text"),
            Column("full_name", "text"),
            Column("email", "text"),
            Column("language", "text", allowed=LANGUAGES),
            Column("position", "text", allowed=STAFF_POSITIONS),
            Column("process", "text", required=False),
            Column("hired_on", "date"),
            Column("left_on", "date", required=False),
            Column("capacity_orders", "float", required=False, non_negative=True),
            Column("pulse_opted_out", "boolean"),
            _UPDATED,
        ),
        description="Staff: account managers and the teams behind each process, hire and "
                    "leaving days, the orders a month one handles without overtime (the "
                    "workload norm), opt-out of the staff pulse survey.",
    ),
    SourceTable(
        "hr_workload", "HR", "workload_id",
        (
            Column("workload_id", "text"),
            Column("staff_id", "text"),
            Column("month", "date"),
            Column("clients", "integer", non_negative=True),
            Column("orders", "integer", non_negative=True),
            Column("overtime_hours", "float", non_negative=True),
            _UPDATED,
        ),
        references=(Reference("staff_id", "hr_staff"),),
        description="Per staff member and month (the month's first day): the clients of "
                    "their portfolio and those clients' orders (the CRM's portfolio report), "
                    "mean overtime hours a week (timesheets).",
    ),
)

SOURCE_BY_NAME: dict[str, SourceTable] = {t.name: t for t in SOURCE_TABLES}


def source_table(name: str) -> SourceTable:
    """The contract of one source table by name."""
    try:
        return SOURCE_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown source table {name!r}; known: {sorted(SOURCE_BY_NAME)}") from None
