//! Journal cursors in the state store: one row per journal source, overwritten as its
//! [`JournalReader`](super::journal::JournalReader) moves on.

use chrono::Utc;
use sqlx::Row;

use crate::core::store::{Store, StoreError};

impl Store {
    /// Remembers that journal source `source` was read up to the entry at `cursor`.
    pub async fn save_journal_cursor(&self, source: &str, cursor: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO journal_cursors (source, journal_cursor, updated_at)
             VALUES ($1, $2, $3)
             ON CONFLICT (source) DO UPDATE SET journal_cursor = excluded.journal_cursor,
                 updated_at = excluded.updated_at",
        )
        .bind(source)
        .bind(cursor)
        .bind(Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// The cursor journal source `source` was last read up to, or `None` when it never was.
    pub async fn journal_cursor(&self, source: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT journal_cursor FROM journal_cursors WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.query_error())?;
        row.map(|row| row.try_get("journal_cursor"))
            .transpose()
            .map_err(self.query_error())
    }
}
