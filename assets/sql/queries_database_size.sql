-- The current database's size on disk. Rust reads: bytes (int8).
/* opsdeck */ SELECT pg_database_size(current_database()) AS bytes
