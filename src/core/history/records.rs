//! Metric history in the state store: one row per series, tier and chunk, its points packed
//! (see `rollup`). Only whole chunks are read and written; a flush writes its chunks in one
//! transaction, so a crash leaves the history as of the last flush.

use sqlx::Row;

use super::Resolution;
use super::rollup::{Chunk, Packing};
use crate::core::store::{Store, StoreError};

/// A chunk read or to write: series key, chunk start (Unix milliseconds) and its points.
pub(crate) type ChunkRow = (String, i64, Chunk);

impl Store {
    /// The chunks of tier `resolution` starting in `[from, until)`, of one series or of all.
    pub(crate) async fn history_chunks(
        &self,
        resolution: Resolution,
        key: Option<&str>,
        from: i64,
        until: i64,
    ) -> Result<Vec<ChunkRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT series_key, chunk_start, packing, points FROM metric_history
             WHERE resolution = $1 AND chunk_start >= $2 AND chunk_start < $3
                 AND ($4 = '' OR series_key = $4)
             ORDER BY series_key, chunk_start",
        )
        .bind(resolution.code())
        .bind(from)
        .bind(until)
        .bind(key.unwrap_or_default().to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| {
                let packing = Packing::from_code(row.try_get("packing")?);
                let points: Vec<u8> = row.try_get("points")?;
                Ok((
                    row.try_get("series_key")?,
                    row.try_get("chunk_start")?,
                    Chunk::decode(resolution, packing, &points),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// Which series have a chunk of tier `resolution` starting in `[from, until)`, and where.
    pub(crate) async fn history_chunk_starts(
        &self,
        resolution: Resolution,
        from: i64,
        until: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT series_key, chunk_start FROM metric_history
             WHERE resolution = $1 AND chunk_start >= $2 AND chunk_start < $3",
        )
        .bind(resolution.code())
        .bind(from)
        .bind(until)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| Ok((row.try_get("series_key")?, row.try_get("chunk_start")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// Writes chunks of tier `resolution`, replacing those stored, in one transaction. Chunks
    /// are written deflated.
    pub(crate) async fn save_history_chunks(
        &self,
        resolution: Resolution,
        chunks: &[ChunkRow],
    ) -> Result<(), StoreError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let mut transaction = self.pool.begin().await.map_err(self.query_error())?;
        for (key, start, chunk) in chunks {
            sqlx::query(
                "INSERT INTO metric_history (series_key, resolution, chunk_start, packing, points)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (series_key, resolution, chunk_start)
                 DO UPDATE SET packing = excluded.packing, points = excluded.points",
            )
            .bind(key)
            .bind(resolution.code())
            .bind(*start)
            .bind(Packing::Deflated.code())
            .bind(chunk.encode())
            .execute(&mut *transaction)
            .await
            .map_err(self.query_error())?;
        }
        transaction.commit().await.map_err(self.query_error())?;
        Ok(())
    }

    /// Deletes the chunks of tier `resolution` that end at or before `before`.
    pub(crate) async fn prune_history_chunks(
        &self,
        resolution: Resolution,
        before: i64,
    ) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM metric_history WHERE resolution = $1 AND chunk_start <= $2")
                .bind(resolution.code())
                .bind(before - resolution.chunk_millis())
                .execute(&self.pool)
                .await
                .map_err(self.query_error())?;
        Ok(done.rows_affected())
    }

    /// Every series key that starts with `prefix`, in order.
    pub(crate) async fn history_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT series_key FROM metric_history
             WHERE substr(series_key, 1, CAST($2 AS INTEGER)) = $1 ORDER BY series_key",
        )
        .bind(prefix)
        .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| row.try_get("series_key"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }
}
