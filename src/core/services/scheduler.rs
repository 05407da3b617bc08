//! Every service as a collector: each is checked on its own interval by the collectors' loop,
//! the set shares a limit on how many checks run at once, and each keeps its flap control. A
//! slow or hanging service only holds its own slot until its timeout; it never delays the
//! others.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::flap::{Flap, ServiceState};
use super::{CheckOutcome, ServiceSpec};
use crate::core::collectors::{Collector, Sample};
use crate::core::model::{Metric, Unit};

/// How many checks may run at the same time.
pub const CONCURRENT_CHECKS: usize = 64;

/// One check of one service, with its state after flap control.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceResult {
    pub name: String,
    pub checked_at: DateTime<Utc>,
    pub outcome: CheckOutcome,
    pub state: ServiceState,
}

impl Sample for ServiceResult {
    /// `service.up` (once flap control knows the state, so one failed check opens nothing)
    /// first, then what the check measured.
    fn metrics(&self) -> Vec<Metric> {
        let up = (self.state != ServiceState::Unknown).then(|| {
            Metric::of(
                "service.up",
                &self.name,
                f64::from(u8::from(self.state == ServiceState::Up)),
                Unit::Count,
            )
        });
        up.into_iter()
            .chain(
                self.outcome
                    .metrics
                    .iter()
                    .map(|(name, value, unit)| Metric::of(name, &self.name, *value, *unit)),
            )
            .collect()
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.checked_at
    }
}

/// How much history the set's flap control has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passes {
    /// The console: down after `down_after` failures in a row, up after `up_after` successes.
    Running,
    /// `opsdeck check`: one pass has no history, so its one result decides (one failure is
    /// `down_after` reached, one success `up_after`). The console shows the same state once
    /// a service kept that result for `down_after` (or `up_after`) checks.
    Single,
}

/// One service as a collector.
pub struct ServiceCollector {
    spec: ServiceSpec,
    limit: Arc<Semaphore>,
    flap: Flap,
    thresholds: (u32, u32),
}

impl Collector for ServiceCollector {
    type Sample = ServiceResult;

    fn id(&self) -> &str {
        &self.spec.name
    }

    fn interval(&self) -> Duration {
        self.spec.interval
    }

    async fn collect(&mut self) -> Option<ServiceResult> {
        let outcome = {
            let _permit = self.limit.acquire().await.ok()?;
            self.spec.check.run(self.spec.timeout).await
        };
        let (down_after, up_after) = self.thresholds;
        let state = self.flap.record(outcome.ok, down_after, up_after);
        Some(ServiceResult {
            name: self.spec.name.clone(),
            checked_at: crate::core::model::now(),
            outcome,
            state,
        })
    }
}

/// The services as collectors sharing one limit of [`CONCURRENT_CHECKS`] checks at a time.
/// Call [`super::prepare`] before the first check.
pub fn collectors(specs: Vec<ServiceSpec>, passes: Passes) -> Vec<ServiceCollector> {
    let limit = Arc::new(Semaphore::new(CONCURRENT_CHECKS));
    specs
        .into_iter()
        .map(|spec| ServiceCollector {
            thresholds: match passes {
                Passes::Running => (spec.down_after, spec.up_after),
                Passes::Single => (1, 1),
            },
            spec,
            limit: limit.clone(),
            flap: Flap::new(),
        })
        .collect()
}
