-- db-reindex pre-flight: a tablespace's name and directory (empty for pg_default and
-- pg_global, which live in the data directory). $1: the tablespace's oid.
-- Rust reads: name (text), location (text).
SELECT spcname::text AS name, pg_tablespace_location(oid) AS location
FROM pg_tablespace WHERE oid = $1
