//! `opsdeck logs`: the configured log sources (or one of them) read once for the last
//! `--since`, judged by the console's rules over each source's window, and printed as the
//! logs pane's findings (text with every piece of a log made printable, or JSON: the snapshot
//! and the evaluations), with the Nagios exit convention (0 ok, 1 warn, 2 crit, 3 unknown).
//! Also the log lines of `opsdeck check`: one per source, judged over its window.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use super::Refused;
use crate::core::checks::rules::format_value;
use crate::core::checks::{Evaluation, Judge};
use crate::core::logs::findings::{LogsSnapshot, SourceFindings};
use crate::core::logs::format::Level;
use crate::core::logs::signatures;
use crate::core::logs::source::{Input, LogSource};
use crate::core::logs::watch;
use crate::core::model::Status;
use crate::core::text::printable;

/// How far back the per-minute counts go (the pane's 24-hour histogram).
const MINUTES_KEPT: u64 = watch::RETAINED_MINUTES.unsigned_abs() * 60;
/// How much of a template or sample line the text report shows; the JSON has them whole.
const SHOWN_TEXT: usize = 160;

/// The sources to read: all, or the one `wanted` names (refused, naming the configured ones,
/// when none has that name).
pub fn select(sources: &[LogSource], wanted: Option<&str>) -> Result<Vec<LogSource>, Refused> {
    if sources.is_empty() {
        return Err(Refused(
            "no log sources configured\n  fix: add a [[log]] section with name and path (or journal = true); `opsdeck config default` shows every key"
                .to_owned(),
        ));
    }
    let Some(wanted) = wanted else {
        return Ok(sources.to_vec());
    };
    let chosen: Vec<LogSource> = sources
        .iter()
        .filter(|source| source.name == wanted)
        .cloned()
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = sources.iter().map(|source| source.name.as_str()).collect();
        let hint = crate::config::diagnostics::nearest(wanted, &names)
            .map(|best| format!("did you mean `{best}`? "))
            .unwrap_or_default();
        return Err(Refused(format!(
            "no [[log]] source named `{}`; configured: {}\n  fix: {hint}pass one of those to --source",
            printable(wanted),
            names.join(", ")
        )));
    }
    Ok(chosen)
}

/// Reads `sources` for the last `since` on a blocking thread (the reading is synchronous file
/// I/O and may take seconds on large logs).
pub async fn scan(sources: Vec<LogSource>, since: Duration) -> anyhow::Result<LogsSnapshot> {
    let now = crate::core::model::now();
    Ok(tokio::task::spawn_blocking(move || watch::scan(&sources, since, now)).await?)
}

/// A source whose glob matches no file has nothing to read yet: shown in place, not a failure
/// (a fresh machine, an application not started yet).
fn has_no_files(source: &LogSource) -> bool {
    match &source.input {
        Input::Files { pattern } => glob::glob(pattern)
            .map(|mut paths| !paths.any(|path| path.is_ok_and(|path| path.is_file())))
            .unwrap_or(false),
        Input::Journal { .. } => false,
    }
}

/// One source's verdict.
#[derive(Debug, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub status: Status,
    /// Its glob matches no file yet.
    pub no_files: bool,
}

/// What `opsdeck logs` prints.
#[derive(Debug, Serialize)]
pub struct LogsReport {
    pub host: String,
    pub status: Status,
    pub since_secs: u64,
    #[serde(flatten)]
    pub snapshot: LogsSnapshot,
    /// Every metric of the snapshot against its rule (instance = source, `SOURCE/MATCH` for
    /// `log.matches`).
    pub evaluations: Vec<Evaluation>,
    pub statuses: Vec<SourceStatus>,
}

/// Whether `evaluation` is about `source`.
fn concerns(evaluation: &Evaluation, source: &str) -> bool {
    evaluation
        .metric
        .instance
        .as_deref()
        .is_some_and(|instance| {
            instance == source
                || instance
                    .strip_prefix(source)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// A source's status: the worst of its evaluations, at least unknown when it could not be
/// read (a glob matching nothing yet is not a failure).
fn source_status(findings: &SourceFindings, no_files: bool, evaluations: &[Evaluation]) -> Status {
    let judged = evaluations
        .iter()
        .filter(|evaluation| concerns(evaluation, &findings.name))
        .map(|evaluation| evaluation.status)
        .max()
        .unwrap_or(Status::Ok);
    if findings.error.is_some() && !no_files {
        judged.max(Status::Unknown)
    } else {
        judged
    }
}

impl LogsReport {
    /// Judges `snapshot` of `sources` with `judge`.
    pub fn new(
        host: String,
        sources: &[LogSource],
        snapshot: LogsSnapshot,
        since: Duration,
        judge: &Judge,
    ) -> LogsReport {
        let evaluations = judge.evaluate(&snapshot);
        let statuses: Vec<SourceStatus> = snapshot
            .sources
            .iter()
            .map(|findings| {
                let no_files = sources
                    .iter()
                    .find(|source| source.name == findings.name)
                    .is_some_and(has_no_files);
                SourceStatus {
                    source: findings.name.clone(),
                    status: source_status(findings, no_files, &evaluations),
                    no_files,
                }
            })
            .collect();
        let status = statuses
            .iter()
            .map(|status| status.status)
            .max()
            .unwrap_or(Status::Ok);
        LogsReport {
            host,
            status,
            since_secs: since.as_secs(),
            snapshot,
            evaluations,
            statuses,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let since = span(self.since_secs);
        let _ = writeln!(
            out,
            "opsdeck logs on {} at {}, last {since} (times local, {})",
            printable(&self.host),
            self.snapshot
                .taken_at
                .with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S"),
            Local::now().format("%:z")
        );
        for (findings, status) in self.snapshot.sources.iter().zip(&self.statuses) {
            self.source_text(&mut out, findings, status);
        }
        out.push_str(&super::check::overall_line(
            self.status,
            self.statuses.iter().map(|status| status.status),
        ));
        out
    }

    fn source_text(&self, out: &mut String, findings: &SourceFindings, status: &SourceStatus) {
        let _ = writeln!(
            out,
            "\n{:<5} {}  {}",
            status.status.label(),
            printable(&findings.name),
            printable(&findings.origin)
        );
        if status.no_files {
            let _ = writeln!(
                out,
                "      no files yet: nothing matches {}",
                printable(&findings.origin)
            );
        } else if let Some(error) = &findings.error {
            for line in error.lines() {
                let _ = writeln!(out, "      problem: {}", printable(line.trim()));
            }
        }
        let window = span(findings.window_secs);
        let totals = &findings.window;
        let _ = writeln!(
            out,
            "      last {window} (the rules' window): {} lines, {} errors, {} warnings, {} new signatures",
            totals.lines, totals.errors, totals.warnings, totals.new_signatures
        );
        for evaluation in self
            .evaluations
            .iter()
            .filter(|evaluation| concerns(evaluation, &findings.name))
            .filter(|evaluation| evaluation.operator.is_some())
        {
            let _ = writeln!(out, "      {}", judged_text(evaluation));
        }
        let reported = self.snapshot.taken_at
            - chrono::TimeDelta::seconds(i64::try_from(self.since_secs).unwrap_or(i64::MAX));
        let (lines, errors, warnings) = findings
            .minutes
            .iter()
            .filter(|minute| minute.minute >= reported)
            .fold((0, 0, 0), |(lines, errors, warnings), minute| {
                (
                    lines + minute.lines,
                    errors + minute.errors,
                    warnings + minute.warnings,
                )
            });
        let last = findings.last_line_at.map_or_else(
            || "no line yet".to_owned(),
            |at| format!("last line {}", local(at)),
        );
        let _ = writeln!(
            out,
            "      last {}: {lines} lines, {errors} errors, {warnings} warnings; {last}",
            span(self.since_secs.min(MINUTES_KEPT))
        );
        signatures_text(out, findings);
        if !findings.matches.is_empty() {
            let matches: Vec<String> = findings
                .matches
                .iter()
                .map(|rule| {
                    format!(
                        "{} {} in the window, {} in all",
                        printable(&rule.name),
                        rule.in_window,
                        rule.total
                    )
                })
                .collect();
            let _ = writeln!(out, "      matches: {}", matches.join(" · "));
        }
        access_text(out, findings);
        logins_text(out, findings);
    }
}

/// `CRIT  log.errors 60 > 50 (warn > 20, crit > 50)`, or `OK    log.errors 3 (warn > 20)`.
fn judged_text(evaluation: &Evaluation) -> String {
    let metric = &evaluation.metric;
    let subject = match metric.instance.as_deref().and_then(|i| i.split_once('/')) {
        Some((_, rule)) => format!("{} {}", metric.name, printable(rule)),
        None => metric.name.to_owned(),
    };
    let limits: Vec<String> = [("warn", evaluation.warn), ("crit", evaluation.crit)]
        .into_iter()
        .filter_map(|(label, limit)| {
            let symbol = evaluation.operator.map_or("", |op| op.symbol());
            limit.map(|limit| format!("{label} {symbol} {}", format_value(limit, metric.unit)))
        })
        .collect();
    format!(
        "{:<5} {subject} {} ({})",
        evaluation.status.label(),
        format_value(metric.value, metric.unit),
        limits.join(", ")
    )
}

/// A span as people write it: `5m`, `90m`, `24h`, `7d`.
fn span(seconds: u64) -> String {
    match seconds {
        s if s > 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => humantime::format_duration(Duration::from_secs(s)).to_string(),
    }
}

fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%m-%d %H:%M").to_string()
}

/// Log text for one line of the report: printable, and long texts cut with a marker.
fn shown(text: &str) -> String {
    let kept = signatures::cut(text, SHOWN_TEXT);
    if kept.len() == text.len() {
        printable(text)
    } else {
        format!(
            "{}…[{} more bytes]",
            printable(kept),
            text.len() - kept.len()
        )
    }
}

fn signatures_text(out: &mut String, findings: &SourceFindings) {
    if findings.signatures.is_empty() {
        return;
    }
    let _ = writeln!(out, "      signatures (new first, then by the last hour):");
    for signature in &findings.signatures {
        let level = match signature.level {
            Some(Level::Error) => "ERROR",
            Some(Level::Warn) => "WARN",
            Some(Level::Info) => "INFO",
            Some(Level::Debug) => "DEBUG",
            None => "-",
        };
        let yesterday = signature
            .same_hour_yesterday
            .map(|count| format!(", {count:.0} same hour yesterday"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "        {:<3} {:>7}×  first seen {}  {level:<5} {}",
            if signature.is_new { "NEW" } else { "" },
            signature.total,
            local(signature.first_seen),
            shown(&signature.template)
        );
        let _ = writeln!(
            out,
            "                     {} in the last hour{yesterday}; e.g. {}",
            signature.last_hour,
            shown(&signature.sample)
        );
    }
}

fn counts(pairs: &[(String, u64)]) -> String {
    pairs
        .iter()
        .map(|(key, count)| format!("{} {count}", shown(key)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn access_text(out: &mut String, findings: &SourceFindings) {
    let Some(access) = &findings.access else {
        return;
    };
    let figure = |value: Option<f64>, unit: &str| {
        value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1} {unit}"))
    };
    let _ = writeln!(
        out,
        "      access: {} requests ({} lines not in the access format), 5xx {}, response mean {}, p95 {}",
        access.requests,
        access.unparsed,
        figure(access.server_error_pct, "%"),
        figure(access.mean_ms, "ms"),
        figure(access.p95_ms, "ms")
    );
    let statuses: Vec<String> = access
        .statuses
        .iter()
        .map(|(code, count)| format!("{code} {count}"))
        .collect();
    let _ = writeln!(out, "        statuses: {}", statuses.join(" · "));
    let _ = writeln!(
        out,
        "        top endpoints: {}",
        counts(&access.top_endpoints)
    );
    let hourly: Vec<String> = access
        .hourly
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(hour, count)| format!("{hour:02}h {count}"))
        .collect();
    let _ = writeln!(out, "        by hour (UTC): {}", hourly.join(" · "));
}

fn logins_text(out: &mut String, findings: &SourceFindings) {
    let Some(logins) = &findings.logins else {
        return;
    };
    let _ = writeln!(out, "      failed logins: {}", logins.failed);
    if !logins.top_ips.is_empty() {
        let _ = writeln!(out, "        top addresses: {}", counts(&logins.top_ips));
    }
    if !logins.suspicious.is_empty() {
        let _ = writeln!(out, "        suspicious: {}", counts(&logins.suspicious));
    }
    if !logins.top_users.is_empty() {
        let _ = writeln!(out, "        users tried: {}", counts(&logins.top_users));
    }
}

/// The log lines of `opsdeck check`: every source read over its window and judged, one line
/// each (named `log:SOURCE`) with the metric that decided it.
pub async fn check_lines(sources: &[LogSource], judge: &Judge) -> Vec<super::check::CheckLine> {
    if sources.is_empty() {
        return Vec::new();
    }
    let since = sources
        .iter()
        .map(|source| source.window)
        .max()
        .unwrap_or(crate::core::logs::source::DEFAULT_WINDOW);
    let snapshot = match scan(sources.to_vec(), since).await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            return sources
                .iter()
                .map(|source| {
                    super::check::CheckLine::unknown(
                        format!("log:{}", source.name),
                        error.to_string(),
                    )
                })
                .collect();
        }
    };
    let report = LogsReport::new(String::new(), sources, snapshot, since, judge);
    report
        .snapshot
        .sources
        .iter()
        .zip(&report.statuses)
        .map(|(findings, status)| {
            let mine: Vec<&Evaluation> = report
                .evaluations
                .iter()
                .filter(|evaluation| concerns(evaluation, &findings.name))
                .collect();
            // The worst evaluation decides; a source within its limits is shown by its errors.
            let decisive = mine
                .iter()
                .filter(|evaluation| evaluation.status != Status::Ok)
                .max_by_key(|evaluation| evaluation.status)
                .or_else(|| {
                    mine.iter()
                        .find(|evaluation| evaluation.metric.name == "log.errors")
                })
                .map(|evaluation| (*evaluation).clone());
            let totals = &findings.window;
            let window = span(findings.window_secs);
            let mut detail = format!(
                "{}: {} lines, {} errors, {} warnings in {window}",
                printable(&findings.origin),
                totals.lines,
                totals.errors,
                totals.warnings
            );
            if status.no_files {
                detail.push_str("; no files yet");
            } else if let Some(error) = &findings.error {
                let first = error.lines().next().unwrap_or_default();
                detail.push_str(&format!("; {}", printable(first)));
            }
            super::check::CheckLine::decided(
                format!("log:{}", findings.name),
                status.status,
                decisive,
                detail,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Metric, Unit};

    #[test]
    fn spans_read_as_written() {
        for (seconds, text) in [
            (300, "5m"),
            (5400, "90m"),
            (3600, "1h"),
            (86_400, "24h"),
            (7 * 86_400, "7d"),
            (45, "45s"),
        ] {
            assert_eq!(span(seconds), text);
        }
    }

    #[test]
    fn a_source_owns_its_metrics_and_its_matches_only() {
        let evaluation = |instance: &str| Evaluation {
            metric: Metric::of("log.matches", instance, 1.0, Unit::Count),
            status: Status::Ok,
            operator: None,
            warn: None,
            crit: None,
        };
        assert!(concerns(&evaluation("app"), "app"));
        assert!(concerns(&evaluation("app/timeouts"), "app"));
        assert!(!concerns(&evaluation("app2"), "app"));
        assert!(!concerns(&evaluation("app2/timeouts"), "app"));
    }

    #[test]
    fn printed_log_text_is_escaped_and_cut() {
        assert_eq!(shown("a\x1b[2Jb\0"), "a\\x1b[2Jb\\x00");
        let long = "é".repeat(200);
        let cut = shown(&long);
        assert!(cut.starts_with(&"é".repeat(SHOWN_TEXT / 2)));
        assert!(cut.ends_with(&format!("…[{} more bytes]", 400 - SHOWN_TEXT)));
    }
}
