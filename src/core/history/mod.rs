//! Metric history: every metric the rules see, kept in the state store as 1-minute points for
//! 48 hours, 15-minute points for 90 days and daily points (UTC days) for two years, each with
//! min, max, mean and last.
//!
//! Samples are gathered in memory per open minute ([`Minutes`]); closed minutes are written
//! together ([`Minutes::flush`]), and each quarter hour and day, once closed, is derived from the
//! finer points stored for it ([`roll_up`]), so a crash loses at most the open minute and a
//! console that was stopped catches up on what it left open. [`prune`] drops what is past its
//! tier's retention. The runner drives all three off the UI path ([`writer`]); the console,
//! capacity projections and reports read through [`read_series`] and [`series_keys`]. Each
//! host keeps its own series in a shared store: all of these read and write the history of the
//! store handle's host ([`Store::for_host`]).

mod records;
mod rollup;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::core::store::{Store, StoreError, from_millis};
use rollup::{Chunk, Gathered, Slot};

const MINUTE_MILLIS: i64 = 60_000;
const HOUR_MILLIS: i64 = 60 * MINUTE_MILLIS;
const DAY_MILLIS: i64 = 24 * HOUR_MILLIS;

/// A tier of the history: how long one point covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    Minute,
    QuarterHour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::QuarterHour, Resolution::Day];

    /// The time one point covers.
    pub fn span(self) -> TimeDelta {
        TimeDelta::milliseconds(self.millis())
    }

    /// How long points of this tier are kept.
    pub fn retention(self) -> TimeDelta {
        match self {
            Resolution::Minute => TimeDelta::hours(48),
            Resolution::QuarterHour => TimeDelta::days(90),
            Resolution::Day => TimeDelta::days(730),
        }
    }

    /// The finest tier still holding points as old as `age`.
    pub fn finest_keeping(age: TimeDelta) -> Resolution {
        Resolution::ALL
            .into_iter()
            .find(|resolution| resolution.retention() >= age)
            .unwrap_or(Resolution::Day)
    }

    fn millis(self) -> i64 {
        match self {
            Resolution::Minute => MINUTE_MILLIS,
            Resolution::QuarterHour => 15 * MINUTE_MILLIS,
            Resolution::Day => DAY_MILLIS,
        }
    }

    /// The stored code of the tier (`metric_history.resolution`).
    fn code(self) -> i64 {
        match self {
            Resolution::Minute => 0,
            Resolution::QuarterHour => 1,
            Resolution::Day => 2,
        }
    }

    /// How long one stored chunk covers. A chunk of a finer tier holds whole points of the next
    /// coarser one, so a coarser point is derived from one finer chunk.
    fn chunk_millis(self) -> i64 {
        match self {
            Resolution::Minute => HOUR_MILLIS,
            Resolution::QuarterHour => DAY_MILLIS,
            Resolution::Day => 30 * DAY_MILLIS,
        }
    }

    fn slots_per_chunk(self) -> usize {
        usize::try_from(self.chunk_millis() / self.millis()).unwrap_or(0)
    }

    /// How many points of `fine` one point of this tier covers.
    fn slots_per_fine_period(self, fine: Resolution) -> usize {
        usize::try_from(self.millis() / fine.millis()).unwrap_or(0)
    }

    fn chunk_start(self, at: i64) -> i64 {
        at.div_euclid(self.chunk_millis()) * self.chunk_millis()
    }

    fn period_start(self, at: i64) -> i64 {
        at.div_euclid(self.millis()) * self.millis()
    }

    fn slot_index(self, chunk_start: i64, at: i64) -> usize {
        usize::try_from((at - chunk_start) / self.millis()).unwrap_or(0)
    }

    /// The finer tier coarser points of this one are derived from.
    fn finer(self) -> Option<Resolution> {
        match self {
            Resolution::Minute => None,
            Resolution::QuarterHour => Some(Resolution::Minute),
            Resolution::Day => Some(Resolution::QuarterHour),
        }
    }
}

/// One point of a series: the period starting `at`, one [`Resolution::span`] long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub last: f64,
}

/// The points of `key` in tier `resolution` whose period starts within `[since, until]`,
/// oldest first.
pub async fn read_series(
    store: &Store,
    key: &str,
    resolution: Resolution,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Point>, StoreError> {
    let mut series = read_many(store, &[key.to_owned()], resolution, since, until).await?;
    Ok(series.remove(key).unwrap_or_default())
}

/// The points of each of `keys` like [`read_series`], in one query; a key without points is
/// left out.
pub async fn read_many(
    store: &Store,
    keys: &[String],
    resolution: Resolution,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<HashMap<String, Vec<Point>>, StoreError> {
    let (since, until) = (since.timestamp_millis(), until.timestamp_millis());
    let only = match keys {
        [key] => Some(key.as_str()),
        _ => None,
    };
    let rows = store
        .history_chunks(
            resolution,
            only,
            resolution.chunk_start(since),
            until.saturating_add(1),
            |key| keys.iter().any(|wanted| wanted == key),
        )
        .await?;
    let mut series: HashMap<String, Vec<Point>> = HashMap::new();
    for (key, start, chunk) in rows {
        let points = series.entry(key).or_default();
        let mut at = start;
        for slot in &chunk.slots {
            if !slot.is_empty() && (since..=until).contains(&at) {
                points.push(Point {
                    at: from_millis(at),
                    min: slot.min,
                    max: slot.max,
                    mean: slot.mean,
                    last: slot.last,
                });
            }
            at += resolution.millis();
        }
    }
    series.retain(|_, points| !points.is_empty());
    Ok(series)
}

/// Every series with history whose key starts with `prefix` (`""` for all), in order.
pub async fn series_keys(store: &Store, prefix: &str) -> Result<Vec<String>, StoreError> {
    store.history_keys(prefix).await
}

/// Records samples (`key`, taken at, value), in time order and after what is stored, the way
/// the runner records what it sees: gathered per minute, written, and rolled up into every
/// quarter hour and day closed by the last sample's minute whose finer points are still kept —
/// those the batch itself closes and those that closed in a quiet spell since the batch before
/// (its day ended, say, before these samples began). For tests, benchmarks and imports.
pub async fn record_batch(
    store: &Store,
    samples: &[(&str, DateTime<Utc>, f64)],
) -> Result<(), StoreError> {
    let Some(latest) = samples.iter().map(|(_, at, _)| *at).max() else {
        return Ok(());
    };
    let mut minutes = Minutes::default();
    for (key, at, value) in samples {
        minutes.add(key, *at, *value);
    }
    let closed = from_millis(Resolution::Minute.period_start(latest.timestamp_millis()))
        + Resolution::Minute.span();
    minutes.flush(store, closed).await?;
    roll_up(store, closed, Resolution::QuarterHour.retention()).await
}

/// Samples gathered per open minute, until [`Minutes::flush`] writes the closed ones.
#[derive(Debug, Default)]
pub struct Minutes {
    open: BTreeMap<i64, HashMap<String, Gathered>>,
    /// Where the next minute to write starts: a late sample (a check that took long) joins the
    /// first minute not yet written rather than rewriting one already rolled up.
    written_until: i64,
}

impl Minutes {
    pub fn add(&mut self, key: &str, at: DateTime<Utc>, value: f64) {
        if !value.is_finite() {
            return;
        }
        let minute = Resolution::Minute
            .period_start(at.timestamp_millis())
            .max(self.written_until);
        let series = self.open.entry(minute).or_default();
        match series.get_mut(key) {
            Some(gathered) => gathered.add(value),
            None => {
                series.insert(key.to_owned(), Gathered::new(value));
            }
        }
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Writes every minute that starts before `until` in one transaction, merged with what is
    /// stored for it (a minute written at shutdown goes on after a restart).
    pub async fn flush(&mut self, store: &Store, until: DateTime<Utc>) -> Result<(), StoreError> {
        let until = until.timestamp_millis();
        let pending = self.open.split_off(&until);
        let closed = std::mem::replace(&mut self.open, pending);
        self.written_until = self.written_until.max(until);
        if closed.is_empty() {
            return Ok(());
        }
        let minute = Resolution::Minute;
        let mut chunks: HashMap<(String, i64), Chunk> = HashMap::new();
        let starts: Vec<i64> = {
            let mut starts: Vec<i64> = closed.keys().map(|at| minute.chunk_start(*at)).collect();
            starts.dedup();
            starts
        };
        // Only the series sampled in these minutes are read back and written again.
        let sampled: HashSet<&str> = closed
            .values()
            .flat_map(|series| series.keys().map(String::as_str))
            .collect();
        for start in starts {
            for (key, chunk_start, chunk) in store
                .history_chunks(minute, None, start, start + 1, |key| sampled.contains(key))
                .await?
            {
                chunks.insert((key, chunk_start), chunk);
            }
        }
        for (at, series) in &closed {
            let start = minute.chunk_start(*at);
            let index = minute.slot_index(start, *at);
            for (key, gathered) in series {
                let chunk = chunks
                    .entry((key.clone(), start))
                    .or_insert_with(|| Chunk::empty(minute));
                chunk.slots[index] = chunk.slots[index].merged(gathered);
            }
        }
        let rows: Vec<_> = chunks
            .into_iter()
            .map(|((key, start), chunk)| (key, start, chunk))
            .collect();
        store.save_history_chunks(minute, &rows).await
    }
}

/// Derives every quarter hour and day that ended by `now`, no earlier than `look_back` before
/// it, and whose point is not stored yet, from the finer points stored for it.
pub async fn roll_up(
    store: &Store,
    now: DateTime<Utc>,
    look_back: TimeDelta,
) -> Result<(), StoreError> {
    for coarse in [Resolution::QuarterHour, Resolution::Day] {
        let Some(fine) = coarse.finer() else {
            continue;
        };
        let look_back = look_back.min(fine.retention());
        derive_tier(store, fine, coarse, now - look_back, now).await?;
    }
    Ok(())
}

async fn derive_tier(
    store: &Store,
    fine: Resolution,
    coarse: Resolution,
    from: DateTime<Utc>,
    closed_by: DateTime<Utc>,
) -> Result<(), StoreError> {
    let closed_by = closed_by.timestamp_millis();
    let from = fine.chunk_start(from.timestamp_millis());
    let mut coarse_chunks: HashMap<(String, i64), Chunk> = store
        .history_chunks(coarse, None, coarse.chunk_start(from), closed_by, |_| true)
        .await?
        .into_iter()
        .map(|(key, start, chunk)| ((key, start), chunk))
        .collect();
    let closed_periods = |fine_start: i64| {
        (fine_start..fine_start + fine.chunk_millis())
            .step_by(usize::try_from(coarse.millis()).unwrap_or(usize::MAX))
            .filter(move |period| period + coarse.millis() <= closed_by)
    };
    let missing = |chunks: &HashMap<(String, i64), Chunk>, key: &str, period: i64| {
        let start = coarse.chunk_start(period);
        chunks
            .get(&(key.to_owned(), start))
            .is_none_or(|chunk| chunk.slots[coarse.slot_index(start, period)].is_empty())
    };
    // Only the finer chunks with a closed period still to derive are read.
    let mut wanted: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (key, start) in store.history_chunk_starts(fine, from, closed_by).await? {
        if closed_periods(start).any(|period| missing(&coarse_chunks, &key, period)) {
            wanted.entry(start).or_default().push(key);
        }
    }
    let mut changed: Vec<(String, i64)> = Vec::new();
    for (start, keys) in wanted {
        for (key, _, fine_chunk) in store
            .history_chunks(fine, None, start, start + 1, |key| {
                keys.iter().any(|wanted| wanted == key)
            })
            .await?
        {
            for period in closed_periods(start) {
                if !missing(&coarse_chunks, &key, period) {
                    continue;
                }
                let first = fine.slot_index(start, period);
                let covered = &fine_chunk.slots[first..first + coarse.slots_per_fine_period(fine)];
                let point: Slot = rollup::derive(fine, covered);
                if point.is_empty() {
                    continue;
                }
                let coarse_start = coarse.chunk_start(period);
                let chunk = coarse_chunks
                    .entry((key.clone(), coarse_start))
                    .or_insert_with(|| Chunk::empty(coarse));
                chunk.slots[coarse.slot_index(coarse_start, period)] = point;
                changed.push((key.clone(), coarse_start));
            }
        }
    }
    changed.sort();
    changed.dedup();
    let rows: Vec<_> = changed
        .into_iter()
        .filter_map(|id| {
            let chunk = coarse_chunks.remove(&id)?;
            Some((id.0, id.1, chunk))
        })
        .collect();
    store.save_history_chunks(coarse, &rows).await
}

/// Deletes every chunk past its tier's retention at `now`.
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for resolution in Resolution::ALL {
        let before = (now - resolution.retention()).timestamp_millis();
        deleted += store.prune_history_chunks(resolution, before).await?;
    }
    Ok(deleted)
}
