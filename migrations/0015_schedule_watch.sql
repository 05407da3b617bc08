-- When opsdeck began watching each scheduled task's schedule (Unix milliseconds): due times
-- before it passed while nothing was looking, so they are not missed. Written once, the first
-- time a console, `opsdeck tasks`, `opsdeck schedule` or `opsdeck run --due` sees the task with
-- a schedule, and never moved after.
CREATE TABLE schedule_watch (
    task_id TEXT PRIMARY KEY,
    since   BIGINT NOT NULL
);
