-- db-vacuum-analyze: makes this session's statistics visible now rather than at the next
-- periodic flush (PostgreSQL 15+), so the figures after a VACUUM show it. Rust reads nothing.
SELECT pg_stat_force_next_flush()
