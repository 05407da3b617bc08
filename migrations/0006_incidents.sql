-- Incidents as an append-only log: one row per change (opened, acknowledged, level changed,
-- note, mitigated, resolved, recovered, postmortem done, action item added). Rows are never
-- updated or deleted, so two consoles (or a console and the CLI) changing one incident at once
-- only ever add rows and cannot overwrite each other; an incident's state is folded from its
-- rows. kind repeats the payload's own tag so the log can be read by kind without parsing;
-- payload is the change as JSON text; at is Unix milliseconds.
CREATE TABLE incident_events (
    incident   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    host       TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events (incident, at);
