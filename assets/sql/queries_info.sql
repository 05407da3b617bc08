-- Facts read at every refresh of the queries pane: the database, who opsdeck is, and where
-- pg_stat_statements is installed. Always one row; the extension columns are NULL when it is not
-- installed in this database.
-- Rust reads: database (text), grantee (current_user quoted for a GRANT), can_read_stats (bool,
-- superuser or member of pg_read_all_stats), pgss_version (text or NULL), pgss_schema (quoted
-- schema or NULL).
/* opsdeck */ SELECT current_database()::text AS database,
       quote_ident(current_user) AS grantee,
       pg_has_role('pg_read_all_stats', 'USAGE') AS can_read_stats,
       e.extversion AS pgss_version,
       quote_ident(n.nspname) AS pgss_schema
FROM (SELECT 1) AS one
LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements'
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace
