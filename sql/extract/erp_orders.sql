-- ERP: Order headers.
-- Rows of erp_orders new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    order_id,
    client_id,
    order_date,
    updated_at
FROM erp_orders
WHERE updated_at >= :start AND updated_at < :end
ORDER BY order_id, updated_at
