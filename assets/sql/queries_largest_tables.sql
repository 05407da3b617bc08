-- The largest user tables (with TOAST and indexes), their live and dead tuples and when they
-- were last vacuumed and analyzed. $1: locked relations (int8[]), sized from their relpages
-- estimate instead of waiting for the lock; $2: how many (int8).
-- Rust reads: name (schema.table, quoted), total_bytes, live_tuples, dead_tuples, last_vacuum,
-- last_autovacuum, last_analyze, last_autoanalyze (epoch ms or NULL).
/* opsdeck */ WITH t AS (
    SELECT s.relid, format('%I.%I', s.schemaname, s.relname) AS name, c.relpages,
           c.reltoastrelid, s.n_live_tup, s.n_dead_tup, s.last_vacuum, s.last_autovacuum,
           s.last_analyze, s.last_autoanalyze,
           (s.relid::int8 = ANY($1) OR c.reltoastrelid::int8 = ANY($1)
            OR EXISTS (SELECT 1 FROM pg_index i
                       WHERE i.indrelid IN (s.relid, c.reltoastrelid)
                         AND i.indexrelid::int8 = ANY($1))) AS busy
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
)
SELECT name,
       CASE WHEN busy THEN
           (relpages::int8
            + coalesce((SELECT relpages FROM pg_class WHERE oid = reltoastrelid), 0)
            + coalesce((SELECT sum(ic.relpages) FROM pg_index i
                        JOIN pg_class ic ON ic.oid = i.indexrelid
                        WHERE i.indrelid = t.relid), 0))::int8
           * current_setting('block_size')::int8
       ELSE coalesce(pg_total_relation_size(relid), 0) END AS total_bytes,
       coalesce(n_live_tup, 0) AS live_tuples, coalesce(n_dead_tup, 0) AS dead_tuples,
       (extract(epoch FROM last_vacuum) * 1000)::int8 AS last_vacuum,
       (extract(epoch FROM last_autovacuum) * 1000)::int8 AS last_autovacuum,
       (extract(epoch FROM last_analyze) * 1000)::int8 AS last_analyze,
       (extract(epoch FROM last_autoanalyze) * 1000)::int8 AS last_autoanalyze
FROM t
ORDER BY total_bytes DESC, name
LIMIT $2
