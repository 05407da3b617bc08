-- db-reindex pre-flight: the server's data directory, where the default tablespace lives
-- (needs superuser or pg_read_all_settings). Rust reads: dir (text).
SELECT current_setting('data_directory') AS dir
