//! The history's background writer: the runner hands it every judged sample's metrics and goes
//! on; the writer gathers them per minute and, one second after each minute ends, writes the
//! closed minute, rolls up the quarter hours and days that closed, and once an hour prunes. It
//! never holds up the runner or the UI: a slow store only delays the history.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::core::checks::Evaluation;
use crate::core::history::{Minutes, Resolution, prune, roll_up};
use crate::core::model::fleet_wide;
use crate::core::protocol::Event;
use crate::core::store::{Store, StoreError};

/// One judged sample's metrics: when it was taken, and each series key with its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub at: DateTime<Utc>,
    pub values: Vec<(String, f64)>,
}

impl Recorded {
    /// What of a judged sample goes into this host's history; `None` when nothing does. The
    /// fleet's series (hosts, PromQL, heartbeats) are left out: Prometheus and the shared store
    /// hold their history already, and kept here they would be one copy per console, thousands
    /// of series for a large fleet.
    pub fn of(at: DateTime<Utc>, evaluations: &[Evaluation]) -> Option<Recorded> {
        let values: Vec<(String, f64)> = evaluations
            .iter()
            .filter(|evaluation| !fleet_wide(evaluation.metric.name))
            .map(|evaluation| (evaluation.metric.key(), evaluation.metric.value))
            .collect();
        (!values.is_empty()).then_some(Recorded { at, values })
    }
}

/// How long after a minute ends it is written: samples of its last second still join it.
const GRACE: Duration = Duration::from_secs(1);
/// How far back the first roll-up looks for periods a stopped console left underived: as far
/// as the daily points' source (quarter hours) is kept.
const CATCH_UP: TimeDelta = TimeDelta::days(90);
/// How far back later roll-ups look: the periods closed since the last one, with room for a
/// store that was briefly unreachable.
const FOLLOW_UP: TimeDelta = TimeDelta::hours(3);
const PRUNE_EVERY: TimeDelta = TimeDelta::hours(1);

/// Starts the writer; it flushes everything gathered (the open minute too) and ends when the
/// sender is dropped.
pub fn spawn(
    store: Store,
    events: mpsc::Sender<Event>,
) -> (mpsc::UnboundedSender<Recorded>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let task = tokio::spawn(write(store, receiver, events));
    (sender, task)
}

async fn write(
    store: Store,
    mut received: mpsc::UnboundedReceiver<Recorded>,
    events: mpsc::Sender<Event>,
) {
    let mut writer = Writer::default();
    let next_flush = || tokio::time::Instant::now() + until_next_minute(crate::core::model::now());
    let mut flush_at = next_flush();
    loop {
        tokio::select! {
            recorded = received.recv() => match recorded {
                Some(recorded) => writer.record(&recorded),
                None => break,
            },
            () = tokio::time::sleep_until(flush_at) => {
                flush_at = next_flush();
                if let Err(error) = writer.tick(&store, crate::core::model::now()).await {
                    let _ = events
                        .send(Event::Warning {
                            source: "history",
                            message: error.to_string(),
                        })
                        .await;
                }
            }
        }
    }
    // Stopping writes the open minute too; samples of it after a restart are merged into it.
    if let Err(error) = writer.minutes.flush(&store, DateTime::<Utc>::MAX_UTC).await {
        tracing::warn!("the open minute of the metric history was not written: {error}");
    }
}

/// The writer's state between ticks: the open minutes, and when it last rolled up and pruned.
/// Driven by the clock in the runner, and by simulated time in the idle-cost benchmark.
#[derive(Debug, Default)]
pub struct Writer {
    minutes: Minutes,
    rolled_up: Option<DateTime<Utc>>,
    pruned: Option<DateTime<Utc>>,
}

impl Writer {
    pub fn record(&mut self, recorded: &Recorded) {
        for (key, value) in &recorded.values {
            self.minutes.add(key, recorded.at, *value);
        }
    }

    /// Writes the minutes closed by `now`; rolls up when a quarter hour has closed since the
    /// last roll-up (the first one catches up on what a stopped console left); prunes hourly.
    pub async fn tick(&mut self, store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
        let minute = Resolution::Minute.span().num_milliseconds();
        let minute_start = now - TimeDelta::milliseconds(now.timestamp_millis().rem_euclid(minute));
        self.minutes.flush(store, minute_start).await?;
        let quarter = Resolution::QuarterHour.span().num_milliseconds();
        let quarter_of = |at: DateTime<Utc>| at.timestamp_millis().div_euclid(quarter);
        if self
            .rolled_up
            .is_none_or(|last| quarter_of(last) != quarter_of(now))
        {
            let look_back = if self.rolled_up.is_some() {
                FOLLOW_UP
            } else {
                CATCH_UP
            };
            roll_up(store, now, look_back).await?;
            self.rolled_up = Some(now);
        }
        if self.pruned.is_none_or(|last| now - last >= PRUNE_EVERY) {
            prune(store, now).await?;
            self.pruned = Some(now);
        }
        Ok(())
    }
}

/// How long from `now` until the next flush: a minute's end plus the grace. The writer sets its
/// deadline from it once per flush, not once per sample received.
fn until_next_minute(now: DateTime<Utc>) -> Duration {
    let minute = Resolution::Minute.span().num_milliseconds();
    let grace = i64::try_from(GRACE.as_millis()).unwrap_or(0);
    let shifted = now.timestamp_millis() - grace;
    let next = shifted.div_euclid(minute) * minute + minute + grace;
    Duration::from_millis(u64::try_from(next - now.timestamp_millis()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Metric, Status, Unit};

    fn judged(metric: Metric) -> Evaluation {
        Evaluation {
            metric,
            status: Status::Ok,
            operator: None,
            warn: None,
            crit: None,
        }
    }

    #[test]
    fn only_this_hosts_series_are_recorded() {
        let at = Utc::now();
        let recorded = Recorded::of(
            at,
            &[
                judged(Metric::new("cpu.used_pct", 12.5, Unit::Percent)),
                judged(Metric::of(
                    "host.cpu_used_pct",
                    "web-7",
                    80.0,
                    Unit::Percent,
                )),
                judged(Metric::of(
                    "heartbeat.console_age",
                    "web-7",
                    3.0,
                    Unit::Seconds,
                )),
                judged(Metric::of("promql.load", "web-7", 2.0, Unit::Load)),
            ],
        );
        assert_eq!(
            recorded,
            Some(Recorded {
                at,
                values: vec![("cpu.used_pct".to_owned(), 12.5)],
            })
        );
        let fleet_only = [judged(Metric::of("host.up", "web-7", 1.0, Unit::Count))];
        assert_eq!(Recorded::of(at, &fleet_only), None);
    }
}
