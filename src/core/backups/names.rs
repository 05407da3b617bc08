//! Timestamps in backup file names: backup scripts name files after `date +%Y%m%d_%H%M%S` and
//! similar, and that time is when the backup was made, which the mtime stops being as soon as a
//! file is copied or restored from elsewhere. A name with a date but no time of day
//! (`redis-2026-12-01.rdb`) says only the day: the mtime gives the time when it falls on that
//! day, so a backup written at 23:30 is not taken for one made at midnight.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

const YEARS: std::ops::RangeInclusive<i32> = 1970..=2999;

/// The first valid timestamp in `name`, read as local time in `zone` unless followed by `Z`.
///
/// Accepted: `YYYYMMDD` optionally followed by `_`, `-`, `T` or nothing and `HHMMSS` (or, with a
/// separator, `HHMM`); and `YYYY-MM-DD` / `YYYY_MM_DD` optionally followed by `_`, `-`, `T` or
/// a space and `HH:MM[:SS]` (with `:`, `-` or `_` between the parts) or `HHMM[SS]`. Each number
/// must be a digit run of its own (`db_123456789012.sql` holds no date), and a time that does
/// not exist (invalid, or skipped by a daylight-saving change) makes the scan move on. A local
/// time that occurs twice (clocks going back) is taken as the earlier one.
/// A name with only a date counts from midnight of that date.
pub fn time_from_name<Tz: TimeZone>(name: &str, zone: &Tz) -> Option<DateTime<Utc>> {
    stamp_in_name(name, zone).map(|stamp| stamp.time)
}

/// When the backup was made: the name's timestamp, except that a name with a date and no time
/// of day yields to `modified` (the mtime) when that falls on the same local date. `None` means
/// the mtime is the best answer.
pub fn time_of_backup<Tz: TimeZone>(
    name: &str,
    modified: DateTime<Utc>,
    zone: &Tz,
) -> Option<DateTime<Utc>> {
    let stamp = stamp_in_name(name, zone)?;
    let same_day = stamp.date_only
        && modified.with_timezone(zone).date_naive() == stamp.time.with_timezone(zone).date_naive();
    (!same_day).then_some(stamp.time)
}

/// A timestamp found in a name, and whether the name gave only its date.
struct NameStamp {
    time: DateTime<Utc>,
    date_only: bool,
}

fn stamp_in_name<Tz: TimeZone>(name: &str, zone: &Tz) -> Option<NameStamp> {
    let bytes = name.as_bytes();
    (0..bytes.len())
        .filter(|&start| {
            bytes[start].is_ascii_digit() && (start == 0 || !bytes[start - 1].is_ascii_digit())
        })
        .find_map(|start| stamp_at(bytes, start, zone))
}

/// The timestamp whose year starts a digit run at `start`, if one does.
fn stamp_at<Tz: TimeZone>(bytes: &[u8], start: usize, zone: &Tz) -> Option<NameStamp> {
    let candidate = match digit_run(bytes, start) {
        14 => compact_date_time_fused(bytes, start),
        8 => compact_date_time(bytes, start),
        4 => separated_date_time(bytes, start),
        _ => None,
    }?;
    Some(NameStamp {
        time: candidate.resolve(zone)?,
        date_only: candidate.date_only,
    })
}

/// A date and time found in a name, with where it ends so that a `Z` after it can be seen.
struct Candidate<'a> {
    local: NaiveDateTime,
    date_only: bool,
    bytes: &'a [u8],
    end: usize,
}

impl Candidate<'_> {
    fn resolve<Tz: TimeZone>(&self, zone: &Tz) -> Option<DateTime<Utc>> {
        let is_utc = self.bytes.get(self.end) == Some(&b'Z')
            && !self
                .bytes
                .get(self.end + 1)
                .is_some_and(u8::is_ascii_alphanumeric);
        if is_utc {
            return Some(Utc.from_utc_datetime(&self.local));
        }
        zone.from_local_datetime(&self.local)
            .earliest()
            .map(|time| time.with_timezone(&Utc))
    }
}

/// `YYYYMMDDHHMMSS`: one run of 14 digits.
fn compact_date_time_fused(bytes: &[u8], start: usize) -> Option<Candidate<'_>> {
    let date = compact_date(&bytes[start..start + 8])?;
    let time = compact_time(&bytes[start + 8..start + 14])?;
    Some(Candidate {
        local: date.and_time(time),
        date_only: false,
        bytes,
        end: start + 14,
    })
}

/// `YYYYMMDD`, optionally followed by a separator and `HHMMSS` or `HHMM`. When what follows is
/// not a valid time, the date alone counts (midnight).
fn compact_date_time(bytes: &[u8], start: usize) -> Option<Candidate<'_>> {
    let date = compact_date(&bytes[start..start + 8])?;
    let after_date = start + 8;
    let time = if matches!(bytes.get(after_date), Some(b'_' | b'-' | b'T')) {
        compact_time_at(bytes, after_date + 1)
    } else {
        None
    };
    Some(with_time_or_midnight(bytes, date, time, after_date))
}

/// `YYYY-MM-DD` or `YYYY_MM_DD`, optionally followed by a time. When what follows is not a valid
/// time, the date alone counts (midnight).
fn separated_date_time(bytes: &[u8], start: usize) -> Option<Candidate<'_>> {
    let separator = match bytes.get(start + 4) {
        Some(&separator @ (b'-' | b'_')) => separator,
        _ => return None,
    };
    let month = two_digits_then(bytes, start + 5, Some(separator))?;
    let day = two_digits_then(bytes, start + 8, None)?;
    let date = valid_date(number(&bytes[start..start + 4])? as i32, month, day)?;
    let after_date = start + 10;
    let time = if matches!(bytes.get(after_date), Some(b'_' | b'-' | b'T' | b' ')) {
        separated_time_at(bytes, after_date + 1).or_else(|| compact_time_at(bytes, after_date + 1))
    } else {
        None
    };
    Some(with_time_or_midnight(bytes, date, time, after_date))
}

fn with_time_or_midnight(
    bytes: &[u8],
    date: NaiveDate,
    time: Option<(NaiveTime, usize)>,
    after_date: usize,
) -> Candidate<'_> {
    let date_only = time.is_none();
    let (time, end) = time.unwrap_or((NaiveTime::MIN, after_date));
    Candidate {
        local: date.and_time(time),
        date_only,
        bytes,
        end,
    }
}

/// `HH:MM[:SS]` (or with `-` or `_`) starting at `at`, and where it ends.
fn separated_time_at(bytes: &[u8], at: usize) -> Option<(NaiveTime, usize)> {
    let separator = match bytes.get(at + 2) {
        Some(&separator @ (b':' | b'-' | b'_')) => separator,
        _ => return None,
    };
    let hour = two_digits_then(bytes, at, Some(separator))?;
    let minute = two_digits_then(bytes, at + 3, None)?;
    let with_seconds =
        bytes.get(at + 5) == Some(&separator) && bytes.get(at + 6).is_some_and(u8::is_ascii_digit);
    if with_seconds {
        let second = two_digits_then(bytes, at + 6, None)?;
        return Some((NaiveTime::from_hms_opt(hour, minute, second)?, at + 8));
    }
    Some((NaiveTime::from_hms_opt(hour, minute, 0)?, at + 5))
}

/// `HHMMSS` or `HHMM` as a digit run of its own starting at `at`, and where it ends.
fn compact_time_at(bytes: &[u8], at: usize) -> Option<(NaiveTime, usize)> {
    let length = digit_run(bytes, at);
    if length != 6 && length != 4 {
        return None;
    }
    Some((compact_time(&bytes[at..at + length])?, at + length))
}

/// `YYYYMMDD`, all digits.
fn compact_date(digits: &[u8]) -> Option<NaiveDate> {
    valid_date(
        number(&digits[..4])? as i32,
        number(&digits[4..6])?,
        number(&digits[6..8])?,
    )
}

/// `HHMMSS` or `HHMM`, all digits.
fn compact_time(digits: &[u8]) -> Option<NaiveTime> {
    let second = match digits.get(4..6) {
        Some(second) => number(second)?,
        None => 0,
    };
    NaiveTime::from_hms_opt(number(&digits[..2])?, number(&digits[2..4])?, second)
}

fn valid_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !YEARS.contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Exactly two digits at `at`, followed by `then` — or, when `then` is `None`, by no digit.
fn two_digits_then(bytes: &[u8], at: usize, then: Option<u8>) -> Option<u32> {
    let value = number(bytes.get(at..at + 2)?)?;
    let next = bytes.get(at + 2).copied();
    let delimited = match then {
        Some(expected) => next == Some(expected),
        None => !next.is_some_and(|byte| byte.is_ascii_digit()),
    };
    delimited.then_some(value)
}

fn digit_run(bytes: &[u8], at: usize) -> usize {
    bytes.get(at..).map_or(0, |rest| {
        rest.iter().take_while(|byte| byte.is_ascii_digit()).count()
    })
}

fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn in_utc(name: &str) -> Option<DateTime<Utc>> {
        time_from_name(name, &Utc)
    }

    #[test]
    fn compact_forms() {
        let expected = Some(utc("2025-11-20T03:00:00Z"));
        assert_eq!(in_utc("db_20251120_030000.sql.gz"), expected);
        assert_eq!(in_utc("db-20251120-030000.sql.gz"), expected);
        assert_eq!(in_utc("db20251120030000.dump"), expected);
        assert_eq!(in_utc("db_20251120T030000.sql"), expected);
        assert_eq!(in_utc("db_20251120_0300.sql"), expected);
        assert_eq!(
            in_utc("chroma_db_20250919_020000.tar.gz"),
            Some(utc("2025-09-19T02:00:00Z"))
        );
        assert_eq!(in_utc("20251120.rdb"), Some(utc("2025-11-20T00:00:00Z")));
    }

    #[test]
    fn separated_forms() {
        assert_eq!(
            in_utc("redis-2025-11-20.rdb"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        assert_eq!(
            in_utc("app_2025-11-20_03-04-05.tar.gz"),
            Some(utc("2025-11-20T03:04:05Z"))
        );
        assert_eq!(
            in_utc("app_2025-11-20T03:04:05.tar.gz"),
            Some(utc("2025-11-20T03:04:05Z"))
        );
        assert_eq!(
            in_utc("backup 2025-11-20 03:00.sql"),
            Some(utc("2025-11-20T03:00:00Z"))
        );
        assert_eq!(
            in_utc("backup_2025_11_20.sql"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        assert_eq!(
            in_utc("backup_2025-11-20_030405.sql"),
            Some(utc("2025-11-20T03:04:05Z"))
        );
    }

    #[test]
    fn names_are_local_time_unless_marked_utc() {
        let berlin_winter = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            time_from_name("db_20251120_030000.sql.gz", &berlin_winter),
            Some(utc("2025-11-20T02:00:00Z"))
        );
        assert_eq!(
            time_from_name("db_20251120T030000Z.sql.gz", &berlin_winter),
            Some(utc("2025-11-20T03:00:00Z"))
        );
        assert_eq!(
            time_from_name("db_2025-11-20T03:00:00Z.sql.gz", &berlin_winter),
            Some(utc("2025-11-20T03:00:00Z"))
        );
        // A `Z` that starts a word is not a zone marker.
        assert_eq!(
            time_from_name("db_20251120_030000Zone.sql", &berlin_winter),
            Some(utc("2025-11-20T02:00:00Z"))
        );
    }

    #[test]
    fn digit_runs_must_stand_alone() {
        assert_eq!(in_utc("db_123456789012.sql"), None);
        assert_eq!(in_utc("db_202511201.sql"), None);
        assert_eq!(in_utc("db_120251120.sql"), None);
        assert_eq!(in_utc("db_202511200300001.sql"), None);
        assert_eq!(in_utc("x12025-11-20.sql"), None);
        assert_eq!(in_utc("x2025-11-201.sql"), None);
        // A seven-digit run after the date is not a time, so only the date counts.
        assert_eq!(
            in_utc("db_20251120_0300001.sql"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
    }

    #[test]
    fn invalid_dates_are_skipped_for_a_later_valid_one() {
        assert_eq!(
            in_utc("v99999999_db_20251120_030000.sql"),
            Some(utc("2025-11-20T03:00:00Z"))
        );
        assert_eq!(
            in_utc("run_20251332_db_2025-11-20.sql"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        assert_eq!(in_utc("db_20250230.sql"), None);
        assert_eq!(in_utc("db_19691231.sql"), None);
        assert_eq!(in_utc("db_30000101.sql"), None);
        assert_eq!(in_utc("db_2025-13-01.sql"), None);
        assert_eq!(
            in_utc("db_2025-11-20-1.sql"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        // An impossible time leaves the date.
        assert_eq!(
            in_utc("db_20251120_250000.sql"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        assert_eq!(in_utc("db_20251120256000.sql"), None);
    }

    #[test]
    fn names_without_dates() {
        assert_eq!(in_utc("latest.sql.gz"), None);
        assert_eq!(in_utc("dump.rdb"), None);
        assert_eq!(in_utc("db_v2_001.sql"), None);
        assert_eq!(in_utc("2025"), None);
        assert_eq!(in_utc("2025-11"), None);
        assert_eq!(in_utc("2025-11-2"), None);
        assert_eq!(in_utc("2025-11_20"), None);
        assert_eq!(in_utc(""), None);
        assert_eq!(in_utc("\u{1b}[31m\n\u{fffd}.sql"), None);
    }

    #[test]
    fn truncated_times_fall_back_to_the_date() {
        assert_eq!(
            in_utc("db_2025-11-20_03"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        assert_eq!(
            in_utc("db_2025-11-20 03:0"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        assert_eq!(
            in_utc("db_2025-11-20 03:00:0"),
            Some(utc("2025-11-20T00:00:00Z"))
        );
        assert_eq!(in_utc("db_20251120_03"), Some(utc("2025-11-20T00:00:00Z")));
    }

    /// A zone with a daylight-saving change, without depending on the machine's zone database.
    #[derive(Clone, Copy, Debug)]
    struct CentralEurope;

    impl CentralEurope {
        fn summer(utc_time: &NaiveDateTime) -> bool {
            let start = NaiveDate::from_ymd_opt(2025, 3, 30)
                .unwrap()
                .and_hms_opt(1, 0, 0)
                .unwrap();
            let end = NaiveDate::from_ymd_opt(2025, 10, 26)
                .unwrap()
                .and_hms_opt(1, 0, 0)
                .unwrap();
            *utc_time >= start && *utc_time < end
        }

        fn offset_hours(summer: bool) -> i32 {
            if summer { 2 } else { 1 }
        }
    }

    impl TimeZone for CentralEurope {
        type Offset = FixedOffset;

        fn from_offset(_: &FixedOffset) -> Self {
            CentralEurope
        }

        fn offset_from_local_date(&self, _: &NaiveDate) -> chrono::LocalResult<FixedOffset> {
            unimplemented!("not used by time_from_name")
        }

        fn offset_from_local_datetime(
            &self,
            local: &NaiveDateTime,
        ) -> chrono::LocalResult<FixedOffset> {
            let offsets: Vec<FixedOffset> = [false, true]
                .into_iter()
                .map(Self::offset_hours)
                .filter(|&hours| {
                    let utc_time = *local - chrono::Duration::hours(i64::from(hours));
                    Self::offset_hours(Self::summer(&utc_time)) == hours
                })
                .map(|hours| FixedOffset::east_opt(hours * 3600).unwrap())
                .collect();
            match offsets.as_slice() {
                [] => chrono::LocalResult::None,
                [only] => chrono::LocalResult::Single(*only),
                [winter, summer] => chrono::LocalResult::Ambiguous(*summer, *winter),
                _ => unreachable!(),
            }
        }

        fn offset_from_utc_date(&self, _: &NaiveDate) -> FixedOffset {
            unimplemented!("not used by time_from_name")
        }

        fn offset_from_utc_datetime(&self, utc_time: &NaiveDateTime) -> FixedOffset {
            FixedOffset::east_opt(Self::offset_hours(Self::summer(utc_time)) * 3600).unwrap()
        }
    }

    #[test]
    fn daylight_saving_changes() {
        // 02:30 on 30 March 2025 does not exist in central Europe.
        assert_eq!(
            time_from_name("db_20250330_023000.sql", &CentralEurope),
            None
        );
        // ... and the scan goes on past it.
        assert_eq!(
            time_from_name(
                "db_20250330_023000_from_20250330_033000.sql",
                &CentralEurope
            ),
            Some(utc("2025-03-30T01:30:00Z"))
        );
        // 02:30 on 26 October 2025 happens twice: the earlier one (summer time) is taken.
        assert_eq!(
            time_from_name("db_20251026_023000.sql", &CentralEurope),
            Some(utc("2025-10-26T00:30:00Z"))
        );
        assert_eq!(
            time_from_name("db_20250701_120000.sql", &CentralEurope),
            Some(utc("2025-07-01T10:00:00Z"))
        );
    }

    #[test]
    fn a_date_only_name_takes_the_time_of_day_from_an_mtime_that_day() {
        let seoul = FixedOffset::east_opt(9 * 3600).unwrap();
        // Written at 23:30 Seoul time on the day its name gives.
        let late_that_day = utc("2026-12-01T14:30:00Z");
        assert_eq!(
            time_of_backup("redis-2026-12-01.rdb", late_that_day, &seoul),
            None
        );
        assert_eq!(
            time_of_backup("backup_20261201.sql.gz", late_that_day, &seoul),
            None
        );
        // Copied two days later: the name's date is all there is, from midnight.
        assert_eq!(
            time_of_backup("redis-2026-12-01.rdb", utc("2026-12-03T01:00:00Z"), &seoul),
            Some(utc("2026-11-30T15:00:00Z"))
        );
        // A time of day in the name wins over any mtime.
        assert_eq!(
            time_of_backup("db_20261201_030000.sql", late_that_day, &seoul),
            Some(utc("2026-11-30T18:00:00Z"))
        );
        assert_eq!(time_of_backup("notes.txt", late_that_day, &seoul), None);
    }
}
