-- The newest change a source table holds: max(updated_at) over the whole table.
-- {{ table }} is a table name from the data contract, never user input.
SELECT max(updated_at) AS max_updated_at
FROM {{ table }}
