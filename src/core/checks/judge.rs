//! The one judge: a sample's metrics against the rules. The console judges every sample as it
//! arrives (verdicts now, and the alert changes their `for` durations lead to); `opsdeck check`
//! judges a single pass with the same rules and has no history, so it only takes the verdicts.

use chrono::{DateTime, Utc};

use super::{Change, Evaluation, PendingRecord, Rule, RuleEngine};
use crate::core::collectors::Sample;
use crate::core::model::Alert;

#[derive(Debug)]
pub struct Judge {
    engine: RuleEngine,
}

/// What one sample came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Every metric against its rule, in the sample's order.
    pub evaluations: Vec<Evaluation>,
    /// Alerts opened, updated or resolved, and conditions pending, for the store.
    pub changes: Vec<Change>,
}

impl Judge {
    pub fn new(rules: Vec<Rule>) -> Judge {
        Judge {
            engine: RuleEngine::new(rules),
        }
    }

    /// This judge, judging the samples of `host` (its alerts and pending conditions carry it).
    pub fn on_host(self, host: &str) -> Judge {
        Judge {
            engine: self.engine.on_host(host),
        }
    }

    /// The host whose samples this judge judges ('' when unnamed).
    pub fn host(&self) -> &str {
        self.engine.host()
    }

    /// Takes the store's word on an alert another console or process changed (see
    /// [`RuleEngine::take_stored`]).
    pub fn take_stored(&mut self, stored: &Alert) {
        self.engine.take_stored(stored);
    }

    /// Hears of an alert another console changed (see [`RuleEngine::hear_of`]).
    pub fn hear_of(&mut self, stored: &Alert) {
        self.engine.hear_of(stored);
    }

    /// Re-attach what the store remembered from the previous process.
    pub fn restore(&mut self, pending: Vec<PendingRecord>, open: Vec<Alert>, now: DateTime<Utc>) {
        self.engine.restore(pending, open, now);
    }

    /// The verdicts on a sample right now, without remembering it (a single pass).
    pub fn evaluate(&self, sample: &impl Sample) -> Vec<Evaluation> {
        sample
            .metrics()
            .iter()
            .map(|metric| self.engine.evaluate(metric))
            .collect()
    }

    /// Judges a sample of a running console: its verdicts, and what it changes in the alerts
    /// (a condition must hold for its rule's duration, counted from the samples' times).
    pub fn judge(&mut self, sample: &impl Sample) -> Verdict {
        let metrics = sample.metrics();
        let evaluations = metrics
            .iter()
            .map(|metric| self.engine.evaluate(metric))
            .collect();
        let changes = self.engine.observe(&metrics, sample.taken_at());
        Verdict {
            evaluations,
            changes,
        }
    }
}
