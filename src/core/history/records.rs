//! Metric history in the state store: one row per host, series, tier and chunk, its points
//! packed (see `rollup`). Only whole chunks are read and written; a flush writes its chunks in
//! one transaction, so a crash leaves the history as of the last flush.
//!
//! A store handle reads and writes one host's history ([`Store::for_host`]), so hosts
//! sharing a PostgreSQL store keep their series apart; a handle that names no host (tests,
//! imports) uses the host ''. Pruning goes by age alone, across hosts.

use sqlx::Row;

use super::Resolution;
use super::rollup::{Chunk, Packing};
use crate::core::store::{Store, StoreError};

/// A chunk read or to write: series key, chunk start (Unix milliseconds) and its points.
pub(crate) type ChunkRow = (String, i64, Chunk);

impl Store {
    /// The rows written before the history named hosts (host '') become `host`'s: the first
    /// opsdeck of a host to open the store takes them, except a chunk it already has its own of.
    pub(crate) async fn adopt_unowned_history(&self, host: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE metric_history SET host = $1
             WHERE host = '' AND NOT EXISTS (
                 SELECT 1 FROM metric_history AS own
                 WHERE own.host = $1 AND own.series_key = metric_history.series_key
                     AND own.resolution = metric_history.resolution
                     AND own.chunk_start = metric_history.chunk_start)",
        )
        .bind(host)
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// The chunks of tier `resolution` starting in `[from, until)`, of one series or of all
    /// that `wanted` names. Only those are inflated: the others are skipped as they are read.
    pub(crate) async fn history_chunks(
        &self,
        resolution: Resolution,
        key: Option<&str>,
        from: i64,
        until: i64,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<ChunkRow>, StoreError> {
        // One series is looked up along the primary key; an `OR` over the key in one statement
        // made SQLite scan every series' chunks of the range (and their points) instead.
        let sql = match key {
            Some(_) => {
                "SELECT series_key, chunk_start, packing, points FROM metric_history
                 WHERE host = $4 AND series_key = $5 AND resolution = $1
                     AND chunk_start >= $2 AND chunk_start < $3
                 ORDER BY chunk_start"
            }
            None => {
                "SELECT series_key, chunk_start, packing, points FROM metric_history
                 WHERE host = $4 AND resolution = $1 AND chunk_start >= $2 AND chunk_start < $3
                 ORDER BY series_key, chunk_start"
            }
        };
        let mut query = sqlx::query(sql)
            .bind(resolution.code())
            .bind(from)
            .bind(until)
            .bind(&self.host);
        if let Some(key) = key {
            query = query.bind(key);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(self.query_error())?;
        let mut chunks = Vec::new();
        for row in &rows {
            let series_key: String = row.try_get("series_key").map_err(self.query_error())?;
            if !wanted(&series_key) {
                continue;
            }
            let decoded = (|| {
                let packing = Packing::from_code(row.try_get("packing")?);
                let points: Vec<u8> = row.try_get("points")?;
                Ok::<_, sqlx::Error>((
                    row.try_get("chunk_start")?,
                    Chunk::decode(resolution, packing, &points),
                ))
            })()
            .map_err(self.query_error())?;
            chunks.push((series_key, decoded.0, decoded.1));
        }
        Ok(chunks)
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
             WHERE host = $4 AND resolution = $1 AND chunk_start >= $2 AND chunk_start < $3",
        )
        .bind(resolution.code())
        .bind(from)
        .bind(until)
        .bind(&self.host)
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
                "INSERT INTO metric_history (host, series_key, resolution, chunk_start, packing, points)
                 VALUES ($6, $1, $2, $3, $4, $5)
                 ON CONFLICT (host, series_key, resolution, chunk_start)
                 DO UPDATE SET packing = excluded.packing, points = excluded.points",
            )
            .bind(key)
            .bind(resolution.code())
            .bind(*start)
            .bind(Packing::Deflated.code())
            .bind(chunk.encode())
            .bind(&self.host)
            .execute(&mut *transaction)
            .await
            .map_err(self.query_error())?;
        }
        transaction.commit().await.map_err(self.query_error())?;
        Ok(())
    }

    /// Deletes the chunks of tier `resolution` that end at or before `before`, of every host.
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

    /// Every series key of this handle's host that starts with `prefix`, in order.
    pub(crate) async fn history_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT series_key FROM metric_history
             WHERE host = $3 AND substr(series_key, 1, CAST($2 AS INTEGER)) = $1
             ORDER BY series_key",
        )
        .bind(prefix)
        .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
        .bind(&self.host)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| row.try_get("series_key"))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }
}
