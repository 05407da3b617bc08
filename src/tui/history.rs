//! The last ten minutes of the gauges, kept in memory for sparklines, and bucketed by wall-clock
//! time so a sparkline only shifts when a bucket closes (a per-second shift would redraw the
//! whole line every second and waste bandwidth over SSH).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

pub const WINDOW_SECONDS: i64 = 600;

#[derive(Debug, Default, Clone)]
pub struct History {
    series: HashMap<String, VecDeque<(i64, f64)>>,
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

    /// `count` buckets of `bucket_seconds` each, the last one holding `now`; each is the
    /// maximum recorded in it, or `None` when nothing was.
    pub fn buckets(
        &self,
        key: &str,
        now: DateTime<Utc>,
        bucket_seconds: i64,
        count: usize,
    ) -> Vec<Option<f64>> {
        let mut out = vec![None; count];
        let Some(points) = self.series.get(key) else {
            return out;
        };
        let bucket_seconds = bucket_seconds.max(1);
        let last_bucket = now.timestamp().div_euclid(bucket_seconds);
        for (at, value) in points {
            let age = last_bucket - at.div_euclid(bucket_seconds);
            if age < 0 || age >= count as i64 {
                continue;
            }
            let slot = &mut out[count - 1 - age as usize];
            *slot = Some(slot.map_or(*value, |current: f64| current.max(*value)));
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
}
