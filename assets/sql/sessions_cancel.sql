-- pg-cancel-query: cancels the running statement of pid $1 (int4); the session stays.
-- Rust reads: the single bool (false or NULL when the signal was not sent).
SELECT pg_cancel_backend($1)
