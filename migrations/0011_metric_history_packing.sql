-- How each chunk of the metric history is packed: 0 is slot after slot as 0009 describes, 1 the
-- same slots field by field, each value XORed with the one before and split into byte planes,
-- then deflated (src/core/history/rollup.rs). Rows written before this migration stay 0 and are
-- repacked the next time they are written.
ALTER TABLE metric_history ADD COLUMN packing BIGINT NOT NULL DEFAULT 0;
