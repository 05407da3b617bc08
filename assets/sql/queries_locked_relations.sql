-- Relations of the current database someone holds or waits for in ACCESS EXCLUSIVE mode:
-- pg_total_relation_size would wait for them, so the health queries size them from relpages.
-- Rust reads: oids (int8[], empty when none).
/* opsdeck */ SELECT coalesce(array_agg(DISTINCT relation::int8), '{}') AS oids
FROM pg_locks
WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
