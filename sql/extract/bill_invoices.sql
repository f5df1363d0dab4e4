-- Billing: Invoices with due dates.
-- Rows of bill_invoices new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    invoice_id,
    client_id,
    order_id,
    amount,
    issued_date,
    due_date,
    updated_at
FROM bill_invoices
WHERE updated_at >= :start AND updated_at < :end
ORDER BY invoice_id, updated_at
