//! `opsdeck check`: one pass of the collectors and rules, printed as a report, with the
//! Nagios exit convention (0 ok, 1 warn, 2 crit, 3 unknown).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::checks::{Evaluation, Rule, RuleEngine, rules::format_value};
use crate::core::collectors::resources::{ResourceCollector, ResourceSettings};
use crate::core::collectors::{CollectError, Collector};
use crate::core::model::{Metric, Status, Unit};
use crate::core::services::scheduler::CONCURRENT_CHECKS;
use crate::core::services::{CheckOutcome, ServiceSpec};

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

/// Checks every service once, all at the same time (bounded), and judges its metrics and
/// `service.up` (1 when the check succeeded) by the rules, as the console does (without flap
/// control: a single pass has one result). Each line names the metric that decided it.
pub async fn check_services(specs: &[ServiceSpec], rules: &[Rule]) -> Vec<CheckLine> {
    let engine = RuleEngine::new(rules.to_vec());
    crate::core::services::prepare(specs).await;
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
        .map(|(_, outcome, spec)| service_line(&engine, &spec, &outcome))
        .collect()
}

fn service_line(engine: &RuleEngine, spec: &ServiceSpec, outcome: &CheckOutcome) -> CheckLine {
    let mut metrics: Vec<Metric> = vec![Metric::of(
        "service.up",
        &spec.name,
        f64::from(u8::from(outcome.ok)),
        Unit::Count,
    )];
    metrics.extend(
        outcome
            .metrics
            .iter()
            .map(|(name, value, unit)| Metric::of(name, &spec.name, *value, *unit)),
    );
    let evaluations: Vec<Evaluation> = metrics
        .iter()
        .map(|metric| engine.evaluate(metric))
        .collect();
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
