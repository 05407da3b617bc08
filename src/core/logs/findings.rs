//! What the log sources found, as owned data for whoever shows it (the logs pane, `opsdeck
//! logs`): per source its per-minute counts, the totals over the rules' window, its top
//! signatures with trends (new ones first), the named matches and the recipes' figures. It is
//! also the sample the rules judge: [`LOG_METRICS`], instance = the source's name
//! (`SOURCE/MATCH` for `log.matches`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::format::Level;
use crate::core::collectors::Sample;
use crate::core::model::{Metric, Unit};

/// The metrics a log source produces, each counted over the source's window.
pub const LOG_METRICS: &[&str] = &[
    "log.lines",
    "log.errors",
    "log.warnings",
    "log.new_signatures",
    "log.matches",
    "log.http_5xx_pct",
    "log.http_p95_ms",
    "log.failed_logins",
];

/// Every source's findings at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogsSnapshot {
    pub taken_at: DateTime<Utc>,
    pub sources: Vec<SourceFindings>,
}

/// Lines, errors and warnings in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MinuteCounts {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    pub lines: u64,
    pub errors: u64,
    pub warnings: u64,
}

/// Counts over the source's window (what the rules judge).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct WindowTotals {
    pub lines: u64,
    pub errors: u64,
    pub warnings: u64,
    pub new_signatures: u64,
    pub failed_logins: u64,
    pub requests: u64,
    /// Requests answered 500–599.
    pub server_errors: u64,
    /// `None` while no request in the window had a request time.
    pub p95_ms: Option<f64>,
}

impl WindowTotals {
    /// The 5xx share of requests in percent; `None` without requests.
    pub fn server_error_pct(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.server_errors as f64 * 100.0 / self.requests as f64)
    }
}

/// One message template and how often it was seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureFinding {
    pub template: String,
    /// The first message of this template, raw (escape it to show it).
    pub sample: String,
    /// The worst level its lines had.
    pub level: Option<Level>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub total: u64,
    pub last_hour: u64,
    /// The same hour a day earlier; `None` until the source has watched that long.
    pub same_hour_yesterday: Option<f64>,
    /// First seen within the retained window after the warm-up: a new signature finding.
    pub is_new: bool,
}

/// A `[[log.match]]` and its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchCount {
    pub name: String,
    pub in_window: u64,
    pub total: u64,
}

/// The access-log recipe's figures over what was read (back-scan and since).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessFindings {
    pub requests: u64,
    pub unparsed: u64,
    pub server_error_pct: Option<f64>,
    /// Status code and count, by code.
    pub statuses: Vec<(u16, u64)>,
    /// Path and count, most requested first.
    pub top_endpoints: Vec<(String, u64)>,
    /// Requests per hour of day (UTC), 0–23.
    pub hourly: Vec<u64>,
    pub mean_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// The failed-login recipe's figures over what was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginFindings {
    pub failed: u64,
    /// Source address and failures, most first.
    pub top_ips: Vec<(String, u64)>,
    /// Addresses past the source's `suspicious_after`, most first.
    pub suspicious: Vec<(String, u64)>,
    /// User names tried, most first.
    pub top_users: Vec<(String, u64)>,
}

/// What one source found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceFindings {
    pub name: String,
    /// The glob, or the journal and its unit.
    pub origin: String,
    /// Why the source could not be read this round (shown in place); what was read before
    /// stays.
    pub error: Option<String>,
    /// The rules' window in seconds.
    pub window_secs: u64,
    pub window: WindowTotals,
    /// Per-minute counts of the last 24 hours, oldest first; minutes without lines left out.
    pub minutes: Vec<MinuteCounts>,
    /// Top signatures: new ones first, then by count in the last hour.
    pub signatures: Vec<SignatureFinding>,
    pub matches: Vec<MatchCount>,
    pub access: Option<AccessFindings>,
    pub logins: Option<LoginFindings>,
    pub last_line_at: Option<DateTime<Utc>>,
}

/// One line kept for the pane's line view and for evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: Option<Level>,
    /// The raw line, cut to a bounded length; escape it to show it.
    pub text: String,
}

/// Which of a source's recent lines to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFilter {
    All,
    /// Lines whose message normalises to this template.
    Signature(String),
    /// Lines containing this text (case-insensitive).
    Text(String),
}

impl Sample for LogsSnapshot {
    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = Vec::new();
        for source in &self.sources {
            let name = source.name.as_str();
            let totals = &source.window;
            let count = |metric, value: u64| Metric::of(metric, name, value as f64, Unit::Count);
            metrics.push(count("log.lines", totals.lines));
            metrics.push(count("log.errors", totals.errors));
            metrics.push(count("log.warnings", totals.warnings));
            metrics.push(count("log.new_signatures", totals.new_signatures));
            for rule in &source.matches {
                let instance = format!("{name}/{}", rule.name);
                metrics.push(Metric::of(
                    "log.matches",
                    &instance,
                    rule.in_window as f64,
                    Unit::Count,
                ));
            }
            if source.access.is_some() {
                if let Some(pct) = totals.server_error_pct() {
                    metrics.push(Metric::of("log.http_5xx_pct", name, pct, Unit::Percent));
                }
                if let Some(p95) = totals.p95_ms {
                    metrics.push(Metric::of("log.http_p95_ms", name, p95, Unit::Milliseconds));
                }
            }
            if source.logins.is_some() {
                metrics.push(count("log.failed_logins", totals.failed_logins));
            }
        }
        metrics
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// The most evidence lines an attached finding keeps: the timeline is read by people.
pub const MAX_EVIDENCE_LINES: usize = 200;

/// The incident change that attaches a finding: `summary` as the entry's text, the lines
/// (time, level, text made printable) frozen as its evidence.
pub fn attachment(
    source: &str,
    summary: &str,
    lines: &[LogLine],
) -> crate::core::incidents::Change {
    let skipped = lines.len().saturating_sub(MAX_EVIDENCE_LINES);
    let mut evidence = String::new();
    if skipped > 0 {
        evidence.push_str(&format!("({skipped} earlier lines left out)\n"));
    }
    for line in &lines[skipped..] {
        let level = line.level.map_or("-", |level| match level {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        });
        evidence.push_str(&format!(
            "{} {level} {}\n",
            line.at.format("%Y-%m-%d %H:%M:%S"),
            crate::core::text::printable(&line.text)
        ));
    }
    crate::core::incidents::Change::Observed {
        source: crate::core::incidents::Source::Log,
        text: format!("{source}: {}", crate::core::text::printable(summary)),
        evidence,
        link: Some(source.to_owned()),
    }
}
