-- db-reindex: rebuilds one index without blocking writes; shown as is in the plan. Rust reads
-- nothing.
-- A template, filled in src/core/tasks/pg_maintenance.rs (reindex_statement), because an index
-- name cannot be a bind parameter:
--   {index} schema.index, quoted by the server (format('%I.%I'))
REINDEX INDEX CONCURRENTLY {index}
