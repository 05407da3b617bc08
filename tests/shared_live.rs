//! Live shared state on a throwaway PostgreSQL store: two consoles (runners on two hosts) see
//! each other's checklist tick, incident and note, and task run within a second; with the listening connection
//! of one killed by the server, it catches up on what happened meanwhile, an alert included, and
//! then follows live again; a console that stops beating leaves the others' list after the
//! timeout, and one that exits leaves it at once; a missing exporter heartbeat opens one dead-man's
//! alert for all consoles, which resolves when the exporter beats again, while each host's own
//! alerts stay its own and show whose they are.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::{Connection, Row};

use opsdeck::core::checklists::service::EntryRequest;
use opsdeck::core::checklists::{EntryKind, KnownNames, RunState, definition};
use opsdeck::core::checks::{Operator, Rule};
use opsdeck::core::execution::TaskSettings;
use opsdeck::core::incidents::{Change, Incident, Level, Opening};
use opsdeck::core::model::{Alert, RunStatus, Status, Unit};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::shared::changes::ChangeFeed;
use opsdeck::core::shared::{Heartbeat, Kind, SharedSettings};
use opsdeck::core::store::{Store, StoreLocation};
use opsdeck::core::tasks::shell::ShellSettings;
use opsdeck::core::tasks::{Params, Task, TaskInfo, TaskKind};
use support::runner::next;

/// The promise: another console's change is on screen within this.
const LIVE: Duration = Duration::from_secs(1);

fn shared() -> SharedSettings {
    SharedSettings {
        kind: Kind::Console,
        beat_every: Duration::from_millis(200),
        gone_after: Duration::from_secs(2),
    }
}

/// Settings with one quick shell task, `hello`, under the identity of `tester` on `host`.
fn tasks_on(host: &str) -> TaskSettings {
    let mut tasks = support::runner::no_tasks();
    tasks.identity.host = host.into();
    tasks.tasks = vec![Task {
        info: TaskInfo {
            id: "hello".into(),
            title: "hello".into(),
            description: String::new(),
            destructive: false,
            timeout: Duration::from_secs(60),
            concurrent: false,
            params: Vec::new(),
            schedule: None,
        },
        kind: TaskKind::Shell(ShellSettings {
            argv: vec!["/bin/sh".into(), "-c".into(), "echo hello".into()],
            shell: false,
            env: BTreeMap::new(),
            cwd: None,
        }),
    }];
    tasks
}

/// A console's runner on `host`, with the shipped checklists and the incidents watched.
fn console(store: &Store, host: &str, rules: Vec<Rule>) -> RunnerHandle {
    let (checklists, problems) = definition::load_all(None, &KnownNames::default());
    assert!(problems.is_empty(), "{problems:?}");
    runner::spawn(
        RunnerSettings {
            checklists,
            watch_incidents: true,
            rules,
            shared: Some(shared()),
            ..RunnerSettings::tasks_only(tasks_on(host))
        },
        Some(store.clone()),
    )
}

async fn second_store(server: &support::PgServer) -> Store {
    Store::open(&StoreLocation::Postgres(server.url_for("opsdeck")))
        .await
        .unwrap()
}

fn daily_entry(runner: &RunnerHandle, item: &str, kind: EntryKind, text: &str) {
    runner
        .requests
        .send(Request::ChecklistEntry(EntryRequest {
            checklist: "daily".into(),
            period: None,
            item: Some(item.into()),
            kind,
            text: text.into(),
        }))
        .unwrap();
}

/// Waits for the runner's answer to its own checklist entry.
async fn stored(runner: &mut RunnerHandle) {
    next(runner, |event| match event {
        Event::ChecklistRun(_) => Some(()),
        Event::ChecklistRefused(message) => panic!("refused: {message}"),
        _ => None,
    })
    .await;
}

/// Whether today's daily run has `item` ticked by someone on `host`.
fn ticked_by(runs: &[RunState], item: &str, host: &str) -> bool {
    runs.iter()
        .filter(|run| run.checklist == "daily")
        .flat_map(|run| &run.entries)
        .any(|entry| {
            entry.item.as_deref() == Some(item)
                && entry.kind == EntryKind::Tick
                && entry.host == host
        })
}

fn noted(incidents: &[Incident], id: &str, text: &str) -> bool {
    incidents
        .iter()
        .any(|incident| incident.id == id && incident.notes.iter().any(|note| note.text == text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consoles_see_each_others_tick_incident_note_and_task_run_within_a_second() {
    let (server, store_a) = support::postgres_store().await;
    let store_b = second_store(&server).await;
    let mut a = console(&store_a, "host-a", Vec::new());
    let mut b = console(&store_b, "host-b", Vec::new());
    // Both read their checklists at start; the next periodic read is ten seconds away.
    for runner in [&mut a, &mut b] {
        next(runner, |event| {
            matches!(event, Event::ChecklistRuns(_)).then_some(())
        })
        .await;
    }

    daily_entry(&b, "services", EntryKind::Tick, "");
    stored(&mut b).await;
    let since = Instant::now();
    next(&mut a, |event| match event {
        Event::ChecklistRuns(runs) => ticked_by(&runs, "services", "host-b").then_some(()),
        _ => None,
    })
    .await;
    let took = since.elapsed();
    assert!(took < LIVE, "host-a saw host-b's tick after {took:?}");

    a.requests
        .send(Request::OpenIncident(Opening {
            title: "checkout down".into(),
            level: Level::P2,
            affects: vec!["checkout".into()],
            evidence: String::new(),
            alert: None,
        }))
        .unwrap();
    let id = next(&mut a, |event| match event {
        Event::IncidentOpened { id, .. } => Some(id),
        _ => None,
    })
    .await;
    let since = Instant::now();
    next(&mut b, |event| match event {
        Event::Incidents(incidents) => incidents
            .iter()
            .any(|incident| incident.id == id)
            .then_some(()),
        _ => None,
    })
    .await;
    let took = since.elapsed();
    assert!(took < LIVE, "host-b saw host-a's incident after {took:?}");

    b.requests
        .send(Request::IncidentEntry {
            id: id.clone(),
            change: Change::Note {
                text: "rolled back web-02".into(),
                evidence: String::new(),
            },
        })
        .unwrap();
    next(&mut b, |event| match event {
        Event::Incidents(incidents) => noted(&incidents, &id, "rolled back web-02").then_some(()),
        Event::IncidentRefused(message) => panic!("refused: {message}"),
        _ => None,
    })
    .await;
    let since = Instant::now();
    next(&mut a, |event| match event {
        Event::Incidents(incidents) => noted(&incidents, &id, "rolled back web-02").then_some(()),
        _ => None,
    })
    .await;
    let took = since.elapsed();
    assert!(took < LIVE, "host-a saw host-b's note after {took:?}");

    b.requests
        .send(Request::StartTask {
            task_id: "hello".into(),
            params: Params::new(),
            confirmed: opsdeck::core::tasks::Confirmed::No,
        })
        .unwrap();
    let run = next(&mut b, |event| match event {
        Event::TaskFinished(run) => Some(run),
        Event::TaskRefused { reason, .. } => panic!("refused: {reason}"),
        _ => None,
    })
    .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let since = Instant::now();
    next(&mut a, |event| match event {
        Event::TaskHistory {
            task_id: None,
            runs,
        } => runs
            .iter()
            .any(|seen| seen.id == run.id && seen.status == RunStatus::Succeeded)
            .then_some(()),
        _ => None,
    })
    .await;
    let took = since.elapsed();
    assert!(took < LIVE, "host-a saw host-b's task run after {took:?}");

    for runner in [a, b] {
        runner.requests.send(Request::Shutdown).unwrap();
        runner.task.await.unwrap();
    }
}

/// The backend pid of `store`'s listening connection, once it listens.
async fn listener_pid(admin: &mut sqlx::PgConnection, store: &Store) -> i32 {
    let name = ChangeFeed::listener_name(store);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = sqlx::query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LISTEN%'",
        )
        .bind(&name)
        .fetch_optional(&mut *admin)
        .await
        .unwrap();
        if let Some(row) = row {
            return row.get("pid");
        }
        assert!(
            Instant::now() < deadline,
            "no listening backend named {name}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_listener_is_killed_a_console_catches_up_with_nothing_lost() {
    let (server, store_a) = support::postgres_store().await;
    let store_b = second_store(&server).await;
    let mut admin = sqlx::PgConnection::connect(&server.url_for("opsdeck"))
        .await
        .unwrap();
    let mut a = console(&store_a, "host-a", Vec::new());
    let mut b = console(&store_b, "host-b", Vec::new());
    for runner in [&mut a, &mut b] {
        next(runner, |event| {
            matches!(event, Event::ChecklistRuns(_)).then_some(())
        })
        .await;
    }
    let killed = listener_pid(&mut admin, &store_a).await;

    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(killed)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(terminated);
    // While host-a is without its listener: three ticks from host-b's console, and an alert
    // opened and resolved by another writer (an alert has no periodic read to hide behind).
    for item in ["services", "databases", "cpu"] {
        daily_entry(&b, item, EntryKind::Tick, "");
        stored(&mut b).await;
    }
    let opened = opsdeck::core::model::now();
    let mut alert = Alert {
        id: "remote-alert-1".into(),
        key: "disk.used_pct{/data}".into(),
        metric: "disk.used_pct".into(),
        instance: Some("/data".into()),
        host: Some("host-b".into()),
        level: Status::Crit,
        opened_at: opened,
        resolved_at: None,
        peak: 97.0,
        threshold: 90.0,
        unit: Unit::Percent,
    };
    store_b.insert_alert(&alert).await.unwrap();
    alert.resolved_at = Some(opened);
    store_b.update_alert(&alert).await.unwrap();

    // The ticks may also come with the checklists' own ten-second read; the alert only through
    // the catch-up, which must not wait for the 30-second quiet read either.
    let (mut alert_seen, mut ticks_seen) = (false, false);
    let caught_up = async {
        while !(alert_seen && ticks_seen) {
            match a.events.recv().await.expect("runner alive") {
                // Read between its opening and its resolution it shows open first.
                Event::AlertChanged(seen)
                    if seen.id == "remote-alert-1" && seen.resolved_at.is_some() =>
                {
                    assert_eq!(seen.host.as_deref(), Some("host-b"), "whose alert it is");
                    alert_seen = true;
                }
                Event::ChecklistRuns(runs)
                    if ["services", "databases", "cpu"]
                        .iter()
                        .all(|item| ticked_by(&runs, item, "host-b")) =>
                {
                    ticks_seen = true;
                }
                _ => {}
            }
        }
    };
    let took = tokio::time::timeout(Duration::from_secs(10), caught_up).await;
    assert!(
        took.is_ok(),
        "host-a did not catch up within 10 s: alert seen {alert_seen}, ticks seen {ticks_seen}"
    );
    let relistened = listener_pid(&mut admin, &store_a).await;
    assert_ne!(relistened, killed, "host-a listens on a new connection");

    // And it follows live again.
    daily_entry(&b, "memory", EntryKind::Tick, "");
    stored(&mut b).await;
    let since = Instant::now();
    next(&mut a, |event| match event {
        Event::ChecklistRuns(runs) => ticked_by(&runs, "memory", "host-b").then_some(()),
        _ => None,
    })
    .await;
    let took = since.elapsed();
    assert!(took < LIVE, "host-a saw host-b's tick after {took:?}");

    for runner in [a, b] {
        runner.requests.send(Request::Shutdown).unwrap();
        runner.task.await.unwrap();
    }
}

fn ghost(kind: Kind, host: &str) -> Heartbeat {
    let now = opsdeck::core::model::now();
    Heartbeat {
        session: format!("ghost-{host}"),
        kind,
        host: host.into(),
        user: "eve".into(),
        pid: 4242,
        started_at: now,
        beat_at: now,
    }
}

/// The next heartbeat round's list of the others' hosts.
async fn others(runner: &mut RunnerHandle) -> Vec<String> {
    next(runner, |event| match event {
        Event::Presence { peers, .. } => Some(peers.into_iter().map(|peer| peer.host).collect()),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_that_stops_beating_disappears_after_the_timeout_and_one_that_exits_at_once() {
    let (server, store_a) = support::postgres_store().await;
    let store_b = second_store(&server).await;
    let mut a = console(&store_a, "host-a", Vec::new());
    let b = console(&store_b, "host-b", Vec::new());
    // A console that beats until host-a has seen it and host-b, then stops (killed, or its host
    // went away).
    let mut last_beat;
    let mut seen;
    loop {
        store_a
            .beat(&ghost(Kind::Console, "ghost-host"))
            .await
            .unwrap();
        last_beat = Instant::now();
        seen = others(&mut a).await;
        if seen.contains(&"host-b".to_owned()) && seen.contains(&"ghost-host".to_owned()) {
            break;
        }
    }
    assert!(!seen.contains(&"host-a".to_owned()), "{seen:?}");
    while seen.contains(&"ghost-host".to_owned()) {
        seen = others(&mut a).await;
    }
    let took = last_beat.elapsed();
    let gone_after = shared().gone_after;
    assert!(
        took >= gone_after - Duration::from_millis(100) && took < gone_after + LIVE,
        "the stopped console was shown for {took:?} after its last beat"
    );
    assert!(seen.contains(&"host-b".to_owned()), "{seen:?}");

    b.requests.send(Request::Shutdown).unwrap();
    b.task.await.unwrap();
    let since = Instant::now();
    while seen.contains(&"host-b".to_owned()) {
        seen = others(&mut a).await;
    }
    let took = since.elapsed();
    assert!(
        took < shared().gone_after,
        "the console that exited was shown for {took:?}"
    );
    a.requests.send(Request::Shutdown).unwrap();
    a.task.await.unwrap();
}

/// A rule that always holds on any host: there is always more than one process.
fn busy_host_rule() -> Rule {
    Rule {
        metric: "processes.count".into(),
        instance: None,
        operator: Operator::Above,
        warn: Some(1.0),
        crit: None,
        hold_for: Duration::ZERO,
    }
}

/// Each console's alerts as seen through its events: id, metric, host and whether open.
type Seen = BTreeMap<String, Alert>;

fn seen_on(seen: &mut Seen, event: Event) {
    if let Event::AlertChanged(alert) = event {
        seen.insert(alert.id.clone(), alert);
    } else if let Event::AlertsLoaded(alerts) = event {
        for alert in alerts {
            seen.insert(alert.id.clone(), alert);
        }
    }
}

/// Follows both consoles' events into what each has seen until `done` holds for both, failing
/// after `within` with what each saw.
async fn watch_both(
    [a, b]: [&mut RunnerHandle; 2],
    [seen_a, seen_b]: [&mut Seen; 2],
    done: impl Fn(&Seen) -> bool,
    within: Duration,
) {
    let both = async {
        while !(done(seen_a) && done(seen_b)) {
            tokio::select! {
                Some(event) = a.events.recv() => seen_on(seen_a, event),
                Some(event) = b.events.recv() => seen_on(seen_b, event),
            }
        }
    };
    if tokio::time::timeout(within, both).await.is_err() {
        panic!("not on both screens within {within:?}: {seen_a:#?} {seen_b:#?}");
    }
}

fn open_of<'a>(seen: &'a Seen, metric: &str, host: Option<&str>) -> Vec<&'a Alert> {
    seen.values()
        .filter(|alert| alert.is_open() && alert.metric == metric && alert.host.as_deref() == host)
        .collect()
}

/// The stored alerts on `metric`: (host, open) of each.
async fn stored_alerts(admin: &mut sqlx::PgConnection, metric: &str) -> Vec<(String, bool)> {
    sqlx::query(
        "SELECT host, resolved_at IS NULL AS open FROM alerts WHERE metric = $1 ORDER BY host",
    )
    .bind(metric)
    .fetch_all(admin)
    .await
    .unwrap()
    .iter()
    .map(|row| (row.get("host"), row.get("open")))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_exporter_heartbeat_opens_one_dead_mans_alert_for_all_consoles_until_it_beats_again()
 {
    let (server, store_a) = support::postgres_store().await;
    let store_b = second_store(&server).await;
    let mut admin = sqlx::PgConnection::connect(&server.url_for("opsdeck"))
        .await
        .unwrap();
    let exporter = ghost(Kind::Exporter, "db-02");
    store_a.beat(&exporter).await.unwrap();
    let dead_man = Rule {
        metric: "heartbeat.exporter_age".into(),
        instance: Some("db-02".into()),
        operator: Operator::Above,
        warn: None,
        crit: Some(2.0),
        hold_for: Duration::ZERO,
    };
    let with_gauges = |store: &Store, host: &str| {
        let (checklists, _) = definition::load_all(None, &KnownNames::default());
        runner::spawn(
            RunnerSettings {
                checklists,
                rules: vec![dead_man.clone(), busy_host_rule()],
                shared: Some(shared()),
                resources: Some(runner::Resources::Settings(
                    opsdeck::core::collectors::resources::ResourceSettings {
                        interval: Duration::from_millis(200),
                        filesystems: vec!["/".into()],
                        interfaces: vec![],
                    },
                )),
                ..RunnerSettings::tasks_only(tasks_on(host))
            },
            Some(store.clone()),
        )
    };
    let mut a = with_gauges(&store_a, "host-a");
    let mut b = with_gauges(&store_b, "host-b");
    // Both judge db-02's missing exporter: one alert between them, on both screens; and each its
    // own busy host: one alert per host, each on both screens with its host named.
    let (mut seen_a, mut seen_b) = (Seen::new(), Seen::new());
    let complete = |seen: &Seen| {
        open_of(seen, "heartbeat.exporter_age", None).len() == 1
            && open_of(seen, "processes.count", Some("host-a")).len() == 1
            && open_of(seen, "processes.count", Some("host-b")).len() == 1
    };
    watch_both(
        [&mut a, &mut b],
        [&mut seen_a, &mut seen_b],
        complete,
        Duration::from_secs(20),
    )
    .await;
    let fleet_a = open_of(&seen_a, "heartbeat.exporter_age", None)[0].clone();
    let fleet_b = open_of(&seen_b, "heartbeat.exporter_age", None)[0].clone();
    assert_eq!(fleet_a.id, fleet_b.id, "one alert, not one per console");
    assert_eq!(fleet_a.instance.as_deref(), Some("db-02"));
    assert_eq!(fleet_a.level, Status::Crit);
    assert_eq!(
        stored_alerts(&mut admin, "heartbeat.exporter_age").await,
        vec![(String::new(), true)]
    );
    assert_eq!(
        stored_alerts(&mut admin, "processes.count").await,
        vec![("host-a".to_owned(), true), ("host-b".to_owned(), true)]
    );

    store_a
        .beat(&Heartbeat {
            beat_at: opsdeck::core::model::now(),
            ..exporter.clone()
        })
        .await
        .unwrap();
    let resolved = |seen: &Seen| seen.get(&fleet_a.id).is_some_and(|alert| !alert.is_open());
    watch_both(
        [&mut a, &mut b],
        [&mut seen_a, &mut seen_b],
        resolved,
        Duration::from_secs(10),
    )
    .await;
    assert!(open_of(&seen_a, "heartbeat.exporter_age", None).is_empty());
    assert!(open_of(&seen_b, "heartbeat.exporter_age", None).is_empty());
    // Neither console opened it again behind the other's resolution.
    let fleet_rows = stored_alerts(&mut admin, "heartbeat.exporter_age").await;
    assert_eq!(fleet_rows, vec![(String::new(), false)]);
    for runner in [a, b] {
        runner.requests.send(Request::Shutdown).unwrap();
        runner.task.await.unwrap();
    }
}
