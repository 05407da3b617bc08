-- pg-cancel-query / pg-terminate-session: the task's own session, which it refuses to signal,
-- and the role it runs as, for the GRANT a refused signal needs.
-- Rust reads: pid (int4), usr (current_user, quoted).
SELECT pg_backend_pid() AS pid, quote_ident(current_user) AS usr
