//! Composed reports: one [`Report`] for a day, an ISO week or a month, built from the state store
//! (alerts, service results, incidents, checklists, task runs, backup records, metric history)
//! and from what the caller read live for it (slow statements, backup inventories, log
//! findings), then rendered as Markdown, one self-contained HTML file, or JSON.
//!
//! The JSON is the model itself, serialised: its shape is the `opsdeck.report/1` schema
//! documented (as JSON Schema) in `assets/schemas/report-1.schema.json`. A field is only ever added within version 1; a
//! renamed or removed field is version 2.

pub mod build;
pub mod compose;
pub mod html;
pub mod markdown;
pub mod period;
pub mod records;
pub mod resources;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::core::model::{Status, Unit};

pub use build::{Live, ReportInputs, ServiceTarget, build};
pub use compose::{ReportSettings, compose, period_for};
pub use period::{Kind, Period};

/// The schema name and version every JSON report carries.
pub const SCHEMA: &str = "opsdeck.report/1";

/// The guides' availability objective for a service that names none.
pub const DEFAULT_SLO_PCT: f64 = 99.5;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] crate::core::store::StoreError),
    #[error(
        "--date {0} is not a day\n  fix: give it as YYYY-MM-DD, e.g. --date 2026-11-30 (the report covers the day, ISO week or month containing it)"
    )]
    BadDate(String),
}

/// The formats a report renders to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

impl Format {
    /// The file extension a saved report gets.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
        }
    }
}

/// Renders `report` as `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
        Format::Json => {
            // A model of plain strings and numbers always serialises; the fallback keeps the
            // renderer total rather than panicking.
            serde_json::to_string_pretty(report).unwrap_or_else(|error| {
                format!("{{\"schema\": \"{SCHEMA}\", \"error\": \"{error}\"}}")
            })
        }
    }
}

/// One composed report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub host: String,
    pub generated_at: DateTime<Utc>,
    pub period: PeriodInfo,
    /// Nothing at all was recorded for the period (no alerts, results, runs, entries, history):
    /// the renderers say so instead of showing empty sections.
    pub empty: bool,
    pub overall: Overall,
    pub resources: ResourcesSection,
    pub services: Vec<ServiceAvailability>,
    pub alerts: AlertsSection,
    pub incidents: Vec<IncidentLine>,
    pub statements: StatementsSection,
    pub backups: Vec<BackupLine>,
    pub checklists: Vec<ChecklistLine>,
    pub task_runs: TaskRunsSection,
    pub capacity: CapacitySection,
    pub logs: LogsSection,
    pub changes: ChangesSection,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodInfo {
    pub kind: Kind,
    /// `2026-11-30`, `2026-W48` or `2026-11`.
    pub label: String,
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
    pub previous_label: String,
}

/// The worst of the sections, and one line per reason it is not ok.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    pub status: Status,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourcesSection {
    /// Why there are no figures, when there are none.
    pub note: Option<String>,
    pub metrics: Vec<MetricSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSummary {
    /// The series key, e.g. `cpu.used_pct` or `disk.used_pct:/var`.
    pub key: String,
    pub unit: Unit,
    pub mean: f64,
    pub peak: f64,
    pub days: Vec<DayFigure>,
    /// Time spent beyond each threshold the rules give this series.
    pub above: Vec<TimeAbove>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFigure {
    pub date: NaiveDate,
    pub mean: f64,
    pub peak: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeAbove {
    pub level: Status,
    /// `>` or `<`: beyond means above for `>` rules, below for `<` rules.
    pub operator: &'static str,
    pub threshold: f64,
    pub minutes: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceAvailability {
    pub name: String,
    pub slo_pct: f64,
    /// `None` when the service was not checked in the period.
    pub availability_pct: Option<f64>,
    pub checks: u64,
    pub failed_checks: u64,
    pub downtime_minutes: f64,
    /// `None` when there is nothing to judge.
    pub slo_met: Option<bool>,
    /// The downtime the objective allows over the period, in minutes.
    pub budget_minutes: f64,
    pub days: Vec<DayAvailability>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayAvailability {
    pub date: NaiveDate,
    pub availability_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertsSection {
    pub total: usize,
    pub crit: usize,
    pub warn: usize,
    /// Still open at the end of the period.
    pub open_at_end: usize,
    /// Alerts opened on each day of the period.
    pub per_day: Vec<DayCount>,
    pub items: Vec<AlertLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayCount {
    pub date: NaiveDate,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertLine {
    pub id: String,
    pub key: String,
    pub level: Status,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Open time within the period.
    pub minutes: f64,
    pub peak: f64,
    pub threshold: f64,
    pub unit: Unit,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentLine {
    pub id: String,
    pub title: String,
    pub level: String,
    pub stage: String,
    pub affects: Vec<String>,
    pub detected_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Detection to acknowledgement (or resolution, or the period's end).
    pub response_minutes: f64,
    pub commander: Option<String>,
    pub open_actions: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementsSection {
    /// Why there are no figures, when there are none.
    pub note: Option<String>,
    pub databases: Vec<DatabaseStatements>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseStatements {
    pub database: String,
    pub error: Option<String>,
    pub top_by_mean: Vec<StatementLine>,
    pub top_by_total: Vec<StatementLine>,
    /// Slow statements not in the snapshot kept with the previous period's report; `None` when
    /// no such snapshot was kept.
    pub new_since_previous: Option<Vec<StatementLine>>,
    pub database_bytes: Option<i64>,
    pub tables: Vec<TableLine>,
    pub unused_indexes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StatementLine {
    pub queryid: i64,
    pub user: String,
    pub query: String,
    pub calls: i64,
    pub mean_ms: f64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableLine {
    pub name: String,
    pub total_bytes: i64,
    pub dead_pct: f64,
    pub last_vacuum: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupLine {
    pub set: String,
    /// Seconds since the newest good backup, when the set was inventoried for the report.
    pub newest_age_s: Option<i64>,
    pub stale: Option<bool>,
    pub verifications_ok: usize,
    pub verifications_failed: usize,
    pub last_verified_at: Option<DateTime<Utc>>,
    pub last_restore_test: Option<RestoreLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreLine {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistLine {
    pub checklist: String,
    pub run: String,
    /// done, in_progress, due, overdue or upcoming, as of the run's end (or now).
    pub state: String,
    pub done: usize,
    pub skipped: usize,
    pub open: usize,
    pub signed_off_by: Option<String>,
    pub skips: Vec<ChecklistNote>,
    pub notes: Vec<ChecklistNote>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChecklistNote {
    pub item: Option<String>,
    pub by: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRunsSection {
    pub total: usize,
    pub failed: usize,
    pub runs: Vec<TaskRunLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRunLine {
    pub id: String,
    pub task: String,
    pub user: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub status: String,
    pub seconds: Option<f64>,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacitySection {
    pub note: Option<String>,
    pub projections: Vec<ProjectionLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionLine {
    pub key: String,
    pub unit: Unit,
    pub growth_per_day: Option<f64>,
    pub days_to_full: Option<f64>,
    pub in_90_days: Option<f64>,
    pub r_squared: Option<f64>,
    /// The series rises and falls (rotation, vacuum) rather than growing: not projected.
    pub saw_tooth: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogsSection {
    pub note: Option<String>,
    pub sources: Vec<LogSourceLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSourceLine {
    pub source: String,
    pub error: Option<String>,
    pub lines: u64,
    pub errors: u64,
    pub warnings: u64,
    pub failed_logins: Option<u64>,
    pub server_error_pct: Option<f64>,
    pub new_signatures: Vec<String>,
    pub top_signatures: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangesSection {
    pub previous_empty: bool,
    pub items: Vec<ChangeLine>,
}

/// One figure this period against the previous one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeLine {
    pub what: String,
    pub previous: Option<f64>,
    pub current: Option<f64>,
    /// Worse, better or same: whether a rise is bad depends on the figure.
    pub direction: &'static str,
}
