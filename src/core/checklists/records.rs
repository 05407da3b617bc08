//! Checklist runs in the state store: an append-only log of entries. Nothing here updates or
//! deletes a row, so two consoles working on the same run at once can only add to it, never
//! overwrite each other (there is no read-modify-write to race on).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Entry, EntryKind};
use crate::core::sources::secrets::redact;
use crate::core::store::{Store, StoreError, from_millis};

impl Store {
    pub async fn append_checklist_entry(&self, entry: &Entry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checklist_entries (checklist, period, item, kind, text, user_name, host, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&entry.checklist)
        .bind(&entry.period)
        .bind(entry.item.as_deref())
        .bind(entry.kind.as_str())
        // A note is shared with the team through the store: a password pasted into it is not.
        .bind(redact(&entry.text))
        .bind(&entry.user)
        .bind(&entry.host)
        .bind(entry.at.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// The entries of one run, oldest first. Entries of the same millisecond come in the order
    /// the index holds them (insertion order on SQLite); the fold treats them as simultaneous.
    pub async fn checklist_entries(
        &self,
        checklist: &str,
        period: &str,
    ) -> Result<Vec<Entry>, StoreError> {
        let rows = sqlx::query(
            "SELECT checklist, period, item, kind, text, user_name, host, at
             FROM checklist_entries WHERE checklist = $1 AND period = $2 ORDER BY at",
        )
        .bind(checklist)
        .bind(period)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        // A kind this version does not know (written by a newer opsdeck sharing the store) is
        // left out rather than failing the whole run.
        rows.iter()
            .filter_map(|row| entry_from_row(row).transpose())
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }

    /// The runs of a checklist that have entries: period key, first and last entry time,
    /// newest period first, at most `limit`.
    pub async fn checklist_periods(
        &self,
        checklist: &str,
        limit: i64,
    ) -> Result<Vec<(String, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        // Period keys of one kind sort as text in time order (zero-padded), so they order the
        // runs even when an old run got a late entry.
        let rows = sqlx::query(
            "SELECT period, MIN(at) AS first_at, MAX(at) AS last_at
             FROM checklist_entries WHERE checklist = $1
             GROUP BY period ORDER BY period DESC, last_at DESC LIMIT $2",
        )
        .bind(checklist)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("period")?,
                    from_millis(row.try_get("first_at")?),
                    from_millis(row.try_get("last_at")?),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }
}

fn entry_from_row(row: &AnyRow) -> Result<Option<Entry>, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let Some(kind) = EntryKind::parse(&kind) else {
        return Ok(None);
    };
    Ok(Some(Entry {
        checklist: row.try_get("checklist")?,
        period: row.try_get("period")?,
        item: row.try_get("item")?,
        kind,
        text: row.try_get("text")?,
        user: row.try_get("user_name")?,
        host: row.try_get("host")?,
        at: from_millis(row.try_get("at")?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::store::StoreLocation;
    use chrono::TimeZone;

    fn entry(period: &str, item: Option<&str>, kind: EntryKind, text: &str, ms: i64) -> Entry {
        Entry {
            checklist: "daily".into(),
            period: period.into(),
            item: item.map(str::to_owned),
            kind,
            text: text.into(),
            user: "alice".into(),
            host: "web-1".into(),
            at: Utc.timestamp_millis_opt(ms).single().expect("time"),
        }
    }

    #[tokio::test]
    async fn entries_round_trip_oldest_first_and_periods_newest_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
            .await
            .expect("open");
        let raw = "line1\nline2\u{1b}[31m\0end";
        let written = [
            entry("2026-11-22", Some("disk"), EntryKind::Tick, "", 3_000),
            entry("2026-11-22", Some("disk"), EntryKind::Note, raw, 1_000),
            entry("2026-11-22", None, EntryKind::SignOff, "", 5_000),
            entry("2026-11-21", Some("disk"), EntryKind::Skip, "why", 500),
            entry("2026-11-23", Some("disk"), EntryKind::Reopen, "", 200),
        ];
        for entry in &written {
            store.append_checklist_entry(entry).await.expect("append");
        }
        let run = store
            .checklist_entries("daily", "2026-11-22")
            .await
            .expect("entries");
        assert_eq!(
            run,
            vec![written[1].clone(), written[0].clone(), written[2].clone()]
        );
        assert_eq!(run[0].text, raw, "text is stored exactly");
        assert!(
            store
                .checklist_entries("weekly", "2026-11-22")
                .await
                .expect("none")
                .is_empty()
        );

        let periods = store.checklist_periods("daily", 2).await.expect("periods");
        let at = |ms| Utc.timestamp_millis_opt(ms).single().expect("time");
        assert_eq!(
            periods,
            vec![
                ("2026-11-23".to_owned(), at(200), at(200)),
                ("2026-11-22".to_owned(), at(1_000), at(5_000)),
            ]
        );
        store.close().await;
    }
}
