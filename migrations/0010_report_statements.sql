-- The slow statements each composed report saw, per watched database, so the next report of the
-- same kind can list the statements that are new since it. One row per database, report kind
-- (daily, weekly, monthly) and period key (2026-11-30, 2026-W48, 2026-11), overwritten when the
-- same report is made again. statements is a JSON array of {queryid, user, query, calls,
-- mean_ms, total_ms}; taken_at is Unix milliseconds.
CREATE TABLE report_statements (
    database_name TEXT NOT NULL,
    kind          TEXT NOT NULL,
    period        TEXT NOT NULL,
    statements    TEXT NOT NULL,
    taken_at      BIGINT NOT NULL,
    PRIMARY KEY (database_name, kind, period)
);
