//! The backup sets end to end, as a user runs them: `opsdeck run backup-create`, `backup-verify`,
//! `restore-test` and `backup-prune`, and `opsdeck backups`, on the real binary against a
//! throwaway PostgreSQL and its real `pg_dump`, `pg_restore` and `psql`.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use support::PgServer;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

struct Home {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Home {
    fn new(config: &str) -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "config", "data", "state"] {
            std::fs::create_dir(dir.path().join(sub)).expect("sandbox dir");
        }
        let config_path = dir.path().join("opsdeck.toml");
        std::fs::write(&config_path, config).expect("write config");
        Home {
            dir,
            config: config_path,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--state")
            .arg(self.dir.path().join("state/state.db"))
            .args(args)
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .stdin(Stdio::null())
            .output()
            .expect("run opsdeck");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn json(&self, args: &[&str]) -> (Option<i32>, Value) {
        let run = self.run(args);
        let value = serde_json::from_str(&run.stdout).unwrap_or_else(|error| {
            panic!("not JSON ({error}):\n{}", run.text());
        });
        (run.code, value)
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn scratch_databases(server: &PgServer) -> String {
    let output = server
        .client_command("psql")
        .args([
            "-d",
            "postgres",
            "-Atc",
            "SELECT datname FROM pg_database WHERE datname LIKE 'opsdeck_restore%'",
        ])
        .output()
        .expect("psql");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A file whose modification time is `age` ago.
fn aged_file(path: &Path, content: &[u8], age: Duration) {
    std::fs::write(path, content).expect("write file");
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for times");
    file.set_modified(SystemTime::now() - age)
        .expect("set mtime");
}

fn set_report<'a>(value: &'a Value, set: &str) -> &'a Value {
    value
        .as_array()
        .and_then(|sets| sets.iter().find(|judged| judged["report"]["set"] == set))
        .unwrap_or_else(|| panic!("no set {set} in {value:#}"))
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn dumps_are_created_verified_restore_tested_and_corruption_is_caught() {
    let server = PgServer::start();
    server.create_database("shop");
    let seeded = server
        .client_command("psql")
        .args([
            "-d",
            "shop",
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            "CREATE TABLE users (id int PRIMARY KEY, name text);
             INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 500) g;
             CREATE TABLE orders (id int PRIMARY KEY);",
        ])
        .status()
        .expect("psql");
    assert!(seeded.success());
    let backups = tempfile::tempdir().expect("backup dir");
    let plain_dir = backups.path().join("plain");
    let custom_dir = backups.path().join("custom");
    std::fs::create_dir(&plain_dir).expect("mkdir");
    std::fs::create_dir(&custom_dir).expect("mkdir");
    let home = Home::new(&format!(
        r#"
[backups]
pg_bin_dir = "{bin}"

[[backup]]
name = "shop"
directory = "{plain}"
patterns = ["shop_*.sql.gz"]
kind = "pg_dump_gzip"
[backup.create]
source = "postgres"
url = "{shop}"
[backup.restore]
url = "{admin}"
tables = ["users"]
queries = ["SELECT count(*) FROM users WHERE id > 250"]

[[backup]]
name = "shop-custom"
directory = "{custom}"
kind = "pg_dump_custom"
[backup.create]
source = "postgres"
url = "{shop}"
[backup.restore]
url = "{admin}"
tables = ["users"]
"#,
        bin = server.bin_dir().display(),
        plain = plain_dir.display(),
        custom = custom_dir.display(),
        shop = server.url_for("shop"),
        admin = server.url(),
    ));

    // Both formats: made, verified, restored into a throwaway database that is gone after.
    for set in ["shop", "shop-custom"] {
        let created = home.run(&[
            "run",
            "backup-create",
            "--param",
            &format!("set={set}"),
            "--yes",
        ]);
        assert_eq!(created.code, Some(0), "{}", created.text());
        let verified = home.run(&["run", "backup-verify", "--param", &format!("set={set}")]);
        assert_eq!(verified.code, Some(0), "{}", verified.text());
        assert!(verified.stdout.contains("ok"), "{}", verified.text());
        let restored = home.run(&[
            "run",
            "restore-test",
            "--param",
            &format!("set={set}"),
            "--yes",
        ]);
        assert_eq!(restored.code, Some(0), "{}", restored.text());
        assert!(
            restored.stdout.contains("users: 500 rows"),
            "{}",
            restored.text()
        );
        assert_eq!(
            scratch_databases(&server),
            "",
            "restore-test left a database"
        );
    }
    let names = files_in(&plain_dir);
    assert_eq!(names.len(), 2, "a dump and its .sha256: {names:?}");
    assert!(names[1].ends_with(".sql.gz.sha256"), "{names:?}");
    let (code, report) = home.json(&["backups", "--format", "json"]);
    assert_eq!(code, Some(0), "fresh, verified, restore-tested: {report:#}");
    let shop = set_report(&report, "shop");
    assert_eq!(shop["status"], "ok");
    assert_eq!(shop["report"]["files"][0]["verification"]["result"], "ok");
    assert!(shop["report"]["last_restore"]["ok"] == true, "{shop:#}");

    // A dump cut in half (newer, so the restore test picks it) and garbage named like a dump.
    let dump = plain_dir.join(&names[0]);
    let bytes = std::fs::read(&dump).expect("read dump");
    let truncated = plain_dir.join("shop_29990101_000000.sql.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write truncated");
    std::fs::write(
        plain_dir.join("shop_20200101_000000.sql.gz"),
        b"this is not a dump",
    )
    .expect("write garbage");
    let verified = home.run(&["run", "backup-verify", "--param", "set=shop"]);
    assert_ne!(verified.code, Some(0), "{}", verified.text());
    assert!(
        verified.stdout.contains("CORRUPT"),
        "corrupt files are named: {}",
        verified.text()
    );
    let (code, report) = home.json(&["backups", "--set", "shop", "--format", "json"]);
    assert_eq!(code, Some(2), "corrupt files are critical: {report:#}");
    assert_eq!(set_report(&report, "shop")["report"]["corrupt"], 2);

    let restored = home.run(&["run", "restore-test", "--param", "set=shop", "--yes"]);
    assert_ne!(restored.code, Some(0), "{}", restored.text());
    let said = restored.text();
    assert!(
        said.contains("shop_29990101_000000.sql.gz"),
        "the failure names the dump: {said}"
    );
    assert_eq!(
        scratch_databases(&server),
        "",
        "a failed restore test left a database"
    );
    let history = home.run(&["history", "--task", "restore-test"]);
    assert!(history.stdout.contains("failed"), "{}", history.text());
}

#[test]
fn prune_deletes_exactly_what_retention_allows() {
    let dir = tempfile::tempdir().expect("backup dir");
    // No timestamps in these names: the modification time is the backup's time.
    let ages = [
        ("a.tar.gz", DAY),
        ("b.tar.gz", 10 * DAY),
        ("c.tar.gz", 29 * DAY),
        ("d.tar.gz", 31 * DAY),
        ("e tar with space.tar.gz", 45 * DAY),
        ("f.tar.gz", 90 * DAY),
    ];
    for (name, age) in ages {
        aged_file(&dir.path().join(name), b"\x1f\x8b\x08\x00", age);
    }
    aged_file(
        &dir.path().join("f.tar.gz.sha256"),
        format!("{}  f.tar.gz\n", "0".repeat(64)).as_bytes(),
        90 * DAY,
    );
    let keep = dir.path().join("notes.txt");
    aged_file(&keep, b"not a backup", 400 * DAY);
    let home = Home::new(&format!(
        r#"
[[backup]]
name = "files"
directory = "{}"
patterns = ["*.tar.gz"]
kind = "tar_gz"
keep_days = 30
"#,
        dir.path().display()
    ));
    let plan = home.run(&["run", "backup-prune", "--dry-run"]);
    assert_eq!(plan.code, Some(0), "{}", plan.text());
    let listed = plan.text();
    for expired in [
        "d.tar.gz",
        "e tar with space.tar.gz",
        "f.tar.gz",
        "f.tar.gz.sha256",
    ] {
        assert!(
            listed.contains(expired),
            "{expired} is in the plan: {listed}"
        );
    }
    for kept in ["a.tar.gz", "b.tar.gz", "c.tar.gz", "notes.txt"] {
        assert!(
            !listed.contains(kept),
            "{kept} is not in the plan: {listed}"
        );
    }
    let refused = home.run(&["run", "backup-prune"]);
    assert_eq!(
        refused.code,
        Some(2),
        "not without --yes: {}",
        refused.text()
    );
    assert_eq!(files_in(dir.path()).len(), 8, "nothing deleted unconfirmed");
    let read_only = home.run(&["--read-only", "run", "backup-prune", "--yes"]);
    assert_eq!(read_only.code, Some(2), "{}", read_only.text());
    assert_eq!(
        files_in(dir.path()).len(),
        8,
        "nothing deleted when read-only"
    );

    let pruned = home.run(&["run", "backup-prune", "--yes"]);
    assert_eq!(pruned.code, Some(0), "{}", pruned.text());
    assert_eq!(
        files_in(dir.path()),
        ["a.tar.gz", "b.tar.gz", "c.tar.gz", "notes.txt"]
    );
}

#[test]
fn a_set_is_critical_once_its_newest_backup_is_older_than_the_limit() {
    let stale = tempfile::tempdir().expect("dir");
    let fresh = tempfile::tempdir().expect("dir");
    aged_file(&stale.path().join("db.rdb"), b"REDIS0011", 30 * HOUR);
    aged_file(&stale.path().join("older.rdb"), b"REDIS0011", 50 * HOUR);
    aged_file(&fresh.path().join("db.rdb"), b"REDIS0011", 20 * HOUR);
    let home = Home::new(&format!(
        r#"
[[backup]]
name = "stale"
directory = "{}"
kind = "redis_rdb"

[[backup]]
name = "fresh"
directory = "{}"
kind = "redis_rdb"

[[backup]]
name = "gone"
directory = "{}/does-not-exist"
"#,
        stale.path().display(),
        fresh.path().display(),
        fresh.path().display()
    ));
    let (code, report) = home.json(&["backups", "--set", "fresh", "--format", "json"]);
    assert_eq!(code, Some(0), "20 h old is within 24 h: {report:#}");
    let (code, report) = home.json(&["backups", "--set", "stale", "--format", "json"]);
    assert_eq!(code, Some(2), "30 h old is past 24 h: {report:#}");
    let judged = set_report(&report, "stale");
    assert_eq!(judged["status"], "crit");
    assert_eq!(judged["report"]["stale"], true);
    let age = judged["report"]["newest_age"].as_i64().expect("age");
    assert!((30 * 3600 - 60..=30 * 3600 + 60).contains(&age), "{age}");
    let text = home.run(&["backups", "--set", "gone"]);
    assert_eq!(text.code, Some(2), "{}", text.text());
    assert!(
        text.stdout.contains("does-not-exist"),
        "the missing directory is named: {}",
        text.text()
    );
    let unknown = home.run(&["backups", "--set", "nope"]);
    assert_ne!(unknown.code, Some(0));
    assert!(
        unknown.stderr.contains("stale, fresh, gone"),
        "{}",
        unknown.text()
    );
}

/// A small real `.tar.gz` holding one file.
fn tar_gz(content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "data.txt", content)
        .expect("tar entry");
    let tar = builder.into_inner().expect("tar");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &tar).expect("gzip");
    encoder.finish().expect("gzip end")
}

#[test]
fn a_newer_backup_that_failed_verification_does_not_keep_the_set_fresh() {
    let dir = tempfile::tempdir().expect("dir");
    let good = tar_gz(&[b'x'; 64 * 1024]);
    aged_file(&dir.path().join("files-good.tar.gz"), &good, 30 * HOUR);
    // Cut short: a gzip stream that ends in the middle.
    aged_file(
        &dir.path().join("files-cut.tar.gz"),
        &good[..good.len() / 2],
        HOUR,
    );
    let home = Home::new(&format!(
        r#"
[[backup]]
name = "files"
directory = "{}"
kind = "tar_gz"
"#,
        dir.path().display()
    ));
    // Before verification nothing is known to be bad: the newer file counts.
    let (code, report) = home.json(&["backups", "--format", "json"]);
    assert_eq!(code, Some(0), "{report:#}");
    let verified = home.run(&["run", "backup-verify", "--param", "set=files"]);
    assert_ne!(verified.code, Some(0), "{}", verified.text());
    assert!(verified.stdout.contains("CORRUPT"), "{}", verified.text());
    // The plan says what the verification does: custom dumps are read whole, not listed.
    let said = verified.text();
    assert!(
        said.contains("read whole by pg_restore --file=/dev/null"),
        "{said}"
    );
    assert!(!said.contains("pg_restore --list"), "{said}");

    let (code, report) = home.json(&["backups", "--format", "json"]);
    assert_eq!(
        code,
        Some(2),
        "the newest good backup is 30 h old: {report:#}\nthe verification said: {said}"
    );
    let judged = &set_report(&report, "files")["report"];
    assert_eq!(judged["stale"], true, "{judged:#}");
    assert_eq!(judged["newer_corrupt"], 1, "{judged:#}");
    let age = judged["newest_age"].as_i64().expect("age");
    assert!((30 * 3600 - 60..=30 * 3600 + 60).contains(&age), "{age}");
    let text = home.run(&["backups"]);
    assert!(
        text.stdout
            .contains("newest good backup 1d 6h ago (limit 24h), 1 newer failed verification"),
        "{}",
        text.text()
    );
}
