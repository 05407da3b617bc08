-- restore-test: the rows of a configured table after the restore; the check fails when
-- there are none. Shown as is in the plan and in a failed check's message.
-- Rust reads: the single int8.
-- A template, filled in src/core/tasks/backups/restore.rs (count_statement), because a table
-- name cannot be a bind parameter:
--   {table} schema.table or a bare name (found on the search path), each part quoted as written
SELECT count(*) FROM {table}
