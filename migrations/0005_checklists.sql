-- Checklist runs as an append-only log: one row per tick, reopen, skip, note or sign-off.
-- Rows are never updated or deleted, so consoles writing to the same run at once only ever
-- add rows and cannot overwrite each other; a run's state is folded from its rows.
-- period is the period key (2026-11-22, 2026-W47, 2026-11, 2026-Q4); item is NULL for notes
-- and sign-offs on the run as a whole; kind is tick, reopen, skip, note or sign_off; text is
-- the skip reason or note exactly as typed; at is Unix milliseconds.
CREATE TABLE checklist_entries (
    checklist  TEXT NOT NULL,
    period     TEXT NOT NULL,
    item       TEXT NULL,
    kind       TEXT NOT NULL,
    text       TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    host       TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX checklist_entries_by_run ON checklist_entries (checklist, period, at);
