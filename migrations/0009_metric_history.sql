-- Metric history: every metric the rules see, rolled up per series into 1-minute points (kept 48
-- hours), 15-minute points (kept 90 days) and daily points (kept two years, UTC days).
-- resolution is 0 (minute), 1 (quarter hour) or 2 (day). Points are packed per series into
-- chunks (an hour of minutes, a day of quarter hours, 30 days of days) starting at chunk_start
-- (Unix milliseconds): one row per point would cost some 60 bytes a point, four times the
-- 50 MiB that 200 metrics over a year may take. points is the chunk's slots in order, 18 bytes
-- each, little-endian: the count (u16; samples for a minute, minutes for coarser points, 0 for
-- no point) then min, max, mean and last as 32-bit floats (src/core/history/rollup.rs).
CREATE TABLE metric_history (
    series_key  TEXT NOT NULL,
    resolution  BIGINT NOT NULL,
    chunk_start BIGINT NOT NULL,
    points      BYTEA NOT NULL,
    PRIMARY KEY (series_key, resolution, chunk_start)
);
-- Pruning and the roll-up look chunks up by time across all series.
CREATE INDEX metric_history_by_time ON metric_history (resolution, chunk_start);
