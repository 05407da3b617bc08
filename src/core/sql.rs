//! Every SQL statement opsdeck's collectors and tasks send to PostgreSQL, one file each under
//! `assets/sql/`, embedded here so the SQL can be reviewed apart from the Rust and found through
//! this one module.
//!
//! Each file starts with `--` lines saying what the statement returns, which columns the Rust
//! reads and what its parameters are. Those lines are stripped when the file is embedded, so the
//! server (and `pg_stat_activity`, `pg_stat_statements`) sees the statement alone; the monitoring
//! queries still begin with the `/* opsdeck */` marker that keeps them out of the statements
//! list.
//!
//! A few files are templates with `{name}` slots, filled by [`fill`], for what a bind parameter
//! cannot carry: identifiers (a table, an index, a database, the pg_stat_statements schema) and
//! the columns that differ by extension version or sort order. Each template's header names its
//! slots and the Rust function that fills them.
//!
//! Not here, on purpose: the session settings and the cancel guard that belong to the connection
//! code (`SET`/`RESET statement_timeout`, `lock_timeout`, the guard's `pg_backend_pid()` and
//! `pg_cancel_backend`), the sanity queries a user configures for restore tests, and the store's
//! SQLite statements (`core::store` and its migrations), which are opsdeck's own schema rather
//! than SQL sent to the servers it watches.

/// The statement of an embedded file: its leading `--` header lines and the surrounding
/// whitespace removed.
const fn statement(file: &'static str) -> &'static str {
    let bytes = file.as_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() && bytes[start] == b'-' && bytes[start + 1] == b'-' {
        while start < bytes.len() && bytes[start] != b'\n' {
            start += 1;
        }
        if start < bytes.len() {
            start += 1;
        }
    }
    file.split_at(start).1.trim_ascii()
}

/// Declares one `pub const` per file under `assets/sql/`, and (for the tests) the list of them.
macro_rules! sql_files {
    ($($(#[doc = $doc:literal])+ $name:ident = $file:literal;)+) => {
        $(
            $(#[doc = $doc])+
            pub const $name: &str = statement(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/sql/",
                $file
            )));
        )+

        /// Every embedded file, by name, with its statement.
        #[cfg(test)]
        const FILES: &[(&str, &str)] = &[$(($file, $name)),+];
    };
}

sql_files! {
    // The queries pane (core::queries::collector).
    /// The server's version.
    QUERIES_SERVER_VERSION = "queries_server_version.sql";
    /// The database, who opsdeck is, where pg_stat_statements is.
    QUERIES_INFO = "queries_info.sql";
    /// Template: the top statements' counters.
    QUERIES_STATEMENT_COUNTERS = "queries_statement_counters.sql";
    /// Template: statement texts, and opsdeck's own statements.
    QUERIES_STATEMENT_TEXTS = "queries_statement_texts.sql";
    /// Sessions worth a look, with who blocks whom.
    QUERIES_SESSIONS = "queries_sessions.sql";
    /// Relations locked in ACCESS EXCLUSIVE mode.
    QUERIES_LOCKED_RELATIONS = "queries_locked_relations.sql";
    /// The database's size.
    QUERIES_DATABASE_SIZE = "queries_database_size.sql";
    /// The largest tables with their tuples and vacuum times.
    QUERIES_LARGEST_TABLES = "queries_largest_tables.sql";
    /// The largest (or unused) indexes.
    QUERIES_INDEXES = "queries_indexes.sql";
    /// VACUUM and CREATE INDEX progress.
    QUERIES_PROGRESS = "queries_progress.sql";

    // The postgres service check (core::services::postgres).
    /// The liveness probe.
    SERVICE_POSTGRES_ALIVE = "service_postgres_alive.sql";
    /// Version, connections, size and replication lag.
    SERVICE_POSTGRES_FIGURES = "service_postgres_figures.sql";

    // db-vacuum-analyze and db-reindex (core::tasks::pg_maintenance).
    /// Whether statistics can be flushed and are collected.
    MAINTENANCE_STATISTICS_SETTINGS = "maintenance_statistics_settings.sql";
    /// Flushes this session's statistics.
    MAINTENANCE_FLUSH_STATISTICS = "maintenance_flush_statistics.sql";
    /// Drops the statistics snapshot.
    MAINTENANCE_CLEAR_SNAPSHOT = "maintenance_clear_snapshot.sql";
    /// The largest tables to vacuum.
    MAINTENANCE_LARGEST_TABLES = "maintenance_largest_tables.sql";
    /// A table's size and tuples.
    MAINTENANCE_TABLE_FIGURES = "maintenance_table_figures.sql";
    /// Transactions open too long (pre-flight).
    MAINTENANCE_LONG_TRANSACTIONS = "maintenance_long_transactions.sql";
    /// An index's size, needed space, tablespace and validity.
    MAINTENANCE_INDEX_DETAILS = "maintenance_index_details.sql";
    /// A tablespace's name and directory.
    MAINTENANCE_TABLESPACE = "maintenance_tablespace.sql";
    /// The data directory.
    MAINTENANCE_DATA_DIRECTORY = "maintenance_data_directory.sql";
    /// A table or index looked up by name.
    MAINTENANCE_RESOLVE_RELATION = "maintenance_resolve_relation.sql";
    /// Template: VACUUM (ANALYZE) of one table.
    MAINTENANCE_VACUUM = "maintenance_vacuum.sql";
    /// Template: REINDEX INDEX CONCURRENTLY of one index.
    MAINTENANCE_REINDEX = "maintenance_reindex.sql";

    // pg-cancel-query and pg-terminate-session (core::tasks::pg_sessions).
    /// The task's own pid and role.
    SESSIONS_OWN = "sessions_own.sql";
    /// Sessions waiting for a lock, with their blockers.
    SESSIONS_LOCK_WAITS = "sessions_lock_waits.sql";
    /// The sessions behind some pids.
    SESSIONS_LOOKUP = "sessions_lookup.sql";
    /// Whether a pid is still a backend.
    SESSIONS_EXISTS = "sessions_exists.sql";
    /// Cancels a pid's statement.
    SESSIONS_CANCEL = "sessions_cancel.sql";
    /// Terminates a pid's session.
    SESSIONS_TERMINATE = "sessions_terminate.sql";

    // restore-test (core::tasks::backups::restore).
    /// Template: creates the scratch database.
    RESTORE_CREATE_DATABASE = "restore_create_database.sql";
    /// Template: drops the scratch database.
    RESTORE_DROP_DATABASE = "restore_drop_database.sql";
    /// Template: counts a restored table's rows.
    RESTORE_COUNT_ROWS = "restore_count_rows.sql";
}

/// A template with each `{name}` slot listed in `slots` replaced by its value, in one pass (a
/// value that itself contains `{name}` is left as it is). Anything else in braces stays, e.g.
/// the empty array `'{}'`.
pub fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut filled = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        filled.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let slot = after.find('}').and_then(|close| {
            let name = &after[..close];
            slots
                .iter()
                .find(|(slot, _)| *slot == name)
                .map(|(_, value)| (close, *value))
        });
        match slot {
            Some((close, value)) => {
                filled.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                filled.push('{');
                rest = after;
            }
        }
    }
    filled.push_str(rest);
    filled
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// The `{name}` slots of a statement.
    fn slots(statement: &str) -> BTreeSet<&str> {
        statement
            .split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}'))
            .map(|(name, _)| name)
            .filter(|name| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
            .collect()
    }

    #[test]
    fn every_file_under_assets_sql_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sql");
        let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let embedded: BTreeSet<String> = FILES.iter().map(|(file, _)| (*file).to_owned()).collect();
        assert_eq!(
            on_disk,
            embedded,
            "every file under {} must be listed in src/core/sql.rs (and only those)",
            dir.display()
        );
        for (file, statement) in FILES {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(
                text.starts_with("-- "),
                "{file} must start with a `--` comment saying what it returns"
            );
            assert!(!statement.is_empty(), "{file} has no statement");
            assert!(!statement.starts_with("--"), "{file}: {statement}");
            assert!(text.trim_end().ends_with(statement), "{file}: {statement}");
        }
    }

    #[test]
    fn only_the_templates_have_slots_and_their_headers_name_them() {
        let templates: &[(&str, &[&str])] = &[
            (
                QUERIES_STATEMENT_COUNTERS,
                &["exec", "order", "schema", "since", "toplevel"],
            ),
            (QUERIES_STATEMENT_TEXTS, &["schema", "toplevel"]),
            (MAINTENANCE_VACUUM, &["table"]),
            (MAINTENANCE_REINDEX, &["index"]),
            (RESTORE_CREATE_DATABASE, &["database"]),
            (RESTORE_DROP_DATABASE, &["database"]),
            (RESTORE_COUNT_ROWS, &["table"]),
        ];
        for (file, statement) in FILES {
            let expected: BTreeSet<&str> = templates
                .iter()
                .find(|(template, _)| template == statement)
                .map(|(_, names)| names.iter().copied().collect())
                .unwrap_or_default();
            assert_eq!(slots(statement), expected, "{file}");
            let text = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("assets/sql")
                    .join(file),
            )
            .unwrap();
            for name in &expected {
                assert!(
                    text.contains(&format!("--   {{{name}}}")),
                    "{file}: the header must say what {{{name}}} is"
                );
            }
        }
    }

    #[test]
    fn fill_replaces_listed_slots_once_and_leaves_other_braces() {
        assert_eq!(
            fill(
                "SELECT '{}'::int4[], {a} FROM {b} {c}",
                &[("a", "x"), ("b", "\"we{a}ird\"")]
            ),
            "SELECT '{}'::int4[], x FROM \"we{a}ird\" {c}"
        );
        assert_eq!(fill("{a}{a", &[("a", "1")]), "1{a");
    }

    #[test]
    fn headers_are_stripped_and_the_statement_kept_whole() {
        assert_eq!(
            statement("-- one\n-- two\nSELECT 1\n  -- not a header\n"),
            "SELECT 1\n  -- not a header"
        );
        assert_eq!(statement("SELECT '--'\n"), "SELECT '--'");
    }
}
