-- HR: Staff: account managers and the teams behind each process.
-- Rows of hr_staff new or changed in the data interval [start, end), in the contract's
-- columns and order (docs/data-contract.md). Map a real system here: keep the output
-- column names, alias the source's own ones to them.
SELECT
    staff_id,
    full_name,
    email,
    language,
    position,
    process,
    hired_on,
    left_on,
    capacity_orders,
    pulse_opted_out,
    updated_at
FROM hr_staff
WHERE updated_at >= :start AND updated_at < :end
ORDER BY staff_id, updated_at
