-- The audit log of task runs: who ran what, when, with which plan, and how it ended.
-- status: running, succeeded, failed, cancelled, timed_out, interrupted, refused.
CREATE TABLE task_runs (
    id          TEXT PRIMARY KEY,
    task_id     TEXT NOT NULL,
    params      TEXT NOT NULL,
    plan        TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    client      TEXT,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    status      TEXT NOT NULL,
    exit_code   BIGINT,
    summary     TEXT,
    output      TEXT NOT NULL,
    log_path    TEXT
);
CREATE INDEX task_runs_task ON task_runs (task_id, started_at);
CREATE INDEX task_runs_status ON task_runs (status, host);
