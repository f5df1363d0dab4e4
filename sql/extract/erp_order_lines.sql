-- ERP: Order lines: ordered quantity, promised date, unit price and unit cost.
-- Rows of erp_order_lines new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    order_line_id,
    order_id,
    product_id,
    quantity,
    unit,
    promised_date,
    price,
    cost,
    cancelled,
    updated_at
FROM erp_order_lines
WHERE updated_at >= :start AND updated_at < :end
ORDER BY order_line_id, updated_at
