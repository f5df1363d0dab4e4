-- ERP: Client accounts: segment, size class A-D, account manager.
-- Rows of erp_clients new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    client_id,
    name,
    segment,
    industry,
    size_class,
    account_manager,
    contract_start,
    updated_at
FROM erp_clients
WHERE updated_at >= :start AND updated_at < :end
ORDER BY client_id, updated_at
