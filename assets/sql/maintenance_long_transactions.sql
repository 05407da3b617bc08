-- db-vacuum-analyze pre-flight: transactions in this database open longer than $1 seconds
-- (float8), oldest first; VACUUM cannot remove dead tuples newer than the oldest of them.
-- Autovacuum workers and this session are left out.
-- Rust reads: pid (int4), usename, state, age (seconds, float8), query (first 80 characters,
-- whitespace folded).
SELECT pid,
       coalesce(usename::text, '?') AS usename,
       coalesce(state, '?') AS state,
       extract(epoch FROM clock_timestamp() - xact_start)::float8 AS age,
       left(regexp_replace(coalesce(query, ''), '\s+', ' ', 'g'), 80) AS query
FROM pg_stat_activity
WHERE xact_start IS NOT NULL
  AND state <> 'idle'
  AND pid <> pg_backend_pid()
  AND backend_type IS DISTINCT FROM 'autovacuum worker'
  AND datname = current_database()
  AND clock_timestamp() - xact_start > make_interval(secs => $1)
ORDER BY xact_start
