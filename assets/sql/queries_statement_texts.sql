-- The texts of some statements of the current database, and those of opsdeck's own statements
-- (recognised by the /* opsdeck */ marker), to leave out from then on. This reads the whole
-- query text file, so it is asked only for statements not shown before. $1: queryids (int8[]).
-- Rust reads: queryid, userid, toplevel (bool), query (text or NULL when the file could not be
-- read).
-- A template, filled in src/core/queries/collector.rs (texts_sql), because identifiers and
-- column names cannot be bind parameters:
--   {schema}   the extension's schema, quoted
--   {toplevel} `s.toplevel` from pg_stat_statements 1.9 on, `true` before
/* opsdeck */ SELECT s.queryid, s.userid::int8 AS userid, {toplevel} AS toplevel, s.query
FROM {schema}.pg_stat_statements(true) s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (s.queryid = ANY($1) OR s.query LIKE '%/* opsdeck */%')
