-- Service desk: Support tickets with free text.
-- Rows of sd_tickets new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    ticket_id,
    client_id,
    contact_id,
    order_id,
    opened_at,
    resolved_at,
    text,
    updated_at
FROM sd_tickets
WHERE updated_at >= :start AND updated_at < :end
ORDER BY ticket_id, updated_at
