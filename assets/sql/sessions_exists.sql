-- pg-terminate-session: whether pid $1 (int4) is still a backend, polled until a terminated
-- session has ended. Rust reads: the single bool.
SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)
