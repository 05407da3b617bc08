//! Checklist periods and due times: which day, ISO week, month or quarter an instant belongs to
//! in the console's time zone, when in that period a checklist becomes due, and whether it is
//! upcoming, due, in progress, done or overdue.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday,
};

use super::{Checklist, DueState, Period, RunState};

/// The key of the period containing `at` in `zone`: day `2026-11-22`, ISO week `2026-W47`
/// (ISO week-year: 2027-01-01 is in `2026-W53`), month `2026-11`, quarter `2026-Q4`.
pub fn period_key<Tz: TimeZone>(period: Period, at: DateTime<Utc>, zone: &Tz) -> String {
    key_of_date(period, at.with_timezone(zone).date_naive())
}

/// Start (inclusive) and end (exclusive) of the period containing `at`, as UTC instants (local
/// midnights; weeks start on Monday).
pub fn period_bounds<Tz: TimeZone>(
    period: Period,
    at: DateTime<Utc>,
    zone: &Tz,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = first_day(period, at.with_timezone(zone).date_naive());
    (
        local_start(zone, first),
        local_start(zone, next_first_day(period, first)),
    )
}

/// When the checklist becomes due in the period containing `at`: the first occurrence of its
/// schedule at or after the period start and before its end; the period start if the schedule
/// has none in the period.
pub fn due_at<Tz: TimeZone>(checklist: &Checklist, at: DateTime<Utc>, zone: &Tz) -> DateTime<Utc> {
    let (start, end) = period_bounds(checklist.period, at, zone);
    // Definitions are validated when loaded; a schedule that still fails to parse falls back
    // to the period start, the same as one that has no time in this period.
    let Ok(cron) = croner::Cron::from_str(&checklist.schedule) else {
        return start;
    };
    match cron.find_next_occurrence(&start.with_timezone(zone), true) {
        Ok(next) if next.with_timezone(&Utc) < end => next.with_timezone(&Utc),
        _ => start,
    }
}

/// Signed off → Done; any entry but not signed off → InProgress unless now ≥ due_at +
/// overdue_after (→ Overdue); no entries → Upcoming before due_at, Due until due_at +
/// overdue_after, then Overdue. `run` is the run of the period containing `now` (or None when
/// there are no entries yet).
pub fn due_state<Tz: TimeZone>(
    checklist: &Checklist,
    run: Option<&RunState>,
    now: DateTime<Utc>,
    zone: &Tz,
) -> DueState {
    if run.is_some_and(|run| run.signed_off.is_some()) {
        return DueState::Done;
    }
    let due = due_at(checklist, now, zone);
    // A grace too large for the calendar never runs out.
    let overdue = TimeDelta::from_std(checklist.overdue_after)
        .ok()
        .and_then(|grace| due.checked_add_signed(grace))
        .is_some_and(|overdue_at| now >= overdue_at);
    let started = run.is_some_and(|run| run.started_at.is_some() || !run.entries.is_empty());
    if overdue {
        DueState::Overdue
    } else if started {
        DueState::InProgress
    } else if now < due {
        DueState::Upcoming
    } else {
        DueState::Due
    }
}

/// Parses a period key back (for `--date`/`--period` on the command line and for browsing past
/// runs): accepts a key of the checklist's own period kind, or a date `YYYY-MM-DD` meaning the
/// period containing that date.
pub fn period_for_input<Tz: TimeZone>(period: Period, input: &str, zone: &Tz) -> Option<String> {
    let input = input.trim();
    if let Some(date) = parse_date(input) {
        // Through the date's local start rather than straight from the date, so a typed date
        // and a clock reading on that date can never disagree about the period.
        return Some(period_key(period, local_start(zone, date), zone));
    }
    let (year, rest) = input.split_once('-')?;
    let year = digits(year, 4)?;
    match period {
        Period::Day => None,
        Period::Week => {
            let week = rest
                .strip_prefix(['W', 'w'])
                .and_then(|week| digits(week, 2))?;
            NaiveDate::from_isoywd_opt(year, u32::try_from(week).ok()?, Weekday::Mon)?;
            Some(format!("{year:04}-W{week:02}"))
        }
        Period::Month => {
            let month = digits(rest, 2)?;
            (1..=12)
                .contains(&month)
                .then(|| format!("{year:04}-{month:02}"))
        }
        Period::Quarter => {
            let quarter = rest
                .strip_prefix(['Q', 'q'])
                .and_then(|quarter| digits(quarter, 1))?;
            (1..=4)
                .contains(&quarter)
                .then(|| format!("{year:04}-Q{quarter}"))
        }
    }
}

fn key_of_date(period: Period, date: NaiveDate) -> String {
    match period {
        Period::Day => date.format("%Y-%m-%d").to_string(),
        Period::Week => {
            let week = date.iso_week();
            format!("{:04}-W{:02}", week.year(), week.week())
        }
        Period::Month => format!("{:04}-{:02}", date.year(), date.month()),
        Period::Quarter => format!("{:04}-Q{}", date.year(), date.month0() / 3 + 1),
    }
}

fn first_day(period: Period, date: NaiveDate) -> NaiveDate {
    let month_start = date - Days::new(u64::from(date.day0()));
    match period {
        Period::Day => date,
        Period::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        Period::Month => month_start,
        Period::Quarter => month_start - Months::new(date.month0() % 3),
    }
}

fn next_first_day(period: Period, first: NaiveDate) -> NaiveDate {
    let next = match period {
        Period::Day => first.checked_add_days(Days::new(1)),
        Period::Week => first.checked_add_days(Days::new(7)),
        Period::Month => first.checked_add_months(Months::new(1)),
        Period::Quarter => first.checked_add_months(Months::new(3)),
    };
    next.unwrap_or(NaiveDate::MAX)
}

/// The instant a local date begins in `zone`.
fn local_start<Tz: TimeZone>(zone: &Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    // Some zones move their clocks at midnight, so on that day midnight does not exist and the
    // day begins at the first local time that does; gaps come in quarter hours.
    (0..=4 * 24)
        .map(|quarters| midnight + TimeDelta::minutes(15 * quarters))
        .find_map(|local| zone.from_local_datetime(&local).earliest())
        .map_or_else(|| midnight.and_utc(), |start| start.with_timezone(&Utc))
}

/// `YYYY-MM-DD`, exactly: command-line dates are never abbreviated.
fn parse_date(input: &str) -> Option<NaiveDate> {
    let mut parts = input.split('-');
    let year = digits(parts.next()?, 4)?;
    let month = digits(parts.next()?, 2)?;
    let day = digits(parts.next()?, 2)?;
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// `text` as a number if it is exactly `count` ASCII digits.
fn digits(text: &str, count: usize) -> Option<i32> {
    if text.len() != count || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::FixedOffset;

    use super::*;
    use crate::core::checklists::{Entry, EntryKind, Text};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|error| panic!("{text}: {error}"))
            .with_timezone(&Utc)
    }

    fn zone(hours: i32) -> FixedOffset {
        FixedOffset::east_opt(hours * 3600).unwrap_or_else(|| panic!("offset {hours}"))
    }

    fn checklist(period: Period, schedule: &str, overdue_after: Duration) -> Checklist {
        Checklist {
            id: "test".into(),
            title: Text {
                en: "Test".into(),
                ko: None,
            },
            period,
            schedule: schedule.into(),
            overdue_after,
            items: Vec::new(),
            source: "test".into(),
        }
    }

    fn hours(count: u64) -> Duration {
        Duration::from_secs(count * 3600)
    }

    fn run(entries: usize, signed_off: Option<DateTime<Utc>>) -> RunState {
        let at = utc("2026-11-22T09:30:00Z");
        let entry = Entry {
            checklist: "test".into(),
            period: "2026-11-22".into(),
            item: Some("cpu".into()),
            kind: EntryKind::Tick,
            text: String::new(),
            user: "kim".into(),
            host: "ops1".into(),
            at,
        };
        RunState {
            checklist: "test".into(),
            period: "2026-11-22".into(),
            items: Vec::new(),
            notes: Vec::new(),
            signed_off: signed_off.map(|at| ("kim".to_owned(), at)),
            started_at: (entries > 0).then_some(at),
            entries: vec![entry; entries],
        }
    }

    #[test]
    fn day_keys_and_bounds() {
        let at = utc("2026-11-22T10:00:00Z");
        assert_eq!(period_key(Period::Day, at, &Utc), "2026-11-22");
        assert_eq!(
            period_bounds(Period::Day, at, &Utc),
            (utc("2026-11-22T00:00:00Z"), utc("2026-11-23T00:00:00Z"))
        );
        assert_eq!(
            period_key(Period::Day, utc("2026-11-22T23:59:59Z"), &Utc),
            "2026-11-22"
        );
        assert_eq!(
            period_key(Period::Day, utc("2026-11-23T00:00:00Z"), &Utc),
            "2026-11-23"
        );
        assert_eq!(
            period_key(Period::Day, utc("2026-12-31T23:59:59Z"), &Utc),
            "2026-12-31"
        );
        assert_eq!(
            period_key(Period::Day, utc("2027-01-01T00:00:00Z"), &Utc),
            "2027-01-01"
        );
        assert_eq!(
            period_key(Period::Day, utc("2028-02-29T12:00:00Z"), &Utc),
            "2028-02-29"
        );
    }

    #[test]
    fn seoul_is_already_tomorrow() {
        let seoul = zone(9);
        let at = utc("2026-11-22T23:30:00Z");
        assert_eq!(period_key(Period::Day, at, &seoul), "2026-11-23");
        assert_eq!(
            period_bounds(Period::Day, at, &seoul),
            (utc("2026-11-22T15:00:00Z"), utc("2026-11-23T15:00:00Z"))
        );
        // Sunday 23:30 UTC is Monday morning in Seoul: a new ISO week there.
        assert_eq!(period_key(Period::Week, at, &Utc), "2026-W47");
        assert_eq!(period_key(Period::Week, at, &seoul), "2026-W48");
        // New Year's Eve in UTC is New Year's Day in Seoul.
        let eve = utc("2026-12-31T16:00:00Z");
        assert_eq!(period_key(Period::Month, eve, &Utc), "2026-12");
        assert_eq!(period_key(Period::Month, eve, &seoul), "2027-01");
        assert_eq!(period_key(Period::Quarter, eve, &seoul), "2027-Q1");
        assert_eq!(
            period_bounds(Period::Quarter, eve, &seoul),
            (utc("2026-12-31T15:00:00Z"), utc("2027-03-31T15:00:00Z"))
        );
    }

    #[test]
    fn minus_five_is_still_yesterday() {
        let east_coast = zone(-5);
        let at = utc("2026-11-23T03:00:00Z");
        assert_eq!(period_key(Period::Day, at, &east_coast), "2026-11-22");
        assert_eq!(period_key(Period::Week, at, &east_coast), "2026-W47");
        assert_eq!(
            period_bounds(Period::Day, at, &east_coast),
            (utc("2026-11-22T05:00:00Z"), utc("2026-11-23T05:00:00Z"))
        );
        assert_eq!(
            period_bounds(Period::Week, at, &east_coast),
            (utc("2026-11-16T05:00:00Z"), utc("2026-11-23T05:00:00Z"))
        );
        let new_year = utc("2027-01-01T04:59:59Z");
        assert_eq!(
            period_key(Period::Quarter, new_year, &east_coast),
            "2026-Q4"
        );
        assert_eq!(
            period_key(Period::Quarter, utc("2027-01-01T05:00:00Z"), &east_coast),
            "2027-Q1"
        );
    }

    #[test]
    fn iso_weeks_across_the_year_boundary() {
        let week = |date: &str| period_key(Period::Week, utc(&format!("{date}T12:00:00Z")), &Utc);
        assert_eq!(week("2026-11-16"), "2026-W47");
        assert_eq!(week("2026-11-22"), "2026-W47");
        assert_eq!(week("2026-11-23"), "2026-W48");
        assert_eq!(week("2026-12-27"), "2026-W52");
        // 2026 has 53 ISO weeks: its last runs Monday 28 December to Sunday 3 January.
        assert_eq!(week("2026-12-28"), "2026-W53");
        assert_eq!(week("2027-01-01"), "2026-W53");
        assert_eq!(week("2027-01-03"), "2026-W53");
        assert_eq!(week("2027-01-04"), "2027-W01");
        // And 2026-W01 began in December 2025.
        assert_eq!(week("2025-12-28"), "2025-W52");
        assert_eq!(week("2025-12-29"), "2026-W01");
        assert_eq!(week("2026-01-01"), "2026-W01");
        assert_eq!(
            period_bounds(Period::Week, utc("2027-01-01T12:00:00Z"), &Utc),
            (utc("2026-12-28T00:00:00Z"), utc("2027-01-04T00:00:00Z"))
        );
        // A Monday starts its own week; a Sunday ends one.
        assert_eq!(
            period_bounds(Period::Week, utc("2026-11-16T00:00:00Z"), &Utc),
            (utc("2026-11-16T00:00:00Z"), utc("2026-11-23T00:00:00Z"))
        );
        assert_eq!(
            period_bounds(Period::Week, utc("2026-11-22T23:59:59Z"), &Utc),
            (utc("2026-11-16T00:00:00Z"), utc("2026-11-23T00:00:00Z"))
        );
    }

    #[test]
    fn months_and_quarters() {
        let at = utc("2026-11-22T10:00:00Z");
        assert_eq!(period_key(Period::Month, at, &Utc), "2026-11");
        assert_eq!(period_key(Period::Quarter, at, &Utc), "2026-Q4");
        assert_eq!(
            period_bounds(Period::Month, at, &Utc),
            (utc("2026-11-01T00:00:00Z"), utc("2026-12-01T00:00:00Z"))
        );
        let eve = utc("2026-12-31T23:59:59Z");
        assert_eq!(
            period_bounds(Period::Month, eve, &Utc),
            (utc("2026-12-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            period_bounds(Period::Quarter, eve, &Utc),
            (utc("2026-10-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            period_key(Period::Month, utc("2027-01-01T00:00:00Z"), &Utc),
            "2027-01"
        );
        assert_eq!(
            period_key(Period::Quarter, utc("2027-01-01T00:00:00Z"), &Utc),
            "2027-Q1"
        );
        for (date, quarter) in [
            ("2026-01-01", "2026-Q1"),
            ("2026-03-31", "2026-Q1"),
            ("2026-04-01", "2026-Q2"),
            ("2026-06-30", "2026-Q2"),
            ("2026-07-01", "2026-Q3"),
            ("2026-09-30", "2026-Q3"),
            ("2026-10-01", "2026-Q4"),
        ] {
            let at = utc(&format!("{date}T12:00:00Z"));
            assert_eq!(period_key(Period::Quarter, at, &Utc), quarter, "{date}");
        }
        assert_eq!(
            period_bounds(Period::Quarter, utc("2026-05-15T00:00:00Z"), &Utc),
            (utc("2026-04-01T00:00:00Z"), utc("2026-07-01T00:00:00Z"))
        );
        // February of a leap year.
        assert_eq!(
            period_bounds(Period::Month, utc("2028-02-29T12:00:00Z"), &Utc),
            (utc("2028-02-01T00:00:00Z"), utc("2028-03-01T00:00:00Z"))
        );
    }

    #[test]
    fn due_times_follow_the_schedule_in_local_time() {
        let seoul = zone(9);
        let daily = checklist(Period::Day, "0 9 * * *", hours(6));
        // 09:00 in Seoul is midnight UTC.
        assert_eq!(
            due_at(&daily, utc("2026-11-22T23:30:00Z"), &seoul),
            utc("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            due_at(&daily, utc("2026-11-22T10:00:00Z"), &Utc),
            utc("2026-11-22T09:00:00Z")
        );

        let weekly = checklist(Period::Week, "0 10 * * 1", hours(24));
        assert_eq!(
            due_at(&weekly, utc("2026-11-22T10:00:00Z"), &Utc),
            utc("2026-11-16T10:00:00Z")
        );
        assert_eq!(
            due_at(&weekly, utc("2027-01-01T10:00:00Z"), &Utc),
            utc("2026-12-28T10:00:00Z")
        );

        let monthly = checklist(Period::Month, "0 10 1 * *", hours(72));
        assert_eq!(
            due_at(&monthly, utc("2026-11-22T10:00:00Z"), &Utc),
            utc("2026-11-01T10:00:00Z")
        );

        let quarterly = checklist(Period::Quarter, "0 10 1 1,4,7,10 *", hours(168));
        assert_eq!(
            due_at(&quarterly, utc("2026-11-22T10:00:00Z"), &Utc),
            utc("2026-10-01T10:00:00Z")
        );
        assert_eq!(
            due_at(&quarterly, utc("2027-02-10T10:00:00Z"), &zone(-5)),
            utc("2027-01-01T15:00:00Z")
        );
    }

    #[test]
    fn a_schedule_outside_the_period_is_due_at_its_start() {
        // Mondays only, checked daily: due from midnight on the other days.
        let mondays = checklist(Period::Day, "0 9 * * 1", hours(6));
        assert_eq!(
            due_at(&mondays, utc("2026-11-22T10:00:00Z"), &Utc),
            utc("2026-11-22T00:00:00Z")
        );
        assert_eq!(
            due_at(&mondays, utc("2026-11-23T10:00:00Z"), &Utc),
            utc("2026-11-23T09:00:00Z")
        );
        // 1 February, checked quarterly: only the first quarter has it.
        let february = checklist(Period::Quarter, "0 10 1 2 *", hours(168));
        assert_eq!(
            due_at(&february, utc("2026-03-10T10:00:00Z"), &Utc),
            utc("2026-02-01T10:00:00Z")
        );
        assert_eq!(
            due_at(&february, utc("2026-05-10T10:00:00Z"), &Utc),
            utc("2026-04-01T00:00:00Z")
        );
        // The day's first minute counts as in the period.
        let midnight = checklist(Period::Day, "0 0 * * *", hours(6));
        assert_eq!(
            due_at(&midnight, utc("2026-11-22T10:00:00Z"), &Utc),
            utc("2026-11-22T00:00:00Z")
        );
        let unparsable = checklist(Period::Day, "not cron", hours(6));
        assert_eq!(
            due_at(&unparsable, utc("2026-11-22T10:00:00Z"), &Utc),
            utc("2026-11-22T00:00:00Z")
        );
    }

    #[test]
    fn due_state_without_entries() {
        let daily = checklist(Period::Day, "0 9 * * *", hours(6));
        let state = |now: &str| due_state(&daily, None, utc(now), &Utc);
        assert_eq!(state("2026-11-22T00:00:00Z"), DueState::Upcoming);
        assert_eq!(state("2026-11-22T08:59:59Z"), DueState::Upcoming);
        assert_eq!(state("2026-11-22T09:00:00Z"), DueState::Due);
        assert_eq!(state("2026-11-22T14:59:59Z"), DueState::Due);
        assert_eq!(state("2026-11-22T15:00:00Z"), DueState::Overdue);
        assert_eq!(state("2026-11-22T23:59:59Z"), DueState::Overdue);
        // A new day, a new period.
        assert_eq!(state("2026-11-23T00:00:00Z"), DueState::Upcoming);
        // A run with no entries is the same as none.
        let empty = run(0, None);
        assert_eq!(
            due_state(&daily, Some(&empty), utc("2026-11-22T09:30:00Z"), &Utc),
            DueState::Due
        );
    }

    #[test]
    fn due_state_in_seoul() {
        let seoul = zone(9);
        let daily = checklist(Period::Day, "0 9 * * *", hours(6));
        // 08:30 in Seoul on the 23rd.
        assert_eq!(
            due_state(&daily, None, utc("2026-11-22T23:30:00Z"), &seoul),
            DueState::Upcoming
        );
        // 09:00 and 15:00 in Seoul.
        assert_eq!(
            due_state(&daily, None, utc("2026-11-23T00:00:00Z"), &seoul),
            DueState::Due
        );
        assert_eq!(
            due_state(&daily, None, utc("2026-11-23T06:00:00Z"), &seoul),
            DueState::Overdue
        );
    }

    #[test]
    fn due_state_with_entries() {
        let daily = checklist(Period::Day, "0 9 * * *", hours(6));
        let started = run(2, None);
        let state = |now: &str| due_state(&daily, Some(&started), utc(now), &Utc);
        // Started early, before the due time.
        assert_eq!(state("2026-11-22T08:00:00Z"), DueState::InProgress);
        assert_eq!(state("2026-11-22T14:59:59Z"), DueState::InProgress);
        assert_eq!(state("2026-11-22T15:00:00Z"), DueState::Overdue);
    }

    #[test]
    fn signed_off_is_done_even_when_late() {
        let daily = checklist(Period::Day, "0 9 * * *", hours(6));
        let done = run(3, Some(utc("2026-11-22T20:00:00Z")));
        assert_eq!(
            due_state(&daily, Some(&done), utc("2026-11-22T22:00:00Z"), &Utc),
            DueState::Done
        );
        assert_eq!(
            due_state(&daily, Some(&done), utc("2026-11-22T08:00:00Z"), &Utc),
            DueState::Done
        );
    }

    #[test]
    fn a_huge_grace_never_runs_out() {
        let daily = checklist(Period::Day, "0 9 * * *", Duration::MAX);
        assert_eq!(
            due_state(&daily, None, utc("2026-11-22T23:00:00Z"), &Utc),
            DueState::Due
        );
    }

    #[test]
    fn weekly_due_and_overdue() {
        let weekly = checklist(Period::Week, "0 10 * * 1", hours(24));
        let state = |now: &str| due_state(&weekly, None, utc(now), &Utc);
        assert_eq!(state("2026-11-16T09:59:00Z"), DueState::Upcoming);
        assert_eq!(state("2026-11-16T10:00:00Z"), DueState::Due);
        assert_eq!(state("2026-11-17T09:59:59Z"), DueState::Due);
        assert_eq!(state("2026-11-17T10:00:00Z"), DueState::Overdue);
        assert_eq!(state("2026-11-22T23:00:00Z"), DueState::Overdue);
    }

    #[test]
    fn inputs_of_the_own_kind() {
        let week = |input: &str| period_for_input(Period::Week, input, &Utc);
        assert_eq!(week("2026-W47").as_deref(), Some("2026-W47"));
        assert_eq!(week(" 2026-w53 ").as_deref(), Some("2026-W53"));
        assert_eq!(week("2027-W53"), None, "2027 has 52 ISO weeks");
        assert_eq!(week("2026-W00"), None);
        assert_eq!(week("2026-W5"), None);
        assert_eq!(week("2026-11"), None);

        let month = |input: &str| period_for_input(Period::Month, input, &Utc);
        assert_eq!(month("2026-11").as_deref(), Some("2026-11"));
        assert_eq!(month("2026-13"), None);
        assert_eq!(month("2026-00"), None);
        assert_eq!(month("2026-1"), None);
        assert_eq!(month("2026-Q4"), None);

        let quarter = |input: &str| period_for_input(Period::Quarter, input, &Utc);
        assert_eq!(quarter("2026-Q4").as_deref(), Some("2026-Q4"));
        assert_eq!(quarter("2026-q1").as_deref(), Some("2026-Q1"));
        assert_eq!(quarter("2026-Q5"), None);
        assert_eq!(quarter("2026-Q0"), None);

        let day = |input: &str| period_for_input(Period::Day, input, &Utc);
        assert_eq!(day("2026-11-22").as_deref(), Some("2026-11-22"));
        assert_eq!(day("2026-02-30"), None);
        assert_eq!(day("2026-11"), None);
        assert_eq!(day("2026-11-2"), None);
        assert_eq!(day("26-11-22"), None);
        assert_eq!(day("2026-11-22-1"), None);
        assert_eq!(day("today"), None);
        assert_eq!(day(""), None);
    }

    #[test]
    fn a_date_means_its_period() {
        let seoul = zone(9);
        let input = |period: Period, date: &str| period_for_input(period, date, &seoul);
        assert_eq!(
            input(Period::Day, "2026-11-23").as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(
            input(Period::Week, "2026-11-22").as_deref(),
            Some("2026-W47")
        );
        assert_eq!(
            input(Period::Week, "2026-11-23").as_deref(),
            Some("2026-W48")
        );
        assert_eq!(
            input(Period::Week, "2027-01-01").as_deref(),
            Some("2026-W53")
        );
        assert_eq!(
            input(Period::Month, "2026-12-31").as_deref(),
            Some("2026-12")
        );
        assert_eq!(
            input(Period::Quarter, "2026-12-31").as_deref(),
            Some("2026-Q4")
        );
        assert_eq!(
            input(Period::Quarter, "2027-01-01").as_deref(),
            Some("2027-Q1")
        );
        // Keys round-trip through the parser.
        for period in [Period::Day, Period::Week, Period::Month, Period::Quarter] {
            let key = period_key(period, utc("2027-01-01T12:00:00Z"), &seoul);
            assert_eq!(period_for_input(period, &key, &seoul), Some(key.clone()));
        }
    }
}
