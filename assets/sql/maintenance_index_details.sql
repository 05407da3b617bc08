-- db-reindex: an index's size, the free space its rebuild needs, its tablespace and whether it
-- is valid; no row when the index is gone. For a partitioned index the size is the sum of its
-- partitions and the need that of the largest one (they are rebuilt one at a time). $1: the
-- index's oid.
-- Rust reads: bytes (int8), needed (int8), tablespace (oid), valid (bool).
SELECT CASE WHEN c.relkind = 'I'
            THEN (SELECT coalesce(sum(pg_relation_size(t.relid)), 0)
                  FROM pg_partition_tree(c.oid) t WHERE t.isleaf)::int8
            ELSE pg_relation_size(c.oid) END AS bytes,
       CASE WHEN c.relkind = 'I'
            THEN (SELECT coalesce(max(pg_relation_size(t.relid)), 0)
                  FROM pg_partition_tree(c.oid) t WHERE t.isleaf)::int8
            ELSE pg_relation_size(c.oid) END AS needed,
       CASE WHEN c.reltablespace = 0 THEN d.dattablespace
            ELSE c.reltablespace END AS tablespace,
       i.indisvalid AS valid
FROM pg_class c
JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_database d ON d.datname = current_database()
WHERE c.oid = $1
