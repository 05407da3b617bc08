//! Host exposure: what an attacker or an auditor would find before any alert fires. Pending
//! package updates and reboots ([`updates`]), the age of keys and secrets ([`key_ages`]), and
//! hardening findings from sshd, the firewall and Lynis ([`hardening`]). Everything here only
//! looks: it runs apt, sshd and the firewall tools in their read-only modes and reads files'
//! metadata, never a secret's contents.
//!
//! Paths are taken under a configurable root directory so that tests (and checks of a mounted
//! image) never need to touch `/`.

pub mod hardening;
pub mod key_ages;
pub mod updates;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::core::collectors::{BlockingCollector, Sample};
use crate::core::model::{Metric, Status, now};
use crate::core::sources::process::{BlockingProcess, find_program};

/// Every metric this module gives, for rules to name.
pub const EXPOSURE_METRICS: &[&str] = &[
    updates::PENDING,
    updates::SECURITY,
    updates::SECURITY_OLDEST_DAYS,
    updates::REBOOT_REQUIRED,
    updates::REBOOT_REQUIRED_DAYS,
    updates::SERVICES_NEED_RESTART,
    key_ages::AGE_DAYS,
    hardening::SSH_ROOT_LOGIN,
    hardening::SSH_PASSWORD_AUTH,
    hardening::FIREWALL_ACTIVE,
    hardening::LYNIS_INDEX,
    hardening::LYNIS_WARNINGS,
    hardening::LYNIS_NEW_WARNINGS,
    hardening::LYNIS_SUGGESTIONS,
];

/// What the exposure collector looks at; `None` parts are off.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureSettings {
    /// Prefix of every file path read (`/` in production, a temporary directory in tests).
    pub root: PathBuf,
    /// Where first sightings of updates and the previous Lynis warnings are kept.
    pub state_dir: PathBuf,
    pub interval: Duration,
    pub updates: Option<updates::UpdateSettings>,
    pub secrets: Vec<key_ages::SecretSpec>,
    pub hardening: Option<hardening::HardeningSettings>,
}

/// `path` (absolute, as on the host) under `root`.
pub fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// One thing worth a look, as the security scan prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub level: Status,
    pub text: String,
}

impl Finding {
    pub fn warn(text: impl Into<String>) -> Finding {
        Finding {
            level: Status::Warn,
            text: text.into(),
        }
    }

    /// `WARN text`, the security scan's line format.
    pub fn line(&self) -> String {
        let level = match self.level {
            Status::Crit => "CRIT",
            Status::Warn => "WARN",
            Status::Ok => "OK",
            Status::Unknown => "UNKNOWN",
        };
        format!("{level} {}", self.text)
    }
}

/// One look at everything configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureSample {
    pub taken_at: DateTime<Utc>,
    pub updates: Option<updates::UpdateReport>,
    pub secrets: Vec<key_ages::SecretAge>,
    pub hardening: Option<hardening::HardeningReport>,
}

impl ExposureSample {
    /// Why some part could not be read, one message each (shown as warnings, not as metrics).
    pub fn errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(report) = &self.updates {
            errors.extend(report.errors());
        }
        errors.extend(
            self.secrets
                .iter()
                .filter_map(|secret| secret.age_days.as_ref().err().cloned()),
        );
        if let Some(report) = &self.hardening {
            errors.extend(report.errors());
        }
        errors
    }
}

impl Sample for ExposureSample {
    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = Vec::new();
        if let Some(report) = &self.updates {
            metrics.extend(report.metrics());
        }
        metrics.extend(self.secrets.iter().filter_map(key_ages::SecretAge::metric));
        if let Some(report) = &self.hardening {
            metrics.extend(report.metrics());
        }
        metrics
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// Takes one sample of everything `settings` turns on.
pub fn probe(settings: &ExposureSettings) -> ExposureSample {
    let taken_at = now();
    ExposureSample {
        taken_at,
        updates: settings
            .updates
            .as_ref()
            .map(|updates| updates::probe(updates, &settings.root, &settings.state_dir, taken_at)),
        secrets: settings
            .secrets
            .iter()
            .map(|secret| key_ages::age(secret, &settings.root, taken_at))
            .collect(),
        hardening: settings
            .hardening
            .as_ref()
            .map(|hardening| hardening::probe(hardening, &settings.root, &settings.state_dir)),
    }
}

pub struct ExposureCollector {
    settings: ExposureSettings,
}

impl ExposureCollector {
    /// `None` when nothing is turned on.
    pub fn new(settings: ExposureSettings) -> Option<ExposureCollector> {
        (settings.updates.is_some() || settings.hardening.is_some() || !settings.secrets.is_empty())
            .then_some(ExposureCollector { settings })
    }
}

impl BlockingCollector for ExposureCollector {
    type Sample = ExposureSample;

    fn interval(&self) -> Duration {
        self.settings.interval
    }

    fn collect(&mut self) -> ExposureSample {
        probe(&self.settings)
    }
}

/// What a tool printed and how it ended.
#[derive(Debug)]
pub struct ToolOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    /// The output when the tool succeeded, else its first line of complaint.
    pub fn success(self, program: &str) -> Result<String, String> {
        if self.status.success() {
            return Ok(self.stdout);
        }
        let complaint = self
            .stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("no message")
            .to_owned();
        Err(format!("`{program}` failed ({}): {complaint}", self.status))
    }
}

/// Runs a tool to completion with a deadline, in the C locale (their output is parsed);
/// a missing program is named with the package that installs it.
pub fn run_tool(program: &str, args: &[&str], timeout: Duration) -> Result<ToolOutput, String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut process = BlockingProcess::spawn(&mut command).map_err(|error| error.to_string())?;
    let readers = [
        process.child().stdout.take().map(drain),
        process.child().stderr.take().map(drain),
    ];
    let deadline = Instant::now() + timeout;
    let status = process
        .wait_unless(|| Instant::now() > deadline)
        .map_err(|error| format!("waiting for `{program}`: {error}"))?;
    let [stdout, stderr] = readers.map(|reader| {
        reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default()
    });
    let status = status.ok_or_else(|| {
        format!(
            "`{program}` did not finish within {}; it was stopped",
            humantime::format_duration(timeout)
        )
    })?;
    Ok(ToolOutput {
        status,
        stdout,
        stderr,
    })
}

fn drain(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// An optional tool: `None` when a bare name is not installed (that part is left out), an
/// error naming it when a configured path is missing (a mistake in the config).
pub fn optional_tool(program: &str, key: &str) -> Option<Result<PathBuf, String>> {
    match find_program(program) {
        Some(found) => Some(Ok(found)),
        None if program.contains('/') => Some(Err(crate::core::sources::process::not_found(
            program,
            Some(&format!("fix [exposure] {key}")),
        ))),
        None => None,
    }
}

/// Reads and writes a small JSON state file; a missing file is the default state.
pub(crate) fn load_state<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

pub(crate) fn save_state<T: serde::Serialize>(path: &Path, state: &T) -> Result<(), String> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, serde_json::to_vec_pretty(state)?)?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|error| {
        format!(
            "cannot write {}: {error} (check the state directory's permissions)",
            path.display()
        )
    })
}
