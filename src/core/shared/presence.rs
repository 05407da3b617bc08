//! The heartbeat as a collector: each round writes this session's beat, reads who else of its
//! kind is on, and measures the age of every host's newest console and exporter beat, which rules
//! judge as a dead-man's switch.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Heartbeat, LastBeat, SharedSettings};
use crate::core::collectors::{Collector, Sample};
use crate::core::model::{Metric, Unit};
use crate::core::store::Store;

/// How often stopped sessions and old changes are pruned.
const PRUNE_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// One round of the heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceSample {
    /// The others on (or why they could not be read): the header shows them.
    pub peers: Result<Vec<Heartbeat>, String>,
    /// The newest beat of every host's console and exporter; empty when the store failed, so a
    /// store outage here raises no dead-man's alert for everyone.
    pub last_beats: Vec<LastBeat>,
    pub taken_at: DateTime<Utc>,
}

impl Sample for PresenceSample {
    fn metrics(&self) -> Vec<Metric> {
        self.last_beats
            .iter()
            .map(|beat| {
                let age = (self.taken_at - beat.at).num_milliseconds().max(0) as f64 / 1000.0;
                Metric::of(beat.kind.age_metric(), &beat.host, age, Unit::Seconds)
            })
            .collect()
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

pub struct PresenceCollector {
    store: Store,
    settings: SharedSettings,
    beat: Heartbeat,
    pruned_at: Option<DateTime<Utc>>,
}

impl PresenceCollector {
    /// Beats as `store`'s session, for `user` on `host` in process `pid`.
    pub fn new(
        store: Store,
        settings: SharedSettings,
        user: String,
        host: String,
        pid: u32,
    ) -> PresenceCollector {
        let now = crate::core::model::now();
        let beat = Heartbeat {
            session: store.session().to_owned(),
            kind: settings.kind,
            host,
            user,
            pid,
            started_at: now,
            beat_at: now,
        };
        PresenceCollector {
            store,
            settings,
            beat,
            pruned_at: None,
        }
    }

    async fn round(&mut self, now: DateTime<Utc>) -> Result<PresenceSample, String> {
        self.beat.beat_at = now;
        self.store
            .beat(&self.beat)
            .await
            .map_err(|error| error.to_string())?;
        if self.pruned_at.is_none_or(|at| now - at >= PRUNE_EVERY) {
            self.pruned_at = Some(now);
            if let Err(error) = self.store.prune_shared(now).await {
                tracing::warn!("{error}");
            }
        }
        let gone_after =
            chrono::TimeDelta::from_std(self.settings.gone_after).unwrap_or(chrono::TimeDelta::MAX);
        let peers = self
            .store
            .beating(self.beat.kind, &self.beat.session, now - gone_after)
            .await
            .map_err(|error| error.to_string())?;
        let last_beats = self
            .store
            .last_beats()
            .await
            .map_err(|error| error.to_string())?;
        Ok(PresenceSample {
            peers: Ok(peers),
            last_beats,
            taken_at: now,
        })
    }
}

impl Collector for PresenceCollector {
    type Sample = PresenceSample;

    fn id(&self) -> &str {
        "heartbeat"
    }

    fn interval(&self) -> Duration {
        self.settings.beat_every
    }

    async fn collect(&mut self) -> Option<PresenceSample> {
        let now = crate::core::model::now();
        Some(
            self.round(now)
                .await
                .unwrap_or_else(|message| PresenceSample {
                    peers: Err(message),
                    last_beats: Vec::new(),
                    taken_at: now,
                }),
        )
    }
}
