//! Backup verification against real PostgreSQL dumps, listed by the inventory: a plain dump
//! gzipped and a custom-format dump of a throwaway cluster verify as good with the cluster's own
//! `pg_restore`, and truncated copies, garbage and a wrong `.sha256` sidecar are caught.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use opsdeck::core::backups::inventory::{self, KindCache};
use opsdeck::core::backups::{
    BackupFile, BackupSet, BackupTools, DetectedKind, ExpectedKind, Freshness, Retention,
    VerifyResult,
};
use opsdeck::core::tasks::backups::verify::{VerifyOutcome, verify_file};
use support::PgServer;
use tokio_util::sync::CancellationToken;

fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn set(name: &str, directory: &Path, pattern: &str, kind: ExpectedKind) -> BackupSet {
    BackupSet {
        name: name.to_owned(),
        directory: directory.to_path_buf(),
        patterns: vec![pattern.to_owned()],
        kind,
        freshness: Freshness::MaxAge(Duration::from_secs(24 * 3600)),
        retention: Retention::Days(30),
        min_size: 0,
        encryption_required: false,
        create: None,
        prefix: "db".to_owned(),
        restore: None,
    }
}

/// The set's files as the inventory lists them, by file name.
fn scan(set: &BackupSet, cache: &mut KindCache) -> BTreeMap<String, BackupFile> {
    let inventory = inventory::scan(set, cache);
    assert_eq!(inventory.problem, None);
    inventory
        .files
        .into_iter()
        .map(|file| {
            let name = file
                .path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, file)
        })
        .collect()
}

/// `sha256sum <file> > <file>.sha256`, as a backup script would write it; returns the digest.
fn sha256sum_sidecar(path: &Path) -> String {
    let name = path.file_name().unwrap();
    let line = run(Command::new("sha256sum")
        .arg(name)
        .current_dir(path.parent().unwrap()));
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(".sha256");
    fs::write(PathBuf::from(sidecar), &line).unwrap();
    let text = String::from_utf8(line).unwrap();
    text.split_whitespace().next().unwrap().to_owned()
}

fn verify(file: &BackupFile, expected: ExpectedKind, tools: &BackupTools) -> VerifyOutcome {
    let mut reports = Vec::new();
    let outcome = verify_file(
        file,
        expected,
        tools,
        &mut |bytes| reports.push(bytes),
        &CancellationToken::new(),
    )
    .unwrap_or_else(|_| panic!("verifying {} was cancelled", file.path.display()));
    assert_eq!(reports.last(), Some(&file.size), "final progress report");
    outcome
}

/// The first half of `from`, as a full disk or a killed dump leaves it.
fn truncate_copy(from: &Path, to: &Path) {
    let data = fs::read(from).unwrap();
    fs::write(to, &data[..data.len() / 2]).unwrap();
}

#[test]
fn real_pg_dumps_verify_and_damaged_ones_do_not() {
    let server = PgServer::start();
    server.create_database("shop");
    run(server.client_command("psql").args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        "shop",
        "-c",
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL); \
         INSERT INTO items SELECT g, md5(g::text), g * 1.25 FROM generate_series(1, 20000) g;",
    ]));
    let dir = tempfile::tempdir().unwrap();
    let tools = BackupTools::new(Some(server.bin_dir()));

    // pg_dump shop | gzip > db_<ts>.sql.gz
    let sql = run(server.client_command("pg_dump").arg("shop"));
    let gz_path = dir.path().join("db_20250301T020000Z.sql.gz");
    let mut encoder = GzEncoder::new(fs::File::create(&gz_path).unwrap(), Compression::default());
    encoder.write_all(&sql).unwrap();
    encoder.finish().unwrap();

    // pg_dump -Fc -f db_<ts>.dump
    let custom_path = dir.path().join("db_20250301T020000Z.dump");
    run(server
        .client_command("pg_dump")
        .args(["-Fc", "-f"])
        .arg(&custom_path)
        .arg("shop"));

    let cut_gz_path = dir.path().join("db_20250302T020000Z.sql.gz");
    truncate_copy(&gz_path, &cut_gz_path);
    let cut_custom_path = dir.path().join("db_20250302T020000Z.dump");
    truncate_copy(&custom_path, &cut_custom_path);
    // Garbage with a dump's name (an HTML error page saved by a download script).
    fs::write(
        dir.path().join("x.sql.gz"),
        "<html>502 Bad Gateway</html>\n",
    )
    .unwrap();

    let gzip_set = set("sql", dir.path(), "*.sql.gz", ExpectedKind::PgDumpGzip);
    let custom_set = set("custom", dir.path(), "*.dump", ExpectedKind::PgDumpCustom);
    let mut cache = KindCache::default();
    let gzips = scan(&gzip_set, &mut cache);
    let customs = scan(&custom_set, &mut cache);
    assert_eq!(gzips.len(), 3, "{gzips:?}");
    assert_eq!(customs.len(), 2, "{customs:?}");

    let gz = &gzips["db_20250301T020000Z.sql.gz"];
    assert_eq!(gz.kind, DetectedKind::PgDumpPlainGzip);
    let outcome = verify(gz, ExpectedKind::PgDumpGzip, &tools);
    assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);
    assert!(
        outcome.message.contains("completion marker present"),
        "{}",
        outcome.message
    );
    assert_eq!(outcome.bytes_read, gz.size);

    let custom = &customs["db_20250301T020000Z.dump"];
    assert_eq!(custom.kind, DetectedKind::PgDumpCustom);
    let outcome = verify(custom, ExpectedKind::PgDumpCustom, &tools);
    assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);
    assert_eq!(outcome.message, "pg_restore read the whole dump");

    // A gzip cut in half, as a full disk leaves it.
    let outcome = verify(
        &gzips["db_20250302T020000Z.sql.gz"],
        ExpectedKind::PgDumpGzip,
        &tools,
    );
    assert_eq!(outcome.result, VerifyResult::Corrupt);
    assert!(
        outcome.message.starts_with("gzip: unexpected end of file"),
        "{}",
        outcome.message
    );

    // A custom dump cut in half: its table of contents is intact, so `pg_restore --list`
    // alone would pass it; reading the data is what catches it.
    let listing = Command::new(&tools.pg_restore)
        .arg("--list")
        .arg(&cut_custom_path)
        .output()
        .unwrap();
    assert!(
        listing.status.success(),
        "the truncated dump should still list; the test no longer shows why a listing is not \
         enough: {}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let outcome = verify(
        &customs["db_20250302T020000Z.dump"],
        ExpectedKind::PgDumpCustom,
        &tools,
    );
    assert_eq!(outcome.result, VerifyResult::Corrupt, "{}", outcome.message);
    assert!(
        outcome.message.starts_with("pg_restore: "),
        "{}",
        outcome.message
    );

    let garbage = &gzips["x.sql.gz"];
    assert_eq!(garbage.kind, DetectedKind::Unknown);
    let outcome = verify(garbage, ExpectedKind::PgDumpGzip, &tools);
    assert_eq!(outcome.result, VerifyResult::Corrupt);
    assert!(
        outcome.message.starts_with(
            "expected pg_dump gzip, found unknown data: not gzip data (starts with \"<html>502"
        ),
        "{}",
        outcome.message
    );

    // A sidecar written by sha256sum matches; one holding another file's digest makes a good
    // dump corrupt.
    let digest = sha256sum_sidecar(&gz_path);
    fs::write(
        dir.path().join("db_20250301T020000Z.dump.sha256"),
        format!("{digest}  db_20250301T020000Z.dump\n"),
    )
    .unwrap();
    let gzips = scan(&gzip_set, &mut cache);
    let customs = scan(&custom_set, &mut cache);

    let gz = &gzips["db_20250301T020000Z.sql.gz"];
    assert!(gz.sidecar.is_some(), "{gz:?}");
    let outcome = verify(gz, ExpectedKind::PgDumpGzip, &tools);
    assert_eq!(outcome.result, VerifyResult::Ok, "{}", outcome.message);
    assert!(
        outcome
            .message
            .ends_with("sha256 matches db_20250301T020000Z.sql.gz.sha256"),
        "{}",
        outcome.message
    );
    assert_eq!(outcome.sha256, Some(digest));

    let custom = &customs["db_20250301T020000Z.dump"];
    assert!(custom.sidecar.is_some(), "{custom:?}");
    let outcome = verify(custom, ExpectedKind::PgDumpCustom, &tools);
    assert_eq!(outcome.result, VerifyResult::Corrupt);
    assert!(
        outcome
            .message
            .starts_with("checksum mismatch: sidecar db_20250301T020000Z.dump.sha256 says "),
        "{}",
        outcome.message
    );
}
