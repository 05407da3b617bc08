//! How much room the metric history takes: a year of 200 metrics, one sample a minute each,
//! written through the real roll-up ([`history::record_batch`]: minutes gathered, written,
//! quarter hours and days derived) and pruned ([`history::prune`]) as the runner does, on SQLite
//! and on a throwaway PostgreSQL. Target: under 50 MiB on both.
//!
//!   cargo bench --bench history_size
//!
//! `cargo test --all-targets` runs this too, without `--bench`; it then fills 3 days to stay
//! quick. `OPSDECK_BENCH_DAYS=<n>` sets the days either way. PostgreSQL is started from the
//! system binaries as the tests do (tests/support); `OPSDECK_BENCH_SQLITE_ONLY=1` leaves it out.
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
//! stored sizes are the same (PostgreSQL's dead row versions from the runner's per-minute
//! rewrites are reclaimed by autovacuum and are not counted here).

#[path = "../tests/support/mod.rs"]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use opsdeck::core::history::{self, Resolution};
use opsdeck::core::runner::history_writer;
use opsdeck::core::store::{Store, StoreLocation};
use sqlx::Connection;

const METRICS: usize = 200;
const BENCH_DAYS: i64 = 365;
const TEST_DAYS: i64 = 3;
const BATCH_HOURS: i64 = 6;
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

/// A small deterministic generator: the same figures on every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn keys() -> Vec<String> {
    (0..METRICS)
        .map(|index| match index % 4 {
            0 => format!("disk.used_pct:/srv/volume{index}"),
            1 => format!("service.latency_ms:backend-{index}"),
            2 => format!("db.table_bytes:public.events_{index}"),
            _ => format!("net.rx_bytes_per_s:eth{index}"),
        })
        .collect()
}

/// Fills `days` days from `start` and prunes after each batch; returns how long it took.
async fn fill(store: &Store, start: DateTime<Utc>, days: i64) -> Result<Duration, String> {
    let keys = keys();
    let mut noise = Noise(42);
    let began = Instant::now();
    let minutes_per_batch = BATCH_HOURS * 60;
    let mut samples: Vec<(&str, DateTime<Utc>, f64)> =
        Vec::with_capacity(METRICS * usize::try_from(minutes_per_batch).unwrap_or(0));
    for batch in 0..days * 24 / BATCH_HOURS {
        samples.clear();
        for minute in 0..minutes_per_batch {
            let elapsed = batch * minutes_per_batch + minute;
            let at = start + TimeDelta::minutes(elapsed) + TimeDelta::seconds(7);
            let wave = (elapsed as f64 / 1440.0 * std::f64::consts::TAU).sin();
            for (index, key) in keys.iter().enumerate() {
                let scale = 10f64.powi(i32::try_from(index % 7).unwrap_or(0));
                let value = scale * (50.0 + 20.0 * wave + elapsed as f64 / 10_000.0)
                    + scale * 5.0 * noise.next();
                samples.push((key.as_str(), at, value));
            }
        }
        history::record_batch(store, &samples)
            .await
            .map_err(|error| error.to_string())?;
        let now = start + TimeDelta::minutes((batch + 1) * minutes_per_batch);
        history::prune(store, now)
            .await
            .map_err(|error| error.to_string())?;
    }
    Ok(began.elapsed())
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

/// CPU time this process has used (every thread: the runtime's and SQLite's).
fn cpu_time() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|error| error.to_string())?;
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
    };
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return Err("cannot read utime and stime from /proc/self/stat".to_owned());
    };
    let hertz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_secs_f64(
        (user + system) as f64 / hertz as f64,
    ))
}

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

async fn sqlite(days: i64, start: DateTime<Utc>) -> Result<u64, String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let path = dir.path().join("state.db");
    let store = Store::open(&StoreLocation::Sqlite(path.clone()))
        .await
        .map_err(|error| error.to_string())?;
    let took = fill(&store, start, days).await?;
    let held = points(&store, start, days).await?;
    // Closing the last connection checkpoints the write-ahead log into the file.
    store.close().await;
    let size = std::fs::metadata(&path)
        .map_err(|error| error.to_string())?
        .len();
    let wal = std::fs::metadata(path.with_extension("db-wal")).map_or(0, |meta| meta.len());
    println!(
        "history_size: SQLite, {days} days of {METRICS} metrics: file {} (+ WAL {}), filled in {:.1} s; one series holds {held}",
        mib(size),
        mib(wal),
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
    let took = fill(&store, start, days).await?;
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
    println!(
        "history_size: PostgreSQL, {days} days of {METRICS} metrics: metric_history with its indexes and TOAST {} ({} after VACUUM), filled in {:.1} s; one series holds {held}",
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
    let sqlite_only = std::env::var_os("OPSDECK_BENCH_SQLITE_ONLY").is_some();
    let result = runtime.block_on(async {
        let idle = idle_cost(start).await?;
        let mut sizes = vec![("SQLite", sqlite(days, start).await?)];
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
