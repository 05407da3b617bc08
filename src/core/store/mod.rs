//! The state store: alerts and pending rule state, on SQLite by default or on a shared
//! PostgreSQL. One schema and one set of queries serve both (through sqlx's `Any` driver),
//! with times stored as Unix milliseconds.
//!
//! The store owns the connection, the schema and the alert, rule and task-run records; each
//! domain keeps the queries for its own records beside its types (`backups::records`,
//! `checklists::records`, `history::records`, `incidents::records`, `logs::records`,
//! `reports::records`), so the store imports no domain and the domains import the store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row, SqlSafeStr};
use thiserror::Error;

use crate::core::checks::PendingRecord;
use crate::core::model::{Alert, RunStatus, Status, TaskRun, Unit, fleet_wide_prefixes};
use crate::core::sources::secrets::mask_url;

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreLocation {
    /// How to name this location to a person: file path, or URL with the password masked.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sqlite(path) => path.display().to_string(),
            StoreLocation::Postgres(url) => mask_url(url),
        }
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "cannot create the state directory {dir}: {reason}\n  fix: make it writable, or pass --state FILE, or set [store] url in the config"
    )]
    CreateDir { dir: String, reason: std::io::Error },
    #[error("cannot open the state database {location}: {message}\n  fix: {fix}")]
    Open {
        location: String,
        message: String,
        fix: &'static str,
    },
    #[error("state database {location}: {reason}")]
    Query {
        location: String,
        reason: sqlx::Error,
    },
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "alerts",
        include_str!("../../../migrations/0001_alerts.sql"),
    ),
    (
        2,
        "task runs",
        include_str!("../../../migrations/0002_task_runs.sql"),
    ),
    (
        3,
        "service results",
        include_str!("../../../migrations/0003_service_results.sql"),
    ),
    (
        4,
        "backups",
        include_str!("../../../migrations/0004_backups.sql"),
    ),
    (
        5,
        "checklists",
        include_str!("../../../migrations/0005_checklists.sql"),
    ),
    (
        6,
        "incidents",
        include_str!("../../../migrations/0006_incidents.sql"),
    ),
    (
        7,
        "log offsets",
        include_str!("../../../migrations/0007_log_offsets.sql"),
    ),
    (
        8,
        "journal cursors",
        include_str!("../../../migrations/0008_journal_cursors.sql"),
    ),
    (
        9,
        "metric history",
        include_str!("../../../migrations/0009_metric_history.sql"),
    ),
    (
        10,
        "report statements",
        include_str!("../../../migrations/0010_report_statements.sql"),
    ),
    (
        11,
        "task run triggers",
        include_str!("../../../migrations/0011_task_run_triggers.sql"),
    ),
    (
        12,
        "heartbeats",
        include_str!("../../../migrations/0012_heartbeats.sql"),
    ),
    (
        13,
        "change log",
        include_str!("../../../migrations/0013_change_log.sql"),
    ),
    (
        14,
        "metric history hosts",
        include_str!("../../../migrations/0014_metric_history_hosts.sql"),
    ),
    (
        15,
        "schedule watch",
        include_str!("../../../migrations/0015_schedule_watch.sql"),
    ),
    (
        16,
        "alerts, pending conditions and schedules per host",
        include_str!("../../../migrations/0016_hosts.sql"),
    ),
];

/// Migrations whose PostgreSQL text differs: the shared store logs changes by trigger and
/// announces them, which a single-host SQLite file has no use for.
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[(
    13,
    include_str!("../../../migrations/0013_change_log.postgres.sql"),
)];

/// How often opening the store tries to bring the schema up to date.
const MIGRATION_ATTEMPTS: u64 = 5;

fn migrator(postgres: bool) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                let sql = POSTGRES_MIGRATIONS
                    .iter()
                    .find(|(other, _)| postgres && other == version)
                    .map_or(*sql, |(_, sql)| *sql);
                Migration::new(
                    *version,
                    (*description).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// What storing a newly opened alert came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertOpening {
    Stored,
    /// The host already had this alert open on the series; the new one was not stored.
    AlreadyOpen(Alert),
}

/// What storing an open alert's change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertUpdate {
    /// Stored; `raised` when this change raised its level (nobody else had).
    Stored { raised: bool },
    /// The store no longer has it open: nothing was changed.
    NotOpen,
}

/// One stored service check result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServiceResultRow {
    pub service: String,
    pub checked_at: DateTime<Utc>,
    pub ok: bool,
    pub latency_ms: Option<f64>,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    location: String,
    /// This store's writer id, unique across hosts and within a process: its PostgreSQL
    /// connections carry it as their application_name, so the change log says whose a change is.
    session: String,
    /// The PostgreSQL URL, for a connection of its own that listens for changes.
    shared_url: Option<String>,
    /// The host this handle acts for ('' until one is named, [`Store::for_host`]): whose
    /// metric history it reads and writes, and whose alerts and pending conditions it restores.
    pub(crate) host: String,
}

impl Store {
    pub async fn open(location: &StoreLocation) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let described = location.describe();
        let (url, fix, max_connections) = match location {
            StoreLocation::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|reason| StoreError::CreateDir {
                        dir: dir.display().to_string(),
                        reason,
                    })?;
                }
                (
                    sqlite_url(path),
                    "check that the file and its directory are writable, or pass --state FILE",
                    // One writer at a time anyway; a second connection is a second thread.
                    1,
                )
            }
            StoreLocation::Postgres(url) => (
                url.clone(),
                "check that PostgreSQL is running and the URL in [store] url is right (host, port, user, password, database)",
                4,
            ),
        };
        let open_error = |error: sqlx::Error| StoreError::Open {
            location: described.clone(),
            message: error.to_string(),
            fix,
        };
        if matches!(location, StoreLocation::Postgres(_)) {
            // The pool retries until its timeout and then only says "timed out"; one direct
            // attempt first reports the real cause (refused, bad password, unknown database).
            let attempt = tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(&url)).await;
            match attempt {
                Ok(Ok(connection)) => {
                    let _ = connection.close().await;
                }
                Ok(Err(error)) => return Err(open_error(error)),
                Err(_) => {
                    return Err(StoreError::Open {
                        location: described,
                        message: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                        fix,
                    });
                }
            }
        }
        let session = new_session();
        let application_name = format!("SET application_name = '{session}'");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(move |connection, _| {
                let application_name = application_name.clone();
                Box::pin(async move {
                    if connection.backend_name() == "PostgreSQL" {
                        connection
                            .execute(sqlx::AssertSqlSafe(application_name))
                            .await?;
                    }
                    if connection.backend_name() == "SQLite" {
                        connection.execute("PRAGMA journal_mode = WAL").await?;
                        connection.execute("PRAGMA busy_timeout = 5000").await?;
                        // The default 2 MB page cache would be a sixth of the console's memory;
                        // the state file is small and read a few times a minute.
                        connection.execute("PRAGMA cache_size = -256").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(open_error)?;
        // SQLite has no migration lock: consoles and cron jobs starting together on a new (or
        // just upgraded) file race to create the tables, and the losers see "already exists".
        // Each migration is one transaction, so after the winner commits a retry finds it done.
        let mut attempt = 1;
        loop {
            match migrator(matches!(location, StoreLocation::Postgres(_)))
                .run(&pool)
                .await
            {
                Ok(()) => break,
                Err(_) if attempt < MIGRATION_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => {
                    return Err(StoreError::Open {
                        location: described.clone(),
                        message: error.to_string(),
                        fix: "the schema could not be brought up to date; see the message above",
                    });
                }
            }
        }
        let shared_url = match location {
            StoreLocation::Postgres(url) => Some(url.clone()),
            StoreLocation::Sqlite(_) => None,
        };
        Ok(Store {
            pool,
            location: described,
            session,
            shared_url,
            host: String::new(),
        })
    }

    /// This store's writer id (see [`Store::session`]'s field).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The PostgreSQL URL when the store is shared between hosts; `None` on SQLite.
    pub fn shared_url(&self) -> Option<&str> {
        self.shared_url.as_deref()
    }

    /// This handle, acting for `host`. What was stored before the store named hosts becomes
    /// `host`'s: the first opsdeck of a host to open the store takes the unowned metric history,
    /// schedule watches and alerts (those on fleet-wide metrics become the fleet's).
    pub async fn for_host(mut self, host: &str) -> Result<Store, StoreError> {
        self.host = host.to_owned();
        if !host.is_empty() {
            self.adopt_unowned_history(host).await?;
            self.adopt_unowned_alerts(host).await?;
            sqlx::query(
                "UPDATE schedule_watch SET host = $1
                 WHERE host = '' AND NOT EXISTS (
                     SELECT 1 FROM schedule_watch AS own
                     WHERE own.host = $1 AND own.task_id = schedule_watch.task_id)",
            )
            .bind(host)
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
        }
        Ok(self)
    }

    /// The host this handle acts for ('' when none was named).
    pub fn host(&self) -> &str {
        &self.host
    }

    async fn adopt_unowned_alerts(&self, host: &str) -> Result<(), StoreError> {
        let [first, second, third] = fleet_wide_prefixes();
        // An open alert is left unowned (and shown, not restored) rather than made a second open
        // one of its series: that would break the one-open-alert index.
        sqlx::query(
            "UPDATE alerts SET host = CASE
                 WHEN metric LIKE $2 OR metric LIKE $3 OR metric LIKE $4 THEN '' ELSE $1 END
             WHERE host IS NULL AND (resolved_at IS NOT NULL OR NOT EXISTS (
                 SELECT 1 FROM alerts AS taken
                 WHERE taken.resolved_at IS NULL AND taken.host IS NOT NULL
                     AND taken.series_key = alerts.series_key))",
        )
        .bind(host)
        .bind(format!("{first}%"))
        .bind(format!("{second}%"))
        .bind(format!("{third}%"))
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    pub(crate) fn query_error(&self) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        |reason| StoreError::Query {
            location: self.location.clone(),
            reason,
        }
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Stores a newly opened alert, unless its host already has one open on the series (another
    /// console judging the same fleet-wide series, or the console and the exporter of one host):
    /// then that one is answered, and the new one is not stored.
    pub async fn insert_alert(&self, alert: &Alert) -> Result<AlertOpening, StoreError> {
        let host = alert.host.as_deref().unwrap_or_default();
        // The open one may be resolved between the two statements: then this opening stands.
        loop {
            let inserted = sqlx::query(
                "INSERT INTO alerts (id, series_key, metric, instance, host, level, opened_at, resolved_at, peak, threshold, unit)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (host, series_key) WHERE resolved_at IS NULL DO NOTHING",
            )
            .bind(&alert.id)
            .bind(&alert.key)
            .bind(&alert.metric)
            .bind(alert.instance.as_deref())
            .bind(host)
            .bind(alert.level.as_str())
            .bind(alert.opened_at.timestamp_millis())
            .bind(alert.resolved_at.map(|at| at.timestamp_millis()))
            .bind(alert.peak)
            .bind(alert.threshold)
            .bind(unit_name(alert.unit))
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
            if inserted.rows_affected() > 0 {
                return Ok(AlertOpening::Stored);
            }
            let query = sqlx::query(
                "SELECT id, series_key, metric, instance, host, level, opened_at, resolved_at, peak, threshold, unit
                 FROM alerts WHERE host = $1 AND series_key = $2 AND resolved_at IS NULL",
            )
            .bind(host)
            .bind(&alert.key);
            if let Some(open) = self.fetch_alerts(query).await?.pop() {
                return Ok(AlertOpening::AlreadyOpen(open));
            }
        }
    }

    /// Stores an open alert's new level, peak or resolution, unless the store no longer has it
    /// open (another console resolved it first): then nothing is changed.
    pub async fn update_alert(&self, alert: &Alert) -> Result<AlertUpdate, StoreError> {
        // The level first, on its own: of two consoles escalating one fleet-wide alert, only the
        // one whose statement raised it is told so (and notifies).
        let raised = sqlx::query(
            "UPDATE alerts SET level = $2 WHERE id = $1 AND resolved_at IS NULL AND level <> $2",
        )
        .bind(&alert.id)
        .bind(alert.level.as_str())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?
        .rows_affected()
            > 0;
        let updated = sqlx::query(
            "UPDATE alerts SET resolved_at = $2, peak = $3, threshold = $4
             WHERE id = $1 AND resolved_at IS NULL",
        )
        .bind(&alert.id)
        .bind(alert.resolved_at.map(|at| at.timestamp_millis()))
        .bind(alert.peak)
        .bind(alert.threshold)
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(if updated.rows_affected() > 0 {
            AlertUpdate::Stored { raised }
        } else {
            AlertUpdate::NotOpen
        })
    }

    /// The open alerts a console on `host` judges: that host's and the fleet's.
    pub async fn open_alerts(&self, host: &str) -> Result<Vec<Alert>, StoreError> {
        let query = sqlx::query(
            "SELECT id, series_key, metric, instance, host, level, opened_at, resolved_at, peak, threshold, unit
             FROM alerts WHERE resolved_at IS NULL AND (host = $1 OR host = '') ORDER BY opened_at",
        )
        .bind(host);
        self.fetch_alerts(query).await
    }

    /// Open alerts and those resolved since `since`, of every host, newest first, at most
    /// `limit`.
    pub async fn recent_alerts(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let query = sqlx::query(
            "SELECT id, series_key, metric, instance, host, level, opened_at, resolved_at, peak, threshold, unit
             FROM alerts WHERE resolved_at IS NULL OR resolved_at >= $1
             ORDER BY opened_at DESC LIMIT $2",
        )
        .bind(since.timestamp_millis())
        .bind(limit);
        self.fetch_alerts(query).await
    }

    /// One alert as stored now (another console's change to show); `None` if there is none.
    pub async fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        let query = sqlx::query(
            "SELECT id, series_key, metric, instance, host, level, opened_at, resolved_at, peak, threshold, unit
             FROM alerts WHERE id = $1",
        )
        .bind(id);
        Ok(self.fetch_alerts(query).await?.pop())
    }

    async fn fetch_alerts(
        &self,
        query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_error())?;
        rows.iter()
            .map(alert_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.query_error())
    }

    pub async fn save_pending(&self, record: &PendingRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rule_pending (host, series_key, warn_since, crit_since, last_seen) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (host, series_key) DO UPDATE SET warn_since = excluded.warn_since,
                 crit_since = excluded.crit_since, last_seen = excluded.last_seen",
        )
        .bind(&record.host)
        .bind(&record.key)
        .bind(record.warn_since.map(|at| at.timestamp_millis()))
        .bind(record.crit_since.map(|at| at.timestamp_millis()))
        .bind(record.last_seen.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    pub async fn clear_pending(&self, host: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rule_pending WHERE host = $1 AND series_key = $2")
            .bind(host)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
        Ok(())
    }

    /// The pending conditions a console on `host` judges: that host's and the fleet's.
    pub async fn pending(&self, host: &str) -> Result<Vec<PendingRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT host, series_key, warn_since, crit_since, last_seen FROM rule_pending
             WHERE host = $1 OR host = ''",
        )
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| {
                Ok(PendingRecord {
                    host: row.try_get("host")?,
                    key: row.try_get("series_key")?,
                    warn_since: row
                        .try_get::<Option<i64>, _>("warn_since")?
                        .map(from_millis),
                    crit_since: row
                        .try_get::<Option<i64>, _>("crit_since")?
                        .map(from_millis),
                    last_seen: from_millis(row.try_get("last_seen")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    pub async fn insert_run(&self, run: &TaskRun) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO task_runs (id, task_id, params, plan, user_name, client, host, pid, started_at,
                 ended_at, status, exit_code, summary, output, log_path, run_trigger)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&run.id)
        .bind(&run.task_id)
        .bind(serde_json::to_string(&run.params).unwrap_or_default())
        .bind(serde_json::to_string(&run.plan).unwrap_or_default())
        .bind(&run.user)
        .bind(run.client.as_deref())
        .bind(&run.host)
        .bind(i64::from(run.pid))
        .bind(run.started_at.timestamp_millis())
        .bind(run.ended_at.map(|at| at.timestamp_millis()))
        .bind(run.status.as_str())
        .bind(run.exit_code.map(i64::from))
        .bind(run.summary.as_deref())
        .bind(&run.output)
        .bind(run.log_path.as_deref())
        .bind(run.trigger.as_str())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// Records the end of a run (status, exit code, summary, output tail).
    pub async fn finish_run(&self, run: &TaskRun) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE task_runs SET ended_at = $2, status = $3, exit_code = $4, summary = $5, output = $6
             WHERE id = $1",
        )
        .bind(&run.id)
        .bind(run.ended_at.map(|at| at.timestamp_millis()))
        .bind(run.status.as_str())
        .bind(run.exit_code.map(i64::from))
        .bind(run.summary.as_deref())
        .bind(&run.output)
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// Saves the output so far of a run still going, so a crash loses at most a moment of it.
    pub async fn save_run_output(&self, id: &str, output: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE task_runs SET output = $2 WHERE id = $1")
            .bind(id)
            .bind(output)
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
        Ok(())
    }

    /// The newest runs first, of one task or of all, at most `limit`.
    pub async fn runs(
        &self,
        task_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TaskRun>, StoreError> {
        let query = sqlx::query(
            "SELECT * FROM task_runs WHERE ($1 = '' OR task_id = $1) ORDER BY started_at DESC LIMIT $2",
        )
        .bind(task_id.unwrap_or_default().to_owned());
        self.fetch_runs(query.bind(limit)).await
    }

    /// The newest `limit` runs made on `host` (a shared store also holds the other hosts').
    pub async fn host_runs(&self, host: &str, limit: i64) -> Result<Vec<TaskRun>, StoreError> {
        let query = sqlx::query(
            "SELECT * FROM task_runs WHERE host = $1 ORDER BY started_at DESC LIMIT $2",
        )
        .bind(host.to_owned());
        self.fetch_runs(query.bind(limit)).await
    }

    async fn fetch_runs<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<Vec<TaskRun>, StoreError> {
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_error())?;
        rows.iter()
            .map(run_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.query_error())
    }

    /// The runs of one task on `host` started at or after `since`, newest first.
    pub async fn task_runs_since(
        &self,
        task_id: &str,
        host: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<TaskRun>, StoreError> {
        let query = sqlx::query(
            "SELECT * FROM task_runs WHERE task_id = $1 AND host = $2 AND started_at >= $3
             ORDER BY started_at DESC",
        )
        .bind(task_id.to_owned())
        .bind(host.to_owned())
        .bind(since.timestamp_millis());
        self.fetch_runs(query).await
    }

    /// When each task last finished successfully on `host` (tasks that never did are absent):
    /// a shared store also holds the other hosts' runs, which do not do this host's maintenance.
    pub async fn last_successes(
        &self,
        host: &str,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        let rows = sqlx::query(
            "SELECT task_id, MAX(ended_at) AS ended_at FROM task_runs
             WHERE status = 'succeeded' AND ended_at IS NOT NULL AND host = $1 GROUP BY task_id",
        )
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<String, _>("task_id")?,
                    from_millis(row.try_get("ended_at")?),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// When opsdeck on `host` began watching each of `task_ids`' schedules: `now` for a task
    /// seen there for the first time, else the instant stored then, so due times that passed
    /// before anyone looked are never called missed.
    pub async fn watch_schedules(
        &self,
        host: &str,
        task_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<std::collections::HashMap<String, DateTime<Utc>>, StoreError> {
        for task_id in task_ids {
            sqlx::query(
                "INSERT INTO schedule_watch (host, task_id, since) VALUES ($1, $2, $3)
                 ON CONFLICT (host, task_id) DO NOTHING",
            )
            .bind(host)
            .bind(task_id)
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
        }
        let rows = sqlx::query("SELECT task_id, since FROM schedule_watch WHERE host = $1")
            .bind(host)
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_error())?;
        let mut watched: std::collections::HashMap<String, DateTime<Utc>> = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<String, _>("task_id")?,
                    from_millis(row.try_get("since")?),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())?;
        watched.retain(|task_id, _| task_ids.contains(task_id));
        Ok(watched)
    }

    /// Marks as interrupted the runs this host left `running` whose opsdeck process is gone.
    /// Runs of other hosts sharing the store, and of live processes, are left alone.
    pub async fn mark_interrupted(
        &self,
        host: &str,
        is_alive: impl Fn(u32) -> bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT id, pid FROM task_runs WHERE status = 'running' AND host = $1")
                .bind(host)
                .fetch_all(&self.pool)
                .await
                .map_err(self.query_error())?;
        let mut interrupted = Vec::new();
        for row in rows {
            let id: String = row.try_get("id").map_err(self.query_error())?;
            let pid: i64 = row.try_get("pid").map_err(self.query_error())?;
            if is_alive(u32::try_from(pid).unwrap_or(0)) {
                continue;
            }
            sqlx::query(
                "UPDATE task_runs SET status = 'interrupted', ended_at = $2,
                     summary = 'opsdeck stopped before the run finished' WHERE id = $1 AND status = 'running'",
            )
            .bind(&id)
            .bind(now.timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
            interrupted.push(id);
        }
        Ok(interrupted)
    }

    /// Stores a batch of service check results in one transaction.
    pub async fn insert_service_results(
        &self,
        results: &[ServiceResultRow],
    ) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut transaction = self.pool.begin().await.map_err(self.query_error())?;
        for row in results {
            sqlx::query(
                "INSERT INTO service_results (service, checked_at, ok, latency_ms, detail) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&row.service)
            .bind(row.checked_at.timestamp_millis())
            .bind(i64::from(row.ok))
            .bind(row.latency_ms)
            .bind(&row.detail)
            .execute(&mut *transaction)
            .await
            .map_err(self.query_error())?;
        }
        transaction.commit().await.map_err(self.query_error())?;
        Ok(())
    }

    /// Per service: the share of successful checks since `since`, in percent.
    pub async fn availability(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT service, COUNT(*) AS total, SUM(ok) AS up FROM service_results
             WHERE checked_at >= $1 GROUP BY service",
        )
        .bind(since.timestamp_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| {
                let service: String = row.try_get("service")?;
                let total: i64 = row.try_get("total")?;
                let up: i64 = row.try_get::<Option<i64>, _>("up")?.unwrap_or(0);
                Ok((
                    service,
                    if total == 0 {
                        0.0
                    } else {
                        up as f64 * 100.0 / total as f64
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// The newest results of one service, newest first.
    pub async fn service_results(
        &self,
        service: &str,
        limit: i64,
    ) -> Result<Vec<ServiceResultRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT service, checked_at, ok, latency_ms, detail FROM service_results
             WHERE service = $1 ORDER BY checked_at DESC LIMIT $2",
        )
        .bind(service)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| {
                Ok(ServiceResultRow {
                    service: row.try_get("service")?,
                    checked_at: from_millis(row.try_get("checked_at")?),
                    ok: row.try_get::<i64, _>("ok")? != 0,
                    latency_ms: row.try_get("latency_ms")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    pub async fn prune_service_results(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM service_results WHERE checked_at < $1")
            .bind(before.timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) fn alert_from_row(row: &AnyRow) -> Result<Alert, sqlx::Error> {
    let level: String = row.try_get("level")?;
    let unit: String = row.try_get("unit")?;
    Ok(Alert {
        id: row.try_get("id")?,
        key: row.try_get("series_key")?,
        metric: row.try_get("metric")?,
        instance: row.try_get("instance")?,
        // '' is the fleet's; NULL a row from before alerts named hosts that no host took.
        host: row
            .try_get::<Option<String>, _>("host")?
            .filter(|host| !host.is_empty()),
        level: Status::parse(&level).unwrap_or(Status::Unknown),
        opened_at: from_millis(row.try_get("opened_at")?),
        resolved_at: row
            .try_get::<Option<i64>, _>("resolved_at")?
            .map(from_millis),
        peak: row.try_get("peak")?,
        threshold: row.try_get("threshold")?,
        unit: parse_unit(&unit),
    })
}

pub(crate) fn run_from_row(row: &AnyRow) -> Result<TaskRun, sqlx::Error> {
    let decode = |column: &str, error: serde_json::Error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(error),
    };
    let params: String = row.try_get("params")?;
    let plan: String = row.try_get("plan")?;
    let status: String = row.try_get("status")?;
    Ok(TaskRun {
        id: row.try_get("id")?,
        task_id: row.try_get("task_id")?,
        params: serde_json::from_str(&params).map_err(|error| decode("params", error))?,
        plan: serde_json::from_str(&plan).map_err(|error| decode("plan", error))?,
        user: row.try_get("user_name")?,
        client: row.try_get("client")?,
        host: row.try_get("host")?,
        pid: u32::try_from(row.try_get::<i64, _>("pid")?).unwrap_or(0),
        started_at: from_millis(row.try_get("started_at")?),
        ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(from_millis),
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        exit_code: row
            .try_get::<Option<i64>, _>("exit_code")?
            .and_then(|code| i32::try_from(code).ok()),
        summary: row.try_get("summary")?,
        output: row.try_get("output")?,
        log_path: row.try_get("log_path")?,
        trigger: crate::core::model::Trigger::parse(&row.try_get::<String, _>("run_trigger")?),
    })
}

pub(crate) fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Percent => "percent",
        Unit::Bytes => "bytes",
        Unit::BytesPerSecond => "bytes_per_second",
        Unit::Count => "count",
        Unit::Seconds => "seconds",
        Unit::Milliseconds => "milliseconds",
        Unit::Load => "load",
        Unit::Days => "days",
        Unit::BytesPerDay => "bytes_per_day",
        Unit::PercentPerDay => "percent_per_day",
    }
}

fn parse_unit(name: &str) -> Unit {
    match name {
        "percent" => Unit::Percent,
        "bytes" => Unit::Bytes,
        "bytes_per_second" => Unit::BytesPerSecond,
        "seconds" => Unit::Seconds,
        "milliseconds" => Unit::Milliseconds,
        "load" => Unit::Load,
        "days" => Unit::Days,
        "bytes_per_day" => Unit::BytesPerDay,
        "percent_per_day" => Unit::PercentPerDay,
        _ => Unit::Count,
    }
}

/// A writer id: process, open count and the time, so two stores of one process differ, and two
/// hosts collide only on the same pid at the same nanosecond. Plain characters only: it is spliced
/// into a SET statement.
fn new_session() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static OPENED: AtomicU32 = AtomicU32::new(0);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!(
        "opsdeck-{}-{}-{nanos:x}",
        std::process::id(),
        OPENED.fetch_add(1, Ordering::Relaxed)
    )
}

fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for ch in path.display().to_string().chars() {
        match ch {
            ' ' => url.push_str("%20"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            '%' => url.push_str("%25"),
            other => url.push(other),
        }
    }
    url.push_str("?mode=rwc");
    url
}
