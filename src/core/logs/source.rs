//! What one configured log source is (`[[log]]` in the config, checked and built): where its
//! lines come from (files by glob, or the systemd journal), what they look like, the named
//! regexes counted as `log.matches`, the rules' window and how far back a start reads.

use std::path::PathBuf;
use std::time::Duration;

use super::format::Format;

/// The window the `log.*` metrics count over unless a source sets its own.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How far back rotated files and the journal are read when a source has no stored position.
pub const DEFAULT_BACK_SCAN: Duration = Duration::from_secs(24 * 3600);
/// Failed logins from one address past which it is listed as suspicious (the guides' weekly
/// "suspicious IPs" check).
pub const DEFAULT_SUSPICIOUS_AFTER: u64 = 5;

/// Where a source's lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Every file the glob matches (re-expanded each round, so new files are picked up), each
    /// followed across rotation; rotated `PATH.1` and `PATH.*.gz` files are read for the
    /// back-scan window.
    Files { pattern: String },
    /// `journalctl --output=json`, optionally for one unit and/or from a journal file (an
    /// exported or copied journal) instead of the system journal; resumed from a stored cursor.
    Journal {
        unit: Option<String>,
        file: Option<PathBuf>,
    },
}

/// A named regex whose matching lines are counted (`log.matches`, instance `SOURCE/NAME`).
#[derive(Debug, Clone)]
pub struct MatchRule {
    pub name: String,
    pub regex: regex_lite::Regex,
}

/// The built-in recipes a source runs besides levels and signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recipes {
    /// sshd's `Failed password` / `Invalid user` lines: `log.failed_logins`, top source IPs,
    /// suspicious IPs. On by default for syslog-format sources and journal sources.
    pub failed_logins: bool,
    /// Requests, 5xx share, status distribution, top endpoints, hourly distribution, mean and
    /// p95 response time. On for access-log sources.
    pub access: bool,
}

/// One configured log source.
#[derive(Debug, Clone)]
pub struct LogSource {
    /// Unique among sources; the metrics' instance and the key of stored positions.
    pub name: String,
    pub input: Input,
    pub format: Format,
    pub matches: Vec<MatchRule>,
    pub recipes: Recipes,
    /// What `log.lines`, `log.errors`… count over: "more than 50 ERROR in 5 min".
    pub window: Duration,
    /// How far back a first start (no stored position) reads.
    pub back_scan: Duration,
    /// Failed logins from one address before it is suspicious.
    pub suspicious_after: u64,
}

impl LogSource {
    /// A source with the defaults for everything but where and what.
    pub fn new(name: impl Into<String>, input: Input, format: Format) -> LogSource {
        let recipes = Recipes {
            failed_logins: matches!(format, Format::Syslog)
                || matches!(input, Input::Journal { .. }),
            access: matches!(format, Format::Access(_)),
        };
        LogSource {
            name: name.into(),
            input,
            format,
            matches: Vec::new(),
            recipes,
            window: DEFAULT_WINDOW,
            back_scan: DEFAULT_BACK_SCAN,
            suspicious_after: DEFAULT_SUSPICIOUS_AFTER,
        }
    }

    /// Where the lines come from, for people: the glob, or `journal` with its unit and file.
    pub fn origin(&self) -> String {
        match &self.input {
            Input::Files { pattern } => pattern.clone(),
            Input::Journal { unit, file } => {
                let mut origin = String::from("journal");
                if let Some(unit) = unit {
                    origin.push_str(&format!(" -u {unit}"));
                }
                if let Some(file) = file {
                    origin.push_str(&format!(" --file {}", file.display()));
                }
                origin
            }
        }
    }
}
