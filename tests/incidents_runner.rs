//! The runner serves the console's incidents pane from a real SQLite store: it lists an incident
//! opened through core (and leaves out one resolved days ago), records an acknowledgement asked
//! for by the console under the runner's identity so that it reads back from the store, and
//! refuses a second acknowledgement with the reason. An incident declared from an alert is stored
//! with the alert's title, level, affected instance and the alert as evidence, and only once while
//! that incident is open.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use support::runner::next;

use opsdeck::core::incidents::{self, Change, Event as LogEvent, Incident, Level, Opening};
use opsdeck::core::model::{Alert, Status, Unit};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::store::{Store, StoreLocation};

async fn append(store: &Store, id: &str, change: Change, at: chrono::DateTime<chrono::Utc>) {
    store
        .append_incident_event(&LogEvent {
            incident: id.into(),
            change,
            user: "alice".into(),
            host: "cli-host".into(),
            at,
        })
        .await
        .unwrap();
}

/// A runner for a console run by `tester` on `test-host`, on `store`.
fn console_runner(store: &Store) -> RunnerHandle {
    runner::spawn(
        RunnerSettings {
            watch_incidents: true,
            ..RunnerSettings::tasks_only(support::runner::no_tasks())
        },
        Some(store.clone()),
    )
}

/// Asks the runner to open `opening` and returns why it refused.
async fn refused_opening(runner: &mut RunnerHandle, opening: Opening) -> String {
    runner
        .requests
        .send(Request::OpenIncident(opening))
        .unwrap();
    next(runner, |event| match event {
        Event::IncidentRefused(message) => Some(message),
        Event::IncidentOpened { id, .. } => panic!("opened {id}"),
        _ => None,
    })
    .await
}

/// What the console's acknowledge key sends.
fn acknowledge(runner: &RunnerHandle, id: &str) {
    runner
        .requests
        .send(Request::IncidentEntry {
            id: id.to_owned(),
            change: Change::Acknowledged,
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_lists_incidents_and_stores_an_acknowledgement_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let now = opsdeck::core::model::now();
    let id = incidents::new_id(now);
    append(
        &store,
        &id,
        Change::Opened {
            title: "결제 API 응답 지연".into(),
            level: Level::P1,
            affects: vec!["api".into()],
            evidence: String::new(),
        },
        now - chrono::Duration::minutes(70),
    )
    .await;
    let old = format!("{id}-old");
    let days_ago = now - chrono::Duration::days(3);
    append(
        &store,
        &old,
        Change::Opened {
            title: "old outage".into(),
            level: Level::P2,
            affects: Vec::new(),
            evidence: String::new(),
        },
        days_ago,
    )
    .await;
    append(&store, &old, Change::Resolved, days_ago).await;

    let mut runner = console_runner(&store);

    let listed: Vec<Incident> = next(&mut runner, |event| match event {
        Event::Incidents(incidents) => Some(incidents),
        _ => None,
    })
    .await;
    let ids: Vec<&str> = listed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [id.as_str()],
        "the open one, not the one resolved days ago"
    );
    assert!(listed[0].overdue(now), "a P1 unacknowledged for 70 minutes");

    acknowledge(&runner, &id);
    let after: Incident = next(&mut runner, |event| match event {
        Event::Incidents(incidents) => incidents
            .into_iter()
            .find(|i| i.id == id && i.acknowledged.is_some()),
        Event::IncidentRefused(message) => panic!("refused: {message}"),
        Event::Warning { message, .. } => panic!("warning: {message}"),
        _ => None,
    })
    .await;
    assert_eq!(after.commander.as_deref(), Some("tester"));
    assert!(!after.overdue(opsdeck::core::model::now()));

    let stored = store.incident_events(&id).await.unwrap();
    let ack = stored
        .iter()
        .find(|event| event.change == Change::Acknowledged)
        .unwrap_or_else(|| panic!("no acknowledgement stored: {stored:?}"));
    assert_eq!(
        (ack.user.as_str(), ack.host.as_str()),
        ("tester", "test-host")
    );
    let read_back = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(read_back.acknowledged, after.acknowledged);

    acknowledge(&runner, &id);
    let refused = next(&mut runner, |event| match event {
        Event::IncidentRefused(message) => Some(message),
        _ => None,
    })
    .await;
    assert!(
        refused.contains("already acknowledged by tester"),
        "{refused}"
    );
    assert_eq!(store.incident_events(&id).await.unwrap().len(), 2);

    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_declared_from_an_alert_is_stored_with_the_alert_as_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let now = opsdeck::core::model::now();
    let alert = Alert {
        id: "alert-disk-1".into(),
        key: "disk.used_pct:/data".into(),
        metric: "disk.used_pct".into(),
        instance: Some("/data".into()),
        host: None,
        level: Status::Crit,
        opened_at: now - chrono::Duration::minutes(5),
        resolved_at: None,
        peak: 92.1,
        threshold: 90.0,
        unit: Unit::Percent,
    };
    let mut runner = console_runner(&store);

    // What the alerts pane's declare key sends.
    runner
        .requests
        .send(Request::OpenIncident(Opening::from_alert(&alert)))
        .unwrap();
    let (id, level) = next(&mut runner, |event| match event {
        Event::IncidentOpened { id, level } => Some((id, level)),
        Event::IncidentRefused(message) => panic!("refused: {message}"),
        Event::Warning { message, .. } => panic!("warning: {message}"),
        _ => None,
    })
    .await;
    assert_eq!(level, Level::P1);
    let shown: Incident = next(&mut runner, |event| match event {
        Event::Incidents(incidents) => incidents.into_iter().find(|i| i.id == id),
        _ => None,
    })
    .await;

    let stored = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(stored, shown, "the console shows what was stored");
    assert_eq!(stored.title, "disk.used_pct /data 92.1 % (limit 90.0 %)");
    assert_eq!(stored.level, Level::P1);
    assert_eq!(stored.affects, ["/data"]);
    assert_eq!(stored.detected.by, "tester");
    assert!(
        stored.acknowledged.is_none(),
        "declaring is not acknowledging"
    );
    let first = &stored.timeline[0];
    assert_eq!(
        first.text,
        "opened as P1: disk.used_pct /data 92.1 % (limit 90.0 %)"
    );
    assert!(
        first.evidence.contains("alert alert-disk-1")
            && first.evidence.contains("disk.used_pct /data CRIT")
            && first.evidence.contains("peak 92.1 %, limit 90.0 %"),
        "{}",
        first.evidence
    );
    let events = store.incident_events(&id).await.unwrap();
    assert_eq!(events.len(), 1, "one append: {events:?}");
    assert_eq!(
        (events[0].user.as_str(), events[0].host.as_str()),
        ("tester", "test-host")
    );

    // An opening with an empty title is refused and writes nothing.
    let refused = refused_opening(
        &mut runner,
        Opening {
            title: " ".into(),
            ..Opening::from_alert(&alert)
        },
    )
    .await;
    assert!(refused.contains("the title is empty"), "{refused}");
    assert_eq!(store.incidents().await.unwrap().len(), 1);

    // The key pressed again on the same alert (or from another console) opens no second one.
    let refused = refused_opening(&mut runner, Opening::from_alert(&alert)).await;
    assert!(
        refused.contains(&format!("this alert is already declared as {id} (P1)")),
        "{refused}"
    );
    assert_eq!(store.incidents().await.unwrap().len(), 1);

    // Once that incident is resolved, the alert (still firing) can be declared again.
    runner
        .requests
        .send(Request::IncidentEntry {
            id: id.clone(),
            change: Change::Resolved,
        })
        .unwrap();
    next(&mut runner, |event| match event {
        Event::Incidents(incidents) => incidents
            .into_iter()
            .find(|i| i.id == id && !i.is_open())
            .map(|_| ()),
        Event::IncidentRefused(message) => panic!("refused: {message}"),
        _ => None,
    })
    .await;
    runner
        .requests
        .send(Request::OpenIncident(Opening::from_alert(&alert)))
        .unwrap();
    let again = next(&mut runner, |event| match event {
        Event::IncidentOpened { id, .. } => Some(id),
        Event::IncidentRefused(message) => panic!("refused: {message}"),
        _ => None,
    })
    .await;
    assert_ne!(again, id);
    assert_eq!(store.incidents().await.unwrap().len(), 2);

    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();
    store.close().await;
}
