//! The state store on SQLite and on a real throwaway PostgreSQL: the same schema and queries,
//! alerts and pending rule state surviving a reopen, and clear errors for bad locations.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use opsdeck::core::checks::{Operator, PendingRecord, Rule};
use opsdeck::core::collectors::resources::ResourceSettings;
use opsdeck::core::model::{Alert, Status, Unit};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, Resources, RunnerSettings};
use opsdeck::core::store::{AlertOpening, AlertUpdate, Store, StoreLocation};

fn alert(id: &str, opened: i64) -> Alert {
    Alert {
        id: id.into(),
        key: "disk.used_pct:/var".into(),
        metric: "disk.used_pct".into(),
        instance: Some("/var".into()),
        host: None,
        level: Status::Warn,
        opened_at: Utc.timestamp_opt(opened, 0).unwrap(),
        resolved_at: None,
        peak: 83.5,
        threshold: 80.0,
        unit: Unit::Percent,
    }
}

async fn exercise(location: StoreLocation) {
    let store = Store::open(&location).await.expect("open store");
    let mut first = alert("a1", 1_700_000_000);
    assert_eq!(
        store.insert_alert(&first).await.unwrap(),
        AlertOpening::Stored
    );
    // One open alert per host and series: a second opening finds the first.
    assert_eq!(
        store
            .insert_alert(&alert("a2", 1_700_000_100))
            .await
            .unwrap(),
        AlertOpening::AlreadyOpen(first.clone())
    );
    first.level = Status::Crit;
    first.peak = 93.25;
    first.threshold = 90.0;
    first.resolved_at = Some(Utc.timestamp_opt(1_700_000_500, 0).unwrap());
    assert_eq!(
        store.update_alert(&first).await.unwrap(),
        AlertUpdate::Stored { raised: true }
    );
    // Resolved is final: a late change from another console does not reopen it.
    let mut late = first.clone();
    late.resolved_at = None;
    late.peak = 99.0;
    assert_eq!(
        store.update_alert(&late).await.unwrap(),
        AlertUpdate::NotOpen
    );
    assert_eq!(
        store
            .insert_alert(&alert("a2", 1_700_000_600))
            .await
            .unwrap(),
        AlertOpening::Stored
    );
    let record = PendingRecord {
        host: String::new(),
        key: "cpu.used_pct".into(),
        warn_since: Some(Utc.timestamp_opt(1_700_000_000, 0).unwrap()),
        crit_since: None,
        last_seen: Utc.timestamp_opt(1_700_000_030, 0).unwrap(),
    };
    store.save_pending(&record).await.unwrap();
    let mut later = record.clone();
    later.last_seen = Utc.timestamp_opt(1_700_000_060, 0).unwrap();
    store.save_pending(&later).await.unwrap();
    store.close().await;

    // A new process opens the same store: migrations are not re-run, data is there.
    let store = Store::open(&location).await.expect("reopen store");
    let open = store.open_alerts("").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, "a2");
    assert_eq!(open[0].instance.as_deref(), Some("/var"));
    let recent = store
        .recent_alerts(Utc.timestamp_opt(1_600_000_000, 0).unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(recent.len(), 2);
    let resolved = recent.iter().find(|a| a.id == "a1").unwrap();
    assert_eq!(resolved.level, Status::Crit);
    assert_eq!(resolved.peak, 93.25);
    assert_eq!(resolved, &first);
    assert_eq!(store.pending("").await.unwrap(), vec![later]);
    store.clear_pending("", "cpu.used_pct").await.unwrap();
    assert!(store.pending("").await.unwrap().is_empty());
    store.close().await;
    hosts_keep_their_alerts_apart(location).await;
}

fn on_host(mut alert: Alert, id: &str, host: Option<&str>) -> Alert {
    alert.id = id.into();
    alert.host = host.map(Into::into);
    alert
}

/// Hosts sharing a store: each restores its own alerts and pending conditions and the fleet's,
/// a local series is one alert per host, and a fleet-wide series one alert in all.
async fn hosts_keep_their_alerts_apart(location: StoreLocation) {
    let store = Store::open(&location).await.unwrap();
    let disk = alert("unused", 1_700_001_000);
    let web1 = on_host(disk.clone(), "w1", Some("web-1"));
    let web2 = on_host(disk, "w2", Some("web-2"));
    for local in [&web1, &web2] {
        assert_eq!(
            store.insert_alert(local).await.unwrap(),
            AlertOpening::Stored
        );
    }
    let down = Alert {
        key: "host.up:db-1".into(),
        metric: "host.up".into(),
        instance: Some("db-1".into()),
        ..on_host(alert("f1", 1_700_001_000), "f1", None)
    };
    assert_eq!(
        store.insert_alert(&down).await.unwrap(),
        AlertOpening::Stored
    );
    let again = on_host(down.clone(), "f2", None);
    assert_eq!(
        store.insert_alert(&again).await.unwrap(),
        AlertOpening::AlreadyOpen(down.clone())
    );
    // Both consoles see it escalate: the first to store it raised it (and notifies), not both.
    let critical = Alert {
        level: Status::Crit,
        peak: 0.0,
        ..down.clone()
    };
    assert_eq!(
        store.update_alert(&critical).await.unwrap(),
        AlertUpdate::Stored { raised: true }
    );
    assert_eq!(
        store.update_alert(&critical).await.unwrap(),
        AlertUpdate::Stored { raised: false }
    );
    let ids = |alerts: Vec<Alert>| alerts.into_iter().map(|alert| alert.id).collect::<Vec<_>>();
    let mine = ids(store.open_alerts("web-1").await.unwrap());
    assert!(
        mine.contains(&"w1".to_owned()) && mine.contains(&"f1".to_owned()),
        "{mine:?}"
    );
    assert!(!mine.contains(&"w2".to_owned()), "{mine:?}");
    let theirs = ids(store.open_alerts("web-2").await.unwrap());
    assert!(
        theirs.contains(&"w2".to_owned()) && !theirs.contains(&"w1".to_owned()),
        "{theirs:?}"
    );
    let stored = store.alert("w2").await.unwrap().unwrap();
    assert_eq!(stored.host.as_deref(), Some("web-2"));
    assert_eq!(store.alert("f1").await.unwrap().unwrap().host, None);

    let pending = |host: &str| PendingRecord {
        host: host.into(),
        key: "cpu.used_pct".into(),
        warn_since: Some(Utc.timestamp_opt(1_700_001_000, 0).unwrap()),
        crit_since: None,
        last_seen: Utc.timestamp_opt(1_700_001_030, 0).unwrap(),
    };
    store.save_pending(&pending("web-1")).await.unwrap();
    store.save_pending(&pending("web-2")).await.unwrap();
    store.clear_pending("web-2", "cpu.used_pct").await.unwrap();
    assert_eq!(
        store.pending("web-1").await.unwrap(),
        vec![pending("web-1")]
    );
    assert!(store.pending("web-2").await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn sqlite_store_keeps_alerts_and_pending_state_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    exercise(StoreLocation::Sqlite(
        dir.path().join("nested dir/state.db"),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_runs_the_same_schema_and_queries() {
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("opsdeck");
        server
    })
    .await
    .unwrap();
    exercise(StoreLocation::Postgres(server.url_for("opsdeck"))).await;
    drop(server);
}

#[tokio::test]
async fn an_unwritable_state_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let error = Store::open(&StoreLocation::Sqlite(blocker.join("opsdeck/state.db")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&blocker.join("opsdeck").display().to_string()),
        "{error}"
    );
    assert!(error.contains("fix:"), "{error}");
}

#[tokio::test]
async fn a_refusing_postgres_url_is_reported_with_the_password_masked() {
    let error = Store::open(&StoreLocation::Postgres(
        "postgres://ops:s3cr3t@127.0.0.1:1/opsdeck".into(),
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("postgres://ops:***@127.0.0.1:1/opsdeck"),
        "{error}"
    );
    assert!(!error.contains("s3cr3t"), "{error}");
    assert!(error.contains("fix:"), "{error}");
}

/// A rule that always holds: there is always more than one process.
fn always_warn_rule() -> Rule {
    Rule {
        metric: "processes.count".into(),
        instance: None,
        operator: Operator::Above,
        warn: Some(1.0),
        crit: None,
        hold_for: Duration::ZERO,
    }
}

fn settings() -> RunnerSettings {
    RunnerSettings {
        resources: Some(Resources::Settings(ResourceSettings {
            interval: Duration::from_millis(200),
            filesystems: vec!["/".into()],
            interfaces: vec![],
        })),
        rules: vec![always_warn_rule()],
        ..RunnerSettings::tasks_only(support::runner::no_tasks())
    }
}

async fn next_alert(events: &mut tokio::sync::mpsc::Receiver<Event>) -> (Vec<Alert>, Alert) {
    let mut loaded = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("an alert within 10 s")
            .expect("runner alive");
        match event {
            Event::AlertsLoaded(alerts) => loaded = alerts,
            Event::AlertChanged(alert) => return (loaded, alert),
            Event::Warning { source, message } => panic!("{source}: {message}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn an_open_alert_survives_a_restart_of_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let location = StoreLocation::Sqlite(dir.path().join("state.db"));

    let store = Store::open(&location).await.unwrap();
    let mut handle = runner::spawn(settings(), Some(store));
    let (_, opened) = next_alert(&mut handle.events).await;
    assert!(opened.is_open());
    assert_eq!(opened.level, Status::Warn);
    handle.requests.send(Request::Shutdown).unwrap();
    handle.task.await.unwrap();

    let store = Store::open(&location).await.unwrap();
    assert_eq!(opened.host.as_deref(), Some("test-host"));
    assert_eq!(
        store.open_alerts("test-host").await.unwrap(),
        vec![opened.clone()]
    );
    let mut handle = runner::spawn(settings(), Some(store));
    let loaded = loop {
        match handle.events.recv().await.expect("runner alive") {
            Event::AlertsLoaded(alerts) => break alerts,
            Event::Warning { source, message } => panic!("{source}: {message}"),
            _ => {}
        }
    };
    assert_eq!(loaded, vec![opened.clone()]);
    // The restored alert is continued, not opened a second time.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, handle.events.recv()).await {
        if let Event::AlertChanged(alert) = event {
            assert_eq!(alert.id, opened.id, "a second alert was opened: {alert:?}");
        }
    }
    handle.requests.send(Request::Shutdown).unwrap();
    handle.task.await.unwrap();
    let store = Store::open(&location).await.unwrap();
    assert_eq!(store.open_alerts("test-host").await.unwrap().len(), 1);
}
