//! Capacity projections from a real store's history (issue 16), on SQLite and PostgreSQL: 30
//! days of 15-minute points seeded with `history::record_batch` — a filesystem full in 20 days,
//! one full in 5, one rotated every day (saw-tooth), a flat one, one unmounted three days ago
//! and a growing database — read back and projected by the capacity job, asserted metric by
//! metric; then the runner's job emits the same figures and the built-in rule opens a warning
//! and a critical alert on `disk.days_to_full`, stored before they are shown. A log source's
//! directory is measured with its rotated files.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use opsdeck::core::capacity::job::{self, CapacityReport, JobTiming, NOT_WITHIN_DAYS};
use opsdeck::core::capacity::log_dirs::directory_bytes;
use opsdeck::core::capacity::{Settings, Trend};
use opsdeck::core::collectors::Sample;
use opsdeck::core::history;
use opsdeck::core::model::{Status, Unit};
use opsdeck::core::protocol::Event;
use opsdeck::core::reports;
use opsdeck::core::runner::{self, RunnerSettings};
use opsdeck::core::store::{Store, StoreLocation};
use support::runner::next;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// A series' value at `day` (≤ 0, days before the last point).
type Shape = fn(f64) -> f64;

/// The seeded series: key and shape.
fn series() -> Vec<(&'static str, Shape)> {
    vec![
        // 90 % now, +0.5 %/day: full in 20 days (warn).
        ("disk.used_pct:/data", |day| 90.0 + 0.5 * day),
        // 95 % now, +1 %/day: full in 5 days (crit).
        ("disk.used_pct:/fast", |day| 95.0 + day),
        // A log filesystem rotated every midnight: 20 % to 60 % each day.
        ("disk.used_pct:/logs", |day| {
            20.0 + 40.0 * (day - day.floor())
        }),
        ("disk.used_pct:/flat", |_| 40.0),
        // 10 GiB now, +200 MiB/day.
        ("db.bytes:app", |day| 10.0 * GIB + 200.0 * MIB * day),
    ]
}

/// 30 days of 15-minute samples of every series, ending at `end`.
async fn seed(store: &Store, end: DateTime<Utc>) {
    let steps: i32 = 30 * 96;
    let mut samples = Vec::new();
    for step in 0..=steps {
        // A batch rolls up what its own span closes, and minutes are kept 48 h: a day at a
        // time, as the runner would have written them.
        if step % 96 == 0 && !samples.is_empty() {
            history::record_batch(store, &samples).await.unwrap();
            samples.clear();
        }
        let at = end - TimeDelta::minutes(15 * i64::from(steps - step));
        let day = -f64::from(steps - step) / 96.0;
        for (key, value) in series() {
            samples.push((key, at, value(day)));
        }
        // A filesystem unmounted three days ago: not projected.
        if day <= -3.0 {
            samples.push(("disk.used_pct:/gone", at, 50.0 + day));
        }
    }
    history::record_batch(store, &samples).await.unwrap();
}

fn close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} is not within {tolerance} of {expected}"
    );
}

/// The report's metrics by series key, with their units.
fn metrics(report: &CapacityReport) -> HashMap<String, (f64, Unit)> {
    report
        .metrics()
        .into_iter()
        .map(|metric| (metric.key(), (metric.value, metric.unit)))
        .collect()
}

/// What every store must give: the projections and metrics of the seeded series.
fn assert_projected(report: &CapacityReport) {
    assert_eq!(report.error, None);
    let summary: Vec<String> = report
        .series
        .iter()
        .map(|series| {
            format!(
                "{}:{:?} {:?} points {} since {} as of {}",
                series.metric,
                series.instance,
                series.projection.trend,
                series.projection.points,
                series.projection.since,
                series.projection.as_of
            )
        })
        .collect();
    assert_eq!(report.series.len(), 5, "{summary:#?}");
    let metrics = metrics(report);
    // The history keeps values as f32 (7 significant digits), hence the tolerances below; the
    // last quarter hour may still be open when the batch ends, a few thousandths of a day.
    let (days, unit) = metrics["disk.days_to_full:/data"];
    assert_eq!(unit, Unit::Days);
    close(days, 20.0, 0.1, "/data days to full");
    close(
        metrics["disk.days_to_full:/fast"].0,
        5.0,
        0.05,
        "/fast days to full",
    );
    close(
        metrics["disk.growth_pct_per_day:/data"].0,
        0.5,
        1e-4,
        "/data growth %/day",
    );
    let data = report.find("disk.used_pct", Some("/data")).unwrap();
    close(
        data.projection.fit.unwrap().r_squared,
        1.0,
        1e-6,
        "/data R²",
    );
    assert_eq!(data.label(), "full in 20 d");

    let logs = report.find("disk.used_pct", Some("/logs")).unwrap();
    assert!(
        matches!(
            logs.projection.trend,
            Trend::SawTooth { drops: 29 | 30, .. }
        ),
        "{:?}",
        logs.projection.trend
    );
    assert_eq!(logs.label(), "saw-tooth");
    assert_eq!(metrics["disk.days_to_full:/logs"].0, NOT_WITHIN_DAYS);
    assert!(!metrics.contains_key("disk.growth_pct_per_day:/logs"));

    let flat = report.find("disk.used_pct", Some("/flat")).unwrap();
    assert_eq!(flat.projection.trend, Trend::Flat);
    assert_eq!(flat.label(), "flat");
    assert_eq!(metrics["disk.days_to_full:/flat"].0, NOT_WITHIN_DAYS);
    assert_eq!(metrics["disk.growth_pct_per_day:/flat"].0, 0.0);

    let (growth, unit) = metrics["db.growth_bytes_per_day:app"];
    assert_eq!(unit, Unit::BytesPerDay);
    close(growth / MIB, 200.0, 0.01, "database growth MiB/day");
    close(
        metrics["db.bytes_in_90d:app"].0 / GIB,
        (10.0 * GIB + 200.0 * MIB * 90.0) / GIB,
        0.01,
        "database size in 90 days GiB",
    );
    assert_eq!(
        report.find("db.bytes", Some("app")).unwrap().label(),
        "+200 MiB/d"
    );
    assert!(!metrics.contains_key("db.days_to_full:app"));
    assert!(report.find("disk.used_pct", Some("/gone")).is_none());
    assert!(!metrics.contains_key("disk.days_to_full:/gone"));
}

/// The end of the seeded history: the last whole quarter hour before now, so the runner's job
/// (which reads up to now) sees all of it.
fn seeded_end() -> DateTime<Utc> {
    Utc::now().duration_trunc(TimeDelta::minutes(15)).unwrap()
}

fn capacity_runner(store: &Store) -> runner::RunnerHandle {
    runner::spawn(
        RunnerSettings {
            rules: opsdeck::config::default_rules(),
            capacity: Some(JobTiming {
                interval: Duration::from_secs(3600),
                first_delay: Duration::ZERO,
            }),
            ..RunnerSettings::tasks_only(support::runner::no_tasks())
        },
        Some(store.clone()),
    )
}

/// The job read directly, then through the runner: the figures, then the alerts of the
/// built-in rule, each stored.
async fn exercise(store: Store) {
    let end = seeded_end();
    seed(&store, end).await;
    let report = job::run_once(&store, end, Settings::default()).await;
    assert_projected(&report);

    let mut runner = capacity_runner(&store);
    // The alerts are stored and told by their own task, so they may come before the report
    // that led to them: both are awaited, in either order.
    let mut report = None;
    let mut opened = HashMap::new();
    while report.is_none() || opened.len() < 2 {
        match next(&mut runner, Some).await {
            Event::Capacity(capacity) => report = Some(capacity),
            Event::AlertChanged(alert) if alert.metric == "disk.days_to_full" => {
                opened.insert(alert.instance.clone().unwrap(), alert);
            }
            _ => {}
        }
    }
    assert_projected(&report.unwrap());
    assert_eq!(opened["/data"].level, Status::Warn);
    assert_eq!(opened["/data"].threshold, 30.0);
    assert_eq!(opened["/fast"].level, Status::Crit);
    assert_eq!(opened["/fast"].threshold, 7.0);
    let stored: Vec<String> = store
        .open_alerts("test-host")
        .await
        .unwrap()
        .into_iter()
        .map(|alert| alert.key)
        .collect();
    assert!(
        stored.contains(&"disk.days_to_full:/data".to_owned()),
        "{stored:?}"
    );
    assert!(
        stored.contains(&"disk.days_to_full:/fast".to_owned()),
        "{stored:?}"
    );
    assert!(
        !stored
            .iter()
            .any(|key| key.ends_with("/logs") || key.ends_with("/flat"))
    );
    runner
        .requests
        .send(opsdeck::core::protocol::Request::Shutdown)
        .unwrap();
    runner.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_and_alerts_from_a_sqlite_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    exercise(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_and_alerts_from_a_postgresql_history() {
    let (_server, store) = support::postgres_store().await;
    exercise(store).await;
}

/// The report's capacity section comes from the same history and code as the job: yesterday's
/// report projects as of yesterday's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_report_shows_the_projections() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let now = seeded_end();
    seed(&store, now).await;
    let period = reports::period_for(reports::Kind::Daily, None, now, &Utc).unwrap();
    let inputs = reports::ReportInputs {
        host: "test-host".into(),
        services: Vec::new(),
        rules: &[],
        checklists: &[],
        live: reports::Live::default(),
    };
    let report = reports::build(&store, &inputs, &period, now, &Utc)
        .await
        .unwrap();
    let capacity = &report.capacity;
    assert_eq!(capacity.note, None, "{capacity:#?}");
    let line = |key: &str| {
        capacity
            .projections
            .iter()
            .find(|line| line.key == key)
            .unwrap_or_else(|| panic!("no projection of {key}: {capacity:#?}"))
    };
    // At yesterday's end /data stood a little below 90 %, growing 0.5 % a day.
    let behind_days = (now - period.end).num_minutes() as f64 / 1440.0;
    close(
        line("disk.used_pct:/data").days_to_full.unwrap(),
        20.0 + behind_days,
        0.5,
        "/data's days to full as of the period's end",
    );
    close(
        line("disk.used_pct:/data").growth_per_day.unwrap(),
        0.5,
        0.01,
        "/data's growth",
    );
    assert_eq!(line("disk.used_pct:/data").unit, Unit::Percent);
    assert!(line("disk.used_pct:/logs").saw_tooth);
    assert_eq!(line("disk.used_pct:/logs").days_to_full, None);
    close(
        line("db.bytes:app").growth_per_day.unwrap(),
        200.0 * MIB,
        10.0 * MIB,
        "the database's growth",
    );
    assert_eq!(line("db.bytes:app").unit, Unit::Bytes);
    let markdown = reports::render(&report, reports::Format::Markdown);
    assert!(markdown.contains("Capacity projections"), "{markdown}");
    assert!(markdown.contains("saw-tooth, not projected"), "{markdown}");
}

#[tokio::test]
async fn an_empty_history_projects_nothing_and_says_nothing_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let report = job::run_once(&store, Utc::now(), Settings::default()).await;
    assert_eq!(report.error, None);
    assert!(report.series.is_empty() && report.metrics().is_empty());
}

#[test]
fn a_log_directory_counts_its_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("access.log"), vec![b'x'; 1000]).unwrap();
    std::fs::write(dir.path().join("access.log.1"), vec![b'x'; 300]).unwrap();
    std::fs::write(dir.path().join("access.log.2.gz"), vec![b'x'; 20]).unwrap();
    std::fs::create_dir(dir.path().join("old")).unwrap();
    std::fs::write(dir.path().join("old/ignored.log"), vec![b'x'; 5000]).unwrap();
    let pattern = format!("{}/*.log", dir.path().display());
    assert_eq!(directory_bytes(&pattern), Ok(1320));

    // Before the first file exists, the directory the pattern names is measured.
    let empty = tempfile::tempdir().unwrap();
    let pattern = format!("{}/app-*.log", empty.path().display());
    assert_eq!(directory_bytes(&pattern), Ok(0));
    let missing = format!("{}/nowhere/*.log", empty.path().display());
    let error = directory_bytes(&missing).unwrap_err();
    assert!(error.contains("nowhere"), "{error}");
}
