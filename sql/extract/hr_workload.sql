-- HR: Per staff member and month: portfolio clients, their orders, overtime.
-- Rows of hr_workload new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    workload_id,
    staff_id,
    month,
    clients,
    orders,
    overtime_hours,
    updated_at
FROM hr_workload
WHERE updated_at >= :start AND updated_at < :end
ORDER BY workload_id, updated_at
