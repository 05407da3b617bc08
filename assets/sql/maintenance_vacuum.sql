-- db-vacuum-analyze: vacuums one table and refreshes its planner statistics; shown as is in the
-- plan. Rust reads nothing.
-- A template, filled in src/core/tasks/pg_maintenance.rs (vacuum_statement), because a table
-- name cannot be a bind parameter:
--   {table} schema.table, quoted by the server (format('%I.%I'))
VACUUM (ANALYZE) {table}
