-- Where each followed log file was read up to, so a restart resumes there instead of re-reading
-- (double counting) or skipping (losing) lines. One row per source and path, overwritten as the
-- follower moves on. inode tells the stored file from a new one at the same path after a
-- rotation; byte_offset is the end of the last complete line read; updated_at is Unix
-- milliseconds. The inode is stored as its 64-bit pattern (BIGINT is signed on both backends).
CREATE TABLE log_offsets (
    source      TEXT NOT NULL,
    path        TEXT NOT NULL,
    inode       BIGINT NOT NULL,
    byte_offset BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (source, path)
);
