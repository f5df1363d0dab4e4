-- CRM: CRM account flags (key account).
-- Rows of crm_accounts new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    client_id,
    key_account,
    updated_at
FROM crm_accounts
WHERE updated_at >= :start AND updated_at < :end
ORDER BY client_id, updated_at
