-- WMS: Shipments per order line; several partial shipments per line are normal.
-- Rows of wms_shipments new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    shipment_id,
    order_line_id,
    warehouse,
    carrier,
    shipped_qty,
    delivered_qty,
    shipped_at,
    delivered_at,
    updated_at
FROM wms_shipments
WHERE updated_at >= :start AND updated_at < :end
ORDER BY shipment_id, updated_at
