-- restore-test: drops the throwaway database whatever the outcome; WITH (FORCE)
-- (PostgreSQL 13+) ends any session still busy in it. Shown as is in the plan. Rust reads
-- nothing.
-- A template, filled in src/core/tasks/backups/restore.rs (drop_statement), because a database
-- name cannot be a bind parameter:
--   {database} the scratch database's name, quoted
DROP DATABASE IF EXISTS {database} WITH (FORCE)
