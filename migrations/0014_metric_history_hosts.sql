-- The metric history names the host that wrote it, so several hosts can share one PostgreSQL
-- store: each reads and writes its own series. host is '' for rows written before this
-- migration; the first opsdeck of a host to open the store takes them as its own
-- (src/core/history/records.rs, adopt_unowned_history).
-- packing says how points is laid out: 0 slot after slot as 0009 describes, 1 the same slots
-- field by field, each value XORed with the one before and split into byte planes, then
-- deflated (src/core/history/rollup.rs). Rows from before stay 0 until they are written again.
-- The key gains a column, which SQLite cannot add to a primary key: the table is rebuilt.
CREATE TABLE metric_history_by_host (
    host        TEXT NOT NULL,
    series_key  TEXT NOT NULL,
    resolution  BIGINT NOT NULL,
    chunk_start BIGINT NOT NULL,
    packing     BIGINT NOT NULL,
    points      BYTEA NOT NULL,
    PRIMARY KEY (host, series_key, resolution, chunk_start)
);
INSERT INTO metric_history_by_host (host, series_key, resolution, chunk_start, packing, points)
    SELECT '', series_key, resolution, chunk_start, 0, points FROM metric_history;
DROP TABLE metric_history;
ALTER TABLE metric_history_by_host RENAME TO metric_history;
-- Pruning and the roll-up look chunks up by time across all series.
CREATE INDEX metric_history_by_time ON metric_history (resolution, chunk_start);
