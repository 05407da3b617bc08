//! Shared state between hosts on the PostgreSQL store: who is on (a heartbeat row per console or
//! exporter, and the dead-man's-switch metrics judged from it) and what changed (the change log
//! the store's triggers fill, read after a cursor when a NOTIFY wakes the reader). It owns the
//! heartbeat and change-log records; the runner applies what it reads to the console.

pub mod changes;
pub mod presence;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::core::store::{Store, StoreError, from_millis};

/// The age of the newest heartbeat of a host's console or exporter, in seconds: a rule on it is
/// a dead-man's switch (instance = host).
pub const CONSOLE_HEARTBEAT_AGE: &str = "heartbeat.console_age";
pub const EXPORTER_HEARTBEAT_AGE: &str = "heartbeat.exporter_age";
pub const PRESENCE_METRICS: &[&str] = &[CONSOLE_HEARTBEAT_AGE, EXPORTER_HEARTBEAT_AGE];

/// What beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Console,
    Exporter,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Console => "console",
            Kind::Exporter => "exporter",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "console" => Some(Kind::Console),
            "exporter" => Some(Kind::Exporter),
            _ => None,
        }
    }

    /// The metric a rule on this kind's missing heartbeat names.
    pub fn age_metric(self) -> &'static str {
        match self {
            Kind::Console => CONSOLE_HEARTBEAT_AGE,
            Kind::Exporter => EXPORTER_HEARTBEAT_AGE,
        }
    }
}

/// How a runner takes part in the shared state (only on a PostgreSQL store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    pub kind: Kind,
    /// How often the heartbeat row is written and the others' rows read.
    pub beat_every: Duration,
    /// A session whose last beat is older than this is no longer shown as on.
    pub gone_after: Duration,
}

impl SharedSettings {
    /// A console: a beat every 5 s, gone after three missed beats and some slack.
    pub fn console() -> SharedSettings {
        SharedSettings {
            kind: Kind::Console,
            beat_every: Duration::from_secs(5),
            gone_after: Duration::from_secs(20),
        }
    }
}

/// One heartbeat row: a running (or stopped) console or exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub session: String,
    pub kind: Kind,
    pub host: String,
    pub user: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub beat_at: DateTime<Utc>,
}

/// The newest beat of one host's console or exporter, whatever became of it since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastBeat {
    pub kind: Kind,
    pub host: String,
    pub at: DateTime<Utc>,
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    pub kind: ChangeKind,
    /// The alert id, incident id, checklist name or run id.
    pub subject: String,
    /// The writer's session ([`Store::session`]).
    pub origin: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Alert,
    Incident,
    Checklist,
    TaskRun,
}

impl ChangeKind {
    fn parse(text: &str) -> Option<ChangeKind> {
        match text {
            "alert" => Some(ChangeKind::Alert),
            "incident" => Some(ChangeKind::Incident),
            "checklist" => Some(ChangeKind::Checklist),
            "task_run" => Some(ChangeKind::TaskRun),
            _ => None,
        }
    }
}

/// Stopped sessions are kept this long (the newest of each host and kind for good).
const STOPPED_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// The change log is kept this long: far more than any reconnect takes.
const CHANGES_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// The change log is read in pages of this many rows.
const CHANGES_PAGE: i64 = 500;

impl Store {
    /// Writes (or refreshes) `beat`'s row.
    pub async fn beat(&self, beat: &Heartbeat) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO heartbeats (session, kind, host, user_name, pid, started_at, beat_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (session) DO UPDATE SET beat_at = excluded.beat_at",
        )
        .bind(&beat.session)
        .bind(beat.kind.as_str())
        .bind(&beat.host)
        .bind(&beat.user)
        .bind(i64::from(beat.pid))
        .bind(beat.started_at.timestamp_millis())
        .bind(beat.beat_at.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// Marks `session` as stopped on a clean exit, so the others stop showing it at once.
    pub async fn end_beat(&self, session: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE heartbeats SET ended_at = $2 WHERE session = $1")
            .bind(session)
            .bind(at.timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
        Ok(())
    }

    /// The sessions of `kind` other than `me` that beat at or after `since` and did not stop,
    /// by host and user.
    pub async fn beating(
        &self,
        kind: Kind,
        me: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Heartbeat>, StoreError> {
        let rows = sqlx::query(
            "SELECT session, kind, host, user_name, pid, started_at, beat_at FROM heartbeats
             WHERE kind = $1 AND session <> $2 AND beat_at >= $3 AND ended_at IS NULL
             ORDER BY host, user_name, started_at",
        )
        .bind(kind.as_str())
        .bind(me)
        .bind(since.timestamp_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        let beats: Vec<Option<Heartbeat>> = rows
            .iter()
            .map(heartbeat_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.query_error())?;
        Ok(beats.into_iter().flatten().collect())
    }

    /// The newest beat of every host's console and exporter.
    pub async fn last_beats(&self) -> Result<Vec<LastBeat>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, host, MAX(beat_at) AS beat_at FROM heartbeats GROUP BY kind, host
             ORDER BY kind, host",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        let beats: Vec<Option<LastBeat>> = rows
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let host: String = row.try_get("host")?;
                let at: i64 = row.try_get("beat_at")?;
                Ok(Kind::parse(&kind).map(|kind| LastBeat {
                    kind,
                    host,
                    at: from_millis(at),
                }))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())?;
        Ok(beats.into_iter().flatten().collect())
    }

    /// Drops stopped sessions older than a day (except each host's newest) and change-log rows
    /// older than a week.
    pub async fn prune_shared(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM heartbeats WHERE beat_at < $1 AND beat_at < (
                 SELECT MAX(newest.beat_at) FROM heartbeats newest
                 WHERE newest.kind = heartbeats.kind AND newest.host = heartbeats.host)",
        )
        .bind((now - STOPPED_KEPT).timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        sqlx::query("DELETE FROM changes WHERE at < $1")
            .bind((now - CHANGES_KEPT).timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(self.query_error())?;
        Ok(())
    }

    /// The id of the newest change-log row (0 for none): where a reader that has just read
    /// everything starts.
    pub async fn newest_change(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM changes")
            .fetch_one(&self.pool)
            .await
            .map_err(self.query_error())?;
        row.try_get::<i64, _>("id").map_err(self.query_error())
    }

    /// Up to a page of change-log rows after `cursor`, oldest first (kinds this version does not
    /// know included as `None`, so the cursor can pass them).
    pub async fn changes_after(
        &self,
        cursor: i64,
    ) -> Result<Vec<(i64, Option<Change>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, subject, origin FROM changes WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(cursor)
        .bind(CHANGES_PAGE)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                let kind: String = row.try_get("kind")?;
                let change = match ChangeKind::parse(&kind) {
                    Some(kind) => Some(Change {
                        id,
                        kind,
                        subject: row.try_get("subject")?,
                        origin: row.try_get("origin")?,
                    }),
                    None => None,
                };
                Ok((id, change))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }
}

/// A heartbeat row; `None` for a kind this version does not know.
fn heartbeat_from_row(row: &AnyRow) -> Result<Option<Heartbeat>, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let Some(kind) = Kind::parse(&kind) else {
        return Ok(None);
    };
    Ok(Some(Heartbeat {
        session: row.try_get("session")?,
        kind,
        host: row.try_get("host")?,
        user: row.try_get("user_name")?,
        pid: u32::try_from(row.try_get::<i64, _>("pid")?).unwrap_or(0),
        started_at: from_millis(row.try_get("started_at")?),
        beat_at: from_millis(row.try_get("beat_at")?),
    }))
}
