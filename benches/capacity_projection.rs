//! How long one capacity projection takes. Target (issue 16): ≤ 10 ms for two years of daily
//! points. Also timed: what the runner's capacity job does per series, the default 30-day
//! window over 15-minute points (2 881 points, Theil–Sen on 1 024 group medians).
//!
//!   cargo bench --bench capacity_projection
//!
//! `cargo test --all-targets` runs this too, without `--bench`; it then repeats each case
//! fewer times to stay quick. `OPSDECK_BENCH_ROUNDS=<n>` sets the repeats either way.

use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use opsdeck::core::capacity::{Sample, Settings, Trend, project};

const BENCH_ROUNDS: usize = 200;
const TEST_ROUNDS: usize = 3;

fn rounds() -> Result<usize, String> {
    match std::env::var("OPSDECK_BENCH_ROUNDS") {
        Ok(text) => text
            .parse()
            .map_err(|error| format!("OPSDECK_BENCH_ROUNDS={text:?}: {error}")),
        Err(_) if std::env::args().any(|argument| argument == "--bench") => Ok(BENCH_ROUNDS),
        Err(_) => Ok(TEST_ROUNDS),
    }
}

/// `count` points `step` apart ending at `end`: steady growth with a deterministic wobble, so
/// the pairwise slopes are all different (the selection does real work).
fn series(end: DateTime<Utc>, count: i64, step: TimeDelta) -> Vec<Sample> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..count)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let wobble = (state % 1000) as f64 / 1000.0 - 0.5;
            Sample::new(
                end - step * (count - 1 - i) as i32,
                40.0 + 0.02 * i as f64 + wobble,
            )
        })
        .collect()
}

/// Median and worst milliseconds of `rounds` projections of `samples`.
fn time(samples: &[Sample], settings: &Settings, rounds: usize) -> Result<(f64, f64), String> {
    let mut millis = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let projection = project(samples, Some(100.0), settings).ok_or("no projection")?;
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
        if projection.trend != Trend::Growing {
            return Err(format!("expected growth, got {:?}", projection.trend));
        }
    }
    millis.sort_by(f64::total_cmp);
    Ok((millis[millis.len() / 2], millis[millis.len() - 1]))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let rounds = rounds()?;
    let end = DateTime::from_timestamp(1_764_900_000, 0).ok_or("bad end time")?;

    let daily = series(end, 731, TimeDelta::days(1));
    let two_years = Settings {
        window: TimeDelta::days(730),
        ..Settings::default()
    };
    let (daily_median, daily_worst) = time(&daily, &two_years, rounds)?;

    let quarter_hours = series(end, 2881, TimeDelta::minutes(15));
    let (window_median, window_worst) = time(&quarter_hours, &Settings::default(), rounds)?;

    println!(
        "capacity projection, {rounds} rounds: 2 years of daily points (731) median {daily_median:.2} ms, \
         worst {daily_worst:.2} ms (target ≤ 10); 30 days of 15-minute points (2881) median \
         {window_median:.2} ms, worst {window_worst:.2} ms"
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("capacity projection bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}
