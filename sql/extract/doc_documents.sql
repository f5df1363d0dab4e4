-- Document flow: Documents a client needs, with requested and sent timestamps.
-- Rows of doc_documents new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    document_id,
    client_id,
    order_id,
    doc_type,
    requested_at,
    sent_at,
    updated_at
FROM doc_documents
WHERE updated_at >= :start AND updated_at < :end
ORDER BY document_id, updated_at
