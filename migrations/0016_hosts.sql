-- Alerts name the host whose console or exporter measured them, so hosts sharing a PostgreSQL
-- store keep their alerts apart. host is that host's name; '' for an alert on a fleet-wide
-- metric (a Prometheus source's hosts, a PromQL rule, a heartbeat: fleet_wide in
-- src/core/model.rs), which every console judges and the store keeps once; NULL for rows from
-- before, which the first opsdeck of a host to open the store takes (Store::for_host).
ALTER TABLE alerts ADD COLUMN host TEXT;
-- Before, consoles on several hosts could each open an alert on one series. Of those still
-- open, the newest stands for them all; the older ones end where it began.
UPDATE alerts SET resolved_at = (
        SELECT MAX(newest.opened_at) FROM alerts AS newest
        WHERE newest.resolved_at IS NULL AND newest.series_key = alerts.series_key)
    WHERE resolved_at IS NULL AND EXISTS (
        SELECT 1 FROM alerts AS newer
        WHERE newer.resolved_at IS NULL AND newer.series_key = alerts.series_key
            AND (newer.opened_at > alerts.opened_at
                 OR (newer.opened_at = alerts.opened_at AND newer.id > alerts.id)));
-- One open alert per host and series: a second console or the exporter of the same host, or any
-- console for a fleet-wide series, finds the open one and takes it instead of opening another.
CREATE UNIQUE INDEX alerts_open_once ON alerts (host, series_key) WHERE resolved_at IS NULL;

-- Conditions that hold but have not yet opened an alert, per host too ('' for fleet-wide
-- series). One older than 90 s is dropped at start anyway, so the old rows are not carried over.
DROP TABLE rule_pending;
CREATE TABLE rule_pending (
    host       TEXT NOT NULL,
    series_key TEXT NOT NULL,
    warn_since BIGINT,
    crit_since BIGINT,
    last_seen  BIGINT NOT NULL,
    PRIMARY KEY (host, series_key)
);

-- When each host began watching each scheduled task's schedule: a task is due, done or missed on
-- every host that runs it, so hosts sharing a store keep their own. The rows from before become
-- the first host's to open the store (Store::for_host).
CREATE TABLE schedule_watch_by_host (
    host    TEXT NOT NULL,
    task_id TEXT NOT NULL,
    since   BIGINT NOT NULL,
    PRIMARY KEY (host, task_id)
);
INSERT INTO schedule_watch_by_host (host, task_id, since) SELECT '', task_id, since FROM schedule_watch;
DROP TABLE schedule_watch;
ALTER TABLE schedule_watch_by_host RENAME TO schedule_watch;
