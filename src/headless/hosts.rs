//! `opsdeck hosts`: every `[[prometheus]]` source refreshed once, the hosts judged by the
//! console's rules (instance = host), printed worst first as text or JSON. Exit 0 ok, 1 warn,
//! 2 crit, 3 unknown: a source that cannot be read leaves its hosts unknown, so 3. BACKUP,
//! OVERDUE and ALERTS come from opsdeck's own exporter on the host, `-` without one.

use std::fmt::Write as _;

use serde::Serialize;

use super::Refused;
use crate::core::checks::rules::{format_bytes, format_value};
use crate::core::checks::{Evaluation, Judge};
use crate::core::fleet::{FleetCollector, FleetSnapshot, FleetSpec, host_levels, worst_first};
use crate::core::model::{Status, Unit};
use crate::core::text::{duration, printable};

/// One host's verdict.
#[derive(Debug, Serialize)]
pub struct HostStatus {
    pub source: String,
    pub instance: String,
    pub status: Status,
}

/// What `opsdeck hosts` prints.
#[derive(Debug, Serialize)]
pub struct HostsReport {
    pub status: Status,
    pub sources: Vec<FleetSnapshot>,
    /// Worst first.
    pub hosts: Vec<HostStatus>,
    pub evaluations: Vec<Evaluation>,
}

/// Refuses when no source is configured.
pub fn require(specs: &[FleetSpec]) -> Result<(), Refused> {
    if specs.is_empty() {
        return Err(Refused(
            "no Prometheus configured\n  fix: add a [[prometheus]] section with url = \"http://prometheus:9090\" (and job = \"node\" if the node_exporter job has another name)".into(),
        ));
    }
    Ok(())
}

/// Every source once, at the same time.
pub async fn collect(specs: &[FleetSpec]) -> Vec<FleetSnapshot> {
    let collectors = specs.iter().cloned().map(FleetCollector::new).collect();
    crate::core::collectors::once_each(collectors)
        .await
        .into_iter()
        .map(|snapshot| *snapshot)
        .collect()
}

impl HostsReport {
    pub fn new(sources: Vec<FleetSnapshot>, judge: &Judge) -> HostsReport {
        let mut evaluations = Vec::new();
        let mut hosts = Vec::new();
        let mut status = Status::Ok;
        for source in &sources {
            let judged = judge.evaluate(source);
            let levels = host_levels(&judged);
            for index in worst_first(&source.hosts, &levels) {
                let host = &source.hosts[index];
                let level = levels.get(&host.instance).copied().unwrap_or(Status::Ok);
                status = status.max(level);
                hosts.push(HostStatus {
                    source: source.source.clone(),
                    instance: host.instance.clone(),
                    status: level,
                });
            }
            // PromQL rules count like any other.
            for evaluation in judged
                .iter()
                .filter(|evaluation| evaluation.metric.name.starts_with("promql."))
            {
                status = status.max(evaluation.status);
            }
            evaluations.extend(judged);
        }
        if sources
            .iter()
            .any(|source| source.error.is_some() || source.rules.iter().any(|r| r.error.is_some()))
        {
            // What could not be read is unknown, and a crit elsewhere must not hide that from a
            // script: unknown wins (3), as `opsdeck logs` does for a source it cannot read.
            status = Status::Unknown;
        }
        HostsReport {
            status,
            sources,
            hosts,
            evaluations,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for source in &self.sources {
            self.source_text(&mut out, source);
        }
        out.push_str(&super::check::overall_line(
            self.status,
            self.hosts.iter().map(|host| host.status),
        ));
        out
    }

    fn source_text(&self, out: &mut String, source: &FleetSnapshot) {
        let down = source.hosts.iter().filter(|host| !host.up).count();
        let _ = writeln!(
            out,
            "{} {} · {} hosts, {down} down · {:.0} ms, {}",
            printable(&source.source),
            source.url,
            source.hosts.len(),
            source.collect_ms,
            format_bytes(source.response_bytes as f64)
        );
        if let Some(error) = &source.error {
            let _ = writeln!(
                out,
                "  UNKNOWN cannot read Prometheus: {}",
                printable(error)
            );
        }
        for warning in &source.warnings {
            let _ = writeln!(out, "  partial data: {}", printable(warning));
        }
        if !source.hosts.is_empty() {
            let _ = writeln!(
                out,
                "  {:<7} {:<28} {:<5} {:>6} {:>6} {:>6} {:>6} {:>10} {:>10} {:>6} {:>7} {:>7} {:>6}",
                "STATUS",
                "HOST",
                "UP",
                "CPU",
                "MEM",
                "DISK",
                "LOAD",
                "NET IN",
                "NET OUT",
                "AGE",
                "BACKUP",
                "OVERDUE",
                "ALERTS"
            );
        }
        let percent = |value: Option<f64>| {
            value.map_or_else(
                || "-".to_owned(),
                |value| format_value(value, Unit::Percent),
            )
        };
        let plain = |value: Option<f64>, unit| {
            value.map_or_else(|| "-".to_owned(), |value| format_value(value, unit))
        };
        for listed in self
            .hosts
            .iter()
            .filter(|host| host.source == source.source)
        {
            let Some(host) = source
                .hosts
                .iter()
                .find(|host| host.instance == listed.instance)
            else {
                continue;
            };
            let _ = writeln!(
                out,
                "  {:<7} {:<28} {:<5} {:>6} {:>6} {:>6} {:>6} {:>10} {:>10} {:>6} {:>7} {:>7} {:>6}",
                listed.status.label(),
                printable(&host.instance),
                if host.up { "up" } else { "down" },
                percent(host.cpu_used_pct),
                percent(host.mem_used_pct),
                percent(host.disk_used_pct),
                plain(host.load1, Unit::Load),
                plain(host.net_rx_bytes_per_s, Unit::BytesPerSecond),
                plain(host.net_tx_bytes_per_s, Unit::BytesPerSecond),
                host.scrape_age_seconds
                    .map_or_else(|| "-".to_owned(), |age| format!("{age:.0}s")),
                host.backup_age_seconds
                    .map_or_else(|| "-".to_owned(), |age| duration(age as i64)),
                plain(host.checklists_overdue, Unit::Count),
                plain(host.alerts_open, Unit::Count),
            );
        }
        for rule in &source.rules {
            match &rule.error {
                Some(error) => {
                    let _ = writeln!(
                        out,
                        "  UNKNOWN {} ({}): {}",
                        rule.metric,
                        printable(&rule.expr),
                        printable(error)
                    );
                }
                None => {
                    for evaluation in self.evaluations.iter().filter(|evaluation| {
                        evaluation.metric.name == rule.metric && evaluation.status >= Status::Warn
                    }) {
                        let _ = writeln!(
                            out,
                            "  {:<7} {} {}",
                            evaluation.status.label(),
                            printable(evaluation.metric.instance.as_deref().unwrap_or("")),
                            evaluation.reason().unwrap_or_default()
                        );
                    }
                }
            }
        }
    }
}
