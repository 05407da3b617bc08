-- The postgres service check's figures, in one round trip (current_setting('server_version') is
-- what SHOW server_version reads). Connections count client backends only: background workers
-- and WAL senders have slots of their own. The lag is NULL on a primary; on a standby it is the
-- age of the last replayed transaction, and 0 when everything received has been replayed, so an
-- idle primary does not look like lag.
-- Rust reads: version (text), connections (int8), max_connections (int8), database_bytes (int8),
-- lag_s (float8 or NULL).
/* opsdeck */ SELECT current_setting('server_version') AS version,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
           AS connections,
       current_setting('max_connections')::bigint AS max_connections,
       pg_database_size(current_database()) AS database_bytes,
       CASE WHEN pg_is_in_recovery() THEN
           CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL
                     AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
           END::float8
       END AS lag_s
