-- Service desk: Claims (reclamations) with free text and links to orders/shipments.
-- Rows of sd_claims new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    claim_id,
    client_id,
    contact_id,
    order_id,
    shipment_id,
    opened_at,
    closed_at,
    text,
    updated_at
FROM sd_claims
WHERE updated_at >= :start AND updated_at < :end
ORDER BY claim_id, updated_at
