//! Metric history in the real store, on SQLite and on a throwaway PostgreSQL: samples rolled up
//! into minutes, quarter hours and days across a day boundary, pruned tier by tier, read back
//! after the store is reopened, written by the runner itself before it stops, rolled up after a
//! quiet spell, and kept apart per host in a shared store.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use opsdeck::core::collectors::resources::ResourceSettings;
use opsdeck::core::history::{
    self, Minutes, Point, Resolution, read_series, record_batch, series_keys,
};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, Resources, RunnerSettings, history_writer};
use opsdeck::core::store::{Store, StoreLocation};

const CPU: &str = "cpu.used_pct";
const DISK: &str = "disk.used_pct:/var";

/// 2026-03-01 00:00 UTC plus `minutes` and `seconds`.
fn at(minutes: i64, seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
        + TimeDelta::minutes(minutes)
        + TimeDelta::seconds(seconds)
}

/// Three samples a minute in `[from, until)` (minutes from 2026-03-01 00:00): in minute `m`,
/// `m`, `m + 1` and `m + 2` for the CPU, and twice that for the disk.
fn samples(from: i64, until: i64) -> Vec<(&'static str, DateTime<Utc>, f64)> {
    let mut samples = Vec::new();
    for minute in from..until {
        for step in 0..3 {
            let value = (minute + step) as f64;
            samples.push((CPU, at(minute, step * 20), value));
            samples.push((DISK, at(minute, step * 20), value * 2.0));
        }
    }
    samples
}

fn point(at: DateTime<Utc>, min: f64, max: f64, mean: f64, last: f64) -> Point {
    Point {
        at,
        min,
        max,
        mean,
        last,
    }
}

async fn read(store: &Store, key: &str, resolution: Resolution) -> Vec<Point> {
    let far = TimeDelta::days(3000);
    read_series(store, key, resolution, at(0, 0) - far, at(0, 0) + far)
        .await
        .unwrap()
}

async fn exercise(location: StoreLocation) {
    let store = Store::open(&location).await.unwrap();
    assert!(series_keys(&store, "").await.unwrap().is_empty());
    assert!(read(&store, CPU, Resolution::Minute).await.is_empty());

    // 23:50 on 1 March to 00:10 on 2 March: minute m of the day is 1430 + i.
    let day = 24 * 60;
    record_batch(&store, &samples(day - 10, day + 10))
        .await
        .unwrap();
    let minutes = read(&store, CPU, Resolution::Minute).await;
    assert_eq!(minutes.len(), 20);
    let first = (day - 10) as f64;
    assert_eq!(
        minutes[0],
        point(
            at(day - 10, 0),
            first,
            first + 2.0,
            first + 1.0,
            first + 2.0
        )
    );
    assert_eq!(minutes[19].at, at(day + 9, 0));
    // The batch closes the quarter hour from 23:45 and the first of March, not the open quarter
    // hour from 00:00 nor the second of March.
    let quarter = point(
        at(day - 15, 0),
        first,
        first + 11.0,
        first + 5.5,
        first + 11.0,
    );
    assert_eq!(
        read(&store, CPU, Resolution::QuarterHour).await,
        vec![quarter]
    );
    let first_day = point(at(0, 0), first, first + 11.0, first + 5.5, first + 11.0);
    assert_eq!(read(&store, CPU, Resolution::Day).await, vec![first_day]);
    let disk_day = read(&store, DISK, Resolution::Day).await;
    assert_eq!(disk_day[0].max, 2.0 * (first + 11.0));

    // The next ten minutes close 00:00-00:15: minutes 1440..1455, means m + 1.
    record_batch(&store, &samples(day + 10, day + 20))
        .await
        .unwrap();
    let quarters = read(&store, CPU, Resolution::QuarterHour).await;
    let midnight = day as f64;
    let second = point(
        at(day, 0),
        midnight,
        midnight + 16.0,
        midnight + 8.0,
        midnight + 16.0,
    );
    assert_eq!(quarters, vec![quarter, second]);
    // A window reads only the points starting in it.
    let window = read_series(
        &store,
        CPU,
        Resolution::Minute,
        at(day + 5, 0),
        at(day + 7, 30),
    )
    .await
    .unwrap();
    assert_eq!(
        window.iter().map(|point| point.at).collect::<Vec<_>>(),
        vec![at(day + 5, 0), at(day + 6, 0), at(day + 7, 0)]
    );
    // Rolling up again changes nothing: a period is derived once.
    history::roll_up(&store, at(day + 20, 0), TimeDelta::days(90))
        .await
        .unwrap();
    assert_eq!(read(&store, CPU, Resolution::QuarterHour).await, quarters);
    assert_eq!(
        series_keys(&store, "").await.unwrap(),
        vec![CPU.to_owned(), DISK.to_owned()]
    );
    assert_eq!(
        series_keys(&store, "disk.").await.unwrap(),
        vec![DISK.to_owned()]
    );
    assert!(series_keys(&store, "mem").await.unwrap().is_empty());
    store.close().await;

    // A new process reads the same history back, and a minute written at shutdown goes on
    // with the samples taken after the restart.
    let store = Store::open(&location).await.unwrap();
    assert_eq!(read(&store, CPU, Resolution::QuarterHour).await, quarters);
    assert_eq!(read(&store, CPU, Resolution::Day).await, vec![first_day]);
    let mut open = Minutes::default();
    open.add("load.1", at(day + 30, 10), 10.0);
    open.flush(&store, DateTime::<Utc>::MAX_UTC).await.unwrap();
    store.close().await;
    let store = Store::open(&location).await.unwrap();
    let mut open = Minutes::default();
    open.add("load.1", at(day + 30, 40), 20.0);
    open.flush(&store, at(day + 31, 0)).await.unwrap();
    assert_eq!(
        read(&store, "load.1", Resolution::Minute).await,
        vec![point(at(day + 30, 0), 10.0, 20.0, 15.0, 20.0)]
    );

    // Pruning goes tier by tier: two days on, the minutes of both days are gone.
    let now = at(day + 20, 0) + TimeDelta::hours(49);
    history::prune(&store, now).await.unwrap();
    assert!(read(&store, CPU, Resolution::Minute).await.is_empty());
    assert_eq!(read(&store, CPU, Resolution::QuarterHour).await, quarters);
    // 90 days after the first of March ended its quarter hours go; the second's stay.
    let now = at(day, 0) + TimeDelta::days(90) + TimeDelta::hours(12);
    history::prune(&store, now).await.unwrap();
    assert_eq!(
        read(&store, CPU, Resolution::QuarterHour).await,
        vec![second]
    );
    assert_eq!(read(&store, CPU, Resolution::Day).await, vec![first_day]);
    // Two years on, the days go too.
    history::prune(&store, at(0, 0) + TimeDelta::days(800))
        .await
        .unwrap();
    assert!(read(&store, CPU, Resolution::Day).await.is_empty());
    assert!(series_keys(&store, "").await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn history_rolls_up_prunes_and_survives_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(StoreLocation::Sqlite(dir.path().join("state.db"))).await;
}

#[tokio::test]
async fn history_rolls_up_prunes_and_survives_a_restart_on_postgres() {
    let (server, store) = support::postgres_store().await;
    store.close().await;
    exercise(StoreLocation::Postgres(server.url_for("opsdeck"))).await;
}

/// The first of March's last quarter hour and the day itself close while nothing is written:
/// the samples stop at 23:50 and start again at 01:10. The next batch derives both, and so does
/// the runner's writer, whether it kept ticking through the quiet spell or was restarted after it.
async fn quiet_spell(location: StoreLocation) {
    let store = Store::open(&location).await.unwrap();
    let day = 24 * 60;
    // Minutes 23:40-23:49, means m + 1: the quarter hours from 23:30 and 23:45 and the day.
    let quarters = vec![
        point(at(day - 30, 0), 1420.0, 1426.0, 1423.0, 1426.0),
        point(at(day - 15, 0), 1425.0, 1431.0, 1428.0, 1431.0),
    ];
    let first_day = vec![point(at(0, 0), 1420.0, 1431.0, 1425.5, 1431.0)];

    record_batch(&store, &samples(day - 20, day - 10))
        .await
        .unwrap();
    assert_eq!(
        read(&store, CPU, Resolution::QuarterHour).await,
        quarters[..1]
    );
    assert!(read(&store, CPU, Resolution::Day).await.is_empty());
    record_batch(&store, &samples(day + 70, day + 80))
        .await
        .unwrap();
    let after = read(&store, CPU, Resolution::QuarterHour).await;
    assert_eq!(after[..2], quarters, "{after:?}");
    assert_eq!(after[2].at, at(day + 60, 0));
    assert_eq!(read(&store, CPU, Resolution::Day).await, first_day);

    for restarted in [false, true] {
        let key = if restarted {
            "load.restarted"
        } else {
            "load.ticking"
        };
        let mut writer = history_writer::Writer::default();
        for minute in day - 20..day - 10 {
            writer.record(&history_writer::Recorded {
                at: at(minute, 30),
                values: vec![(key.to_owned(), (minute + 1) as f64)],
            });
        }
        writer.tick(&store, at(day - 10, 1)).await.unwrap();
        // A restart keeps the store and starts a new writer.
        let mut writer = if restarted {
            history_writer::Writer::default()
        } else {
            writer
        };
        let ticks = if restarted {
            vec![at(day + 80, 1)]
        } else {
            (day - 9..=day + 1).map(|minute| at(minute, 1)).collect()
        };
        for now in ticks {
            writer.tick(&store, now).await.unwrap();
        }
        let quarters = read(&store, key, Resolution::QuarterHour).await;
        assert_eq!(
            quarters.iter().map(|point| point.at).collect::<Vec<_>>(),
            vec![at(day - 30, 0), at(day - 15, 0)],
            "{key}"
        );
        assert_eq!(
            read(&store, key, Resolution::Day).await,
            vec![point(at(0, 0), 1421.0, 1430.0, 1425.5, 1430.0)],
            "{key}"
        );
    }
    store.close().await;
}

#[tokio::test]
async fn periods_closed_in_a_quiet_spell_are_rolled_up_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    quiet_spell(StoreLocation::Sqlite(dir.path().join("state.db"))).await;
}

#[tokio::test]
async fn periods_closed_in_a_quiet_spell_are_rolled_up_on_postgres() {
    let (server, store) = support::postgres_store().await;
    store.close().await;
    quiet_spell(StoreLocation::Postgres(server.url_for("opsdeck"))).await;
}

/// Hosts sharing one store keep their series apart, and the history written before the store
/// named hosts (host '', what migration 0014 gives the rows it finds) becomes the first host's
/// to open it.
async fn hosts(location: StoreLocation) {
    let open_as = |host: &'static str| {
        let location = location.clone();
        async move {
            Store::open(&location)
                .await
                .unwrap()
                .for_host(host)
                .await
                .unwrap()
        }
    };
    let unnamed = Store::open(&location).await.unwrap();
    record_batch(&unnamed, &samples(0, 20)).await.unwrap();
    let web1 = open_as("web-1").await;
    let web2 = open_as("web-2").await;
    assert_eq!(web1.host(), "web-1");
    assert!(series_keys(&unnamed, "").await.unwrap().is_empty());
    assert!(series_keys(&web2, "").await.unwrap().is_empty());
    assert_eq!(read(&web1, CPU, Resolution::Minute).await.len(), 20);

    // web-2 writes the same series over the same minutes, a thousand higher.
    let higher: Vec<_> = samples(0, 20)
        .into_iter()
        .map(|(key, at, value)| (key, at, value + 1000.0))
        .collect();
    record_batch(&web2, &higher).await.unwrap();
    for (store, offset) in [(&web1, 0.0), (&web2, 1000.0)] {
        let minutes = read(store, CPU, Resolution::Minute).await;
        assert_eq!(minutes.len(), 20);
        assert_eq!(minutes[0].min, offset);
        let quarter = read(store, CPU, Resolution::QuarterHour).await;
        assert_eq!(
            quarter,
            vec![point(
                at(0, 0),
                offset,
                offset + 16.0,
                offset + 8.0,
                offset + 16.0
            )]
        );
        assert_eq!(
            series_keys(store, "").await.unwrap(),
            vec![CPU.to_owned(), DISK.to_owned()]
        );
    }
    // Opening again takes nothing from the other host.
    let web1 = open_as("web-1").await;
    assert_eq!(read(&web2, CPU, Resolution::Minute).await[0].min, 1000.0);
    // Pruning goes by age, for every host.
    history::prune(&web1, at(0, 0) + TimeDelta::days(800))
        .await
        .unwrap();
    assert!(series_keys(&web2, "").await.unwrap().is_empty());
    for store in [unnamed, web1, web2] {
        store.close().await;
    }
}

#[tokio::test]
async fn hosts_keep_their_own_history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    hosts(StoreLocation::Sqlite(dir.path().join("state.db"))).await;
}

#[tokio::test]
async fn hosts_sharing_postgresql_keep_their_own_history() {
    let (server, store) = support::postgres_store().await;
    store.close().await;
    hosts(StoreLocation::Postgres(server.url_for("opsdeck"))).await;
}

/// A store with history and alerts from before migrations 0014 and 0016 (schema of 0010, a
/// chunk packed plain as 0009 wrote it) is brought up to date with its points intact, and they
/// become the first host's to open it; of two open alerts on one series (two hosts' consoles
/// opened one each then) the newest stays open, and an alert on a fleet-wide series becomes the
/// fleet's.
async fn upgrade(url: String, location: StoreLocation) {
    let before = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0011" {
            std::fs::copy(&path, before.path().join(name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(before.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    // Minute 0 of the CPU: one sample of 5.
    let mut points = vec![1u8, 0];
    for _ in 0..4 {
        points.extend_from_slice(&5f32.to_le_bytes());
    }
    sqlx::query("INSERT INTO metric_history (series_key, resolution, chunk_start, points) VALUES ($1, 0, $2, $3)")
        .bind(CPU)
        .bind(at(0, 0).timestamp_millis())
        .bind(points)
        .execute(&pool)
        .await
        .unwrap();
    for (id, key, opened) in [
        ("older", "disk.used_pct:/var", 100),
        ("newer", "disk.used_pct:/var", 200),
        ("down", "host.up:db-1", 150),
    ] {
        sqlx::query(
            "INSERT INTO alerts (id, series_key, metric, instance, level, opened_at, resolved_at, peak, threshold, unit)
             VALUES ($1, $2, $3, NULL, 'warn', $4, NULL, 1.0, 1.0, 'percent')",
        )
        .bind(id)
        .bind(key)
        .bind(key.split(':').next().unwrap())
        .bind(opened)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::open(&location)
        .await
        .unwrap()
        .for_host("web-1")
        .await
        .unwrap();
    assert_eq!(
        read(&store, CPU, Resolution::Minute).await,
        vec![point(at(0, 0), 5.0, 5.0, 5.0, 5.0)]
    );
    // Written again, the chunk is repacked and goes on.
    record_batch(&store, &[(CPU, at(1, 0), 7.0)]).await.unwrap();
    assert_eq!(read(&store, CPU, Resolution::Minute).await.len(), 2);
    let open = |alerts: Vec<opsdeck::core::model::Alert>| {
        alerts
            .into_iter()
            .map(|alert| (alert.id, alert.host))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        open(store.open_alerts("web-1").await.unwrap()),
        vec![
            ("down".to_owned(), None),
            ("newer".to_owned(), Some("web-1".to_owned()))
        ]
    );
    let older = store.alert("older").await.unwrap().unwrap();
    assert_eq!(older.resolved_at.map(|at| at.timestamp_millis()), Some(200));
    store.close().await;
    let other = Store::open(&location)
        .await
        .unwrap()
        .for_host("web-2")
        .await
        .unwrap();
    assert_eq!(
        open(other.open_alerts("web-2").await.unwrap()),
        vec![("down".to_owned(), None)]
    );
    other.close().await;
}

#[tokio::test]
async fn history_and_alerts_from_before_hosts_survive_the_upgrade_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    upgrade(url, StoreLocation::Sqlite(path)).await;
}

#[tokio::test]
async fn history_and_alerts_from_before_hosts_survive_the_upgrade_on_postgres() {
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("opsdeck");
        server
    })
    .await
    .unwrap();
    let url = server.url_for("opsdeck");
    upgrade(url.clone(), StoreLocation::Postgres(url)).await;
}

fn settings() -> RunnerSettings {
    RunnerSettings {
        resources: Some(Resources::Settings(ResourceSettings {
            interval: Duration::from_millis(200),
            filesystems: vec!["/".into()],
            interfaces: vec![],
        })),
        ..RunnerSettings::tasks_only(support::runner::no_tasks())
    }
}

#[tokio::test]
async fn the_runner_writes_what_it_judged_and_the_next_one_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let location = StoreLocation::Sqlite(dir.path().join("state.db"));
    let started = opsdeck::core::model::now();
    let mut handle = runner::spawn(settings(), Some(Store::open(&location).await.unwrap()));
    let mut samples = 0;
    while samples < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), handle.events.recv())
            .await
            .expect("samples within 10 s")
            .expect("runner alive");
        match event {
            Event::Resources { .. } => samples += 1,
            Event::Warning { source, message } => panic!("{source}: {message}"),
            _ => {}
        }
    }
    handle.requests.send(Request::Shutdown).unwrap();
    handle.task.await.unwrap();

    // Stopping wrote the open minute; the next runner answers from it.
    let mut handle = runner::spawn(settings(), Some(Store::open(&location).await.unwrap()));
    let since = started - TimeDelta::minutes(1);
    handle
        .requests
        .send(Request::LoadMetricHistory {
            keys: vec![CPU.to_owned(), "no.such_metric".to_owned()],
            resolution: Resolution::Minute,
            since,
        })
        .unwrap();
    let series = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), handle.events.recv())
            .await
            .expect("the history within 10 s")
            .expect("runner alive");
        match event {
            Event::MetricHistory { series, .. } => break series,
            Event::Warning { source, message } => panic!("{source}: {message}"),
            _ => {}
        }
    };
    handle.requests.send(Request::Shutdown).unwrap();
    handle.task.await.unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
    let (key, points) = &series[0];
    assert_eq!(key, CPU);
    assert!(!points.is_empty());
    assert!(points.iter().all(|point| point.at >= since
        && (0.0..=100.0).contains(&point.mean)
        && point.min <= point.mean
        && point.mean <= point.max));
}
