-- The postgres service check's liveness probe: the service is up when this answers 1.
-- Rust reads: the single int4 value.
/* opsdeck */ SELECT 1
