//! `opsdeck backups`: every backup set inventoried once and judged by the same rules as the
//! console, printed as text or JSON, with the Nagios exit convention (0 ok, 1 warn, 2 crit).

use std::fmt::Write as _;

use serde::Serialize;

use crate::core::backups::BackupSet;
use crate::core::backups::inventory::KindCache;
use crate::core::backups::status::SetReport;
use crate::core::backups::watch;
use crate::core::checks::rules::format_bytes;
use crate::core::checks::{Evaluation, Rule, RuleEngine};
use crate::core::model::Status;
use crate::core::store::Store;
use crate::core::text::{duration, printable, printable_path};

#[derive(Debug, Serialize)]
pub struct JudgedSet {
    pub status: Status,
    pub report: SetReport,
    pub evaluations: Vec<Evaluation>,
}

/// Inventories and judges `sets`; store failures are reported in each set, not fatal.
pub async fn judge(sets: &[BackupSet], store: Option<&Store>, rules: &[Rule]) -> Vec<JudgedSet> {
    let engine = RuleEngine::new(rules.to_vec());
    let mut judged = Vec::with_capacity(sets.len());
    for set in sets {
        let Some(report) = watch::report(set, &mut KindCache::default(), store).await else {
            continue;
        };
        let evaluations: Vec<Evaluation> = report
            .metrics()
            .iter()
            .map(|metric| engine.evaluate(metric))
            .collect();
        let status = evaluations
            .iter()
            .map(|evaluation| evaluation.status)
            .max()
            .unwrap_or(Status::Ok);
        judged.push(JudgedSet {
            status,
            report,
            evaluations,
        });
    }
    judged
}

pub fn exit_code(judged: &[JudgedSet]) -> i32 {
    judged
        .iter()
        .map(|set| set.status)
        .max()
        .unwrap_or(Status::Ok)
        .exit_code()
}

pub fn to_text(judged: &[JudgedSet]) -> String {
    let mut out = String::new();
    for set in judged {
        let report = &set.report;
        let newest = match report.newest_age {
            Some(age) => format!(
                "newest good backup {} ago (limit {})",
                duration(age),
                report.freshness
            ),
            None if report.newer_corrupt > 0 => {
                format!("no good backup (limit {})", report.freshness)
            }
            None => format!("no backups (limit {})", report.freshness),
        };
        let newest = match report.newer_corrupt {
            0 => newest,
            count => format!("{newest}, {count} newer failed verification"),
        };
        let _ = writeln!(
            out,
            "{:<5} {}  {newest} · {} file(s) · {} · keep {}{}",
            set.status.label(),
            report.set,
            report.files.len(),
            format_bytes(report.total_bytes as f64),
            report.retention,
            if report.expired_files > 0 {
                format!(
                    " ({} expired, {})",
                    report.expired_files,
                    format_bytes(report.expired_bytes as f64)
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(out, "      {}", printable_path(&report.directory));
        let verified = report.last_verified.map_or_else(
            || "never verified".to_owned(),
            |at| {
                format!(
                    "last verified {} ago",
                    duration((report.scanned_at - at).num_seconds())
                )
            },
        );
        let restore = match (&report.last_restore, report.restore_configured) {
            (_, false) => "no restore test configured".to_owned(),
            (None, true) => "never restore-tested".to_owned(),
            (Some(test), true) => format!(
                "last good restore test {} ago ({})",
                duration((report.scanned_at - test.started_at).num_seconds()),
                printable(&test.message)
            ),
        };
        let _ = writeln!(out, "      {verified} · {restore}");
        for finding in &report.findings {
            let level = set
                .evaluations
                .iter()
                .find(|evaluation| evaluation.metric.name == finding.metric)
                .map_or(Status::Warn, |evaluation| {
                    evaluation.status.max(Status::Warn)
                });
            let _ = writeln!(out, "  {:<5} {}", level.label(), printable(&finding.text));
        }
        if let Some(problem) = &report.store_problem {
            let _ = writeln!(out, "  WARN  store: {}", printable(problem));
        }
        for file in &report.files {
            let verify = match (&file.verification, file.changed_since_verified) {
                (Some(verification), _) => verification.result.as_str(),
                (None, true) => "changed",
                (None, false) => "-",
            };
            let mut note = String::new();
            if let Some(problem) = &file.file.problem {
                note = format!("  ({})", printable(problem));
            } else if !file.kind_ok {
                note = format!("  (expected {})", report.kind.label());
            } else if file.expired {
                note = "  (expired)".into();
            }
            let _ = writeln!(
                out,
                "      {}  {:>9}  {:<14} {:<8} {}{note}",
                file.file
                    .time
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M"),
                format_bytes(file.file.size as f64),
                file.file.kind.label(),
                verify,
                file.file
                    .path
                    .file_name()
                    .map(|name| printable(&name.to_string_lossy()))
                    .unwrap_or_default(),
            );
        }
    }
    out
}
