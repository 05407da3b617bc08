-- db-vacuum-analyze and db-reindex: looks up a table or index given as schema.name (or a name
-- on the search path); no row when there is no such relation. $1: the name as given (text).
-- Rust reads: oid, name (schema.name, quoted by the server), kind (pg_class relkind).
SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, c.relkind::text AS kind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1)
