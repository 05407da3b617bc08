//! Log read positions in the state store: one row per source and path, overwritten as the
//! follower moves on (a position is only ever replaced by a later one of the same follower).

use chrono::Utc;
use sqlx::Row;

use super::follow::Position;
use crate::core::store::{Store, StoreError};

impl Store {
    /// Remembers how far `path` of log source `source` has been read.
    pub async fn save_log_offset(
        &self,
        source: &str,
        path: &str,
        position: Position,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO log_offsets (source, path, inode, byte_offset, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (source, path) DO UPDATE SET inode = excluded.inode,
                 byte_offset = excluded.byte_offset, updated_at = excluded.updated_at",
        )
        .bind(source)
        .bind(path)
        // The bit pattern, not the value: inodes may use all 64 bits, BIGINT is signed.
        .bind(position.inode as i64)
        .bind(i64::try_from(position.offset).unwrap_or(i64::MAX))
        .bind(Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// Where `path` of `source` was last read up to, or `None` when it never was.
    pub async fn log_offset(
        &self,
        source: &str,
        path: &str,
    ) -> Result<Option<Position>, StoreError> {
        let row = sqlx::query(
            "SELECT inode, byte_offset FROM log_offsets WHERE source = $1 AND path = $2",
        )
        .bind(source)
        .bind(path)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.query_error())?;
        let Some(row) = row else {
            return Ok(None);
        };
        let inode: i64 = row.try_get("inode").map_err(self.query_error())?;
        let offset: i64 = row.try_get("byte_offset").map_err(self.query_error())?;
        Ok(Some(Position {
            inode: inode as u64,
            offset: u64::try_from(offset).unwrap_or(0),
        }))
    }
}
