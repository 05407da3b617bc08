//! PostgreSQL activity for the queries pane: the slow statements from `pg_stat_statements`
//! (with what changed since the last refresh and since opsdeck started), the sessions hurting the
//! database right now (long-running, idle in transaction, waiting and who blocks them), and table
//! health. Every query runs with a statement timeout, so a hung server never stalls anything.

pub mod collector;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::core::collectors::{Collector, Sample};
use crate::core::model::{Metric, Unit};
use collector::QueryCollector;

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
    /// The role that ran it: the same text under two users is two rows.
    pub user: String,
    /// Run by a client (`true`) or nested inside a function or procedure (`false`); `None`
    /// where the server does not tell (pg_stat_statements before 1.9, PostgreSQL 13).
    pub toplevel: Option<bool>,
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
    /// One of opsdeck's own task sessions (VACUUM, REINDEX, restore test…).
    pub opsdeck_task: bool,
    pub client: String,
    pub state: String,
    pub wait_event: Option<String>,
    /// Since the current (or last) statement started.
    pub query_seconds: Option<f64>,
    /// Since the transaction started; for an aborted transaction, which PostgreSQL no longer
    /// dates, since it went idle.
    pub transaction_seconds: Option<f64>,
    /// Since the session entered its current state (`state_change`): how long it has been idle
    /// in its transaction.
    pub state_seconds: Option<f64>,
    pub query: String,
    /// `pg_blocking_pids(pid)`.
    pub blocked_by: Vec<i32>,
    /// Other sessions wait for a lock it holds.
    pub blocking: bool,
    /// How many listed sessions wait on it, directly or through others.
    pub waiting_on_it: usize,
    /// Its place in the lock tree: 0 for a root blocker or a session outside any tree, 1 for
    /// one waiting on a root, and so on.
    pub depth: usize,
    pub long_running: bool,
    pub idle_in_transaction: bool,
}

impl SessionRow {
    /// `active`, `idle in xact`, `aborted xact`…: the state in few enough columns for a table
    /// (`idle in transaction (aborted)` would be cut before the word that matters).
    pub fn short_state(&self) -> &str {
        match self.state.as_str() {
            "idle in transaction" => "idle in xact",
            "idle in transaction (aborted)" => "aborted xact",
            "fastpath function call" => "fastpath",
            state => state,
        }
    }

    /// How long it has been in its state: an active session's statement age, otherwise the
    /// time since its state changed.
    pub fn age_in_state(&self) -> Option<f64> {
        if self.state == "active" {
            self.query_seconds
        } else {
            self.state_seconds
        }
    }
}

/// Orders sessions as lock trees: each root blocker (blocking others, waiting on nobody) first,
/// followed by the sessions waiting on it, depth first; then everything else in the order given.
/// Fills in `waiting_on_it` and `depth`.
pub fn lock_tree(sessions: Vec<SessionRow>) -> Vec<SessionRow> {
    use std::collections::{BTreeMap, HashSet};
    let listed: HashSet<i32> = sessions.iter().map(|session| session.pid).collect();
    let mut waiters: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (index, session) in sessions.iter().enumerate() {
        for blocker in &session.blocked_by {
            waiters.entry(*blocker).or_default().push(index);
        }
    }
    let is_root = |session: &SessionRow| {
        waiters.contains_key(&session.pid)
            && !session.blocked_by.iter().any(|pid| listed.contains(pid))
    };
    let mut roots: Vec<usize> = (0..sessions.len())
        .filter(|&index| is_root(&sessions[index]))
        .collect();
    // A cycle has no root; PostgreSQL breaks deadlocks within a second, so its members are
    // simply listed as they come.
    roots.sort_by(|&a, &b| {
        let age = |index: usize| sessions[index].transaction_seconds.unwrap_or(0.0);
        age(b).total_cmp(&age(a))
    });
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(sessions.len());
    let mut placed = vec![false; sessions.len()];
    for root in roots {
        let mut stack = vec![(root, 0)];
        while let Some((index, depth)) = stack.pop() {
            // Waiting on several listed blockers: shown once, under the first one placed.
            if std::mem::replace(&mut placed[index], true) {
                continue;
            }
            order.push((index, depth));
            for &child in waiters
                .get(&sessions[index].pid)
                .into_iter()
                .flatten()
                .rev()
            {
                stack.push((child, depth + 1));
            }
        }
    }
    for (index, done) in placed.iter().enumerate() {
        if !done {
            order.push((index, 0));
        }
    }
    let counts: Vec<usize> = (0..sessions.len())
        .map(|index| transitive_waiters(&sessions, &waiters, index))
        .collect();
    let mut slots: Vec<Option<SessionRow>> = sessions.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(index, depth)| {
            let mut session = slots[index].take()?;
            session.depth = depth;
            session.waiting_on_it = counts[index];
            Some(session)
        })
        .collect()
}

fn transitive_waiters(
    sessions: &[SessionRow],
    waiters: &std::collections::BTreeMap<i32, Vec<usize>>,
    from: usize,
) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![from];
    while let Some(index) = stack.pop() {
        for &child in waiters.get(&sessions[index].pid).into_iter().flatten() {
            if child != from && seen.insert(child) {
                stack.push(child);
            }
        }
    }
    seen.len()
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
    "db.table_bytes",
];

impl QuerySnapshot {
    /// Counts rules can judge: slow statements, problem sessions, database and largest tables'
    /// sizes.
    pub fn metrics(&self) -> Vec<Metric> {
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
            // Instance `database/table`: the history keeps the largest tables' sizes for the
            // capacity projections.
            metrics.extend(health.largest_tables.iter().map(|table| {
                Metric::of(
                    "db.table_bytes",
                    &format!("{name}/{}", table.name),
                    table.total_bytes as f64,
                    Unit::Bytes,
                )
            }));
        }
        metrics
    }
}

impl Sample for QuerySnapshot {
    fn metrics(&self) -> Vec<Metric> {
        QuerySnapshot::metrics(self)
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// One watched database as a collector: its refreshes follow the statement ranking chosen in
/// the console (the runner refreshes it at once when the ranking changes).
pub struct WatchedDatabase {
    collector: QueryCollector,
    interval: Duration,
    sort: watch::Receiver<StatementSort>,
}

impl WatchedDatabase {
    pub fn new(
        collector: QueryCollector,
        interval: Duration,
        sort: watch::Receiver<StatementSort>,
    ) -> Self {
        WatchedDatabase {
            collector,
            interval,
            sort,
        }
    }
}

impl Collector for WatchedDatabase {
    type Sample = Box<QuerySnapshot>;

    fn id(&self) -> &str {
        &self.collector.name
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn collect(&mut self) -> Option<Box<QuerySnapshot>> {
        self.collector.settings_mut().sort = *self.sort.borrow_and_update();
        Some(Box::new(self.collector.collect().await))
    }
}
