-- Client backends worth a look: active longer than $1 seconds (float8), idle in a transaction,
-- waiting for a lock, or blocking one; waiting ones first. pg_blocking_pids is only asked about
-- sessions waiting for a lock (it takes the lock manager's locks). $2: the application name of
-- opsdeck's own monitoring connections, the only sessions left out (task sessions are shown),
-- unless they block someone.
-- Ages: a transaction's from xact_start, which an aborted transaction no longer has (then from
-- state_change, when it went idle); the time in the current state from state_change.
-- Rust reads: pid, database, username, application, client, state, wait_event (text or NULL),
-- query_seconds, transaction_seconds (NULL outside a transaction), state_seconds, query,
-- blocked_by (int4[]), blocking, long_running, idle_in_transaction.
/* opsdeck */ WITH a AS (
    SELECT pid, datname, usename, application_name, client_addr, state, wait_event_type,
           wait_event, query_start, xact_start, state_change, query,
           CASE WHEN wait_event_type = 'Lock' THEN pg_blocking_pids(pid)
                ELSE '{}'::int4[] END AS blocked_by
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
), blockers AS (
    SELECT DISTINCT unnest(blocked_by) AS pid FROM a
), b AS (
    SELECT a.*,
           coalesce(state = 'active'
                    AND query_start < statement_timestamp() - make_interval(secs => $1), false)
               AS long_running,
           coalesce(state LIKE 'idle in transaction%', false) AS idle_in_transaction,
           coalesce(wait_event_type = 'Lock' OR cardinality(blocked_by) > 0, false) AS waiting,
           pid IN (SELECT pid FROM blockers) AS blocking
    FROM a
)
SELECT pid, coalesce(datname::text, '') AS database, coalesce(usename::text, '') AS username,
       coalesce(application_name, '') AS application,
       coalesce(host(client_addr), 'local') AS client,
       coalesce(state, '') AS state,
       CASE WHEN wait_event_type IS NOT NULL
            THEN wait_event_type || ': ' || coalesce(wait_event, '?') END AS wait_event,
       greatest(extract(epoch FROM statement_timestamp() - query_start), 0)::float8
           AS query_seconds,
       greatest(extract(epoch FROM statement_timestamp() - coalesce(
           xact_start,
           CASE WHEN idle_in_transaction THEN state_change END)), 0)::float8
           AS transaction_seconds,
       greatest(extract(epoch FROM statement_timestamp() - state_change), 0)::float8
           AS state_seconds,
       coalesce(query, '') AS query, blocked_by, blocking, long_running, idle_in_transaction
FROM b
WHERE blocking
   OR (application_name IS DISTINCT FROM $2
       AND (long_running OR idle_in_transaction OR waiting))
ORDER BY waiting DESC, coalesce(xact_start, state_change) NULLS LAST, pid
