//! The maintenance calendar: the next days' due times of the scheduled tasks and the
//! checklists, and the past days' with what happened to each (from the audit log and the
//! checklist store): ran, failed, skipped, missed, done. `opsdeck schedule` and the console's
//! calendar show the same [`Calendar`].

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::Serialize;

use crate::core::checklists::schedule::{due_at, period_bounds, period_key};
use crate::core::checklists::{Checklist, Language, run::fold};
use crate::core::model::{RunStatus, TaskRun, Trigger};
use crate::core::store::{Store, StoreError};
use crate::core::tasks::TaskInfo;

/// How many days the calendar looks ahead and back.
pub const DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Task,
    Checklist,
}

/// What became of a due time (or a run that no schedule asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Upcoming.
    Due,
    Ran,
    Running,
    Failed,
    /// Refused: read-only, or destructive without `unattended`; for checklists, signed off
    /// with items skipped.
    Skipped,
    /// Nothing ran (no run since the due time), or a checklist not signed off.
    Missed,
    /// A checklist signed off.
    Done,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Due => "due",
            Outcome::Ran => "ran",
            Outcome::Running => "running",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Missed => "missed",
            Outcome::Done => "done",
        }
    }

    fn of_run(status: RunStatus) -> Outcome {
        match status {
            RunStatus::Succeeded => Outcome::Ran,
            RunStatus::Running => Outcome::Running,
            RunStatus::Refused => Outcome::Skipped,
            RunStatus::Failed
            | RunStatus::Cancelled
            | RunStatus::TimedOut
            | RunStatus::Interrupted => Outcome::Failed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The due time; for a run no schedule asked for, its start.
    pub at: DateTime<Utc>,
    pub kind: Kind,
    pub id: String,
    pub title: String,
    pub outcome: Outcome,
    /// The run's trigger, when something ran.
    pub trigger: Option<Trigger>,
    /// The run's summary, a refusal's reason, a checklist's progress, or what will happen.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Calendar {
    pub now: DateTime<Utc>,
    /// Oldest first, from `now` minus [`DAYS`].
    pub past: Vec<Entry>,
    /// Soonest first, up to `now` plus [`DAYS`].
    pub upcoming: Vec<Entry>,
}

/// What the calendar is built from; `runs` are the audit log's runs started in the past window.
pub struct Sources<'a> {
    pub tasks: &'a [TaskInfo],
    pub checklists: &'a [Checklist],
    pub language: Language,
    pub runs: &'a [TaskRun],
    /// Each checklist run in the window, as (checklist id, period key) → its folded state.
    pub checklist_runs: &'a [crate::core::checklists::RunState],
}

/// Builds the calendar around `now` in `zone`.
pub fn build<Tz: TimeZone>(sources: &Sources, now: DateTime<Utc>, zone: &Tz) -> Calendar {
    let start = now - TimeDelta::days(DAYS);
    let end = now + TimeDelta::days(DAYS);
    let mut past = Vec::new();
    let mut upcoming = Vec::new();
    let mut matched: Vec<&str> = Vec::new();
    for task in sources.tasks {
        let Some(schedule) = &task.schedule else {
            continue;
        };
        let entry = |at, outcome, trigger, detail: String| Entry {
            at,
            kind: Kind::Task,
            id: task.id.clone(),
            title: task.title.clone(),
            outcome,
            trigger,
            detail,
        };
        let due_times = schedule.cron.occurrences(start, now, zone);
        for (index, due) in due_times.iter().enumerate() {
            let until = due_times.get(index + 1).copied().unwrap_or(now);
            let run = sources.runs.iter().find(|run| {
                run.task_id == task.id && run.started_at >= *due && run.started_at < until
            });
            past.push(match run {
                Some(run) => {
                    matched.push(&run.id);
                    entry(
                        *due,
                        Outcome::of_run(run.status),
                        Some(run.trigger),
                        run.summary.clone().unwrap_or_default(),
                    )
                }
                None => entry(*due, Outcome::Missed, None, "nothing ran".into()),
            });
        }
        let note = if task.destructive && !schedule.unattended {
            "will be skipped: changes the system and unattended = false"
        } else {
            ""
        };
        for due in schedule.cron.occurrences(now, end, zone) {
            upcoming.push(entry(due, Outcome::Due, None, note.into()));
        }
    }
    // Runs no due time accounts for (by hand, or of tasks without a schedule).
    for run in sources.runs {
        if run.started_at < start || run.started_at >= now || matched.contains(&run.id.as_str()) {
            continue;
        }
        let title = sources
            .tasks
            .iter()
            .find(|task| task.id == run.task_id)
            .map_or_else(|| run.task_id.clone(), |task| task.title.clone());
        past.push(Entry {
            at: run.started_at,
            kind: Kind::Task,
            id: run.task_id.clone(),
            title,
            outcome: Outcome::of_run(run.status),
            trigger: Some(run.trigger),
            detail: run.summary.clone().unwrap_or_default(),
        });
    }
    for checklist in sources.checklists {
        let title = checklist.title.get(sources.language).to_owned();
        for due in checklist_due_times(checklist, start, end, zone) {
            let entry = |outcome, detail: String| Entry {
                at: due,
                kind: Kind::Checklist,
                id: checklist.id.clone(),
                title: title.clone(),
                outcome,
                trigger: None,
                detail,
            };
            if due >= now {
                upcoming.push(entry(Outcome::Due, String::new()));
                continue;
            }
            let period = period_key(checklist.period, due, zone);
            let run = sources
                .checklist_runs
                .iter()
                .find(|run| run.checklist == checklist.id && run.period == period);
            let (resolved, total) = run.map_or((0, checklist.items.len()), |run| run.progress());
            let skipped = run.map_or(0, |run| {
                run.items
                    .iter()
                    .filter(|item| {
                        matches!(
                            item.status,
                            crate::core::checklists::ItemStatus::Skipped { .. }
                        )
                    })
                    .count()
            });
            let still_open = TimeDelta::from_std(checklist.overdue_after)
                .ok()
                .and_then(|grace| due.checked_add_signed(grace))
                .is_none_or(|overdue_at| now < overdue_at);
            let outcome = match run.and_then(|run| run.signed_off.as_ref()) {
                Some(_) if skipped > 0 => Outcome::Skipped,
                Some(_) => Outcome::Done,
                None if still_open => Outcome::Due,
                None => Outcome::Missed,
            };
            let mut detail = format!("{resolved}/{total} items");
            if skipped > 0 {
                detail.push_str(&format!(", {skipped} skipped"));
            }
            past.push(entry(outcome, detail));
        }
    }
    past.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    upcoming.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    Calendar {
        now,
        past,
        upcoming,
    }
}

/// A checklist's due times in `[start, end)`: one per period.
fn checklist_due_times<Tz: TimeZone>(
    checklist: &Checklist,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    zone: &Tz,
) -> Vec<DateTime<Utc>> {
    let mut found = Vec::new();
    let mut at = start;
    while at < end {
        let due = due_at(checklist, at, zone);
        if due >= start && due < end {
            found.push(due);
        }
        let (_, next) = period_bounds(checklist.period, at, zone);
        if next <= at {
            break;
        }
        at = next;
    }
    found
}

/// Reads the past window's runs and checklist entries from the store and builds the calendar.
pub async fn load<Tz: TimeZone>(
    store: &Store,
    tasks: &[TaskInfo],
    checklists: &[Checklist],
    language: Language,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<Calendar, StoreError> {
    let start = now - TimeDelta::days(DAYS);
    let runs = store.runs_in(start, now).await?;
    let mut checklist_runs = Vec::new();
    for checklist in checklists {
        for due in checklist_due_times(checklist, start, now, zone) {
            let period = period_key(checklist.period, due, zone);
            let entries = store.checklist_entries(&checklist.id, &period).await?;
            if !entries.is_empty() {
                checklist_runs.push(fold(checklist, &period, &entries));
            }
        }
    }
    let sources = Sources {
        tasks,
        checklists,
        language,
        runs: &runs,
        checklist_runs: &checklist_runs,
    };
    Ok(build(&sources, now, zone))
}

impl Calendar {
    /// The calendar as text: one line per entry, in local time.
    pub fn to_text<Tz: TimeZone>(&self, zone: &Tz) -> String
    where
        Tz::Offset: std::fmt::Display,
    {
        let mut out = String::new();
        let line = |out: &mut String, entry: &Entry| {
            let kind = match entry.kind {
                Kind::Task => "task",
                Kind::Checklist => "checklist",
            };
            out.push_str(&format!(
                "  {}  {:<9} {:<20} {:<8} {}\n",
                entry.at.with_timezone(zone).format("%a %Y-%m-%d %H:%M"),
                kind,
                entry.id,
                entry.outcome.as_str(),
                crate::core::text::printable(&entry.detail)
            ));
        };
        out.push_str(&format!("past {DAYS} days\n"));
        if self.past.is_empty() {
            out.push_str("  nothing was due\n");
        }
        for entry in &self.past {
            line(&mut out, entry);
        }
        out.push_str(&format!("next {DAYS} days\n"));
        if self.upcoming.is_empty() {
            out.push_str("  nothing is scheduled\n");
        }
        for entry in &self.upcoming {
            line(&mut out, entry);
        }
        out
    }
}
