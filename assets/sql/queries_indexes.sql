-- The largest user indexes, or only the unused ones: never scanned and not backing a unique,
-- primary key or exclusion constraint. $1: locked relations (int8[]), sized from their relpages
-- estimate; $2: how many (int8); $3: only unused ones (bool).
-- Rust reads: name (schema.index, quoted), table_name (schema.table, quoted), bytes, scans.
/* opsdeck */ SELECT format('%I.%I', s.schemaname, s.indexrelname) AS name,
       format('%I.%I', s.schemaname, s.relname) AS table_name,
       CASE WHEN s.indexrelid::int8 = ANY($1) OR s.relid::int8 = ANY($1)
            THEN c.relpages::int8 * current_setting('block_size')::int8
            ELSE coalesce(pg_relation_size(s.indexrelid), 0) END AS bytes,
       coalesce(s.idx_scan, 0) AS scans
FROM pg_stat_user_indexes s
JOIN pg_class c ON c.oid = s.indexrelid
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE NOT $3
   OR (s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion)
ORDER BY bytes DESC, name
LIMIT $2
