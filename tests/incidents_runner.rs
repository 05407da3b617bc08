//! The runner serves the console's incidents pane from a real SQLite store: it lists an incident
//! opened through core (and leaves out one resolved days ago), records an acknowledgement asked
//! for by the console under the runner's identity so that it reads back from the store, and
//! refuses a second acknowledgement with the reason.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::incidents::{self, Change, Event as LogEvent, Incident, Level};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::store::{Store, StoreLocation};

/// The next event `wanted` picks, within 20 s.
async fn next<T>(runner: &mut RunnerHandle, mut wanted: impl FnMut(Event) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, runner.events.recv())
            .await
            .expect("the event within 20 s")
            .expect("runner alive");
        if let Some(found) = wanted(event) {
            return found;
        }
    }
}

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
        },
        days_ago,
    )
    .await;
    append(&store, &old, Change::Resolved, days_ago).await;

    let mut runner = runner::spawn(
        RunnerSettings::tasks_only(TaskSettings {
            tasks: Vec::new(),
            read_only: false,
            identity: Identity {
                user: "tester".into(),
                client: None,
                host: "test-host".into(),
                pid: std::process::id(),
            },
            runs_dir: None,
        }),
        Some(store.clone()),
    );

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
