-- Billing: Payments against invoices.
-- Rows of bill_payments new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    payment_id,
    invoice_id,
    paid_date,
    amount,
    updated_at
FROM bill_payments
WHERE updated_at >= :start AND updated_at < :end
ORDER BY payment_id, updated_at
