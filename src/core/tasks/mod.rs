//! Maintenance tasks: what each one is, what it would do (its [`Plan`], computed before it
//! runs), and how it runs with streamed output and cancellation. The runner adds the rest:
//! confirmation, read-only refusal, timeouts, one run at a time, and the audit log.

pub mod backups;
pub mod cache_cleanup;
pub mod containers;
pub mod logrotate;
pub mod pg_maintenance;
pub mod pg_sessions;
pub mod process;
pub mod schedule;
pub mod security_scan;
pub mod shell;
pub mod temp_cleanup;
pub mod updates_apply;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use backups::{BackupAction, BackupTaskSettings};

use crate::core::sources::SourceError;
use crate::core::sources::secrets::redact;

/// Parameters given to a run (`--param k=v`, or from the UI).
pub type Params = BTreeMap<String, String>;

/// A parameter a task accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub description: &'static str,
}

/// What a task is, as shown in lists and recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskInfo {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Destructive tasks need confirmation and are refused in read-only mode.
    pub destructive: bool,
    pub timeout: Duration,
    /// Whether several runs of this task may go on at once.
    pub concurrent: bool,
    pub params: Vec<ParamSpec>,
    /// When `opsdeck run --due` runs it; `None` for tasks run by hand only.
    pub schedule: Option<schedule::TaskSchedule>,
}

/// One thing a run will do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanStep {
    /// A program run with these arguments (no shell unless the argv says so).
    Command {
        argv: Vec<String>,
        cwd: Option<PathBuf>,
    },
    /// A statement sent to a database (URL with any password masked).
    Sql { database: String, statement: String },
    /// Files the run will change, with what it will do to them.
    Files {
        action: String,
        files: Vec<PlannedFile>,
        total_bytes: u64,
    },
    /// Anything else, in words.
    Note { text: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Exactly what a run will do, computed before it runs and shown before a destructive task is
/// confirmed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<PlanStep>,
    /// Pre-flight findings worth a look before confirming.
    pub warnings: Vec<String>,
    /// A pre-flight check that forbids the run, with the reason.
    pub refusal: Option<String>,
}

/// A command's or a statement's line, as the plan shows it and as it is confirmed.
fn action_line(step: &PlanStep) -> Option<String> {
    match step {
        PlanStep::Command { argv, cwd } => {
            let mut line = format!("run: {}", shell_words::join(argv));
            if let Some(cwd) = cwd {
                line.push_str(&format!("  (in {})", cwd.display()));
            }
            Some(line)
        }
        PlanStep::Sql {
            database,
            statement,
        } => Some(format!("sql on {database}: {statement}")),
        PlanStep::Files { .. } | PlanStep::Note { .. } => None,
    }
}

/// What the person starting a task agreed to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Confirmed {
    /// Nothing: a destructive task is refused.
    #[default]
    No,
    /// Whatever the plan is when the run starts (`--yes` on the command line).
    AsPlannedThen,
    /// The plan they were shown, by its [`Plan::actions`]: a run whose actions differ by the
    /// time it starts (apt found more packages, another session appeared) is refused, so what
    /// runs is what was confirmed.
    Plan(Vec<String>),
}

impl Confirmed {
    pub fn given(&self) -> bool {
        *self != Confirmed::No
    }
}

impl Plan {
    pub fn note(text: impl Into<String>) -> PlanStep {
        PlanStep::Note { text: text.into() }
    }

    /// What the run will do, without the words around it: its commands, its statements and
    /// the files it changes, by path (a size may grow between the look and the run).
    pub fn actions(&self) -> Vec<String> {
        let mut actions = Vec::new();
        for step in &self.steps {
            match step {
                PlanStep::Files { action, files, .. } => actions.extend(
                    files
                        .iter()
                        .map(|file| format!("{action} {}", file.path.display())),
                ),
                PlanStep::Note { .. } => {}
                command_or_sql => actions.extend(action_line(command_or_sql)),
            }
        }
        actions
    }

    /// The plan as lines for people (screen, CLI, audit log).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for step in &self.steps {
            match step {
                PlanStep::Command { .. } | PlanStep::Sql { .. } => {
                    lines.extend(action_line(step));
                }
                PlanStep::Files {
                    action,
                    files,
                    total_bytes,
                } => {
                    lines.push(format!(
                        "{action} {} file(s), {}",
                        files.len(),
                        crate::core::checks::rules::format_bytes(*total_bytes as f64)
                    ));
                    lines.extend(files.iter().map(|file| {
                        format!(
                            "  {}  ({})",
                            crate::core::text::printable_path(&file.path),
                            crate::core::checks::rules::format_bytes(file.bytes as f64)
                        )
                    }));
                }
                PlanStep::Note { text } => lines.push(crate::core::text::printable(text)),
            }
        }
        lines.extend(
            self.warnings
                .iter()
                .map(|warning| format!("warning: {warning}")),
        );
        if let Some(refusal) = &self.refusal {
            lines.push(format!("refused: {refusal}"));
        }
        lines
    }
}

/// How a run ended from the task's own point of view; the runner decides cancelled/timed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSummary {
    pub exit_code: Option<i32>,
    pub summary: String,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TaskError {
    #[error("{0}")]
    Failed(String),
    #[error("cancelled")]
    Cancelled,
    #[error("exited with status {0}")]
    Exit(i32),
    #[error("unknown parameter `{given}` for {task}; it takes: {accepted}")]
    UnknownParam {
        task: String,
        given: String,
        accepted: String,
    },
    #[error("parameter `{name}`: {message}")]
    BadParam { name: String, message: String },
}

impl TaskError {
    /// A failure; anything in it shaped like a secret is masked ([`redact`]).
    pub fn failed(message: impl Into<String>) -> TaskError {
        TaskError::Failed(redact(&message.into()))
    }
}

impl From<SourceError> for TaskError {
    fn from(error: SourceError) -> TaskError {
        match error {
            SourceError::Failed(message) => TaskError::Failed(message),
            SourceError::Cancelled => TaskError::Cancelled,
        }
    }
}

/// Where a running task writes its output, line by line.
#[derive(Debug, Clone)]
pub struct Output {
    sender: mpsc::UnboundedSender<String>,
}

impl Output {
    pub fn new(sender: mpsc::UnboundedSender<String>) -> Output {
        Output { sender }
    }

    /// Sends a line on; anything in it shaped like a secret (a program may print a URL with its
    /// password) is masked first ([`redact`]), since output is shown, logged and stored.
    pub fn line(&self, text: impl Into<String>) {
        let _ = self.sender.send(redact(&text.into()));
    }
}

/// What a running task gets: its parameters, an output sink and a cancellation signal that it
/// must honour within a second.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub params: Params,
    pub output: Output,
    pub cancel: CancellationToken,
    /// Where tasks that keep results (backup verification, restore tests) record them; `None`
    /// when opsdeck runs without a state store.
    pub store: Option<crate::core::store::Store>,
}

/// The `database` parameter of the VACUUM and REINDEX tasks: a watched database (from the
/// queries pane) instead of the task's own URL. Returns the URL to use and the other parameters.
fn on_database(
    default_url: &str,
    databases: &[(String, String)],
    params: &Params,
) -> Result<(String, Params), TaskError> {
    let mut rest = params.clone();
    let Some(name) = rest.remove("database") else {
        return Ok((default_url.to_owned(), rest));
    };
    let url = databases
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, url)| url.clone())
        .ok_or_else(|| TaskError::BadParam {
            name: "database".into(),
            message: format!(
                "no [[database]] named `{name}`; configured: {}",
                databases
                    .iter()
                    .map(|(known, _)| known.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    Ok((url, rest))
}

/// Lets the VACUUM and REINDEX tasks run on a watched database.
pub const DATABASE_PARAM: ParamSpec = ParamSpec {
    name: "database",
    description: "a watched [[database]] by name, instead of the task's own url",
};

/// The built-in and configured tasks, each with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    LogRotation(logrotate::LogRotationSettings),
    TempCleanup(temp_cleanup::TempCleanupSettings),
    CacheCleanup(cache_cleanup::CacheCleanupSettings),
    /// With the watched databases (name, url), which the `database` parameter picks from.
    VacuumAnalyze(pg_maintenance::VacuumSettings, Vec<(String, String)>),
    Reindex(pg_maintenance::ReindexSettings, Vec<(String, String)>),
    SecurityScan(security_scan::SecurityScanSettings),
    Shell(shell::ShellSettings),
    /// "cancel query" / "terminate session" from the queries pane.
    Session(
        pg_sessions::SessionAction,
        pg_sessions::SessionActionSettings,
    ),
    Backup(BackupAction, BackupTaskSettings),
    UpdatesApply(updates_apply::UpdatesApplySettings),
    /// Restart, stop or start a container from the containers pane.
    Container(crate::core::containers::docker::ContainerAction),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub info: TaskInfo,
    pub kind: TaskKind,
}

/// Parameters that say when a plan is judged or what it names (`as_of`: the time retention is
/// judged at; `named_at`: the time a new backup or scratch database is named by). Left out,
/// they are fixed when the plan is made, so the confirmed run does what its plan said.
const FIXED_WHEN_PLANNED: [&str; 2] = ["as_of", "named_at"];

impl Task {
    /// `params`, with the [`FIXED_WHEN_PLANNED`] parameters this task takes set to `now`
    /// where they were left out.
    pub fn fixed_for_plan(&self, params: Params, now: chrono::DateTime<chrono::Utc>) -> Params {
        let mut params = params;
        for spec in &self.info.params {
            if FIXED_WHEN_PLANNED.contains(&spec.name) {
                params
                    .entry(spec.name.to_owned())
                    .or_insert_with(|| now.timestamp_millis().to_string());
            }
        }
        params
    }

    /// Rejects parameters the task does not take.
    pub fn check_params(&self, params: &Params) -> Result<(), TaskError> {
        for given in params.keys() {
            if !self.info.params.iter().any(|spec| spec.name == given) {
                let accepted: Vec<&str> = self.info.params.iter().map(|spec| spec.name).collect();
                return Err(TaskError::UnknownParam {
                    task: self.info.id.clone(),
                    given: given.clone(),
                    accepted: if accepted.is_empty() {
                        "no parameters".into()
                    } else {
                        accepted.join(", ")
                    },
                });
            }
        }
        Ok(())
    }

    pub async fn plan(&self, params: &Params) -> Result<Plan, TaskError> {
        self.check_params(params)?;
        match &self.kind {
            TaskKind::LogRotation(settings) => logrotate::plan(settings, params).await,
            TaskKind::TempCleanup(settings) => temp_cleanup::plan(settings, params).await,
            TaskKind::CacheCleanup(settings) => cache_cleanup::plan(settings, params).await,
            TaskKind::VacuumAnalyze(settings, databases) => {
                let (url, params) = on_database(&settings.url, databases, params)?;
                let settings = pg_maintenance::VacuumSettings {
                    url,
                    ..settings.clone()
                };
                pg_maintenance::plan_vacuum(&settings, &params).await
            }
            TaskKind::Reindex(settings, databases) => {
                let (url, params) = on_database(&settings.url, databases, params)?;
                let settings = pg_maintenance::ReindexSettings {
                    url,
                    ..settings.clone()
                };
                pg_maintenance::plan_reindex(&settings, &params).await
            }
            TaskKind::SecurityScan(settings) => security_scan::plan(settings, params).await,
            TaskKind::Shell(settings) => shell::plan(settings, params).await,
            TaskKind::Session(action, settings) => {
                pg_sessions::plan(*action, settings, params).await
            }
            TaskKind::Backup(action, settings) => backups::plan(*action, settings, params).await,
            TaskKind::UpdatesApply(settings) => updates_apply::plan(settings, params).await,
            TaskKind::Container(action) => containers::plan(*action, params).await,
        }
    }

    pub async fn run(&self, context: &TaskContext) -> Result<TaskSummary, TaskError> {
        self.check_params(&context.params)?;
        match &self.kind {
            TaskKind::LogRotation(settings) => logrotate::run(settings, context).await,
            TaskKind::TempCleanup(settings) => temp_cleanup::run(settings, context).await,
            TaskKind::CacheCleanup(settings) => cache_cleanup::run(settings, context).await,
            TaskKind::VacuumAnalyze(settings, databases) => {
                let (url, params) = on_database(&settings.url, databases, &context.params)?;
                let settings = pg_maintenance::VacuumSettings {
                    url,
                    ..settings.clone()
                };
                let context = TaskContext {
                    params,
                    ..context.clone()
                };
                pg_maintenance::run_vacuum(&settings, &context).await
            }
            TaskKind::Reindex(settings, databases) => {
                let (url, params) = on_database(&settings.url, databases, &context.params)?;
                let settings = pg_maintenance::ReindexSettings {
                    url,
                    ..settings.clone()
                };
                let context = TaskContext {
                    params,
                    ..context.clone()
                };
                pg_maintenance::run_reindex(&settings, &context).await
            }
            TaskKind::SecurityScan(settings) => security_scan::run(settings, context).await,
            TaskKind::Shell(settings) => shell::run(settings, context).await,
            TaskKind::Session(action, settings) => {
                pg_sessions::run(*action, settings, context).await
            }
            TaskKind::Backup(action, settings) => backups::run(*action, settings, context).await,
            TaskKind::UpdatesApply(settings) => updates_apply::run(settings, context).await,
            TaskKind::Container(action) => containers::run(*action, context).await,
        }
    }
}
