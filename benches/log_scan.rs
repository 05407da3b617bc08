//! How fast the log recipes scan: a generated nginx access log (combined format with
//! `$request_time`) run through the access-log recipe, and through signature normalising and
//! counting. Target (issue 15): the access-log recipe at ≥ 300 MB/s on one core.
//!
//!   cargo bench --bench log_scan
//!
//! `cargo test --all-targets` runs this too, without `--bench`; it then scans 2 MB to stay
//! quick. `OPSDECK_BENCH_MB=<n>` sets the size either way.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, TimeDelta};
use opsdeck::core::logs::recipes::{AccessStats, RequestTime};
use opsdeck::core::logs::signatures::SignatureTable;

const BENCH_MB: usize = 100;
const TEST_MB: usize = 2;

fn megabytes() -> Result<usize, String> {
    match std::env::var("OPSDECK_BENCH_MB") {
        Ok(text) => text
            .parse()
            .map_err(|error| format!("OPSDECK_BENCH_MB={text:?}: {error}")),
        Err(_) if std::env::args().any(|argument| argument == "--bench") => Ok(BENCH_MB),
        Err(_) => Ok(TEST_MB),
    }
}

/// Lines in the shape of a busy API's access log: a few hundred endpoints, ids in paths,
/// query strings, mostly 2xx.
fn generate(bytes: usize) -> Result<(String, u64), std::fmt::Error> {
    let statuses = [200, 200, 200, 200, 201, 204, 301, 304, 404, 500, 502];
    let mut log = String::with_capacity(bytes + 512);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lines = 0;
    while log.len() < bytes {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = state >> 16;
        let hour = (lines / 40_000) % 24;
        writeln!(
            log,
            "10.{}.{}.{} - - [05/Dec/2026:{hour:02}:{:02}:{:02} +0000] \"GET /api/v1/resource{}/{}?page={} HTTP/1.1\" {} {} \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0\" {}.{:03}",
            r % 7,
            (r >> 3) % 256,
            (r >> 11) % 256,
            (r >> 19) % 60,
            (r >> 25) % 60,
            (r >> 31) % 300,
            (r >> 7) % 100_000,
            (r >> 13) % 10,
            statuses[((r >> 17) % statuses.len() as u64) as usize],
            (r >> 5) % 50_000,
            (r >> 21) % 3,
            (r >> 9) % 1000,
        )?;
        lines += 1;
    }
    Ok((log, lines))
}

fn rate(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / 1_000_000.0 / seconds
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (log, lines) = generate(megabytes()? * 1_000_000)?;

    let started = Instant::now();
    let mut stats = AccessStats::default();
    for line in log.lines() {
        stats.observe_line(line, RequestTime::Seconds);
    }
    let recipe_seconds = started.elapsed().as_secs_f64();
    if stats.requests != lines || stats.unparsed != 0 {
        return Err(format!(
            "access recipe counted {} requests and {} unparsed of {lines} lines",
            stats.requests, stats.unparsed
        )
        .into());
    }

    let start = DateTime::from_timestamp(1_764_900_000, 0).ok_or("bad start time")?;
    let started = Instant::now();
    let mut table = SignatureTable::default();
    for (index, line) in log.lines().enumerate() {
        let at = start + TimeDelta::milliseconds(i64::try_from(index)?);
        table.record(line, at);
    }
    let signature_seconds = started.elapsed().as_secs_f64();

    println!(
        "log scan: {:.1} MB, {lines} lines; access-log recipe {:.0} MB/s (target ≥ 300), \
         signatures {:.0} MB/s ({} templates); p95 {:.1} ms",
        log.len() as f64 / 1_000_000.0,
        rate(log.len(), recipe_seconds),
        rate(log.len(), signature_seconds),
        table.len(),
        stats.p95_ms().unwrap_or(0.0),
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("log scan bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}
