-- ERP: Products the supplier sells.
-- Rows of erp_products new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    product_id,
    name,
    category,
    unit,
    updated_at
FROM erp_products
WHERE updated_at >= :start AND updated_at < :end
ORDER BY product_id, updated_at
