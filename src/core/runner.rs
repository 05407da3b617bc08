//! The runner: drives collectors on their own threads, judges every sample with the rules,
//! persists alert changes, and tells whoever listens (TUI or headless) through owned [`Event`]s.
//!
//! The UI never awaits the runner: it sends [`Request`]s on an unbounded channel and reads
//! events when they arrive.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::core::checks::{Change, Evaluation, Rule, RuleEngine};
use crate::core::collectors::Collector;
use crate::core::collectors::resources::{ResourceCollector, ResourceSample, ResourceSettings};
use crate::core::model::{Alert, TaskRun};
use crate::core::store::Store;
use crate::core::tasks::execution::{TaskManager, TaskSettings};
use crate::core::tasks::{Params, Plan};

/// How far back the alerts area looks when it starts.
const RECENT_ALERTS_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const RECENT_ALERTS_LIMIT: i64 = 200;

/// UI (or headless command) to runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Sample every collector now instead of waiting for its next tick.
    RefreshNow,
    /// Work out what a task would do (a dry run); answered with [`Event::TaskPlanned`].
    PlanTask { task_id: String, params: Params },
    /// Run a task. Destructive tasks need `confirmed` and are refused in read-only mode.
    StartTask {
        task_id: String,
        params: Params,
        confirmed: bool,
    },
    /// Stop a run (process group SIGTERM then SIGKILL, or pg_cancel_backend).
    CancelRun { run_id: String },
    /// Send the audit history, of one task or of all; answered with [`Event::TaskHistory`].
    LoadHistory { task_id: Option<String> },
    /// Cancel running tasks, wait for them to be recorded, and stop.
    Shutdown,
}

/// Runner to whoever listens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Resources {
        sample: Box<ResourceSample>,
        evaluations: Vec<Evaluation>,
    },
    /// Open alerts and those resolved recently, read from the store at start.
    AlertsLoaded(Vec<Alert>),
    /// An alert opened, escalated, reached a new peak or resolved. Sent after it was stored.
    AlertChanged(Alert),
    /// Something went wrong that the user should see in place (collector or store failure).
    Warning {
        source: &'static str,
        message: String,
    },
    TaskPlanned {
        task_id: String,
        params: Params,
        plan: Result<Plan, String>,
    },
    /// A run began; its audit record is already stored.
    TaskStarted(TaskRun),
    TaskOutput {
        run_id: String,
        line: String,
    },
    /// A run ended (any status); its audit record is already updated.
    TaskFinished(TaskRun),
    /// A run was not started; `run` is its audit record when one was written.
    TaskRefused {
        task_id: String,
        reason: String,
        run: Option<TaskRun>,
    },
    TaskHistory {
        task_id: Option<String>,
        runs: Vec<TaskRun>,
    },
}

pub struct RunnerSettings {
    /// `None` for headless task runs, which need no gauges.
    pub resources: Option<ResourceSettings>,
    pub rules: Vec<Rule>,
    pub tasks: TaskSettings,
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
    let (change_tx, change_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(persist(store, change_rx, events.clone()));

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
            request = requests.recv() => match request {
                Some(Request::RefreshNow) => {
                    let _ = command_tx.send(CollectorCommand::RefreshNow);
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
                Some(Request::LoadHistory { task_id }) => {
                    let tasks = tasks.clone();
                    tokio::spawn(async move { tasks.send_history(task_id).await });
                }
                Some(Request::Shutdown) | None => break,
            },
        }
    }
    tasks.shutdown().await;
    drop(change_tx);
    let _ = writer.await;
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
) {
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
