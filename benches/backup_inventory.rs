//! How long inventorying a backup directory of 100,000 files takes: the first scan (every file's
//! head read, page cache warm) and a rescan with the kind cache. Target: the first within 1 s.
//!
//!   cargo bench --bench backup_inventory
//!
//! `cargo test --all-targets` runs this too, without `--bench`; it then uses 2,000 files to stay
//! quick. `OPSDECK_BENCH_FILES=<n>` sets the count either way.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta};
use opsdeck::core::backups::inventory::{self, Inventory, KindCache};
use opsdeck::core::backups::{BackupSet, ExpectedKind, Freshness, Retention};

const BENCH_FILES: usize = 100_000;
const TEST_FILES: usize = 2_000;
/// One file in this many gets a `.sha256` sidecar.
const SIDECAR_EVERY: usize = 10;

fn file_count() -> Result<usize, String> {
    match std::env::var("OPSDECK_BENCH_FILES") {
        Ok(text) => text
            .parse()
            .map_err(|error| format!("OPSDECK_BENCH_FILES={text:?}: {error}")),
        Err(_) if std::env::args().any(|argument| argument == "--bench") => Ok(BENCH_FILES),
        Err(_) => Ok(TEST_FILES),
    }
}

fn pg_dump_gzip() -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n")?;
    encoder.finish()
}

/// `count` backups an hour apart, named the way `date +%Y%m%d_%H%M%S` names them.
fn populate(directory: &Path, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let content = pg_dump_gzip()?;
    let start = DateTime::from_timestamp(1_600_000_000, 0).ok_or("bad start time")?;
    for index in 0..count {
        let hours = i64::try_from(index)?;
        let time = start + TimeDelta::hours(hours);
        let name = format!("db_{}_{index}.sql.gz", time.format("%Y%m%d_%H%M%S"));
        std::fs::write(directory.join(&name), &content)?;
        if index % SIDECAR_EVERY == 0 {
            let digest = format!("{index:064x}");
            std::fs::write(
                directory.join(format!("{name}.sha256")),
                format!("{digest}  {name}\n"),
            )?;
        }
    }
    Ok(())
}

fn timed_scan(set: &BackupSet, cache: &mut KindCache) -> (Inventory, Duration) {
    let started = Instant::now();
    let inventory = inventory::scan(set, cache);
    (inventory, started.elapsed())
}

fn check(inventory: &Inventory, count: usize) -> Result<(), String> {
    if let Some(problem) = &inventory.problem {
        return Err(problem.clone());
    }
    if inventory.files.len() != count {
        return Err(format!(
            "found {} files, expected {count}",
            inventory.files.len()
        ));
    }
    let with_digest = inventory
        .files
        .iter()
        .filter(|file| {
            file.sidecar
                .as_ref()
                .is_some_and(|sidecar| sidecar.digest.is_some())
        })
        .count();
    if with_digest != count.div_ceil(SIDECAR_EVERY) {
        return Err(format!("{with_digest} files with a sidecar digest"));
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let count = file_count()?;
    let directory = tempfile::tempdir()?;
    populate(directory.path(), count)?;
    let set = BackupSet {
        name: "bench".into(),
        directory: directory.path().to_path_buf(),
        patterns: vec!["db_*.sql.gz".into()],
        kind: ExpectedKind::PgDumpGzip,
        freshness: Freshness::MaxAge(Duration::from_secs(86_400)),
        retention: Retention::Days(30),
        min_size: 0,
        encryption_required: false,
        create: None,
        prefix: "db".into(),
        restore: None,
    };
    let mut cache = KindCache::default();
    let (first, first_took) = timed_scan(&set, &mut cache);
    check(&first, count)?;
    let (second, second_took) = timed_scan(&set, &mut cache);
    check(&second, count)?;
    println!(
        "backup inventory: {count} files in {:.2} s (first scan), {:.2} s (rescan)",
        first_took.as_secs_f64(),
        second_took.as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("backup inventory bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}
