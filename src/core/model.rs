//! Shared vocabulary of the core: statuses, metrics, alerts and time stamps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How healthy something is. The order is the order of severity used to fold many statuses
/// into one: `Ok < Unknown < Warn < Crit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Unknown,
    Warn,
    Crit,
}

impl Status {
    /// The Nagios plugin convention that `opsdeck check` follows.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warn => 1,
            Status::Crit => 2,
            Status::Unknown => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Unknown => "UNKNOWN",
            Status::Warn => "WARN",
            Status::Crit => "CRIT",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "ok" => Some(Status::Ok),
            "unknown" => Some(Status::Unknown),
            "warn" => Some(Status::Warn),
            "crit" => Some(Status::Crit),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unknown => "unknown",
            Status::Warn => "warn",
            Status::Crit => "crit",
        }
    }
}

/// Unit of a metric value, used for formatting only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Percent,
    Bytes,
    BytesPerSecond,
    Count,
    Seconds,
    Milliseconds,
    Load,
    /// A time ahead, e.g. until a filesystem is full.
    Days,
    /// Growth rates of capacity projections.
    BytesPerDay,
    PercentPerDay,
}

/// One named measurement, e.g. `disk.used_pct` for instance `/var`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: &'static str,
    pub instance: Option<String>,
    pub value: f64,
    pub unit: Unit,
}

impl Metric {
    pub fn new(name: &'static str, value: f64, unit: Unit) -> Self {
        Metric {
            name,
            instance: None,
            value,
            unit,
        }
    }

    pub fn of(name: &'static str, instance: &str, value: f64, unit: Unit) -> Self {
        Metric {
            name,
            instance: Some(instance.to_owned()),
            value,
            unit,
        }
    }

    /// The key that identifies this series across samples and restarts.
    pub fn key(&self) -> String {
        series_key(self.name, self.instance.as_deref())
    }
}

pub fn series_key(name: &str, instance: Option<&str>) -> String {
    match instance {
        Some(instance) => format!("{name}:{instance}"),
        None => name.to_owned(),
    }
}

/// The metrics every console judges alike, whichever host it runs on: a Prometheus source's
/// hosts (`host.`), PromQL rules (`promql.`) and the shared store's heartbeats (`heartbeat.`).
/// Their alerts belong to the fleet, so consoles sharing a store keep one alert per series
/// between them; every other metric is about the host that measured it.
const FLEET_WIDE_PREFIXES: [&str; 3] = ["host.", "promql.", "heartbeat."];

/// Whether the metric (or series key) named `name` is judged fleet-wide (see
/// [`FLEET_WIDE_PREFIXES`]).
pub fn fleet_wide(name: &str) -> bool {
    FLEET_WIDE_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// The prefixes of [`fleet_wide`] metric names, for a store query that sorts stored rows.
pub fn fleet_wide_prefixes() -> [&'static str; 3] {
    FLEET_WIDE_PREFIXES
}

/// An alert: a rule that held for its duration. Open while `resolved_at` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub key: String,
    pub metric: String,
    pub instance: Option<String>,
    /// The host whose console or exporter measured it; `None` for a [`fleet_wide`] metric's
    /// alert, which every console sharing the store judges and keeps once.
    #[serde(default)]
    pub host: Option<String>,
    /// The highest level reached while open (`Warn` or `Crit`).
    pub level: Status,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Worst value seen while open (highest for `>` rules, lowest for `<` rules).
    pub peak: f64,
    /// The limit that was crossed for `level`.
    pub threshold: f64,
    pub unit: Unit,
}

impl Alert {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    pub fn duration(&self, now: DateTime<Utc>) -> chrono::Duration {
        self.resolved_at.unwrap_or(now) - self.opened_at
    }
}

/// A fresh identifier for rows we create (alerts, runs): sortable by time, unique enough
/// across processes sharing a store.
pub fn new_id(now: DateTime<Utc>) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{:x}-{:x}",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id(),
        sequence
    )
}

/// The current time at the precision the store keeps (milliseconds), so that what is in memory
/// and what is read back after a restart compare equal.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// How a task run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// The opsdeck process that ran it died before it finished.
    Interrupted,
    /// Not started: read-only mode, missing confirmation, or a pre-flight refusal.
    Refused,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::TimedOut,
        RunStatus::Interrupted,
        RunStatus::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// The status as a health colour: failures are critical, refusals and cancellations warn.
    pub fn health(self) -> Status {
        match self {
            RunStatus::Running | RunStatus::Succeeded => Status::Ok,
            RunStatus::Failed | RunStatus::TimedOut | RunStatus::Interrupted => Status::Crit,
            RunStatus::Cancelled | RunStatus::Refused => Status::Warn,
        }
    }
}

/// One run of a task, as kept in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    pub id: String,
    pub task_id: String,
    pub params: std::collections::BTreeMap<String, String>,
    /// The plan as shown before the run.
    pub plan: Vec<String>,
    pub user: String,
    /// The SSH client address, from `SSH_CONNECTION`, when there is one.
    pub client: Option<String>,
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub summary: Option<String>,
    /// The last 64 KiB of output; the full output is in `log_path`.
    pub output: String,
    pub log_path: Option<String>,
    /// Whether a person or the schedule (`opsdeck run --due`) started it.
    #[serde(default)]
    pub trigger: Trigger,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    #[default]
    Manual,
    Schedule,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
        }
    }

    pub fn parse(text: &str) -> Trigger {
        if text == "schedule" {
            Trigger::Schedule
        } else {
            Trigger::Manual
        }
    }
}

impl TaskRun {
    pub fn duration(&self, now: DateTime<Utc>) -> chrono::Duration {
        self.ended_at.unwrap_or(now) - self.started_at
    }
}
