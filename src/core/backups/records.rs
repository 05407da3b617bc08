//! Backup verifications and restore tests in the state store: what the backups pane shows as
//! "last verify" and "last restore test", kept across restarts.

use std::path::PathBuf;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{RestoreTest, Verification, VerifyResult};
use crate::core::store::{Store, StoreError, from_millis};

/// Verifications kept per file: enough to see a file go bad, not a history of every week.
const VERIFICATIONS_KEPT_PER_FILE: i64 = 10;

impl Store {
    pub async fn insert_verification(&self, verification: &Verification) -> Result<(), StoreError> {
        let path = verification.path.to_string_lossy();
        sqlx::query(
            "INSERT INTO backup_verifications (backup_set, path, size, modified, verified_at, result, message, sha256, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&verification.set)
        .bind(path.as_ref())
        .bind(i64::try_from(verification.size).unwrap_or(i64::MAX))
        .bind(verification.modified.timestamp_millis())
        .bind(verification.verified_at.timestamp_millis())
        .bind(verification.result.as_str())
        .bind(&verification.message)
        .bind(verification.sha256.as_deref())
        .bind(verification.duration_ms)
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        // Older rows of this file beyond the kept number go.
        sqlx::query(
            "DELETE FROM backup_verifications WHERE backup_set = $1 AND path = $2 AND verified_at < (
                 SELECT MIN(verified_at) FROM (
                     SELECT verified_at FROM backup_verifications WHERE backup_set = $1 AND path = $2
                     ORDER BY verified_at DESC LIMIT $3) AS newest)",
        )
        .bind(&verification.set)
        .bind(path.as_ref())
        .bind(VERIFICATIONS_KEPT_PER_FILE)
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// The newest verification of every file of a set (files since deleted included).
    pub async fn latest_verifications(&self, set: &str) -> Result<Vec<Verification>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.backup_set, v.path, v.size, v.modified, v.verified_at, v.result, v.message, v.sha256, v.duration_ms
             FROM backup_verifications v
             JOIN (SELECT path, MAX(verified_at) AS newest FROM backup_verifications
                   WHERE backup_set = $1 GROUP BY path) latest
               ON latest.path = v.path AND latest.newest = v.verified_at
             WHERE v.backup_set = $1",
        )
        .bind(set)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(verification_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// Forgets verifications of files that are gone (after a prune).
    pub async fn forget_verifications(
        &self,
        set: &str,
        paths: &[PathBuf],
    ) -> Result<(), StoreError> {
        for path in paths {
            sqlx::query("DELETE FROM backup_verifications WHERE backup_set = $1 AND path = $2")
                .bind(set)
                .bind(path.to_string_lossy().as_ref())
                .execute(&self.pool)
                .await
                .map_err(self.query_error())?;
        }
        Ok(())
    }

    pub async fn insert_restore_test(&self, test: &RestoreTest) -> Result<(), StoreError> {
        let counts = serde_json::to_string(&test.counts).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO backup_restore_tests (backup_set, file, started_at, duration_ms, ok, message, counts)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&test.set)
        .bind(test.file.to_string_lossy().as_ref())
        .bind(test.started_at.timestamp_millis())
        .bind(test.duration_ms)
        .bind(i64::from(test.ok))
        .bind(&test.message)
        .bind(counts)
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// The newest restore tests of a set, newest first.
    pub async fn restore_tests(
        &self,
        set: &str,
        limit: i64,
    ) -> Result<Vec<RestoreTest>, StoreError> {
        let rows = sqlx::query(
            "SELECT backup_set, file, started_at, duration_ms, ok, message, counts
             FROM backup_restore_tests WHERE backup_set = $1 ORDER BY started_at DESC LIMIT $2",
        )
        .bind(set)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(restore_test_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// The newest successful restore test of a set.
    pub async fn last_good_restore_test(
        &self,
        set: &str,
    ) -> Result<Option<RestoreTest>, StoreError> {
        let row = sqlx::query(
            "SELECT backup_set, file, started_at, duration_ms, ok, message, counts
             FROM backup_restore_tests WHERE backup_set = $1 AND ok = 1
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(set)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_error())?;
        row.as_ref()
            .map(restore_test_from_row)
            .transpose()
            .map_err(self.query_error())
    }
}

fn verification_from_row(row: &AnyRow) -> Result<Verification, sqlx::Error> {
    let result: String = row.try_get("result")?;
    Ok(Verification {
        set: row.try_get("backup_set")?,
        path: PathBuf::from(row.try_get::<String, _>("path")?),
        size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
        modified: from_millis(row.try_get("modified")?),
        verified_at: from_millis(row.try_get("verified_at")?),
        result: VerifyResult::parse(&result).unwrap_or(VerifyResult::Error),
        message: row.try_get("message")?,
        sha256: row.try_get("sha256")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}

fn restore_test_from_row(row: &AnyRow) -> Result<RestoreTest, sqlx::Error> {
    let counts: String = row.try_get("counts")?;
    Ok(RestoreTest {
        set: row.try_get("backup_set")?,
        file: PathBuf::from(row.try_get::<String, _>("file")?),
        started_at: from_millis(row.try_get("started_at")?),
        duration_ms: row.try_get("duration_ms")?,
        ok: row.try_get::<i64, _>("ok")? != 0,
        message: row.try_get("message")?,
        counts: serde_json::from_str(&counts).unwrap_or_default(),
    })
}
