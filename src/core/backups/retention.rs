//! Which backups a prune may delete under a set's retention rule, with the safety rules every
//! prune obeys whatever the configuration says.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};

use crate::core::backups::{BackupFile, Retention};

/// The files of one set that `retention` lets a prune delete, in the order of `files`.
///
/// Whatever the rule, these are never expired:
/// - the newest file that could be inspected and is not in the future: if backups stopped, the
///   last one must survive however old it is;
/// - files whose time is after `now`, since that means a skewed clock, not a new backup;
/// - files with a `problem`: a prune must not delete what it could not inspect.
///
/// Calendar rules work on local days, ISO weeks and months in `zone`, like `restic forget
/// --keep-daily/--keep-weekly/--keep-monthly`: each keeps the newest file of each of its last `n`
/// periods that have backups, and a file kept by any rule is kept.
pub fn expired<'a, Tz: TimeZone>(
    files: &'a [BackupFile],
    retention: &Retention,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Vec<&'a BackupFile> {
    let mut prunable: Vec<usize> = (0..files.len())
        .filter(|&index| files[index].problem.is_none() && files[index].time <= now)
        .collect();
    // Newest first; equal times in name order, so the kept one does not depend on input order.
    prunable.sort_by(|&left, &right| {
        files[right]
            .time
            .cmp(&files[left].time)
            .then_with(|| files[left].path.cmp(&files[right].path))
    });
    let mut kept: HashSet<usize> = prunable.first().copied().into_iter().collect();
    match retention {
        Retention::Days(days) => {
            let cutoff = now - TimeDelta::days(i64::from(*days));
            kept.extend(
                prunable
                    .iter()
                    .copied()
                    .filter(|&index| files[index].time >= cutoff),
            );
        }
        Retention::Calendar {
            daily,
            weekly,
            monthly,
        } => {
            let local_date = |index: usize| files[index].time.with_timezone(zone).date_naive();
            for (count, period) in [
                (*daily, Period::Day),
                (*weekly, Period::IsoWeek),
                (*monthly, Period::Month),
            ] {
                kept.extend(newest_per_period(&prunable, count, |index| {
                    period.of(local_date(index))
                }));
            }
        }
    }
    prunable.retain(|index| !kept.contains(index));
    prunable.sort_unstable();
    prunable.into_iter().map(|index| &files[index]).collect()
}

#[derive(Debug, Clone, Copy)]
enum Period {
    Day,
    IsoWeek,
    Month,
}

impl Period {
    /// The period a local date falls in, as (year, number within the year).
    fn of(self, date: NaiveDate) -> (i32, u32) {
        match self {
            Period::Day => (date.year(), date.ordinal()),
            Period::IsoWeek => {
                let week = date.iso_week();
                (week.year(), week.week())
            }
            Period::Month => (date.year(), date.month()),
        }
    }
}

/// The first (newest) file of each of the first `count` distinct periods in `newest_first`.
fn newest_per_period(
    newest_first: &[usize],
    count: u32,
    period_of: impl Fn(usize) -> (i32, u32),
) -> Vec<usize> {
    let mut kept = Vec::new();
    let mut last_period = None;
    for &index in newest_first {
        if kept.len() >= count as usize {
            break;
        }
        let period = period_of(index);
        if last_period != Some(period) {
            kept.push(index);
            last_period = Some(period);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::FixedOffset;

    use super::*;
    use crate::core::backups::DetectedKind;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn file(name: &str, time: &str) -> BackupFile {
        let time = at(time);
        BackupFile {
            path: PathBuf::from("/backups").join(name),
            time,
            time_from_name: true,
            modified: time,
            size: 1024,
            kind: DetectedKind::PgDumpPlainGzip,
            problem: None,
            sidecar: None,
        }
    }

    fn names(expired: &[&BackupFile]) -> Vec<String> {
        expired
            .iter()
            .map(|file| {
                file.path
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    fn calendar(daily: u32, weekly: u32, monthly: u32) -> Retention {
        Retention::Calendar {
            daily,
            weekly,
            monthly,
        }
    }

    #[test]
    fn days_expires_what_is_older_than_the_cutoff() {
        let files = [
            file("d", "2025-11-20T03:00:00Z"),
            file("c", "2025-11-13T03:00:01Z"),
            file("b", "2025-11-13T03:00:00Z"),
            file("a", "2025-11-13T02:59:59Z"),
            file("old", "2025-01-01T00:00:00Z"),
        ];
        let now = at("2025-11-20T03:00:00Z");
        let expired = expired(&files, &Retention::Days(7), now, &Utc);
        assert_eq!(names(&expired), ["a", "old"]);
    }

    #[test]
    fn result_keeps_input_order() {
        let files = [
            file("old-1", "2025-01-01T00:00:00Z"),
            file("new", "2025-11-20T00:00:00Z"),
            file("old-3", "2025-03-01T00:00:00Z"),
            file("old-2", "2025-02-01T00:00:00Z"),
        ];
        let now = at("2025-11-20T03:00:00Z");
        let expired = expired(&files, &Retention::Days(30), now, &Utc);
        assert_eq!(names(&expired), ["old-1", "old-3", "old-2"]);
    }

    #[test]
    fn the_newest_backup_survives_when_everything_is_older_than_retention() {
        let files = [
            file("c", "2025-06-03T03:00:00Z"),
            file("b", "2025-06-02T03:00:00Z"),
            file("a", "2025-06-01T03:00:00Z"),
        ];
        let now = at("2025-11-20T03:00:00Z");
        assert_eq!(
            names(&expired(&files, &Retention::Days(30), now, &Utc)),
            ["b", "a"]
        );
        assert_eq!(
            names(&expired(&files, &calendar(0, 0, 0), now, &Utc)),
            ["b", "a"]
        );
        assert_eq!(
            names(&expired(&files, &Retention::Days(0), now, &Utc)),
            ["b", "a"]
        );
    }

    #[test]
    fn equal_newest_times_keep_one_by_name() {
        let files = [
            file("db_b", "2025-06-01T03:00:00Z"),
            file("db_a", "2025-06-01T03:00:00Z"),
        ];
        let now = at("2025-11-20T03:00:00Z");
        assert_eq!(
            names(&expired(&files, &Retention::Days(1), now, &Utc)),
            ["db_b"]
        );
    }

    #[test]
    fn future_files_and_files_with_problems_are_never_expired() {
        let mut unreadable = file("unreadable", "2024-01-01T00:00:00Z");
        unreadable.problem = Some("cannot read: Permission denied (os error 13)".into());
        let files = [
            file("future", "2026-01-01T00:00:00Z"),
            unreadable,
            file("newest-real", "2024-06-01T00:00:00Z"),
            file("old", "2024-05-01T00:00:00Z"),
        ];
        let now = at("2025-11-20T03:00:00Z");
        // The future file does not count as the newest: the newest file with a real time is kept.
        assert_eq!(
            names(&expired(&files, &Retention::Days(30), now, &Utc)),
            ["old"]
        );
        assert_eq!(
            names(&expired(&files, &calendar(1, 1, 1), now, &Utc)),
            ["old"]
        );
    }

    #[test]
    fn no_files_nothing_expired() {
        let now = at("2025-11-20T03:00:00Z");
        assert!(expired(&[], &Retention::Days(1), now, &Utc).is_empty());
        assert!(expired(&[], &calendar(7, 4, 12), now, &Utc).is_empty());
    }

    #[test]
    fn daily_keeps_the_newest_of_each_of_the_last_days_with_backups() {
        let files = [
            file("20-b", "2025-11-20T15:00:00Z"),
            file("20-a", "2025-11-20T03:00:00Z"),
            file("19-b", "2025-11-19T23:59:59Z"),
            file("19-a", "2025-11-19T00:00:00Z"),
            // No backups on the 18th or 17th: days without backups do not use up the count.
            file("16-a", "2025-11-16T03:00:00Z"),
            file("15-a", "2025-11-15T03:00:00Z"),
        ];
        let now = at("2025-11-20T16:00:00Z");
        assert_eq!(
            names(&expired(&files, &calendar(3, 0, 0), now, &Utc)),
            ["20-a", "19-a", "15-a"]
        );
    }

    #[test]
    fn days_are_local_days() {
        // 23:30 UTC on the 19th is 00:30 on the 20th at UTC+1: the same local day as 03:00.
        let files = [
            file("a", "2025-11-20T02:00:00Z"),
            file("b", "2025-11-19T23:30:00Z"),
            file("c", "2025-11-19T22:30:00Z"),
        ];
        let now = at("2025-11-20T12:00:00Z");
        let plus_one = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            names(&expired(&files, &calendar(2, 0, 0), now, &plus_one)),
            ["b"]
        );
        assert_eq!(
            names(&expired(&files, &calendar(2, 0, 0), now, &Utc)),
            ["c"]
        );
    }

    #[test]
    fn weekly_uses_iso_weeks() {
        // Monday 2025-11-17 starts ISO week 47; Sunday 2025-11-16 ends week 46.
        let files = [
            file("wed-47", "2025-11-19T03:00:00Z"),
            file("mon-47", "2025-11-17T00:00:00Z"),
            file("sun-46", "2025-11-16T23:59:59Z"),
            file("mon-46", "2025-11-10T03:00:00Z"),
            file("sun-45", "2025-11-09T03:00:00Z"),
            file("wed-44", "2025-10-29T03:00:00Z"),
        ];
        let now = at("2025-11-20T03:00:00Z");
        assert_eq!(
            names(&expired(&files, &calendar(0, 3, 0), now, &Utc)),
            ["mon-47", "mon-46", "wed-44"]
        );
    }

    #[test]
    fn monthly_keeps_the_newest_of_each_month() {
        let files = [
            file("nov-01", "2025-11-01T00:00:00Z"),
            file("oct-31", "2025-10-31T23:59:59Z"),
            file("oct-01", "2025-10-01T00:00:00Z"),
            file("sep-30", "2025-09-30T03:00:00Z"),
            file("aug-15", "2025-08-15T03:00:00Z"),
        ];
        let now = at("2025-11-20T03:00:00Z");
        assert_eq!(
            names(&expired(&files, &calendar(0, 0, 3), now, &Utc)),
            ["oct-01", "aug-15"]
        );
    }

    #[test]
    fn year_boundary() {
        // 2026-01-01 is a Thursday, so 2025-12-29 .. 2026-01-04 is ISO week 1 of 2026, while
        // 2025-12-28 is in week 52 of 2025.
        let files = [
            file("jan-02", "2026-01-02T03:00:00Z"),
            file("jan-01", "2026-01-01T03:00:00Z"),
            file("dec-31", "2025-12-31T03:00:00Z"),
            file("dec-29", "2025-12-29T03:00:00Z"),
            file("dec-28", "2025-12-28T03:00:00Z"),
            file("dec-01", "2025-12-01T03:00:00Z"),
            file("nov-30", "2025-11-30T03:00:00Z"),
        ];
        let now = at("2026-01-03T00:00:00Z");
        assert_eq!(
            names(&expired(&files, &calendar(0, 2, 0), now, &Utc)),
            ["jan-01", "dec-31", "dec-29", "dec-01", "nov-30"]
        );
        assert_eq!(
            names(&expired(&files, &calendar(0, 0, 2), now, &Utc)),
            ["jan-01", "dec-29", "dec-28", "dec-01", "nov-30"]
        );
        // Same month number and day of year in different years are different periods.
        let files = [
            file("2025-jan", "2025-01-15T03:00:00Z"),
            file("2024-jan", "2024-01-15T03:00:00Z"),
        ];
        assert_eq!(
            names(&expired(&files, &calendar(0, 0, 2), now, &Utc)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn rules_combine_and_a_file_kept_by_any_rule_is_kept() {
        let files = [
            file("nov-20", "2025-11-20T03:00:00Z"),
            file("nov-19", "2025-11-19T03:00:00Z"),
            file("nov-18", "2025-11-18T03:00:00Z"),
            file("nov-12", "2025-11-12T03:00:00Z"),
            file("nov-05", "2025-11-05T03:00:00Z"),
            file("oct-29", "2025-10-29T03:00:00Z"),
            file("oct-15", "2025-10-15T03:00:00Z"),
            file("sep-10", "2025-09-10T03:00:00Z"),
            file("aug-10", "2025-08-10T03:00:00Z"),
        ];
        let now = at("2025-11-20T12:00:00Z");
        // daily 2: nov-20, nov-19. weekly 3 (weeks 47, 46, 45): nov-20, nov-12, nov-05.
        // monthly 3: nov-20, oct-29, sep-10.
        assert_eq!(
            names(&expired(&files, &calendar(2, 3, 3), now, &Utc)),
            ["nov-18", "oct-15", "aug-10"]
        );
    }

    #[test]
    fn calendar_ignores_future_files_when_counting_periods() {
        let files = [
            file("future", "2025-11-25T03:00:00Z"),
            file("nov-20", "2025-11-20T03:00:00Z"),
            file("nov-19", "2025-11-19T03:00:00Z"),
            file("nov-18", "2025-11-18T03:00:00Z"),
        ];
        let now = at("2025-11-20T12:00:00Z");
        assert_eq!(
            names(&expired(&files, &calendar(2, 0, 0), now, &Utc)),
            ["nov-18"]
        );
    }
}
