-- db-vacuum-analyze: drops this transaction's statistics snapshot so the next read sees fresh
-- figures. Rust reads nothing.
SELECT pg_stat_clear_snapshot()
