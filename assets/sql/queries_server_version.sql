-- The server's version, read at every refresh of the queries pane (it decides which
-- pg_stat_statements columns exist). Rust reads: server_version (text).
/* opsdeck */ SHOW server_version
