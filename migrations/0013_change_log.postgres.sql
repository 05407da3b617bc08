-- The change log of shared state on PostgreSQL: one row per stored alert change, incident entry,
-- checklist entry and task run start or end, written by trigger (so the CLI's writes are logged
-- too), and a NOTIFY on channel opsdeck_changes with its id. Consoles take the NOTIFY only as a
-- wake-up and read every row after the last id they saw, so a notification lost while their
-- listening connection was down loses nothing.
-- kind is alert, incident, checklist or task_run; subject is the alert id, incident id, checklist
-- name or run id; origin is the writer's application_name (a console skips its own changes); at
-- is Unix milliseconds. Rows older than a week are pruned.
CREATE TABLE changes (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    origin  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes (at);

CREATE FUNCTION opsdeck_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    logged BIGINT;
BEGIN
    -- Writers take turns from here to their commit, so ids become visible in increasing order
    -- and a reader that saw id n has seen every id below it. Each write is one short statement.
    PERFORM pg_advisory_xact_lock(7220417);
    INSERT INTO changes (kind, subject, origin, at)
    VALUES (TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[1], current_setting('application_name'),
            (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)
    RETURNING id INTO logged;
    PERFORM pg_notify('opsdeck_changes', logged::TEXT);
    RETURN NULL;
END
$$;

CREATE TRIGGER alerts_logged AFTER INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION opsdeck_log_change('alert', 'id');
CREATE TRIGGER incident_events_logged AFTER INSERT ON incident_events
    FOR EACH ROW EXECUTE FUNCTION opsdeck_log_change('incident', 'incident');
CREATE TRIGGER checklist_entries_logged AFTER INSERT ON checklist_entries
    FOR EACH ROW EXECUTE FUNCTION opsdeck_log_change('checklist', 'checklist');
-- A running task's output is saved every few seconds; only its start and end are news.
CREATE TRIGGER task_runs_logged AFTER INSERT OR UPDATE OF status, ended_at ON task_runs
    FOR EACH ROW EXECUTE FUNCTION opsdeck_log_change('task_run', 'id');
