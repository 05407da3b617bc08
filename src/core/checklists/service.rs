//! Checklist runs for the runner: reading the current run of every checklist, and recording an
//! entry (tick, skip, note, sign-off) in the store before anyone is told it happened. The log is
//! append-only, so two consoles ticking the same run at once both keep their ticks. As a
//! collector it reads every current run again on an interval, to show what another console
//! ticked.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Checklist, Entry, EntryKind, RunState, run, schedule};
use crate::core::collectors::Collector;
use crate::core::store::Store;

/// How often the checklists' runs are read again.
pub const CHECKLISTS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ChecklistService {
    checklists: Arc<Vec<Checklist>>,
    store: Option<Store>,
    user: String,
    host: String,
}

/// One entry someone wants recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRequest {
    pub checklist: String,
    /// `None`: the period containing now.
    pub period: Option<String>,
    pub item: Option<String>,
    pub kind: EntryKind,
    pub text: String,
}

impl ChecklistService {
    pub fn new(
        checklists: Vec<Checklist>,
        store: Option<Store>,
        user: String,
        host: String,
    ) -> Self {
        ChecklistService {
            checklists: Arc::new(checklists),
            store,
            user,
            host,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.checklists.is_empty()
    }

    fn store(&self) -> Result<&Store, String> {
        self.store.as_ref().ok_or_else(|| {
            "checklists need the state store, and it is not open; see the store error".to_owned()
        })
    }

    fn checklist(&self, id: &str) -> Result<&Checklist, String> {
        self.checklists
            .iter()
            .find(|checklist| checklist.id == id)
            .ok_or_else(|| {
                let known: Vec<&str> = self.checklists.iter().map(|c| c.id.as_str()).collect();
                format!("no checklist `{id}`; checklists are: {}", known.join(", "))
            })
    }

    /// The run of `period` (or of the current period) of one checklist.
    pub async fn load(&self, checklist: &str, period: Option<&str>) -> Result<RunState, String> {
        let definition = self.checklist(checklist)?;
        let period = period.map_or_else(
            || schedule::period_key(definition.period, crate::core::model::now(), &chrono::Local),
            str::to_owned,
        );
        let entries = self
            .store()?
            .checklist_entries(checklist, &period)
            .await
            .map_err(|error| error.to_string())?;
        Ok(run::fold(definition, &period, &entries))
    }

    /// The current run of every checklist.
    pub async fn current(&self) -> Result<Vec<RunState>, String> {
        let mut runs = Vec::with_capacity(self.checklists.len());
        for checklist in self.checklists.iter() {
            runs.push(self.load(&checklist.id, None).await?);
        }
        Ok(runs)
    }

    /// Past runs of a checklist: (period, first entry, last entry), newest first.
    pub async fn periods(
        &self,
        checklist: &str,
    ) -> Result<Vec<(String, DateTime<Utc>, DateTime<Utc>)>, String> {
        self.checklist(checklist)?;
        self.store()?
            .checklist_periods(checklist, 200)
            .await
            .map_err(|error| error.to_string())
    }

    /// Checks the entry against the run as stored now, stores it, and returns the run after it.
    pub async fn record(&self, request: EntryRequest) -> Result<RunState, String> {
        let definition = self.checklist(&request.checklist)?;
        let before = self
            .load(&request.checklist, request.period.as_deref())
            .await?;
        run::check_entry(
            definition,
            &before,
            request.kind,
            request.item.as_deref(),
            &request.text,
        )?;
        let entry = Entry {
            checklist: request.checklist.clone(),
            period: before.period.clone(),
            item: request.item,
            kind: request.kind,
            text: request.text,
            user: self.user.clone(),
            host: self.host.clone(),
            at: crate::core::model::now(),
        };
        self.store()?
            .append_checklist_entry(&entry)
            .await
            .map_err(|error| error.to_string())?;
        self.load(&request.checklist, Some(&before.period)).await
    }
}

impl Collector for ChecklistService {
    /// The current run of every checklist, or why they could not be read.
    type Sample = Result<Vec<RunState>, String>;

    fn id(&self) -> &str {
        "checklists"
    }

    fn interval(&self) -> Duration {
        CHECKLISTS_EVERY
    }

    async fn collect(&mut self) -> Option<Self::Sample> {
        Some(self.current().await)
    }
}
