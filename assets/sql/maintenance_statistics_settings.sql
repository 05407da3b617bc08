-- db-vacuum-analyze: whether the statistics can be flushed on demand (PostgreSQL 15+) and
-- whether they are collected at all, to know whether to wait for the figures after a VACUUM.
-- Rust reads: force_flush (bool), track_counts (bool).
SELECT to_regprocedure('pg_stat_force_next_flush()') IS NOT NULL AS force_flush,
       current_setting('track_counts') = 'on' AS track_counts
