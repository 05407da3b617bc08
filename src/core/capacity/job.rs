//! The capacity job: every 15 minutes, and once shortly after start, it reads the last 30 days
//! of every size series from the history (15-minute points), projects each one off the async
//! threads, and hands the runner a [`CapacityReport`] whose metrics go through the one judge
//! like any other sample (`disk.days_to_full` has a built-in rule: warn < 30, crit < 7).
//!
//! Which series, and what each becomes, is [`FAMILIES`]. A point stands for its period by its
//! `max`: the fullest a filesystem was in those 15 minutes is what fills it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::{Projection, Sample as SizeSample, Settings, Trend, project};
use crate::core::collectors::{Collector, Sample};
use crate::core::history::{self, Point, Resolution};
use crate::core::model::{Metric, Unit, now};
use crate::core::store::Store;

/// When the job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTiming {
    pub interval: Duration,
    /// The first round waits this long, so it does not compete with the console's start.
    pub first_delay: Duration,
}

impl Default for JobTiming {
    /// Every 15 minutes (a 15-minute point is the finest the projections read), first after
    /// 20 seconds.
    fn default() -> Self {
        JobTiming {
            interval: Duration::from_secs(15 * 60),
            first_delay: Duration::from_secs(20),
        }
    }
}
/// `disk.days_to_full` of a filesystem that is not filling up (flat, shrinking, saw-tooth):
/// "not within ten years". Growing ones are capped here too, so a rule sees one scale.
pub const NOT_WITHIN_DAYS: f64 = 3650.0;

/// A series whose latest point is older than this is not projected.
const STALE_AFTER: TimeDelta = TimeDelta::days(1);

/// A size series and the figures projected from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The metric whose history is read, e.g. `disk.used_pct`.
    pub source: &'static str,
    /// What the series is full at (100 for a percentage), if anything.
    pub capacity: Option<u32>,
    /// The Theil–Sen growth per day.
    pub growth: &'static str,
    pub growth_unit: Unit,
    /// Days until full (with a capacity) or the size in 90 days (without).
    pub outlook: &'static str,
    pub outlook_unit: Unit,
}

pub const FAMILIES: [Family; 5] = [
    Family {
        source: "disk.used_pct",
        capacity: Some(100),
        growth: "disk.growth_pct_per_day",
        growth_unit: Unit::PercentPerDay,
        outlook: "disk.days_to_full",
        outlook_unit: Unit::Days,
    },
    Family {
        source: "db.bytes",
        capacity: None,
        growth: "db.growth_bytes_per_day",
        growth_unit: Unit::BytesPerDay,
        outlook: "db.bytes_in_90d",
        outlook_unit: Unit::Bytes,
    },
    Family {
        source: "db.table_bytes",
        capacity: None,
        growth: "db.table_growth_bytes_per_day",
        growth_unit: Unit::BytesPerDay,
        outlook: "db.table_bytes_in_90d",
        outlook_unit: Unit::Bytes,
    },
    Family {
        source: "backup.total_bytes",
        capacity: None,
        growth: "backup.growth_bytes_per_day",
        growth_unit: Unit::BytesPerDay,
        outlook: "backup.bytes_in_90d",
        outlook_unit: Unit::Bytes,
    },
    Family {
        source: "log.dir_bytes",
        capacity: None,
        growth: "log.dir_growth_bytes_per_day",
        growth_unit: Unit::BytesPerDay,
        outlook: "log.dir_bytes_in_90d",
        outlook_unit: Unit::Bytes,
    },
];

/// The metrics the job emits (instance = the source's instance), and the log directories'
/// size it projects ([`super::log_dirs`]), for rules and checklists.
pub const CAPACITY_METRICS: &[&str] = &[
    "log.dir_bytes",
    "disk.days_to_full",
    "disk.growth_pct_per_day",
    "db.growth_bytes_per_day",
    "db.bytes_in_90d",
    "db.table_growth_bytes_per_day",
    "db.table_bytes_in_90d",
    "backup.growth_bytes_per_day",
    "backup.bytes_in_90d",
    "log.dir_growth_bytes_per_day",
    "log.dir_bytes_in_90d",
];

/// One series' projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesProjection {
    /// The source metric, e.g. `disk.used_pct`.
    pub metric: &'static str,
    /// e.g. `/var`; `None` for a series without an instance.
    pub instance: Option<String>,
    pub projection: Projection,
}

impl SeriesProjection {
    fn family(&self) -> Option<&'static Family> {
        FAMILIES.iter().find(|family| family.source == self.metric)
    }

    /// The figure for a pane, e.g. `full in 23 d`, `+1.2 GiB/d`, `saw-tooth`, `flat`.
    pub fn label(&self) -> String {
        let projection = &self.projection;
        if let Some(full) = &projection.days_to_full {
            return if full.estimate <= 0.0 {
                "full now".to_owned()
            } else if full.estimate >= NOT_WITHIN_DAYS {
                "full in > 10 y".to_owned()
            } else {
                format!("full in {:.0} d", full.estimate)
            };
        }
        let unit = self
            .family()
            .map_or(Unit::Count, |family| family.growth_unit);
        match &projection.trend {
            Trend::SawTooth { .. } => "saw-tooth".to_owned(),
            Trend::Insufficient { .. } => "too little history".to_owned(),
            Trend::Flat => "flat".to_owned(),
            Trend::Shrinking | Trend::Growing => projection.fit.map_or_else(String::new, |fit| {
                crate::core::checks::rules::format_value(fit.slope.estimate, unit)
            }),
        }
    }

    /// The metrics this projection is: the growth while there is a fit, the outlook while
    /// there is one (a filesystem that is not filling up is [`NOT_WITHIN_DAYS`]); nothing
    /// while there is too little history.
    fn metrics(&self, family: &Family) -> Vec<Metric> {
        let projection = &self.projection;
        let metric = |name: &'static str, value: f64, unit: Unit| Metric {
            name,
            instance: self.instance.clone(),
            value,
            unit,
        };
        let mut metrics = Vec::new();
        if let Some(fit) = &projection.fit {
            metrics.push(metric(
                family.growth,
                fit.slope.estimate,
                family.growth_unit,
            ));
        }
        let outlook = if family.capacity.is_some() {
            match (&projection.days_to_full, &projection.trend) {
                (Some(full), _) => Some(full.estimate.min(NOT_WITHIN_DAYS)),
                (None, Trend::Insufficient { .. }) => None,
                (None, _) => Some(NOT_WITHIN_DAYS),
            }
        } else {
            projection.at_horizon.map(|size| size.estimate)
        };
        if let Some(value) = outlook {
            metrics.push(metric(family.outlook, value, family.outlook_unit));
        }
        metrics
    }
}

/// One round of the job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityReport {
    pub taken_at: DateTime<Utc>,
    /// By source metric, then instance.
    pub series: Vec<SeriesProjection>,
    /// Why the history could not be read this round (the figures are then empty).
    pub error: Option<String>,
}

impl CapacityReport {
    /// The projection of `metric`'s `instance`, if it was projected.
    pub fn find(&self, metric: &str, instance: Option<&str>) -> Option<&SeriesProjection> {
        self.series
            .iter()
            .find(|series| series.metric == metric && series.instance.as_deref() == instance)
    }
}

impl Sample for CapacityReport {
    fn metrics(&self) -> Vec<Metric> {
        self.series
            .iter()
            .filter_map(|series| Some(series.metrics(series.family()?)))
            .flatten()
            .collect()
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// Projects every family's series from the points read for them (`key` → points), at `now`.
pub fn project_points(
    read: &[(String, Vec<Point>)],
    now: DateTime<Utc>,
    settings: &Settings,
) -> CapacityReport {
    let mut series = Vec::new();
    for family in &FAMILIES {
        for (key, points) in read {
            let Some(instance) = instance_of(key, family.source) else {
                continue;
            };
            let samples: Vec<SizeSample> = points
                .iter()
                .map(|point| SizeSample::new(point.at, point.max))
                .collect();
            let capacity = family.capacity.map(f64::from);
            // A series not measured for a day (an unmounted filesystem, a dropped database)
            // has nothing to say about now.
            if let Some(projection) = project(&samples, capacity, settings)
                .filter(|projection| now - projection.as_of <= STALE_AFTER)
            {
                series.push(SeriesProjection {
                    metric: family.source,
                    instance,
                    projection,
                });
            }
        }
    }
    CapacityReport {
        taken_at: now,
        series,
        error: None,
    }
}

/// `Some(instance)` when `key` is a series of `metric` (`metric` or `metric:instance`).
fn instance_of(key: &str, metric: &str) -> Option<Option<String>> {
    let rest = key.strip_prefix(metric)?;
    match rest.strip_prefix(':') {
        Some(instance) => Some(Some(instance.to_owned())),
        None => rest.is_empty().then_some(None),
    }
}

/// Reads the last `settings.window` of every family's series at 15-minute resolution and
/// projects them off the async threads.
pub async fn run_once(store: &Store, now: DateTime<Utc>, settings: Settings) -> CapacityReport {
    match read(store, now, &settings).await {
        Ok(read) => {
            let projected =
                tokio::task::spawn_blocking(move || project_points(&read, now, &settings)).await;
            projected
                .unwrap_or_else(|error| failed(now, format!("the projection stopped: {error}")))
        }
        Err(message) => failed(now, message),
    }
}

async fn read(
    store: &Store,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Result<Vec<(String, Vec<Point>)>, String> {
    let mut keys = Vec::new();
    for family in &FAMILIES {
        let found = history::series_keys(store, family.source)
            .await
            .map_err(|error| error.to_string())?;
        keys.extend(
            found
                .into_iter()
                .filter(|key| instance_of(key, family.source).is_some()),
        );
    }
    // One query per series: reading every series' chunks to keep a few would read them all.
    let mut read = Vec::with_capacity(keys.len());
    for key in keys {
        let points = history::read_series(
            store,
            &key,
            Resolution::QuarterHour,
            now - settings.window,
            now,
        )
        .await
        .map_err(|error| error.to_string())?;
        if !points.is_empty() {
            read.push((key, points));
        }
    }
    Ok(read)
}

fn failed(now: DateTime<Utc>, message: String) -> CapacityReport {
    CapacityReport {
        taken_at: now,
        series: Vec::new(),
        error: Some(format!("capacity projections: {message}")),
    }
}

/// The job as a collector the runner drives.
pub struct CapacityJob {
    store: Store,
    settings: Settings,
    interval: Duration,
    first_delay: Option<Duration>,
}

impl CapacityJob {
    pub fn new(store: Store, timing: JobTiming) -> CapacityJob {
        CapacityJob {
            store,
            settings: Settings::default(),
            interval: timing.interval,
            first_delay: Some(timing.first_delay),
        }
    }
}

impl Collector for CapacityJob {
    type Sample = Box<CapacityReport>;

    fn id(&self) -> &str {
        "capacity"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn collect(&mut self) -> Option<Box<CapacityReport>> {
        if let Some(delay) = self.first_delay.take() {
            tokio::time::sleep(delay).await;
        }
        Some(Box::new(run_once(&self.store, now(), self.settings).await))
    }
}
