-- VACUUM and CREATE INDEX / REINDEX runs in progress in the current database.
-- Rust reads: pid, command, relation, phase, percent (float8 or NULL when the total is unknown).
/* opsdeck */ SELECT pid, 'VACUUM' AS command,
       coalesce(relid::regclass::text, '?') AS relation, coalesce(phase, '?') AS phase,
       CASE WHEN heap_blks_total > 0
            THEN heap_blks_scanned * 100.0 / heap_blks_total END::float8 AS percent
FROM pg_stat_progress_vacuum
WHERE datname = current_database()
UNION ALL
SELECT pid, coalesce(command, 'CREATE INDEX') AS command,
       coalesce(CASE WHEN index_relid <> 0 THEN index_relid::regclass::text END,
                relid::regclass::text, '?') AS relation,
       coalesce(phase, '?') AS phase,
       CASE WHEN blocks_total > 0 THEN blocks_done * 100.0 / blocks_total END::float8 AS percent
FROM pg_stat_progress_create_index
WHERE datname = current_database()
ORDER BY pid
