//! Maintenance checklists: their definitions (daily, weekly, monthly and quarterly files built
//! from the teams' guides, plus the user's own), the period each run belongs to and when it is
//! due, and the run itself as an append-only log of entries (tick, skip, note, sign-off) that
//! two consoles can write to at once without losing each other's work.

pub mod definition;
pub mod export;
mod records;
pub mod run;
pub mod schedule;
pub mod service;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The language checklist text is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Ko,
}

impl Language {
    /// `configured` ("en", "ko" or "auto"/empty) wins; otherwise `LANG`/`LC_ALL`/`LC_MESSAGES`
    /// starting with `ko` means Korean.
    pub fn choose(configured: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Language {
        match configured.map(str::trim) {
            Some("ko") => return Language::Ko,
            Some("en") => return Language::En,
            _ => {}
        }
        let korean = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| env(name))
            .find(|value| !value.is_empty())
            .is_some_and(|value| value.starts_with("ko"));
        if korean { Language::Ko } else { Language::En }
    }
}

/// Text in English and, optionally, Korean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub en: String,
    #[serde(default)]
    pub ko: Option<String>,
}

impl Text {
    pub fn get(&self, language: Language) -> &str {
        match (language, &self.ko) {
            (Language::Ko, Some(ko)) => ko,
            _ => &self.en,
        }
    }
}

/// How often a checklist runs; each run belongs to one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
    Quarter,
}

/// A live check an item shows: a metric judged by the same rules as the alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRef {
    /// e.g. `cpu.used_pct`.
    pub metric: String,
    /// e.g. `/var` for `disk.used_pct`; `None` means every instance (the worst one is shown).
    pub instance: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: String,
    pub text: Text,
    pub check: Option<CheckRef>,
    /// A task id the item offers to run.
    pub task: Option<String>,
    pub note_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checklist {
    pub id: String,
    pub title: Text,
    pub period: Period,
    /// 5-field cron expression (local time): when in its period the checklist becomes due.
    pub schedule: String,
    /// How long after becoming due an unfinished run counts as overdue.
    pub overdue_after: Duration,
    pub items: Vec<Item>,
    /// The file it came from (`builtin:daily.toml` for the shipped ones).
    pub source: String,
}

/// What an entry in a run's log does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The item is done.
    Tick,
    /// Undo a tick or skip.
    Reopen,
    /// Not done on purpose; `text` is the reason.
    Skip,
    /// A note on the item (or on the run, without an item).
    Note,
    /// The whole run is signed off.
    SignOff,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Tick => "tick",
            EntryKind::Reopen => "reopen",
            EntryKind::Skip => "skip",
            EntryKind::Note => "note",
            EntryKind::SignOff => "sign_off",
        }
    }

    pub fn parse(text: &str) -> Option<EntryKind> {
        match text {
            "tick" => Some(EntryKind::Tick),
            "reopen" => Some(EntryKind::Reopen),
            "skip" => Some(EntryKind::Skip),
            "note" => Some(EntryKind::Note),
            "sign_off" => Some(EntryKind::SignOff),
            _ => None,
        }
    }
}

/// One thing someone did to a run, stored the moment it is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub checklist: String,
    /// The period key, e.g. `2026-11-22`, `2026-W47`, `2026-11`, `2026-Q4`.
    pub period: String,
    pub item: Option<String>,
    pub kind: EntryKind,
    /// The skip reason or the note, exactly as typed (control characters included).
    pub text: String,
    pub user: String,
    pub host: String,
    pub at: DateTime<Utc>,
}

/// Where an item stands in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ItemStatus {
    Open,
    Done {
        by: String,
        at: DateTime<Utc>,
    },
    Skipped {
        by: String,
        at: DateTime<Utc>,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemState {
    pub item: String,
    pub status: ItemStatus,
    /// (who, when, text), oldest first.
    pub notes: Vec<(String, DateTime<Utc>, String)>,
}

/// A run folded from its entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunState {
    pub checklist: String,
    pub period: String,
    /// In the checklist's item order; entries for items no longer defined are kept in `entries`.
    pub items: Vec<ItemState>,
    /// Notes on the run as a whole.
    pub notes: Vec<(String, DateTime<Utc>, String)>,
    pub signed_off: Option<(String, DateTime<Utc>)>,
    pub started_at: Option<DateTime<Utc>>,
    pub entries: Vec<Entry>,
}

impl RunState {
    /// Items done or skipped, and all items.
    pub fn progress(&self) -> (usize, usize) {
        let resolved = self
            .items
            .iter()
            .filter(|item| item.status != ItemStatus::Open)
            .count();
        (resolved, self.items.len())
    }
}

/// Where a checklist stands in its current period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueState {
    /// Not due yet in this period, and not started.
    Upcoming,
    /// Due and not started.
    Due,
    InProgress,
    Done,
    /// Due for longer than `overdue_after` and not signed off.
    Overdue,
}

impl DueState {
    pub fn label(self) -> &'static str {
        match self {
            DueState::Upcoming => "upcoming",
            DueState::Due => "due",
            DueState::InProgress => "in progress",
            DueState::Done => "done",
            DueState::Overdue => "overdue",
        }
    }
}

/// A checklist file that could not be used, with where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{file}:{line}: {message}; fix: {fix}")]
pub struct ChecklistError {
    pub file: String,
    pub line: usize,
    pub message: String,
    pub fix: String,
}

/// Names a checklist may refer to, for validating files.
#[derive(Debug, Clone, Default)]
pub struct KnownNames {
    pub metrics: Vec<String>,
    pub tasks: Vec<String>,
}

/// Where user checklist files live: `<config dir>/checklists/*.toml`.
pub fn user_dir(config_dir: &std::path::Path) -> PathBuf {
    config_dir.join("checklists")
}
