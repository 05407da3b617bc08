//! `security-scan`: file permission findings under configured paths: `.env` files must be 600,
//! data and log directories 755 or 750, and no file may be world-writable; and, when
//! `[exposure] hardening` is on, the hardening findings of `core::exposure::hardening` (sshd,
//! firewall, Lynis).
//!
//! Read-only: it reports, with the `chmod` that fixes each finding, and changes nothing. The walk
//! never follows a symlink (it shares `temp-cleanup`'s descriptor-based walker).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use super::temp_cleanup::{Cancelled, Entry, Visitor, walk_path};
use crate::core::exposure::hardening::{self, HardeningSettings};

use super::{ParamSpec, Params, Plan, TaskContext, TaskError, TaskSummary};

#[derive(Debug, Clone, PartialEq)]
pub struct SecurityScanSettings {
    pub paths: Vec<PathBuf>,
    /// The hardening checks and the root and state directory they use.
    pub hardening: Option<Hardening>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hardening {
    pub settings: HardeningSettings,
    pub root: PathBuf,
    pub state_dir: PathBuf,
}

pub const PARAMS: &[ParamSpec] = &[];

/// Directory names that must be 755 or 750.
const DATA_DIRS: [&str; 3] = ["data", "log", "logs"];

pub async fn plan(settings: &SecurityScanSettings, _params: &Params) -> Result<Plan, TaskError> {
    check_configured(settings)?;
    let paths = settings.paths.clone();
    let warnings = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .filter_map(|path| match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => Some(format!(
                    "{} is a symlink; it will not be followed (configure the real path)",
                    crate::core::text::printable_path(path)
                )),
                Ok(_) => None,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Some(format!(
                    "{} does not exist; it will be skipped",
                    crate::core::text::printable_path(path)
                )),
                Err(error) => Some(format!(
                    "{}: {error}",
                    crate::core::text::printable_path(path)
                )),
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|error| TaskError::failed(format!("security-scan check failed: {error}")))?;
    let mut steps = Vec::new();
    if !settings.paths.is_empty() {
        steps.extend([
            Plan::note(format!(
                "check file permissions under {} (recursive, symlinks never followed)",
                list(&settings.paths)
            )),
            Plan::note(
                "  .env files (.env, *.env, .env.*) must be mode 600; directories named data, log or logs \
                 must be 755 or 750; no file or directory may be world-writable (sticky directories such \
                 as /tmp excepted)",
            ),
        ]);
    }
    steps.push(Plan::note(
        "read-only: findings are reported with the fix for each; nothing is changed",
    ));
    if settings.hardening.is_some() {
        steps.push(Plan::note(
            "hardening: sshd -T (PermitRootLogin, PasswordAuthentication), ufw status or the nftables \
             ruleset, and the Lynis report's warnings (new ones marked)",
        ));
    }
    Ok(Plan {
        steps,
        warnings,
        refusal: None,
    })
}

pub async fn run(
    settings: &SecurityScanSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    check_configured(settings)?;
    let paths = settings.paths.clone();
    let output = context.output.clone();
    let cancel = context.cancel.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut scan = Scan {
            output: &output,
            findings: 0,
            skipped: 0,
        };
        for path in &paths {
            walk_path(path, &cancel, &mut scan)?;
        }
        Ok::<_, Cancelled>((scan.findings, scan.skipped))
    })
    .await
    .map_err(|error| TaskError::failed(format!("security-scan walk failed: {error}")))?;
    let (mut findings, warnings) = outcome.map_err(|Cancelled| TaskError::Cancelled)?;
    if let Some(checks) = settings.hardening.clone() {
        let report = tokio::task::spawn_blocking(move || {
            hardening::probe(&checks.settings, &checks.root, &checks.state_dir)
        })
        .await
        .map_err(|error| TaskError::failed(format!("hardening checks failed: {error}")))?;
        for finding in report.findings() {
            if finding.level != crate::core::model::Status::Ok {
                findings += 1;
            }
            context.output.line(finding.line());
        }
    }
    let mut summary = match (settings.paths.len() as u64, settings.hardening.is_some()) {
        (0, _) => format!(
            "{} from the hardening checks",
            plural(findings, "finding", "findings")
        ),
        (paths, hardening) => format!(
            "{} under {}{}",
            plural(findings, "finding", "findings"),
            plural(paths, "path", "paths"),
            if hardening {
                " and the hardening checks"
            } else {
                ""
            }
        ),
    };
    if warnings > 0 {
        summary.push_str(&format!("; {}", plural(warnings, "warning", "warnings")));
    }
    Ok(TaskSummary {
        exit_code: None,
        summary,
    })
}

fn check_configured(settings: &SecurityScanSettings) -> Result<(), TaskError> {
    if settings.paths.is_empty() && settings.hardening.is_none() {
        return Err(TaskError::failed(
            "nothing to scan: set [tasks.security-scan] paths = [...], or [exposure] hardening = true",
        ));
    }
    Ok(())
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| crate::core::text::printable_path(path))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(count: u64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

struct Scan<'a> {
    output: &'a super::Output,
    findings: u64,
    skipped: u64,
}

impl Visitor for Scan<'_> {
    fn entry(&mut self, entry: &Entry<'_>) {
        if let Some(finding) = finding(entry) {
            self.findings += 1;
            self.output.line(finding);
        }
    }

    fn warning(&mut self, message: String) {
        self.skipped += 1;
        self.output.line(format!("warning: {message}"));
    }
}

/// At most one finding per entry: the specific rules (.env, data directories) ask for modes that
/// are not world-writable, so their fix covers the general rule too.
fn finding(entry: &Entry<'_>) -> Option<String> {
    let kind = entry.file_type();
    let mode = entry.mode();
    let perms = mode & 0o777;
    let name = match entry.at {
        Some((_, name)) => OsStr::from_bytes(name.to_bytes()),
        None => entry.path.file_name().unwrap_or_default(),
    };
    let name = name.to_string_lossy();
    let path = crate::core::text::printable_path(entry.path);
    let quoted = shell_quoted(entry.path);
    match kind {
        FileType::RegularFile if is_env_file(&name) => (perms != 0o600)
            .then(|| format!("WARN {path} mode {mode:03o}, expected 600 (chmod 600 {quoted})")),
        FileType::Directory if DATA_DIRS.contains(&name.as_ref()) => {
            (perms != 0o755 && perms != 0o750).then(|| {
                let fix = if perms & 0o004 != 0 { "755" } else { "750" };
                format!("WARN {path} mode {mode:03o}, expected 755 or 750 (chmod {fix} {quoted})")
            })
        }
        FileType::RegularFile | FileType::Directory => {
            let sticky_dir = kind == FileType::Directory && mode & 0o1000 != 0;
            (perms & 0o002 != 0 && !sticky_dir).then(|| {
                format!("WARN {path} mode {mode:03o} is world-writable (chmod o-w {quoted})")
            })
        }
        _ => None,
    }
}

fn is_env_file(name: &str) -> bool {
    name == ".env" || name.ends_with(".env") || name.starts_with(".env.")
}

/// The path quoted for a POSIX shell; names with control characters or bytes that are not UTF-8
/// use bash's `$'…'` with escapes, so that the suggestion is safe to print and to paste.
fn shell_quoted(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => {
            format!("'{}'", text.replace('\'', r"'\''"))
        }
        _ => {
            let mut quoted = String::from("$'");
            for &byte in bytes {
                match byte {
                    b'\'' => quoted.push_str(r"\'"),
                    b'\\' => quoted.push_str(r"\\"),
                    0x20..=0x7e => quoted.push(char::from(byte)),
                    _ => quoted.push_str(&format!("\\x{byte:02x}")),
                }
            }
            quoted.push('\'');
            quoted
        }
    }
}
