//! `opsdeck containers`: every Docker container read once, judged by the console's rules
//! (instance = container name), printed worst first as text or JSON. Exit 0 ok, 1 warn,
//! 2 crit, 3 when Docker cannot be read.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::core::checks::rules::format_value;
use crate::core::checks::{Evaluation, Judge};
use crate::core::containers::ContainersSnapshot;
use crate::core::containers::docker::ContainerCollector;
use crate::core::model::{Status, Unit};
use crate::core::text::{duration, printable};

/// CPU % is a rate: the second reading comes this long after the first.
const CPU_WINDOW: Duration = Duration::from_secs(1);

/// One container's verdict.
#[derive(Debug, Serialize)]
pub struct ContainerStatus {
    pub name: String,
    pub status: Status,
    pub findings: Vec<String>,
}

/// What `opsdeck containers` prints.
#[derive(Debug, Serialize)]
pub struct ContainersReport {
    pub status: Status,
    pub snapshot: ContainersSnapshot,
    /// In the snapshot's order (worst first).
    pub containers: Vec<ContainerStatus>,
    pub evaluations: Vec<Evaluation>,
}

/// Two readings, for the CPU rate.
pub async fn collect() -> ContainersSnapshot {
    let mut collector = ContainerCollector::new(CPU_WINDOW);
    let first = collector.snapshot().await;
    if first.unavailable.is_some() {
        return first;
    }
    tokio::time::sleep(CPU_WINDOW).await;
    collector.snapshot().await
}

impl ContainersReport {
    pub fn new(snapshot: ContainersSnapshot, judge: &Judge) -> ContainersReport {
        let evaluations = judge.evaluate(&snapshot);
        let levels = crate::core::checks::levels_by_instance(&evaluations, "container.");
        let level_of = |name: &str| levels.get(name).copied().unwrap_or(Status::Ok);
        let mut containers: Vec<ContainerStatus> = snapshot
            .containers
            .iter()
            .map(|row| ContainerStatus {
                name: row.name.clone(),
                status: level_of(&row.name),
                findings: row.findings(snapshot.taken_at),
            })
            .collect();
        containers.sort_by_key(|container| std::cmp::Reverse(container.status));
        let status = if snapshot.unavailable.is_some() {
            Status::Unknown
        } else {
            containers
                .iter()
                .map(|container| container.status)
                .max()
                .unwrap_or(Status::Ok)
        };
        ContainersReport {
            status,
            snapshot,
            containers,
            evaluations,
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let snapshot = &self.snapshot;
        let _ = writeln!(
            out,
            "Docker {} · {} containers",
            printable(&snapshot.endpoint),
            snapshot.containers.len()
        );
        if let Some(unavailable) = &snapshot.unavailable {
            let _ = writeln!(out, "  UNKNOWN {}", printable(&unavailable.message));
            let _ = writeln!(out, "  fix: {}", unavailable.fix);
        }
        if !snapshot.containers.is_empty() {
            let _ = writeln!(
                out,
                "  {:<7} {:<28} {:<18} {:<13} {:<9} {:>4} {:>8} {:>6} {:>17}  IMAGE",
                "STATUS", "NAME", "COMPOSE", "STATE", "HEALTH", "R/1H", "UPTIME", "CPU", "MEMORY"
            );
        }
        for listed in &self.containers {
            let Some(row) = snapshot.find(&listed.name) else {
                continue;
            };
            let _ = writeln!(
                out,
                "  {:<7} {:<28} {:<18} {:<13} {:<9} {:>4} {:>8} {:>6} {:>17}  {}",
                listed.status.label(),
                printable(&row.name),
                printable(&row.compose_label()),
                row.state_label(),
                row.health.as_deref().unwrap_or("-"),
                row.restarts_1h,
                row.uptime_s(snapshot.taken_at)
                    .map_or_else(|| "-".to_owned(), duration),
                row.cpu_pct
                    .map_or_else(|| "-".to_owned(), |pct| format_value(pct, Unit::Percent)),
                row.memory_label(),
                row.image_label(snapshot.taken_at),
            );
            for finding in &listed.findings {
                let _ = writeln!(out, "          {finding}");
            }
            if row.health.as_deref() == Some("unhealthy")
                && let Some(output) = &row.health_output
            {
                let _ = writeln!(out, "          last check: {}", printable(output));
            }
        }
        out.push_str(&super::check::overall_line(
            self.status,
            self.containers.iter().map(|container| container.status),
        ));
        out
    }
}
