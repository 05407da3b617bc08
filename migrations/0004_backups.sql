-- Backup verifications (one row per verification run of a file) and restore tests.
-- size and modified identify the version of the file that was verified; result is
-- ok, corrupt, changed or error. counts is a JSON array of [name, value] pairs.
CREATE TABLE backup_verifications (
    backup_set   TEXT NOT NULL,
    path         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    modified     BIGINT NOT NULL,
    verified_at  BIGINT NOT NULL,
    result       TEXT NOT NULL,
    message      TEXT NOT NULL,
    sha256       TEXT,
    duration_ms  BIGINT NOT NULL
);
CREATE INDEX backup_verifications_by_path ON backup_verifications (backup_set, path, verified_at);

CREATE TABLE backup_restore_tests (
    backup_set   TEXT NOT NULL,
    file         TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    ok           BIGINT NOT NULL,
    message      TEXT NOT NULL,
    counts       TEXT NOT NULL
);
CREATE INDEX backup_restore_tests_by_set ON backup_restore_tests (backup_set, started_at);
