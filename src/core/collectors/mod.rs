//! The one collector contract and the one loop that drives every collector: resources, each
//! service, each watched database, the backup sets and the checklists. A collector says how
//! often it wants to run and produces a sample; the sample names its metrics for the judge.
//! [`drive`] runs a collector on its interval, at once when asked, and stops on cancel or when
//! nobody listens; [`once`] and [`once_each`] run the same collectors a single time, for
//! `opsdeck check`. Collectors that block (sysinfo reads /proc, statvfs may stall on a dead NFS
//! mount) go through [`OffThread`], so a stalled one never holds up the runtime.

pub mod resources;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::core::model::Metric;

/// What a collector produces: the numbers rules can judge and when they were taken.
pub trait Sample {
    fn metrics(&self) -> Vec<Metric>;
    fn taken_at(&self) -> DateTime<Utc>;
}

/// Something sampled on an interval.
pub trait Collector: Send + 'static {
    type Sample: Send + 'static;
    /// Names the collector in logs (a service or database name, `resources`…).
    fn id(&self) -> &str;
    fn interval(&self) -> Duration;
    /// `Some(delay)` when the last sample was incomplete and another reading after `delay`
    /// completes it (CPU usage needs two readings).
    fn warm_up(&self) -> Option<Duration> {
        None
    }
    /// One sample; `None` when the collector cannot go on (its thread died), which ends its
    /// loop.
    fn collect(&mut self) -> impl Future<Output = Option<Self::Sample>> + Send;
}

/// A collector whose `collect` blocks; [`OffThread`] runs it on a blocking thread.
pub trait BlockingCollector: Send + 'static {
    type Sample: Send + 'static;
    fn interval(&self) -> Duration;
    fn warm_up(&self) -> Option<Duration> {
        None
    }
    fn collect(&mut self) -> Self::Sample;
}

#[derive(Debug, Error)]
pub enum CollectError {
    #[error("cannot read system information: {0}")]
    System(String),
    #[error(
        "the {0} collector stopped unexpectedly (it panicked; its message is on stderr or in the log)"
    )]
    Stopped(&'static str),
}

/// Runs a [`BlockingCollector`] on tokio's blocking threads, one sample at a time.
pub struct OffThread<C> {
    id: String,
    interval: Duration,
    warm_up: Option<Duration>,
    /// `None` while a sample is being taken, and for good once its thread died.
    collector: Option<C>,
}

impl<C: BlockingCollector> OffThread<C> {
    pub fn new(id: impl Into<String>, collector: C) -> OffThread<C> {
        OffThread {
            id: id.into(),
            interval: collector.interval(),
            warm_up: collector.warm_up(),
            collector: Some(collector),
        }
    }
}

impl<C: BlockingCollector> Collector for OffThread<C> {
    type Sample = C::Sample;

    fn id(&self) -> &str {
        &self.id
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn warm_up(&self) -> Option<Duration> {
        self.warm_up
    }

    async fn collect(&mut self) -> Option<C::Sample> {
        let mut collector = self.collector.take()?;
        let taken = tokio::task::spawn_blocking(move || {
            let sample = collector.collect();
            (sample, collector)
        })
        .await;
        match taken {
            Ok((sample, collector)) => {
                self.warm_up = collector.warm_up();
                self.collector = Some(collector);
                Some(sample)
            }
            Err(error) => {
                tracing::error!("the {} collector stopped: {error}", self.id);
                None
            }
        }
    }
}

/// How the runner steers one driven collector.
#[derive(Debug, Clone)]
pub struct Control {
    refresh: Arc<Notify>,
    cancel: CancellationToken,
}

impl Control {
    /// A control stopped by `cancel` (one token stops every collector of a runner).
    pub fn new(cancel: &CancellationToken) -> Control {
        Control {
            refresh: Arc::new(Notify::new()),
            cancel: cancel.clone(),
        }
    }

    /// Samples now instead of at the next tick; asked during a sample, the next one starts as
    /// soon as it ends (once, however often it was asked).
    pub fn refresh_now(&self) {
        self.refresh.notify_one();
    }
}

/// Drives `collector` until cancelled or until `samples` is closed: a sample at once, then one
/// per interval (after the warm-up delay while the collector asks for one) or when refreshed.
/// A run that outlasts its interval skips the ticks it missed rather than queueing samples
/// back to back.
pub async fn drive<C, S>(mut collector: C, control: Control, samples: mpsc::Sender<S>)
where
    C: Collector,
    S: From<C::Sample> + Send + 'static,
{
    loop {
        let started = Instant::now();
        let sample = tokio::select! {
            () = control.cancel.cancelled() => return,
            sample = collector.collect() => sample,
        };
        let Some(sample) = sample else { return };
        tokio::select! {
            () = control.cancel.cancelled() => return,
            sent = samples.send(S::from(sample)) => if sent.is_err() { return },
        }
        let next = match collector.warm_up() {
            Some(delay) => started + delay,
            None => next_tick(started, collector.interval(), Instant::now()),
        };
        tokio::select! {
            () = control.cancel.cancelled() => return,
            () = samples.closed() => return,
            () = tokio::time::sleep_until(next) => {}
            () = control.refresh.notified() => {}
        }
    }
}

/// [`drive`] for a collector whose first sample was already taken and shown (the console reads
/// the gauges before its first frame): its next sample is due one interval later, or when
/// refreshed, so the screen is not redrawn right after it appeared.
pub async fn drive_after_first<C, S>(collector: C, control: Control, samples: mpsc::Sender<S>)
where
    C: Collector,
    S: From<C::Sample> + Send + 'static,
{
    let next = Instant::now() + collector.interval();
    tokio::select! {
        () = control.cancel.cancelled() => return,
        () = samples.closed() => return,
        () = tokio::time::sleep_until(next) => {}
        () = control.refresh.notified() => {}
    }
    drive(collector, control, samples).await;
}

/// The first tick after `now` on the schedule that started at `started`.
fn next_tick(started: Instant, interval: Duration, now: Instant) -> Instant {
    // A zero interval would spin; a millisecond is as often as anything here makes sense.
    let interval = interval.max(Duration::from_millis(1));
    let mut next = started + interval;
    if next <= now {
        let missed = (now - next).as_nanos() / interval.as_nanos() + 1;
        next += interval * u32::try_from(missed).unwrap_or(u32::MAX);
    }
    next
}

/// One complete sample, as [`drive`] would deliver it once warmed up: a collector that needs a
/// second reading gets it after its warm-up delay.
pub async fn once<C: Collector>(collector: &mut C) -> Option<C::Sample> {
    let mut sample = collector.collect().await?;
    while let Some(delay) = collector.warm_up() {
        tokio::time::sleep(delay).await;
        sample = collector.collect().await?;
    }
    Some(sample)
}

/// [`once`] for every collector at the same time; samples in the collectors' order, without
/// those whose collector stopped.
pub async fn once_each<C: Collector>(collectors: Vec<C>) -> Vec<C::Sample> {
    let mut running = tokio::task::JoinSet::new();
    for (index, mut collector) in collectors.into_iter().enumerate() {
        running.spawn(async move { (index, once(&mut collector).await) });
    }
    let mut samples = Vec::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((index, Some(sample))) => samples.push((index, sample)),
            Ok((_, None)) => {}
            Err(error) => tracing::error!("a collector stopped: {error}"),
        }
    }
    samples.sort_by_key(|(index, _)| *index);
    samples.into_iter().map(|(_, sample)| sample).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its runs; each run takes `busy`.
    struct Slow {
        interval: Duration,
        busy: Duration,
        runs: u32,
    }

    impl Collector for Slow {
        type Sample = (u32, Instant);

        fn id(&self) -> &str {
            "slow"
        }

        fn interval(&self) -> Duration {
            self.interval
        }

        async fn collect(&mut self) -> Option<(u32, Instant)> {
            let started = Instant::now();
            tokio::time::sleep(self.busy).await;
            self.runs += 1;
            Some((self.runs, started))
        }
    }

    #[test]
    fn the_next_tick_skips_the_ticks_a_long_run_missed() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(next_tick(start, second, start), start + second);
        assert_eq!(
            next_tick(start, second, start + Duration::from_millis(2500)),
            start + 3 * second
        );
        assert_eq!(next_tick(start, second, start + second), start + 2 * second);
    }

    #[tokio::test]
    async fn a_run_longer_than_the_interval_skips_ticks_instead_of_queueing_samples() {
        let (sender, mut samples) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let collector = Slow {
            interval: Duration::from_millis(200),
            busy: Duration::from_millis(250),
            runs: 0,
        };
        tokio::spawn(drive::<_, (u32, Instant)>(
            collector,
            Control::new(&cancel),
            sender,
        ));
        let mut starts = Vec::new();
        for _ in 0..3 {
            starts.push(samples.recv().await.expect("a sample").1);
        }
        // A run ending at 250 ms missed the tick at 200 ms: the next starts at 400 ms, not at
        // once.
        for pair in starts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= Duration::from_millis(390), "runs {gap:?} apart");
        }
        cancel.cancel();
        assert!(samples.recv().await.is_none(), "cancel ends the loop");
    }

    #[tokio::test]
    async fn refresh_now_samples_at_once_and_a_closed_channel_ends_the_loop() {
        let (sender, mut samples) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let control = Control::new(&cancel);
        let collector = Slow {
            interval: Duration::from_secs(3600),
            busy: Duration::from_millis(300),
            runs: 0,
        };
        let driven = tokio::spawn(drive::<_, (u32, Instant)>(
            collector,
            control.clone(),
            sender,
        ));
        assert_eq!(samples.recv().await.expect("first").0, 1);
        control.refresh_now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Asked twice while that run is in flight: one more run right after it, not two.
        control.refresh_now();
        control.refresh_now();
        let wait = Duration::from_secs(5);
        let next = tokio::time::timeout(wait, samples.recv()).await;
        assert_eq!(next.expect("refreshed").expect("open").0, 2);
        let next = tokio::time::timeout(wait, samples.recv()).await;
        assert_eq!(next.expect("refreshed again").expect("open").0, 3);
        let next = tokio::time::timeout(Duration::from_millis(700), samples.recv()).await;
        assert!(next.is_err(), "no queued run after that");
        drop(samples);
        tokio::time::timeout(Duration::from_secs(1), driven)
            .await
            .expect("the loop ends once nobody listens")
            .expect("no panic");
    }

    /// The runtime of `#[tokio::test]` has one thread: a collector blocking it would stop the
    /// timer below too.
    #[tokio::test]
    async fn a_stalled_blocking_collector_does_not_hold_up_the_runtime() {
        struct Stalled;
        impl BlockingCollector for Stalled {
            type Sample = ();
            fn interval(&self) -> Duration {
                Duration::from_secs(60)
            }
            fn collect(&mut self) {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let (sender, _samples) = mpsc::channel::<()>(1);
        let cancel = CancellationToken::new();
        tokio::spawn(drive(
            OffThread::new("stalled", Stalled),
            Control::new(&cancel),
            sender,
        ));
        let started = Instant::now();
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_millis(500));
        cancel.cancel();
    }

    #[tokio::test]
    async fn once_takes_a_second_reading_while_the_collector_warms_up() {
        struct Warming(u32);
        impl Collector for Warming {
            type Sample = u32;
            fn id(&self) -> &str {
                "warming"
            }
            fn interval(&self) -> Duration {
                Duration::from_secs(60)
            }
            fn warm_up(&self) -> Option<Duration> {
                (self.0 == 1).then_some(Duration::from_millis(250))
            }
            async fn collect(&mut self) -> Option<u32> {
                self.0 += 1;
                Some(self.0)
            }
        }
        assert_eq!(once(&mut Warming(0)).await, Some(2));
        assert_eq!(
            once_each(vec![Warming(0), Warming(5)]).await,
            vec![2, 6],
            "in the collectors' order"
        );
    }
}
