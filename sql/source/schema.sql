-- The data contract: the tables CX Loop reads from the supplier's systems.
-- Same definition as cx_tasks/collect/contract.py (a test keeps them equal).
-- Every table carries updated_at: extraction takes rows with updated_at in [start, end).

-- ERP: Client accounts: segment, size class A-D, account manager.
CREATE TABLE IF NOT EXISTS erp_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    segment TEXT NOT NULL,
    industry TEXT,
    size_class TEXT NOT NULL,
    account_manager TEXT,
    contract_start DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_erp_clients_updated_at ON erp_clients (updated_at);

-- ERP: Products the supplier sells.
CREATE TABLE IF NOT EXISTS erp_products (
    product_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT,
    unit TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_erp_products_updated_at ON erp_products (updated_at);

-- ERP: Order headers.
CREATE TABLE IF NOT EXISTS erp_orders (
    order_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    order_date DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_erp_orders_updated_at ON erp_orders (updated_at);

-- ERP: Order lines: ordered quantity, promised date, unit price and unit cost.
CREATE TABLE IF NOT EXISTS erp_order_lines (
    order_line_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    unit TEXT NOT NULL,
    promised_date DATE NOT NULL,
    price DOUBLE PRECISION NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    cancelled BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_erp_order_lines_updated_at ON erp_order_lines (updated_at);

-- WMS: Shipments per order line; several partial shipments per line are normal.
CREATE TABLE IF NOT EXISTS wms_shipments (
    shipment_id TEXT PRIMARY KEY,
    order_line_id TEXT NOT NULL,
    warehouse TEXT NOT NULL,
    carrier TEXT NOT NULL,
    shipped_qty DOUBLE PRECISION NOT NULL,
    delivered_qty DOUBLE PRECISION,
    shipped_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_wms_shipments_updated_at ON wms_shipments (updated_at);

-- WMS: Packaging incidents: damaged, wrong labelling, wrong packaging type.
CREATE TABLE IF NOT EXISTS wms_packaging_incidents (
    incident_id TEXT PRIMARY KEY,
    shipment_id TEXT NOT NULL,
    incident_type TEXT NOT NULL,
    reported_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_wms_packaging_incidents_updated_at ON wms_packaging_incidents (updated_at);

-- Document flow: Documents a client needs, with requested and sent timestamps.
CREATE TABLE IF NOT EXISTS doc_documents (
    document_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    order_id TEXT,
    doc_type TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_doc_documents_updated_at ON doc_documents (updated_at);

-- Billing: Invoices with due dates.
CREATE TABLE IF NOT EXISTS bill_invoices (
    invoice_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    order_id TEXT,
    amount DOUBLE PRECISION NOT NULL,
    issued_date DATE NOT NULL,
    due_date DATE NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_bill_invoices_updated_at ON bill_invoices (updated_at);

-- Billing: Payments against invoices.
CREATE TABLE IF NOT EXISTS bill_payments (
    payment_id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL,
    paid_date DATE NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_bill_payments_updated_at ON bill_payments (updated_at);

-- CRM: CRM account flags (key account).
CREATE TABLE IF NOT EXISTS crm_accounts (
    client_id TEXT PRIMARY KEY,
    key_account BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_crm_accounts_updated_at ON crm_accounts (updated_at);

-- CRM: Contacts per client with role, e-mail, language and opt-out flag.
CREATE TABLE IF NOT EXISTS crm_contacts (
    contact_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    role TEXT NOT NULL,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    language TEXT NOT NULL,
    opted_out BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_crm_contacts_updated_at ON crm_contacts (updated_at);

-- Service desk: Claims (reclamations) with free text and links to orders/shipments.
CREATE TABLE IF NOT EXISTS sd_claims (
    claim_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    contact_id TEXT,
    order_id TEXT,
    shipment_id TEXT,
    opened_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    text TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_sd_claims_updated_at ON sd_claims (updated_at);

-- Service desk: Support tickets with free text.
CREATE TABLE IF NOT EXISTS sd_tickets (
    ticket_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    contact_id TEXT,
    order_id TEXT,
    opened_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    text TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_sd_tickets_updated_at ON sd_tickets (updated_at);

-- HR: Staff: account managers and the teams behind each process, hire and leaving days, the
-- orders a month one handles without overtime (the workload norm), opt-out of the staff pulse survey.
CREATE TABLE IF NOT EXISTS hr_staff (
    staff_id TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    language TEXT NOT NULL,
    position TEXT NOT NULL,
    process TEXT,
    hired_on DATE NOT NULL,
    left_on DATE,
    capacity_orders DOUBLE PRECISION,
    pulse_opted_out BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_hr_staff_updated_at ON hr_staff (updated_at);

-- HR: Per staff member and month (the month's first day): the clients of their portfolio and
-- those clients' orders (the CRM's portfolio report), mean overtime hours a week (timesheets).
CREATE TABLE IF NOT EXISTS hr_workload (
    workload_id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    month DATE NOT NULL,
    clients INTEGER NOT NULL,
    orders INTEGER NOT NULL,
    overtime_hours DOUBLE PRECISION NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_hr_workload_updated_at ON hr_workload (updated_at);
