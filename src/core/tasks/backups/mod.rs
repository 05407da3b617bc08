//! The backup tasks as the task runner sees them: `backup-create`, `backup-verify`,
//! `backup-prune` and `restore-test`, each on one set (the `set` parameter), with the plan
//! shown before a run and the results recorded in the store.
//!
//! A prune deletes exactly what its plan listed: the plan is computed for a reference time
//! (`as_of`, which the console fixes when it shows the plan), the run recomputes it for the
//! same time and skips any file that changed since it was inspected. Likewise a new backup file
//! and a restore test's scratch database are named by a time the console fixes (`named_at`), so
//! the run does what the confirmed plan named.

use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use chrono::{DateTime, Utc};

pub mod create;
pub mod restore;
pub mod verify;

use crate::core::backups::inventory::{self, Inventory, KindCache};
use crate::core::backups::{
    BackupFile, BackupSet, BackupTools, DetectedKind, Retention, Verification, VerifyResult,
    retention,
};
use crate::core::checks::rules::format_bytes;
use crate::core::tasks::{
    ParamSpec, Params, Plan, PlanStep, PlannedFile, TaskContext, TaskError, TaskSummary,
};
use crate::core::text::printable_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupAction {
    Create,
    Verify,
    Prune,
    RestoreTest,
}

/// The task ids, which `[[task]]` entries may not take.
pub const TASK_IDS: [&str; 4] = [
    "backup-create",
    "backup-verify",
    "backup-prune",
    "restore-test",
];

const SET_PARAM: ParamSpec = ParamSpec {
    name: "set",
    description: "the [[backup]] set by name (default: the only one)",
};
const FILE_PARAM: ParamSpec = ParamSpec {
    name: "file",
    description: "one file of the set, by name (default: every file / the newest dump)",
};
const AS_OF_PARAM: ParamSpec = ParamSpec {
    name: "as_of",
    description: "the time retention is judged at (RFC 3339 or epoch ms; default now)",
};
const NAMED_AT_PARAM: ParamSpec = ParamSpec {
    name: "named_at",
    description: "the time the new file or scratch database is named by (RFC 3339 or epoch ms, within an hour of now; default now)",
};
/// How far `named_at` may be from now: a plan left on screen for a while still runs, but no
/// backup is named for another day.
const NAMED_AT_SLACK: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl BackupAction {
    pub const ALL: [BackupAction; 4] = [
        BackupAction::Create,
        BackupAction::Verify,
        BackupAction::Prune,
        BackupAction::RestoreTest,
    ];

    pub fn id(self) -> &'static str {
        match self {
            BackupAction::Create => TASK_IDS[0],
            BackupAction::Verify => TASK_IDS[1],
            BackupAction::Prune => TASK_IDS[2],
            BackupAction::RestoreTest => TASK_IDS[3],
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            BackupAction::Create => "Create backup",
            BackupAction::Verify => "Verify backups",
            BackupAction::Prune => "Prune backups",
            BackupAction::RestoreTest => "Restore test",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            BackupAction::Create => "pg_dump / Redis BGSAVE / tar.gz into the set, with a .sha256",
            BackupAction::Verify => "decompress, list and checksum every file of a set",
            BackupAction::Prune => "delete what the set's retention allows, nothing else",
            BackupAction::RestoreTest => {
                "restore the newest dump into a throwaway database and check it"
            }
        }
    }

    /// Verifying only reads; the others write files, delete them or create databases.
    pub fn destructive(self) -> bool {
        self != BackupAction::Verify
    }

    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            BackupAction::Create => &[SET_PARAM, NAMED_AT_PARAM],
            BackupAction::Verify => &[SET_PARAM, FILE_PARAM],
            BackupAction::RestoreTest => &[SET_PARAM, FILE_PARAM, NAMED_AT_PARAM],
            BackupAction::Prune => &[SET_PARAM, AS_OF_PARAM],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupTaskSettings {
    pub sets: Vec<BackupSet>,
    pub tools: BackupTools,
}

fn choose_set<'a>(
    settings: &'a BackupTaskSettings,
    params: &Params,
) -> Result<&'a BackupSet, TaskError> {
    let names = || {
        settings
            .sets
            .iter()
            .map(|set| set.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match params.get("set") {
        Some(name) => settings
            .sets
            .iter()
            .find(|set| set.name == *name)
            .ok_or_else(|| TaskError::BadParam {
                name: "set".into(),
                message: format!("no [[backup]] set named `{name}`; sets are: {}", names()),
            }),
        None => match settings.sets.as_slice() {
            [only] => Ok(only),
            [] => Err(TaskError::failed(
                "no backup sets are configured: add a [[backup]] section to the config",
            )),
            _ => Err(TaskError::BadParam {
                name: "set".into(),
                message: format!("say which set: set=NAME, one of {}", names()),
            }),
        },
    }
}

async fn scan(set: &BackupSet) -> Result<Inventory, TaskError> {
    let set = set.clone();
    tokio::task::spawn_blocking(move || inventory::scan(&set, &mut KindCache::default()))
        .await
        .map_err(|error| TaskError::failed(format!("the inventory failed: {error}")))
}

/// Like [`scan`], failing when the directory cannot be listed.
async fn scan_listed(set: &BackupSet) -> Result<Inventory, TaskError> {
    let inventory = scan(set).await?;
    match &inventory.problem {
        Some(problem) => Err(TaskError::failed(problem.clone())),
        None => Ok(inventory),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| crate::core::text::printable(&name.to_string_lossy()))
        .unwrap_or_else(|| printable_path(path))
}

/// The files a `file` parameter selects (by name or full path), or all.
fn select_files(inventory: Inventory, params: &Params) -> Result<Vec<BackupFile>, TaskError> {
    let Some(wanted) = params.get("file") else {
        return Ok(inventory.files);
    };
    let found: Vec<BackupFile> = inventory
        .files
        .into_iter()
        .filter(|file| {
            file.path.as_os_str() == wanted.as_str()
                || file
                    .path
                    .file_name()
                    .is_some_and(|name| name == wanted.as_str())
        })
        .collect();
    if found.is_empty() {
        return Err(TaskError::BadParam {
            name: "file".into(),
            message: format!(
                "no backup file `{}` in set `{}`",
                crate::core::text::printable(wanted),
                inventory.set
            ),
        });
    }
    Ok(found)
}

fn parse_as_of(params: &Params) -> Result<DateTime<Utc>, TaskError> {
    parse_time(params, "as_of")
}

/// The time a new file or scratch database is named by (`named_at`, default now).
fn parse_named_at(params: &Params) -> Result<DateTime<Utc>, TaskError> {
    let at = parse_time(params, "named_at")?;
    if (at - crate::core::model::now()).abs() > NAMED_AT_SLACK {
        return Err(TaskError::BadParam {
            name: "named_at".into(),
            message: format!(
                "{} is more than an hour from now: plan the run again (or leave named_at out)",
                at.to_rfc3339()
            ),
        });
    }
    Ok(at)
}

/// The time parameter `name`: epoch milliseconds or RFC 3339; now when absent.
fn parse_time(params: &Params, name: &str) -> Result<DateTime<Utc>, TaskError> {
    let Some(text) = params.get(name) else {
        return Ok(crate::core::model::now());
    };
    let parsed = text
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| at.with_timezone(&Utc))
        });
    parsed.ok_or_else(|| TaskError::BadParam {
        name: name.into(),
        message: format!("`{text}` is not a time: give epoch milliseconds or RFC 3339"),
    })
}

pub async fn plan(
    action: BackupAction,
    settings: &BackupTaskSettings,
    params: &Params,
) -> Result<Plan, TaskError> {
    let set = choose_set(settings, params)?;
    match action {
        BackupAction::Create => plan_create(set, &settings.tools, parse_named_at(params)?),
        BackupAction::Verify => {
            let files = select_files(scan_listed(set).await?, params)?;
            let total_bytes = files.iter().map(|file| file.size).sum();
            Ok(Plan {
                steps: vec![
                    PlanStep::Files {
                        action: "verify".into(),
                        files: files
                            .iter()
                            .map(|file| PlannedFile {
                                path: file.path.clone(),
                                bytes: file.size,
                            })
                            .collect(),
                        total_bytes,
                    },
                    Plan::note(
                        "reads every file to the end: gzip decompressed, tar listed, custom dumps read whole by pg_restore --file=/dev/null (nothing is restored), checksums compared with .sha256 files",
                    ),
                ],
                ..Plan::default()
            })
        }
        BackupAction::Prune => {
            let as_of = parse_as_of(params)?;
            let (inventory, expired) = prune_selection(set, as_of).await?;
            Ok(prune_plan(set, &inventory, &expired, as_of))
        }
        BackupAction::RestoreTest => {
            let Some(restore) = &set.restore else {
                return Ok(refused(format!(
                    "set `{}` has no [backup.restore] section: add url and tables to check",
                    set.name
                )));
            };
            let file = restore_candidate(set, params).await?;
            let database = restore::scratch_database(set, parse_named_at(params)?);
            Ok(Plan {
                steps: restore::plan_steps(set, restore, &settings.tools, &file, &database),
                ..Plan::default()
            })
        }
    }
}

fn refused(reason: String) -> Plan {
    Plan {
        refusal: Some(reason),
        ..Plan::default()
    }
}

fn plan_create(
    set: &BackupSet,
    tools: &BackupTools,
    named_at: DateTime<Utc>,
) -> Result<Plan, TaskError> {
    let Some(source) = &set.create else {
        return Ok(refused(format!(
            "set `{}` has no [backup.create] section: say how its backups are made (source = \"postgres\", \"redis\" or \"paths\")",
            set.name
        )));
    };
    if !set.directory.is_dir() {
        return Ok(refused(format!(
            "backup directory {} does not exist; create it (mkdir -p) or fix [[backup]] directory",
            printable_path(&set.directory)
        )));
    }
    let target = create::target_path(set, source, named_at.with_timezone(&chrono::Local));
    Ok(Plan {
        steps: create::plan_steps(set, source, tools, &target),
        ..Plan::default()
    })
}

/// The inventory and the paths retention lets go at `as_of`.
async fn prune_selection(
    set: &BackupSet,
    as_of: DateTime<Utc>,
) -> Result<(Inventory, Vec<BackupFile>), TaskError> {
    let inventory = scan_listed(set).await?;
    let expired: Vec<BackupFile> =
        retention::expired(&inventory.files, &set.retention, as_of, &chrono::Local)
            .into_iter()
            .cloned()
            .collect();
    Ok((inventory, expired))
}

fn prune_plan(
    set: &BackupSet,
    inventory: &Inventory,
    expired: &[BackupFile],
    as_of: DateTime<Utc>,
) -> Plan {
    let mut files = Vec::new();
    for file in expired {
        files.push(PlannedFile {
            path: file.path.clone(),
            bytes: file.size,
        });
        if let Some(sidecar) = &file.sidecar {
            files.push(PlannedFile {
                path: sidecar.path.clone(),
                bytes: sidecar.bytes,
            });
        }
    }
    let total_bytes = files.iter().map(|file| file.bytes).sum();
    let kept = inventory.files.len() - expired.len();
    let mut warnings: Vec<String> = inventory
        .files
        .iter()
        .filter_map(|file| {
            file.problem
                .as_ref()
                .map(|problem| format!("kept {}: {problem}", file_name(&file.path)))
        })
        .collect();
    warnings.extend(
        inventory
            .in_progress
            .iter()
            .map(|path| format!("{} is being written; not touched", file_name(path))),
    );
    Plan {
        steps: vec![
            PlanStep::Files {
                action: "delete".into(),
                files,
                total_bytes,
            },
            Plan::note(format!(
                "retention {} judged at {}: keeps {kept} file(s), always the newest",
                match set.retention {
                    Retention::Days(days) => format!("keep {days} days"),
                    Retention::Calendar {
                        daily,
                        weekly,
                        monthly,
                    } => format!("keep {daily} daily, {weekly} weekly, {monthly} monthly"),
                },
                as_of
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S %Z")
            )),
        ],
        warnings,
        refusal: None,
    }
}

/// The dump a restore test uses: the `file` parameter, else the newest PostgreSQL dump.
async fn restore_candidate(set: &BackupSet, params: &Params) -> Result<BackupFile, TaskError> {
    let files = select_files(scan_listed(set).await?, params)?;
    let is_dump = |kind: DetectedKind| {
        matches!(
            kind,
            DetectedKind::PgDumpPlain | DetectedKind::PgDumpPlainGzip | DetectedKind::PgDumpCustom
        )
    };
    let explicit = params.contains_key("file");
    files
        .into_iter()
        .find(|file| explicit || is_dump(file.kind))
        .ok_or_else(|| {
            TaskError::failed(format!(
                "set `{}` holds no PostgreSQL dump in {}",
                set.name,
                printable_path(&set.directory)
            ))
        })
}

pub async fn run(
    action: BackupAction,
    settings: &BackupTaskSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let set = choose_set(settings, &context.params)?;
    match action {
        BackupAction::Create => run_create(set, &settings.tools, context).await,
        BackupAction::Verify => run_verify(set, &settings.tools, context).await,
        BackupAction::Prune => run_prune(set, context).await,
        BackupAction::RestoreTest => run_restore_test(set, &settings.tools, context).await,
    }
}

async fn run_create(
    set: &BackupSet,
    tools: &BackupTools,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let named_at = parse_named_at(&context.params)?;
    if let Some(refusal) = plan_create(set, tools, named_at)?.refusal {
        return Err(TaskError::Failed(refusal));
    }
    let Some(source) = &set.create else {
        return Err(TaskError::failed("no [backup.create] section"));
    };
    let target = create::target_path(set, source, named_at.with_timezone(&chrono::Local));
    let (path, bytes) = create::create(set, source, tools, &target, context).await?;
    Ok(TaskSummary {
        exit_code: Some(0),
        summary: format!(
            "wrote {} ({})",
            file_name(&path),
            format_bytes(bytes as f64)
        ),
    })
}

async fn run_verify(
    set: &BackupSet,
    tools: &BackupTools,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let files = select_files(scan_listed(set).await?, &context.params)?;
    let total = files.len();
    let mut counts = [0usize; 4];
    let mut bad: Vec<String> = Vec::new();
    for (index, file) in files.into_iter().enumerate() {
        if context.cancel.is_cancelled() {
            return Err(TaskError::Cancelled);
        }
        let name = file_name(&file.path);
        context.output.line(format!(
            "[{}/{total}] {name} ({})",
            index + 1,
            format_bytes(file.size as f64)
        ));
        let started = Instant::now();
        let verified_at = crate::core::model::now();
        let (outcome, file) = {
            let tools = tools.clone();
            let expected = set.kind;
            let cancel = context.cancel.clone();
            let output = context.output.clone();
            tokio::task::spawn_blocking(move || {
                let size = file.size.max(1);
                let mut progress = |read: u64| {
                    output.line(format!(
                        "  {} % ({} of {})",
                        read.saturating_mul(100) / size,
                        format_bytes(read as f64),
                        format_bytes(file.size as f64)
                    ));
                };
                let outcome = verify::verify_file(&file, expected, &tools, &mut progress, &cancel);
                (outcome, file)
            })
            .await
            .map_err(|error| TaskError::failed(format!("verification failed: {error}")))?
        };
        let Ok(outcome) = outcome else {
            return Err(TaskError::Cancelled);
        };
        let label = match outcome.result {
            VerifyResult::Ok => "ok",
            VerifyResult::Corrupt => "CORRUPT",
            VerifyResult::Changed => "changed",
            VerifyResult::Error => "ERROR",
        };
        context
            .output
            .line(format!("  {label}: {}", outcome.message));
        counts[outcome.result as usize] += 1;
        if matches!(outcome.result, VerifyResult::Corrupt | VerifyResult::Error) {
            bad.push(name);
        }
        let verification = Verification {
            set: set.name.clone(),
            path: file.path.clone(),
            size: file.size,
            modified: file.modified,
            verified_at,
            result: outcome.result,
            message: outcome.message,
            sha256: outcome.sha256,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        };
        if let Some(store) = &context.store
            && let Err(error) = store.insert_verification(&verification).await
        {
            context
                .output
                .line(format!("  could not record the result: {error}"));
        }
    }
    let [ok, corrupt, changed, errors] = counts;
    let summary = format!(
        "{total} file(s): {ok} ok, {corrupt} corrupt, {errors} not checked, {changed} changed while read"
    );
    if bad.is_empty() {
        Ok(TaskSummary {
            exit_code: Some(0),
            summary,
        })
    } else {
        Err(TaskError::Failed(format!("{summary}: {}", bad.join(", "))))
    }
}

/// Whether the file on disk is still the version that was inspected.
fn unchanged(file: &BackupFile) -> bool {
    std::fs::symlink_metadata(&file.path).is_ok_and(|metadata| {
        metadata.file_type().is_file()
            && metadata.len() == file.size
            && metadata
                .modified()
                .ok()
                .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
                .and_then(|since| i64::try_from(since.as_millis()).ok())
                == Some(file.modified.timestamp_millis())
    })
}

async fn run_prune(set: &BackupSet, context: &TaskContext) -> Result<TaskSummary, TaskError> {
    let as_of = parse_as_of(&context.params)?;
    let (_, expired) = prune_selection(set, as_of).await?;
    let mut deleted: Vec<PathBuf> = Vec::new();
    let mut bytes = 0u64;
    let mut failed = 0usize;
    for file in &expired {
        if context.cancel.is_cancelled() {
            break;
        }
        let name = file_name(&file.path);
        if !unchanged(file) {
            context
                .output
                .line(format!("kept {name}: it changed since it was inspected"));
            continue;
        }
        match std::fs::remove_file(&file.path) {
            Ok(()) => {
                bytes += file.size;
                context.output.line(format!(
                    "deleted {name} ({}, {} old)",
                    format_bytes(file.size as f64),
                    crate::core::text::duration((as_of - file.time).num_seconds())
                ));
                deleted.push(file.path.clone());
            }
            Err(error) => {
                failed += 1;
                context
                    .output
                    .line(format!("could not delete {name}: {error}"));
                continue;
            }
        }
        if let Some(sidecar) = &file.sidecar {
            match std::fs::remove_file(&sidecar.path) {
                Ok(()) => bytes += sidecar.bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => context.output.line(format!(
                    "could not delete {}: {error}",
                    file_name(&sidecar.path)
                )),
            }
        }
    }
    if let Some(store) = &context.store
        && let Err(error) = store.forget_verifications(&set.name, &deleted).await
    {
        context
            .output
            .line(format!("could not update the store: {error}"));
    }
    let summary = format!(
        "deleted {} of {} expired file(s), freed {}",
        deleted.len(),
        expired.len(),
        format_bytes(bytes as f64)
    );
    if context.cancel.is_cancelled() {
        context.output.line(format!("cancelled: {summary}"));
        return Err(TaskError::Cancelled);
    }
    if failed > 0 {
        return Err(TaskError::Failed(format!(
            "{summary}; {failed} could not be deleted"
        )));
    }
    Ok(TaskSummary {
        exit_code: Some(0),
        summary,
    })
}

async fn run_restore_test(
    set: &BackupSet,
    tools: &BackupTools,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let Some(restore) = &set.restore else {
        return Err(TaskError::failed(format!(
            "set `{}` has no [backup.restore] section",
            set.name
        )));
    };
    let file = restore_candidate(set, &context.params).await?;
    let database = restore::scratch_database(set, parse_named_at(&context.params)?);
    context.output.line(format!(
        "restoring {} ({}, {} old) into {database}",
        file_name(&file.path),
        format_bytes(file.size as f64),
        crate::core::text::duration((crate::core::model::now() - file.time).num_seconds())
    ));
    let test = restore::restore_test(set, restore, tools, &file, &database, context).await?;
    if let Some(store) = &context.store
        && let Err(error) = store.insert_restore_test(&test).await
    {
        context
            .output
            .line(format!("could not record the result: {error}"));
    }
    let counts = test
        .counts
        .iter()
        .map(|(name, count)| format!("{name}={count}"))
        .collect::<Vec<_>>()
        .join(", ");
    let took = crate::core::text::duration(test.duration_ms / 1000);
    if test.ok {
        Ok(TaskSummary {
            exit_code: Some(0),
            summary: format!("restored {} in {took}; {counts}", file_name(&test.file)),
        })
    } else {
        Err(TaskError::Failed(test.message))
    }
}
