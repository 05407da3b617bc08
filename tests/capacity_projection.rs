//! Capacity projections against series with known slopes (issue 16): linear, noisy (seeded),
//! with wild points, saw-tooth, flat, shrinking, a single cleanup, too short and already full.
//! Tolerances are stated at each assertion; noise is seeded, so every run sees the same series.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeDelta, Utc};
use opsdeck::core::capacity::{Projection, Sample, Settings, Trend, project};

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

fn end() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// `days` of samples every `step_minutes`, ending at [`end`], valued `value(day)` with day
/// counted back from the end (≤ 0).
fn series(days: i64, step_minutes: i64, mut value: impl FnMut(f64) -> f64) -> Vec<Sample> {
    let steps = days * 24 * 60 / step_minutes;
    (0..=steps)
        .map(|i| {
            let back = TimeDelta::minutes((steps - i) * step_minutes);
            let day = -(back.num_minutes() as f64) / 1440.0;
            Sample::new(end() - back, value(day))
        })
        .collect()
}

/// Seeded standard normal deviates (SplitMix64 and Box–Muller).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} is not within {tolerance} of {expected}"
    );
}

fn projected(samples: &[Sample], capacity: Option<f64>) -> Projection {
    project(samples, capacity, &Settings::default()).unwrap()
}

#[test]
fn a_linear_filesystem_is_full_when_the_line_says() {
    // 40 % thirty days ago, +0.5 %/day, 15-minute points (2881: Theil–Sen on group medians).
    let samples = series(30, 15, |day| 55.0 + 0.5 * day);
    let p = projected(&samples, Some(100.0));
    assert_eq!(p.trend, Trend::Growing);
    let fit = p.fit.unwrap();
    close(fit.slope.estimate, 0.5, 1e-9, "Theil–Sen slope");
    close(fit.ols_slope, 0.5, 1e-9, "OLS slope");
    close(fit.r_squared, 1.0, 1e-9, "R²");
    assert_eq!(fit.theil_sen_points, 1024);
    close(p.level.unwrap(), 55.0, 1e-9, "level");
    let full = p.days_to_full.unwrap();
    close(full.estimate, 90.0, 1e-6, "days to full");
    assert!(full.low <= full.estimate && full.estimate <= full.high);
    close(full.high - full.low, 0.0, 1e-6, "band of an exact line");
    close(
        p.at_horizon.unwrap().estimate,
        100.0,
        1e-9,
        "size in 90 days (capped)",
    );
    assert_eq!(p.points, 2881);
}

#[test]
fn two_years_of_daily_points_fit_only_the_last_thirty_days_unless_asked() {
    // Growth doubled 30 days ago: the default window sees only the recent rate.
    let samples = series(730, 1440, |day| {
        if day >= -30.0 {
            500.0 + 2.0 * (day + 30.0)
        } else {
            500.0 + (day + 30.0)
        }
    });
    let p = projected(&samples, None);
    assert_eq!(p.points, 31);
    close(p.fit.unwrap().slope.estimate, 2.0, 1e-9, "recent slope");
    close(
        p.at_horizon.unwrap().estimate,
        560.0 + 180.0,
        1e-6,
        "size in 90 days",
    );

    let whole = Settings {
        window: TimeDelta::days(730),
        ..Settings::default()
    };
    let p = project(&samples, None, &whole).unwrap();
    assert_eq!(p.points, 731);
    assert_eq!(
        p.fit.unwrap().theil_sen_points,
        731,
        "730 days are paired exactly"
    );
    close(
        p.fit.unwrap().slope.estimate,
        1.0,
        1e-9,
        "slope of the bulk",
    );
}

#[test]
fn a_noisy_database_grows_at_its_known_rate_within_the_band() {
    // 16 GiB now, +200 MiB/day, N(0, 300 MiB) hourly noise. The OLS slope's standard error is
    // 300/√(721·30²/12) ≈ 1.29 MiB/day, so ±5 % (10 MiB/day) is over seven of them.
    let mut noise = Noise(16);
    let samples = series(30, 60, |day| {
        16.0 * GIB + 200.0 * MIB * day + 300.0 * MIB * noise.normal()
    });
    let p = projected(&samples, None);
    assert_eq!(p.trend, Trend::Growing);
    let fit = p.fit.unwrap();
    close(fit.slope.estimate / MIB, 200.0, 10.0, "Theil–Sen MiB/day");
    close(fit.ols_slope / MIB, 200.0, 10.0, "OLS MiB/day");
    close(
        fit.ols_stderr / MIB,
        1.29,
        0.2,
        "OLS standard error MiB/day",
    );
    // Signal variance (200·30)²/12 = 3.0e6 MiB², noise 9e4: R² ≈ 0.971.
    close(fit.r_squared, 0.971, 0.01, "R²");
    assert!(
        fit.slope.low < 200.0 * MIB && 200.0 * MIB < fit.slope.high,
        "{fit:?}"
    );
    let horizon = p.at_horizon.unwrap();
    let truth = 16.0 * GIB + 200.0 * MIB * 90.0;
    close(
        horizon.estimate / GIB,
        truth / GIB,
        1.0,
        "size in 90 days GiB",
    );
    assert!(horizon.low <= horizon.estimate && horizon.estimate <= horizon.high);
    assert!(p.days_to_full.is_none(), "no capacity, no days to full");
}

#[test]
fn a_noisy_filesystem_has_days_to_full_within_three_days() {
    // 60 % now, +0.8 %/day, N(0, 1 %) every 15 minutes: full in 50 days.
    let mut noise = Noise(7);
    let samples = series(30, 15, |day| 60.0 + 0.8 * day + noise.normal());
    let p = projected(&samples, Some(100.0));
    assert_eq!(p.trend, Trend::Growing);
    let fit = p.fit.unwrap();
    close(fit.slope.estimate, 0.8, 0.02, "Theil–Sen %/day");
    // Signal variance (0.8·30)²/12 = 48, noise 1: R² = 48/49 ≈ 0.980.
    close(fit.r_squared, 0.980, 0.01, "R²");
    let full = p.days_to_full.unwrap();
    close(full.estimate, 50.0, 3.0, "days to full");
    assert!(
        full.low <= full.estimate && full.estimate <= full.high,
        "{full:?}"
    );
    assert!(full.high - full.low < 10.0, "band under ten days: {full:?}");
}

#[test]
fn wild_points_do_not_drag_theil_sen() {
    // +1/day with the last tenth of the hourly points 40 above the line (a bulk load later
    // removed, say): least squares tilts, Theil–Sen does not.
    let samples = series(30, 60, |day| {
        100.0 + day + if day > -3.0 { 40.0 } else { 0.0 }
    });
    let fit = projected(&samples, None).fit.unwrap();
    close(fit.slope.estimate, 1.0, 0.05, "Theil–Sen slope");
    assert!(
        (fit.ols_slope - 1.0).abs() > 0.5,
        "least squares should tilt: {}",
        fit.ols_slope
    );
}

#[test]
fn daily_log_rotation_is_a_saw_tooth_not_a_projection() {
    // A log directory: +2 GiB a day in 15-minute steps, rotated to 200 MiB every midnight,
    // with a little noise.
    let mut noise = Noise(3);
    let samples = series(30, 15, |day| {
        200.0 * MIB + 2.0 * GIB * (day - day.floor()) + 5.0 * MIB * noise.normal().abs()
    });
    let p = projected(&samples, Some(50.0 * GIB));
    let Trend::SawTooth {
        drops,
        period_days,
        peak,
        trough,
    } = p.trend
    else {
        panic!("expected a saw-tooth, got {:?}", p.trend);
    };
    assert!((29..=30).contains(&drops), "{drops} drops");
    close(period_days, 1.0, 0.01, "period in days");
    close(peak / GIB, 2.2, 0.05, "peak GiB");
    close(trough / MIB, 200.0, 10.0, "trough MiB");
    assert!(p.fit.is_none() && p.days_to_full.is_none() && p.at_horizon.is_none());
}

#[test]
fn weekly_vacuum_on_daily_points_is_a_saw_tooth() {
    // A table that grows 1 GiB a day and is VACUUM FULLed back to 3 GiB every seventh day.
    let samples = series(30, 1440, |day| {
        3.0 * GIB + GIB * (day + 30.0).rem_euclid(7.0)
    });
    let p = projected(&samples, None);
    let Trend::SawTooth {
        drops, period_days, ..
    } = p.trend
    else {
        panic!("expected a saw-tooth, got {:?}", p.trend);
    };
    assert_eq!(drops, 4);
    close(period_days, 7.0, 1e-9, "period in days");
}

#[test]
fn lone_spikes_are_not_a_saw_tooth() {
    // A flat 50 % with three one-point spikes to 90 %: the jump into each fall marks it as a spike's return.
    let samples = series(30, 60, |day| {
        let hour = ((day + 30.0) * 24.0).round() as i64;
        if [100, 300, 500].contains(&hour) {
            90.0
        } else {
            50.0
        }
    });
    let p = projected(&samples, Some(100.0));
    assert_eq!(p.trend, Trend::Flat);
    close(p.fit.unwrap().slope.estimate, 0.0, 1e-12, "Theil–Sen slope");
    assert!(p.days_to_full.is_none());
}

#[test]
fn a_constant_series_is_flat_and_never_fills() {
    let samples = series(30, 60, |_| 42.0);
    let p = projected(&samples, Some(100.0));
    assert_eq!(p.trend, Trend::Flat);
    let fit = p.fit.unwrap();
    assert_eq!(fit.slope.estimate, 0.0);
    assert_eq!(fit.ols_slope, 0.0);
    assert_eq!(
        fit.r_squared, 1.0,
        "a flat line describes a constant exactly (module doc)"
    );
    assert!(p.days_to_full.is_none());
    close(
        p.at_horizon.unwrap().estimate,
        42.0,
        1e-12,
        "size in 90 days",
    );
}

#[test]
fn a_noisy_flat_series_is_flat_with_a_low_r_squared() {
    let mut noise = Noise(11);
    let samples = series(30, 15, |_| 70.0 + 2.0 * noise.normal());
    let p = projected(&samples, Some(100.0));
    assert_eq!(p.trend, Trend::Flat);
    let fit = p.fit.unwrap();
    close(fit.slope.estimate, 0.0, 0.01, "Theil–Sen %/day");
    assert!(fit.r_squared < 0.01, "R² {}", fit.r_squared);
    assert!(p.days_to_full.is_none(), "flat is never 'full in N days'");
}

#[test]
fn a_shrinking_series_never_reports_negative_days_or_size() {
    // A database losing 100 MiB a day, 5 GiB now: in 90 days it would be below zero.
    let samples = series(30, 60, |day| 5.0 * GIB - 100.0 * MIB * day);
    let p = projected(&samples, None);
    assert_eq!(p.trend, Trend::Shrinking);
    close(p.fit.unwrap().slope.estimate / MIB, -100.0, 1e-6, "MiB/day");
    close(p.fit.unwrap().r_squared, 1.0, 1e-9, "R²");
    let horizon = p.at_horizon.unwrap();
    assert_eq!(
        (horizon.estimate, horizon.low, horizon.high),
        (0.0, 0.0, 0.0)
    );

    // 80 % thirty days ago, 65 % now.
    let disk = series(30, 60, |day| 65.0 - 0.5 * day);
    let p = projected(&disk, Some(100.0));
    assert_eq!(p.trend, Trend::Shrinking);
    assert!(
        p.days_to_full.is_none(),
        "shrinking is never 'full in -N days'"
    );
}

#[test]
fn a_single_cleanup_restarts_the_fit_after_it() {
    // +1 %/day, then 20 days ago a cleanup took 30 points off, then +0.25 %/day since.
    let samples = series(30, 60, |day| {
        if day < -20.0 {
            60.0 + (day + 20.0)
        } else {
            30.0 + 0.25 * (day + 20.0)
        }
    });
    let p = projected(&samples, Some(100.0));
    assert_eq!(p.trend, Trend::Growing);
    close(
        p.fit.unwrap().slope.estimate,
        0.25,
        1e-9,
        "slope since the cleanup",
    );
    close(
        (p.as_of - p.since).num_hours() as f64,
        20.0 * 24.0,
        1.0,
        "fitted hours",
    );
    close(
        p.days_to_full.unwrap().estimate,
        65.0 / 0.25,
        1e-6,
        "days to full",
    );
}

#[test]
fn too_little_history_says_so() {
    let few = series(2, 720, |day| 10.0 + day);
    let p = projected(&few, Some(100.0));
    assert_eq!(
        p.trend,
        Trend::Insufficient {
            points: 5,
            span_days: 2.0
        }
    );
    assert!(p.fit.is_none() && p.days_to_full.is_none() && p.at_horizon.is_none());

    let short = series(2, 15, |day| 10.0 + day);
    assert!(matches!(
        projected(&short, Some(100.0)).trend,
        Trend::Insufficient { points: 193, .. }
    ));
    assert!(project(&[], None, &Settings::default()).is_none());
}

#[test]
fn a_full_filesystem_is_full_now_whatever_its_trend() {
    let samples = series(30, 60, |day| (100.0 + day).clamp(99.0, 100.0));
    let p = projected(&samples, Some(100.0));
    let full = p.days_to_full.unwrap();
    assert_eq!((full.estimate, full.low, full.high), (0.0, 0.0, 0.0));
}

#[test]
fn order_and_missing_values_do_not_matter() {
    let mut samples = series(30, 60, |day| 55.0 + 0.5 * day);
    samples.reverse();
    samples.push(Sample::new(end() - TimeDelta::minutes(30), f64::NAN));
    let p = projected(&samples, Some(100.0));
    assert_eq!(p.points, 721);
    close(p.days_to_full.unwrap().estimate, 90.0, 1e-6, "days to full");
}
