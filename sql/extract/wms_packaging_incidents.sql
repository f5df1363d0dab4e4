-- WMS: Packaging incidents: damaged, wrong labelling, wrong packaging type.
-- Rows of wms_packaging_incidents new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    incident_id,
    shipment_id,
    incident_type,
    reported_at,
    updated_at
FROM wms_packaging_incidents
WHERE updated_at >= :start AND updated_at < :end
ORDER BY incident_id, updated_at
