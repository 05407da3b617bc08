//! The store's records as a report reads them: everything of one period (alerts open in it, runs
//! started in it, service results, backup verifications), the newest restore test before its
//! end, and the slow-statement snapshot kept with each report so the next one can tell which
//! statements are new (table `report_statements`, migration 0010).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::StatementLine;
use crate::core::backups::VerifyResult;
use crate::core::model::{Alert, TaskRun};
use crate::core::store::{Store, StoreError, alert_from_row, from_millis, run_from_row};

/// One service check result, as availability needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Checked {
    pub at: DateTime<Utc>,
    pub ok: bool,
}

/// One verification, as the backups section counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub set: String,
    pub at: DateTime<Utc>,
    pub result: VerifyResult,
}

impl Store {
    /// The rows `sql` selects with $1 = start and $2 = end of a period, as Unix milliseconds.
    async fn period_rows(
        &self,
        sql: &'static str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        sqlx::query(sql)
            .bind(start.timestamp_millis())
            .bind(end.timestamp_millis())
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_error())
    }

    /// Alerts of `host` and of the fleet open at any time in [start, end): opened before its
    /// end, not resolved before its start; oldest first.
    pub async fn alerts_in(
        &self,
        host: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, series_key, metric, instance, host, level, opened_at, resolved_at, peak, threshold, unit
             FROM alerts WHERE opened_at < $2 AND (resolved_at IS NULL OR resolved_at >= $1)
                 AND (host = $3 OR host = '')
             ORDER BY opened_at, id",
        )
        .bind(start.timestamp_millis())
        .bind(end.timestamp_millis())
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(alert_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.query_error())
    }

    /// Task runs started in [start, end), oldest first.
    pub async fn runs_in(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<TaskRun>, StoreError> {
        let rows = self
            .period_rows(
            "SELECT * FROM task_runs WHERE started_at >= $1 AND started_at < $2 ORDER BY started_at, id",
                start,
                end,
            )
            .await?;
        rows.iter()
            .map(run_from_row)
            .collect::<Result<_, _>>()
            .map_err(self.query_error())
    }

    /// Every service's results in [start, end), by service then time.
    pub async fn service_results_in(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<(String, Checked)>, StoreError> {
        let rows = self
            .period_rows(
                "SELECT service, checked_at, ok FROM service_results
             WHERE checked_at >= $1 AND checked_at < $2 ORDER BY service, checked_at",
                start,
                end,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("service")?,
                    Checked {
                        at: from_millis(row.try_get("checked_at")?),
                        ok: row.try_get::<i64, _>("ok")? != 0,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// Backup verifications made in [start, end), oldest first.
    pub async fn verifications_in(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Verified>, StoreError> {
        let rows = self
            .period_rows(
                "SELECT backup_set, verified_at, result FROM backup_verifications
             WHERE verified_at >= $1 AND verified_at < $2 ORDER BY verified_at",
                start,
                end,
            )
            .await?;
        rows.iter()
            .map(|row| {
                let result: String = row.try_get("result")?;
                Ok(Verified {
                    set: row.try_get("backup_set")?,
                    at: from_millis(row.try_get("verified_at")?),
                    result: VerifyResult::parse(&result).unwrap_or(VerifyResult::Error),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// The backup sets the store knows of (verified or restore-tested at least once).
    pub async fn backup_set_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT backup_set FROM backup_verifications
             UNION SELECT backup_set FROM backup_restore_tests ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// The newest restore test of `set` started before `end`: (when, ok, message).
    pub async fn restore_test_before(
        &self,
        set: &str,
        end: DateTime<Utc>,
    ) -> Result<Option<(DateTime<Utc>, bool, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT started_at, ok, message FROM backup_restore_tests
             WHERE backup_set = $1 AND started_at < $2 ORDER BY started_at DESC LIMIT 1",
        )
        .bind(set)
        .bind(end.timestamp_millis())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_error())?;
        row.map(|row| {
            Ok((
                from_millis(row.try_get("started_at")?),
                row.try_get::<i64, _>("ok")? != 0,
                row.try_get("message")?,
            ))
        })
        .transpose()
        .map_err(self.query_error())
    }

    /// Keeps the slow statements a report of `kind` for `period` saw in `database`, replacing
    /// what an earlier run of the same report kept.
    pub async fn save_statement_snapshot(
        &self,
        database: &str,
        kind: &str,
        period: &str,
        statements: &[StatementLine],
        taken_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(statements).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query(
            "INSERT INTO report_statements (database_name, kind, period, statements, taken_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (database_name, kind, period) DO UPDATE SET
                 statements = excluded.statements, taken_at = excluded.taken_at",
        )
        .bind(database)
        .bind(kind)
        .bind(period)
        .bind(body)
        .bind(taken_at.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// The snapshot a report of `kind` for `period` kept for `database`, if one did.
    pub async fn statement_snapshot(
        &self,
        database: &str,
        kind: &str,
        period: &str,
    ) -> Result<Option<Vec<StatementLine>>, StoreError> {
        let row = sqlx::query(
            "SELECT statements FROM report_statements
             WHERE database_name = $1 AND kind = $2 AND period = $3",
        )
        .bind(database)
        .bind(kind)
        .bind(period)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_error())?;
        row.map(|row| row.try_get::<String, _>("statements"))
            .transpose()
            .map_err(self.query_error())
            // A snapshot a newer opsdeck wrote in a shape this one cannot read counts as none.
            .map(|body| body.and_then(|body| serde_json::from_str(&body).ok()))
    }
}
