-- pg-cancel-query / pg-terminate-session: the sessions among $1 (int4[]) that are current
-- backends, with what the plan shows of each, and what would stop the signal: `superuser` (a
-- superuser's session, and we are not one), `role` (neither a member of its role nor of
-- pg_signal_backend), or '' when it can be signalled.
-- Rust reads: pid, usename, application, datname, state, backend_type, query (first 1000
-- characters, whitespace folded), age (seconds in the current state, float8), barrier.
SELECT a.pid,
       coalesce(a.usename::text, '') AS usename,
       coalesce(a.application_name, '') AS application,
       coalesce(a.datname::text, '') AS datname,
       coalesce(a.state, '') AS state,
       coalesce(a.backend_type, '') AS backend_type,
       left(regexp_replace(coalesce(a.query, ''), '\s+', ' ', 'g'), 1000) AS query,
       coalesce(extract(epoch FROM clock_timestamp() - coalesce(
           CASE WHEN a.state = 'active' THEN a.query_start ELSE a.state_change END,
           a.backend_start))::float8, 0) AS age,
       CASE
         WHEN a.usesysid IS NULL THEN ''
         WHEN r.rolsuper
              AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           THEN 'superuser'
         WHEN pg_has_role(current_user, a.usesysid, 'USAGE')
              OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE')
           THEN ''
         ELSE 'role'
       END AS barrier
FROM pg_stat_activity a
LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.pid = ANY($1)
