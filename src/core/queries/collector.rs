//! Reading one database's statements, sessions and table health, and keeping the previous
//! readings to compute deltas.
//!
//! One connection is kept between refreshes (and made again when it breaks). It identifies
//! itself as [`MONITOR_APPLICATION`](crate::core::MONITOR_APPLICATION), and every query runs under the configured
//! `statement_timeout` (plus a short `lock_timeout`), with a client-side deadline on top for a
//! server that stops answering altogether. Every monitoring query starts with the
//! [`MARKER`] comment, so opsdeck's own statements can be left out of `pg_stat_statements`.
//!
//! Statements: the top `settings.top` of the current database, sorted and limited by
//! PostgreSQL, read with `pg_stat_statements(false)`, which leaves the query text file alone;
//! texts are read (`pg_stat_statements(true)` reads the whole file) only for statements not shown
//! before, and kept for the ones shown lately. So a refresh stays cheap with thousands of
//! statements. opsdeck's own statements are recognised by the marker in their text and then left
//! out by queryid. Deltas are kept per `(queryid, userid, toplevel)` for the statements fetched:
//! since the previous reading and since the first one. Counters that go down
//! (`pg_stat_statements_reset()`, an entry evicted and recreated, or a new `stats_since` on
//! PostgreSQL 17+) start the statement afresh.
//!
//! Sessions: client backends that are active for longer than `long_query_after`, idle in a
//! transaction, waiting for a lock, or blocking one, waiting ones first. opsdeck's own sessions
//! are left out unless they block someone.
//!
//! Health: database size, largest tables and indexes, unused indexes, and running VACUUM and
//! CREATE INDEX progress. `pg_total_relation_size` waits for a lock on the relation, so a
//! relation someone holds (or waits for) in ACCESS EXCLUSIVE mode is sized from its `relpages`
//! estimate instead of stalling the refresh.
//!
//! Nothing here panics: every failure becomes text in the snapshot, with its fix when there is
//! one. Texts from the server (query texts included) are kept as they are; making them safe to
//! show is the UI's job.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnection, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Connection, Decode, Row, Type};

use super::{
    IndexRow, ProgressRow, QuerySettings, QuerySnapshot, SessionRow, StatementRow, StatementSort,
    StatementsView, TableHealth, TableRow,
};
use crate::core::sources::failure::describe_io_error;
use crate::core::sources::pg::{CONNECT_TIMEOUT, Limits, Server, quote_ident};
use crate::core::sources::secrets::mask_url;
use crate::core::sql;

/// The comment every monitoring query starts with; statements containing it are not listed.
pub const MARKER: &str = "/* opsdeck */";

/// Where the URL is configured, for the fix in messages.
const CONFIG_HINT: &str = "[[database]] url";
/// How much longer than `statement_timeout` the client waits for an answer before it gives the
/// connection up (the server should have cancelled the statement by then).
const CLIENT_GRACE: Duration = Duration::from_secs(2);
/// Upper bound of the `lock_timeout` for monitoring queries (never above `statement_timeout`).
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// Rows in each health list.
const HEALTH_ROWS: i64 = 10;
/// Statements remembered for deltas; beyond this the ones not seen for longest are forgotten.
const MAX_TRACKED: usize = 20_000;
/// Time allowed to close the connection politely.
const CLOSE_BUDGET: Duration = Duration::from_secs(1);

type PgQuery = Query<'static, Postgres, PgArguments>;

/// Collects snapshots of one database; keeps its connection and the baselines for deltas.
pub struct QueryCollector {
    pub name: String,
    url: String,
    settings: QuerySettings,
    link: Option<Link>,
    statements: StatementState,
}

/// The open connection and the `statement_timeout` it runs with.
struct Link {
    conn: PgConnection,
    timeout_ms: u64,
    /// pg_stat_statements said it is not loaded: not asked again on this connection (loading it
    /// takes a restart, which ends the connection), which keeps errors out of the server log.
    pgss_not_loaded: bool,
}

impl QueryCollector {
    pub fn new(name: String, url: String, settings: QuerySettings) -> QueryCollector {
        QueryCollector {
            name,
            url,
            settings,
            link: None,
            statements: StatementState::default(),
        }
    }

    pub fn settings_mut(&mut self) -> &mut QuerySettings {
        &mut self.settings
    }

    /// Closes the connection politely (dropping the collector closes it too, in the
    /// background).
    pub async fn close(&mut self) {
        if let Some(link) = self.link.take() {
            let _ = tokio::time::timeout(CLOSE_BUDGET, link.conn.close()).await;
        }
    }

    pub async fn collect(&mut self) -> QuerySnapshot {
        let started = Instant::now();
        let mut snapshot = QuerySnapshot {
            database: self.name.clone(),
            taken_at: crate::core::model::now(),
            took: Duration::ZERO,
            server_version: None,
            statements: StatementsView::Failed {
                error: "not connected".into(),
            },
            sessions: Err("not connected".into()),
            health: Err("not connected".into()),
            error: None,
        };
        if let Err(error) = self.refresh(&mut snapshot).await {
            snapshot.error = Some(error);
        }
        snapshot.took = started.elapsed();
        snapshot
    }

    /// Fills the snapshot; `Err` is a connection-level failure with its fix.
    async fn refresh(&mut self, snapshot: &mut QuerySnapshot) -> Result<(), String> {
        let masked = mask_url(&self.url);
        let timeout_ms = timeout_ms(self.settings.statement_timeout);
        let limit = Duration::from_millis(timeout_ms) + CLIENT_GRACE;

        // A kept connection may have broken since the last refresh (server restarted, network
        // cut): then it is made again, once.
        let reused = self.link.is_some();
        let version = match self.version(timeout_ms, limit).await {
            Ok(version) => version,
            Err(Failure::Lost(_)) if reused => {
                self.link = None;
                self.version(timeout_ms, limit)
                    .await
                    .map_err(|failure| self.lost(&masked, failure))?
            }
            Err(failure) => return Err(self.lost(&masked, failure)),
        };
        snapshot.server_version = Some(version);
        let Some(link) = self.link.as_mut() else {
            return Err(format!("not connected to {masked}"));
        };
        let conn = &mut link.conn;
        let not_loaded = &mut link.pgss_not_loaded;

        let info = match Info::read(conn, limit).await {
            Ok(info) => info,
            Err(Failure::Lost(reason)) => {
                self.link = None;
                return Err(lost_text(&masked, &reason));
            }
            Err(failure) => {
                let text = failure.text("reading the database settings", "");
                snapshot.statements = StatementsView::Failed {
                    error: text.clone(),
                };
                snapshot.sessions = Err(text.clone());
                snapshot.health = Err(text);
                return Ok(());
            }
        };

        let mut lost = None;
        match statements(
            conn,
            limit,
            &info,
            &self.settings,
            &mut self.statements,
            not_loaded,
        )
        .await
        {
            Ok(view) => snapshot.statements = view,
            Err(Failure::Lost(reason)) => lost = Some(reason),
            Err(failure) => {
                snapshot.statements = StatementsView::Failed {
                    error: failure.text("reading pg_stat_statements", &info.grantee),
                }
            }
        }
        if lost.is_none() {
            match sessions(conn, limit, &info, &self.settings).await {
                Ok(rows) => snapshot.sessions = Ok(rows),
                Err(Failure::Lost(reason)) => lost = Some(reason),
                Err(failure) => {
                    snapshot.sessions = Err(failure.text("reading pg_stat_activity", &info.grantee))
                }
            }
        }
        if lost.is_none() {
            match health(conn, limit).await {
                Ok(health) => snapshot.health = Ok(health),
                Err(Failure::Lost(reason)) => lost = Some(reason),
                Err(failure) => {
                    snapshot.health = Err(failure.text("reading table health", &info.grantee))
                }
            }
        }
        if let Some(reason) = lost {
            // What was read stays; the parts not read say why, and the next refresh connects
            // again.
            self.link = None;
            let text = lost_text(&masked, &reason);
            if matches!(snapshot.statements, StatementsView::Failed { .. }) {
                snapshot.statements = StatementsView::Failed {
                    error: text.clone(),
                };
            }
            if snapshot.sessions.is_err() {
                snapshot.sessions = Err(text.clone());
            }
            if snapshot.health.is_err() {
                snapshot.health = Err(text);
            }
        }
        Ok(())
    }

    /// `SHOW server_version` on the kept connection, connecting first when there is none and
    /// bringing `statement_timeout` up to date when the settings changed.
    async fn version(&mut self, timeout_ms: u64, limit: Duration) -> Result<String, Failure> {
        if self.link.is_none() {
            let conn = self.connect(timeout_ms).await.map_err(Failure::Connect)?;
            self.link = Some(Link {
                conn,
                timeout_ms,
                pgss_not_loaded: false,
            });
        }
        let Some(link) = self.link.as_mut() else {
            return Err(Failure::Lost("no connection".into()));
        };
        if link.timeout_ms != timeout_ms {
            let lock_ms = lock_timeout_ms(timeout_ms);
            let sql = format!(
                "{MARKER} SET statement_timeout = {timeout_ms}; \
                 {MARKER} SET lock_timeout = {lock_ms}"
            );
            let set = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut link.conn);
            match tokio::time::timeout(limit, set).await {
                Ok(Ok(_)) => link.timeout_ms = timeout_ms,
                Ok(Err(error)) => return Err(Failure::from(error)),
                Err(_) => return Err(Failure::Lost(no_answer(limit))),
            }
        }
        let rows = fetch(
            &mut link.conn,
            sqlx::query(sql::QUERIES_SERVER_VERSION),
            limit,
        )
        .await?;
        match rows.first() {
            Some(row) => get(row, "server_version"),
            None => Err(Failure::Decode(
                "SHOW server_version returned no row".into(),
            )),
        }
    }

    async fn connect(&self, timeout_ms: u64) -> Result<PgConnection, String> {
        let server = Server::new(&self.url, crate::core::MONITOR_APPLICATION, CONFIG_HINT)
            .map_err(|error| error.to_string())?;
        let limits = Limits {
            connect: CONNECT_TIMEOUT,
            statement: Some(Duration::from_millis(timeout_ms)),
            lock: Some(Duration::from_millis(lock_timeout_ms(timeout_ms))),
        };
        server
            .connect(limits, None)
            .await
            .map_err(|error| error.to_string())
    }

    /// The snapshot error for a failure before anything was read; the connection is dropped.
    fn lost(&mut self, masked: &str, failure: Failure) -> String {
        self.link = None;
        match failure {
            Failure::Connect(text) => text,
            Failure::Lost(reason) => lost_text(masked, &reason),
            other => format!("{masked}: {}", other.text("SHOW server_version", "")),
        }
    }
}

impl Drop for QueryCollector {
    /// Says goodbye to the server in the background, which keeps "unexpected EOF" out of its
    /// log; without a runtime the socket is simply closed.
    fn drop(&mut self) {
        if let Some(link) = self.link.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_BUDGET, link.conn.close()).await;
            });
        }
    }
}

// ---------------------------------------------------------------------------
// Running queries
// ---------------------------------------------------------------------------

/// Why a query gave no rows.
#[derive(Debug)]
enum Failure {
    /// No connection could be made: the full text with its fix.
    Connect(String),
    /// The server answered with an error; the connection is still usable.
    Server { code: String, message: String },
    /// The connection broke or the server stopped answering; it is given up.
    Lost(String),
    /// The answer did not have the expected shape.
    Decode(String),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        match &error {
            sqlx::Error::Database(database) => {
                let code = database.code().unwrap_or_default().into_owned();
                let message = database.message().to_owned();
                // Connection exceptions and shutdowns end the session on the server side.
                if code.starts_with("08") || matches!(code.as_str(), "57P01" | "57P02" | "57P03") {
                    Failure::Lost(message)
                } else {
                    Failure::Server { code, message }
                }
            }
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::RowNotFound => Failure::Decode(error.to_string()),
            sqlx::Error::Io(io) => Failure::Lost(describe_io_error(io)),
            _ => Failure::Lost(error.to_string()),
        }
    }
}

impl Failure {
    /// One line for a part of the snapshot; a permission error says how to grant access.
    fn text(&self, what: &str, grantee: &str) -> String {
        match self {
            Failure::Connect(text) => text.clone(),
            Failure::Server { code, message } if code == "42501" => {
                format!("{what}: {message}; fix: {}", grant_pg_monitor(grantee))
            }
            Failure::Server { message, .. } => format!("{what}: {message}"),
            Failure::Lost(reason) => format!("{what}: connection lost: {reason}"),
            Failure::Decode(reason) => format!("{what}: unexpected answer: {reason}"),
        }
    }
}

fn grant_pg_monitor(grantee: &str) -> String {
    let grantee = if grantee.is_empty() {
        "<user>"
    } else {
        grantee
    };
    format!("GRANT pg_monitor TO {grantee}; (or connect as a superuser)")
}

fn lost_text(masked: &str, reason: &str) -> String {
    format!(
        "lost the connection to {masked}: {reason}; is PostgreSQL running? check [[database]] url \
         (opsdeck reconnects at the next refresh)"
    )
}

fn no_answer(limit: Duration) -> String {
    format!("no answer within {:.1} s", limit.as_secs_f64())
}

async fn fetch(
    conn: &mut PgConnection,
    query: PgQuery,
    limit: Duration,
) -> Result<Vec<PgRow>, Failure> {
    match tokio::time::timeout(limit, query.fetch_all(conn)).await {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(error)) => Err(Failure::from(error)),
        Err(_) => Err(Failure::Lost(no_answer(limit))),
    }
}

fn get<'r, T>(row: &'r PgRow, name: &str) -> Result<T, Failure>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(name)
        .map_err(|error| Failure::Decode(format!("column {name}: {error}")))
}

/// `statement_timeout` in milliseconds, at least 1 (0 would mean none).
fn timeout_ms(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn lock_timeout_ms(timeout_ms: u64) -> u64 {
    timeout_ms.min(timeout_ms_of(LOCK_TIMEOUT))
}

fn timeout_ms_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn millis_to_time(millis: Option<i64>) -> Option<DateTime<Utc>> {
    millis.and_then(DateTime::from_timestamp_millis)
}

// ---------------------------------------------------------------------------
// What the connection may see
// ---------------------------------------------------------------------------

/// Facts read at every refresh: the database, who we are, and where pg_stat_statements is.
struct Info {
    database: String,
    /// `current_user`, quoted for a GRANT.
    grantee: String,
    /// Superuser or member of `pg_read_all_stats` (which `pg_monitor` includes).
    can_read_stats: bool,
    /// `(major, minor)` of the installed pg_stat_statements, `None` when not installed here.
    pgss_version: Option<(u32, u32)>,
    /// The schema the extension lives in, quoted.
    pgss_schema: String,
}

impl Info {
    async fn read(conn: &mut PgConnection, limit: Duration) -> Result<Info, Failure> {
        let rows = fetch(conn, sqlx::query(sql::QUERIES_INFO), limit).await?;
        let Some(row) = rows.first() else {
            return Err(Failure::Decode("no row".into()));
        };
        let version: Option<String> = get(row, "pgss_version")?;
        let schema: Option<String> = get(row, "pgss_schema")?;
        Ok(Info {
            database: get(row, "database")?,
            grantee: get(row, "grantee")?,
            can_read_stats: get::<Option<bool>>(row, "can_read_stats")?.unwrap_or(false),
            pgss_version: version.map(|version| parse_extversion(&version)),
            pgss_schema: schema.unwrap_or_else(|| "public".into()),
        })
    }
}

/// `"1.10"` -> `(1, 10)`; anything unreadable counts as the newest layout.
fn parse_extversion(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|part| part.trim().parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor),
        (Some(Ok(major)), None) => (major, 0),
        _ => (u32::MAX, 0),
    }
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

/// How to enable pg_stat_statements, with the reason it is not usable now.
fn statements_guidance(database: &str, installed: bool) -> String {
    let database = quote_ident(database);
    let (why, create) = if installed {
        (
            format!(
                "pg_stat_statements is installed in database {database}, but the server has not \
                 loaded its library."
            ),
            " (already done)",
        )
    } else {
        (
            format!("pg_stat_statements is not installed in database {database}."),
            "",
        )
    };
    format!(
        "{why}\n\
         To see the slowest statements:\n\
         \x20 1. in postgresql.conf set  shared_preload_libraries = 'pg_stat_statements'  (keep \
         any libraries already listed there)\n\
         \x20 2. restart PostgreSQL (a reload is not enough)\n\
         \x20 3. in database {database} run  CREATE EXTENSION pg_stat_statements;{create}"
    )
}

/// The counters of the top statements, without their texts ([`sql::QUERIES_STATEMENT_COUNTERS`]).
/// Filled here because the schema, the column names that differ by extension version and the
/// sort column cannot be bind parameters.
fn counters_sql(schema: &str, version: (u32, u32), sort: StatementSort) -> String {
    // 1.8 (PostgreSQL 13) renamed *_time to *_exec_time; 1.9 added toplevel; 1.11 (17) added
    // stats_since.
    let exec = if version >= (1, 8) {
        "_exec_time"
    } else {
        "_time"
    };
    let toplevel = if version >= (1, 9) {
        "s.toplevel"
    } else {
        "NULL::bool"
    };
    let since = if version >= (1, 11) {
        "(extract(epoch FROM s.stats_since) * 1000)::int8"
    } else {
        "NULL::int8"
    };
    let order = match sort {
        StatementSort::MeanTime => format!("s.mean{exec}"),
        StatementSort::TotalTime => format!("s.total{exec}"),
        StatementSort::Calls => "s.calls".to_owned(),
        StatementSort::Rows => "s.rows".to_owned(),
    };
    sql::fill(
        sql::QUERIES_STATEMENT_COUNTERS,
        &[
            ("schema", schema),
            ("exec", exec),
            ("toplevel", toplevel),
            ("since", since),
            ("order", &order),
        ],
    )
}

/// The texts of some statements, and those of opsdeck's own statements
/// ([`sql::QUERIES_STATEMENT_TEXTS`]). Filled here because the schema and the `toplevel` column,
/// which older extension versions lack, cannot be bind parameters.
fn texts_sql(schema: &str, version: (u32, u32)) -> String {
    let toplevel = if version >= (1, 9) {
        "s.toplevel"
    } else {
        "true"
    };
    sql::fill(
        sql::QUERIES_STATEMENT_TEXTS,
        &[("schema", schema), ("toplevel", toplevel)],
    )
}

/// How often the top statements are read again after their texts showed some of them to be
/// opsdeck's own.
const OWN_RETRIES: usize = 3;
/// What PostgreSQL shows for another user's statement without pg_read_all_stats.
const HIDDEN_TEXT: &str = "<insufficient privilege>";

/// One statement's counters, its text to be filled in.
struct Counted {
    key: Option<StatementKey>,
    reading: Reading,
    row: StatementRow,
}

async fn statements(
    conn: &mut PgConnection,
    limit: Duration,
    info: &Info,
    settings: &QuerySettings,
    state: &mut StatementState,
    not_loaded: &mut bool,
) -> Result<StatementsView, Failure> {
    let Some(version) = info.pgss_version else {
        return Ok(StatementsView::Unavailable {
            guidance: statements_guidance(&info.database, false),
        });
    };
    let unavailable = || StatementsView::Unavailable {
        guidance: statements_guidance(&info.database, true),
    };
    if *not_loaded {
        return Ok(unavailable());
    }
    let counters = counters_sql(&info.pgss_schema, version, settings.sort);
    let top = i64::try_from(settings.top).unwrap_or(i64::MAX);
    state.refresh += 1;
    let mut attempt = 0;
    let (counted, now_ms) = loop {
        attempt += 1;
        let own: Vec<i64> = state.own.iter().copied().collect();
        let query = sqlx::query(AssertSqlSafe(counters.clone()))
            .bind(top)
            .bind(own);
        let rows = match fetch(conn, query, limit).await {
            Ok(rows) => rows,
            Err(Failure::Server { message, .. })
                if message.contains("shared_preload_libraries") =>
            {
                *not_loaded = true;
                return Ok(unavailable());
            }
            Err(failure) => return Err(failure),
        };
        let (counted, now_ms) = read_counters(&rows, settings)?;
        let missing: Vec<i64> = counted
            .iter()
            .filter_map(|counted| counted.key)
            .filter(|key| !state.texts.contains_key(key))
            .map(|(queryid, _, _)| queryid)
            .collect();
        if missing.is_empty() {
            break (counted, now_ms);
        }
        let query = sqlx::query(AssertSqlSafe(texts_sql(&info.pgss_schema, version))).bind(missing);
        let texts = match fetch(conn, query, limit).await {
            Ok(rows) => rows,
            Err(Failure::Server { message, .. })
                if message.contains("shared_preload_libraries") =>
            {
                *not_loaded = true;
                return Ok(unavailable());
            }
            Err(failure) => return Err(failure),
        };
        let mut found_own = false;
        for row in &texts {
            let queryid: i64 = get(row, "queryid")?;
            let key = (
                queryid,
                get(row, "userid")?,
                get::<Option<bool>>(row, "toplevel")?.unwrap_or(true),
            );
            // No text (the text file could not be read): asked again at the next refresh.
            let Some(text) = get::<Option<String>>(row, "query")? else {
                continue;
            };
            if text.contains(MARKER) {
                found_own |= counted.iter().any(|counted| counted.row.queryid == queryid);
                state.own.insert(queryid);
            } else {
                state.texts.insert(key, (text, state.refresh));
            }
        }
        if !found_own || attempt >= OWN_RETRIES {
            break (counted, now_ms);
        }
    };

    state.deltas.begin(now_ms);
    let mut rows = Vec::with_capacity(counted.len());
    for Counted {
        key,
        reading,
        mut row,
    } in counted
    {
        let Some(key) = key else {
            // Without a queryid (another user's statement, no pg_read_all_stats) there is no
            // telling statements apart: no deltas.
            row.query = HIDDEN_TEXT.to_owned();
            rows.push(row);
            continue;
        };
        if state.own.contains(&key.0) {
            continue;
        }
        if let Some((text, used)) = state.texts.get_mut(&key) {
            row.query.clone_from(text);
            *used = state.refresh;
        }
        let change = state.deltas.observe(key, reading);
        row.calls_delta = change.calls_delta;
        row.total_ms_delta = change.total_ms_delta;
        row.calls_since_start = change.calls_since_start;
        row.total_ms_since_start = change.total_ms_since_start;
        row.recent_mean_ms =
            (change.calls_delta > 0).then(|| change.total_ms_delta / change.calls_delta as f64);
        rows.push(row);
    }
    state.deltas.end();
    state.prune(settings.top);
    Ok(StatementsView::Rows { rows })
}

fn read_counters(
    rows: &[PgRow],
    settings: &QuerySettings,
) -> Result<(Vec<Counted>, Option<i64>), Failure> {
    let mut counted = Vec::with_capacity(rows.len());
    let mut now_ms = None;
    for row in rows {
        now_ms = get(row, "now_ms")?;
        let queryid: Option<i64> = get(row, "queryid")?;
        let userid: i64 = get(row, "userid")?;
        let toplevel: Option<bool> = get(row, "toplevel")?;
        let calls: i64 = get(row, "calls")?;
        let total_ms: f64 = get(row, "total_ms")?;
        let mean_ms: f64 = get(row, "mean_ms")?;
        let hit: i64 = get(row, "shared_blks_hit")?;
        let read: i64 = get(row, "shared_blks_read")?;
        counted.push(Counted {
            key: queryid.map(|queryid| (queryid, userid, toplevel.unwrap_or(true))),
            reading: Reading {
                calls,
                total_ms,
                stats_since_ms: get(row, "stats_since_ms")?,
            },
            row: StatementRow {
                queryid: queryid.unwrap_or(0),
                user: get(row, "username")?,
                toplevel,
                query: String::new(),
                calls,
                total_ms,
                mean_ms,
                max_ms: get(row, "max_ms")?,
                rows: get(row, "rows")?,
                hit_ratio_pct: (hit + read > 0).then(|| hit as f64 * 100.0 / (hit + read) as f64),
                calls_delta: 0,
                total_ms_delta: 0.0,
                calls_since_start: 0,
                total_ms_since_start: 0.0,
                recent_mean_ms: None,
                slow: mean_ms > settings.slow_mean_ms,
            },
        });
    }
    Ok((counted, now_ms))
}

/// What is kept between refreshes for the statements: the readings for deltas, the texts of
/// the statements shown lately, and the queryids of opsdeck's own statements.
#[derive(Debug, Default)]
struct StatementState {
    refresh: u64,
    deltas: Deltas,
    /// Texts by statement, with the refresh they were last shown at.
    texts: HashMap<StatementKey, (String, u64)>,
    own: HashSet<i64>,
}

impl StatementState {
    /// Keeps the texts small: those shown most recently, a few times the list's length.
    fn prune(&mut self, top: usize) {
        let keep = top.saturating_mul(4).max(200);
        if self.texts.len() > keep {
            let mut used: Vec<u64> = self.texts.values().map(|(_, used)| *used).collect();
            used.sort_unstable_by(|a, b| b.cmp(a));
            let cutoff = used[keep / 2];
            self.texts.retain(|_, (_, used)| *used > cutoff);
        }
        // opsdeck runs a handful of statements; many more means they keep changing shape.
        if self.own.len() > 1_000 {
            self.own.clear();
        }
    }
}

/// `(queryid, userid, toplevel)`: one entry of `pg_stat_statements` in this database.
type StatementKey = (i64, i64, bool);

/// One statement's counters at a refresh.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    calls: i64,
    total_ms: f64,
    /// When the entry was created (PostgreSQL 17+), epoch milliseconds.
    stats_since_ms: Option<i64>,
}

/// What a statement did since the previous reading and since the first one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Change {
    calls_delta: i64,
    total_ms_delta: f64,
    calls_since_start: i64,
    total_ms_since_start: f64,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    last: Reading,
    /// The counters since-start figures are measured from (0 after a reset).
    base_calls: i64,
    base_total_ms: f64,
    /// Since-start figures accumulated before the last reset.
    carried_calls: i64,
    carried_total_ms: f64,
    /// The refresh this statement was last read at.
    refresh: u64,
}

/// The readings deltas are computed from: only the statements fetched (the top ones), and
/// those fetched before.
#[derive(Debug, Default)]
struct Deltas {
    /// Refreshes with statements so far.
    refresh: u64,
    /// Server time of the first and of the previous refresh, epoch milliseconds.
    first_ms: Option<i64>,
    previous_ms: Option<i64>,
    current_ms: Option<i64>,
    seen: HashMap<StatementKey, Seen>,
}

impl Deltas {
    fn begin(&mut self, now_ms: Option<i64>) {
        self.refresh += 1;
        self.previous_ms = self.current_ms.or(self.previous_ms);
        self.current_ms = now_ms;
        if self.first_ms.is_none() {
            self.first_ms = now_ms;
        }
    }

    fn observe(&mut self, key: StatementKey, now: Reading) -> Change {
        let refresh = self.refresh;
        if let Some(seen) = self.seen.get_mut(&key) {
            let reset = now.calls < seen.last.calls
                || now.total_ms < seen.last.total_ms
                || matches!(
                    (now.stats_since_ms, seen.last.stats_since_ms),
                    (Some(now), Some(before)) if now != before
                );
            let (calls_delta, total_ms_delta) = if reset {
                // Counting started again: everything counted now is new.
                seen.carried_calls += seen.last.calls - seen.base_calls;
                seen.carried_total_ms += seen.last.total_ms - seen.base_total_ms;
                seen.base_calls = 0;
                seen.base_total_ms = 0.0;
                (now.calls, now.total_ms)
            } else {
                (
                    now.calls - seen.last.calls,
                    now.total_ms - seen.last.total_ms,
                )
            };
            seen.last = now;
            seen.refresh = refresh;
            return Change {
                calls_delta,
                total_ms_delta,
                calls_since_start: seen.carried_calls + now.calls - seen.base_calls,
                total_ms_since_start: seen.carried_total_ms + now.total_ms - seen.base_total_ms,
            };
        }
        // First reading of this statement. Only an entry created after a refresh (known on
        // PostgreSQL 17+) is known to have done all its work since then; otherwise this reading
        // is where counting starts.
        let created_after = |at: Option<i64>| {
            self.refresh > 1
                && matches!((now.stats_since_ms, at), (Some(since), Some(at)) if since >= at)
        };
        let (base_calls, base_total_ms) = if created_after(self.first_ms) {
            (0, 0.0)
        } else {
            (now.calls, now.total_ms)
        };
        let change = if created_after(self.previous_ms) {
            Change {
                calls_delta: now.calls,
                total_ms_delta: now.total_ms,
                calls_since_start: now.calls,
                total_ms_since_start: now.total_ms,
            }
        } else {
            Change {
                calls_delta: 0,
                total_ms_delta: 0.0,
                calls_since_start: now.calls - base_calls,
                total_ms_since_start: now.total_ms - base_total_ms,
            }
        };
        self.seen.insert(
            key,
            Seen {
                last: now,
                base_calls,
                base_total_ms,
                carried_calls: 0,
                carried_total_ms: 0.0,
                refresh,
            },
        );
        change
    }

    /// Forgets the statements not seen for longest once there are too many.
    fn end(&mut self) {
        if self.seen.len() <= MAX_TRACKED {
            return;
        }
        let mut refreshes: Vec<u64> = self.seen.values().map(|seen| seen.refresh).collect();
        refreshes.sort_unstable_by(|a, b| b.cmp(a));
        let cutoff = refreshes[MAX_TRACKED / 2];
        self.seen.retain(|_, seen| seen.refresh > cutoff);
    }
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

async fn sessions(
    conn: &mut PgConnection,
    limit: Duration,
    info: &Info,
    settings: &QuerySettings,
) -> Result<Vec<SessionRow>, Failure> {
    if !info.can_read_stats {
        return Err(Failure::Server {
            code: "42501".into(),
            message: format!(
                "role {} sees only its own sessions (other users' states, queries and waits are \
                 hidden)",
                info.grantee
            ),
        });
    }
    let rows = fetch(
        conn,
        sqlx::query(sql::QUERIES_SESSIONS)
            .bind(settings.long_query_after.as_secs_f64())
            .bind(crate::core::MONITOR_APPLICATION),
        limit,
    )
    .await?;
    let sessions = rows
        .iter()
        .map(|row| {
            let application: String = get(row, "application")?;
            Ok(SessionRow {
                pid: get(row, "pid")?,
                database: get(row, "database")?,
                user: get(row, "username")?,
                opsdeck_task: application == crate::core::TASK_APPLICATION,
                application,
                client: get(row, "client")?,
                state: get(row, "state")?,
                wait_event: get(row, "wait_event")?,
                query_seconds: get(row, "query_seconds")?,
                transaction_seconds: get(row, "transaction_seconds")?,
                state_seconds: get(row, "state_seconds")?,
                query: get(row, "query")?,
                blocked_by: get::<Option<Vec<i32>>>(row, "blocked_by")?.unwrap_or_default(),
                blocking: get(row, "blocking")?,
                waiting_on_it: 0,
                depth: 0,
                long_running: get(row, "long_running")?,
                idle_in_transaction: get(row, "idle_in_transaction")?,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(crate::core::queries::lock_tree(sessions))
}

// ---------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------

async fn health(conn: &mut PgConnection, limit: Duration) -> Result<TableHealth, Failure> {
    let locked = fetch(conn, sqlx::query(sql::QUERIES_LOCKED_RELATIONS), limit).await?;
    let locked: Vec<i64> = match locked.first() {
        Some(row) => get::<Option<Vec<i64>>>(row, "oids")?.unwrap_or_default(),
        None => Vec::new(),
    };
    let size = fetch(conn, sqlx::query(sql::QUERIES_DATABASE_SIZE), limit).await?;
    let database_bytes = match size.first() {
        Some(row) => get::<Option<i64>>(row, "bytes")?.unwrap_or(0),
        None => 0,
    };
    let tables = fetch(
        conn,
        sqlx::query(sql::QUERIES_LARGEST_TABLES)
            .bind(locked.clone())
            .bind(HEALTH_ROWS),
        limit,
    )
    .await?;
    let largest_tables = tables
        .iter()
        .map(|row| {
            Ok(TableRow {
                name: get(row, "name")?,
                total_bytes: get(row, "total_bytes")?,
                live_tuples: get(row, "live_tuples")?,
                dead_tuples: get(row, "dead_tuples")?,
                last_vacuum: millis_to_time(get(row, "last_vacuum")?),
                last_autovacuum: millis_to_time(get(row, "last_autovacuum")?),
                last_analyze: millis_to_time(get(row, "last_analyze")?),
                last_autoanalyze: millis_to_time(get(row, "last_autoanalyze")?),
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let largest_indexes = indexes(conn, limit, &locked, false).await?;
    let unused_indexes = indexes(conn, limit, &locked, true).await?;
    let progress = fetch(conn, sqlx::query(sql::QUERIES_PROGRESS), limit).await?;
    let progress = progress
        .iter()
        .map(|row| {
            Ok(ProgressRow {
                pid: get(row, "pid")?,
                command: get(row, "command")?,
                relation: get(row, "relation")?,
                phase: get(row, "phase")?,
                percent: get(row, "percent")?,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(TableHealth {
        database_bytes,
        largest_tables,
        largest_indexes,
        unused_indexes,
        progress,
    })
}

async fn indexes(
    conn: &mut PgConnection,
    limit: Duration,
    locked: &[i64],
    unused: bool,
) -> Result<Vec<IndexRow>, Failure> {
    let rows = fetch(
        conn,
        sqlx::query(sql::QUERIES_INDEXES)
            .bind(locked.to_vec())
            .bind(HEALTH_ROWS)
            .bind(unused),
        limit,
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(IndexRow {
                name: get(row, "name")?,
                table: get(row, "table_name")?,
                bytes: get(row, "bytes")?,
                scans: get(row, "scans")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(calls: i64, total_ms: f64) -> Reading {
        Reading {
            calls,
            total_ms,
            stats_since_ms: None,
        }
    }

    #[test]
    fn deltas_start_at_zero_and_follow_the_counters() {
        let mut deltas = Deltas::default();
        let key = (1, 10, true);
        deltas.begin(Some(1_000));
        let first = deltas.observe(key, reading(5, 50.0));
        assert_eq!(
            first,
            Change {
                calls_delta: 0,
                total_ms_delta: 0.0,
                calls_since_start: 0,
                total_ms_since_start: 0.0
            }
        );
        deltas.begin(Some(2_000));
        let second = deltas.observe(key, reading(8, 80.0));
        assert_eq!((second.calls_delta, second.total_ms_delta), (3, 30.0));
        assert_eq!(
            (second.calls_since_start, second.total_ms_since_start),
            (3, 30.0)
        );
        deltas.begin(Some(3_000));
        let third = deltas.observe(key, reading(10, 100.0));
        assert_eq!((third.calls_delta, third.total_ms_delta), (2, 20.0));
        assert_eq!(
            (third.calls_since_start, third.total_ms_since_start),
            (5, 50.0)
        );
    }

    #[test]
    fn a_reset_is_a_fresh_start_and_keeps_the_totals_since_start() {
        let mut deltas = Deltas::default();
        let key = (1, 10, true);
        deltas.begin(Some(1_000));
        deltas.observe(key, reading(100, 1_000.0));
        deltas.begin(Some(2_000));
        deltas.observe(key, reading(110, 1_100.0));
        // pg_stat_statements_reset(), then 4 calls.
        deltas.begin(Some(3_000));
        let after = deltas.observe(key, reading(4, 40.0));
        assert_eq!((after.calls_delta, after.total_ms_delta), (4, 40.0));
        assert_eq!(
            (after.calls_since_start, after.total_ms_since_start),
            (14, 140.0)
        );
        deltas.begin(Some(4_000));
        let next = deltas.observe(key, reading(6, 60.0));
        assert_eq!((next.calls_delta, next.total_ms_delta), (2, 20.0));
        assert_eq!(
            (next.calls_since_start, next.total_ms_since_start),
            (16, 160.0)
        );
    }

    #[test]
    fn a_new_stats_since_is_a_reset() {
        let mut deltas = Deltas::default();
        let key = (1, 10, true);
        let at = |calls, since| Reading {
            calls,
            total_ms: calls as f64,
            stats_since_ms: Some(since),
        };
        deltas.begin(Some(1_000));
        deltas.observe(key, at(10, 500));
        deltas.begin(Some(2_000));
        let change = deltas.observe(key, at(20, 1_500));
        assert_eq!(change.calls_delta, 20);
        assert_eq!(change.calls_since_start, 20);
    }

    #[test]
    fn statements_created_after_a_refresh_count_in_full_when_the_server_says_so() {
        let mut deltas = Deltas::default();
        deltas.begin(Some(1_000));
        deltas.observe((1, 10, true), reading(1, 1.0));
        deltas.begin(Some(2_000));
        let new = deltas.observe(
            (2, 10, true),
            Reading {
                calls: 3,
                total_ms: 30.0,
                stats_since_ms: Some(1_500),
            },
        );
        assert_eq!((new.calls_delta, new.calls_since_start), (3, 3));
        // Without stats_since (before PostgreSQL 17) counting starts at the first reading.
        let unknown = deltas.observe((3, 10, true), reading(3, 30.0));
        assert_eq!((unknown.calls_delta, unknown.calls_since_start), (0, 0));
    }

    #[test]
    fn many_statements_are_forgotten_oldest_first() {
        let mut deltas = Deltas::default();
        for refresh in 0..3_i64 {
            deltas.begin(Some(refresh));
            for n in 0..(MAX_TRACKED as i64 / 2 + 10) {
                deltas.observe((refresh * 1_000_000 + n, 1, true), reading(1, 1.0));
            }
            deltas.end();
        }
        assert!(deltas.seen.len() <= MAX_TRACKED);
        assert!(deltas.seen.contains_key(&(2_000_000, 1, true)));
        assert!(!deltas.seen.contains_key(&(0, 1, true)));
    }

    #[test]
    fn guidance_has_the_steps() {
        for installed in [false, true] {
            let text = statements_guidance("app", installed);
            assert!(
                text.contains("shared_preload_libraries = 'pg_stat_statements'"),
                "{text}"
            );
            assert!(text.contains("restart PostgreSQL"), "{text}");
            assert!(
                text.contains("CREATE EXTENSION pg_stat_statements;"),
                "{text}"
            );
            assert!(text.contains("database app"), "{text}");
        }
        assert!(statements_guidance("My DB", false).contains("database \"My DB\""));
    }

    #[test]
    fn statements_queries_follow_the_extension_version() {
        let new = counters_sql("public", (1, 11), StatementSort::MeanTime);
        assert!(new.starts_with(MARKER), "{new}");
        assert!(new.contains("pg_stat_statements(false)"), "{new}");
        assert!(new.contains("ORDER BY s.mean_exec_time DESC"), "{new}");
        assert!(new.contains("s.toplevel"), "{new}");
        assert!(new.contains("s.stats_since"), "{new}");
        let old = counters_sql("\"my schema\"", (1, 7), StatementSort::TotalTime);
        assert!(old.contains("ORDER BY s.total_time DESC"), "{old}");
        assert!(
            old.contains("FROM \"my schema\".pg_stat_statements(false)"),
            "{old}"
        );
        assert!(!old.contains("s.toplevel"), "{old}");
        let calls = counters_sql("public", (1, 10), StatementSort::Calls);
        assert!(calls.contains("ORDER BY s.calls DESC"), "{calls}");
        let rows = counters_sql("public", (1, 10), StatementSort::Rows);
        assert!(rows.contains("ORDER BY s.rows DESC"), "{rows}");
        let texts = texts_sql("public", (1, 10));
        assert!(texts.starts_with(MARKER), "{texts}");
        assert!(texts.contains("pg_stat_statements(true)"), "{texts}");
        assert_eq!(parse_extversion("1.10"), (1, 10));
        assert_eq!(parse_extversion("2"), (2, 0));
    }

    #[test]
    fn only_recent_texts_are_kept() {
        let mut state = StatementState::default();
        for refresh in 1..=10_u64 {
            state.refresh = refresh;
            for n in 0..50 {
                let key = (refresh as i64 * 1_000 + n, 1, true);
                state.texts.insert(key, (format!("SELECT {n}"), refresh));
            }
            state.prune(20);
        }
        assert!(state.texts.len() <= 200, "{}", state.texts.len());
        assert!(state.texts.contains_key(&(10_000, 1, true)));
        assert!(!state.texts.contains_key(&(1_000, 1, true)));
    }

    #[test]
    fn every_monitoring_query_is_marked() {
        for statement in [
            sql::QUERIES_SERVER_VERSION,
            sql::QUERIES_INFO,
            sql::QUERIES_STATEMENT_COUNTERS,
            sql::QUERIES_STATEMENT_TEXTS,
            sql::QUERIES_SESSIONS,
            sql::QUERIES_LOCKED_RELATIONS,
            sql::QUERIES_DATABASE_SIZE,
            sql::QUERIES_LARGEST_TABLES,
            sql::QUERIES_INDEXES,
            sql::QUERIES_PROGRESS,
            sql::SERVICE_POSTGRES_ALIVE,
            sql::SERVICE_POSTGRES_FIGURES,
        ] {
            assert!(statement.starts_with(MARKER), "{statement}");
        }
    }
}
