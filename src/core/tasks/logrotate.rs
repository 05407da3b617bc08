//! `log-rotation`: runs logrotate on a configured config file, or on a config opsdeck writes
//! from a list of paths with the maintenance guides' policy (daily, rotate 30, compress,
//! delaycompress, notifempty, create 644), and reports what rotated.
//!
//! The plan shows the exact command and, when logrotate is installed, what a dry run
//! (`logrotate -d`, which changes nothing) says it would rotate. The generated config is written
//! (mode 0644, as logrotate refuses group- or world-writable configs) to the work directory by
//! both the plan, so that the dry run reads the same file, and the run.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::process::run_streaming;
use super::{Output, ParamSpec, Params, Plan, PlanStep, TaskContext, TaskError, TaskSummary};
use crate::core::sources::process::{Process, SpawnError, find_program, not_found};

#[derive(Debug, Clone, PartialEq)]
pub struct LogRotationSettings {
    /// An existing logrotate config file to run.
    pub config: Option<PathBuf>,
    /// Log file globs to rotate with the guides' policy when no `config` is given.
    pub paths: Vec<String>,
    /// logrotate's state file; `None` uses a file in opsdeck's state directory.
    pub state_file: Option<PathBuf>,
    /// Directory where opsdeck writes its generated config and state (the XDG state dir).
    pub work_dir: PathBuf,
    /// The logrotate program.
    pub program: String,
}

pub const PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "force",
    description: "\"true\" rotates even if the policy says it is not time yet (logrotate -f)",
}];

const NOTHING_TO_ROTATE: &str =
    "nothing to rotate: set [tasks.log-rotation] config = FILE or paths = [...]";
/// The other fix when logrotate is not found.
const PROGRAM_SETTING: &str = "set [tasks.log-rotation] program";
/// The generated config, in the work directory.
const GENERATED_CONFIG: &str = "logrotate.conf";
const DEFAULT_STATE: &str = "logrotate.state";
/// How long the plan's dry run may take.
const DRY_RUN_TIMEOUT: Duration = Duration::from_secs(15);
/// Not-due logs named in the plan; the rest are counted.
const NOT_DUE_SHOWN: usize = 5;

/// The guides' policy for the generated config.
const POLICY: &str = "    daily
    rotate 30
    compress
    delaycompress
    notifempty
    missingok
    create 644
";

/// What a run does: which config (and whether opsdeck writes it) and the command.
struct Invocation {
    /// The generated config's text, when opsdeck writes one.
    generated: Option<String>,
    config: PathBuf,
    state: PathBuf,
    force: bool,
    /// The program, resolved on PATH (and /usr/sbin, /sbin) when installed.
    program: Option<PathBuf>,
}

impl Invocation {
    fn new(settings: &LogRotationSettings, params: &Params) -> Result<Invocation, TaskError> {
        let force = match params.get("force").map(|value| value.trim()) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(TaskError::BadParam {
                    name: "force".into(),
                    message: format!("`{other}` is not true or false"),
                });
            }
        };
        let (config, generated) = match &settings.config {
            Some(config) => (config.clone(), None),
            None if !settings.paths.is_empty() => (
                settings.work_dir.join(GENERATED_CONFIG),
                Some(generated_config(&settings.paths)?),
            ),
            None => return Err(TaskError::failed(NOTHING_TO_ROTATE)),
        };
        let state = settings
            .state_file
            .clone()
            .unwrap_or_else(|| settings.work_dir.join(DEFAULT_STATE));
        Ok(Invocation {
            generated,
            config,
            state,
            force,
            program: find_program(&settings.program),
        })
    }

    /// `[program, -v|-d, -s, state, (-f), config]`.
    fn argv(&self, settings: &LogRotationSettings, mode: &str) -> Vec<String> {
        let program = match &self.program {
            Some(path) => path.to_string_lossy().into_owned(),
            None => settings.program.clone(),
        };
        let mut argv = vec![
            program,
            mode.into(),
            "-s".into(),
            self.state.to_string_lossy().into_owned(),
        ];
        if self.force {
            argv.push("-f".into());
        }
        argv.push(self.config.to_string_lossy().into_owned());
        argv
    }

    /// Creates the work directory when the state file or the generated config goes there, and
    /// writes the generated config (if any).
    async fn prepare(&self, settings: &LogRotationSettings) -> Result<(), TaskError> {
        if self.generated.is_none() && settings.state_file.is_some() {
            return Ok(());
        }
        let work_dir = settings.work_dir.clone();
        let config = self.config.clone();
        let generated = self.generated.clone();
        let shown_dir = crate::core::text::printable_path(&work_dir);
        let shown_config = crate::core::text::printable_path(&config);
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&work_dir).map_err(|error| {
                format!("cannot create the work directory {shown_dir}: {error}")
            })?;
            match generated {
                Some(text) => write_file(&work_dir, &config, &text).map_err(|error| {
                    format!("cannot write the logrotate config {shown_config}: {error}")
                }),
                None => Ok(()),
            }
        })
        .await
        .map_err(|error| TaskError::failed(format!("preparing the logrotate config: {error}")))?
        .map_err(TaskError::Failed)
    }
}

pub async fn plan(settings: &LogRotationSettings, params: &Params) -> Result<Plan, TaskError> {
    let invocation = Invocation::new(settings, params)?;
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    if invocation.generated.is_some() {
        steps.push(Plan::note(format!(
            "write {} (mode 0644) rotating {} daily, keeping 30 (compress, delaycompress, notifempty, \
             missingok, create 644)",
            crate::core::text::printable_path(&invocation.config),
            settings.paths.join(" ")
        )));
    } else if !invocation.config.exists() {
        warnings.push(format!(
            "config {} does not exist",
            crate::core::text::printable_path(&invocation.config)
        ));
    }
    steps.push(PlanStep::Command {
        argv: invocation.argv(settings, "-v"),
        cwd: None,
    });
    if invocation.program.is_none() {
        warnings.push(not_found(&settings.program, Some(PROGRAM_SETTING)));
        return Ok(Plan {
            steps,
            warnings,
            refusal: None,
        });
    }
    if let Err(error) = invocation.prepare(settings).await {
        warnings.push(format!("{error}; no dry run"));
        return Ok(Plan {
            steps,
            warnings,
            refusal: None,
        });
    }
    match dry_run(&invocation.argv(settings, "-d")).await {
        Ok(text) => {
            let dry = DryRun::parse(&text);
            steps.extend(dry.notes());
            warnings.extend(dry.errors);
        }
        Err(message) => warnings.push(message),
    }
    Ok(Plan {
        steps,
        warnings,
        refusal: None,
    })
}

pub async fn run(
    settings: &LogRotationSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let invocation = Invocation::new(settings, &context.params)?;
    if invocation.program.is_none() {
        return Err(TaskError::failed(not_found(
            &settings.program,
            Some(PROGRAM_SETTING),
        )));
    }
    invocation.prepare(settings).await?;
    let argv = invocation.argv(settings, "-v");

    // Stream logrotate's output and keep the lines that say what it rotated.
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let inner = TaskContext {
        params: context.params.clone(),
        output: Output::new(sender),
        cancel: context.cancel.clone(),
        store: None,
    };
    let env = BTreeMap::from([("LC_ALL".to_owned(), "C".to_owned())]);
    let logrotate = async move {
        let status = run_streaming(&argv, &env, None, &inner).await;
        drop(inner); // closes the channel
        status
    };
    let collect = async {
        let mut rotation = Rotation::default();
        while let Some(line) = receiver.recv().await {
            rotation.read(&line);
            context.output.line(line);
        }
        rotation
    };
    let (status, rotation) = tokio::join!(logrotate, collect);
    let status = status.map_err(|error| match error {
        TaskError::Failed(message) if message.contains("was not found") => {
            TaskError::failed(not_found(&settings.program, Some(PROGRAM_SETTING)))
        }
        other => other,
    })?;
    match status.code() {
        Some(0) => {}
        Some(code) => return Err(TaskError::Exit(code)),
        None => {
            return Err(TaskError::failed(format!(
                "logrotate ended by a signal ({status})"
            )));
        }
    }
    for (log, target) in &rotation.logs {
        context.output.line(match target {
            Some(target) => format!("rotated {} -> {}", escape(log), escape(target)),
            None => format!("rotated {}", escape(log)),
        });
    }
    let summary = if rotation.logs.is_empty() {
        "nothing needed rotating".to_owned()
    } else {
        let names: Vec<String> = rotation.logs.iter().map(|(log, _)| escape(log)).collect();
        format!(
            "rotated {} {}: {}",
            names.len(),
            if names.len() == 1 { "log" } else { "logs" },
            names.join(", ")
        )
    };
    Ok(TaskSummary {
        exit_code: status.code(),
        summary,
    })
}

/// The config for `paths` with the guides' policy; paths with spaces are double-quoted.
fn generated_config(paths: &[String]) -> Result<String, TaskError> {
    let mut quoted = Vec::new();
    for path in paths {
        if path.is_empty() || path.contains('"') || path.chars().any(char::is_control) {
            return Err(TaskError::failed(format!(
                "log path {path:?} cannot be written to a logrotate config (empty, or with a double quote \
                 or a control character)"
            )));
        }
        if path
            .chars()
            .any(|ch| ch.is_whitespace() || "{}#'".contains(ch))
        {
            quoted.push(format!("\"{path}\""));
        } else {
            quoted.push(path.clone());
        }
    }
    Ok(format!(
        "# Written by opsdeck from [tasks.log-rotation] paths; changes here are overwritten.\n{} {{\n{POLICY}}}\n",
        quoted.join(" ")
    ))
}

/// Writes `path` atomically with mode 0644.
fn write_file(dir: &Path, path: &Path, text: &str) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temporary = dir.join(format!(
        ".{GENERATED_CONFIG}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temporary)?;
        // The umask may have taken bits away; logrotate wants exactly a non-writable-by-others file.
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        file.write_all(text.as_bytes())?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Runs logrotate in debug mode (changes nothing) and returns its output.
async fn dry_run(argv: &[String]) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut process = Process::spawn(&mut command).map_err(|error| match error {
        SpawnError::NotFound(_) => not_found(program, Some(PROGRAM_SETTING)),
        error => format!("dry run: {error}"),
    })?;
    let output = match tokio::time::timeout(DRY_RUN_TIMEOUT, process.output()).await {
        Ok(output) => output.map_err(|error| format!("dry run: {error}"))?,
        Err(_) => {
            process.kill().await;
            return Err(format!(
                "dry run (logrotate -d) took longer than {DRY_RUN_TIMEOUT:?}; stopped"
            ));
        }
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if !output.status.success() && !text.contains("error:") {
        text.push_str(&format!("\nerror: dry run exited with {}\n", output.status));
    }
    Ok(text)
}

/// What `logrotate -d` said.
#[derive(Debug, Default)]
struct DryRun {
    would_rotate: Vec<String>,
    /// Considered logs that are not due, with logrotate's reason.
    not_due: Vec<(String, String)>,
    errors: Vec<String>,
}

impl DryRun {
    fn parse(text: &str) -> DryRun {
        let mut dry = DryRun::default();
        let mut considering: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            if let Some(log) = trimmed.strip_prefix("considering log ") {
                considering = Some(log.to_owned());
            } else if let Some(reason) = trimmed.strip_prefix("log does not need rotating") {
                if let Some(log) = considering.take() {
                    let reason = reason.trim().trim_start_matches('(').trim_end_matches(')');
                    dry.not_due.push((log, reason.to_owned()));
                }
            } else if let Some(log) = rotating_log(line) {
                if !dry.would_rotate.iter().any(|known| known == log) {
                    dry.would_rotate.push(log.to_owned());
                }
            } else if let Some(error) = trimmed.strip_prefix("error: ") {
                dry.errors.push(format!("logrotate: {}", escape(error)));
            }
        }
        dry
    }

    fn notes(&self) -> Vec<PlanStep> {
        let mut notes: Vec<PlanStep> = self
            .would_rotate
            .iter()
            .map(|log| {
                Plan::note(format!(
                    "dry run (logrotate -d): would rotate {}",
                    escape(log)
                ))
            })
            .collect();
        if self.would_rotate.is_empty() {
            notes.push(Plan::note(
                "dry run (logrotate -d): nothing needs rotating now",
            ));
        }
        if !self.not_due.is_empty() {
            let mut named: Vec<String> = self
                .not_due
                .iter()
                .take(NOT_DUE_SHOWN)
                .map(|(log, reason)| format!("{} ({})", escape(log), escape(reason)))
                .collect();
            if self.not_due.len() > NOT_DUE_SHOWN {
                named.push(format!("and {} more", self.not_due.len() - NOT_DUE_SHOWN));
            }
            notes.push(Plan::note(format!("not due: {}", named.join(", "))));
        }
        notes
    }
}

/// The log in `rotating log /x/app.log, log->rotateCount is 30`. Searched anywhere in the line:
/// logrotate -v sometimes runs two messages together on one line.
fn rotating_log(line: &str) -> Option<&str> {
    let start = line.find("rotating log ")? + "rotating log ".len();
    let rest = &line[start..];
    let end = rest.rfind(", log->rotateCount").unwrap_or(rest.len());
    let log = rest[..end].trim();
    (!log.is_empty()).then_some(log)
}

/// What a run rotated, from logrotate -v's output, in order.
#[derive(Debug, Default)]
struct Rotation {
    /// Each rotated log and where it went (`renaming x to x.1`, `copying x to x.1`).
    logs: Vec<(String, Option<String>)>,
}

impl Rotation {
    fn read(&mut self, line: &str) {
        if let Some(log) = rotating_log(line) {
            if !self.logs.iter().any(|(known, _)| known == log) {
                self.logs.push((log.to_owned(), None));
            }
            return;
        }
        let Some((log, target)) = self.logs.last_mut() else {
            return;
        };
        for verb in ["renaming ", "copying "] {
            if let Some(rest) = line.trim().strip_prefix(verb)
                && let Some(destination) = rest
                    .strip_prefix(log.as_str())
                    .and_then(|rest| rest.strip_prefix(" to "))
            {
                *target = Some(destination.trim().to_owned());
            }
        }
    }
}

/// Control characters escaped, for text that came from logrotate (and so from file names).
fn escape(text: &str) -> String {
    crate::core::text::printable_path(Path::new(text))
}
