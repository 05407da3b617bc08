-- The counters of the current database's top statements, without their texts:
-- pg_stat_statements(false) does not read the query text file, so this stays cheap with
-- thousands of statements. $1: how many (int8); $2: opsdeck's own queryids, left out (int8[]).
-- Rust reads: queryid, userid, toplevel (bool or NULL), username, calls, total_ms, mean_ms,
-- max_ms, rows, shared_blks_hit, shared_blks_read, stats_since_ms (NULL before 1.11), now_ms.
-- A template, filled in src/core/queries/collector.rs (counters_sql), because identifiers and
-- column names cannot be bind parameters:
--   {schema}   the extension's schema, quoted
--   {exec}     `_exec_time` from pg_stat_statements 1.8 (PostgreSQL 13) on, `_time` before
--   {toplevel} `s.toplevel` from 1.9 on, `NULL::bool` before
--   {since}    the stats_since epoch in ms from 1.11 (PostgreSQL 17) on, `NULL::int8` before
--   {order}    the column the pane sorts by
/* opsdeck */ SELECT s.queryid, s.userid::int8 AS userid, {toplevel} AS toplevel,
       coalesce(pg_get_userbyid(s.userid)::text, '') AS username, s.calls,
       s.total{exec} AS total_ms, s.mean{exec} AS mean_ms, s.max{exec} AS max_ms,
       s.rows, s.shared_blks_hit, s.shared_blks_read,
       {since} AS stats_since_ms,
       (extract(epoch FROM statement_timestamp()) * 1000)::int8 AS now_ms
FROM {schema}.pg_stat_statements(false) s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (s.queryid IS NULL OR NOT s.queryid = ANY($2))
ORDER BY {order} DESC, s.queryid
LIMIT $1
