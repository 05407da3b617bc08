//! How much room the metric history takes: a year of 200 metrics, one sample a minute each,
//! written through the real roll-up ([`history::record_batch`]: minutes gathered, written,
//! quarter hours and days derived) and pruned ([`history::prune`]) as the runner does, on SQLite
//! and on a throwaway PostgreSQL. Target: under 50 MiB on both.
//!
//!   cargo bench --bench history_size
//!
//! `cargo test --all-targets` runs this too, without `--bench`; it then fills 3 days to stay
//! quick. `OPSDECK_BENCH_DAYS=<n>` sets the days either way. PostgreSQL is started from the
//! system binaries as the tests do (tests/support); `OPSDECK_BENCH_SQLITE_ONLY=1` leaves it out,
//! `OPSDECK_BENCH_POSTGRES_ONLY=1` measures it alone (without the idle cost).
//!
//! It also gives the idle cost of writing history: an idle console's 40 gauge metrics sampled
//! every second for six simulated hours, through the runner's own writer
//! ([`history_writer::Writer`]: gathered, written each minute, rolled up each quarter hour,
//! pruned hourly) on SQLite, as the process's CPU time over the simulated time. Target: at most
//! 0.1 % of a core.
//!
//! The samples are noisy on purpose (a daily wave, a slow drift and pseudo-random noise in every
//! value), so no point is cheaper to keep than a real one. Each batch is six hours of all 200
//! metrics; the chunks a batch writes are the ones the runner writes minute by minute, so the
//! stored sizes are the same. On PostgreSQL a plain `VACUUM` follows each batch, as autovacuum
//! would many times over in six real hours (see `common/history_fill.rs`); the size is taken as
//! the fill leaves it.

#[path = "../tests/support/mod.rs"]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod support;

#[path = "common/cpu_time.rs"]
mod cpu_time;
#[path = "common/history_fill.rs"]
mod history_fill;

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cpu_time::cpu_time;
use history_fill::{METRICS, Noise, fill, keys};
use opsdeck::core::history::{self, Resolution};
use opsdeck::core::runner::history_writer;
use opsdeck::core::store::{Store, StoreLocation};
use sqlx::Connection;

const BENCH_DAYS: i64 = 365;
const TEST_DAYS: i64 = 3;
const TARGET_BYTES: u64 = 50 * 1024 * 1024;

fn days() -> Result<i64, String> {
    match std::env::var("OPSDECK_BENCH_DAYS") {
        Ok(text) => text
            .parse()
            .map_err(|error| format!("OPSDECK_BENCH_DAYS={text:?}: {error}")),
        Err(_) if std::env::args().any(|argument| argument == "--bench") => Ok(BENCH_DAYS),
        Err(_) => Ok(TEST_DAYS),
    }
}

/// Points of each tier the store holds for one series, as a check that the fill went through
/// every tier.
async fn points(store: &Store, start: DateTime<Utc>, days: i64) -> Result<String, String> {
    let key = &keys()[0];
    let mut counts = Vec::new();
    for resolution in Resolution::ALL {
        let read = history::read_series(
            store,
            key,
            resolution,
            start,
            start + TimeDelta::days(days + 1),
        )
        .await
        .map_err(|error| error.to_string())?;
        counts.push(format!("{resolution:?} {}", read.len()));
    }
    Ok(counts.join(", "))
}

/// The idle console's gauges: CPU, memory, swap, load, a few filesystems and interfaces.
const IDLE_METRICS: usize = 40;
const IDLE_HOURS: i64 = 6;
const IDLE_TARGET_PCT: f64 = 0.1;

/// The writer's CPU time for `IDLE_HOURS` of an idle console, in percent of one core.
async fn idle_cost(start: DateTime<Utc>) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .map_err(|error| error.to_string())?;
    let keys: Vec<String> = (0..IDLE_METRICS)
        .map(|index| format!("gauge.{index}:instance"))
        .collect();
    let mut noise = Noise(7);
    let mut writer = history_writer::Writer::default();
    let began = cpu_time()?;
    for minute in 0..IDLE_HOURS * 60 {
        for second in 0..60 {
            let at = start + TimeDelta::minutes(minute) + TimeDelta::seconds(second);
            // What the runner hands over per sample: owned keys and values.
            let recorded = history_writer::Recorded {
                at,
                values: keys
                    .iter()
                    .map(|key| (key.clone(), 100.0 * noise.next()))
                    .collect(),
            };
            writer.record(&recorded);
        }
        let tick = start + TimeDelta::minutes(minute + 1) + TimeDelta::seconds(1);
        writer
            .tick(&store, tick)
            .await
            .map_err(|error| error.to_string())?;
    }
    let used = cpu_time()? - began;
    store.close().await;
    let simulated = Duration::from_secs(u64::try_from(IDLE_HOURS * 3600).unwrap_or(1));
    let percent = used.as_secs_f64() / simulated.as_secs_f64() * 100.0;
    println!(
        "history_size: idle cost, {IDLE_METRICS} metrics every second for {IDLE_HOURS} simulated hours: {:.2} s of CPU, {percent:.4} % of a core (target <= {IDLE_TARGET_PCT} %)",
        used.as_secs_f64()
    );
    Ok(percent)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// The points' own bytes per tier, as stored (packed), beside the store's total.
async fn payload(url: &str) -> Result<String, String> {
    let mut connection = sqlx::AnyConnection::connect(url)
        .await
        .map_err(|error| error.to_string())?;
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT resolution, CAST(count(*) AS BIGINT), CAST(sum(length(points)) AS BIGINT)
         FROM metric_history GROUP BY resolution ORDER BY resolution",
    )
    .fetch_all(&mut connection)
    .await
    .map_err(|error| error.to_string())?;
    let names = ["minutes", "quarter hours", "days"];
    let tiers: Vec<String> = rows
        .iter()
        .map(|(resolution, chunks, bytes)| {
            let name = usize::try_from(*resolution)
                .ok()
                .and_then(|index| names.get(index))
                .unwrap_or(&"?");
            format!(
                "{name} {} in {chunks} chunks",
                mib(u64::try_from(*bytes).unwrap_or(0))
            )
        })
        .collect();
    let total: i64 = rows.iter().map(|(_, _, bytes)| bytes).sum();
    Ok(format!(
        "points {} ({})",
        mib(u64::try_from(total).unwrap_or(0)),
        tiers.join(", ")
    ))
}

async fn sqlite(days: i64, start: DateTime<Utc>) -> Result<u64, String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let path = dir.path().join("state.db");
    let store = Store::open(&StoreLocation::Sqlite(path.clone()))
        .await
        .map_err(|error| error.to_string())?;
    let took = fill(&store, start, days, true, None).await?;
    let held = points(&store, start, days).await?;
    // Closing the last connection checkpoints the write-ahead log into the file.
    store.close().await;
    let size = std::fs::metadata(&path)
        .map_err(|error| error.to_string())?
        .len();
    let wal = std::fs::metadata(path.with_extension("db-wal")).map_or(0, |meta| meta.len());
    let url = format!("sqlite://{}", path.display());
    let points = payload(&url).await?;
    let mut connection = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|error| error.to_string())?;
    let free: i64 = sqlx::query_scalar(
        "SELECT freelist_count * page_size FROM pragma_freelist_count, pragma_page_size",
    )
    .fetch_one(&mut connection)
    .await
    .map_err(|error| error.to_string())?;
    println!(
        "history_size: SQLite, {days} days of {METRICS} metrics: file {} (+ WAL {}, free pages in it {}), filled in {:.1} s; {points}; one series holds {held}",
        mib(size),
        mib(wal),
        mib(u64::try_from(free).unwrap_or(0)),
        took.as_secs_f64()
    );
    Ok(size + wal)
}

async fn postgres(days: i64, start: DateTime<Utc>) -> Result<u64, String> {
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("opsdeck");
        server
    })
    .await
    .map_err(|error| error.to_string())?;
    let url = server.url_for("opsdeck");
    let store = Store::open(&StoreLocation::Postgres(url.clone()))
        .await
        .map_err(|error| error.to_string())?;
    let mut vacuum = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|error| error.to_string())?;
    let took = fill(&store, start, days, true, Some(&mut vacuum)).await?;
    let held = points(&store, start, days).await?;
    store.close().await;
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .map_err(|error| error.to_string())?;
    let size = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let before: i64 = size("SELECT pg_total_relation_size('metric_history')")
        .fetch_one(&mut connection)
        .await
        .map_err(|error| error.to_string())?;
    // What the table settles to once autovacuum has had its turn.
    sqlx::raw_sql("VACUUM metric_history")
        .execute(&mut connection)
        .await
        .map_err(|error| error.to_string())?;
    let after: i64 = size("SELECT pg_total_relation_size('metric_history')")
        .fetch_one(&mut connection)
        .await
        .map_err(|error| error.to_string())?;
    let points = payload(&url).await?;
    println!(
        "history_size: PostgreSQL, {days} days of {METRICS} metrics: metric_history with its indexes and TOAST {} ({} after VACUUM), filled in {:.1} s; {points}; one series holds {held}",
        mib(u64::try_from(before).unwrap_or(0)),
        mib(u64::try_from(after).unwrap_or(0)),
        took.as_secs_f64()
    );
    drop(server);
    Ok(u64::try_from(before).unwrap_or(0))
}

fn main() -> ExitCode {
    let days = match days() {
        Ok(days) => days,
        Err(message) => {
            eprintln!("history_size: {message}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("history_size: {error}");
            return ExitCode::FAILURE;
        }
    };
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single();
    let Some(start) = start else {
        return ExitCode::FAILURE;
    };
    let only = |name: &str| std::env::var_os(name).is_some();
    let (sqlite_only, postgres_only) = (
        only("OPSDECK_BENCH_SQLITE_ONLY"),
        only("OPSDECK_BENCH_POSTGRES_ONLY"),
    );
    let result = runtime.block_on(async {
        let mut idle = 0.0;
        let mut sizes = Vec::new();
        if !postgres_only {
            idle = idle_cost(start).await?;
            sizes.push(("SQLite", sqlite(days, start).await?));
        }
        if !sqlite_only {
            sizes.push(("PostgreSQL", postgres(days, start).await?));
        }
        Ok::<_, String>((idle, sizes))
    });
    match result {
        Ok((idle, _)) if idle > IDLE_TARGET_PCT => {
            eprintln!(
                "history_size: writing history costs {idle:.4} % of a core, over the {IDLE_TARGET_PCT} % target"
            );
            ExitCode::FAILURE
        }
        Ok((_, sizes)) => {
            let over: Vec<_> = sizes
                .iter()
                .filter(|(_, size)| *size > TARGET_BYTES)
                .collect();
            if over.is_empty() {
                println!("history_size: every store is under {}", mib(TARGET_BYTES));
                ExitCode::SUCCESS
            } else {
                for (backend, size) in over {
                    eprintln!(
                        "history_size: {backend} takes {}, over the {} target",
                        mib(*size),
                        mib(TARGET_BYTES)
                    );
                }
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("history_size: {message}");
            ExitCode::FAILURE
        }
    }
}
