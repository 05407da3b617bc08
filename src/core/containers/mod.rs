//! The containers pane's model: every Docker container as one [`ContainerRow`] (state, health,
//! restarts, exit, CPU and memory, image), the [`ContainersSnapshot`] the collector produces,
//! the metrics the built-in rules judge (`container.*`, instance = container name) and the
//! findings shown beside each container. Reading Docker itself is [`docker`]'s part.

pub mod docker;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::checks::rules::format_bytes;
use crate::core::collectors::Sample;
use crate::core::model::{Metric, Unit};
use crate::core::text::{duration, printable};

pub const CONTAINER_UP: &str = "container.up";
pub const CONTAINER_RESTARTS: &str = "container.restarts_1h";
pub const CONTAINER_OOM: &str = "container.oom_killed";
pub const CONTAINER_UNHEALTHY: &str = "container.unhealthy_s";
pub const CONTAINER_MEMORY: &str = "container.memory_pct";

/// The metrics rules can name for containers.
pub const CONTAINER_METRICS: &[&str] = &[
    CONTAINER_UP,
    CONTAINER_RESTARTS,
    CONTAINER_OOM,
    CONTAINER_UNHEALTHY,
    CONTAINER_MEMORY,
];

/// Restarts within the last hour from which a container is in a crash loop (the built-in
/// rule's critical level).
pub const CRASH_LOOP_RESTARTS: f64 = 5.0;
/// How long a container may stay unhealthy before it is worth a warning and an alert.
pub const UNHEALTHY_WARN_S: f64 = 30.0;
pub const UNHEALTHY_CRIT_S: f64 = 300.0;

/// One container as the last refresh saw it. Names, labels and health output are anyone's
/// text: whoever prints them escapes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerRow {
    pub id: String,
    pub name: String,
    /// `com.docker.compose.project` and `com.docker.compose.service`.
    pub project: Option<String>,
    pub service: Option<String>,
    /// created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    /// healthy, unhealthy or starting; `None` without a HEALTHCHECK.
    pub health: Option<String>,
    /// The output of the newest health check.
    pub health_output: Option<String>,
    pub unhealthy_since: Option<DateTime<Utc>>,
    /// Docker's own count (restart policy restarts since the container was created).
    pub restart_count: i64,
    /// Restarts seen on the event stream in the last hour.
    pub restarts_1h: u32,
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    pub restart_policy: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub cpu_pct: Option<f64>,
    pub memory_bytes: Option<u64>,
    /// The cgroup limit (the host's memory when the container has none).
    pub memory_limit: Option<u64>,
    pub image: String,
    pub image_created: Option<DateTime<Utc>>,
}

impl ContainerRow {
    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// A one-off container that finished its work (exit 0, no restart policy) is not down.
    fn finished_job(&self) -> bool {
        matches!(self.state.as_str(), "exited" | "created")
            && self.exit_code.unwrap_or(0) == 0
            && !self.oom_killed
            && matches!(self.restart_policy.as_str(), "" | "no")
    }

    pub fn uptime_s(&self, now: DateTime<Utc>) -> Option<i64> {
        self.running()
            .then(|| self.started_at.map(|at| (now - at).num_seconds().max(0)))
            .flatten()
    }

    pub fn unhealthy_s(&self, now: DateTime<Utc>) -> Option<f64> {
        self.health.as_ref()?;
        Some(match (self.health.as_deref(), self.unhealthy_since) {
            (Some("unhealthy"), Some(since)) => (now - since).num_seconds().max(0) as f64,
            _ => 0.0,
        })
    }

    pub fn memory_pct(&self) -> Option<f64> {
        match (self.memory_bytes, self.memory_limit) {
            (Some(used), Some(limit)) if limit > 0 && self.running() => {
                Some(used as f64 * 100.0 / limit as f64)
            }
            _ => None,
        }
    }

    /// `project/service`, or `-`.
    pub fn compose_label(&self) -> String {
        match (&self.project, &self.service) {
            (Some(project), Some(service)) => format!("{project}/{service}"),
            (Some(project), None) => project.clone(),
            _ => "-".to_owned(),
        }
    }

    /// The state, with the exit code of a stopped container: `exited(1)`.
    pub fn state_label(&self) -> String {
        match self.exit_code {
            Some(code) if !self.running() => format!("{}({code})", self.state),
            _ => self.state.clone(),
        }
    }

    /// `48 MiB / 512 MiB`, or `-`.
    pub fn memory_label(&self) -> String {
        match (self.memory_bytes, self.memory_limit) {
            (Some(used), Some(limit)) => {
                format!(
                    "{} / {}",
                    format_bytes(used as f64),
                    format_bytes(limit as f64)
                )
            }
            (Some(used), None) => format_bytes(used as f64),
            _ => "-".to_owned(),
        }
    }

    /// The image (escaped) and how old it is: `nginx:1.27 (3mo)`.
    pub fn image_label(&self, now: DateTime<Utc>) -> String {
        let name = printable(&self.image);
        match self.image_created {
            Some(created) => format!(
                "{name} ({})",
                duration((now - created).num_seconds().max(0))
            ),
            None => name,
        }
    }

    /// What is wrong with the container, in words, worst first.
    pub fn findings(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut findings = Vec::new();
        if f64::from(self.restarts_1h) >= CRASH_LOOP_RESTARTS {
            findings.push(format!(
                "crash loop: {} restarts in the last hour",
                self.restarts_1h
            ));
        }
        if self.oom_killed {
            findings.push("OOM-killed: it used all of its memory limit".to_owned());
        }
        if let Some(seconds) = self.unhealthy_s(now).filter(|seconds| *seconds > 0.0) {
            findings.push(format!("unhealthy for {}", duration(seconds as i64)));
        }
        if !self.running()
            && let Some(code) = self.exit_code.filter(|code| *code != 0)
        {
            findings.push(format!("exited with code {code}"));
        }
        findings
    }
}

/// Why Docker cannot be read, and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unavailable {
    pub message: String,
    pub fix: String,
}

/// One refresh of every container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainersSnapshot {
    pub taken_at: DateTime<Utc>,
    /// The Docker endpoint read (`unix:///var/run/docker.sock`, or `DOCKER_HOST`).
    pub endpoint: String,
    /// `Some` when Docker is absent or its socket cannot be read; no containers then.
    pub unavailable: Option<Unavailable>,
    /// Worst first, then by name.
    pub containers: Vec<ContainerRow>,
}

impl ContainersSnapshot {
    pub fn find(&self, name: &str) -> Option<&ContainerRow> {
        self.containers.iter().find(|row| row.name == name)
    }
}

impl Sample for ContainersSnapshot {
    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = Vec::new();
        for row in &self.containers {
            let name = row.name.as_str();
            if !row.finished_job() {
                let up = if row.running() { 1.0 } else { 0.0 };
                metrics.push(Metric::of(CONTAINER_UP, name, up, Unit::Count));
            }
            metrics.push(Metric::of(
                CONTAINER_RESTARTS,
                name,
                f64::from(row.restarts_1h),
                Unit::Count,
            ));
            let oom = if row.oom_killed { 1.0 } else { 0.0 };
            metrics.push(Metric::of(CONTAINER_OOM, name, oom, Unit::Count));
            if let Some(seconds) = row.unhealthy_s(self.taken_at) {
                metrics.push(Metric::of(
                    CONTAINER_UNHEALTHY,
                    name,
                    seconds,
                    Unit::Seconds,
                ));
            }
            if let Some(pct) = row.memory_pct() {
                metrics.push(Metric::of(CONTAINER_MEMORY, name, pct, Unit::Percent));
            }
        }
        metrics
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, exit_code: Option<i64>, policy: &str) -> ContainerRow {
        ContainerRow {
            id: "abc".into(),
            name: "job".into(),
            project: None,
            service: None,
            state: state.into(),
            health: None,
            health_output: None,
            unhealthy_since: None,
            restart_count: 0,
            restarts_1h: 0,
            restart_policy: policy.into(),
            started_at: None,
            finished_at: None,
            exit_code,
            oom_killed: false,
            cpu_pct: None,
            memory_bytes: None,
            memory_limit: None,
            image: "local/busybox:test".into(),
            image_created: None,
        }
    }

    fn up_of(row: ContainerRow) -> Option<f64> {
        let snapshot = ContainersSnapshot {
            taken_at: Utc::now(),
            endpoint: String::new(),
            unavailable: None,
            containers: vec![row],
        };
        snapshot
            .metrics()
            .into_iter()
            .find(|metric| metric.name == CONTAINER_UP)
            .map(|metric| metric.value)
    }

    #[test]
    fn a_finished_job_is_not_down_but_a_failed_or_restarted_one_is() {
        assert_eq!(up_of(row("exited", Some(0), "no")), None);
        assert_eq!(up_of(row("exited", Some(1), "no")), Some(0.0));
        assert_eq!(up_of(row("exited", Some(0), "always")), Some(0.0));
        assert_eq!(up_of(row("running", None, "no")), Some(1.0));
        assert_eq!(
            row("exited", Some(3), "no").findings(Utc::now()),
            vec!["exited with code 3".to_owned()]
        );
    }
}
