//! The sparklines' data: the last ten minutes of samples kept in memory, and the stored history
//! (read through the runner) for the time span shown: 10 minutes, 6 hours, 7 days or 30 days.
//! Bucketed by wall-clock time so a sparkline only shifts when a bucket closes (a per-second
//! shift would redraw the whole line every second and waste bandwidth over SSH).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::core::history::Resolution;

/// How long samples are kept in memory: the shortest span; longer ones come from the store.
pub const WINDOW_SECONDS: i64 = 600;

/// The time a sparkline covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Span {
    #[default]
    TenMinutes,
    SixHours,
    SevenDays,
    ThirtyDays,
}

impl Span {
    pub fn seconds(self) -> i64 {
        match self {
            Span::TenMinutes => WINDOW_SECONDS,
            Span::SixHours => 6 * 3600,
            Span::SevenDays => 7 * 86_400,
            Span::ThirtyDays => 30 * 86_400,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Span::TenMinutes => "10 min",
            Span::SixHours => "6 h",
            Span::SevenDays => "7 d",
            Span::ThirtyDays => "30 d",
        }
    }

    pub fn next(self) -> Span {
        match self {
            Span::TenMinutes => Span::SixHours,
            Span::SixHours => Span::SevenDays,
            Span::SevenDays => Span::ThirtyDays,
            Span::ThirtyDays => Span::TenMinutes,
        }
    }

    /// The tier the span is read from: about a point per column of a wide sparkline or finer
    /// (daily points would give 30 days only 30 bars).
    pub fn resolution(self) -> Resolution {
        match self {
            Span::TenMinutes | Span::SixHours => Resolution::Minute,
            Span::SevenDays | Span::ThirtyDays => Resolution::QuarterHour,
        }
    }
}

/// One stored point as a sparkline uses it: where its period starts (Unix seconds) and its
/// peak.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stored {
    at: i64,
    peak: f64,
}

#[derive(Debug, Default, Clone)]
pub struct History {
    series: HashMap<String, VecDeque<(i64, f64)>>,
    /// The stored peaks of the span last loaded, and how long each point covers.
    stored: HashMap<String, Vec<Stored>>,
    stored_seconds: i64,
}

impl History {
    pub fn record(&mut self, key: &str, at: DateTime<Utc>, value: f64) {
        let now = at.timestamp();
        let points = self.series.entry(key.to_owned()).or_default();
        points.push_back((now, value));
        while points
            .front()
            .is_some_and(|(t, _)| *t <= now - WINDOW_SECONDS)
        {
            points.pop_front();
        }
    }

    /// Replaces every stored series with `loaded`: per key, points of `resolution` as (start,
    /// peak).
    pub fn load(
        &mut self,
        resolution: Resolution,
        loaded: HashMap<String, Vec<(DateTime<Utc>, f64)>>,
    ) {
        self.stored_seconds = resolution.span().num_seconds();
        self.stored = loaded
            .into_iter()
            .map(|(key, points)| {
                let points = points
                    .into_iter()
                    .map(|(at, peak)| Stored {
                        at: at.timestamp(),
                        peak,
                    })
                    .collect();
                (key, points)
            })
            .collect();
    }

    /// `count` buckets of `bucket_seconds` each, the last one holding `now`; each is the
    /// maximum recorded or stored in it, or `None` when nothing was.
    pub fn buckets(
        &self,
        key: &str,
        now: DateTime<Utc>,
        bucket_seconds: i64,
        count: usize,
    ) -> Vec<Option<f64>> {
        let mut out = vec![None; count];
        let bucket_seconds = bucket_seconds.max(1);
        let last_bucket = now.timestamp().div_euclid(bucket_seconds);
        let mut put = |from: i64, until: i64, value: f64| {
            // Every bucket the period overlaps holds its peak.
            let first = last_bucket - from.div_euclid(bucket_seconds);
            let last = last_bucket - (until - 1).max(from).div_euclid(bucket_seconds);
            for age in last.max(0)..=first.min(count as i64 - 1) {
                let slot = &mut out[count - 1 - age as usize];
                *slot = Some(slot.map_or(value, |current: f64| current.max(value)));
            }
        };
        for point in self.stored.get(key).into_iter().flatten() {
            put(point.at, point.at + self.stored_seconds, point.peak);
        }
        for (at, value) in self.series.get(key).into_iter().flatten() {
            put(*at, *at + 1, *value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn buckets_hold_the_maximum_and_drop_old_points() {
        let at = |s: i64| Utc.timestamp_opt(1_000_000 + s, 0).unwrap();
        let mut history = History::default();
        history.record("cpu", at(0), 10.0);
        history.record("cpu", at(5), 30.0);
        history.record("cpu", at(12), 20.0);
        let buckets = history.buckets("cpu", at(12), 10, 3);
        assert_eq!(buckets, vec![None, Some(30.0), Some(20.0)]);
        history.record("cpu", at(700), 1.0);
        assert_eq!(
            history
                .buckets("cpu", at(700), 10, 100)
                .iter()
                .flatten()
                .count(),
            1
        );
    }

    #[test]
    fn a_stored_point_fills_every_bucket_it_covers_under_the_live_samples() {
        let at = |s: i64| Utc.timestamp_opt(1_200_000 + s, 0).unwrap();
        let mut history = History::default();
        history.load(
            Resolution::Minute,
            HashMap::from([("cpu".to_owned(), vec![(at(0), 40.0), (at(60), 10.0)])]),
        );
        history.record("cpu", at(100), 25.0);
        // Buckets of 30 s, the last holding 119: 0-29, 30-59 (first minute), 60-89, 90-119.
        let buckets = history.buckets("cpu", at(119), 30, 5);
        assert_eq!(
            buckets,
            vec![None, Some(40.0), Some(40.0), Some(10.0), Some(25.0)]
        );
        assert_eq!(history.buckets("memory", at(119), 30, 2), vec![None, None]);
    }
}
