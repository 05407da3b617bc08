//! The automatic timeline against real services and a real store. A TCP service pointed at a
//! closed port goes down and raises an alert, which is declared P1 through the runner; the
//! service comes up (the alert resolves) and fails again, and the new alert on it attaches to the
//! incident, which refuses to be declared again from it — on SQLite and on PostgreSQL. A `[[task]]`
//! command run and a session terminated on a throwaway PostgreSQL land in the incident's timeline
//! in order, with the output and the session's SQL frozen, still there after the run history is
//! deleted. The real binary's `opsdeck run` records its run into an incident opened with
//! `opsdeck incident open`. A checklist note written in the console, and a backup verification
//! with its result, land in every open incident.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;
use support::runner::next;

use opsdeck::config::Config;
use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::incidents::service::IncidentService;
use opsdeck::core::incidents::{Incident, Level, Opening};
use opsdeck::core::model::{Alert, RunStatus, TaskRun};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::services::flap::ServiceState;
use opsdeck::core::services::tcp::TcpCheck;
use opsdeck::core::services::{ServiceCheck, ServiceSpec};
use opsdeck::core::store::{Store, StoreLocation};
use opsdeck::core::tasks::Params;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// Reads the incident from the store until `done` holds (the timeline is written behind the
/// runner's back), within 15 s.
async fn incident_once(store: &Store, id: &str, done: impl Fn(&Incident) -> bool) -> Incident {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let incident = store.incident(id).await.unwrap().unwrap();
        if done(&incident) {
            return incident;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timeline never got there: {:#?}",
            incident.timeline
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn identity() -> Identity {
    Identity {
        user: "tester".into(),
        client: None,
        host: "test-host".into(),
        pid: std::process::id(),
    }
}

fn texts(incident: &Incident) -> Vec<&str> {
    incident
        .timeline
        .iter()
        .map(|entry| entry.text.as_str())
        .collect()
}

fn position(incident: &Incident, text: &str) -> usize {
    incident
        .timeline
        .iter()
        .position(|entry| entry.text.starts_with(text))
        .unwrap_or_else(|| panic!("no `{text}` in {:#?}", texts(incident)))
}

/// A loopback port with nothing listening on it (bound once to pick it, then let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Accepts (and drops) connections on `port` until aborted.
async fn listen(port: u16) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    })
}

async fn alert_changed(runner: &mut RunnerHandle, wanted: impl Fn(&Alert) -> bool) -> Alert {
    next(runner, |event| match event {
        Event::AlertChanged(alert) if wanted(&alert) => Some(alert),
        _ => None,
    })
    .await
}

async fn service_state(runner: &mut RunnerHandle, wanted: ServiceState) {
    next(runner, |event| match event {
        Event::ServiceChecked { name, state, .. } if name == "checkout" && state == wanted => {
            Some(())
        }
        _ => None,
    })
    .await;
}

async fn a_later_alert_on_the_declared_service_attaches(location: StoreLocation) {
    let store = Store::open(&location).await.unwrap();
    let port = closed_port();
    let service = ServiceSpec {
        name: "checkout".into(),
        interval: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        down_after: 2,
        up_after: 1,
        check: ServiceCheck::Tcp(TcpCheck {
            address: format!("127.0.0.1:{port}"),
        }),
    };
    let mut runner = runner::spawn(
        RunnerSettings {
            rules: opsdeck::config::default_rules(),
            services: vec![service],
            watch_incidents: true,
            ..RunnerSettings::tasks_only(TaskSettings {
                tasks: Vec::new(),
                read_only: false,
                identity: identity(),
                runs_dir: None,
            })
        },
        Some(store.clone()),
    );

    let first = alert_changed(&mut runner, |alert| {
        alert.key == "service.up:checkout" && alert.is_open()
    })
    .await;
    // What the alerts pane's declare key sends.
    runner
        .requests
        .send(Request::OpenIncident(Opening::from_alert(&first)))
        .unwrap();
    let (id, level) = next(&mut runner, |event| match event {
        Event::IncidentOpened { id, level } => Some((id, level)),
        Event::IncidentRefused(message) => panic!("refused: {message}"),
        _ => None,
    })
    .await;
    assert_eq!(level, Level::P1);

    // The service answers again: its alert resolves; then it fails again: a new alert.
    let listening = listen(port).await;
    service_state(&mut runner, ServiceState::Up).await;
    alert_changed(&mut runner, |alert| {
        alert.id == first.id && !alert.is_open()
    })
    .await;
    listening.abort();
    let _ = listening.await;
    let second = alert_changed(&mut runner, |alert| {
        alert.key == "service.up:checkout" && alert.is_open()
    })
    .await;
    assert_ne!(second.id, first.id);

    // The service's state change and the alert are recorded by different tasks: wait for both.
    let incident = incident_once(&store, &id, |incident| {
        incident.attached_alerts.contains(&second.id)
            && incident
                .timeline
                .iter()
                .any(|entry| entry.text.starts_with("service: checkout down"))
    })
    .await;
    assert_eq!(
        incident.attached_alerts,
        std::slice::from_ref(&second.id),
        "the alert it was declared from is its own, not attached"
    );
    assert!(
        incident.timeline[0]
            .text
            .starts_with("opened as P1: service.up checkout")
    );
    let up = position(&incident, "service: checkout up");
    let resolved = position(&incident, "alert: service.up checkout resolved");
    let down = position(&incident, "service: checkout down");
    let opened = position(&incident, "alert: service.up checkout CRIT opened");
    assert!(up < down && resolved < opened, "{:#?}", texts(&incident));
    assert!(
        incident
            .timeline
            .windows(2)
            .all(|pair| pair[0].at <= pair[1].at),
        "in time order: {:#?}",
        incident.timeline
    );
    let resolved = &incident.timeline[resolved];
    assert_eq!(resolved.link.as_deref(), Some(first.id.as_str()));
    let attached = &incident.timeline[opened];
    assert_eq!(attached.link.as_deref(), Some(second.id.as_str()));
    assert_eq!(attached.by, "tester");
    assert!(
        attached
            .evidence
            .starts_with("service.up checkout CRIT since ")
            && attached.evidence.contains("open, peak 0, limit 1"),
        "the alert's values, frozen: {}",
        attached.evidence
    );
    let down = &incident.timeline[down];
    assert!(
        down.evidence.contains("refused"),
        "the check's detail: {}",
        down.evidence
    );
    let entries = store.incident_events(&id).await.unwrap();
    assert!(
        entries
            .iter()
            .skip(1)
            .all(|event| (event.user.as_str(), event.host.as_str()) == ("tester", "test-host")),
        "written under the runner's identity: {entries:#?}"
    );

    // Declaring from the attached alert names the incident it belongs to.
    runner
        .requests
        .send(Request::OpenIncident(Opening::from_alert(&second)))
        .unwrap();
    let refused = next(&mut runner, |event| match event {
        Event::IncidentRefused(message) => Some(message),
        Event::IncidentOpened { id, .. } => panic!("opened {id}"),
        _ => None,
    })
    .await;
    assert!(
        refused.contains(&format!("this alert is already attached to {id} (P1)")),
        "{refused}"
    );
    assert_eq!(store.incidents().await.unwrap().len(), 1);

    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_alert_on_the_declared_service_attaches_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_later_alert_on_the_declared_service_attaches(StoreLocation::Sqlite(
        dir.path().join("state.db"),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_alert_on_the_declared_service_attaches_on_postgres() {
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("opsdeck");
        server
    })
    .await
    .unwrap();
    a_later_alert_on_the_declared_service_attaches(StoreLocation::Postgres(
        server.url_for("opsdeck"),
    ))
    .await;
}

async fn finished(runner: &mut RunnerHandle, task_id: &str) -> TaskRun {
    next(runner, |event| match event {
        Event::TaskFinished(run) if run.task_id == task_id => Some(run),
        Event::TaskRefused { reason, .. } => panic!("refused: {reason}"),
        _ => None,
    })
    .await
}

fn start(runner: &RunnerHandle, task_id: &str, params: &[(&str, &str)]) {
    let params: Params = params
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    runner
        .requests
        .send(Request::StartTask {
            task_id: task_id.into(),
            params,
            confirmed: opsdeck::core::tasks::Confirmed::AsPlannedThen,
        })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_run_and_a_terminated_session_land_in_order_with_frozen_evidence() {
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("opsdeck");
        server.create_database("app");
        server
    })
    .await
    .unwrap();
    let store_url = server.url_for("opsdeck");
    let store = Store::open(&StoreLocation::Postgres(store_url.clone()))
        .await
        .unwrap();
    // Opened from elsewhere, as `opsdeck incident open` would.
    let id = IncidentService::new(store.clone(), "alice".into(), "cli-host".into())
        .open(Opening {
            title: "orders stuck".into(),
            level: Level::P2,
            affects: vec!["app".into()],
            evidence: String::new(),
            alert: None,
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        "opsdeck.toml",
        &format!(
            "[[database]]\nname = \"app\"\nurl = \"{}\"\n\n\
             [[task]]\nid = \"collect-diagnostics\"\n\
             argv = [\"sh\", \"-c\", \"echo checking the pool; echo 'active=100/100'; exit 3\"]\n\
             destructive = false\n",
            server.url_for("app")
        ),
    )
    .unwrap();
    // Headless: the runner does not watch incidents; it still finds the open one.
    let mut runner = runner::spawn(
        RunnerSettings::tasks_only(TaskSettings {
            tasks: config
                .tasks(&dir.path().join("state"))
                .into_iter()
                .map(|(task, _)| task)
                .collect(),
            read_only: false,
            identity: identity(),
            runs_dir: None,
        }),
        Some(store.clone()),
    );

    start(&runner, "collect-diagnostics", &[]);
    let diagnostics = finished(&mut runner, "collect-diagnostics").await;
    assert_eq!(diagnostics.status, RunStatus::Failed);

    // A session stuck in a statement, terminated through the queries pane's task.
    let mut session = PgConnection::connect(&server.url_for("app")).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut session)
        .await
        .unwrap();
    let sleeper = tokio::spawn(async move {
        let _ = sqlx::query("SELECT pg_sleep(60) /* stuck order job */")
            .execute(&mut session)
            .await;
    });
    let mut observer = PgConnection::connect(&server.url_for("app")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%')",
    )
    .bind(pid)
    .fetch_one(&mut observer)
    .await
    .unwrap()
    {
        assert!(tokio::time::Instant::now() < deadline, "never sleeping");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pids = pid.to_string();
    start(
        &runner,
        "pg-terminate-session",
        &[("database", "app"), ("pids", &pids)],
    );
    let terminated = finished(&mut runner, "pg-terminate-session").await;
    assert_eq!(terminated.status, RunStatus::Succeeded, "{terminated:#?}");
    sleeper.await.unwrap();

    // Stopping flushes what is queued, as a headless `opsdeck run` stops right after its run.
    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();

    let store = Store::open(&StoreLocation::Postgres(store_url.clone()))
        .await
        .unwrap();
    let incident = store.incident(&id).await.unwrap().unwrap();
    let expected = [
        "opened as P2: orders stuck".to_owned(),
        "task: collect-diagnostics started by tester".to_owned(),
        "task: collect-diagnostics failed (exit 3) after ".to_owned(),
        format!("session: pg-terminate-session (database=app, pids={pid}) started by tester"),
        format!("session: pg-terminate-session (database=app, pids={pid}) succeeded after "),
    ];
    assert_eq!(
        incident.timeline.len(),
        expected.len(),
        "{:#?}",
        incident.timeline
    );
    for (entry, expected) in incident.timeline.iter().zip(&expected) {
        assert!(
            entry.text.starts_with(expected.as_str()),
            "`{}` should start with `{expected}`",
            entry.text
        );
    }
    let ran = &incident.timeline[2];
    assert_eq!(ran.link.as_deref(), Some(diagnostics.id.as_str()));
    assert_eq!(ran.evidence, "checking the pool\nactive=100/100");
    let signalled = &incident.timeline[4];
    assert_eq!(signalled.link.as_deref(), Some(terminated.id.as_str()));
    assert!(
        signalled.text.ends_with(": terminated 1 session"),
        "{}",
        signalled.text
    );
    assert!(
        signalled
            .evidence
            .contains(&format!("SELECT pg_terminate_backend({pid})"))
            && signalled
                .evidence
                .contains("pg_sleep(60) /* stuck order job */")
            && signalled
                .evidence
                .contains(&format!("pid {pid}: terminated")),
        "the statement, the session's SQL and the outcome: {}",
        signalled.evidence
    );

    // Whatever removes old runs later, the postmortem keeps its evidence.
    let mut direct = PgConnection::connect(&store_url).await.unwrap();
    sqlx::query("DELETE FROM task_runs")
        .execute(&mut direct)
        .await
        .unwrap();
    assert!(store.runs(None, 10).await.unwrap().is_empty());
    let after = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(after.timeline, incident.timeline);
    store.close().await;
}

#[test]
fn a_headless_opsdeck_run_lands_in_the_open_incidents_timeline() {
    let home = tempfile::tempdir().unwrap();
    for sub in ["home", "config", "data", "state"] {
        std::fs::create_dir_all(home.path().join(sub)).unwrap();
    }
    let config = home.path().join("config/opsdeck.toml");
    std::fs::write(
        &config,
        "[[task]]\nid = \"diag\"\nargv = [\"sh\", \"-c\", \"echo pool at 100/100\"]\ndestructive = false\n",
    )
    .unwrap();
    let state = home.path().join("state.db");
    let opsdeck = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_opsdeck"))
            .arg("--config")
            .arg(&config)
            .arg("--state")
            .arg(&state)
            .args(args)
            .env("HOME", home.path().join("home"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("USER", "oncall")
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "opsdeck {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let id = opsdeck(&[
        "incident",
        "open",
        "--level",
        "P2",
        "--title",
        "pool full",
        "--affects",
        "db",
    ])
    .trim()
    .to_owned();
    opsdeck(&["run", "diag"]);
    let shown: serde_json::Value =
        serde_json::from_str(&opsdeck(&["incident", "show", &id, "--format", "json"])).unwrap();
    let timeline = shown["timeline"].as_array().unwrap();
    let texts: Vec<&str> = timeline
        .iter()
        .map(|entry| entry["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 3, "{timeline:#?}");
    assert_eq!(texts[1], "task: diag started by oncall");
    assert!(
        texts[2].starts_with("task: diag succeeded (exit 0) after "),
        "{}",
        texts[2]
    );
    assert_eq!(timeline[2]["evidence"], "pool at 100/100");
    assert_eq!(timeline[2]["by"], "oncall");
    assert!(
        timeline[2]["link"]
            .as_str()
            .is_some_and(|link| !link.is_empty())
    );
    let report: serde_json::Value =
        serde_json::from_str(&opsdeck(&["incident", "export", &id, "--format", "json"])).unwrap();
    assert_eq!(
        report["timeline"]["entries"][2]["link"],
        timeline[2]["link"]
    );
    support::assert_follows_the_incident_report_schema(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checklist_note_written_in_the_console_lands_in_every_open_incident() {
    use opsdeck::core::checklists::service::EntryRequest;
    use opsdeck::core::checklists::{EntryKind, KnownNames, definition};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let incidents = IncidentService::new(store.clone(), "alice".into(), "cli-host".into());
    let mut ids = Vec::new();
    for (title, affects) in [("checkout down", "checkout"), ("slow reports", "reports")] {
        let opening = Opening {
            title: title.into(),
            level: Level::P2,
            affects: vec![affects.into()],
            evidence: String::new(),
            alert: None,
        };
        ids.push(incidents.open(opening).await.unwrap());
    }
    let (checklists, problems) = definition::load_all(None, &KnownNames::default());
    assert!(problems.is_empty(), "{problems:?}");
    let mut runner = runner::spawn(
        RunnerSettings {
            checklists,
            watch_incidents: true,
            ..RunnerSettings::tasks_only(TaskSettings {
                tasks: Vec::new(),
                read_only: false,
                identity: identity(),
                runs_dir: None,
            })
        },
        Some(store.clone()),
    );
    for (kind, item, text) in [
        (
            EntryKind::Note,
            Some("databases"),
            "pool exhausted since 03:10",
        ),
        (EntryKind::Tick, Some("services"), ""),
    ] {
        runner
            .requests
            .send(Request::ChecklistEntry(EntryRequest {
                checklist: "daily".into(),
                period: None,
                item: item.map(str::to_owned),
                kind,
                text: text.into(),
            }))
            .unwrap();
        next(&mut runner, |event| match event {
            Event::ChecklistRun(_) => Some(()),
            Event::ChecklistRefused(message) => panic!("refused: {message}"),
            _ => None,
        })
        .await;
    }
    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();

    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    for id in &ids {
        let incident = store.incident(id).await.unwrap().unwrap();
        assert_eq!(
            texts(&incident)[1..],
            ["checklist: note on daily / databases: pool exhausted since 03:10"],
            "the note, not the tick, in every open incident"
        );
        assert_eq!(incident.timeline[1].by, "tester");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_verification_lands_with_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let (data, backups) = (dir.path().join("data"), dir.path().join("backups"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(data.join("orders.csv"), "id,total\n1,10\n").unwrap();
    let config = Config::parse(
        "opsdeck.toml",
        &format!(
            "[[backup]]\nname = \"files\"\ndirectory = \"{}\"\nkind = \"tar_gz\"\n\n\
             [backup.create]\nsource = \"paths\"\npaths = [\"{}\"]\n",
            backups.display(),
            data.display()
        ),
    )
    .unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let id = IncidentService::new(store.clone(), "alice".into(), "cli-host".into())
        .open(Opening {
            title: "orders lost?".into(),
            level: Level::P1,
            affects: vec!["orders".into()],
            evidence: String::new(),
            alert: None,
        })
        .await
        .unwrap();
    let mut runner = runner::spawn(
        RunnerSettings::tasks_only(TaskSettings {
            tasks: config
                .tasks(&dir.path().join("state"))
                .into_iter()
                .map(|(task, _)| task)
                .collect(),
            read_only: false,
            identity: identity(),
            runs_dir: None,
        }),
        Some(store.clone()),
    );
    for task in ["backup-create", "backup-verify"] {
        start(&runner, task, &[("set", "files")]);
        let run = finished(&mut runner, task).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    }
    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();

    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let incident = store.incident(&id).await.unwrap().unwrap();
    let texts = texts(&incident);
    assert!(
        texts[1].starts_with("task: backup-create (set=files) started by tester")
            && texts[2].starts_with("task: backup-create (set=files) succeeded")
            && texts[3].starts_with("backup: backup-verify (set=files) started by tester")
            && texts[4].starts_with("backup: backup-verify (set=files) succeeded"),
        "{texts:#?}"
    );
    let verified = &incident.timeline[4];
    let runs = store.runs(Some("backup-verify"), 1).await.unwrap();
    assert_eq!(verified.link.as_deref(), Some(runs[0].id.as_str()));
    let summary = runs[0].summary.as_deref().unwrap();
    assert!(
        verified.text.ends_with(&format!(": {summary}")),
        "{}",
        verified.text
    );
    assert!(
        !verified.evidence.is_empty()
            && runs[0]
                .output
                .ends_with(&format!("{}\n", verified.evidence.lines().last().unwrap())),
        "the last lines of its output: {}",
        verified.evidence
    );
    store.close().await;
}
