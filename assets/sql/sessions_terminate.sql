-- pg-terminate-session: closes the connection of pid $1 (int4), rolling its transaction back.
-- Rust reads: the single bool (false or NULL when the signal was not sent).
SELECT pg_terminate_backend($1)
