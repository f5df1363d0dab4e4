-- CRM: Contacts per client with role, e-mail, language and opt-out flag.
-- Rows of crm_contacts new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    contact_id,
    client_id,
    role,
    full_name,
    email,
    language,
    opted_out,
    updated_at
FROM crm_contacts
WHERE updated_at >= :start AND updated_at < :end
ORDER BY contact_id, updated_at
