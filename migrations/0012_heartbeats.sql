-- Who is on: one row per running console (or, later, exporter), beaten every few seconds while
-- it runs. session is the writer's own id (also its PostgreSQL application_name); kind is console
-- or exporter; started_at, beat_at and ended_at are Unix milliseconds. ended_at is set on a clean
-- exit. Rows stay after their session stops beating: the newest beat of a host's console or
-- exporter is what a dead-man's-switch rule judges; older sessions of the same host and kind are
-- pruned after a day.
CREATE TABLE heartbeats (
    session    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    host       TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    beat_at    BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX heartbeats_by_host ON heartbeats (kind, host, beat_at);
