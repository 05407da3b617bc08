//! The runner: drives collectors on their own threads, judges every sample with the rules,
//! persists alert changes, and tells whoever listens (TUI or headless) through owned [`Event`]s.
//!
//! The UI never awaits the runner: it sends [`Request`]s on an unbounded channel and reads
//! events when they arrive.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::core::backups::BackupSet;
use crate::core::backups::status::SetReport;
use crate::core::checklists::Checklist;
use crate::core::checklists::service::ChecklistService;
use crate::core::checks::{Change, Evaluation, Rule, RuleEngine};
use crate::core::collectors::Collector;
use crate::core::collectors::resources::{ResourceCollector, ResourceSample, ResourceSettings};
use crate::core::execution::{TaskManager, TaskSettings};
use crate::core::model::{Alert, Metric, Status, Unit};
use crate::core::notify::{AlertEvent, Notifier, NotifySettings};
use crate::core::protocol::{Event, Request};
use crate::core::queries::collector::QueryCollector;
use crate::core::queries::{QuerySettings, QuerySnapshot, StatementSort};
use crate::core::services::ServiceSpec;
use crate::core::services::flap::{Flap, ServiceState};
use crate::core::services::scheduler::{ServiceResult, spawn_checks};
use crate::core::store::ServiceResultRow;
use crate::core::store::Store;

/// How far back the alerts area looks when it starts.
const RECENT_ALERTS_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const RECENT_ALERTS_LIMIT: i64 = 200;

pub struct RunnerSettings {
    /// `None` for headless task runs, which need no gauges.
    pub resources: Option<ResourceSettings>,
    pub rules: Vec<Rule>,
    pub tasks: TaskSettings,
    pub services: Vec<ServiceSpec>,
    pub notify: NotifySettings,
    /// Watched databases (name, url) for the queries pane.
    pub databases: Vec<(String, String)>,
    pub queries: QuerySettings,
    pub queries_interval: Duration,
    pub backups: Vec<BackupSet>,
    pub backups_interval: Duration,
    /// The checklists (their runs are kept in the store, under the tasks' identity).
    pub checklists: Vec<Checklist>,
}

pub struct RunnerHandle {
    pub requests: mpsc::UnboundedSender<Request>,
    pub events: mpsc::Receiver<Event>,
    pub task: JoinHandle<()>,
}

enum CollectorCommand {
    RefreshNow,
}

/// Starts the runner on the current tokio runtime.
pub fn spawn(settings: RunnerSettings, store: Option<Store>) -> RunnerHandle {
    let (request_tx, request_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::channel(256);
    let task = tokio::spawn(run(settings, store, request_rx, event_tx));
    RunnerHandle {
        requests: request_tx,
        events: event_rx,
        task,
    }
}

async fn run(
    settings: RunnerSettings,
    store: Option<Store>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    events: mpsc::Sender<Event>,
) {
    let mut engine = RuleEngine::new(settings.rules);
    if let Some(store) = &store {
        restore(&mut engine, store, &events).await;
    }
    let checklists = ChecklistService::new(
        settings.checklists,
        store.clone(),
        settings.tasks.identity.user.clone(),
        settings.tasks.identity.host.clone(),
    );
    let checklist_refresh = std::sync::Arc::new(tokio::sync::Notify::new());
    if !checklists.is_empty() && store.is_some() {
        tokio::spawn(watch_checklists(
            checklists.clone(),
            checklist_refresh.clone(),
            events.clone(),
        ));
    }
    let tasks = TaskManager::new(settings.tasks, store.clone(), events.clone());
    tasks.startup().await;
    let (sample_tx, mut samples) = mpsc::channel::<Result<ResourceSample, String>>(4);
    let (command_tx, command_rx) = std_mpsc::channel();
    if let Some(resources) = settings.resources {
        std::thread::Builder::new()
            .name("collector-resources".into())
            .spawn(move || drive_resources(resources, sample_tx, command_rx))
            .map_err(|error| tracing::error!("cannot start the resources collector: {error}"))
            .ok();
    }
    // Writes go through their own task so a slow or hung store delays alerts, never samples.
    let notifier = Notifier::new(settings.notify);
    let notices = notifier
        .is_enabled()
        .then(|| spawn_notifier(notifier, events.clone()));
    let (change_tx, change_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(persist(store.clone(), change_rx, events.clone(), notices));
    let (result_tx, mut service_results) = mpsc::channel::<ServiceResult>(1024);
    let (row_tx, row_rx) = mpsc::unbounded_channel();
    let result_writer = tokio::spawn(write_service_results(store.clone(), row_rx, events.clone()));
    let specs: std::collections::HashMap<String, ServiceSpec> = settings
        .services
        .iter()
        .map(|spec| (spec.name.clone(), spec.clone()))
        .collect();
    let rechecks = spawn_checks(settings.services, result_tx);
    let (sort_tx, sort_rx) = tokio::sync::watch::channel(settings.queries.sort);
    let query_refresh = std::sync::Arc::new(tokio::sync::Notify::new());
    let (snapshot_tx, mut snapshots) = mpsc::channel::<Box<QuerySnapshot>>(16);
    for (name, url) in settings.databases {
        let collector = QueryCollector::new(name, url, settings.queries.clone());
        tokio::spawn(watch_database(
            collector,
            settings.queries_interval,
            sort_rx.clone(),
            query_refresh.clone(),
            snapshot_tx.clone(),
        ));
    }
    drop(snapshot_tx);
    let backup_refresh = std::sync::Arc::new(tokio::sync::Notify::new());
    let (backup_tx, mut backup_reports) = mpsc::channel::<Vec<SetReport>>(2);
    if !settings.backups.is_empty() {
        tokio::spawn(crate::core::backups::watch::watch(
            settings.backups,
            settings.backups_interval,
            store.clone(),
            backup_refresh.clone(),
            backup_tx,
        ));
    }
    let mut flaps: std::collections::HashMap<String, Flap> = std::collections::HashMap::new();
    let availability = store
        .clone()
        .filter(|_| !specs.is_empty())
        .map(|store| tokio::spawn(report_availability(store, events.clone())));

    loop {
        tokio::select! {
            sample = samples.recv() => match sample {
                Some(Ok(sample)) => {
                    let metrics = sample.metrics();
                    let evaluations = metrics.iter().map(|metric| engine.evaluate(metric)).collect();
                    let taken_at = sample.taken_at;
                    let update = Event::Resources { sample: Box::new(sample), evaluations };
                    if events.send(update).await.is_err() {
                        break;
                    }
                    for change in engine.observe(&metrics, taken_at) {
                        let _ = change_tx.send(change);
                    }
                }
                Some(Err(message)) => {
                    let warning = Event::Warning { source: "resources", message };
                    if events.send(warning).await.is_err() {
                        break;
                    }
                }
                // Headless runs have no collector.
                None => std::future::pending::<()>().await,
            },
            Some(snapshot) = snapshots.recv() => {
                // Slow statements and stuck sessions can have rules like any other metric.
                let metrics = snapshot.metrics();
                let evaluations = metrics.iter().map(|metric| engine.evaluate(metric)).collect();
                for change in engine.observe(&metrics, snapshot.taken_at) {
                    let _ = change_tx.send(change);
                }
                if events.send(Event::Judged(evaluations)).await.is_err() {
                    break;
                }
                if events.send(Event::Queries(snapshot)).await.is_err() {
                    break;
                }
            }
            Some(reports) = backup_reports.recv() => {
                let metrics: Vec<Metric> = reports.iter().flat_map(SetReport::metrics).collect();
                let evaluations = metrics.iter().map(|metric| engine.evaluate(metric)).collect();
                let taken_at = crate::core::model::now();
                for change in engine.observe(&metrics, taken_at) {
                    let _ = change_tx.send(change);
                }
                if events.send(Event::Backups { reports, evaluations }).await.is_err() {
                    break;
                }
            }
            Some(result) = service_results.recv() => {
                let Some(spec) = specs.get(&result.name) else { continue };
                let flap = flaps.entry(result.name.clone()).or_default();
                let state = flap.record(result.outcome.ok, spec.down_after, spec.up_after);
                // `service.up` follows flap control, so one failed check opens nothing.
                let mut metrics: Vec<Metric> = result.outcome.metrics.iter().map(|(name, value, unit)| Metric::of(name, &result.name, *value, *unit)).collect();
                if state != ServiceState::Unknown {
                    metrics.push(Metric::of("service.up", &result.name, f64::from(u8::from(state == ServiceState::Up)), Unit::Count));
                }
                let evaluations: Vec<Evaluation> = metrics.iter().map(|metric| engine.evaluate(metric)).collect();
                let level = evaluations
                    .iter()
                    .map(|evaluation| evaluation.status)
                    .max()
                    .unwrap_or(Status::Unknown);
                if events.send(Event::Judged(evaluations)).await.is_err() {
                    break;
                }
                for change in engine.observe(&metrics, result.checked_at) {
                    let _ = change_tx.send(change);
                }
                let _ = row_tx.send(ServiceResultRow {
                    service: result.name.clone(),
                    checked_at: result.checked_at,
                    ok: result.outcome.ok,
                    latency_ms: result.outcome.latency.map(|latency| latency.as_secs_f64() * 1000.0),
                    detail: result.outcome.detail.clone(),
                });
                let event = Event::ServiceChecked { name: result.name, state, level, checked_at: result.checked_at, outcome: result.outcome };
                if events.send(event).await.is_err() {
                    break;
                }
            }
            request = requests.recv() => match request {
                Some(Request::RefreshNow) => {
                    let _ = command_tx.send(CollectorCommand::RefreshNow);
                    query_refresh.notify_waiters();
                    backup_refresh.notify_one();
                    checklist_refresh.notify_one();
                    tasks.send_history(None).await;
                }
                Some(Request::PlanTask { task_id, params }) => {
                    let tasks = tasks.clone();
                    tokio::spawn(async move { tasks.plan(task_id, params).await });
                }
                Some(Request::StartTask { task_id, params, confirmed }) => {
                    tasks.start(task_id, params, confirmed);
                }
                Some(Request::CancelRun { run_id }) => tasks.cancel(&run_id),
                Some(Request::RefreshBackups) => backup_refresh.notify_one(),
                Some(Request::ChecklistEntry(entry)) => {
                    let (checklists, events) = (checklists.clone(), events.clone());
                    tokio::spawn(async move {
                        let event = match checklists.record(entry).await {
                            Ok(run) => Event::ChecklistRun(run),
                            Err(message) => Event::ChecklistRefused(message),
                        };
                        let _ = events.send(event).await;
                    });
                }
                Some(Request::LoadChecklistRun { checklist, period }) => {
                    let (checklists, events) = (checklists.clone(), events.clone());
                    tokio::spawn(async move {
                        let event = match checklists.load(&checklist, period.as_deref()).await {
                            Ok(run) => Event::ChecklistRun(run),
                            Err(message) => Event::ChecklistRefused(message),
                        };
                        let _ = events.send(event).await;
                    });
                }
                Some(Request::LoadChecklistPeriods { checklist }) => {
                    let (checklists, events) = (checklists.clone(), events.clone());
                    tokio::spawn(async move {
                        let event = match checklists.periods(&checklist).await {
                            Ok(periods) => Event::ChecklistPeriods { checklist, periods },
                            Err(message) => Event::ChecklistRefused(message),
                        };
                        let _ = events.send(event).await;
                    });
                }
                Some(Request::SetStatementSort(sort)) => {
                    let _ = sort_tx.send(sort);
                }
                Some(Request::CheckService { name }) => {
                    if let Some(recheck) = rechecks.get(&name) {
                        recheck.notify_one();
                    }
                }
                Some(Request::LoadHistory { task_id }) => {
                    let tasks = tasks.clone();
                    tokio::spawn(async move { tasks.send_history(task_id).await });
                }
                Some(Request::Shutdown) | None => break,
            },
        }
    }
    tasks.shutdown().await;
    if let Some(availability) = availability {
        availability.abort();
    }
    drop(change_tx);
    drop(row_tx);
    let _ = result_writer.await;
    let _ = writer.await;
}

/// Refreshes one database's statements, sessions and health on its interval, at once when
/// asked, and when the statement ranking changes. Stops when nobody listens.
async fn watch_database(
    mut collector: QueryCollector,
    interval: Duration,
    mut sort: tokio::sync::watch::Receiver<StatementSort>,
    refresh: std::sync::Arc<tokio::sync::Notify>,
    snapshots: mpsc::Sender<Box<QuerySnapshot>>,
) {
    loop {
        collector.settings_mut().sort = *sort.borrow_and_update();
        let snapshot = collector.collect().await;
        if snapshots.send(Box::new(snapshot)).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = refresh.notified() => {}
            changed = sort.changed() => if changed.is_err() { return },
        }
    }
}

/// How often the checklists' runs are read again, to show what another console ticked.
pub const CHECKLISTS_EVERY: Duration = Duration::from_secs(10);

async fn watch_checklists(
    checklists: ChecklistService,
    refresh: std::sync::Arc<tokio::sync::Notify>,
    events: mpsc::Sender<Event>,
) {
    loop {
        let event = match checklists.current().await {
            Ok(runs) => Event::ChecklistRuns(runs),
            Err(message) => Event::Warning {
                source: "checklists",
                message,
            },
        };
        if events.send(event).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(CHECKLISTS_EVERY) => {}
            () = refresh.notified() => {}
        }
    }
}

/// How often availability is recomputed and old results pruned.
const AVAILABILITY_EVERY: Duration = Duration::from_secs(60);
/// Results older than this are deleted (7-day availability needs seven).
const SERVICE_RESULTS_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(8);

async fn report_availability(store: Store, events: mpsc::Sender<Event>) {
    let mut every = tokio::time::interval(AVAILABILITY_EVERY);
    loop {
        every.tick().await;
        let now = crate::core::model::now();
        let day = store.availability(now - chrono::TimeDelta::hours(24)).await;
        let week = store.availability(now - chrono::TimeDelta::days(7)).await;
        let (day, week) = match (day, week) {
            (Ok(day), Ok(week)) => (day, week),
            (Err(error), _) | (_, Err(error)) => {
                let _ = events
                    .send(Event::Warning {
                        source: "store",
                        message: error.to_string(),
                    })
                    .await;
                continue;
            }
        };
        let mut figures: Vec<(String, Option<f64>, Option<f64>)> = week
            .iter()
            .map(|(name, week)| {
                let day = day
                    .iter()
                    .find(|(other, _)| other == name)
                    .map(|(_, pct)| *pct);
                (name.clone(), day, Some(*week))
            })
            .collect();
        figures.sort_by(|a, b| a.0.cmp(&b.0));
        if events
            .send(Event::ServiceAvailability(figures))
            .await
            .is_err()
        {
            return;
        }
        let _ = store
            .prune_service_results(now - SERVICE_RESULTS_KEPT)
            .await;
    }
}

/// Stores service results in batches: one transaction per batch keeps 500 services cheap.
async fn write_service_results(
    store: Option<Store>,
    mut rows: mpsc::UnboundedReceiver<ServiceResultRow>,
    events: mpsc::Sender<Event>,
) {
    let mut batch = Vec::new();
    while let Some(row) = rows.recv().await {
        batch.push(row);
        // Let the results of one sweep gather before writing them together.
        tokio::time::sleep(Duration::from_millis(200)).await;
        while let Ok(row) = rows.try_recv() {
            batch.push(row);
        }
        if let Some(store) = &store
            && let Err(error) = store.insert_service_results(&batch).await
        {
            let _ = events
                .send(Event::Warning {
                    source: "store",
                    message: error.to_string(),
                })
                .await;
        }
        batch.clear();
    }
}

fn spawn_notifier(
    mut notifier: Notifier,
    events: mpsc::Sender<Event>,
) -> mpsc::UnboundedSender<(Alert, AlertEvent)> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(Alert, AlertEvent)>();
    tokio::spawn(async move {
        while let Some((alert, event)) = receiver.recv().await {
            for failure in notifier.notify(&alert, event).await {
                tracing::warn!("{failure}");
                let _ = events
                    .send(Event::Warning {
                        source: "notify",
                        message: failure,
                    })
                    .await;
            }
        }
    });
    sender
}

/// How long reading the remembered state may take before the console goes on without it.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(5);

async fn restore(engine: &mut RuleEngine, store: &Store, events: &mpsc::Sender<Event>) {
    let now = crate::core::model::now();
    let loaded = async {
        let pending = store.pending().await?;
        let open = store.open_alerts().await?;
        let recent = store
            .recent_alerts(now - RECENT_ALERTS_WINDOW, RECENT_ALERTS_LIMIT)
            .await?;
        Ok::<_, crate::core::store::StoreError>((pending, open, recent))
    };
    let warning = match tokio::time::timeout(RESTORE_TIMEOUT, loaded).await {
        Ok(Ok((pending, open, recent))) => {
            engine.restore(pending, open, now);
            let _ = events.send(Event::AlertsLoaded(recent)).await;
            return;
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!(
            "{}: no answer within {} s; open alerts from before this start are not shown",
            store.location(),
            RESTORE_TIMEOUT.as_secs()
        ),
    };
    let _ = events
        .send(Event::Warning {
            source: "store",
            message: warning,
        })
        .await;
}

/// Persists rule changes in order, then reports alert changes: an alert is on screen only once
/// it is stored (or the store's failure is on screen next to it).
async fn persist(
    store: Option<Store>,
    mut changes: mpsc::UnboundedReceiver<Change>,
    events: mpsc::Sender<Event>,
    notices: Option<mpsc::UnboundedSender<(Alert, AlertEvent)>>,
) {
    // The level each open alert was last announced at, to tell an escalation from a new peak.
    let mut levels: std::collections::HashMap<String, Status> = std::collections::HashMap::new();
    while let Some(change) = changes.recv().await {
        let stored = match (&change, &store) {
            (Change::Opened(alert), Some(store)) => store.insert_alert(alert).await,
            (Change::Updated(alert) | Change::Resolved(alert), Some(store)) => {
                store.update_alert(alert).await
            }
            (Change::Pending(record), Some(store)) => store.save_pending(record).await,
            (Change::PendingCleared(key), Some(store)) => store.clear_pending(key).await,
            (_, None) => Ok(()),
        };
        if let Err(error) = stored {
            tracing::warn!("{error}");
            let warning = Event::Warning {
                source: "store",
                message: error.to_string(),
            };
            if events.send(warning).await.is_err() {
                break;
            }
        }
        if let Some(notices) = &notices {
            let notice = match &change {
                Change::Opened(alert) => {
                    levels.insert(alert.id.clone(), alert.level);
                    Some(AlertEvent::Opened)
                }
                Change::Updated(alert)
                    if levels
                        .get(&alert.id)
                        .is_some_and(|level| alert.level > *level) =>
                {
                    levels.insert(alert.id.clone(), alert.level);
                    Some(AlertEvent::Escalated)
                }
                Change::Resolved(alert) => {
                    levels.remove(&alert.id);
                    Some(AlertEvent::Resolved)
                }
                _ => None,
            };
            if let (
                Some(notice),
                Change::Opened(alert) | Change::Updated(alert) | Change::Resolved(alert),
            ) = (notice, &change)
            {
                let _ = notices.send((alert.clone(), notice));
            }
        }
        if let Change::Opened(alert) | Change::Updated(alert) | Change::Resolved(alert) = change {
            tracing::info!(key = %alert.key, level = alert.level.as_str(), open = alert.is_open(), "alert");
            if events.send(Event::AlertChanged(alert)).await.is_err() {
                break;
            }
        }
    }
    if let Some(store) = store {
        store.close().await;
    }
}

/// The first reading has no CPU usage (it needs two); take the second one soon after so the
/// console is complete within a fraction of a second.
const PRIMING_DELAY: Duration = Duration::from_millis(250);

fn drive_resources(
    settings: ResourceSettings,
    samples: mpsc::Sender<Result<ResourceSample, String>>,
    commands: std_mpsc::Receiver<CollectorCommand>,
) {
    let mut collector = match ResourceCollector::new(settings) {
        Ok(collector) => collector,
        Err(error) => {
            let _ = samples.blocking_send(Err(error.to_string()));
            return;
        }
    };
    let interval = collector.interval();
    let mut next_delay = PRIMING_DELAY.min(interval);
    loop {
        let started = Instant::now();
        let result = collector.collect().map_err(|error| error.to_string());
        // A full channel means the runner is behind: skip this sample rather than queue stale ones.
        match samples.try_send(result) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
        let wait = next_delay.saturating_sub(started.elapsed());
        next_delay = interval;
        match commands.recv_timeout(wait) {
            Ok(CollectorCommand::RefreshNow) | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}
