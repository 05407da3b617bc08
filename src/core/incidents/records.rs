//! Incidents in the state store: an append-only log of events. Nothing here updates or deletes
//! a row, so two consoles (or a console and the CLI) changing one incident at once can only add
//! to it, never overwrite each other (there is no read-modify-write to race on).

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Change, Event, Incident, fold};
use crate::core::sources::secrets::redact;
use crate::core::store::{Store, StoreError, from_millis};

impl Store {
    pub async fn append_incident_event(&self, event: &Event) -> Result<(), StoreError> {
        let change = redacted(&event.change);
        let payload = serde_json::to_string(&change)
            .map_err(|error| self.query_error()(sqlx::Error::Encode(Box::new(error))))?;
        sqlx::query(
            "INSERT INTO incident_events (incident, kind, payload, user_name, host, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&event.incident)
        .bind(change.kind())
        .bind(payload)
        .bind(&event.user)
        .bind(&event.host)
        .bind(event.at.timestamp_millis())
        .execute(&self.pool)
        .await
        .map_err(self.query_error())?;
        Ok(())
    }

    /// The events of one incident, oldest first.
    pub async fn incident_events(&self, incident: &str) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT incident, kind, payload, user_name, host, at
             FROM incident_events WHERE incident = $1 ORDER BY at",
        )
        .bind(incident)
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        self.events_from(&rows)
    }

    /// One incident as it stands, or `None` when no incident has that id.
    pub async fn incident(&self, incident: &str) -> Result<Option<Incident>, StoreError> {
        Ok(fold(incident, &self.incident_events(incident).await?))
    }

    /// Every incident, in the order they were opened.
    pub async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(
            "SELECT incident, kind, payload, user_name, host, at FROM incident_events ORDER BY at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.query_error())?;
        let mut by_incident: HashMap<String, Vec<Event>> = HashMap::new();
        for event in self.events_from(&rows)? {
            by_incident
                .entry(event.incident.clone())
                .or_default()
                .push(event);
        }
        let mut incidents: Vec<Incident> = by_incident
            .iter()
            .filter_map(|(id, events)| fold(id, events))
            .collect();
        incidents.sort_by_key(|incident| incident.detected.at);
        Ok(incidents)
    }

    fn events_from(&self, rows: &[AnyRow]) -> Result<Vec<Event>, StoreError> {
        // A change this version does not know (written by a newer opsdeck sharing the store) is
        // left out rather than failing the whole incident.
        rows.iter()
            .filter_map(|row| event_from_row(row).transpose())
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.query_error())
    }
}

/// The change with the free text people typed or pasted passed through the secret filter: the
/// log is shared with the team and ends up in postmortems, a pasted password must not.
fn redacted(change: &Change) -> Change {
    match change {
        Change::Opened {
            title,
            level,
            affects,
            evidence,
        } => Change::Opened {
            title: redact(title),
            level: *level,
            affects: affects.clone(),
            evidence: redact(evidence),
        },
        Change::Note { text, evidence } => Change::Note {
            text: redact(text),
            evidence: redact(evidence),
        },
        Change::ActionAdded { text, owner, due } => Change::ActionAdded {
            text: redact(text),
            owner: owner.clone(),
            due: *due,
        },
        Change::Observed {
            source,
            text,
            evidence,
            link,
        } => Change::Observed {
            source: *source,
            text: redact(text),
            evidence: redact(evidence),
            link: link.clone(),
        },
        other => other.clone(),
    }
}

fn event_from_row(row: &AnyRow) -> Result<Option<Event>, sqlx::Error> {
    let payload: String = row.try_get("payload")?;
    let Ok(change) = serde_json::from_str::<Change>(&payload) else {
        return Ok(None);
    };
    Ok(Some(Event {
        incident: row.try_get("incident")?,
        change,
        user: row.try_get("user_name")?,
        host: row.try_get("host")?,
        at: from_millis(row.try_get("at")?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::Level;
    use crate::core::store::StoreLocation;
    use chrono::{TimeZone, Utc};

    fn event(incident: &str, change: Change, ms: i64) -> Event {
        Event {
            incident: incident.into(),
            change,
            user: "alice".into(),
            host: "web-1".into(),
            at: Utc.timestamp_millis_opt(ms).single().expect("time"),
        }
    }

    #[tokio::test]
    async fn events_round_trip_redacted_and_incidents_fold_in_opening_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
            .await
            .expect("open");
        let opened = |title: &str| Change::Opened {
            title: title.into(),
            level: Level::P1,
            affects: vec!["api".into()],
            evidence: String::new(),
        };
        let raw = "line1\nline2\u{1b}[31m\0end";
        let written = [
            event("INC-B", opened("second"), 2_000),
            event("INC-A", opened("first"), 1_000),
            event(
                "INC-A",
                Change::Note {
                    text: raw.into(),
                    evidence: "psql postgres://app:hunter2@db/app".into(),
                },
                3_000,
            ),
            event("INC-A", Change::Acknowledged, 4_000),
        ];
        for event in &written {
            store.append_incident_event(event).await.expect("append");
        }
        let events = store.incident_events("INC-A").await.expect("events");
        assert_eq!(events.len(), 3);
        assert_eq!(events[0], written[1]);
        let Change::Note { text, evidence } = &events[1].change else {
            panic!("a note: {events:?}");
        };
        assert_eq!(text, raw, "text is stored exactly");
        assert!(!evidence.contains("hunter2"), "{evidence}");

        let incidents = store.incidents().await.expect("incidents");
        let titles: Vec<&str> = incidents.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(titles, ["first", "second"]);
        assert!(incidents[0].acknowledged.is_some());
        assert_eq!(store.incident("INC-C").await.expect("none"), None);
        store.close().await;
    }
}
