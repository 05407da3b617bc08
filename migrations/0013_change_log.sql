-- The change log of shared state, on SQLite: one host, one writer, nothing to tell anyone, so
-- the table only keeps the schema alike (PostgreSQL fills it by trigger: 0012_change_log.postgres.sql).
CREATE TABLE changes (
    id      INTEGER PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    origin  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes (at);
