//! The journal as a log source, on real journal files: entries are written in journald's export
//! format, turned into `.journal` files by the real `systemd-journal-remote`, and read back
//! through `JournalReader` (the real `journalctl --file/--directory`). Checked: fields, levels,
//! units and times; the back-scan window; resuming after a cursor (also across a restart, the
//! cursor kept in SQLite and PostgreSQL); `-u` filtering; the failed-login recipe on `line()`;
//! binary, oversized and hostile messages; the per-poll bound; a missing file's error; a
//! rejected cursor.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use opsdeck::core::logs::format::{Format, Level};
use opsdeck::core::logs::journal::{
    JournalEntry, JournalError, JournalReader, MAX_ENTRIES_PER_POLL,
};
use opsdeck::core::logs::recipes::{FailedLogins, IpTally};
use opsdeck::core::store::{Store, StoreLocation};
use support::journal::{Record, app, sshd, write_journal};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A whole second an hour ago: the entries' base time, well inside a day's back-scan.
fn base() -> DateTime<Utc> {
    (Utc::now() - TimeDelta::hours(1))
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap()
}

/// sshd's failed logins and an application's errors, warnings and info, after an entry from
/// three days ago that a first read's back-scan must leave out.
fn first_records(base: DateTime<Utc>) -> Vec<Record> {
    let s = TimeDelta::seconds;
    vec![
        app(
            base - TimeDelta::days(3),
            3,
            b"an error from three days ago",
        ),
        sshd(base, 812, "Invalid user admin from 203.0.113.7 port 4242"),
        sshd(
            base + s(1),
            812,
            "Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2",
        ),
        sshd(
            base + s(2),
            813,
            "Failed password for root from 198.51.100.9 port 5555 ssh2",
        ),
        app(base + s(3), 3, b"database connection refused"),
        app(base + s(4), 4, b"slow query took 2300 ms"),
        app(base + s(5), 6, b"request served"),
        sshd(
            base + s(6),
            814,
            "Failed password for invalid user admin from 203.0.113.7 port 4243 ssh2",
        ),
    ]
}

fn messages(entries: &[JournalEntry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.message.as_str()).collect()
}

/// Polls until a poll returns nothing, gathering everything.
fn drain(reader: &mut JournalReader) -> Vec<JournalEntry> {
    let mut all = Vec::new();
    loop {
        let entries = reader.poll().unwrap();
        if entries.is_empty() {
            return all;
        }
        all.extend(entries);
    }
}

#[test]
fn entries_come_with_their_times_levels_units_and_the_back_scan_window() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("first.journal");
    let base = base();
    write_journal(&file, &first_records(base), 1_000_000);

    let mut reader = JournalReader::new(None, Some(file), None, DAY);
    let entries = reader.poll().unwrap();
    assert_eq!(
        messages(&entries),
        [
            "Invalid user admin from 203.0.113.7 port 4242",
            "Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2",
            "Failed password for root from 198.51.100.9 port 5555 ssh2",
            "database connection refused",
            "slow query took 2300 ms",
            "request served",
            "Failed password for invalid user admin from 203.0.113.7 port 4243 ssh2",
        ],
        "the entry from three days ago is outside the day's back-scan"
    );
    let times: Vec<_> = entries.iter().map(|entry| entry.at).collect();
    let expected: Vec<_> = (0..7).map(|n| base + TimeDelta::seconds(n)).collect();
    assert_eq!(times, expected);
    let levels: Vec<_> = entries.iter().map(JournalEntry::level).collect();
    let (e, w, i) = (Some(Level::Error), Some(Level::Warn), Some(Level::Info));
    assert_eq!(levels, [i, i, i, e, w, i, i]);

    let failed = &entries[1];
    assert_eq!(failed.priority, Some(6));
    assert_eq!(failed.unit.as_deref(), Some("ssh.service"));
    assert_eq!(failed.identifier.as_deref(), Some("sshd"));
    assert_eq!(failed.pid, Some(812));
    assert_eq!(failed.hostname.as_deref(), Some("web1"));
    assert_eq!(entries[3].unit.as_deref(), Some("app.service"));
    assert_eq!(entries[3].pid, Some(4242));

    // The syslog line reads back through the syslog format as the same time, host and program.
    let line = failed.line();
    assert_eq!(
        line,
        format!(
            "{} web1 sshd[812]: Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2",
            failed.at.format("%b %e %H:%M:%S")
        )
    );
    let record = Format::Syslog.parse(&line, Utc::now());
    assert_eq!(record.at, Some(failed.at));
    assert_eq!(record.message, failed.message);
    assert!(record.fields.contains(&("program".into(), "sshd".into())));
    assert!(record.fields.contains(&("pid".into(), "812".into())));

    // Every entry has its own cursor; the reader stands at the last one.
    let cursors: std::collections::HashSet<_> = entries.iter().map(|e| &e.cursor).collect();
    assert_eq!(cursors.len(), entries.len());
    assert_eq!(reader.cursor(), Some(entries[6].cursor.as_str()));

    // A longer back-scan reaches the old entry.
    let mut wide = JournalReader::new(None, Some(dir.path().join("first.journal")), None, 4 * DAY);
    let all = wide.poll().unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0].message, "an error from three days ago");
    assert_eq!(all[0].at, base - TimeDelta::days(3));
}

#[test]
fn the_failed_login_recipe_counts_sshd_entries_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth.journal");
    write_journal(&file, &first_records(base()), 1_000_000);

    let entries = JournalReader::new(None, Some(file), None, DAY)
        .poll()
        .unwrap();
    let mut logins = FailedLogins::new(2);
    let recognised = entries
        .iter()
        .filter(|entry| logins.observe_line(&entry.line()))
        .count();
    assert_eq!(recognised, 4, "three failures and one invalid user");
    let attacker: IpAddr = "203.0.113.7".parse().unwrap();
    let other: IpAddr = "198.51.100.9".parse().unwrap();
    assert_eq!(
        logins.by_ip(attacker),
        IpTally {
            failures: 2,
            invalid_users: 1
        }
    );
    assert_eq!(
        logins.by_ip(other),
        IpTally {
            failures: 1,
            invalid_users: 0
        }
    );
    assert_eq!(logins.failures, 3);
    assert_eq!(logins.by_user("admin"), 2);
    assert_eq!(logins.by_user("root"), 1);
    let suspicious: Vec<_> = logins.suspicious().into_iter().map(|(ip, _)| ip).collect();
    assert_eq!(suspicious, [attacker]);
}

#[test]
fn a_unit_filter_reads_only_that_unit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("units.journal");
    write_journal(&file, &first_records(base()), 1_000_000);

    let mut ssh = JournalReader::new(Some("ssh.service".into()), Some(file.clone()), None, DAY);
    let entries = ssh.poll().unwrap();
    assert_eq!(entries.len(), 4);
    assert!(
        entries
            .iter()
            .all(|e| e.identifier.as_deref() == Some("sshd"))
    );

    let mut app = JournalReader::new(Some("app.service".into()), Some(file), None, DAY);
    assert_eq!(
        messages(&app.poll().unwrap()),
        [
            "database connection refused",
            "slow query took 2300 ms",
            "request served"
        ]
    );
    assert!(app.poll().unwrap().is_empty());
}

/// Newer entries in a second file of the same directory (journald's own layout: one directory,
/// several files), read after the first file's cursor.
fn second_records(base: DateTime<Utc>) -> Vec<Record> {
    let s = TimeDelta::seconds;
    vec![
        app(base + s(60), 3, b"database connection refused again"),
        sshd(
            base + s(61),
            815,
            "Failed password for invalid user oracle from 203.0.113.7 port 4300 ssh2",
        ),
    ]
}

#[test]
fn reading_resumes_after_the_cursor_across_files_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let base = base();
    write_journal(
        &dir.path().join("first.journal"),
        &first_records(base),
        1_000_000,
    );

    let mut reader = JournalReader::new(None, Some(dir.path().to_owned()), None, DAY);
    assert_eq!(reader.poll().unwrap().len(), 7);
    assert!(
        reader.poll().unwrap().is_empty(),
        "nothing new, nothing read"
    );
    let cursor = reader.cursor().unwrap().to_owned();

    write_journal(
        &dir.path().join("second.journal"),
        &second_records(base),
        2_000_000,
    );
    assert_eq!(
        messages(&reader.poll().unwrap()),
        [
            "database connection refused again",
            "Failed password for invalid user oracle from 203.0.113.7 port 4300 ssh2"
        ]
    );
    assert!(reader.poll().unwrap().is_empty());

    // A restart with the cursor stored after the first file reads only the second.
    let mut restarted = JournalReader::new(None, Some(dir.path().to_owned()), Some(cursor), DAY);
    let entries = restarted.poll().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].at, base + TimeDelta::seconds(60));
    assert_eq!(restarted.cursor(), reader.cursor());
}

#[tokio::test]
async fn the_cursor_survives_a_restart_in_the_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let base = base();
    let journals = dir.path().join("journal");
    std::fs::create_dir(&journals).unwrap();
    write_journal(
        &journals.join("first.journal"),
        &first_records(base),
        1_000_000,
    );
    let state = StoreLocation::Sqlite(dir.path().join("state.db"));

    let store = Store::open(&state).await.unwrap();
    assert_eq!(store.journal_cursor("auth").await.unwrap(), None);
    let mut reader = JournalReader::new(None, Some(journals.clone()), None, DAY);
    let first = tokio::task::spawn_blocking(move || {
        let entries = reader.poll().unwrap();
        (entries, reader)
    })
    .await
    .unwrap();
    store
        .save_journal_cursor("auth", first.1.cursor().unwrap())
        .await
        .unwrap();
    drop(store);

    write_journal(
        &journals.join("second.journal"),
        &second_records(base),
        2_000_000,
    );
    let store = Store::open(&state).await.unwrap();
    let cursor = store.journal_cursor("auth").await.unwrap();
    assert_eq!(cursor.as_deref(), Some(first.0[6].cursor.as_str()));
    let mut reader = JournalReader::new(None, Some(journals), cursor, DAY);
    let entries = tokio::task::spawn_blocking(move || reader.poll().unwrap())
        .await
        .unwrap();
    assert_eq!(
        messages(&entries),
        [
            "database connection refused again",
            "Failed password for invalid user oracle from 203.0.113.7 port 4300 ssh2"
        ]
    );

    // A later cursor replaces the stored one; sources are kept apart.
    store
        .save_journal_cursor("auth", &entries[1].cursor)
        .await
        .unwrap();
    assert_eq!(
        store.journal_cursor("auth").await.unwrap().as_deref(),
        Some(entries[1].cursor.as_str())
    );
    assert_eq!(store.journal_cursor("app").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn cursors_round_trip_on_postgres() {
    let (_server, store) = support::postgres_store().await;
    let first = "s=09da8859919f4f7b9c94f52aca4a0cc7;i=1;b=6a1b6e7bd0a54d4f9b1c1f6cf0a1d2e3;m=3e8;t=6452b609bd6c0;x=9ac2522f86718553";
    let later = "s=09da8859919f4f7b9c94f52aca4a0cc7;i=2;b=6a1b6e7bd0a54d4f9b1c1f6cf0a1d2e3;m=7d0;t=6452b60ab1900;x=e2c82e57218260dc";
    assert_eq!(store.journal_cursor("auth").await.unwrap(), None);
    store.save_journal_cursor("auth", first).await.unwrap();
    store.save_journal_cursor("auth", later).await.unwrap();
    store.save_journal_cursor("app", first).await.unwrap();
    assert_eq!(
        store.journal_cursor("auth").await.unwrap().as_deref(),
        Some(later)
    );
    assert_eq!(
        store.journal_cursor("app").await.unwrap().as_deref(),
        Some(first)
    );
}

#[test]
fn binary_oversized_and_hostile_messages_come_out_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.journal");
    let base = base();
    let s = TimeDelta::seconds;
    let huge = "x".repeat(10 * 1024 * 1024);
    write_journal(
        &file,
        &[
            app(base, 3, b"nul\0byte and \x1b[31mescape\xff"),
            app(base + s(1), 6, huge.as_bytes()),
            app(base + s(2), 6, "caf\u{e9} \u{1F600}".as_bytes()),
            Record {
                at: base + s(3),
                fields: vec![("MESSAGE", b"no priority, unit, pid or host".to_vec())],
            },
            Record {
                at: base + s(4),
                fields: vec![
                    ("MESSAGE", b"set twice: first".to_vec()),
                    ("MESSAGE", b"set twice: second".to_vec()),
                ],
            },
        ],
        1_000_000,
    );
    let entries = JournalReader::new(None, Some(file), None, DAY)
        .poll()
        .unwrap();
    assert_eq!(entries.len(), 5);
    // Binary (NUL, invalid UTF-8): journalctl writes it as bytes, decoded with the bad byte
    // replaced; the escape stays in the data (the console escapes it when drawing).
    assert_eq!(entries[0].message, "nul\0byte and \x1b[31mescape\u{FFFD}");
    assert_eq!(entries[0].level(), Some(Level::Error));
    // 10 MB: journalctl leaves it out, and the entry still counts, with a placeholder.
    assert!(entries[1].message.starts_with("[message not shown"));
    assert!(entries[1].message.len() < 100);
    assert_eq!(entries[2].message, "caf\u{e9} \u{1F600}");
    let bare = &entries[3];
    assert_eq!(
        (
            bare.priority,
            bare.level(),
            bare.pid,
            &bare.unit,
            &bare.hostname
        ),
        (None, None, None, &None, &None)
    );
    assert_eq!(
        bare.line(),
        format!(
            "{} - journal: no priority, unit, pid or host",
            bare.at.format("%b %e %H:%M:%S")
        )
    );
    // A field set twice is an array in journalctl's JSON: the first value is the message.
    assert_eq!(entries[4].message, "set twice: first");
}

#[test]
fn a_backlog_is_read_in_bounded_polls_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backlog.journal");
    let base = base();
    let total = MAX_ENTRIES_PER_POLL + 1234;
    let records: Vec<_> = (0..total)
        .map(|n| {
            app(
                base + TimeDelta::milliseconds(n as i64),
                6,
                format!("request {n}").as_bytes(),
            )
        })
        .collect();
    write_journal(&file, &records, 1_000_000);

    let mut reader = JournalReader::new(None, Some(file), None, DAY);
    let first = reader.poll().unwrap();
    assert_eq!(first.len(), MAX_ENTRIES_PER_POLL);
    let rest = drain(&mut reader);
    assert_eq!(rest.len(), 1234);
    let all: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|e| e.message.clone())
        .collect();
    let expected: Vec<String> = (0..total).map(|n| format!("request {n}")).collect();
    assert_eq!(all, expected, "no entry lost or repeated between polls");
}

#[test]
fn a_missing_journal_file_is_an_error_naming_it_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.journal");
    let mut reader = JournalReader::new(None, Some(missing.clone()), None, DAY);
    let error = reader.poll().unwrap_err();
    assert!(matches!(error, JournalError::Failed { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("fix: check that"), "{message}");
    assert_eq!(reader.cursor(), None);
}

#[test]
fn a_cursor_the_journal_rejects_is_reported_once_then_reading_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("first.journal");
    write_journal(&file, &first_records(base()), 1_000_000);

    let mut reader = JournalReader::new(None, Some(file), Some("not a cursor".into()), DAY);
    let error = reader.poll().unwrap_err();
    assert!(matches!(error, JournalError::BadCursor { .. }), "{error:?}");
    assert!(error.to_string().contains("\"not a cursor\""), "{error}");
    assert!(error.to_string().contains("fix: "), "{error}");
    assert_eq!(reader.cursor(), None);
    assert_eq!(
        reader.poll().unwrap().len(),
        7,
        "the back-scan window again"
    );
}
