-- db-vacuum-analyze: a table's size and tuple figures before and after its VACUUM; no row when
-- the table is gone. $1: the table's oid.
-- Rust reads: bytes, dead, live, vacuums (all int8; vacuums tells when the statistics show the
-- VACUUM).
SELECT pg_total_relation_size(c.oid) AS bytes,
       coalesce(s.n_dead_tup, 0) AS dead,
       coalesce(s.n_live_tup, 0) AS live,
       coalesce(s.vacuum_count, 0) AS vacuums
FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.oid = $1
