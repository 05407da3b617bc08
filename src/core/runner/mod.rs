//! The runner: drives every collector through the one collector loop, judges every sample with
//! the one judge, persists alert changes, and tells whoever listens (TUI or headless) through
//! owned [`Event`]s. It refreshes the backup inventory itself when a backup task ends, feeds
//! what it sees (alerts, service state changes, task runs, checklist notes) to the open
//! incidents' automatic [`Timeline`], and announces the incident changes the console makes (and,
//! watching, incidents gone overdue).
//!
//! The UI never awaits the runner: it sends [`Request`]s on an unbounded channel and reads
//! events when they arrive.

pub mod due_watch;
pub mod exporter;
pub mod history_writer;
pub mod live;
pub mod report_desk;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::core::backups::BackupSet;
use crate::core::backups::watch::{BackupCollector, BackupRound};
use crate::core::capacity::job::{CapacityJob, CapacityReport, JobTiming};
use crate::core::capacity::log_dirs::{self, LogDirCollector, LogDirSample};
use crate::core::checklists::service::ChecklistService;
use crate::core::checklists::{Checklist, EntryKind, RunState};
use crate::core::checks::{Change, Evaluation, Judge, Rule};
use crate::core::collectors::resources::{ResourceCollector, ResourceSample, ResourceSettings};
use crate::core::collectors::{
    CollectError, Collector, Control, OffThread, Sample, drive, drive_after_first,
};
use crate::core::containers::ContainersSnapshot;
use crate::core::containers::docker::ContainerCollector;
use crate::core::execution::{TaskManager, TaskSettings};
use crate::core::exposure::{ExposureCollector, ExposureSample, ExposureSettings};
use crate::core::fleet::{FleetCollector, FleetSnapshot, FleetSpec, HostHistory};
use crate::core::history;
use crate::core::incidents::service::{IncidentService, NotRecorded, Watched};
use crate::core::incidents::timeline::{self, Observation, Timeline};
use crate::core::incidents::{IncidentsSample, Notice};
use crate::core::logs::findings::{LineFilter, LogsSnapshot};
use crate::core::logs::source::LogSource;
use crate::core::logs::watch::{LineView, LogCollector, LogWatch, StorePositions};
use crate::core::model::{Alert, Metric, Status};
use crate::core::notify::{AlertEvent, Notifier, NotifySettings};
use crate::core::protocol::{Event, Request};
use crate::core::queries::collector::QueryCollector;
use crate::core::queries::{QuerySettings, QuerySnapshot, WatchedDatabase};
use crate::core::reports::ReportSettings;
use crate::core::services::ServiceSpec;
use crate::core::services::scheduler::{self, Passes, ServiceCollector, ServiceResult};
use crate::core::shared::SharedSettings;
use crate::core::shared::presence::{PresenceCollector, PresenceSample};
use crate::core::sources::prometheus::Prometheus;
use crate::core::store::ServiceResultRow;
use crate::core::store::{AlertOpening, AlertUpdate, Store};
use crate::core::tasks::schedule::{ScheduleSample, TaskSchedule};
use due_watch::DueWatch;
use history_writer::Recorded;
use report_desk::ReportDesk;

pub use crate::core::checklists::service::CHECKLISTS_EVERY;

/// How far back the alerts area looks when it starts.
const RECENT_ALERTS_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const RECENT_ALERTS_LIMIT: i64 = 200;
/// Room for one sweep of many services before a collector waits for the runner.
const SAMPLES_QUEUED: usize = 1024;

/// Where the runner's gauges come from.
pub enum Resources {
    /// A collector that already took its first sample (the console reads the gauges before its
    /// first frame): the runner takes its next sample one interval later.
    Primed(Box<ResourceCollector>),
    /// The runner builds the collector and samples at once.
    Settings(ResourceSettings),
}

pub struct RunnerSettings {
    /// `None` for headless task runs, which need no gauges.
    pub resources: Option<Resources>,
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
    /// Re-read the incidents every few seconds for a pane that shows them (the console);
    /// requests that change an incident are served either way.
    pub watch_incidents: bool,
    /// Watch the scheduled tasks (next run, overdue) for the rules and the tasks pane; needs
    /// the store.
    pub watch_schedules: bool,
    /// The log sources followed (`[[log]]`), their read positions kept in the store.
    pub logs: Vec<LogSource>,
    /// The `[[prometheus]]` sources of the hosts pane.
    pub fleet: Vec<FleetSpec>,
    /// When to project capacity from the history (needs the store); `None` never.
    pub capacity: Option<JobTiming>,
    /// What the console's reports are composed from; `None`: reports are not offered.
    pub reports: Option<ReportSettings>,
    /// Pending updates, key ages and hardening (`[exposure]`, `[[secret]]`); `None`: off.
    pub exposure: Option<ExposureSettings>,
    /// On a shared (PostgreSQL) store: beat as this kind, show who else is on, and follow the
    /// others' changes live. `None`, or a SQLite store: none of that.
    pub shared: Option<SharedSettings>,
    /// How often the containers are refreshed (`[containers]`); `None`: Docker is not watched.
    pub containers: Option<Duration>,
}

impl RunnerSettings {
    /// A runner for tasks alone (a headless `opsdeck run`): no gauges, rules, services,
    /// databases, backup sets or checklists; add any of them with struct update syntax.
    pub fn tasks_only(tasks: TaskSettings) -> RunnerSettings {
        RunnerSettings {
            resources: None,
            rules: Vec::new(),
            tasks,
            services: Vec::new(),
            notify: NotifySettings::default(),
            databases: Vec::new(),
            queries: QuerySettings::default(),
            queries_interval: Duration::from_secs(5),
            backups: Vec::new(),
            backups_interval: Duration::from_secs(60),
            checklists: Vec::new(),
            watch_incidents: false,
            watch_schedules: false,
            logs: Vec::new(),
            fleet: Vec::new(),
            capacity: None,
            reports: None,
            exposure: None,
            shared: None,
            containers: None,
        }
    }
}

pub struct RunnerHandle {
    pub requests: mpsc::UnboundedSender<Request>,
    pub events: mpsc::Receiver<Event>,
    pub task: JoinHandle<()>,
}

/// A sample from any collector, as the runner receives them all on one channel.
enum Collected {
    Resources(Result<ResourceSample, CollectError>),
    Service(ServiceResult),
    Queries(Box<QuerySnapshot>),
    Backups(BackupRound),
    Checklists(Result<Vec<RunState>, String>),
    Incidents(Watched),
    Logs(Box<LogsSnapshot>),
    Fleet(Box<FleetSnapshot>),
    Capacity(Box<CapacityReport>),
    LogDirs(LogDirSample),
    Containers(Box<ContainersSnapshot>),
    Schedules(Result<ScheduleSample, String>),
    Exposure(Box<ExposureSample>),
    Presence(PresenceSample),
}

impl From<Box<ContainersSnapshot>> for Collected {
    fn from(snapshot: Box<ContainersSnapshot>) -> Self {
        Collected::Containers(snapshot)
    }
}

impl From<Result<ScheduleSample, String>> for Collected {
    fn from(sample: Result<ScheduleSample, String>) -> Self {
        Collected::Schedules(sample)
    }
}

impl From<ExposureSample> for Collected {
    fn from(sample: ExposureSample) -> Self {
        Collected::Exposure(Box::new(sample))
    }
}

impl From<PresenceSample> for Collected {
    fn from(sample: PresenceSample) -> Self {
        Collected::Presence(sample)
    }
}

impl From<Box<FleetSnapshot>> for Collected {
    fn from(snapshot: Box<FleetSnapshot>) -> Self {
        Collected::Fleet(snapshot)
    }
}

impl From<Box<CapacityReport>> for Collected {
    fn from(report: Box<CapacityReport>) -> Self {
        Collected::Capacity(report)
    }
}

impl From<LogDirSample> for Collected {
    fn from(sample: LogDirSample) -> Self {
        Collected::LogDirs(sample)
    }
}

impl From<Box<LogsSnapshot>> for Collected {
    fn from(snapshot: Box<LogsSnapshot>) -> Self {
        Collected::Logs(snapshot)
    }
}

impl From<Result<ResourceSample, CollectError>> for Collected {
    fn from(sample: Result<ResourceSample, CollectError>) -> Self {
        Collected::Resources(sample)
    }
}

impl From<ServiceResult> for Collected {
    fn from(result: ServiceResult) -> Self {
        Collected::Service(result)
    }
}

impl From<Box<QuerySnapshot>> for Collected {
    fn from(snapshot: Box<QuerySnapshot>) -> Self {
        Collected::Queries(snapshot)
    }
}

impl From<BackupRound> for Collected {
    fn from(round: BackupRound) -> Self {
        Collected::Backups(round)
    }
}

impl From<Result<Vec<RunState>, String>> for Collected {
    fn from(runs: Result<Vec<RunState>, String>) -> Self {
        Collected::Checklists(runs)
    }
}

impl From<Watched> for Collected {
    fn from(watched: Watched) -> Self {
        Collected::Incidents(watched)
    }
}

impl Sample for Collected {
    fn metrics(&self) -> Vec<Metric> {
        match self {
            Collected::Resources(Ok(sample)) => sample.metrics(),
            Collected::Service(result) => result.metrics(),
            Collected::Queries(snapshot) => snapshot.metrics(),
            Collected::Backups(round) => round.metrics(),
            Collected::Logs(snapshot) => snapshot.metrics(),
            Collected::Fleet(snapshot) => snapshot.metrics(),
            Collected::Capacity(report) => report.metrics(),
            Collected::LogDirs(sample) => sample.metrics(),
            Collected::Containers(snapshot) => snapshot.metrics(),
            Collected::Schedules(Ok(sample)) => sample.metrics(),
            Collected::Exposure(sample) => sample.metrics(),
            Collected::Presence(sample) => sample.metrics(),
            Collected::Incidents(Watched {
                incidents: Ok(incidents),
                ..
            }) => IncidentsSample {
                incidents,
                taken_at: crate::core::model::now(),
            }
            .metrics(),
            Collected::Resources(Err(_))
            | Collected::Checklists(_)
            | Collected::Incidents(_)
            | Collected::Schedules(Err(_)) => Vec::new(),
        }
    }

    fn taken_at(&self) -> DateTime<Utc> {
        match self {
            Collected::Resources(Ok(sample)) => sample.taken_at,
            Collected::Service(result) => result.checked_at,
            Collected::Queries(snapshot) => snapshot.taken_at,
            Collected::Backups(round) => round.taken_at,
            Collected::Logs(snapshot) => snapshot.taken_at,
            Collected::Fleet(snapshot) => snapshot.taken_at,
            Collected::Capacity(report) => report.taken_at,
            Collected::LogDirs(sample) => sample.taken_at,
            Collected::Containers(snapshot) => snapshot.taken_at,
            Collected::Schedules(Ok(sample)) => sample.taken_at,
            Collected::Resources(Err(_))
            | Collected::Checklists(_)
            | Collected::Incidents(_)
            | Collected::Schedules(Err(_)) => crate::core::model::now(),
            Collected::Exposure(sample) => sample.taken_at,
            Collected::Presence(sample) => sample.taken_at,
        }
    }
}

/// The driven collectors, to refresh on request and stop with the runner.
struct Drives {
    cancel: CancellationToken,
    samples: mpsc::Sender<Collected>,
    /// Refreshed by [`Request::RefreshNow`] (services keep their own intervals).
    refreshed: Vec<Control>,
    databases: Vec<Control>,
    backups: Option<Control>,
    services: HashMap<String, Control>,
}

impl Drives {
    fn start<C>(&mut self, collector: C) -> Control
    where
        C: Collector,
        Collected: From<C::Sample>,
    {
        let control = Control::new(&self.cancel);
        tokio::spawn(drive(collector, control.clone(), self.samples.clone()));
        control
    }

    fn refresh_now(&self) {
        self.refreshed
            .iter()
            .chain(&self.databases)
            .chain(&self.backups)
            .for_each(Control::refresh_now);
    }
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
    let mut judge = Judge::new(settings.rules).on_host(&settings.tasks.identity.host);
    // The store's word on alerts that others opened or resolved first, for the judge.
    let (stored_tx, mut stored_alerts) = mpsc::unbounded_channel::<Alert>();
    // Other consoles' alert changes, heard live.
    let (heard_tx, mut heard_alerts) = mpsc::unbounded_channel::<Alert>();
    let reports = settings
        .reports
        .map(|reports| ReportDesk::new(store.clone(), reports));
    if let Some(store) = &store {
        restore(&mut judge, store, &events).await;
    }
    let (sample_tx, mut samples) = mpsc::channel::<Collected>(SAMPLES_QUEUED);
    let mut drives = Drives {
        cancel: CancellationToken::new(),
        samples: sample_tx,
        refreshed: Vec::new(),
        databases: Vec::new(),
        backups: None,
        services: HashMap::new(),
    };
    let calendar_checklists = settings.checklists.clone();
    let calendar_tasks: Vec<crate::core::tasks::TaskInfo> = settings
        .tasks
        .tasks
        .iter()
        .map(|task| task.info.clone())
        .collect();
    let checklists = ChecklistService::new(
        settings.checklists,
        store.clone(),
        settings.tasks.identity.user.clone(),
        settings.tasks.identity.host.clone(),
    );
    let mut checklists_control = None;
    if !checklists.is_empty() && store.is_some() {
        let control = drives.start(checklists.clone());
        drives.refreshed.push(control.clone());
        checklists_control = Some(control);
    }
    let incidents = store.clone().map(|store| {
        IncidentService::new(
            store,
            settings.tasks.identity.user.clone(),
            settings.tasks.identity.host.clone(),
        )
        .with_notifications(settings.notify.clone())
    });
    let mut incidents_control = None;
    if let Some(incidents) = incidents.as_ref().filter(|_| settings.watch_incidents) {
        let control = drives.start(incidents.clone());
        drives.refreshed.push(control.clone());
        incidents_control = Some(control);
    }
    let (timeline, timeline_writer) = match incidents.clone() {
        Some(incidents) => {
            let warnings = events.clone();
            let (timeline, writer) = Timeline::spawn(incidents, move |message| {
                let _ = warnings.try_send(Event::Warning {
                    source: "incidents",
                    message,
                });
            });
            (Some(timeline), Some(writer))
        }
        None => (None, None),
    };
    // The watch polls on a blocking thread; line requests are answered from its shared lines.
    let log_lines = (!settings.logs.is_empty()).then(|| {
        let positions = store.clone().map(|store| {
            Box::new(StorePositions::new(
                store,
                tokio::runtime::Handle::current(),
            )) as Box<dyn crate::core::logs::watch::Positions>
        });
        if let Some(sizes) = LogDirCollector::new(&settings.logs, log_dirs::INTERVAL) {
            drives.start(OffThread::new("log directories", sizes));
        }
        let watch = LogWatch::new(settings.logs, positions);
        let lines = watch.line_view();
        let control = drives.start(OffThread::new("logs", LogCollector::new(watch)));
        drives.refreshed.push(control);
        lines
    });
    if let Some(collector) = settings.exposure.and_then(ExposureCollector::new) {
        // Not refreshed on request: apt and needrestart take seconds of CPU per look.
        drives.start(OffThread::new("exposure", collector));
    }
    // The host view asks the source's server for one host's history.
    let mut fleet_servers: HashMap<String, (Prometheus, Vec<String>)> = HashMap::new();
    for spec in settings.fleet {
        let collector = FleetCollector::new(spec.clone());
        if let Some(server) = collector.server() {
            fleet_servers.insert(spec.name.clone(), (server, spec.jobs.clone()));
        }
        let control = drives.start(collector);
        drives.refreshed.push(control);
    }
    if let Some(interval) = settings.containers {
        let control = drives.start(ContainerCollector::new(interval));
        drives.refreshed.push(control);
    }
    if let (Some(timing), Some(store)) = (settings.capacity, &store) {
        drives.start(CapacityJob::new(store.clone(), timing));
    }
    if !settings.backups.is_empty() {
        let collector =
            BackupCollector::new(settings.backups, settings.backups_interval, store.clone());
        drives.backups = Some(drives.start(collector));
    }
    let schedules: Vec<(String, TaskSchedule)> = settings
        .tasks
        .tasks
        .iter()
        .filter_map(|task| Some((task.info.id.clone(), task.info.schedule.clone()?)))
        .collect();
    let due_watch = match &store {
        Some(store) if settings.watch_schedules && !schedules.is_empty() => {
            Some(drives.start(DueWatch::new(
                store.clone(),
                settings.tasks.identity.host.clone(),
                schedules,
            )))
        }
        _ => None,
    };
    // Task events pass by the runner, which refreshes the backups when a backup task ends
    // (and the schedules when any does).
    let (task_tx, task_events) = mpsc::channel(256);
    tokio::spawn(forward_task_events(
        task_events,
        events.clone(),
        [drives.backups.clone(), due_watch],
        timeline.clone(),
    ));
    let identity = settings.tasks.identity.clone();
    let tasks = TaskManager::new(settings.tasks, store.clone(), task_tx);
    tasks.startup().await;
    let shared = settings
        .shared
        .zip(store.clone())
        .filter(|(_, store)| store.shared_url().is_some());
    if let Some((shared, store)) = &shared {
        drives.start(PresenceCollector::new(
            store.clone(),
            shared.clone(),
            identity.user.clone(),
            identity.host.clone(),
            identity.pid,
        ));
        let targets = live::Targets {
            checklists: checklists_control,
            incidents: incidents_control,
            tasks: tasks.clone(),
            events: events.clone(),
            judge: heard_tx,
        };
        live::spawn(store.clone(), targets, drives.cancel.clone());
    }
    if let Some(Resources::Primed(collector)) = settings.resources {
        let control = Control::new(&drives.cancel);
        tokio::spawn(drive_after_first(
            OffThread::new("resources", *collector),
            control.clone(),
            drives.samples.clone(),
        ));
        drives.refreshed.push(control);
    } else if let Some(Resources::Settings(resources)) = settings.resources {
        // Building the collector reads /proc, so it is done off the async threads too.
        match tokio::task::spawn_blocking(move || ResourceCollector::new(resources)).await {
            Ok(Ok(collector)) => {
                let control = drives.start(OffThread::new("resources", collector));
                drives.refreshed.push(control);
            }
            Ok(Err(error)) => {
                let warning = Event::Warning {
                    source: "resources",
                    message: error.to_string(),
                };
                let _ = events.send(warning).await;
            }
            Err(error) => tracing::error!("cannot start the resources collector: {error}"),
        }
    }
    // Writes go through their own task so a slow or hung store delays alerts, never samples.
    let notifier = Notifier::new(settings.notify);
    let notices = notifier
        .is_enabled()
        .then(|| spawn_notifier(notifier, events.clone()));
    let (change_tx, change_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(persist(
        store.clone(),
        change_rx,
        events.clone(),
        notices,
        timeline.clone(),
        stored_tx,
    ));
    let (history, history_writer) = match store.clone() {
        Some(store) => {
            let (history, writer) = history_writer::spawn(store, events.clone());
            (Some(history), Some(writer))
        }
        None => (None, None),
    };
    let (row_tx, row_rx) = mpsc::unbounded_channel();
    let result_writer = tokio::spawn(write_service_results(store.clone(), row_rx, events.clone()));
    let availability = store
        .clone()
        .filter(|_| !settings.services.is_empty())
        .map(|store| tokio::spawn(report_availability(store, events.clone())));
    start_services(&mut drives, settings.services);
    let (sort_tx, sort_rx) = tokio::sync::watch::channel(settings.queries.sort);
    for (name, url) in settings.databases {
        let collector = QueryCollector::new(name, url, settings.queries.clone());
        let watched = WatchedDatabase::new(collector, settings.queries_interval, sort_rx.clone());
        let control = drives.start(watched);
        drives.databases.push(control);
    }

    loop {
        tokio::select! {
            Some(stored) = stored_alerts.recv() => judge.take_stored(&stored),
            Some(heard) = heard_alerts.recv() => judge.hear_of(&heard),
            Some(collected) = samples.recv() => {
                let verdict = judge.judge(&collected);
                for change in verdict.changes {
                    let _ = change_tx.send(change);
                }
                if let Some(history) = &history
                    && let Some(recorded) =
                        Recorded::of(collected.taken_at(), &verdict.evaluations)
                {
                    let _ = history.send(recorded);
                }
                let timeline = timeline.as_ref();
                if !deliver(collected, verdict.evaluations, &events, &row_tx, timeline).await {
                    break;
                }
            }
            request = requests.recv() => match request {
                Some(Request::RefreshNow) => {
                    drives.refresh_now();
                    tasks.send_history(None).await;
                }
                Some(Request::PlanTask { task_id, params }) => {
                    let tasks = tasks.clone();
                    tokio::spawn(async move { tasks.plan(task_id, params).await });
                }
                Some(Request::StartTask { task_id, params, confirmed }) => {
                    tasks.start(task_id, params, confirmed);
                }
                Some(Request::StartDue { task_id }) => tasks.start_due(task_id),
                Some(Request::CancelRun { run_id }) => tasks.cancel(&run_id),
                Some(Request::ChecklistEntry(entry)) => {
                    let (checklists, events) = (checklists.clone(), events.clone());
                    let timeline = timeline.clone();
                    tokio::spawn(async move {
                        let note = (entry.kind == EntryKind::Note).then(|| {
                            (entry.checklist.clone(), entry.item.clone(), entry.text.clone())
                        });
                        let event = match checklists.record(entry).await {
                            Ok(run) => {
                                if let (Some((checklist, item, text)), Some(timeline)) =
                                    (note, &timeline)
                                {
                                    timeline.observe(Observation::ChecklistNote {
                                        checklist,
                                        period: run.period.clone(),
                                        item,
                                        text,
                                    });
                                }
                                Event::ChecklistRun(run)
                            }
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
                Some(Request::IncidentEntry { id, change }) => {
                    record_incident_entry(&incidents, &events, &timeline, id, change);
                }
                Some(Request::AttachLogFinding { incident, source, summary, lines }) => {
                    let change = crate::core::logs::findings::attachment(&source, &summary, &lines);
                    record_incident_entry(&incidents, &events, &timeline, incident, change);
                }
                Some(Request::OpenIncident(opening)) => {
                    let (incidents, events) = (incidents.clone(), events.clone());
                    let timeline = timeline.clone();
                    tokio::spawn(async move {
                        let Some(incidents) = incidents else {
                            let _ = events.send(no_incident_store()).await;
                            return;
                        };
                        let level = opening.level;
                        let (answer, opened) = match incidents.open(opening).await {
                            Ok(id) => {
                                let opened = Event::IncidentOpened { id: id.clone(), level };
                                let _ = events.send(opened).await;
                                // The new incident's timeline starts with what happens next.
                                let answer = incidents.current().await.map_or_else(
                                    |message| not_recorded_event(NotRecorded::Store(message)),
                                    |incidents| {
                                        if let Some(timeline) = &timeline {
                                            timeline.incidents(&incidents);
                                        }
                                        Event::Incidents(incidents)
                                    },
                                );
                                (answer, Some(id))
                            }
                            Err(not_recorded) => (not_recorded_event(not_recorded), None),
                        };
                        let _ = events.send(answer).await;
                        if let Some(id) = opened {
                            announce(&incidents, &id, Notice::Opened, &events).await;
                        }
                    });
                }
                Some(Request::SetStatementSort(sort)) => {
                    let _ = sort_tx.send(sort);
                    drives.databases.iter().for_each(Control::refresh_now);
                }
                Some(Request::CheckService { name }) => {
                    if let Some(control) = drives.services.get(&name) {
                        control.refresh_now();
                    }
                }
                Some(Request::LoadHistory { task_id }) => {
                    let tasks = tasks.clone();
                    tokio::spawn(async move { tasks.send_history(task_id).await });
                }
                Some(Request::LoadMetricHistory { keys, resolution, since }) => {
                    answer_metric_history(store.clone(), keys, resolution, since, events.clone());
                }
                Some(Request::LoadLogLines { source, filter }) => {
                    answer_log_lines(log_lines.clone(), source, filter, events.clone());
                }
                Some(Request::LoadContainerLogs { name }) => {
                    let events = events.clone();
                    tokio::spawn(async move {
                        let lines = match crate::core::containers::docker::connect().await {
                            Ok(docker) => crate::core::containers::docker::log_tail(&docker, &name).await,
                            Err(error) => Err(error),
                        };
                        let lines = lines.map_err(|error| error.to_string());
                        let _ = events.send(Event::ContainerLogs { name, lines }).await;
                    });
                }
                Some(Request::LoadHostHistory { source, instance }) => {
                    let server = fleet_servers.get(&source).cloned();
                    let events = events.clone();
                    tokio::spawn(async move {
                        let history = match server {
                            Some((server, jobs)) => {
                                crate::core::fleet::history(&server, &jobs, &instance).await
                            }
                            None => HostHistory {
                                instance,
                                series: Vec::new(),
                                error: Some(format!("no [[prometheus]] source named `{source}`")),
                            },
                        };
                        let _ = events.send(Event::HostHistory(Box::new(history))).await;
                    });
                }
                Some(Request::LoadCalendar { language }) => {
                    let (store, events) = (store.clone(), events.clone());
                    let (tasks, checklists) = (calendar_tasks.clone(), calendar_checklists.clone());
                    let host = identity.host.clone();
                    tokio::spawn(async move {
                        let calendar = match &store {
                            Some(store) => crate::core::calendar::load(
                                store,
                                &host,
                                &tasks,
                                &checklists,
                                language,
                                crate::core::model::now(),
                                &chrono::Local,
                            )
                            .await
                            .map(Box::new)
                            .map_err(|error| error.to_string()),
                            None => Err("the calendar needs the state store".to_owned()),
                        };
                        let _ = events.send(Event::Calendar(calendar)).await;
                    });
                }
                Some(Request::ComposeReport { kind }) => match &reports {
                    Some(reports) => reports.compose(kind, events.clone()),
                    None => {
                        let refused = Event::ReportComposed {
                            kind,
                            report: Err("reports are not offered here".to_owned()),
                        };
                        let _ = events.send(refused).await;
                    }
                },
                Some(Request::SaveReport { kind, format }) => {
                    if let Some(reports) = &reports {
                        reports.save(kind, format, events.clone());
                    }
                }
                Some(Request::Shutdown) | None => break,
            },
        }
    }
    drives.cancel.cancel();
    tasks.shutdown().await;
    if let Some(availability) = availability {
        availability.abort();
    }
    drop(change_tx);
    drop(row_tx);
    drop(history);
    let _ = result_writer.await;
    let _ = writer.await;
    if let Some(history_writer) = history_writer {
        let _ = history_writer.await;
    }
    // After the alerts' writer, whose last changes may still have entries to add.
    if let (Some(timeline), Some(writer)) = (timeline, timeline_writer) {
        timeline.stop();
        if tokio::time::timeout(timeline::FLUSH_WAIT, writer)
            .await
            .is_err()
        {
            tracing::warn!(
                "the incidents' timeline was not written within {:?}",
                timeline::FLUSH_WAIT
            );
        }
    }
    if let Some((_, store)) = &shared {
        // The others stop showing this console at once rather than after the timeout.
        let ended = store.end_beat(store.session(), crate::core::model::now());
        if let Ok(Err(error)) = tokio::time::timeout(END_BEAT_WAIT, ended).await {
            tracing::warn!("{error}");
        }
    }
    if let Some(store) = store {
        store.close().await;
    }
}

/// How long a stopping console waits to mark its heartbeat as ended.
const END_BEAT_WAIT: Duration = Duration::from_secs(2);

/// Sends `source`'s recent lines that pass `filter` (none without log sources), filtered off
/// the loop: a text filter over a full ring is a megabyte of lowercasing.
fn answer_log_lines(
    view: Option<LineView>,
    source: String,
    filter: LineFilter,
    events: mpsc::Sender<Event>,
) {
    tokio::spawn(async move {
        let picked = tokio::task::spawn_blocking(move || {
            let lines = view.map_or_else(Vec::new, |view| view.lines(&source, &filter));
            (source, filter, lines)
        })
        .await;
        match picked {
            Ok((source, filter, lines)) => {
                let _ = events
                    .send(Event::LogLines {
                        source,
                        filter,
                        lines,
                    })
                    .await;
            }
            Err(error) => tracing::error!("reading the log lines stopped: {error}"),
        }
    });
}

/// Starts every service's loop once the checks' shared setup is done (before any check's clock
/// starts); their controls exist at once, so a re-check asked meanwhile is not lost.
/// Reads the history asked for off the loop; a store failure is a warning and an empty answer,
/// so the asker stops waiting.
fn answer_metric_history(
    store: Option<Store>,
    keys: Vec<String>,
    resolution: history::Resolution,
    since: DateTime<Utc>,
    events: mpsc::Sender<Event>,
) {
    tokio::spawn(async move {
        let read = match &store {
            Some(store) => {
                let until = crate::core::model::now();
                history::read_many(store, &keys, resolution, since, until).await
            }
            None => Ok(HashMap::new()),
        };
        let mut series: Vec<_> = match read {
            Ok(series) => series.into_iter().collect(),
            Err(error) => {
                let warning = Event::Warning {
                    source: "history",
                    message: error.to_string(),
                };
                let _ = events.send(warning).await;
                Vec::new()
            }
        };
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let answer = Event::MetricHistory {
            resolution,
            since,
            series,
        };
        let _ = events.send(answer).await;
    });
}

/// What an incident request gets when there is no store to keep incidents in.
fn no_incident_store() -> Event {
    Event::IncidentRefused(
        "incidents need the state store, and it is not open; see the store error".to_owned(),
    )
}

/// Announces a change the console made, then shows the incidents with the announcement logged;
/// a failed delivery is a warning, like an alert's.
async fn announce(
    incidents: &IncidentService,
    id: &str,
    notice: Notice,
    events: &mpsc::Sender<Event>,
) {
    if !incidents.announces() {
        return;
    }
    let warnings = match incidents.announce(id, notice).await {
        Ok(failures) => failures,
        Err(NotRecorded::Refused(message) | NotRecorded::Store(message)) => vec![message],
    };
    for message in warnings {
        let _ = events
            .send(Event::Warning {
                source: "notify",
                message,
            })
            .await;
    }
    if let Ok(current) = incidents.current().await {
        let _ = events.send(Event::Incidents(current)).await;
    }
}

/// A refusal is the user's to read where they pressed the key; a store failure is a warning.
fn not_recorded_event(not_recorded: NotRecorded) -> Event {
    match not_recorded {
        NotRecorded::Refused(message) => Event::IncidentRefused(message),
        NotRecorded::Store(message) => Event::Warning {
            source: "incidents",
            message,
        },
    }
}

fn start_services(drives: &mut Drives, specs: Vec<ServiceSpec>) {
    if specs.is_empty() {
        return;
    }
    let driven: Vec<(ServiceCollector, Control)> =
        scheduler::collectors(specs.clone(), Passes::Running)
            .into_iter()
            .map(|collector| {
                let control = Control::new(&drives.cancel);
                drives
                    .services
                    .insert(collector.id().to_owned(), control.clone());
                (collector, control)
            })
            .collect();
    let samples = drives.samples.clone();
    tokio::spawn(async move {
        crate::core::services::prepare(&specs).await;
        for (collector, control) in driven {
            tokio::spawn(drive(collector, control, samples.clone()));
        }
    });
}

/// Tells whoever listens what a judged sample shows; `false` once nobody listens.
async fn deliver(
    collected: Collected,
    evaluations: Vec<Evaluation>,
    events: &mpsc::Sender<Event>,
    rows: &mpsc::UnboundedSender<ServiceResultRow>,
    timeline: Option<&Timeline>,
) -> bool {
    let updates = match collected {
        Collected::Resources(Ok(sample)) => vec![Event::Resources {
            sample: Box::new(sample),
            evaluations,
        }],
        Collected::Resources(Err(error)) => vec![Event::Warning {
            source: "resources",
            message: error.to_string(),
        }],
        // Slow statements and stuck sessions can have rules like any other metric.
        Collected::Queries(snapshot) => {
            vec![Event::Judged(evaluations), Event::Queries(snapshot)]
        }
        Collected::Backups(round) => vec![Event::Backups {
            reports: round.reports,
            evaluations,
        }],
        Collected::Logs(snapshot) => vec![Event::Logs {
            snapshot,
            evaluations,
        }],
        Collected::Fleet(snapshot) => vec![Event::Fleet {
            snapshot,
            evaluations,
        }],
        Collected::Containers(snapshot) => vec![Event::Containers {
            snapshot,
            evaluations,
        }],
        // Days to full and growth rates have rules like any other metric.
        Collected::Capacity(report) => {
            let mut updates = vec![Event::Judged(evaluations)];
            if let Some(message) = report.error.clone() {
                updates.push(Event::Warning {
                    source: "capacity",
                    message,
                });
            }
            updates.push(Event::Capacity(report));
            updates
        }
        Collected::LogDirs(sample) => {
            for (name, size) in &sample.sizes {
                if let Err(message) = size {
                    tracing::warn!("log source {name}: {message}");
                }
            }
            vec![Event::Judged(evaluations)]
        }
        // Overdue tasks have rules like any other metric.
        Collected::Schedules(Ok(sample)) => {
            vec![Event::Judged(evaluations), Event::Schedules(sample)]
        }
        Collected::Schedules(Err(message)) => vec![Event::Warning {
            source: "schedules",
            message,
        }],
        Collected::Exposure(sample) => {
            let mut updates = vec![Event::Judged(evaluations)];
            updates.extend(sample.errors().into_iter().map(|message| Event::Warning {
                source: "exposure",
                message,
            }));
            updates
        }
        Collected::Presence(sample) => match sample.peers {
            Ok(peers) => vec![Event::Presence { peers, evaluations }],
            Err(message) => vec![Event::Warning {
                source: "store",
                message,
            }],
        },
        Collected::Checklists(Ok(runs)) => vec![Event::ChecklistRuns(runs)],
        Collected::Checklists(Err(message)) => vec![Event::Warning {
            source: "checklists",
            message,
        }],
        Collected::Incidents(watched) => {
            let shown = match watched.incidents {
                Ok(incidents) => {
                    if let Some(timeline) = timeline {
                        timeline.incidents(&incidents);
                    }
                    Event::Incidents(incidents)
                }
                Err(message) => Event::Warning {
                    source: "incidents",
                    message,
                },
            };
            // The overdue count can raise or clear its rule's alert like any other metric.
            let mut updates = vec![Event::Judged(evaluations), shown];
            updates.extend(watched.failures.into_iter().map(|message| Event::Warning {
                source: "notify",
                message,
            }));
            updates
        }
        Collected::Service(result) => {
            let level = evaluations
                .iter()
                .map(|evaluation| evaluation.status)
                .max()
                .unwrap_or(Status::Unknown);
            let _ = rows.send(ServiceResultRow {
                service: result.name.clone(),
                checked_at: result.checked_at,
                ok: result.outcome.ok,
                latency_ms: result
                    .outcome
                    .latency
                    .map(|latency| latency.as_secs_f64() * 1000.0),
                detail: result.outcome.detail.clone(),
            });
            if let Some(timeline) = timeline {
                timeline.observe(Observation::ServiceChecked {
                    name: result.name.clone(),
                    state: result.state,
                    detail: result.outcome.detail.clone(),
                    at: result.checked_at,
                });
            }
            vec![
                Event::Judged(evaluations),
                Event::ServiceChecked {
                    name: result.name,
                    state: result.state,
                    level,
                    checked_at: result.checked_at,
                    outcome: result.outcome,
                },
            ]
        }
    };
    for update in updates {
        if events.send(update).await.is_err() {
            return false;
        }
    }
    true
}

/// Passes the tasks' events on; when a backup task ends, what is on disk or known about the
/// backups changed, so their inventory is refreshed before the end is announced. Runs starting
/// and ending go to the incidents' timeline first, so a headless run that stops as soon as it
/// hears its run ended still records it.
async fn forward_task_events(
    mut from: mpsc::Receiver<Event>,
    to: mpsc::Sender<Event>,
    [backups, schedules]: [Option<Control>; 2],
    timeline: Option<Timeline>,
) {
    while let Some(event) = from.recv().await {
        match (&event, &timeline) {
            (Event::TaskStarted(run), Some(timeline)) => {
                timeline.observe(Observation::TaskStarted(run.clone()));
            }
            (Event::TaskFinished(run), Some(timeline)) => {
                timeline.observe(Observation::TaskFinished(run.clone()));
            }
            _ => {}
        }
        if let (Event::TaskFinished(run), Some(backups)) = (&event, &backups)
            && crate::core::tasks::backups::TASK_IDS.contains(&run.task_id.as_str())
        {
            backups.refresh_now();
        }
        if let (Event::TaskFinished(_), Some(schedules)) = (&event, &schedules) {
            schedules.refresh_now();
        }
        if to.send(event).await.is_err() {
            return;
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

async fn restore(judge: &mut Judge, store: &Store, events: &mpsc::Sender<Event>) {
    let now = crate::core::model::now();
    let host = judge.host().to_owned();
    let loaded = async {
        let pending = store.pending(&host).await?;
        let open = store.open_alerts(&host).await?;
        let recent = store
            .recent_alerts(now - RECENT_ALERTS_WINDOW, RECENT_ALERTS_LIMIT)
            .await?;
        Ok::<_, crate::core::store::StoreError>((pending, open, recent))
    };
    let warning = match tokio::time::timeout(RESTORE_TIMEOUT, loaded).await {
        Ok(Ok((pending, open, recent))) => {
            judge.restore(pending, open, now);
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
/// it is stored (or the store's failure is on screen next to it). Openings, escalations and
/// resolutions are notified and go to the incidents' timeline.
///
/// The store keeps one open alert per host and series, so another console (for a fleet-wide
/// series) or process of this host may have opened or resolved it first: then the stored alert
/// is shown and handed to the judge through `judge` instead, and whoever stored it first
/// notified it.
async fn persist(
    store: Option<Store>,
    mut changes: mpsc::UnboundedReceiver<Change>,
    events: mpsc::Sender<Event>,
    notices: Option<mpsc::UnboundedSender<(Alert, AlertEvent)>>,
    timeline: Option<Timeline>,
    judge: mpsc::UnboundedSender<Alert>,
) {
    // The level each open alert was last announced at, to tell an escalation from a new peak.
    let mut levels: std::collections::HashMap<String, Status> = std::collections::HashMap::new();
    // Openings the store answered with another's alert: the judge's own changes to them, made
    // before it took the stored one, are dropped.
    let mut superseded: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some(change) = changes.recv().await {
        // Whether this change raised the alert's level in the store; without a store, it did.
        let mut raised_here = true;
        if let Change::Updated(alert) | Change::Resolved(alert) = &change
            && superseded.contains(&alert.id)
        {
            if !alert.is_open() {
                superseded.remove(&alert.id);
            }
            continue;
        }
        let stored = match (&change, &store) {
            (Change::Opened(alert), Some(store)) => {
                store
                    .insert_alert(alert)
                    .await
                    .map(|opening| match opening {
                        AlertOpening::Stored => None,
                        AlertOpening::AlreadyOpen(open) => {
                            superseded.insert(alert.id.clone());
                            Some(open)
                        }
                    })
            }
            (Change::Updated(alert) | Change::Resolved(alert), Some(store)) => {
                match store.update_alert(alert).await {
                    Ok(AlertUpdate::NotOpen) => store.alert(&alert.id).await,
                    Ok(AlertUpdate::Stored { raised }) => {
                        raised_here = raised;
                        Ok(None)
                    }
                    Err(error) => Err(error),
                }
            }
            (Change::Pending(record), Some(store)) => {
                store.save_pending(record).await.map(|()| None)
            }
            (Change::PendingCleared { host, key }, Some(store)) => {
                store.clear_pending(host, key).await.map(|()| None)
            }
            (_, None) => Ok(None),
        };
        let instead = match stored {
            Ok(instead) => instead,
            Err(error) => {
                tracing::warn!("{error}");
                let warning = Event::Warning {
                    source: "store",
                    message: error.to_string(),
                };
                if events.send(warning).await.is_err() {
                    break;
                }
                None
            }
        };
        if let Some(stored) = instead {
            if stored.is_open() {
                levels.insert(stored.id.clone(), stored.level);
            } else {
                levels.remove(&stored.id);
            }
            let _ = judge.send(stored.clone());
            if events.send(Event::AlertChanged(stored)).await.is_err() {
                break;
            }
            continue;
        }
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
                // Another console sharing the alert raised it first, and told of it.
                raised_here.then_some(AlertEvent::Escalated)
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
            if let Some(notices) = &notices {
                let _ = notices.send((alert.clone(), notice));
            }
            if let Some(timeline) = &timeline {
                timeline.observe(Observation::Alert {
                    alert: alert.clone(),
                    event: notice,
                });
            }
        }
        if let Change::Opened(alert) | Change::Updated(alert) | Change::Resolved(alert) = change {
            tracing::info!(key = %alert.key, level = alert.level.as_str(), open = alert.is_open(), "alert");
            if events.send(Event::AlertChanged(alert)).await.is_err() {
                break;
            }
        }
    }
}

/// Records `change` to incident `id` off the loop: the store answers [`Event::Incidents`] or a
/// refusal, the timeline learns the new state, and the team hears when the change calls for it.
fn record_incident_entry(
    incidents: &Option<IncidentService>,
    events: &mpsc::Sender<Event>,
    timeline: &Option<Timeline>,
    id: String,
    change: crate::core::incidents::Change,
) {
    let (incidents, events, timeline) = (incidents.clone(), events.clone(), timeline.clone());
    tokio::spawn(async move {
        let Some(incidents) = incidents else {
            let _ = events.send(no_incident_store()).await;
            return;
        };
        let notice = change.notice();
        let event = match incidents.record(&id, change).await {
            Ok(incidents) => {
                if let Some(timeline) = &timeline {
                    timeline.incidents(&incidents);
                }
                Event::Incidents(incidents)
            }
            Err(not_recorded) => not_recorded_event(not_recorded),
        };
        let recorded = matches!(event, Event::Incidents(_));
        let _ = events.send(event).await;
        if let (true, Some(notice)) = (recorded, notice) {
            announce(&incidents, &id, notice, &events).await;
        }
    });
}
