-- restore-test: creates the throwaway database a dump is restored into; shown as is in
-- the plan. Rust reads nothing.
-- A template, filled in src/core/tasks/backups/restore.rs (create_statement), because a
-- database name cannot be a bind parameter:
--   {database} the scratch database's name, quoted
CREATE DATABASE {database}
