//! Following a log file while the real `logrotate` rotates it (create, then copytruncate): every
//! line is read exactly once and in order; a restart resumes at the offset kept in the state
//! store (SQLite and a throwaway PostgreSQL); hostile lines (10 MB, invalid UTF-8, NUL bytes) come out bounded and intact.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use opsdeck::core::logs::follow::{Follower, MAX_LINE, Position};
use opsdeck::core::store::{Store, StoreLocation};

fn append(path: &Path, lines: std::ops::Range<usize>) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut text = String::new();
    for n in lines {
        text.push_str(&format!("line {n} of the application log\n"));
    }
    file.write_all(text.as_bytes()).unwrap();
}

fn expected(lines: std::ops::Range<usize>) -> Vec<String> {
    lines
        .map(|n| format!("line {n} of the application log"))
        .collect()
}

/// Polls until the file has nothing more, as a follower thread would.
fn drain(follower: &mut Follower, into: &mut Vec<String>) {
    loop {
        let batch = follower.poll().unwrap();
        into.extend(batch.lines);
        if !batch.more {
            break;
        }
    }
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    (dir, log)
}

#[test]
fn create_rotation_loses_and_repeats_no_line() {
    let (dir, log) = setup();
    let mut follower = Follower::new(&log);
    let mut seen = Vec::new();
    append(&log, 0..100);
    drain(&mut follower, &mut seen);
    // Written before the rotation but not read yet: must come from the renamed file.
    append(&log, 100..150);
    support::logs::logrotate(dir.path(), &log, "create");
    assert!(dir.path().join("app.log.1").exists());
    append(&log, 150..200);
    drain(&mut follower, &mut seen);
    append(&log, 200..260);
    support::logs::logrotate(dir.path(), &log, "create");
    append(&log, 260..300);
    drain(&mut follower, &mut seen);
    drain(&mut follower, &mut seen);
    assert_eq!(seen, expected(0..300));
}

#[test]
fn copytruncate_loses_and_repeats_no_line() {
    let (dir, log) = setup();
    let mut follower = Follower::new(&log);
    let mut seen = Vec::new();
    append(&log, 0..100);
    drain(&mut follower, &mut seen);
    append(&log, 100..150);
    support::logs::logrotate(dir.path(), &log, "copytruncate");
    // Fewer bytes than before the truncation: the size shrank.
    append(&log, 150..160);
    drain(&mut follower, &mut seen);
    append(&log, 160..200);
    support::logs::logrotate(dir.path(), &log, "copytruncate");
    // More bytes than before the truncation: only the content tells it was rewritten.
    append(&log, 200..500);
    drain(&mut follower, &mut seen);
    assert_eq!(seen, expected(0..500));
}

#[tokio::test]
async fn a_restart_resumes_at_the_stored_offset() {
    let (dir, log) = setup();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let path = log.display().to_string();
    assert_eq!(store.log_offset("app", &path).await.unwrap(), None);

    let mut seen = Vec::new();
    append(&log, 0..100);
    let mut follower = Follower::new(&log);
    drain(&mut follower, &mut seen);
    store
        .save_log_offset("app", &path, follower.position())
        .await
        .unwrap();
    drop(follower);
    drop(store);

    // Stopped: lines are written, and the file is rotated away with some of them unread.
    append(&log, 100..140);
    support::logs::logrotate(dir.path(), &log, "create");
    append(&log, 140..170);

    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let stored = store.log_offset("app", &path).await.unwrap().unwrap();
    let mut follower = Follower::resume(&log, stored);
    drain(&mut follower, &mut seen);
    store
        .save_log_offset("app", &path, follower.position())
        .await
        .unwrap();
    drop(follower);

    // Stopped again, no rotation: resumes in the same file.
    append(&log, 170..200);
    let stored = store.log_offset("app", &path).await.unwrap().unwrap();
    let mut follower = Follower::resume(&log, stored);
    drain(&mut follower, &mut seen);
    assert_eq!(seen, expected(0..200));
}

#[test]
fn hostile_lines_are_bounded_and_kept() {
    let (_dir, log) = setup();
    let mut follower = Follower::new(&log);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let huge = vec![b'x'; 10 * 1024 * 1024];
    file.write_all(&huge).unwrap();
    file.write_all(b"\n").unwrap();
    file.write_all(b"bad \xff\xfe utf8\n").unwrap();
    file.write_all(b"nul \0 inside\r\n").unwrap();
    file.write_all(b"half a li").unwrap();
    let mut seen = Vec::new();
    drain(&mut follower, &mut seen);
    assert_eq!(seen.len(), 3, "the partial line waits for its end");
    assert!(seen[0].len() < MAX_LINE + 64);
    assert!(seen[0].starts_with("xxxx"));
    assert!(seen[0].ends_with(&format!("…[cut {} bytes]", huge.len() - MAX_LINE)));
    assert_eq!(seen[1], "bad \u{fffd}\u{fffd} utf8");
    assert_eq!(seen[2], "nul \0 inside");

    file.write_all(b"ne, now complete\n").unwrap();
    seen.clear();
    drain(&mut follower, &mut seen);
    assert_eq!(seen, ["half a line, now complete"]);
    let end = std::fs::metadata(&log).unwrap().len();
    assert_eq!(follower.position().offset, end);
}

#[test]
fn a_file_emptied_while_stopped_is_read_from_its_start() {
    let (_dir, log) = setup();
    append(&log, 0..50);
    let mut follower = Follower::new(&log);
    drain(&mut follower, &mut Vec::new());
    let stored = follower.position();
    drop(follower);
    std::fs::write(&log, "").unwrap();
    append(&log, 50..60);
    let mut seen = Vec::new();
    let mut follower = Follower::resume(&log, stored);
    drain(&mut follower, &mut seen);
    assert_eq!(seen, expected(50..60));
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_round_trip_on_postgres() {
    let (server, store) = support::postgres_store().await;
    // An inode with the top bit set survives the signed BIGINT column.
    let first = Position {
        inode: u64::MAX - 7,
        offset: 1234,
    };
    store
        .save_log_offset("nginx", "/var/log/a", first)
        .await
        .unwrap();
    let later = Position {
        inode: 42,
        offset: 99,
    };
    store
        .save_log_offset("nginx", "/var/log/a", later)
        .await
        .unwrap();
    store
        .save_log_offset("nginx", "/var/log/b", first)
        .await
        .unwrap();
    assert_eq!(
        store.log_offset("nginx", "/var/log/a").await.unwrap(),
        Some(later)
    );
    assert_eq!(
        store.log_offset("nginx", "/var/log/b").await.unwrap(),
        Some(first)
    );
    assert_eq!(store.log_offset("app", "/var/log/a").await.unwrap(), None);
    drop(store);
    drop(server);
}

#[test]
fn a_large_unread_copy_is_finished_a_batch_at_a_time() {
    let (dir, log) = setup();
    let mut follower = Follower::new(&log);
    let mut seen = Vec::new();
    append(&log, 0..10);
    drain(&mut follower, &mut seen);
    // Over a batch's worth of unread lines go to the copy.
    append(&log, 10..50_000);
    support::logs::logrotate(dir.path(), &log, "copytruncate");
    append(&log, 50_000..50_010);
    let first = follower.poll().unwrap();
    assert!(first.more, "one poll reads a bounded amount");
    seen.extend(first.lines);
    drain(&mut follower, &mut seen);
    assert_eq!(seen, expected(0..50_010));
}
