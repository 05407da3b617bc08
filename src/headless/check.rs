//! `opsdeck check`: one pass of the console's collectors (resources, services and log sources,
//! these over their window, and the host's exposure) and of the incidents and scheduled tasks in
//! the state store, judged by the console's judge, printed as a report with the Nagios exit
//! convention (0 ok, 1 warn, 2 crit, 3 unknown).
//! A single pass has no history, so flap control counts its one result: a failed check is down
//! at once, where the console waits for `down_after` failures in a row.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::checks::{Evaluation, Judge, rules::format_value};
use crate::core::collectors::resources::{ResourceCollector, ResourceSettings};
use crate::core::collectors::{self, CollectError, OffThread};
use crate::core::exposure::{ExposureCollector, ExposureSettings};
use crate::core::incidents::{IncidentsSample, UNACKNOWLEDGED_OVERDUE};
use crate::core::model::Status;
use crate::core::services::ServiceSpec;
use crate::core::services::scheduler::{self, Passes, ServiceResult};
use crate::core::store::{Store, StoreLocation};
use crate::core::tasks::schedule::{OVERDUE_METRIC, ScheduleSample, TaskSchedule};
use crate::core::text::printable;

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub host: String,
    pub taken_at: DateTime<Utc>,
    pub status: Status,
    pub checks: Vec<CheckLine>,
}

#[derive(Debug, Serialize)]
pub struct CheckLine {
    pub id: String,
    pub status: Status,
    /// The metric whose rule decided the status (for a service, the worst of its metrics).
    pub metric: Option<String>,
    pub value: Option<f64>,
    pub display: String,
    pub op: Option<&'static str>,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
    /// Why the status is not ok: `service.redis_evicted_keys 3448 > 1`.
    pub reason: Option<String>,
    pub detail: Option<String>,
}

impl CheckLine {
    fn from_evaluation(evaluation: Evaluation) -> CheckLine {
        CheckLine {
            id: evaluation.metric.key(),
            status: evaluation.status,
            metric: Some(evaluation.metric.name.to_owned()),
            value: Some(evaluation.metric.value),
            display: format_value(evaluation.metric.value, evaluation.metric.unit),
            op: evaluation.operator.map(|op| op.symbol()),
            warn: evaluation.warn,
            crit: evaluation.crit,
            reason: evaluation.reason(),
            detail: None,
        }
    }

    /// A line that could not be judged, with why.
    pub fn unknown(id: String, detail: String) -> CheckLine {
        CheckLine {
            id,
            status: Status::Unknown,
            metric: None,
            value: None,
            display: "-".into(),
            op: None,
            warn: None,
            crit: None,
            reason: None,
            detail: Some(detail),
        }
    }

    /// A line for one whole thing (a log source) at `status`, showing the evaluation that
    /// decided it.
    pub fn decided(
        id: String,
        status: Status,
        decisive: Option<Evaluation>,
        detail: String,
    ) -> CheckLine {
        let line = match decisive {
            Some(evaluation) => CheckLine::from_evaluation(evaluation),
            None => CheckLine::unknown(String::new(), String::new()),
        };
        CheckLine {
            id,
            status,
            detail: Some(detail),
            ..line
        }
    }
}

/// One complete sample of the resources (CPU and network rates need two readings), judged.
pub async fn check_resources(
    settings: ResourceSettings,
    judge: &Judge,
) -> Result<Vec<CheckLine>, CollectError> {
    let mut collector = OffThread::new(
        "resources",
        ResourceCollector::new(settings)?.measuring_now(),
    );
    let sample = collectors::once(&mut collector)
        .await
        .ok_or(CollectError::Stopped("resources"))??;
    let mut checks: Vec<CheckLine> = judge
        .evaluate(&sample)
        .into_iter()
        .map(CheckLine::from_evaluation)
        .collect();
    checks.extend(sample.unreadable_filesystems().map(|fs| CheckLine {
        id: format!("disk.used_pct:{}", fs.path),
        status: Status::Unknown,
        metric: Some("disk.used_pct".to_owned()),
        value: None,
        display: "-".into(),
        op: None,
        warn: None,
        crit: None,
        reason: None,
        detail: fs.error.clone(),
    }));
    Ok(checks)
}

/// One look at the host's exposure (`[exposure]`, `[[secret]]`), judged; a part that could
/// not be read is an unknown line saying why. Nothing configured gives no line.
pub async fn check_exposure(settings: ExposureSettings, judge: &Judge) -> Vec<CheckLine> {
    let Some(collector) = ExposureCollector::new(settings) else {
        return Vec::new();
    };
    let Some(sample) = collectors::once(&mut OffThread::new("exposure", collector)).await else {
        return vec![CheckLine::unknown(
            "exposure".into(),
            CollectError::Stopped("exposure").to_string(),
        )];
    };
    let mut checks: Vec<CheckLine> = judge
        .evaluate(&sample)
        .into_iter()
        .map(CheckLine::from_evaluation)
        .collect();
    checks.extend(
        sample
            .errors()
            .into_iter()
            .map(|error| CheckLine::unknown("exposure".into(), error)),
    );
    checks
}

/// Judges the open incidents in the state store as the console's watch does
/// (`incident.unacknowledged_overdue`), naming the overdue ones. A state file that does not
/// exist yet holds no incident, so it is not created just to say so; a store that cannot be
/// read is an unknown line with the reason.
pub async fn check_incidents(location: &StoreLocation, judge: &Judge) -> Vec<CheckLine> {
    if let StoreLocation::Sqlite(path) = location
        && !path.exists()
    {
        return Vec::new();
    }
    let read = async {
        let store = Store::open(location).await?;
        let incidents = store.incidents().await;
        store.close().await;
        incidents
    };
    let incidents = match read.await {
        Ok(incidents) => incidents,
        Err(error) => {
            return vec![CheckLine {
                id: UNACKNOWLEDGED_OVERDUE.to_owned(),
                status: Status::Unknown,
                metric: Some(UNACKNOWLEDGED_OVERDUE.to_owned()),
                value: None,
                display: "-".into(),
                op: None,
                warn: None,
                crit: None,
                reason: None,
                detail: Some(error.to_string()),
            }];
        }
    };
    let sample = IncidentsSample {
        incidents: &incidents,
        taken_at: crate::core::model::now(),
    };
    let overdue: Vec<String> = sample
        .overdue()
        .map(|incident| {
            format!(
                "{} {} {} (respond by {})",
                incident.id,
                incident.level.as_str(),
                printable(&incident.title),
                incident.respond_by().format("%Y-%m-%d %H:%M UTC")
            )
        })
        .collect();
    judge
        .evaluate(&sample)
        .into_iter()
        .map(|evaluation| CheckLine {
            detail: (!overdue.is_empty()).then(|| overdue.join("; ")),
            ..CheckLine::from_evaluation(evaluation)
        })
        .collect()
}

/// Judges the scheduled tasks as the console's watch does (`task.overdue`,
/// `task.last_success_age`) from this host's runs in the state store, naming since when each
/// overdue task is. Like the console's first look, it records when watching each schedule
/// began; a state file that does not exist yet has watched nothing, so nothing is overdue and it
/// is not created just to say so.
pub async fn check_tasks(
    location: &StoreLocation,
    host: &str,
    schedules: &[(String, TaskSchedule)],
    judge: &Judge,
) -> Vec<CheckLine> {
    if schedules.is_empty() {
        return Vec::new();
    }
    let now = crate::core::model::now();
    let fresh = matches!(location, StoreLocation::Sqlite(path) if !path.exists());
    let read = async {
        if fresh {
            return Ok((HashMap::new(), HashMap::new()));
        }
        let store = Store::open(location).await?;
        let ids: Vec<String> = schedules.iter().map(|(id, _)| id.clone()).collect();
        let watched = store.watch_schedules(host, &ids, now).await;
        let successes = store.last_successes(host).await;
        store.close().await;
        Ok::<_, crate::core::store::StoreError>((watched?, successes?))
    };
    let (watched, successes) = match read.await {
        Ok(read) => read,
        Err(error) => {
            return vec![CheckLine {
                metric: Some(OVERDUE_METRIC.to_owned()),
                ..CheckLine::unknown(OVERDUE_METRIC.to_owned(), error.to_string())
            }];
        }
    };
    let sample = ScheduleSample::new(schedules, &watched, &successes, now, &chrono::Local);
    judge
        .evaluate(&sample)
        .into_iter()
        .map(|evaluation| {
            let missed = evaluation
                .metric
                .instance
                .as_deref()
                .and_then(|task| sample.tasks.iter().find(|(id, _)| id == task))
                .and_then(|(_, status)| status.missed);
            CheckLine {
                detail: missed
                    .filter(|_| evaluation.metric.name == OVERDUE_METRIC)
                    .map(|since| {
                        format!(
                            "due {} and not succeeded since",
                            since.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")
                        )
                    }),
                ..CheckLine::from_evaluation(evaluation)
            }
        })
        .collect()
}

/// Checks every service once through the console's service collectors (bounded concurrency,
/// flap control for a single pass) and judges each result. Each line names the metric that
/// decided it.
pub async fn check_services(specs: &[ServiceSpec], judge: &Judge) -> Vec<CheckLine> {
    crate::core::services::prepare(specs).await;
    let collectors = scheduler::collectors(specs.to_vec(), Passes::Single);
    collectors::once_each(collectors)
        .await
        .into_iter()
        .filter_map(|result| {
            let spec = specs.iter().find(|spec| spec.name == result.name)?;
            Some(service_line(spec, &result, judge.evaluate(&result)))
        })
        .collect()
}

fn service_line(
    spec: &ServiceSpec,
    result: &ServiceResult,
    evaluations: Vec<Evaluation>,
) -> CheckLine {
    let outcome = &result.outcome;
    // The worst evaluation decides (the first of equals, `service.up` leading); a service
    // within every limit is shown by its latency.
    let worst = evaluations
        .iter()
        .reduce(|worst, next| {
            if next.status > worst.status {
                next
            } else {
                worst
            }
        })
        .filter(|worst| worst.status != Status::Ok)
        .or_else(|| {
            evaluations
                .iter()
                .find(|evaluation| evaluation.metric.name == "service.latency_ms")
        });
    let mut line = match worst {
        Some(evaluation) => CheckLine::from_evaluation(evaluation.clone()),
        None => CheckLine {
            id: String::new(),
            status: Status::Ok,
            metric: None,
            value: None,
            display: "-".to_owned(),
            op: None,
            warn: None,
            crit: None,
            reason: None,
            detail: None,
        },
    };
    if line.metric.as_deref() == Some("service.latency_ms") {
        line.display = outcome.latency.map_or_else(
            || "-".to_owned(),
            |latency| format!("{} ms", latency.as_millis()),
        );
    }
    line.id = format!("service:{}", spec.name);
    line.detail = Some(crate::core::text::printable(&format!(
        "{}: {}",
        spec.check.kind(),
        outcome.detail
    )));
    line
}

impl CheckReport {
    pub fn new(host: String, checks: Vec<CheckLine>) -> CheckReport {
        let status = checks
            .iter()
            .map(|line| line.status)
            .max()
            .unwrap_or(Status::Ok);
        CheckReport {
            host,
            taken_at: crate::core::model::now(),
            status,
            checks,
        }
    }
}

impl CheckReport {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "opsdeck check on {} at {}",
            self.host,
            self.taken_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let id_width = self
            .checks
            .iter()
            .map(|c| c.id.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "{:<8} {:<id_width$} {:>12}  LIMITS",
            "STATUS", "CHECK", "VALUE"
        );
        for line in &self.checks {
            let limits = match (line.op, line.warn, line.crit) {
                (Some(op), warn, crit) => {
                    let limit = |label: &str, value: Option<f64>| {
                        value
                            .map(|v| format!("{label} {op} {v}"))
                            .unwrap_or_default()
                    };
                    [limit("warn", warn), limit("crit", crit)]
                        .into_iter()
                        .filter(|part| !part.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
                _ => String::new(),
            };
            let limits = match (&line.reason, limits.is_empty()) {
                (Some(reason), true) => reason.clone(),
                (Some(reason), false) => format!("{reason} ({limits})"),
                (None, _) => limits,
            };
            let detail = line
                .detail
                .as_deref()
                .map(|detail| format!("  ({detail})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<8} {:<id_width$} {:>12}  {limits}{detail}",
                line.status.label(),
                line.id,
                line.display
            );
        }
        out.push_str(&overall_line(
            self.status,
            self.checks.iter().map(|check| check.status),
        ));
        out
    }
}

/// The closing line of a text report: the overall status and how many checks had each.
pub fn overall_line(overall: Status, statuses: impl Iterator<Item = Status>) -> String {
    let mut counts = [0usize; 4];
    for status in statuses {
        let slot = match status {
            Status::Crit => 0,
            Status::Warn => 1,
            Status::Unknown => 2,
            Status::Ok => 3,
        };
        counts[slot] += 1;
    }
    let [crit, warn, unknown, ok] = counts;
    format!(
        "overall: {} ({crit} crit, {warn} warn, {unknown} unknown, {ok} ok)\n",
        overall.label()
    )
}
