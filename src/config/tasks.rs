//! The `[tasks.*]` sections (settings of the built-in maintenance tasks) and `[[task]]` entries
//! (commands of your own, such as a service restart), turned into runnable [`Task`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::DurationValue;
use super::keymap::KeyChord;
use crate::core::tasks::cache_cleanup::{CacheCleanupSettings, CachePattern};
use crate::core::tasks::logrotate::LogRotationSettings;
use crate::core::tasks::pg_maintenance::{ReindexSettings, VacuumSettings};
use crate::core::tasks::pg_sessions::{SessionAction, SessionActionSettings};
use crate::core::tasks::schedule::{CronExpr, DEFAULT_GRACE, TaskSchedule, guide_schedule};
use crate::core::tasks::security_scan::SecurityScanSettings;
use crate::core::tasks::shell::ShellSettings;
use crate::core::tasks::temp_cleanup::TempCleanupSettings;
use crate::core::tasks::{
    Task, TaskInfo, TaskKind, cache_cleanup, logrotate, pg_maintenance, pg_sessions, security_scan,
    temp_cleanup,
};

/// A single key for a task, e.g. `key = "L"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TaskKey(pub KeyChord);

impl TryFrom<String> for TaskKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        KeyChord::parse(&text).map(TaskKey)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogRotationConfig {
    pub key: Option<TaskKey>,
    pub timeout: DurationValue,
    /// When `opsdeck run --due` runs it (5-field cron, local time); unset: the guides'
    /// schedule, `""`: never.
    pub schedule: Option<toml::Spanned<String>>,
    pub grace: Option<DurationValue>,
    pub unattended: bool,
    /// A logrotate config file to run.
    pub config: Option<PathBuf>,
    /// Or: log files (globs) to rotate with the guides' policy.
    pub paths: Vec<String>,
    pub state_file: Option<PathBuf>,
    pub program: String,
}

impl Default for LogRotationConfig {
    fn default() -> Self {
        LogRotationConfig {
            key: Some(TaskKey(KeyChord::plain(super::keymap::KeyCode::Char('L')))),
            timeout: DurationValue(Duration::from_secs(600)),
            schedule: None,
            grace: None,
            unattended: false,
            config: None,
            paths: Vec::new(),
            state_file: None,
            program: "logrotate".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TempCleanupConfig {
    pub key: Option<TaskKey>,
    pub timeout: DurationValue,
    /// When `opsdeck run --due` runs it (5-field cron, local time); unset: the guides'
    /// schedule, `""`: never.
    pub schedule: Option<toml::Spanned<String>>,
    pub grace: Option<DurationValue>,
    pub unattended: bool,
    pub directories: Vec<PathBuf>,
    pub patterns: Vec<String>,
    pub older_than: DurationValue,
}

impl Default for TempCleanupConfig {
    fn default() -> Self {
        TempCleanupConfig {
            key: Some(TaskKey(KeyChord::plain(super::keymap::KeyCode::Char('T')))),
            timeout: DurationValue(Duration::from_secs(600)),
            schedule: None,
            grace: None,
            unattended: false,
            directories: Vec::new(),
            patterns: Vec::new(),
            older_than: DurationValue(Duration::from_secs(7 * 86_400)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePatternConfig {
    pub pattern: String,
    pub ttl: DurationValue,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheCleanupConfig {
    pub key: Option<TaskKey>,
    pub timeout: DurationValue,
    /// When `opsdeck run --due` runs it (5-field cron, local time); unset: the guides'
    /// schedule, `""`: never.
    pub schedule: Option<toml::Spanned<String>>,
    pub grace: Option<DurationValue>,
    pub unattended: bool,
    pub url: String,
    pub patterns: Vec<CachePatternConfig>,
    pub delete_idle_after: DurationValue,
    pub scan_count: usize,
}

impl Default for CacheCleanupConfig {
    fn default() -> Self {
        let pattern = |pattern: &str, seconds| CachePatternConfig {
            pattern: pattern.into(),
            ttl: DurationValue(Duration::from_secs(seconds)),
        };
        CacheCleanupConfig {
            key: Some(TaskKey(KeyChord::plain(super::keymap::KeyCode::Char('C')))),
            timeout: DurationValue(Duration::from_secs(600)),
            schedule: None,
            grace: None,
            unattended: false,
            url: "redis://127.0.0.1:6379/0".into(),
            patterns: vec![
                pattern("policy:*", 3600),
                pattern("template:*", 1800),
                pattern("analysis:*", 900),
                pattern("temp:*", 300),
            ],
            delete_idle_after: DurationValue(Duration::from_secs(30 * 86_400)),
            scan_count: 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VacuumConfig {
    pub key: Option<TaskKey>,
    pub timeout: DurationValue,
    /// When `opsdeck run --due` runs it (5-field cron, local time); unset: the guides'
    /// schedule, `""`: never.
    pub schedule: Option<toml::Spanned<String>>,
    pub grace: Option<DurationValue>,
    pub unattended: bool,
    pub url: String,
    pub tables: Vec<String>,
    pub largest: usize,
    pub max_transaction_age: DurationValue,
}

impl Default for VacuumConfig {
    fn default() -> Self {
        VacuumConfig {
            key: Some(TaskKey(KeyChord::plain(super::keymap::KeyCode::Char('V')))),
            timeout: DurationValue(Duration::from_secs(3600)),
            schedule: None,
            grace: None,
            unattended: false,
            url: DEFAULT_POSTGRES_URL.into(),
            tables: Vec::new(),
            largest: 10,
            max_transaction_age: DurationValue(Duration::from_secs(3600)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReindexConfig {
    pub key: Option<TaskKey>,
    pub timeout: DurationValue,
    /// When `opsdeck run --due` runs it (5-field cron, local time); unset: the guides'
    /// schedule, `""`: never.
    pub schedule: Option<toml::Spanned<String>>,
    pub grace: Option<DurationValue>,
    pub unattended: bool,
    pub url: String,
    pub indexes: Vec<String>,
}

impl Default for ReindexConfig {
    fn default() -> Self {
        ReindexConfig {
            key: Some(TaskKey(KeyChord::plain(super::keymap::KeyCode::Char('I')))),
            timeout: DurationValue(Duration::from_secs(3600)),
            schedule: None,
            grace: None,
            unattended: false,
            url: DEFAULT_POSTGRES_URL.into(),
            indexes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityScanConfig {
    pub key: Option<TaskKey>,
    pub timeout: DurationValue,
    /// When `opsdeck run --due` runs it (5-field cron, local time); unset: the guides'
    /// schedule, `""`: never.
    pub schedule: Option<toml::Spanned<String>>,
    pub grace: Option<DurationValue>,
    pub unattended: bool,
    pub paths: Vec<PathBuf>,
}

impl Default for SecurityScanConfig {
    fn default() -> Self {
        SecurityScanConfig {
            key: Some(TaskKey(KeyChord::plain(super::keymap::KeyCode::Char('S')))),
            timeout: DurationValue(Duration::from_secs(600)),
            schedule: None,
            grace: None,
            unattended: false,
            paths: Vec::new(),
        }
    }
}

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    #[serde(rename = "log-rotation")]
    pub log_rotation: LogRotationConfig,
    #[serde(rename = "temp-cleanup")]
    pub temp_cleanup: TempCleanupConfig,
    #[serde(rename = "cache-cleanup")]
    pub cache_cleanup: CacheCleanupConfig,
    #[serde(rename = "db-vacuum-analyze")]
    pub vacuum: VacuumConfig,
    #[serde(rename = "db-reindex")]
    pub reindex: ReindexConfig,
    #[serde(rename = "security-scan")]
    pub security_scan: SecurityScanConfig,
}

/// A task's `schedule`, `grace` and `unattended` as written, with what (if anything) the task
/// lacks to run without parameters.
pub struct WrittenSchedule<'a> {
    pub task: &'a str,
    pub schedule: Option<&'a toml::Spanned<String>>,
    pub grace: Option<DurationValue>,
    pub unattended: bool,
    pub lacks: Option<&'static str>,
}

/// Why a written schedule cannot be used: the byte offset of `schedule`, the problem, the fix.
pub type ScheduleError = (usize, String, String);

impl WrittenSchedule<'_> {
    /// Unset: the guides' schedule for a built-in task that has what it needs, else none; `""`:
    /// none; anything else must parse, and the task must not lack settings.
    pub fn resolve(&self) -> Result<Option<TaskSchedule>, ScheduleError> {
        let schedule = |cron| TaskSchedule {
            cron,
            grace: self.grace.map_or(DEFAULT_GRACE, |grace| grace.0),
            unattended: self.unattended,
        };
        let Some(written) = self.schedule else {
            return Ok(guide_schedule(self.task)
                .filter(|_| self.lacks.is_none())
                .and_then(|text| CronExpr::parse(text).ok())
                .map(schedule));
        };
        let at = written.span().start;
        if written.get_ref().trim().is_empty() {
            return Ok(None);
        }
        let cron = CronExpr::parse(written.get_ref()).map_err(|message| {
            (
                at,
                format!("task `{}`: {message}", self.task),
                "write five fields, e.g. schedule = \"0 3 * * *\" (03:00 daily) or \"0 1 * * 0\" (Sundays 01:00)".into(),
            )
        })?;
        if let Some(lacks) = self.lacks {
            return Err((
                at,
                format!(
                    "task `{}` has a schedule but cannot run without parameters: {lacks}",
                    self.task
                ),
                format!("{lacks}, or remove its schedule"),
            ));
        }
        Ok(Some(schedule(cron)))
    }
}

/// A task of your own: `[[task]] id = "restart-app" argv = ["systemctl", "restart", "app"]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandTaskConfig {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub argv: Vec<String>,
    /// Run `argv` joined as one `/bin/sh -c` command line.
    #[serde(default)]
    pub shell: bool,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    #[serde(default = "default_command_timeout")]
    pub timeout: DurationValue,
    /// Commands change the system unless you say otherwise.
    #[serde(default = "destructive_by_default")]
    pub destructive: bool,
    #[serde(default)]
    pub concurrent: bool,
    #[serde(default)]
    pub key: Option<TaskKey>,
    /// When `opsdeck run --due` runs it (5-field cron, local time); none by default.
    #[serde(default)]
    pub schedule: Option<toml::Spanned<String>>,
    #[serde(default)]
    pub grace: Option<DurationValue>,
    #[serde(default)]
    pub unattended: bool,
}

impl CommandTaskConfig {
    pub fn written_schedule(&self) -> WrittenSchedule<'_> {
        WrittenSchedule {
            task: &self.id,
            schedule: self.schedule.as_ref(),
            grace: self.grace,
            unattended: self.unattended,
            lacks: None,
        }
    }
}

fn default_command_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(600))
}

fn destructive_by_default() -> bool {
    true
}

/// A task's own parameters plus `database` (a watched database instead of its url).
fn with_database(params: &[crate::core::tasks::ParamSpec]) -> Vec<crate::core::tasks::ParamSpec> {
    params
        .iter()
        .cloned()
        .chain(std::iter::once(crate::core::tasks::DATABASE_PARAM))
        .collect()
}

/// Names of the built-in tasks, in display order.
pub const BUILTIN_TASK_IDS: [&str; 6] = [
    "log-rotation",
    "temp-cleanup",
    "cache-cleanup",
    "db-vacuum-analyze",
    "db-reindex",
    "security-scan",
];

fn info(
    id: &str,
    title: &str,
    description: &str,
    destructive: bool,
    timeout: Duration,
    params: &[crate::core::tasks::ParamSpec],
) -> TaskInfo {
    TaskInfo {
        id: id.into(),
        title: title.into(),
        description: description.into(),
        destructive,
        timeout,
        concurrent: false,
        params: params.to_vec(),
        schedule: None,
    }
}

impl TasksConfig {
    /// The built-in tasks' schedules as written.
    pub fn written_schedules(&self) -> Vec<WrittenSchedule<'_>> {
        fn written<'a>(
            task: &'a str,
            schedule: &'a Option<toml::Spanned<String>>,
            grace: Option<DurationValue>,
            unattended: bool,
            lacks: Option<&'static str>,
        ) -> WrittenSchedule<'a> {
            WrittenSchedule {
                task,
                schedule: schedule.as_ref(),
                grace,
                unattended,
                lacks,
            }
        }
        let log = &self.log_rotation;
        let temp = &self.temp_cleanup;
        let cache = &self.cache_cleanup;
        let vacuum = &self.vacuum;
        let reindex = &self.reindex;
        let scan = &self.security_scan;
        vec![
            written(
                "log-rotation",
                &log.schedule,
                log.grace,
                log.unattended,
                (log.config.is_none() && log.paths.is_empty())
                    .then_some("set [tasks.log-rotation] config or paths"),
            ),
            written(
                "temp-cleanup",
                &temp.schedule,
                temp.grace,
                temp.unattended,
                temp.directories
                    .is_empty()
                    .then_some("set [tasks.temp-cleanup] directories"),
            ),
            written(
                "cache-cleanup",
                &cache.schedule,
                cache.grace,
                cache.unattended,
                None,
            ),
            written(
                "db-vacuum-analyze",
                &vacuum.schedule,
                vacuum.grace,
                vacuum.unattended,
                None,
            ),
            written(
                "db-reindex",
                &reindex.schedule,
                reindex.grace,
                reindex.unattended,
                reindex
                    .indexes
                    .is_empty()
                    .then_some("set [tasks.db-reindex] indexes"),
            ),
            written(
                "security-scan",
                &scan.schedule,
                scan.grace,
                scan.unattended,
                scan.paths
                    .is_empty()
                    .then_some("set [tasks.security-scan] paths"),
            ),
        ]
    }

    /// Every task with its key. `state_dir` is where generated files (logrotate's) go.
    pub fn build(
        &self,
        commands: &[CommandTaskConfig],
        databases: &[(String, String)],
        state_dir: &Path,
    ) -> Vec<(Task, Option<KeyChord>)> {
        let key = |key: &Option<TaskKey>| key.map(|key| key.0);
        let log = &self.log_rotation;
        let temp = &self.temp_cleanup;
        let cache = &self.cache_cleanup;
        let vacuum = &self.vacuum;
        let reindex = &self.reindex;
        let scan = &self.security_scan;
        let mut tasks = vec![
            (
                Task {
                    info: info(
                        "log-rotation",
                        "Rotate logs",
                        "logrotate: daily, keep 30, compress",
                        true,
                        log.timeout.0,
                        logrotate::PARAMS,
                    ),
                    kind: TaskKind::LogRotation(LogRotationSettings {
                        config: log.config.clone(),
                        paths: log.paths.clone(),
                        state_file: log.state_file.clone(),
                        work_dir: state_dir.join("logrotate"),
                        program: log.program.clone(),
                    }),
                },
                key(&log.key),
            ),
            (
                Task {
                    info: info(
                        "temp-cleanup",
                        "Clean temp files",
                        "delete old files under the temp directories",
                        true,
                        temp.timeout.0,
                        temp_cleanup::PARAMS,
                    ),
                    kind: TaskKind::TempCleanup(TempCleanupSettings {
                        directories: temp.directories.clone(),
                        patterns: temp.patterns.clone(),
                        older_than: temp.older_than.0,
                    }),
                },
                key(&temp.key),
            ),
            (
                Task {
                    info: info(
                        "cache-cleanup",
                        "Clean Redis cache",
                        "set missing TTLs, delete idle keys (SCAN, never KEYS)",
                        true,
                        cache.timeout.0,
                        cache_cleanup::PARAMS,
                    ),
                    kind: TaskKind::CacheCleanup(CacheCleanupSettings {
                        url: cache.url.clone(),
                        patterns: cache
                            .patterns
                            .iter()
                            .map(|p| CachePattern {
                                pattern: p.pattern.clone(),
                                ttl: p.ttl.0,
                            })
                            .collect(),
                        delete_idle_after: cache.delete_idle_after.0,
                        scan_count: cache.scan_count.max(1),
                    }),
                },
                key(&cache.key),
            ),
            (
                Task {
                    info: info(
                        "db-vacuum-analyze",
                        "VACUUM ANALYZE",
                        "vacuum and analyze the largest tables, one at a time",
                        true,
                        vacuum.timeout.0,
                        &with_database(pg_maintenance::VACUUM_PARAMS),
                    ),
                    kind: TaskKind::VacuumAnalyze(
                        VacuumSettings {
                            url: vacuum.url.clone(),
                            tables: vacuum.tables.clone(),
                            largest: vacuum.largest.max(1),
                            max_transaction_age: vacuum.max_transaction_age.0,
                        },
                        databases.to_vec(),
                    ),
                },
                key(&vacuum.key),
            ),
            (
                Task {
                    info: info(
                        "db-reindex",
                        "Rebuild indexes",
                        "REINDEX INDEX CONCURRENTLY the configured indexes",
                        true,
                        reindex.timeout.0,
                        &with_database(pg_maintenance::REINDEX_PARAMS),
                    ),
                    kind: TaskKind::Reindex(
                        ReindexSettings {
                            url: reindex.url.clone(),
                            indexes: reindex.indexes.clone(),
                        },
                        databases.to_vec(),
                    ),
                },
                key(&reindex.key),
            ),
            (
                Task {
                    info: info(
                        "security-scan",
                        "Permission scan",
                        ".env files 600, data/log dirs 755/750, no world-writable files",
                        false,
                        scan.timeout.0,
                        security_scan::PARAMS,
                    ),
                    kind: TaskKind::SecurityScan(SecurityScanSettings {
                        paths: scan.paths.clone(),
                    }),
                },
                key(&scan.key),
            ),
        ];
        // Schedules were checked when the file was loaded; one that still fails is left off.
        for written in self.written_schedules() {
            if let Some((task, _)) = tasks
                .iter_mut()
                .find(|(task, _)| task.info.id == written.task)
            {
                task.info.schedule = written.resolve().ok().flatten();
            }
        }
        if !databases.is_empty() {
            let sessions = SessionActionSettings {
                databases: databases.to_vec(),
            };
            for (id, title, description, action) in [
                (
                    "pg-cancel-query",
                    "cancel query",
                    "pg_cancel_backend on sessions picked in the queries pane",
                    SessionAction::Cancel,
                ),
                (
                    "pg-terminate-session",
                    "terminate session",
                    "pg_terminate_backend on sessions picked in the queries pane",
                    SessionAction::Terminate,
                ),
            ] {
                tasks.push((
                    Task {
                        info: TaskInfo {
                            concurrent: true,
                            ..info(
                                id,
                                title,
                                description,
                                true,
                                Duration::from_secs(60),
                                pg_sessions::PARAMS,
                            )
                        },
                        kind: TaskKind::Session(action, sessions.clone()),
                    },
                    None,
                ));
            }
        }
        for command in commands {
            let title = if command.title.is_empty() {
                command.id.clone()
            } else {
                command.title.clone()
            };
            tasks.push((
                Task {
                    info: TaskInfo {
                        id: command.id.clone(),
                        title,
                        description: if command.description.is_empty() {
                            shell_words::join(&command.argv)
                        } else {
                            command.description.clone()
                        },
                        destructive: command.destructive,
                        timeout: command.timeout.0,
                        concurrent: command.concurrent,
                        params: Vec::new(),
                        schedule: command.written_schedule().resolve().ok().flatten(),
                    },
                    kind: TaskKind::Shell(ShellSettings {
                        argv: command.argv.clone(),
                        shell: command.shell,
                        env: command.env.clone(),
                        cwd: command.cwd.clone(),
                    }),
                },
                key(&command.key),
            ));
        }
        tasks
    }
}
