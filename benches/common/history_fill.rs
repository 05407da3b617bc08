//! A year's worth of realistic metric history for the benchmarks: 200 series named like the
//! console's (filesystems, services, tables, interfaces), one sample a minute each, noisy on
//! purpose (a daily wave, a slow drift and pseudo-random noise in every value) so no point is
//! cheaper to keep than a real one, written through the real roll-up in six-hour batches.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use opsdeck::core::history;
use opsdeck::core::store::Store;

pub const METRICS: usize = 200;
const BATCH_HOURS: i64 = 6;

/// A small deterministic generator: the same figures on every run.
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn keys() -> Vec<String> {
    (0..METRICS)
        .map(|index| match index % 4 {
            0 => format!("disk.used_pct:/srv/volume{index}"),
            1 => format!("service.latency_ms:backend-{index}"),
            2 => format!("db.table_bytes:public.events_{index}"),
            _ => format!("net.rx_bytes_per_s:eth{index}"),
        })
        .collect()
}

/// Fills `days` days from `start` and, with `prune`, prunes after each batch as the runner does
/// hourly; returns how long it took. With a PostgreSQL `vacuum` connection, each batch is
/// followed by a plain `VACUUM` of the history: the fill goes through six hours in a fraction
/// of a second, faster than autovacuum's one-minute rounds can follow, where over six real
/// hours of a console's rewrites autovacuum would have run many times.
pub async fn fill(
    store: &Store,
    start: DateTime<Utc>,
    days: i64,
    prune: bool,
    mut vacuum: Option<&mut sqlx::AnyConnection>,
) -> Result<Duration, String> {
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
        if prune {
            let now = start + TimeDelta::minutes((batch + 1) * minutes_per_batch);
            history::prune(store, now)
                .await
                .map_err(|error| error.to_string())?;
        }
        if let Some(connection) = vacuum.as_deref_mut() {
            sqlx::raw_sql("VACUUM metric_history")
                .execute(connection)
                .await
                .map_err(|error| error.to_string())?;
        }
    }
    Ok(began.elapsed())
}
