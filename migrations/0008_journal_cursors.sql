-- Where each journal log source was read up to: the cursor of the last entry read, so a restart
-- resumes after it (journalctl --after-cursor) instead of re-reading its back-scan window. One
-- row per source, overwritten as the reader moves on; updated_at is Unix milliseconds.
CREATE TABLE journal_cursors (
    source         TEXT NOT NULL PRIMARY KEY,
    journal_cursor TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);
