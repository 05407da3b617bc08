//! Incidents for the runner: reading the open incidents (and those resolved in the last day) on
//! an interval, so the console shows what another console or the CLI changed, and recording a
//! change the console asks for, checked against the incident as stored, under the runner's
//! identity. Opening an incident is here too, so the CLI's `open` and the console's declaring
//! from an alert write it the same way (an alert already declared as, or attached to, an open
//! incident is refused, naming it). The automatic timeline appends its observations through here
//! too. The log is append-only, so two consoles changing one incident both keep their changes.
//!
//! Whoever makes a change that the team must hear about (an opening, a level change, a
//! resolution) announces it here, to the level's `[[escalation]]` contacts, and the
//! announcement is logged with the incident. The console's watch also announces an incident
//! that has gone overdue, once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::announce::announcement;
use super::{Change, Event, Incident, Notice, Opening, check, new_id, policy};
use crate::core::collectors::Collector;
use crate::core::notify::{Notifier, NotifySettings};
use crate::core::store::Store;

/// How often the incidents are read again.
pub const INCIDENTS_EVERY: Duration = Duration::from_secs(10);
/// How long a resolved incident stays on the console.
const RESOLVED_SHOWN: chrono::TimeDelta = chrono::TimeDelta::hours(24);

#[derive(Debug, Clone)]
pub struct IncidentService {
    store: Store,
    user: String,
    host: String,
    /// `None` when no channel is configured: nothing is announced.
    notifier: Option<Arc<Mutex<Notifier>>>,
}

/// Why a change was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRecorded {
    /// The change does not fit the incident as stored (already acknowledged…), and what to do.
    Refused(String),
    /// The store could not be read or written.
    Store(String),
}

fn store_error(error: crate::core::store::StoreError) -> NotRecorded {
    NotRecorded::Store(error.to_string())
}

impl IncidentService {
    pub fn new(store: Store, user: String, host: String) -> Self {
        IncidentService {
            store,
            user,
            host,
            notifier: None,
        }
    }

    /// The same service, announcing through the channels in `settings`.
    pub fn with_notifications(mut self, settings: NotifySettings) -> Self {
        let notifier = Notifier::new(settings);
        self.notifier = notifier
            .is_enabled()
            .then(|| Arc::new(Mutex::new(notifier)));
        self
    }

    /// The open incidents, those resolved in the last day and those with a follow-up action
    /// item past its due date, in the order they were opened.
    pub async fn current(&self) -> Result<Vec<Incident>, String> {
        let now = crate::core::model::now();
        let since = now - RESOLVED_SHOWN;
        let today = now.with_timezone(&chrono::Local).date_naive();
        let mut incidents = self
            .store
            .incidents()
            .await
            .map_err(|error| error.to_string())?;
        incidents.retain(|incident| {
            incident
                .resolved
                .as_ref()
                .is_none_or(|resolved| resolved.at >= since)
                || !incident.overdue_actions(today).is_empty()
        });
        Ok(incidents)
    }

    /// Opens a new incident under this identity and returns its id. An empty title or an empty
    /// name among what it affects is refused before anything is written.
    pub async fn open(&self, opening: Opening) -> Result<String, NotRecorded> {
        if opening.title.trim().is_empty() {
            return Err(NotRecorded::Refused(
                "the title is empty\n  fix: --title 'what is broken, as users see it'".to_owned(),
            ));
        }
        if opening.affects.iter().any(|name| name.trim().is_empty()) {
            return Err(NotRecorded::Refused(
                "an --affects name is empty\n  fix: name the system, service or instance, or leave --affects out"
                    .to_owned(),
            ));
        }
        if let Some(alert) = &opening.alert {
            let current = self.current().await.map_err(NotRecorded::Store)?;
            if let Some(known) = current
                .iter()
                .find(|incident| incident.is_open() && incident.knows_alert(alert))
            {
                let how = if known.declared_from(alert) {
                    "declared as"
                } else {
                    "attached to"
                };
                return Err(NotRecorded::Refused(format!(
                    "this alert is already {how} {} ({})\n  fix: work on it in the incidents pane, or resolve it and declare again",
                    known.id,
                    known.level.as_str()
                )));
            }
        }
        let now = crate::core::model::now();
        let mut id = new_id(now);
        // Ids are random enough that this only guards against the rare clash, never loops long.
        while self
            .store
            .incident(&id)
            .await
            .map_err(store_error)?
            .is_some()
        {
            id = new_id(now);
        }
        self.append(
            id.clone(),
            Change::Opened {
                title: opening.title,
                level: opening.level,
                affects: opening
                    .affects
                    .iter()
                    .map(|name| name.trim().to_owned())
                    .collect(),
                evidence: opening.evidence,
            },
            now,
        )
        .await?;
        Ok(id)
    }

    /// The incidents not resolved yet, for the timeline to add to.
    pub(super) async fn open_incidents(&self) -> Result<Vec<Incident>, String> {
        let mut incidents = self
            .store
            .incidents()
            .await
            .map_err(|error| error.to_string())?;
        incidents.retain(Incident::is_open);
        Ok(incidents)
    }

    /// Appends something the runner saw, without reading the incident again: observations are
    /// never refused, and the timeline writes many.
    pub(super) async fn observe(
        &self,
        incident: String,
        change: Change,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), NotRecorded> {
        self.append(incident, change, at).await
    }

    /// Appends one change under this identity.
    async fn append(
        &self,
        incident: String,
        change: Change,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), NotRecorded> {
        let event = Event {
            incident,
            change,
            user: self.user.clone(),
            host: self.host.clone(),
            at,
        };
        self.store
            .append_incident_event(&event)
            .await
            .map_err(store_error)
    }

    /// Checks the change against the incident as stored now, appends it, and returns the
    /// incidents after it (with whatever another console added meanwhile).
    pub async fn record(&self, id: &str, change: Change) -> Result<Vec<Incident>, NotRecorded> {
        self.change(id, change).await?;
        self.current().await.map_err(NotRecorded::Store)
    }

    /// Checks the change against the incident as stored now and appends it; returns the
    /// incident as it was before and as it reads back after (with whatever another console
    /// added meanwhile).
    pub async fn change(
        &self,
        id: &str,
        change: Change,
    ) -> Result<(Incident, Incident), NotRecorded> {
        let before = self.stored(id).await?;
        let now = crate::core::model::now();
        check(
            &before,
            &change,
            &self.user,
            now.with_timezone(&chrono::Local).date_naive(),
        )
        .map_err(NotRecorded::Refused)?;
        self.append(before.id.clone(), change, now).await?;
        let after = self.stored(id).await?;
        Ok((before, after))
    }

    async fn stored(&self, id: &str) -> Result<Incident, NotRecorded> {
        self.store
            .incident(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                NotRecorded::Refused(format!(
                    "no incident `{}`\n  fix: pass an id that `opsdeck incident list --all` shows",
                    crate::core::text::printable(id)
                ))
            })
    }

    /// Whether any channel is configured to announce through.
    pub fn announces(&self) -> bool {
        self.notifier.is_some()
    }

    /// Tells the contacts of the incident's level why (`notice`), through every configured
    /// channel, and logs who was told and what failed. Returns the failures; nothing is sent or
    /// logged when no channel is configured.
    pub async fn announce(&self, id: &str, notice: Notice) -> Result<Vec<String>, NotRecorded> {
        let Some(notifier) = &self.notifier else {
            return Ok(Vec::new());
        };
        let incident = self.stored(id).await?;
        let contacts = policy::current().contacts(incident.level);
        let failures = notifier
            .lock()
            .await
            .announce(&announcement(&incident, notice, &contacts))
            .await;
        let to = if contacts.is_empty() {
            vec![format!(
                "everyone on [notify] (no [[escalation]] contact for {})",
                incident.level.as_str()
            )]
        } else {
            contacts.iter().map(|contact| contact.label()).collect()
        };
        let change = Change::Notified {
            notice,
            to,
            failures: failures.clone(),
        };
        self.append(incident.id, change, crate::core::model::now())
            .await?;
        Ok(failures)
    }

    /// Announces, once, each open incident nobody acknowledged within its level's target.
    /// Each is read again first, so another console that already announced it is seen (two
    /// consoles reading at the very same moment can still both send). Returns how many were
    /// announced, and the failures.
    async fn announce_overdue(&self, incidents: &[Incident]) -> (usize, Vec<String>) {
        let now = crate::core::model::now();
        let unannounced = |incident: &Incident| {
            incident.overdue(now) && !incident.notices.contains(&Notice::Overdue)
        };
        let (mut announced, mut failures) = (0, Vec::new());
        for incident in incidents.iter().filter(|incident| unannounced(incident)) {
            let still = match self.stored(&incident.id).await {
                Ok(incident) => unannounced(&incident),
                Err(NotRecorded::Refused(_)) => false,
                Err(NotRecorded::Store(message)) => {
                    failures.push(message);
                    continue;
                }
            };
            if !still {
                continue;
            }
            match self.announce(&incident.id, Notice::Overdue).await {
                Ok(failed) => {
                    announced += 1;
                    failures.extend(failed);
                }
                Err(NotRecorded::Refused(message) | NotRecorded::Store(message)) => {
                    failures.push(message);
                }
            }
        }
        (announced, failures)
    }
}

/// The incidents the console shows, and what went wrong announcing those gone overdue.
#[derive(Debug, Clone)]
pub struct Watched {
    pub incidents: Result<Vec<Incident>, String>,
    pub failures: Vec<String>,
}

impl Collector for IncidentService {
    /// The incidents to show (or why they could not be read), after announcing those that went
    /// overdue.
    type Sample = Watched;

    fn id(&self) -> &str {
        "incidents"
    }

    fn interval(&self) -> Duration {
        INCIDENTS_EVERY
    }

    async fn collect(&mut self) -> Option<Self::Sample> {
        let mut incidents = self.current().await;
        let mut failures = Vec::new();
        if let (Some(_), Ok(read)) = (&self.notifier, &incidents) {
            let (announced, failed) = self.announce_overdue(read).await;
            failures = failed;
            if announced > 0 {
                // Read again so the announcements just logged are on screen.
                incidents = self.current().await;
            }
        }
        Some(Watched {
            incidents,
            failures,
        })
    }
}
