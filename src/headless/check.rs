//! `opsdeck check`: one pass of the collectors and rules, printed as a report, with the
//! Nagios exit convention (0 ok, 1 warn, 2 crit, 3 unknown).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::checks::{Evaluation, Rule, RuleEngine, rules::format_value};
use crate::core::collectors::resources::{ResourceCollector, ResourceSettings};
use crate::core::collectors::{CollectError, Collector};
use crate::core::model::{Metric, Status};
use crate::core::services::ServiceSpec;
use crate::core::services::scheduler::CONCURRENT_CHECKS;

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
    pub value: Option<f64>,
    pub display: String,
    pub op: Option<&'static str>,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
    pub detail: Option<String>,
}

impl CheckLine {
    fn from_evaluation(evaluation: Evaluation) -> CheckLine {
        CheckLine {
            id: evaluation.metric.key(),
            status: evaluation.status,
            value: Some(evaluation.metric.value),
            display: format_value(evaluation.metric.value, evaluation.metric.unit),
            op: evaluation.operator.map(|op| op.symbol()),
            warn: evaluation.warn,
            crit: evaluation.crit,
            detail: None,
        }
    }
}

/// Samples the resources twice (CPU and network rates need two readings) and judges them.
pub fn check_resources(
    settings: ResourceSettings,
    rules: &[Rule],
) -> Result<Vec<CheckLine>, CollectError> {
    let mut collector = ResourceCollector::new(settings)?;
    collector.collect()?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sample = collector.collect()?;
    let engine = RuleEngine::new(rules.to_vec());
    let mut checks: Vec<CheckLine> = sample
        .metrics()
        .into_iter()
        .map(|metric| CheckLine::from_evaluation(engine.evaluate(&metric)))
        .collect();
    checks.extend(sample.unreadable_filesystems().map(|fs| CheckLine {
        id: format!("disk.used_pct:{}", fs.path),
        status: Status::Unknown,
        value: None,
        display: "-".into(),
        op: None,
        warn: None,
        crit: None,
        detail: fs.error.clone(),
    }));
    Ok(checks)
}

/// Checks every service once, all at the same time (bounded), and judges them: a failed check
/// is critical (there is no flap control in a single pass), otherwise the rules decide.
pub async fn check_services(specs: &[ServiceSpec], rules: &[Rule]) -> Vec<CheckLine> {
    let engine = RuleEngine::new(rules.to_vec());
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CHECKS));
    let mut running = tokio::task::JoinSet::new();
    for (index, spec) in specs.iter().cloned().enumerate() {
        let limit = limit.clone();
        running.spawn(async move {
            let _permit = limit.acquire().await;
            (index, spec.check.run(spec.timeout).await, spec)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = running.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(index, _, _)| *index);
    results
        .into_iter()
        .map(|(_, outcome, spec)| {
            let metrics: Vec<Metric> = outcome
                .metrics
                .iter()
                .map(|(name, value, unit)| Metric::of(name, &spec.name, *value, *unit))
                .collect();
            let status = if outcome.ok {
                metrics
                    .iter()
                    .map(|metric| engine.evaluate(metric).status)
                    .max()
                    .unwrap_or(Status::Ok)
            } else {
                Status::Crit
            };
            CheckLine {
                id: format!("service:{}", spec.name),
                status,
                value: outcome
                    .latency
                    .map(|latency| latency.as_secs_f64() * 1000.0),
                display: outcome.latency.map_or_else(
                    || "-".to_owned(),
                    |latency| format!("{} ms", latency.as_millis()),
                ),
                op: None,
                warn: None,
                crit: None,
                detail: Some(crate::core::text::printable(&format!(
                    "{}: {}",
                    spec.check.kind(),
                    outcome.detail
                ))),
            }
        })
        .collect()
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
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        let _ = writeln!(
            out,
            "overall: {} ({} crit, {} warn, {} unknown, {} ok)",
            self.status.label(),
            count(Status::Crit),
            count(Status::Warn),
            count(Status::Unknown),
            count(Status::Ok)
        );
        out
    }
}
