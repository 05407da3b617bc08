//! The protocol between the runner and whoever drives it (the TUI or a headless command): what
//! they may ask ([`Request`]) and what the runner tells them ([`Event`]). Only owned data crosses
//! it, so the front ends never share state with the collectors or tasks.

use crate::core::backups::status::SetReport;
use crate::core::capacity::job::CapacityReport;
use crate::core::checklists::RunState;
use crate::core::checklists::service::EntryRequest;
use crate::core::checks::Evaluation;
use crate::core::collectors::resources::ResourceSample;
use crate::core::history::{Point, Resolution};
use crate::core::incidents::{Change, Incident, Level, Opening};
use crate::core::logs::findings::{LineFilter, LogLine, LogsSnapshot};
use crate::core::model::{Alert, Status, TaskRun};
use crate::core::queries::{QuerySnapshot, StatementSort};
use crate::core::reports::{Format as ReportFormat, Kind as ReportKind, Report};
use crate::core::services::CheckOutcome;
use crate::core::services::flap::ServiceState;
use crate::core::shared::Heartbeat;
use crate::core::tasks::{Confirmed, Params, Plan};

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
        confirmed: Confirmed,
    },
    /// Run a task because its schedule says so (`opsdeck run --due`): only when it is due, not
    /// running in any process, and (if destructive) `unattended`; audited with the `schedule`
    /// trigger. A task that is not due is answered with [`Event::TaskRefused`] without a record.
    StartDue { task_id: String },
    /// Stop a run (process group SIGTERM then SIGKILL, or pg_cancel_backend).
    CancelRun { run_id: String },
    /// Send the audit history, of one task or of all; answered with [`Event::TaskHistory`].
    LoadHistory { task_id: Option<String> },
    /// Check one service now instead of waiting for its interval.
    CheckService { name: String },
    /// Rank statements differently (every watched database refreshes at once).
    SetStatementSort(StatementSort),
    /// Record a tick, skip, note or sign-off; answered with [`Event::ChecklistRun`] once stored,
    /// or [`Event::ChecklistRefused`].
    ChecklistEntry(EntryRequest),
    /// Send one run (a past period, or the current one with `None`).
    LoadChecklistRun {
        checklist: String,
        period: Option<String>,
    },
    /// Send the past runs of a checklist; answered with [`Event::ChecklistPeriods`].
    LoadChecklistPeriods { checklist: String },
    /// Record a change to an incident (acknowledge, note, level, mitigate, resolve) under the
    /// runner's identity; answered with [`Event::Incidents`] once stored, or
    /// [`Event::IncidentRefused`].
    IncidentEntry { id: String, change: Change },
    /// Open a new incident (declared from an alert) under the runner's identity; answered with
    /// [`Event::IncidentOpened`] then [`Event::Incidents`] once stored, or
    /// [`Event::IncidentRefused`].
    OpenIncident(Opening),
    /// Send a source's recent lines that pass `filter`, newest last; answered with
    /// [`Event::LogLines`].
    LoadLogLines { source: String, filter: LineFilter },
    /// Attach a log finding to an open incident, its lines frozen as the entry's evidence;
    /// answered like [`Request::IncidentEntry`].
    AttachLogFinding {
        incident: String,
        source: String,
        /// One line saying what was found (`new signature … first seen 02:41`).
        summary: String,
        lines: Vec<LogLine>,
    },
    /// Read one host's recent figures from its `[[prometheus]]` source; answered with
    /// [`Event::HostHistory`].
    LoadHostHistory { source: String, instance: String },
    /// The log tail of one container ([`Event::ContainerLogs`]).
    LoadContainerLogs { name: String },
    /// Compose the report of the last complete period of `kind`; answered with
    /// [`Event::ReportComposed`].
    ComposeReport { kind: ReportKind },
    /// The maintenance calendar (7 days each way), checklist titles in `language`; answered
    /// with [`Event::Calendar`].
    LoadCalendar {
        language: crate::core::checklists::Language,
    },
    /// Save the report last composed for `kind` as `format` in the reports directory; answered
    /// with [`Event::ReportSaved`].
    SaveReport {
        kind: ReportKind,
        format: ReportFormat,
    },
    /// Send the stored history of `keys` in tier `resolution` from `since` on; answered with
    /// [`Event::MetricHistory`] (empty without a store).
    LoadMetricHistory {
        keys: Vec<String>,
        resolution: Resolution,
        since: chrono::DateTime<chrono::Utc>,
    },
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
    /// A service was checked; `state` is after flap control.
    ServiceChecked {
        name: String,
        state: ServiceState,
        /// The worst level the rules give the service's metrics right now.
        level: Status,
        checked_at: chrono::DateTime<chrono::Utc>,
        outcome: CheckOutcome,
    },
    /// Availability in percent over 24 hours and 7 days, per service, from the store.
    ServiceAvailability(Vec<(String, Option<f64>, Option<f64>)>),
    /// A refresh of one watched database.
    Queries(Box<QuerySnapshot>),
    /// Every backup set's report after an inventory round, with the rules' verdicts on their
    /// metrics.
    Backups {
        reports: Vec<SetReport>,
        evaluations: Vec<Evaluation>,
    },
    /// The current run of every checklist (at start, every few seconds, and on refresh).
    ChecklistRuns(Vec<RunState>),
    /// One run, after an entry was stored in it or when asked for.
    ChecklistRun(RunState),
    ChecklistPeriods {
        checklist: String,
        periods: Vec<(
            String,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
        )>,
    },
    /// An entry was not recorded, and why.
    ChecklistRefused(String),
    /// The open incidents and those resolved in the last day (at start, every few seconds, and
    /// after a change was stored).
    Incidents(Vec<Incident>),
    /// A new incident was stored under this id and level.
    IncidentOpened {
        id: String,
        level: Level,
    },
    /// A change to an incident was not recorded, and why.
    IncidentRefused(String),
    /// Every size series' projection after a round of the capacity job (its metrics' verdicts
    /// come just before, as [`Event::Judged`]).
    Capacity(Box<CapacityReport>),
    /// What every log source found this round, with the rules' verdicts on its metrics.
    Logs {
        snapshot: Box<LogsSnapshot>,
        evaluations: Vec<Evaluation>,
    },
    /// The lines asked for by [`Request::LoadLogLines`].
    LogLines {
        source: String,
        filter: LineFilter,
        lines: Vec<LogLine>,
    },
    /// The rules' verdicts on service and database metrics (checklist items show them live).
    Judged(Vec<Evaluation>),
    /// Where each scheduled task stands (next run, last success, overdue); judged just before,
    /// as [`Event::Judged`].
    Schedules(crate::core::tasks::schedule::ScheduleSample),
    /// One refresh of a `[[prometheus]]` source, with the rules' verdicts on its hosts.
    Fleet {
        snapshot: Box<crate::core::fleet::FleetSnapshot>,
        evaluations: Vec<Evaluation>,
    },
    /// What [`Request::LoadHostHistory`] asked for.
    HostHistory(Box<crate::core::fleet::HostHistory>),
    Containers {
        snapshot: Box<crate::core::containers::ContainersSnapshot>,
        evaluations: Vec<Evaluation>,
    },
    /// The last lines of a container's output, escaped and bounded, or why they could not be read.
    ContainerLogs {
        name: String,
        lines: Result<Vec<String>, String>,
    },
    /// The calendar asked for by [`Request::LoadCalendar`], or why there is none.
    Calendar(Result<Box<crate::core::calendar::Calendar>, String>),
    /// The report asked for by [`Request::ComposeReport`], or why there is none.
    ReportComposed {
        kind: ReportKind,
        report: Result<Box<Report>, String>,
    },
    /// Where a report was saved, or why it was not.
    ReportSaved(Result<String, String>),
    /// The other consoles on the shared store (a heartbeat round), with the rules' verdicts on
    /// every host's heartbeat age (the dead-man's switch).
    Presence {
        peers: Vec<Heartbeat>,
        evaluations: Vec<Evaluation>,
    },
    /// The history asked for by [`Request::LoadMetricHistory`], per key that has points.
    MetricHistory {
        resolution: Resolution,
        since: chrono::DateTime<chrono::Utc>,
        series: Vec<(String, Vec<Point>)>,
    },
}
