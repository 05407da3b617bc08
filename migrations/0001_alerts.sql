-- Alerts and the pending state of rules. Portable SQL: the same file runs on SQLite and
-- PostgreSQL. Times are Unix milliseconds (BIGINT) so both backends compare them alike.
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    series_key  TEXT NOT NULL,
    metric      TEXT NOT NULL,
    instance    TEXT,
    level       TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    resolved_at BIGINT,
    peak        DOUBLE PRECISION NOT NULL,
    threshold   DOUBLE PRECISION NOT NULL,
    unit        TEXT NOT NULL
);
CREATE INDEX alerts_open ON alerts (resolved_at, opened_at);
CREATE INDEX alerts_series ON alerts (series_key, opened_at);

CREATE TABLE rule_pending (
    series_key TEXT PRIMARY KEY,
    warn_since BIGINT,
    crit_since BIGINT,
    last_seen  BIGINT NOT NULL
);
