//! An incident nobody acknowledges in time, through the console's runner on a real store (SQLite
//! and PostgreSQL): with P2 configured to `respond_within = "2s"`, the incident declared in the
//! console is announced as opened, then goes overdue, which raises the
//! `incident.unacknowledged_overdue` rule's alert and sends exactly one overdue notification to
//! a local webhook receiver (the Slack message to the contact's channel, naming them); the
//! announcements are logged with the incident, and acknowledging it resolves the alert. The
//! console's level change and resolution are announced as well.
//!
//! The configured policy is installed for this whole test process, which is why these tests
//! have a file of their own.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use opsdeck::config::Config;
use opsdeck::core::incidents::{Change, Level, Notice, Opening, UNACKNOWLEDGED_OVERDUE, policy};
use opsdeck::core::model::Status;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::store::{Store, StoreLocation};
use serde_json::Value;
use support::PgServer;
use support::receivers::{Answer, HttpReceiver};

/// How long the test waits for anything before failing.
const PATIENCE: Duration = Duration::from_secs(30);

/// The configuration a team would write, with the receiver as its Slack and generic webhook.
fn config(receiver: &HttpReceiver) -> Config {
    let text = format!(
        r##"
[notify]
slack_webhook = "{base}/services/T000/B000/XXXX"
webhooks = ["{base}/hook"]

[incidents.levels.P2]
respond_within = "2s"

[[escalation]]
level = "P2"
name = "Kim Minsu"
role = "DBA"
slack = "#db-oncall"
email = "kim@example.com"
"##,
        base = receiver.base
    );
    let config = Config::parse("config.toml", &text).unwrap();
    // Both tests install the same policy; the first one to get here does.
    policy::install(config.incident_policy.clone());
    config
}

fn console_runner(config: &Config, store: &Store) -> RunnerHandle {
    runner::spawn(
        RunnerSettings {
            rules: config.effective_rules(),
            notify: config.notify.settings("test-host"),
            watch_incidents: true,
            ..RunnerSettings::tasks_only(support::runner::no_tasks())
        },
        Some(store.clone()),
    )
}

/// The next event `wanted` picks; meanwhile the incidents are re-read every half second (what
/// the console's refresh key does), so nobody waits for the 10-s watch.
async fn next<T>(runner: &mut RunnerHandle, mut wanted: impl FnMut(Event) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut refresh = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            event = tokio::time::timeout_at(deadline, runner.events.recv()) => {
                let event = event.expect("the event in time").expect("runner alive");
                if let Some(found) = wanted(event) {
                    return found;
                }
            }
            _ = refresh.tick() => {
                runner.requests.send(Request::RefreshNow).unwrap();
            }
        }
    }
}

/// The generic webhook bodies with this notice, once `count` of them arrived.
async fn notices(receiver: &HttpReceiver, notice: &str, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found: Vec<Value> = receiver
            .bodies_at("/hook")
            .into_iter()
            .filter(|body| body["notice"] == notice)
            .collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {notice} notification within {PATIENCE:?}: {:?}",
            receiver.received()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn overdue_is_announced_once(store: Store) {
    let receiver = HttpReceiver::start(Answer::Ok).await;
    let config = config(&receiver);
    assert_eq!(Level::P2.response_target(), Duration::from_secs(2));
    let mut runner = console_runner(&config, &store);
    runner
        .requests
        .send(Request::OpenIncident(Opening {
            title: "checkout slow".into(),
            level: Level::P2,
            affects: vec!["checkout".into()],
            evidence: String::new(),
            alert: None,
        }))
        .unwrap();
    let id = next(&mut runner, |event| match event {
        Event::IncidentOpened { id, .. } => Some(id),
        Event::IncidentRefused(message) => panic!("refused: {message}"),
        _ => None,
    })
    .await;
    let opened = notices(&receiver, "opened", 1).await;
    assert_eq!(opened[0]["incident"]["id"], id.as_str());
    assert_eq!(opened[0]["contacts"][0]["name"], "Kim Minsu");

    let alert = next(&mut runner, |event| match event {
        Event::AlertChanged(alert) if alert.metric == UNACKNOWLEDGED_OVERDUE => Some(alert),
        _ => None,
    })
    .await;
    assert_eq!(alert.level, Status::Crit);
    assert_eq!(alert.peak, 1.0);
    assert!(alert.is_open());

    let overdue = notices(&receiver, "overdue", 1).await;
    assert_eq!(overdue[0]["event"], "incident_overdue");
    assert_eq!(overdue[0]["incident"]["level"], "P2");
    assert_eq!(overdue[0]["incident"]["title"], "checkout slow");
    assert_eq!(overdue[0]["incident"]["affects"][0], "checkout");
    assert_eq!(overdue[0]["contacts"][0]["slack"], "#db-oncall");
    let slack: Vec<Value> = receiver
        .bodies_at("/services/T000/B000/XXXX")
        .into_iter()
        .filter(|body| body["text"].as_str().unwrap().contains("OVERDUE"))
        .collect();
    assert_eq!(slack.len(), 1, "{slack:?}");
    assert_eq!(slack[0]["channel"], "#db-oncall");
    assert!(
        slack[0]["text"]
            .as_str()
            .unwrap()
            .contains("Kim Minsu (DBA)"),
        "{}",
        slack[0]
    );

    // More readings of the still overdue incident send nothing more.
    for _ in 0..3 {
        next(&mut runner, |event| {
            matches!(event, Event::Incidents(_)).then_some(())
        })
        .await;
    }
    assert_eq!(notices(&receiver, "overdue", 1).await.len(), 1);
    let incident = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.notices, [Notice::Opened, Notice::Overdue]);
    assert!(
        incident
            .timeline
            .iter()
            .any(|entry| entry.text == "notified overdue to Kim Minsu (DBA)"),
        "{:?}",
        incident.timeline
    );

    // Acknowledged, it is no longer overdue and the rule's alert resolves.
    runner
        .requests
        .send(Request::IncidentEntry {
            id: id.clone(),
            change: Change::Acknowledged,
        })
        .unwrap();
    next(&mut runner, |event| match event {
        Event::AlertChanged(alert) if alert.metric == UNACKNOWLEDGED_OVERDUE => {
            alert.resolved_at.map(|_| ())
        }
        _ => None,
    })
    .await;
    assert_eq!(notices(&receiver, "overdue", 1).await.len(), 1);

    // The console's level change and resolution are announced too, to the new level's contacts.
    let entry = |change| Request::IncidentEntry {
        id: id.clone(),
        change,
    };
    runner
        .requests
        .send(entry(Change::LevelChanged { level: Level::P1 }))
        .unwrap();
    let raised = notices(&receiver, "level_changed", 1).await;
    assert_eq!(raised[0]["incident"]["level"], "P1");
    assert_eq!(raised[0]["contacts"], serde_json::json!([]));
    runner.requests.send(entry(Change::Resolved)).unwrap();
    notices(&receiver, "resolved", 1).await;
    let notified = |store: Store, id: String| async move {
        store.incident(&id).await.unwrap().unwrap().notices
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let logged = notified(store.clone(), id.clone()).await;
        if logged.len() == 4 {
            // The last two are logged once delivered, which may finish in either order.
            assert_eq!(logged[..2], [Notice::Opened, Notice::Overdue]);
            assert!(logged.contains(&Notice::LevelChanged), "{logged:?}");
            assert!(logged.contains(&Notice::Resolved), "{logged:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{logged:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_incident_raises_the_rule_and_is_announced_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    overdue_is_announced_once(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_incident_raises_the_rule_and_is_announced_once_on_postgres() {
    let server = PgServer::start();
    server.create_database("overdue");
    let store = Store::open(&StoreLocation::Postgres(server.url_for("overdue")))
        .await
        .unwrap();
    overdue_is_announced_once(store).await;
}
