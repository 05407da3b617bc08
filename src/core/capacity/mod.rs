//! Capacity projection (issue 16): how fast a size grows per day and what that means — the
//! days until a filesystem is full, or a database's size in 90 days — from a window of its
//! history. Pure: samples in, a [`Projection`] out; [`job`] reads the history and emits the
//! figures as metrics, [`log_dirs`] measures the log directories it projects.
//!
//! How a projection decides, in order:
//! 1. It keeps the last [`Settings::window`] (30 days) of finite samples. Fewer than
//!    [`MIN_POINTS`] or a span under [`MIN_SPAN_DAYS`] is [`Trend::Insufficient`].
//! 2. It looks for large drops (a fall within four steps of at least a fifth of the range and
//!    five typical steps, and not the return of a lone spike). Two or more, with the series regrowing at
//!    least half of what it lost, is a [`Trend::SawTooth`] — log rotation, VACUUM — and is
//!    *not* projected: a line through a saw-tooth says nothing. A
//!    single drop (a cleanup) restarts the window: only the points after it are fitted.
//! 3. It fits ordinary least squares (slope, its standard error, R²) and Theil–Sen (the median
//!    of all pairwise slopes, robust to a few wild points) in units per day.
//! 4. The band is Sen's distribution-free 95 % interval of the Theil–Sen slope (pairwise slopes
//!    ranked `(N ∓ 1.96·√(n(n−1)(2n+5)/18))/2`). It assumes independent residuals, so a series
//!    with a daily rhythm gets a band narrower than the truth; the level's own uncertainty is
//!    not in it.
//! 5. [`Trend::Growing`] / [`Trend::Shrinking`] need the whole band on one side of zero *and* a
//!    change over the horizon of at least 1 % of the scale (the capacity, else the level);
//!    anything else is [`Trend::Flat`].
//! 6. The level now is the Theil–Sen line at the latest sample. Days to full (when a capacity
//!    is given) is `(capacity − level) / slope` for a growing series, 0 when the latest sample
//!    is already at capacity, and absent otherwise — never negative, never infinite. The size
//!    at the horizon is `level + slope · horizon`, kept within `[0, capacity]`.

mod fit;
pub mod job;
pub mod log_dirs;
mod shape;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// Fewer points than this are not a trend.
pub const MIN_POINTS: usize = 8;
/// A window shorter than this is mostly one day's rhythm, not growth.
pub const MIN_SPAN_DAYS: f64 = 3.0;
/// A change over the horizon below this share of the scale is flat, however certain.
const FLAT_SHARE: f64 = 0.01;
/// A saw-tooth regrows at least this share of what its drops took away.
const SAW_TOOTH_REGROWTH: f64 = 0.5;
const SECONDS_PER_DAY: f64 = 86_400.0;

/// One observation of a size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub value: f64,
}

impl Sample {
    pub fn new(at: DateTime<Utc>, value: f64) -> Self {
        Sample { at, value }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How far back from the latest sample the fit looks.
    pub window: TimeDelta,
    /// The "size in N days" figure's N.
    pub horizon_days: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: TimeDelta::days(30),
            horizon_days: 90.0,
        }
    }
}

/// An estimate with its 95 % band (`low ≤ estimate ≤ high`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// Both fits, slopes in the series' unit per day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fit {
    pub ols_slope: f64,
    /// The standard error of the least-squares slope.
    pub ols_stderr: f64,
    pub r_squared: f64,
    /// The Theil–Sen slope and Sen's 95 % interval around it.
    pub slope: Band,
    /// The points Theil–Sen paired (medians of groups above 1024 points).
    pub theil_sen_points: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trend {
    Growing,
    Flat,
    Shrinking,
    /// Repeated large drops with regrowth in between; not projected.
    SawTooth {
        drops: usize,
        /// The mean time between drops.
        period_days: f64,
        /// The highest and lowest value in the window.
        peak: f64,
        trough: f64,
    },
    /// Too little to fit: fewer than [`MIN_POINTS`] points or under [`MIN_SPAN_DAYS`].
    Insufficient {
        points: usize,
        span_days: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    /// The latest sample's time: what the figures count from.
    pub as_of: DateTime<Utc>,
    /// The first sample fitted (after the window cut and any single cleanup).
    pub since: DateTime<Utc>,
    /// Samples fitted.
    pub points: usize,
    /// The latest sample's value.
    pub latest: f64,
    pub capacity: Option<f64>,
    pub trend: Trend,
    /// `None` for a saw-tooth and when there is too little to fit.
    pub fit: Option<Fit>,
    /// The Theil–Sen line at [`Projection::as_of`].
    pub level: Option<f64>,
    /// Days from `as_of` until `capacity`: see the module doc for when it is present.
    pub days_to_full: Option<Band>,
    /// The size `horizon_days` after `as_of`.
    pub at_horizon: Option<Band>,
    pub horizon_days: f64,
}

/// Projects `samples` (any order; non-finite values are skipped). `capacity` is the value at
/// which the series is full (100 for a percentage), if it has one. `None` when there is not a
/// single finite sample.
pub fn project(
    samples: &[Sample],
    capacity: Option<f64>,
    settings: &Settings,
) -> Option<Projection> {
    let mut series: Vec<Sample> = samples
        .iter()
        .filter(|sample| sample.value.is_finite())
        .copied()
        .collect();
    if !series.windows(2).all(|pair| pair[0].at <= pair[1].at) {
        series.sort_by_key(|sample| sample.at);
    }
    let last = *series.last()?;
    let start = series.partition_point(|sample| sample.at < last.at - settings.window);
    let series = &series[start..];
    let mut projection = Projection {
        as_of: last.at,
        since: series[0].at,
        points: series.len(),
        latest: last.value,
        capacity,
        trend: Trend::Flat,
        fit: None,
        level: None,
        days_to_full: None,
        at_horizon: None,
        horizon_days: settings.horizon_days,
    };
    let x: Vec<f64> = series
        .iter()
        .map(|sample| (sample.at - last.at).num_milliseconds() as f64 / 1000.0 / SECONDS_PER_DAY)
        .collect();
    let y: Vec<f64> = series.iter().map(|sample| sample.value).collect();
    let drops = shape::large_drops(&y);
    let dropped: f64 = drops.iter().map(|drop| drop.size).sum();
    let from = if drops.len() >= 2 && shape::total_rise(&y) >= SAW_TOOTH_REGROWTH * dropped {
        let (first, last_drop) = (drops[0].index, drops[drops.len() - 1].index);
        projection.trend = Trend::SawTooth {
            drops: drops.len(),
            period_days: (x[last_drop] - x[first]) / (drops.len() - 1) as f64,
            peak: y.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            trough: y.iter().copied().fold(f64::INFINITY, f64::min),
        };
        None
    } else if drops.len() == 1 {
        Some(drops[0].index)
    } else {
        Some(0)
    };
    if let Some(from) = from {
        let (x, y) = (&x[from..], &y[from..]);
        projection.since = series[from].at;
        projection.points = x.len();
        let span_days = -x[0];
        match fitted(x, y) {
            Some((fit, level)) if x.len() >= MIN_POINTS && span_days >= MIN_SPAN_DAYS => {
                project_fit(&mut projection, fit, level);
            }
            _ => {
                projection.trend = Trend::Insufficient {
                    points: x.len(),
                    span_days,
                }
            }
        }
    }
    if let Some(capacity) = capacity
        && last.value >= capacity
    {
        projection.days_to_full = Some(Band {
            estimate: 0.0,
            low: 0.0,
            high: 0.0,
        });
    }
    Some(projection)
}

fn fitted(x: &[f64], y: &[f64]) -> Option<(Fit, f64)> {
    let ols = fit::ols(x, y)?;
    let robust = fit::theil_sen(x, y)?;
    let level = fit::intercept(x, y, robust.slope);
    let fit = Fit {
        ols_slope: ols.slope,
        ols_stderr: ols.stderr,
        r_squared: ols.r_squared,
        slope: Band {
            estimate: robust.slope,
            low: robust.low,
            high: robust.high,
        },
        theil_sen_points: robust.points,
    };
    Some((fit, level))
}

fn project_fit(projection: &mut Projection, fit: Fit, level: f64) {
    let horizon = projection.horizon_days;
    let scale = projection.capacity.unwrap_or(level.abs());
    let material = fit.slope.estimate.abs() * horizon >= FLAT_SHARE * scale;
    projection.trend = if fit.slope.low > 0.0 && material {
        Trend::Growing
    } else if fit.slope.high < 0.0 && material {
        Trend::Shrinking
    } else {
        Trend::Flat
    };
    let bounded = |value: f64| {
        let value = value.max(0.0);
        projection
            .capacity
            .map_or(value, |capacity| value.min(capacity))
    };
    projection.at_horizon = Some(Band {
        estimate: bounded(level + fit.slope.estimate * horizon),
        low: bounded(level + fit.slope.low * horizon),
        high: bounded(level + fit.slope.high * horizon),
    });
    if let Some(capacity) = projection.capacity
        && projection.trend == Trend::Growing
    {
        let room = (capacity - level).max(0.0);
        projection.days_to_full = Some(Band {
            estimate: room / fit.slope.estimate,
            low: room / fit.slope.high,
            high: room / fit.slope.low,
        });
    }
    projection.fit = Some(fit);
    projection.level = Some(level);
}
