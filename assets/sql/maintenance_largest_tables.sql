-- db-vacuum-analyze without a table list: the largest user tables. $1: how many (int8).
-- Rust reads: oid, name (schema.table, quoted).
SELECT relid AS oid, format('%I.%I', schemaname, relname) AS name
FROM pg_stat_user_tables
ORDER BY pg_total_relation_size(relid) DESC, 2
LIMIT $1
