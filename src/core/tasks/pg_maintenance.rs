//! `db-vacuum-analyze` and `db-reindex`: VACUUM (ANALYZE) on the largest tables (or a list) one
//! at a time with dead tuples before and after, and REINDEX INDEX CONCURRENTLY with a free-disk
//! pre-flight. Cancellation reaches the server through `pg_cancel_backend`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Connection, Decode, Row, SqlSafeStr, Type};
use tokio_util::sync::CancellationToken;

use super::{ParamSpec, Params, Plan, PlanStep, TaskContext, TaskError, TaskSummary};
use crate::core::checks::rules::format_bytes;
use crate::core::sources::pg::{Canceller, Limits, Server, sql_message, watch};
use crate::core::sources::secrets::mask_url;
use crate::core::sql;

#[derive(Debug, Clone, PartialEq)]
pub struct VacuumSettings {
    pub url: String,
    /// Tables to vacuum (`schema.table`); empty means the `largest` biggest tables.
    pub tables: Vec<String>,
    pub largest: usize,
    /// Pre-flight warns when a transaction has been open longer than this.
    pub max_transaction_age: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReindexSettings {
    pub url: String,
    /// Indexes to rebuild (`schema.index`).
    pub indexes: Vec<String>,
}

pub const VACUUM_PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "table",
    description: "vacuum only this table (schema.table)",
}];

pub const REINDEX_PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "index",
    description: "rebuild only this index (schema.index)",
}];

const VACUUM_TASK: &str = "db-vacuum-analyze";
const REINDEX_TASK: &str = "db-reindex";
/// `statement_timeout` for catalog and statistics queries, set for the session when it connects.
/// VACUUM and REINDEX run without one (`SET statement_timeout = 0`, then `RESET`).
const CATALOG_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait for a VACUUM to show up in the statistics views.
const STATS_WAIT: Duration = Duration::from_secs(2);
const STATS_POLL: Duration = Duration::from_millis(50);
/// Long transactions named one by one in the pre-flight warning; the rest are counted.
const LONG_TRANSACTIONS_SHOWN: usize = 5;

type PgQuery = Query<'static, Postgres, PgArguments>;

// ---------------------------------------------------------------------------
// db-vacuum-analyze
// ---------------------------------------------------------------------------

pub async fn plan_vacuum(settings: &VacuumSettings, params: &Params) -> Result<Plan, TaskError> {
    let given = param(params, "table", "schema.table")?;
    let mut db = Db::open(&settings.url, VACUUM_TASK, None).await?;
    let mut plan = Plan {
        warnings: long_transactions(&mut db, settings.max_transaction_age).await?,
        ..Plan::default()
    };
    let tables = vacuum_targets(&mut db, settings, given).await?;
    if tables.is_empty() {
        plan.steps.push(Plan::note(format!(
            "no user tables in {}: nothing to vacuum",
            db.url
        )));
    }
    for table in &tables {
        let figures = table_figures(&mut db, table).await?;
        plan.steps.push(PlanStep::Sql {
            database: db.url.clone(),
            statement: vacuum_statement(&table.name),
        });
        plan.steps.push(Plan::note(format!(
            "  {}: {}, {} dead tuples, {} live",
            table.name,
            bytes(figures.bytes),
            thousands(figures.dead),
            thousands(figures.live)
        )));
    }
    db.close().await;
    Ok(plan)
}

pub async fn run_vacuum(
    settings: &VacuumSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let given = param(&context.params, "table", "schema.table")?;
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    let out = &context.output;
    let mut db = Db::open(&settings.url, VACUUM_TASK, Some(&context.cancel)).await?;
    for warning in long_transactions(&mut db, settings.max_transaction_age).await? {
        out.line(format!("warning: {warning}"));
    }
    let tables = vacuum_targets(&mut db, settings, given).await?;
    if tables.is_empty() {
        db.close().await;
        return Ok(TaskSummary {
            exit_code: None,
            summary: format!(
                "no user tables in {}: nothing to vacuum",
                db_url(&settings.url)
            ),
        });
    }
    let stats = db
        .row(
            sqlx::query(sql::MAINTENANCE_STATISTICS_SETTINGS),
            "checking the statistics settings",
        )
        .await?;
    let force_flush: bool = column(&stats, "force_flush")?;
    let track_counts: bool = column(&stats, "track_counts")?;
    let names: Vec<&str> = tables.iter().map(|table| table.name.as_str()).collect();
    out.line(format!(
        "vacuuming {} on {}: {}",
        count(tables.len(), "table", "tables"),
        db.url,
        names.join(", ")
    ));

    let started = Instant::now();
    let (mut dead_before, mut dead_after) = (0_i64, 0_i64);
    for (done, table) in tables.iter().enumerate() {
        if context.cancel.is_cancelled() {
            out.line(format!(
                "cancelled after {done} of {}",
                count(tables.len(), "table", "tables")
            ));
            return Err(TaskError::Cancelled);
        }
        let before = table_figures(&mut db, table).await?;
        let statement = vacuum_statement(&table.name);
        db.raw("SET statement_timeout = 0", "lifting the statement timeout")
            .await?;
        let took = Instant::now();
        match db.raw(AssertSqlSafe(statement.clone()), &statement).await {
            Err(TaskError::Cancelled) => {
                out.line(format!("{}: cancelled during VACUUM", table.name));
                return Err(TaskError::Cancelled);
            }
            other => other?,
        }
        let took = took.elapsed();
        db.raw("RESET statement_timeout", "restoring the statement timeout")
            .await?;
        if force_flush {
            db.raw(sql::MAINTENANCE_FLUSH_STATISTICS, "flushing statistics")
                .await?;
        }
        let (after, settled) =
            settled_figures(&mut db, table, before.vacuums, track_counts).await?;
        dead_before += before.dead;
        dead_after += after.dead;
        out.line(format!(
            "{}: {}, {} -> {}, dead tuples {} -> {}{}",
            table.name,
            seconds(took),
            bytes(before.bytes),
            bytes(after.bytes),
            thousands(before.dead),
            thousands(after.dead),
            if settled {
                ""
            } else {
                " (statistics not updated yet)"
            }
        ));
    }
    db.close().await;
    Ok(TaskSummary {
        exit_code: None,
        summary: format!(
            "vacuumed {} in {}; dead tuples {} -> {}",
            count(tables.len(), "table", "tables"),
            seconds(started.elapsed()),
            thousands(dead_before),
            thousands(dead_after)
        ),
    })
}

/// Filled in Rust because a table name cannot be a bind parameter; `table` comes quoted by the
/// server (`format('%I.%I')`).
fn vacuum_statement(table: &str) -> String {
    sql::fill(sql::MAINTENANCE_VACUUM, &[("table", table)])
}

/// The tables to vacuum: the `table` parameter, else the configured list, else the largest.
async fn vacuum_targets(
    db: &mut Db,
    settings: &VacuumSettings,
    given: Option<&str>,
) -> Result<Vec<Relation>, TaskError> {
    const KINDS: &[&str] = &["r", "m", "p"];
    if let Some(given) = given {
        let hint = "check the table parameter (schema.table)";
        return Ok(vec![resolve(db, given, "table", KINDS, hint).await?]);
    }
    if !settings.tables.is_empty() {
        let hint = format!("check [tasks.{VACUUM_TASK}] tables (schema.table)");
        let mut tables: Vec<Relation> = Vec::new();
        for given in &settings.tables {
            let table = resolve(db, given, "table", KINDS, &hint).await?;
            if !tables.iter().any(|known| known.oid == table.oid) {
                tables.push(table);
            }
        }
        return Ok(tables);
    }
    let largest = i64::try_from(settings.largest).unwrap_or(i64::MAX);
    let rows = db
        .rows(
            sqlx::query(sql::MAINTENANCE_LARGEST_TABLES).bind(largest),
            "listing the largest tables",
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Relation {
                oid: column(row, "oid")?,
                name: column(row, "name")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct TableFigures {
    bytes: i64,
    dead: i64,
    live: i64,
    vacuums: i64,
}

async fn table_figures(db: &mut Db, table: &Relation) -> Result<TableFigures, TaskError> {
    let row = db
        .optional(
            sqlx::query(sql::MAINTENANCE_TABLE_FIGURES).bind(table.oid),
            &format!("reading the size and dead tuples of {}", table.name),
        )
        .await?;
    let Some(row) = row else {
        return Err(TaskError::failed(format!(
            "table {} disappeared from {} while the task ran",
            table.name, db.url
        )));
    };
    Ok(TableFigures {
        bytes: column(&row, "bytes")?,
        dead: column(&row, "dead")?,
        live: column(&row, "live")?,
        vacuums: column(&row, "vacuums")?,
    })
}

/// The figures after a VACUUM, once the statistics show it (or after a short wait); the flag
/// says whether they did.
async fn settled_figures(
    db: &mut Db,
    table: &Relation,
    vacuums_before: i64,
    track_counts: bool,
) -> Result<(TableFigures, bool), TaskError> {
    let deadline = Instant::now() + STATS_WAIT;
    loop {
        db.raw(sql::MAINTENANCE_CLEAR_SNAPSHOT, "refreshing statistics")
            .await?;
        let figures = table_figures(db, table).await?;
        let settled = figures.vacuums > vacuums_before;
        if settled || !track_counts || Instant::now() >= deadline {
            return Ok((figures, settled || !track_counts));
        }
        if db.cancelled() {
            return Err(TaskError::Cancelled);
        }
        tokio::time::sleep(STATS_POLL).await;
    }
}

/// Pre-flight: transactions open longer than `max_age` in this database, each a warning.
async fn long_transactions(db: &mut Db, max_age: Duration) -> Result<Vec<String>, TaskError> {
    let rows = db
        .rows(
            sqlx::query(sql::MAINTENANCE_LONG_TRANSACTIONS).bind(max_age.as_secs_f64()),
            "looking for long-running transactions",
        )
        .await?;
    let limit = humantime::format_duration(Duration::from_secs(max_age.as_secs()));
    let mut warnings = Vec::new();
    for row in rows.iter().take(LONG_TRANSACTIONS_SHOWN) {
        let pid: i32 = column(row, "pid")?;
        let user: String = column(row, "usename")?;
        let state: String = column(row, "state")?;
        let age: f64 = column(row, "age")?;
        let query: String = column(row, "query")?;
        let age = humantime::format_duration(Duration::from_secs(age.max(0.0) as u64));
        warnings.push(format!(
            "pid {pid} (user {user}, {state}) has had a transaction open for {age} (longer than \
             {limit}): VACUUM cannot remove dead tuples newer than the oldest open transaction; \
             last query: {query}"
        ));
    }
    if rows.len() > LONG_TRANSACTIONS_SHOWN {
        warnings.push(format!(
            "and {} more transactions open longer than {limit}",
            rows.len() - LONG_TRANSACTIONS_SHOWN
        ));
    }
    Ok(warnings)
}

// ---------------------------------------------------------------------------
// db-reindex
// ---------------------------------------------------------------------------

pub async fn plan_reindex(settings: &ReindexSettings, params: &Params) -> Result<Plan, TaskError> {
    let wanted = reindex_wanted(settings, params)?;
    let mut db = Db::open(&settings.url, REINDEX_TASK, None).await?;
    let preflight = reindex_preflight(&mut db, &wanted).await?;
    let mut plan = Plan {
        warnings: preflight.warnings,
        refusal: (!preflight.refusals.is_empty()).then(|| preflight.refusals.join("; ")),
        ..Plan::default()
    };
    for target in &preflight.targets {
        plan.steps.push(PlanStep::Sql {
            database: db.url.clone(),
            statement: reindex_statement(&target.index.name),
        });
        let room = match &target.room {
            Room::Free { bytes: free, place } => format!("{} free on {place}", bytes_u(*free)),
            Room::Unknown(_) => "free disk unknown".to_owned(),
        };
        plan.steps.push(Plan::note(format!(
            "  {}: {}; {room}",
            target.index.name,
            bytes_u(target.bytes)
        )));
    }
    db.close().await;
    Ok(plan)
}

pub async fn run_reindex(
    settings: &ReindexSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let wanted = reindex_wanted(settings, &context.params)?;
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    let out = &context.output;
    let mut db = Db::open(&settings.url, REINDEX_TASK, Some(&context.cancel)).await?;
    let preflight = reindex_preflight(&mut db, &wanted).await?;
    if !preflight.refusals.is_empty() {
        return Err(TaskError::failed(preflight.refusals.join("\n")));
    }
    for warning in &preflight.warnings {
        out.line(format!("warning: {warning}"));
    }
    let targets = &preflight.targets;
    out.line(format!(
        "rebuilding {} on {}",
        count(targets.len(), "index", "indexes"),
        db.url
    ));

    let started = Instant::now();
    let (mut total_before, mut total_after) = (0_u64, 0_u64);
    for (done, target) in targets.iter().enumerate() {
        if context.cancel.is_cancelled() {
            out.line(format!(
                "cancelled after {done} of {}",
                count(targets.len(), "index", "indexes")
            ));
            return Err(TaskError::Cancelled);
        }
        let name = &target.index.name;
        let before = index_details(&mut db, &target.index).await?;
        let statement = reindex_statement(name);
        db.raw("SET statement_timeout = 0", "lifting the statement timeout")
            .await?;
        let took = Instant::now();
        match db.raw(AssertSqlSafe(statement.clone()), &statement).await {
            Err(TaskError::Cancelled) => {
                out.line(format!(
                    "{name}: cancelled during REINDEX; an invalid copy of it (named ..._ccnew) may \
                     be left behind: drop it with DROP INDEX CONCURRENTLY"
                ));
                return Err(TaskError::Cancelled);
            }
            other => other?,
        }
        let took = took.elapsed();
        db.raw("RESET statement_timeout", "restoring the statement timeout")
            .await?;
        // The rebuilt index is a new relation under the old name.
        let hint = "it was rebuilt but cannot be found again";
        let rebuilt = resolve(&mut db, name, "index", &["i", "I"], hint).await?;
        let after = index_details(&mut db, &rebuilt).await?;
        total_before += before.bytes;
        total_after += after.bytes;
        out.line(format!(
            "{name}: {}, {} -> {}{}",
            seconds(took),
            bytes_u(before.bytes),
            bytes_u(after.bytes),
            if after.valid {
                ""
            } else {
                " (the index is NOT valid)"
            }
        ));
    }
    db.close().await;
    Ok(TaskSummary {
        exit_code: None,
        summary: format!(
            "rebuilt {} in {}; size {} -> {}",
            count(targets.len(), "index", "indexes"),
            seconds(started.elapsed()),
            bytes_u(total_before),
            bytes_u(total_after)
        ),
    })
}

/// The refusal for rebuilding `index` (`index_bytes` big) when only `free_bytes` are free on
/// `place`: REINDEX CONCURRENTLY builds a complete second copy before dropping the old one.
pub fn refusal_for(index: &str, index_bytes: u64, free_bytes: u64, place: &str) -> Option<String> {
    (free_bytes < index_bytes).then(|| {
        format!(
            "REINDEX INDEX CONCURRENTLY {index} needs {} free for the rebuild, only {} free on \
             {place}; free some space there first",
            bytes_u(index_bytes),
            bytes_u(free_bytes)
        )
    })
}

/// Filled in Rust because an index name cannot be a bind parameter; `index` comes quoted by the
/// server (`format('%I.%I')`).
fn reindex_statement(index: &str) -> String {
    sql::fill(sql::MAINTENANCE_REINDEX, &[("index", index)])
}

/// The indexes asked for: the `index` parameter, else the configured list.
fn reindex_wanted(
    settings: &ReindexSettings,
    params: &Params,
) -> Result<Vec<(String, String)>, TaskError> {
    if let Some(given) = param(params, "index", "schema.index")? {
        return Ok(vec![(
            given.to_owned(),
            "check the index parameter (schema.index)".to_owned(),
        )]);
    }
    if settings.indexes.is_empty() {
        return Err(TaskError::failed(format!(
            "no indexes configured: set [tasks.{REINDEX_TASK}] indexes (schema.index, ...) or pass \
             the index parameter"
        )));
    }
    let hint = format!("check [tasks.{REINDEX_TASK}] indexes (schema.index)");
    Ok(settings
        .indexes
        .iter()
        .map(|given| (given.clone(), hint.clone()))
        .collect())
}

struct IndexTarget {
    index: Relation,
    bytes: u64,
    room: Room,
}

#[derive(Default)]
struct ReindexPreflight {
    targets: Vec<IndexTarget>,
    warnings: Vec<String>,
    refusals: Vec<String>,
}

async fn reindex_preflight(
    db: &mut Db,
    wanted: &[(String, String)],
) -> Result<ReindexPreflight, TaskError> {
    let mut preflight = ReindexPreflight::default();
    let mut rooms: BTreeMap<u32, Room> = BTreeMap::new();
    for (given, hint) in wanted {
        let index = resolve(db, given, "index", &["i", "I"], hint).await?;
        if preflight
            .targets
            .iter()
            .any(|target| target.index.oid == index.oid)
        {
            continue;
        }
        let details = index_details(db, &index).await?;
        let room = match rooms.get(&details.tablespace.0) {
            Some(room) => room.clone(),
            None => {
                let room = free_room(db, details.tablespace).await?;
                rooms.insert(details.tablespace.0, room.clone());
                room
            }
        };
        match &room {
            Room::Free { bytes: free, place } => {
                preflight
                    .refusals
                    .extend(refusal_for(&index.name, details.needed, *free, place));
            }
            Room::Unknown(reason) => preflight.warnings.push(format!(
                "cannot tell whether the server has the {} free that rebuilding {} needs: {reason}",
                bytes_u(details.needed),
                index.name
            )),
        }
        if !details.valid {
            preflight.warnings.push(format!(
                "{} is currently invalid (a failed CREATE INDEX CONCURRENTLY?); the rebuild should \
                 make it valid again",
                index.name
            ));
        }
        preflight.targets.push(IndexTarget {
            index,
            bytes: details.bytes,
            room,
        });
    }
    Ok(preflight)
}

struct IndexDetails {
    /// On disk now (for a partitioned index, all its partitions).
    bytes: u64,
    /// Free space the rebuild needs: the index, or its largest partition.
    needed: u64,
    tablespace: Oid,
    valid: bool,
}

async fn index_details(db: &mut Db, index: &Relation) -> Result<IndexDetails, TaskError> {
    let row = db
        .optional(
            sqlx::query(sql::MAINTENANCE_INDEX_DETAILS).bind(index.oid),
            &format!("reading the size of {}", index.name),
        )
        .await?;
    let Some(row) = row else {
        return Err(TaskError::failed(format!(
            "index {} disappeared from {} while the task ran",
            index.name, db.url
        )));
    };
    let size =
        |name: &str| column::<i64>(&row, name).map(|value| u64::try_from(value).unwrap_or(0));
    Ok(IndexDetails {
        bytes: size("bytes")?,
        needed: size("needed")?,
        tablespace: column(&row, "tablespace")?,
        valid: column(&row, "valid")?,
    })
}

/// Free disk where a tablespace lives, when that can be known from here.
#[derive(Debug, Clone)]
enum Room {
    Free { bytes: u64, place: String },
    Unknown(String),
}

async fn free_room(db: &mut Db, tablespace: Oid) -> Result<Room, TaskError> {
    if !db.local {
        return Ok(Room::Unknown(format!(
            "the server ({}) is not on this host; check its free disk yourself",
            db.host
        )));
    }
    let row = db
        .optional(
            sqlx::query(sql::MAINTENANCE_TABLESPACE).bind(tablespace),
            "reading the tablespace",
        )
        .await?;
    let (name, location) = match row {
        Some(row) => (
            column::<String>(&row, "name")?,
            column::<String>(&row, "location")?,
        ),
        None => (String::new(), String::new()),
    };
    let place = if location.is_empty() {
        let reply = db
            .try_row(sqlx::query(sql::MAINTENANCE_DATA_DIRECTORY))
            .await?;
        match reply {
            Ok(row) => column::<String>(&row, "dir")?,
            Err(error) => {
                return Ok(Room::Unknown(format!(
                    "cannot read data_directory ({}); it needs superuser or pg_read_all_settings",
                    sql_message(&error)
                )));
            }
        }
    } else {
        location
    };
    match rustix::fs::statvfs(place.as_str()) {
        Ok(stat) => Ok(Room::Free {
            bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
            place: if name.is_empty() || name == "pg_default" {
                place
            } else {
                format!("{place} (tablespace {name})")
            },
        }),
        Err(error) => Ok(Room::Unknown(format!(
            "cannot check free space on {place} from here: {error}"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Shared: connection, cancellation, names, formatting
// ---------------------------------------------------------------------------

/// A table or index, with its name quoted for SQL (`schema.name`).
#[derive(Debug, Clone)]
struct Relation {
    oid: Oid,
    name: String,
}

/// Looks up `given` (`schema.name`, or a name on the search path) as one of `kinds` (pg_class
/// relkind); the name comes back quoted by the server (`format('%I.%I')`).
async fn resolve(
    db: &mut Db,
    given: &str,
    noun: &str,
    kinds: &[&str],
    hint: &str,
) -> Result<Relation, TaskError> {
    let row = db
        .optional(
            sqlx::query(sql::MAINTENANCE_RESOLVE_RELATION).bind(given.to_owned()),
            &format!("looking up {noun} `{given}`"),
        )
        .await?;
    let Some(row) = row else {
        return Err(TaskError::failed(format!(
            "{noun} `{given}` not found in {}\n  fix: {hint}",
            db.url
        )));
    };
    let kind: String = column(&row, "kind")?;
    if !kinds.contains(&kind.as_str()) {
        return Err(TaskError::failed(format!(
            "`{given}` in {} is {}, not {}\n  fix: {hint}",
            db.url,
            relkind_name(&kind),
            if noun == "index" {
                "an index"
            } else {
                "a table"
            }
        )));
    }
    Ok(Relation {
        oid: column(&row, "oid")?,
        name: column(&row, "name")?,
    })
}

fn relkind_name(kind: &str) -> &'static str {
    match kind {
        "r" => "a table",
        "p" => "a partitioned table",
        "m" => "a materialized view",
        "i" => "an index",
        "I" => "a partitioned index",
        "v" => "a view",
        "S" => "a sequence",
        "f" => "a foreign table",
        "c" => "a composite type",
        "t" => "a TOAST table",
        _ => "something else",
    }
}

/// A connection to the server the task works on, and, for runs, what it takes to stop a
/// statement on it from outside.
struct Db {
    conn: PgConnection,
    canceller: Option<Canceller>,
    /// The URL with any password masked, for messages and plan steps.
    url: String,
    host: String,
    /// Whether the server runs on this host (so its disks can be looked at).
    local: bool,
}

impl Db {
    async fn open(
        url: &str,
        task: &str,
        cancel: Option<&CancellationToken>,
    ) -> Result<Db, TaskError> {
        let server = Server::new(
            url,
            crate::core::TASK_APPLICATION,
            &format!("[tasks.{task}] url"),
        )?;
        let options = server.options();
        let host = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => options.get_host().to_owned(),
        };
        let local = server_is_local(options);
        let mut conn = server
            .connect(Limits::statement(CATALOG_TIMEOUT), cancel)
            .await?;
        let canceller = match cancel {
            None => None,
            Some(token) => Some(Canceller::new(&server, &mut conn, token).await?),
        };
        Ok(Db {
            conn,
            canceller,
            url: server.shown().to_owned(),
            host,
            local,
        })
    }

    fn cancelled(&self) -> bool {
        self.canceller.as_ref().is_some_and(Canceller::is_cancelled)
    }

    fn failed(&self, what: &str, error: &sqlx::Error) -> TaskError {
        TaskError::failed(format!("{what} on {}: {}", self.url, sql_message(error)))
    }

    async fn rows(&mut self, query: PgQuery, what: &str) -> Result<Vec<PgRow>, TaskError> {
        let watched = watch(self.canceller.as_mut(), query.fetch_all(&mut self.conn)).await;
        let reply = watched.settle(&mut self.conn).await?;
        reply.map_err(|error| self.failed(what, &error))
    }

    async fn optional(&mut self, query: PgQuery, what: &str) -> Result<Option<PgRow>, TaskError> {
        let watched = watch(
            self.canceller.as_mut(),
            query.fetch_optional(&mut self.conn),
        )
        .await;
        let reply = watched.settle(&mut self.conn).await?;
        reply.map_err(|error| self.failed(what, &error))
    }

    async fn row(&mut self, query: PgQuery, what: &str) -> Result<PgRow, TaskError> {
        let reply = self.try_row(query).await?;
        reply.map_err(|error| self.failed(what, &error))
    }

    /// One row, with a server error left to the caller; only cancellation is an `Err`.
    async fn try_row(&mut self, query: PgQuery) -> Result<Result<PgRow, sqlx::Error>, TaskError> {
        let watched = watch(self.canceller.as_mut(), query.fetch_one(&mut self.conn)).await;
        Ok(watched.settle(&mut self.conn).await?)
    }

    /// A statement without parameters (simple protocol: VACUUM, REINDEX, SET).
    async fn raw(&mut self, sql: impl SqlSafeStr, what: &str) -> Result<(), TaskError> {
        let watched = watch(
            self.canceller.as_mut(),
            sqlx::raw_sql(sql).execute(&mut self.conn),
        )
        .await;
        let reply = watched.settle(&mut self.conn).await?;
        reply.map(|_| ()).map_err(|error| self.failed(what, &error))
    }

    async fn close(self) {
        let Db {
            conn, canceller, ..
        } = self;
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        if let Some(canceller) = canceller {
            canceller.close().await;
        }
    }
}

fn server_is_local(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    options.get_socket().is_some()
        || host.starts_with('/')
        || matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

fn db_url(url: &str) -> String {
    mask_url(url)
}

/// A column of a catalog reply, or a clear failure naming it.
pub(super) fn column<T>(row: &PgRow, name: &str) -> Result<T, TaskError>
where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(name).map_err(|error| {
        TaskError::failed(format!(
            "unexpected reply from the server (column {name}): {error}"
        ))
    })
}

/// A parameter's value; an empty one is a mistake rather than "not given".
fn param<'p>(params: &'p Params, name: &str, shape: &str) -> Result<Option<&'p str>, TaskError> {
    match params.get(name).map(|value| value.trim()) {
        None => Ok(None),
        Some("") => Err(TaskError::BadParam {
            name: name.to_owned(),
            message: format!("give it as {shape}"),
        }),
        Some(value) => Ok(Some(value)),
    }
}

fn bytes(value: i64) -> String {
    format_bytes(value as f64)
}

fn bytes_u(value: u64) -> String {
    format_bytes(value as f64)
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `4500` -> `4,500`.
fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_when_free_space_is_smaller_than_the_index() {
        let refusal = refusal_for(
            "public.orders_pkey",
            3 << 30,
            800 << 20,
            "/var/lib/postgresql",
        )
        .unwrap();
        assert!(refusal.contains("public.orders_pkey"), "{refusal}");
        assert!(refusal.contains("3.00 GiB"), "{refusal}");
        assert!(refusal.contains("800 MiB"), "{refusal}");
        assert!(refusal.contains("/var/lib/postgresql"), "{refusal}");
    }

    #[test]
    fn no_refusal_when_there_is_room() {
        assert_eq!(refusal_for("public.i", 100, 100, "/data"), None);
        assert_eq!(refusal_for("public.i", 0, 0, "/data"), None);
        assert!(refusal_for("public.i", 101, 100, "/data").is_some());
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4500), "4,500");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-40_000), "-40,000");
    }

    #[test]
    fn local_servers_are_recognised() {
        let local = |url: &str| server_is_local(&std::str::FromStr::from_str(url).unwrap());
        assert!(local("postgres://u@127.0.0.1:5432/db"));
        assert!(local("postgres://u@localhost/db"));
        assert!(local("postgres://u@[::1]:5432/db"));
        assert!(local("postgres:///db?host=/var/run/postgresql"));
        assert!(!local("postgres://u@db.example.com/db"));
        assert!(!local("postgres://u@10.0.0.5/db"));
    }

    #[test]
    fn statements() {
        assert_eq!(
            vacuum_statement("public.orders"),
            "VACUUM (ANALYZE) public.orders"
        );
        assert_eq!(
            reindex_statement("\"Sales\".\"Orders_idx\""),
            "REINDEX INDEX CONCURRENTLY \"Sales\".\"Orders_idx\""
        );
    }

    #[test]
    fn empty_parameters_are_rejected() {
        let mut params = Params::new();
        assert_eq!(param(&params, "table", "schema.table"), Ok(None));
        params.insert("table".into(), " public.t ".into());
        assert_eq!(
            param(&params, "table", "schema.table"),
            Ok(Some("public.t"))
        );
        params.insert("table".into(), "  ".into());
        assert!(matches!(
            param(&params, "table", "schema.table"),
            Err(TaskError::BadParam { .. })
        ));
    }
}
