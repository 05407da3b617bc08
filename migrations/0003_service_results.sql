-- Every service check result, for availability over 24 hours and 7 days and the detail view.
-- ok is 1 or 0. Rows older than eight days are pruned.
CREATE TABLE service_results (
    service     TEXT NOT NULL,
    checked_at  BIGINT NOT NULL,
    ok          BIGINT NOT NULL,
    latency_ms  DOUBLE PRECISION,
    detail      TEXT NOT NULL
);
CREATE INDEX service_results_by_time ON service_results (service, checked_at);
