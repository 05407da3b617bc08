-- pg-cancel-query / pg-terminate-session: every session waiting for a lock, with the pids it
-- waits on, so the plan can say whom signalling a pid would unblock.
-- Rust reads, by position: pid (int4), pg_blocking_pids (int4[]).
SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity
WHERE wait_event_type = 'Lock'
