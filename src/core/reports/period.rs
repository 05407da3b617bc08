//! Report periods: the day, ISO week or month a report covers, in the reader's time zone (the
//! same periods the checklists use), the days in it, and the period before it.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::core::checklists::{Period as ChecklistPeriod, schedule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Daily,
    Weekly,
    Monthly,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::Weekly => "weekly",
            Kind::Monthly => "monthly",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Daily => "Daily report",
            Kind::Weekly => "Weekly report",
            Kind::Monthly => "Monthly report",
        }
    }

    fn checklist_period(self) -> ChecklistPeriod {
        match self {
            Kind::Daily => ChecklistPeriod::Day,
            Kind::Weekly => ChecklistPeriod::Week,
            Kind::Monthly => ChecklistPeriod::Month,
        }
    }
}

/// One local day of a period, as UTC instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: Kind,
    pub label: String,
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
    pub days: Vec<Day>,
}

impl Period {
    /// The period of `kind` containing `date` in `zone`.
    pub fn containing<Tz: TimeZone>(kind: Kind, date: NaiveDate, zone: &Tz) -> Period {
        let noon = local_noon(date, zone);
        let (start, end) = schedule::period_bounds(kind.checklist_period(), noon, zone);
        let mut days = Vec::new();
        let mut day = start.with_timezone(zone).date_naive();
        loop {
            let day_start =
                schedule::period_bounds(ChecklistPeriod::Day, local_noon(day, zone), zone);
            if day_start.0 >= end {
                break;
            }
            days.push(Day {
                date: day,
                start: day_start.0,
                end: day_start.1,
            });
            match day.checked_add_days(Days::new(1)) {
                Some(next) => day = next,
                None => break,
            }
        }
        Period {
            kind,
            label: schedule::period_key(kind.checklist_period(), noon, zone),
            start,
            end,
            days,
        }
    }

    /// The last complete period of `kind` before `now`: yesterday, last week, last month.
    pub fn last_complete<Tz: TimeZone>(kind: Kind, now: DateTime<Utc>, zone: &Tz) -> Period {
        let current = Period::containing(kind, now.with_timezone(zone).date_naive(), zone);
        current.previous(zone)
    }

    /// The period just before this one.
    pub fn previous<Tz: TimeZone>(&self, zone: &Tz) -> Period {
        let day_before = self
            .days
            .first()
            .and_then(|day| day.date.checked_sub_days(Days::new(1)))
            .unwrap_or(NaiveDate::MIN);
        Period::containing(self.kind, day_before, zone)
    }

    pub fn minutes(&self) -> f64 {
        (self.end - self.start).num_milliseconds() as f64 / 60_000.0
    }
}

/// Noon is inside the local day whatever the daylight-saving change of that day.
fn local_noon<Tz: TimeZone>(date: NaiveDate, zone: &Tz) -> DateTime<Utc> {
    let noon = date.and_hms_opt(12, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&noon)
        .earliest()
        .map_or_else(|| noon.and_utc(), |at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_and_their_days() {
        let month = Period::containing(Kind::Monthly, date("2026-11-17"), &Utc);
        assert_eq!(month.label, "2026-11");
        assert_eq!(month.days.len(), 30);
        assert_eq!(month.start.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(month.end.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(month.previous(&Utc).label, "2026-10");
        let week = Period::containing(Kind::Weekly, date("2027-01-01"), &Utc);
        assert_eq!(week.label, "2026-W53");
        assert_eq!(week.days.len(), 7);
        assert_eq!(week.previous(&Utc).label, "2026-W52");
        let day = Period::containing(Kind::Daily, date("2026-03-01"), &Utc);
        assert_eq!(day.previous(&Utc).label, "2026-02-28");
        assert_eq!(day.minutes(), 1440.0);
    }

    #[test]
    fn last_complete_period() {
        let now = "2026-12-05T08:00:00Z".parse().unwrap();
        assert_eq!(
            Period::last_complete(Kind::Daily, now, &Utc).label,
            "2026-12-04"
        );
        assert_eq!(
            Period::last_complete(Kind::Monthly, now, &Utc).label,
            "2026-11"
        );
        assert_eq!(
            Period::last_complete(Kind::Weekly, now, &Utc).label,
            "2026-W48"
        );
    }
}
