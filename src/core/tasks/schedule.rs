//! Task schedules: a 5-field cron expression in local time with a grace period, when a task is
//! next due, the due time it last missed, and the crontab lines and systemd units that call
//! `opsdeck run --due`. opsdeck is no daemon: cron or a systemd timer wakes it.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Serialize, Serializer};

use crate::core::model::{Metric, Unit};

/// The guides' maintenance schedule (000 maintenance-schedule.yml): daily at 03:00 log rotation,
/// cache and temp cleanup; Sundays at 01:00 database optimisation and index rebuild; the 1st of
/// the month at 00:00 the security work.
pub const GUIDE_SCHEDULES: [(&str, &str); 6] = [
    ("log-rotation", "0 3 * * *"),
    ("cache-cleanup", "0 3 * * *"),
    ("temp-cleanup", "0 3 * * *"),
    ("db-vacuum-analyze", "0 1 * * 0"),
    ("db-reindex", "0 1 * * 0"),
    ("security-scan", "0 0 1 * *"),
];

/// The guides' schedule for a built-in task, if it has one.
pub fn guide_schedule(task_id: &str) -> Option<&'static str> {
    GUIDE_SCHEDULES
        .iter()
        .find(|(id, _)| *id == task_id)
        .map(|(_, cron)| *cron)
}

/// How long after its due time a task may still succeed before it counts as overdue.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// At most this many occurrences are listed for one task in a window (a task due every minute
/// would otherwise fill a week with 10,080 of them).
pub const MAX_OCCURRENCES: usize = 500;

/// A checked 5-field cron expression (minute hour day-of-month month day-of-week).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    text: String,
    cron: croner::Cron,
}

impl CronExpr {
    /// Parses exactly five fields; croner's extensions (`L`, `W`, `#`, names) are accepted.
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        let fields = text.split_whitespace().count();
        if fields != 5 || text.contains('@') {
            return Err(format!(
                "`{text}` is not a 5-field cron expression (minute hour day-of-month month day-of-week)"
            ));
        }
        let cron = croner::Cron::from_str(text)
            .map_err(|error| format!("`{text}` is not a valid cron expression: {error}"))?;
        Ok(CronExpr {
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first due time strictly after `after`.
    pub fn next_after<Tz: TimeZone>(
        &self,
        after: DateTime<Utc>,
        zone: &Tz,
    ) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(zone), false)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }

    /// The last due time at or before `at`.
    pub fn last_at_or_before<Tz: TimeZone>(
        &self,
        at: DateTime<Utc>,
        zone: &Tz,
    ) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&at.with_timezone(zone), true)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }

    /// Due times in `[from, to)`, in order.
    fn due_times<'a, Tz: TimeZone>(
        &'a self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        zone: &'a Tz,
    ) -> impl Iterator<Item = DateTime<Utc>> + 'a {
        let first = self
            .cron
            .find_next_occurrence(&from.with_timezone(zone), true)
            .ok()
            .map(|at| at.with_timezone(&Utc));
        std::iter::successors(first, move |due| self.next_after(*due, zone))
            .take_while(move |due| *due < to)
    }

    /// Due times in `[from, to)`, the first [`MAX_OCCURRENCES`] of them.
    pub fn occurrences<Tz: TimeZone>(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        zone: &Tz,
    ) -> Vec<DateTime<Utc>> {
        self.due_times(from, to, zone)
            .take(MAX_OCCURRENCES)
            .collect()
    }

    /// Due times in `[from, to)`, the latest [`MAX_OCCURRENCES`] of them: a look back at the past
    /// wants the recent end of a busy schedule, not its oldest hours.
    pub fn latest_occurrences<Tz: TimeZone>(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        zone: &Tz,
    ) -> Vec<DateTime<Utc>> {
        let mut found = std::collections::VecDeque::with_capacity(MAX_OCCURRENCES + 1);
        for due in self.due_times(from, to, zone) {
            found.push_back(due);
            if found.len() > MAX_OCCURRENCES {
                found.pop_front();
            }
        }
        found.into()
    }

    /// The expression with its fields, for turning into other schedulers' syntax.
    fn fields(&self) -> Vec<&str> {
        self.text.split_whitespace().collect()
    }
}

impl Serialize for CronExpr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// When a task runs on its own (through `opsdeck run --due`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSchedule {
    pub cron: CronExpr,
    /// How long after a due time a success still counts as on time.
    #[serde(serialize_with = "seconds")]
    pub grace: Duration,
    /// A destructive task runs from the schedule only when its config says so.
    pub unattended: bool,
}

fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

/// Where a scheduled task stands at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueStatus {
    pub next_run: Option<DateTime<Utc>>,
    /// The last due time at or before now.
    pub last_due: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// When opsdeck began watching the schedule; earlier due times are never missed.
    pub watched_since: DateTime<Utc>,
    /// The latest due time whose grace has run out without a success since: the task is
    /// overdue since then.
    pub missed: Option<DateTime<Utc>>,
}

impl DueStatus {
    pub fn overdue(&self) -> bool {
        self.missed.is_some()
    }
}

impl TaskSchedule {
    /// Whether a run for `due` is still on time at `now`.
    pub fn in_grace(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - due < TimeDelta::from_std(self.grace).unwrap_or(TimeDelta::MAX)
    }

    /// Overdue: no success since the last due time whose grace has run out, if that due time
    /// came at or after `watched_since` (a window that passed before opsdeck looked at the
    /// schedule, as on a fresh install, is no alarm).
    pub fn status<Tz: TimeZone>(
        &self,
        watched_since: DateTime<Utc>,
        last_success: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> DueStatus {
        let grace = TimeDelta::from_std(self.grace).unwrap_or(TimeDelta::MAX);
        let missed = now
            .checked_sub_signed(grace)
            .and_then(|cutoff| self.cron.last_at_or_before(cutoff, zone))
            .filter(|due| *due >= watched_since)
            .filter(|due| last_success.is_none_or(|success| success < *due));
        DueStatus {
            next_run: self.cron.next_after(now, zone),
            last_due: self.cron.last_at_or_before(now, zone),
            last_success,
            watched_since,
            missed,
        }
    }
}

/// The metrics a scheduled task reports; rules may name them.
pub const TASK_METRICS: &[&str] = &[OVERDUE_METRIC, LAST_SUCCESS_AGE_METRIC];
/// 1 when the task is overdue, else 0.
pub const OVERDUE_METRIC: &str = "task.overdue";
/// Seconds since the task last succeeded (absent when it never did).
pub const LAST_SUCCESS_AGE_METRIC: &str = "task.last_success_age";

/// Where every scheduled task stands at one moment, as the rules and the tasks pane see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleSample {
    pub taken_at: DateTime<Utc>,
    /// (task id, its status), in the tasks' order.
    pub tasks: Vec<(String, DueStatus)>,
}

impl ScheduleSample {
    /// Each scheduled task's status from when opsdeck began watching it (`now` for a task
    /// `watched` lacks) and when it last succeeded.
    pub fn new<Tz: TimeZone>(
        schedules: &[(String, TaskSchedule)],
        watched: &HashMap<String, DateTime<Utc>>,
        last_successes: &HashMap<String, DateTime<Utc>>,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> ScheduleSample {
        ScheduleSample {
            taken_at: now,
            tasks: schedules
                .iter()
                .map(|(task, schedule)| {
                    let status = schedule.status(
                        watched.get(task).copied().unwrap_or(now),
                        last_successes.get(task).copied(),
                        now,
                        zone,
                    );
                    (task.clone(), status)
                })
                .collect(),
        }
    }
}

impl crate::core::collectors::Sample for ScheduleSample {
    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = Vec::new();
        for (task, status) in &self.tasks {
            metrics.push(Metric {
                name: OVERDUE_METRIC,
                instance: Some(task.clone()),
                value: if status.overdue() { 1.0 } else { 0.0 },
                unit: Unit::Count,
            });
            if let Some(success) = status.last_success {
                metrics.push(Metric {
                    name: LAST_SUCCESS_AGE_METRIC,
                    instance: Some(task.clone()),
                    value: (self.taken_at - success).num_seconds().max(0) as f64,
                    unit: Unit::Seconds,
                });
            }
        }
        metrics
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// The distinct schedules with the tasks on each, in a stable order.
fn by_expression<'a>(
    schedules: &[(&'a str, &'a CronExpr)],
) -> BTreeMap<&'a str, (Vec<&'a str>, &'a CronExpr)> {
    let mut grouped: BTreeMap<&str, (Vec<&str>, &CronExpr)> = BTreeMap::new();
    for (task, cron) in schedules {
        grouped
            .entry(cron.as_str())
            .or_insert_with(|| (Vec::new(), cron))
            .0
            .push(task);
    }
    grouped
}

/// Whether every field is plain cron (numbers, `*`, `,`, `-`, `/`) that every cron and systemd
/// understands.
fn plain(field: &str) -> bool {
    field
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '*' | ',' | '-' | '/'))
}

/// Crontab lines that wake `command` at every due time. An expression with croner's
/// extensions (`L`, `W`, `#`, names) becomes the daily line at its minute and hour, which wakes
/// `run --due` on a superset of its days: `run --due` itself decides what is due.
pub fn crontab(schedules: &[(&str, &CronExpr)], command: &str) -> String {
    let mut out = String::from(
        "# opsdeck: `run --due` runs each task that is due and not already running.\n",
    );
    for (text, (tasks, cron)) in by_expression(schedules) {
        let fields = cron.fields();
        let line = if fields.iter().all(|field| plain(field)) {
            text.to_owned()
        } else if plain(fields[0]) && plain(fields[1]) {
            format!("{} {} * * *", fields[0], fields[1])
        } else {
            "* * * * *".to_owned()
        };
        out.push_str(&format!(
            "# {}: {text}\n{line} {command}\n",
            tasks.join(", ")
        ));
    }
    out
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The values a plain cron field stands for, `None` for `*` (every value).
fn expand(field: &str, low: u32, high: u32) -> Option<Vec<u32>> {
    if field == "*" {
        return None;
    }
    let mut values = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse().unwrap_or(1).max(1)),
            None => (part, 1),
        };
        let (start, end) = match range.split_once('-') {
            _ if range == "*" => (low, high),
            Some((start, end)) => (start.parse().unwrap_or(low), end.parse().unwrap_or(high)),
            None if step > 1 => (range.parse().unwrap_or(low), high),
            None => {
                let value = range.parse().unwrap_or(low);
                (value, value)
            }
        };
        values.extend((start..=end).step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Some(values)
}

fn join(values: &[u32], width: usize) -> String {
    values
        .iter()
        .map(|value| format!("{value:0width$}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `OnCalendar=` values for a plain expression: cron runs when the day of the month *or* the
/// day of the week matches (when both are restricted), systemd when both do, so that case
/// becomes two values.
fn on_calendar(cron: &CronExpr) -> Vec<String> {
    let fields = cron.fields();
    if !fields.iter().all(|field| plain(field)) {
        return match (expand(fields[0], 0, 59), expand(fields[1], 0, 23)) {
            (Some(minutes), Some(hours)) if plain(fields[0]) && plain(fields[1]) => {
                vec![format!(
                    "*-*-* {}:{}:00",
                    join(&hours, 2),
                    join(&minutes, 2)
                )]
            }
            _ => vec!["minutely".into()],
        };
    }
    let or_star = |values: Option<Vec<u32>>, width| values.map_or("*".into(), |v| join(&v, width));
    let time = format!(
        "{}:{}:00",
        or_star(expand(fields[1], 0, 23), 2),
        or_star(expand(fields[0], 0, 59), 2)
    );
    let months = or_star(expand(fields[3], 1, 12), 2);
    let days = expand(fields[2], 1, 31);
    let weekdays = expand(fields[4], 0, 7).map(|days| {
        let mut names: Vec<&str> = Vec::new();
        for day in days {
            let name = WEEKDAYS[(day % 7) as usize];
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(",")
    });
    let with_days = |days: &str| format!("*-{months}-{days} {time}");
    match (days, weekdays) {
        (None, None) => vec![with_days("*")],
        (Some(days), None) => vec![with_days(&join(&days, 2))],
        (None, Some(weekdays)) => vec![format!("{weekdays} {}", with_days("*"))],
        (Some(days), Some(weekdays)) => vec![
            with_days(&join(&days, 2)),
            format!("{weekdays} {}", with_days("*")),
        ],
    }
}

/// A oneshot service running `command` and a timer waking it at every due time, as
/// `(file name, contents)`.
pub fn systemd_units(schedules: &[(&str, &CronExpr)], command: &str) -> [(String, String); 2] {
    let service = format!(
        "[Unit]\nDescription=opsdeck: run the maintenance tasks that are due\n\n[Service]\nType=oneshot\nExecStart={command}\n"
    );
    let mut timer = String::from(
        "[Unit]\nDescription=opsdeck: wake `run --due` at the tasks' due times\n\n[Timer]\n",
    );
    for (text, (tasks, cron)) in by_expression(schedules) {
        timer.push_str(&format!("# {}: {text}\n", tasks.join(", ")));
        for value in on_calendar(cron) {
            timer.push_str(&format!("OnCalendar={value}\n"));
        }
    }
    timer.push_str("Persistent=true\n\n[Install]\nWantedBy=timers.target\n");
    [
        ("opsdeck-due.service".into(), service),
        ("opsdeck-due.timer".into(), timer),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|error| panic!("{text}: {error}"))
            .with_timezone(&Utc)
    }

    fn schedule(cron: &str, grace_minutes: u64) -> TaskSchedule {
        TaskSchedule {
            cron: CronExpr::parse(cron).unwrap_or_else(|error| panic!("{error}")),
            grace: Duration::from_secs(grace_minutes * 60),
            unattended: false,
        }
    }

    #[test]
    fn only_five_fields() {
        assert!(CronExpr::parse("0 3 * * *").is_ok());
        assert!(CronExpr::parse("0 2 * * TUE#2").is_ok());
        for bad in [
            "0 0 3 * * *",
            "0 3 * *",
            "@daily",
            "61 3 * * *",
            "x 3 * * *",
            "",
        ] {
            assert!(CronExpr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overdue_after_a_missed_window() {
        let daily = schedule("0 3 * * *", 60);
        // Watched for weeks, so every window below counts.
        let watched = utc("2026-11-01T00:00:00Z");
        // 03:30: due, still within grace, and yesterday's run succeeded.
        let yesterday = Some(utc("2026-12-04T03:05:00Z"));
        let status = daily.status(watched, yesterday, utc("2026-12-05T03:30:00Z"), &Utc);
        assert!(!status.overdue());
        assert_eq!(status.last_due, Some(utc("2026-12-05T03:00:00Z")));
        assert_eq!(status.next_run, Some(utc("2026-12-06T03:00:00Z")));
        // 04:00: grace over, no success since 03:00.
        let status = daily.status(watched, yesterday, utc("2026-12-05T04:00:00Z"), &Utc);
        assert_eq!(status.missed, Some(utc("2026-12-05T03:00:00Z")));
        // A success at 03:40 clears it.
        let today = Some(utc("2026-12-05T03:40:00Z"));
        assert!(
            !daily
                .status(watched, today, utc("2026-12-05T12:00:00Z"), &Utc)
                .overdue()
        );
        // Within today's grace, yesterday's window that never ran still counts.
        let days_ago = Some(utc("2026-12-03T03:05:00Z"));
        let status = daily.status(watched, days_ago, utc("2026-12-05T03:30:00Z"), &Utc);
        assert_eq!(status.missed, Some(utc("2026-12-04T03:00:00Z")));
        // Never run at all.
        assert!(
            daily
                .status(watched, None, utc("2026-12-05T12:00:00Z"), &Utc)
                .overdue()
        );
    }

    #[test]
    fn due_times_before_watching_began_are_not_missed() {
        let daily = schedule("0 3 * * *", 60);
        // Installed at 10:00, never run: this morning's 03:00 passed before anyone looked.
        let installed = utc("2026-12-05T10:00:00Z");
        let status = daily.status(installed, None, utc("2026-12-05T10:00:00Z"), &Utc);
        assert!(!status.overdue(), "{status:?}");
        assert_eq!(status.watched_since, installed);
        let status = daily.status(installed, None, utc("2026-12-06T03:59:00Z"), &Utc);
        assert!(!status.overdue(), "tomorrow's window is still in its grace");
        // Tomorrow's 03:00 came after watching began and its grace ran out: missed.
        let status = daily.status(installed, None, utc("2026-12-06T04:00:00Z"), &Utc);
        assert_eq!(status.missed, Some(utc("2026-12-06T03:00:00Z")));
        // A due time exactly at the watching instant counts.
        let at_due = utc("2026-12-05T03:00:00Z");
        let status = daily.status(at_due, None, utc("2026-12-05T04:00:00Z"), &Utc);
        assert_eq!(status.missed, Some(at_due));
        // The metrics agree: a task `watched` lacks is watched from now.
        let schedules = vec![("daily".to_owned(), daily)];
        let sample = ScheduleSample::new(
            &schedules,
            &HashMap::new(),
            &HashMap::new(),
            utc("2026-12-05T10:00:00Z"),
            &Utc,
        );
        assert!(!sample.tasks[0].1.overdue());
    }

    #[test]
    fn occurrences_are_capped() {
        let every_minute = CronExpr::parse("* * * * *").unwrap_or_else(|e| panic!("{e}"));
        let found = every_minute.occurrences(
            utc("2026-12-05T00:00:00Z"),
            utc("2026-12-12T00:00:00Z"),
            &Utc,
        );
        assert_eq!(found.len(), MAX_OCCURRENCES);
        let latest = every_minute.latest_occurrences(
            utc("2026-12-05T00:00:00Z"),
            utc("2026-12-12T00:00:00Z"),
            &Utc,
        );
        assert_eq!(latest.len(), MAX_OCCURRENCES);
        assert_eq!(latest.last(), Some(&utc("2026-12-11T23:59:00Z")));
        assert_eq!(latest[0], utc("2026-12-11T15:40:00Z"));
        let weekly = CronExpr::parse("0 1 * * 0").unwrap_or_else(|e| panic!("{e}"));
        let found = weekly.occurrences(
            utc("2026-12-05T00:00:00Z"),
            utc("2026-12-20T01:00:00Z"),
            &Utc,
        );
        assert_eq!(
            found,
            vec![utc("2026-12-06T01:00:00Z"), utc("2026-12-13T01:00:00Z")]
        );
    }

    #[test]
    fn systemd_calendar_values() {
        let values =
            |cron: &str| on_calendar(&CronExpr::parse(cron).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(values("0 3 * * *"), vec!["*-*-* 03:00:00"]);
        assert_eq!(values("0 1 * * 0"), vec!["Sun *-*-* 01:00:00"]);
        assert_eq!(
            values("*/20 8-10 * * 1-5"),
            vec!["Mon,Tue,Wed,Thu,Fri *-*-* 08,09,10:00,20,40:00"]
        );
        assert_eq!(
            values("0 0 1,15 * 1"),
            vec!["*-*-01,15 00:00:00", "Mon *-*-* 00:00:00"]
        );
        assert_eq!(values("0 2 * * TUE#2"), vec!["*-*-* 02:00:00"]);
    }
}
