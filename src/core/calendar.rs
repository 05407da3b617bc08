//! The maintenance calendar: the next days' due times of the scheduled tasks and the
//! checklists, and the past days' with what happened to each (from the audit log and the
//! checklist store): ran, failed, skipped, missed, done. `opsdeck schedule` and the console's
//! calendar show the same [`Calendar`].

use std::collections::{HashMap, HashSet};

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
    /// How many due times of one day this entry stands for (a task due every few minutes
    /// would otherwise fill the calendar), the last of them at `until`.
    pub count: usize,
    pub until: Option<DateTime<Utc>>,
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
    /// When opsdeck began watching each task's schedule, and each checklist's under
    /// [`checklist_watch_key`]: an earlier due time that nothing ran for (a checklist period
    /// that ended before) is left out rather than called missed (absent: watched since `now`).
    pub watched_since: &'a HashMap<String, DateTime<Utc>>,
}

/// A checklist's key among the watched schedules (task ids are the others').
pub fn checklist_watch_key(checklist_id: &str) -> String {
    format!("checklist:{checklist_id}")
}

/// Builds the calendar around `now` in `zone`.
pub fn build<Tz: TimeZone>(sources: &Sources, now: DateTime<Utc>, zone: &Tz) -> Calendar {
    let start = now - TimeDelta::days(DAYS);
    let end = now + TimeDelta::days(DAYS);
    let mut past = Vec::new();
    let mut upcoming = Vec::new();
    let mut matched: HashSet<&str> = HashSet::new();
    // Each task's runs in start order, to find the one after a due time by bisection.
    let mut runs_of: HashMap<&str, Vec<&TaskRun>> = HashMap::new();
    for run in sources.runs {
        runs_of.entry(&run.task_id).or_default().push(run);
    }
    for runs in runs_of.values_mut() {
        runs.sort_by_key(|run| run.started_at);
    }
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
            count: 1,
            until: None,
        };
        let mut task_past = Vec::new();
        let watched_since = sources.watched_since.get(&task.id).copied().unwrap_or(now);
        let due_times = schedule.cron.latest_occurrences(start, now, zone);
        let runs = runs_of.get(task.id.as_str()).map_or(&[][..], Vec::as_slice);
        for (index, due) in due_times.iter().enumerate() {
            let until = due_times.get(index + 1).copied().unwrap_or(now);
            let first = runs.partition_point(|run| run.started_at < *due);
            let run = runs.get(first).filter(|run| run.started_at < until);
            match run {
                Some(run) => {
                    matched.insert(&run.id);
                    task_past.push(entry(
                        *due,
                        Outcome::of_run(run.status),
                        Some(run.trigger),
                        run.summary.clone().unwrap_or_default(),
                    ));
                }
                // Still within its grace: not missed yet.
                None if schedule.in_grace(*due, now) => {
                    task_past.push(entry(*due, Outcome::Due, None, "due now".into()));
                }
                None if *due >= watched_since => {
                    task_past.push(entry(*due, Outcome::Missed, None, "nothing ran".into()));
                }
                None => {}
            }
        }
        let note = if task.destructive && !schedule.unattended {
            "will be skipped: changes the system and unattended = false"
        } else {
            ""
        };
        past.extend(collapse(task_past, zone));
        let due: Vec<Entry> = schedule
            .cron
            .occurrences(now, end, zone)
            .into_iter()
            .map(|due| entry(due, Outcome::Due, None, note.into()))
            .collect();
        upcoming.extend(collapse(due, zone));
    }
    // Runs no due time accounts for (by hand, or of tasks without a schedule).
    for run in sources.runs {
        if run.started_at < start || run.started_at >= now || matched.contains(run.id.as_str()) {
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
            count: 1,
            until: None,
        });
    }
    for checklist in sources.checklists {
        let title = checklist.title.get(sources.language).to_owned();
        let watched_since = sources
            .watched_since
            .get(&checklist_watch_key(&checklist.id))
            .copied()
            .unwrap_or(now);
        for due in checklist_due_times(checklist, start, end, zone) {
            let entry = |outcome, detail: String| Entry {
                at: due,
                kind: Kind::Checklist,
                id: checklist.id.clone(),
                title: title.clone(),
                outcome,
                trigger: None,
                detail,
                count: 1,
                until: None,
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
            // A period over before anyone watched is nobody's miss (a fresh install's week).
            let (_, period_end) = period_bounds(checklist.period, due, zone);
            if run.is_none() && period_end <= watched_since {
                continue;
            }
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

/// One task's entries in time order, with each run of missed or upcoming due times on the same
/// local day made one entry.
fn collapse<Tz: TimeZone>(entries: Vec<Entry>, zone: &Tz) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(last) = out.last_mut()
            && matches!(entry.outcome, Outcome::Missed | Outcome::Due)
            && last.outcome == entry.outcome
            && last.at.with_timezone(zone).date_naive() == entry.at.with_timezone(zone).date_naive()
        {
            last.count += 1;
            last.until = Some(entry.at);
            continue;
        }
        out.push(entry);
    }
    out
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

/// Reads the past window's runs and checklist entries from the store, records when watching
/// the tasks' schedules began (if not yet), and builds the calendar.
pub async fn load<Tz: TimeZone>(
    store: &Store,
    host: &str,
    tasks: &[TaskInfo],
    checklists: &[Checklist],
    language: Language,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<Calendar, StoreError> {
    let start = now - TimeDelta::days(DAYS);
    let mut runs = store.runs_in(start, now).await?;
    // A shared store holds every host's runs; this host's schedule is kept by its own.
    runs.retain(|run| run.host == host);
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
    let scheduled: Vec<String> = tasks
        .iter()
        .filter(|task| task.schedule.is_some())
        .map(|task| task.id.clone())
        .chain(
            checklists
                .iter()
                .map(|checklist| checklist_watch_key(&checklist.id)),
        )
        .collect();
    let watched_since = store
        .watch_schedules(host, &scheduled, crate::core::model::now())
        .await?;
    let sources = Sources {
        tasks,
        checklists,
        language,
        runs: &runs,
        checklist_runs: &checklist_runs,
        watched_since: &watched_since,
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
            let times = entry.until.map_or_else(String::new, |until| {
                format!(
                    "×{} until {} ",
                    entry.count,
                    until.with_timezone(zone).format("%H:%M")
                )
            });
            let text = format!(
                "  {}  {:<9} {:<20} {:<8} {times}{}",
                entry.at.with_timezone(zone).format("%a %Y-%m-%d %H:%M"),
                kind,
                entry.id,
                entry.outcome.as_str(),
                crate::core::text::printable(&entry.detail)
            );
            out.push_str(text.trim_end());
            out.push('\n');
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::tasks::schedule::{CronExpr, TaskSchedule};

    fn task(id: &str, cron: &str) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            title: id.into(),
            description: String::new(),
            destructive: false,
            timeout: Duration::from_secs(60),
            concurrent: false,
            params: Vec::new(),
            schedule: Some(TaskSchedule {
                cron: CronExpr::parse(cron).unwrap_or_else(|error| panic!("{error}")),
                grace: Duration::from_secs(60),
                unattended: false,
            }),
        }
    }

    #[test]
    fn a_frequent_task_takes_one_line_a_day() {
        let now: DateTime<Utc> = "2026-12-05T12:00:00Z".parse().unwrap_or_default();
        let tasks = [task("often", "*/30 * * * *")];
        let watched_since = [("often".to_owned(), now - TimeDelta::days(30))].into();
        let sources = Sources {
            tasks: &tasks,
            checklists: &[],
            language: Language::En,
            runs: &[],
            checklist_runs: &[],
            watched_since: &watched_since,
        };
        let calendar = build(&sources, now, &Utc);
        // 28 Nov 12:00 to 5 Dec 12:00: eight calendar days, 336 due times, none ran.
        assert_eq!(calendar.past.len(), 8);
        assert!(
            calendar
                .past
                .iter()
                .all(|entry| entry.outcome == Outcome::Missed)
        );
        assert_eq!(
            calendar.past.iter().map(|entry| entry.count).sum::<usize>(),
            336
        );
        assert_eq!(calendar.past[1].count, 48);
        assert_eq!(
            calendar.past[1].until,
            "2026-11-29T23:30:00Z".parse::<DateTime<Utc>>().ok()
        );
        assert_eq!(calendar.upcoming.len(), 8);
        // Now itself is due: upcoming starts at it.
        assert_eq!(calendar.upcoming[0].at, now);
    }

    #[test]
    fn due_times_before_watching_began_are_not_missed() {
        let now: DateTime<Utc> = "2026-12-05T12:00:00Z".parse().unwrap_or_default();
        let tasks = [task("daily", "0 3 * * *")];
        let build_since = |since: DateTime<Utc>| {
            let watched_since = [("daily".to_owned(), since)].into();
            let sources = Sources {
                tasks: &tasks,
                checklists: &[],
                language: Language::En,
                runs: &[],
                checklist_runs: &[],
                watched_since: &watched_since,
            };
            build(&sources, now, &Utc)
        };
        // Watched since this morning's 10:00: the week's 03:00s passed unseen.
        let fresh = build_since("2026-12-05T10:00:00Z".parse().unwrap_or_default());
        assert!(fresh.past.is_empty(), "{:?}", fresh.past);
        assert_eq!(fresh.upcoming.len(), 7);
        // Watched since 3 December at 02:00: the 3rd's, 4th's and 5th's windows were missed.
        let later = build_since("2026-12-03T02:00:00Z".parse().unwrap_or_default());
        let missed: Vec<String> = later
            .past
            .iter()
            .map(|entry| format!("{} {}", entry.at.format("%d"), entry.outcome.as_str()))
            .collect();
        assert_eq!(missed, ["03 missed", "04 missed", "05 missed"]);
    }

    #[test]
    fn a_task_due_every_minute_shows_its_latest_due_times_with_their_runs() {
        let now: DateTime<Utc> = "2026-12-05T12:00:30Z".parse().unwrap_or_default();
        let tasks = [task("minutely", "* * * * *")];
        let watched_since = [("minutely".to_owned(), now - TimeDelta::days(30))].into();
        let runs: Vec<TaskRun> = (1..=10)
            .map(|minutes_ago| {
                let due = "2026-12-05T12:00:00Z"
                    .parse::<DateTime<Utc>>()
                    .unwrap_or_default()
                    - TimeDelta::minutes(minutes_ago);
                TaskRun {
                    id: format!("run-{minutes_ago}"),
                    task_id: "minutely".into(),
                    params: Default::default(),
                    plan: Vec::new(),
                    user: "cron".into(),
                    client: None,
                    host: "h".into(),
                    pid: 1,
                    started_at: due + TimeDelta::seconds(5),
                    ended_at: Some(due + TimeDelta::seconds(6)),
                    status: RunStatus::Succeeded,
                    exit_code: Some(0),
                    summary: None,
                    output: String::new(),
                    log_path: None,
                    trigger: Trigger::Schedule,
                }
            })
            .collect();
        let sources = Sources {
            tasks: &tasks,
            checklists: &[],
            language: Language::En,
            runs: &runs,
            checklist_runs: &[],
            watched_since: &watched_since,
        };
        let calendar = build(&sources, now, &Utc);
        // The runs of the last ten minutes are matched to their due times, not listed apart.
        let done: Vec<DateTime<Utc>> = calendar
            .past
            .iter()
            .filter(|entry| entry.outcome == Outcome::Ran)
            .map(|entry| entry.at)
            .collect();
        assert_eq!(done.len(), 10, "{:?}", calendar.past);
        assert!(done.iter().all(|at| at.timestamp() % 60 == 0), "{done:?}");
        // The look back covers the latest 500 due times, up to now, whose own is due, not missed.
        let oldest = calendar.past.first().map(|entry| entry.at);
        assert_eq!(
            oldest,
            Some(now - TimeDelta::seconds(30) - TimeDelta::minutes(499))
        );
        let latest = calendar.past.last().map(|entry| (entry.at, entry.outcome));
        assert_eq!(latest, Some((now - TimeDelta::seconds(30), Outcome::Due)));
    }

    #[test]
    fn checklist_periods_over_before_watching_began_are_not_missed() {
        use crate::core::checklists::{KnownNames, definition};
        let (checklists, problems) = definition::load_all(None, &KnownNames::default());
        assert!(problems.is_empty(), "{problems:?}");
        let daily: Vec<Checklist> = checklists
            .into_iter()
            .filter(|checklist| checklist.id == "daily")
            .collect();
        let now: DateTime<Utc> = "2026-12-05T23:00:00Z".parse().unwrap_or_default();
        let build_since = |since: Option<DateTime<Utc>>| {
            let watched_since = since
                .map(|since| (checklist_watch_key("daily"), since))
                .into_iter()
                .collect();
            let sources = Sources {
                tasks: &[],
                checklists: &daily,
                language: Language::En,
                runs: &[],
                checklist_runs: &[],
                watched_since: &watched_since,
            };
            build(&sources, now, &Utc)
        };
        // A fresh install: the past week's dailies were nobody's; today's still counts.
        let fresh = build_since(None);
        let days: Vec<String> = fresh
            .past
            .iter()
            .map(|entry| entry.at.format("%d").to_string())
            .collect();
        assert_eq!(days, ["05"], "{:?}", fresh.past);
        // Watched for a month: every day of the week that nobody signed off was missed.
        let watched = build_since(Some(now - TimeDelta::days(30)));
        let missed = watched
            .past
            .iter()
            .filter(|entry| entry.outcome == Outcome::Missed)
            .count();
        assert!(missed >= 7, "{:?}", watched.past);
    }
}
