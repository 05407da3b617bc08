//! PostgreSQL activity for the queries pane: the slow statements from `pg_stat_statements`
//! (with what changed since the last refresh and since opsdeck started), the sessions hurting the
//! database right now (long-running, idle in transaction, waiting and who blocks them), and table
//! health. Every query runs with a statement timeout, so a hung server never stalls anything.

pub mod collector;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How statements are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementSort {
    MeanTime,
    TotalTime,
    Calls,
    Rows,
}

impl StatementSort {
    pub fn next(self) -> StatementSort {
        match self {
            StatementSort::MeanTime => StatementSort::TotalTime,
            StatementSort::TotalTime => StatementSort::Calls,
            StatementSort::Calls => StatementSort::Rows,
            StatementSort::Rows => StatementSort::MeanTime,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StatementSort::MeanTime => "mean time",
            StatementSort::TotalTime => "total time",
            StatementSort::Calls => "calls",
            StatementSort::Rows => "rows",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct QuerySettings {
    pub top: usize,
    pub sort: StatementSort,
    /// Statements slower than this on average are highlighted (the guides: 1000 ms).
    pub slow_mean_ms: f64,
    /// Active queries running longer than this are listed as long-running.
    pub long_query_after: Duration,
    /// Applied to every monitoring query.
    pub statement_timeout: Duration,
}

impl Default for QuerySettings {
    fn default() -> Self {
        QuerySettings {
            top: 20,
            sort: StatementSort::MeanTime,
            slow_mean_ms: 1000.0,
            long_query_after: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// One normalised statement from `pg_stat_statements`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementRow {
    pub queryid: i64,
    /// The normalised text, as PostgreSQL keeps it (show it through `printable`).
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub rows: i64,
    /// Shared-buffer hit ratio in percent, `None` when no blocks were touched.
    pub hit_ratio_pct: Option<f64>,
    /// Calls and total time added since the previous refresh.
    pub calls_delta: i64,
    pub total_ms_delta: f64,
    /// Calls and total time added since opsdeck started watching.
    pub calls_since_start: i64,
    pub total_ms_since_start: f64,
    /// Mean time over the calls since the previous refresh, when there were any: a statement
    /// that just got slow shows here first.
    pub recent_mean_ms: Option<f64>,
    pub slow: bool,
}

/// Why there are no statements to show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatementsView {
    Rows {
        rows: Vec<StatementRow>,
    },
    /// The extension is not installed or not preloaded: how to enable it.
    Unavailable {
        guidance: String,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRow {
    pub pid: i32,
    pub database: String,
    pub user: String,
    pub application: String,
    pub client: String,
    pub state: String,
    pub wait_event: Option<String>,
    pub query_seconds: Option<f64>,
    pub transaction_seconds: Option<f64>,
    pub query: String,
    /// `pg_blocking_pids(pid)`.
    pub blocked_by: Vec<i32>,
    pub long_running: bool,
    pub idle_in_transaction: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    pub name: String,
    pub total_bytes: i64,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    pub last_vacuum: Option<DateTime<Utc>>,
    pub last_autovacuum: Option<DateTime<Utc>>,
    pub last_analyze: Option<DateTime<Utc>>,
    pub last_autoanalyze: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexRow {
    pub name: String,
    pub table: String,
    pub bytes: i64,
    pub scans: i64,
}

/// A running VACUUM or CREATE INDEX (`pg_stat_progress_*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressRow {
    pub pid: i32,
    pub command: String,
    pub relation: String,
    pub phase: String,
    pub percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableHealth {
    pub database_bytes: i64,
    pub largest_tables: Vec<TableRow>,
    pub largest_indexes: Vec<IndexRow>,
    /// Indexes never scanned (`idx_scan = 0`), largest first.
    pub unused_indexes: Vec<IndexRow>,
    pub progress: Vec<ProgressRow>,
}

/// One refresh of one database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuerySnapshot {
    pub database: String,
    pub taken_at: DateTime<Utc>,
    /// Collector time for this refresh.
    pub took: Duration,
    pub server_version: Option<String>,
    pub statements: StatementsView,
    pub sessions: Result<Vec<SessionRow>, String>,
    pub health: Result<TableHealth, String>,
    /// A connection-level failure (down, wrong password…) with its fix; the rest is then empty.
    pub error: Option<String>,
}

/// Metrics a database refresh reports (instance = the database name), for rules.
pub const QUERY_METRICS: &[&str] = &[
    "db.slow_statements",
    "db.long_running_sessions",
    "db.idle_in_transaction_sessions",
    "db.waiting_sessions",
    "db.bytes",
];

impl QuerySnapshot {
    /// Counts rules can judge: slow statements, problem sessions, database size.
    pub fn metrics(&self) -> Vec<crate::core::model::Metric> {
        use crate::core::model::{Metric, Unit};
        let mut metrics = Vec::new();
        let name = self.database.as_str();
        if let StatementsView::Rows { rows } = &self.statements {
            let slow = rows.iter().filter(|row| row.slow).count();
            metrics.push(Metric::of(
                "db.slow_statements",
                name,
                slow as f64,
                Unit::Count,
            ));
        }
        if let Ok(sessions) = &self.sessions {
            let count = |keep: &dyn Fn(&SessionRow) -> bool| {
                sessions.iter().filter(|s| keep(s)).count() as f64
            };
            metrics.push(Metric::of(
                "db.long_running_sessions",
                name,
                count(&|s| s.long_running),
                Unit::Count,
            ));
            metrics.push(Metric::of(
                "db.idle_in_transaction_sessions",
                name,
                count(&|s| s.idle_in_transaction),
                Unit::Count,
            ));
            metrics.push(Metric::of(
                "db.waiting_sessions",
                name,
                count(&|s| !s.blocked_by.is_empty()),
                Unit::Count,
            ));
        }
        if let Ok(health) = &self.health {
            metrics.push(Metric::of(
                "db.bytes",
                name,
                health.database_bytes as f64,
                Unit::Bytes,
            ));
        }
        metrics
    }
}
