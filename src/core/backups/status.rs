//! How a backup set stands: the newest backup's age against its freshness limit or schedule,
//! the newest size against the median of the previous seven, what retention would free, files
//! that are not encrypted when they must be, corrupt or unexpected files, and the age of the
//! last good restore test. The result feeds the rules as `backup.*` metrics, like every other
//! measurement, so alerts and `opsdeck backups` judge sets the same way.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Local, TimeZone, Utc};
use serde::Serialize;

use super::inventory::Inventory;
use super::{BackupFile, BackupSet, ExpectedKind, Freshness, RestoreTest, Verification};
use crate::core::checks::rules::format_bytes;
use crate::core::model::{Metric, Unit};

/// Every metric a set reports; rules may name any of them.
pub const BACKUP_METRICS: &[&str] = &[
    "backup.age",
    "backup.stale",
    "backup.files",
    "backup.total_bytes",
    "backup.size_ratio_pct",
    "backup.too_small",
    "backup.expired_files",
    "backup.expired_bytes",
    "backup.unencrypted",
    "backup.corrupt",
    "backup.kind_mismatch",
    "backup.restore_test_age",
    "backup.restore_test_overdue",
];

/// How many earlier backups the newest one's size is compared with.
const SIZE_HISTORY: usize = 7;

/// One file with what is known about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub file: BackupFile,
    /// The newest verification of this very version of the file (same size and mtime).
    pub verification: Option<Verification>,
    /// A verification exists but the file changed since.
    pub changed_since_verified: bool,
    /// A prune would delete it.
    pub expired: bool,
    /// Its kind is what the set expects.
    pub kind_ok: bool,
}

impl FileReport {
    /// Verified, and found damaged, in this very version.
    pub fn known_bad(&self) -> bool {
        self.verification
            .as_ref()
            .is_some_and(|verification| verification.result == super::VerifyResult::Corrupt)
    }
}

/// Something about a set worth a line on screen, tied to the metric whose rule judges it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub metric: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetReport {
    pub set: String,
    pub directory: PathBuf,
    pub kind: ExpectedKind,
    pub scanned_at: DateTime<Utc>,
    /// Milliseconds the inventory took.
    pub scan_ms: u64,
    /// The directory could not be listed.
    pub problem: Option<String>,
    /// Newest first.
    pub files: Vec<FileReport>,
    /// Backups being written right now (`*.partial`).
    pub in_progress: Vec<PathBuf>,
    pub total_bytes: u64,
    /// Seconds since the newest good backup's time: the newest one not known to be bad
    /// (verified ok, or not verified yet). Freshness is judged on it.
    pub newest_age: Option<i64>,
    /// Backups newer than that one which failed verification.
    pub newer_corrupt: usize,
    /// The freshness rule in words, e.g. "24h" or "0 3 * * * + 1h".
    pub freshness: String,
    pub stale: bool,
    /// The newest backup's size in percent of the median of the previous seven.
    pub size_ratio_pct: Option<f64>,
    pub previous_median: Option<u64>,
    pub too_small: bool,
    pub retention: String,
    pub expired_files: usize,
    pub expired_bytes: u64,
    pub unencrypted: Option<usize>,
    pub corrupt: usize,
    pub kind_mismatch: usize,
    /// The newest verification of any current file.
    pub last_verified: Option<DateTime<Utc>>,
    pub restore_configured: bool,
    pub last_restore: Option<RestoreTest>,
    pub restore_overdue: bool,
    pub findings: Vec<Finding>,
    /// Verifications and restore tests could not be read from the store.
    pub store_problem: Option<String>,
}

/// What the store knows about a set, read before evaluating it.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub verifications: Vec<Verification>,
    pub last_good_restore: Option<RestoreTest>,
}

/// Judges a set's inventory at `now` (local time for schedules and calendar retention).
pub fn evaluate(
    set: &BackupSet,
    inventory: Inventory,
    known: &Known,
    now: DateTime<Utc>,
) -> SetReport {
    evaluate_in(set, inventory, known, now, &Local)
}

pub fn evaluate_in<Tz: TimeZone>(
    set: &BackupSet,
    inventory: Inventory,
    known: &Known,
    now: DateTime<Utc>,
    zone: &Tz,
) -> SetReport {
    // A set; looked up once per file, and a set may hold 100,000 of them.
    let expired: HashSet<&PathBuf> =
        super::retention::expired(&inventory.files, &set.retention, now, zone)
            .into_iter()
            .map(|file| &file.path)
            .collect();
    let by_path: HashMap<&PathBuf, &Verification> = known
        .verifications
        .iter()
        .map(|verification| (&verification.path, verification))
        .collect();
    let mut findings = Vec::new();
    let files: Vec<FileReport> = inventory
        .files
        .iter()
        .map(|file| {
            let stored = by_path.get(&file.path).copied();
            let current = stored.filter(|verification| verification.matches(file));
            FileReport {
                file: file.clone(),
                verification: current.cloned(),
                changed_since_verified: stored.is_some() && current.is_none(),
                expired: expired.contains(&file.path),
                kind_ok: file.problem.is_some() || set.kind.accepts(file.kind),
            }
        })
        .collect();
    if let Some(problem) = &inventory.problem {
        findings.push(Finding {
            metric: "backup.stale",
            text: problem.clone(),
        });
    }
    let newest = inventory.files.first();
    // A dump that failed verification restores nothing: it must not keep the set fresh.
    let newer_corrupt = files.iter().take_while(|report| report.known_bad()).count();
    let newest_good = files.get(newer_corrupt).map(|report| &report.file);
    let newest_age = newest_good.map(|file| (now - file.time).num_seconds());
    let (stale, freshness) = freshness_of(set, newest_good, now, zone);
    if inventory.problem.is_none() {
        match (newest_good, stale) {
            (None, _) if newer_corrupt > 0 => findings.push(Finding {
                metric: "backup.stale",
                text: format!("no good backup: all {newer_corrupt} failed verification"),
            }),
            (None, _) => findings.push(Finding {
                metric: "backup.stale",
                text: format!(
                    "no backups in {}{}",
                    crate::core::text::printable_path(&set.directory),
                    if set.patterns.is_empty() {
                        String::new()
                    } else {
                        format!(" matching {}", set.patterns.join(" "))
                    }
                ),
            }),
            (Some(file), true) => findings.push(Finding {
                metric: "backup.stale",
                text: format!(
                    "newest good backup is {} old (limit {freshness}){}",
                    crate::core::text::duration((now - file.time).num_seconds()),
                    match newer_corrupt {
                        0 => String::new(),
                        count => format!("; {count} newer failed verification"),
                    }
                ),
            }),
            (Some(_), false) => {}
        }
    }
    let previous: Vec<u64> = inventory
        .files
        .iter()
        .skip(1)
        .take(SIZE_HISTORY)
        .map(|file| file.size)
        .collect();
    let previous_median = median(&previous);
    let size_ratio_pct = match (newest, previous_median) {
        (Some(file), Some(median)) if median > 0 => Some(file.size as f64 * 100.0 / median as f64),
        _ => None,
    };
    if let (Some(file), Some(ratio), Some(median)) = (newest, size_ratio_pct, previous_median)
        && ratio < 50.0
    {
        findings.push(Finding {
            metric: "backup.size_ratio_pct",
            text: format!(
                "newest is {} ({ratio:.0} % of the median {} of the previous {})",
                format_bytes(file.size as f64),
                format_bytes(median as f64),
                previous.len()
            ),
        });
    }
    let too_small = newest.is_some_and(|file| file.size < set.min_size);
    if let Some(file) = newest.filter(|_| too_small) {
        findings.push(Finding {
            metric: "backup.too_small",
            text: format!(
                "newest is {}, below the minimum {}",
                format_bytes(file.size as f64),
                format_bytes(set.min_size as f64)
            ),
        });
    }
    let expired_bytes: u64 = files
        .iter()
        .filter(|report| report.expired)
        .map(|report| {
            report.file.size
                + report
                    .file
                    .sidecar
                    .as_ref()
                    .map_or(0, |sidecar| sidecar.bytes)
        })
        .sum();
    let unencrypted = set.encryption_required.then(|| {
        inventory
            .files
            .iter()
            .filter(|file| file.problem.is_none() && !file.kind.is_encrypted())
            .count()
    });
    if let Some(count) = unencrypted.filter(|count| *count > 0) {
        findings.push(Finding {
            metric: "backup.unencrypted",
            text: format!("{count} file(s) not encrypted; this set requires encryption"),
        });
    }
    let corrupt = files.iter().filter(|report| report.known_bad()).count();
    if corrupt > 0 {
        findings.push(Finding {
            metric: "backup.corrupt",
            text: format!("{corrupt} file(s) failed verification"),
        });
    }
    let kind_mismatch = files.iter().filter(|report| !report.kind_ok).count();
    if kind_mismatch > 0 {
        findings.push(Finding {
            metric: "backup.kind_mismatch",
            text: format!(
                "{kind_mismatch} file(s) are not {} by their content",
                set.kind.label()
            ),
        });
    }
    let restore_age = known
        .last_good_restore
        .as_ref()
        .map(|test| (now - test.started_at).num_seconds());
    let restore_overdue = set.restore.as_ref().is_some_and(|restore| {
        restore_age.is_none_or(|age| age > restore.max_age.as_secs() as i64)
    });
    if restore_overdue {
        findings.push(Finding {
            metric: "backup.restore_test_overdue",
            text: match restore_age {
                Some(age) => format!(
                    "last good restore test {} ago",
                    crate::core::text::duration(age)
                ),
                None => "never restore-tested".into(),
            },
        });
    }
    let last_verified = files
        .iter()
        .filter_map(|report| report.verification.as_ref().map(|v| v.verified_at))
        .max();
    SetReport {
        set: set.name.clone(),
        directory: set.directory.clone(),
        kind: set.kind,
        scanned_at: inventory.scanned_at,
        scan_ms: u64::try_from(inventory.took.as_millis()).unwrap_or(u64::MAX),
        problem: inventory.problem.clone(),
        total_bytes: inventory.files.iter().map(|file| file.size).sum(),
        in_progress: inventory.in_progress.clone(),
        files,
        newest_age,
        newer_corrupt,
        freshness,
        stale,
        size_ratio_pct,
        previous_median,
        too_small,
        retention: retention_text(&set.retention),
        expired_files: expired.len(),
        expired_bytes,
        unencrypted,
        corrupt,
        kind_mismatch,
        last_verified,
        restore_configured: set.restore.is_some(),
        last_restore: known.last_good_restore.clone(),
        restore_overdue,
        findings,
        store_problem: None,
    }
}

impl SetReport {
    /// The set's measurements for the rules, with the set name as instance.
    pub fn metrics(&self) -> Vec<Metric> {
        let name = self.set.as_str();
        let flag = |value: bool| f64::from(u8::from(value));
        let mut metrics = vec![
            Metric::of("backup.stale", name, flag(self.stale), Unit::Count),
            Metric::of("backup.files", name, self.files.len() as f64, Unit::Count),
            Metric::of(
                "backup.total_bytes",
                name,
                self.total_bytes as f64,
                Unit::Bytes,
            ),
            Metric::of("backup.too_small", name, flag(self.too_small), Unit::Count),
            Metric::of(
                "backup.expired_files",
                name,
                self.expired_files as f64,
                Unit::Count,
            ),
            Metric::of(
                "backup.expired_bytes",
                name,
                self.expired_bytes as f64,
                Unit::Bytes,
            ),
            Metric::of("backup.corrupt", name, self.corrupt as f64, Unit::Count),
            Metric::of(
                "backup.kind_mismatch",
                name,
                self.kind_mismatch as f64,
                Unit::Count,
            ),
        ];
        if let Some(age) = self.newest_age {
            metrics.push(Metric::of("backup.age", name, age as f64, Unit::Seconds));
        }
        if let Some(ratio) = self.size_ratio_pct {
            metrics.push(Metric::of(
                "backup.size_ratio_pct",
                name,
                ratio,
                Unit::Percent,
            ));
        }
        if let Some(unencrypted) = self.unencrypted {
            metrics.push(Metric::of(
                "backup.unencrypted",
                name,
                unencrypted as f64,
                Unit::Count,
            ));
        }
        if self.restore_configured {
            metrics.push(Metric::of(
                "backup.restore_test_overdue",
                name,
                flag(self.restore_overdue),
                Unit::Count,
            ));
            if let Some(test) = &self.last_restore {
                let age = (self.scanned_at - test.started_at).num_seconds().max(0);
                metrics.push(Metric::of(
                    "backup.restore_test_age",
                    name,
                    age as f64,
                    Unit::Seconds,
                ));
            }
        }
        metrics
    }
}

/// Whether the newest backup is too old, and the limit in words.
fn freshness_of<Tz: TimeZone>(
    set: &BackupSet,
    newest: Option<&BackupFile>,
    now: DateTime<Utc>,
    zone: &Tz,
) -> (bool, String) {
    match &set.freshness {
        Freshness::MaxAge(limit) => {
            let stale = newest.is_none_or(|file| {
                (now - file.time).num_seconds() > i64::try_from(limit.as_secs()).unwrap_or(i64::MAX)
            });
            (stale, limit_text(*limit))
        }
        Freshness::Schedule { expression, grace } => {
            let text = format!("{expression} + {}", limit_text(*grace));
            let expected_since = croner::Cron::from_str(expression).ok().and_then(|cron| {
                let grace = chrono::TimeDelta::from_std(*grace).ok()?;
                let horizon = (now - grace).with_timezone(zone);
                cron.find_previous_occurrence(&horizon, true)
                    .ok()
                    .map(|at| at.with_timezone(&Utc))
            });
            // Names carry the start time, often to the second of the schedule; a minute of slack
            // keeps a 03:00:00 backup of a 03:00 schedule fresh.
            let slack = chrono::TimeDelta::minutes(1);
            let stale = match (newest, expected_since) {
                (None, _) => true,
                (Some(file), Some(since)) => file.time < since - slack,
                (Some(_), None) => false,
            };
            (stale, text)
        }
    }
}

/// "24h", "2d", "90m": how people write backup limits.
fn limit_text(limit: std::time::Duration) -> String {
    let seconds = limit.as_secs();
    match seconds {
        s if s >= 2 * 86_400 && s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        s if s >= 3600 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s >= 60 && s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => humantime::format_duration(limit).to_string(),
    }
}

fn retention_text(retention: &super::Retention) -> String {
    match retention {
        super::Retention::Days(days) => format!("{days}d"),
        super::Retention::Calendar {
            daily,
            weekly,
            monthly,
        } => format!("{daily}d/{weekly}w/{monthly}m"),
    }
}

fn median(values: &[u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let middle = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2
    } else {
        sorted[middle]
    })
}
