//! The backup sets as one collector: every set is inventoried on the interval and whenever
//! asked (after a backup task, or a refresh key), on blocking threads so a slow disk or a
//! directory of 100,000 files never holds up the other collectors or the UI.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::BackupSet;
use super::inventory::{self, KindCache};
use super::status::{self, Known, SetReport};
use crate::core::collectors::{Collector, Sample};
use crate::core::model::Metric;
use crate::core::store::Store;

/// How long reading a set's verifications and restore tests may take before the report goes
/// out without them.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// Every set's report after one inventory round.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRound {
    pub reports: Vec<SetReport>,
    pub taken_at: DateTime<Utc>,
}

impl Sample for BackupRound {
    fn metrics(&self) -> Vec<Metric> {
        self.reports.iter().flat_map(SetReport::metrics).collect()
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// Inventories every set each round, reusing what it learnt of their files' kinds.
pub struct BackupCollector {
    sets: Vec<BackupSet>,
    caches: Vec<KindCache>,
    interval: Duration,
    store: Option<Store>,
}

impl BackupCollector {
    pub fn new(sets: Vec<BackupSet>, interval: Duration, store: Option<Store>) -> Self {
        BackupCollector {
            caches: sets.iter().map(|_| KindCache::default()).collect(),
            sets,
            interval,
            store,
        }
    }
}

impl Collector for BackupCollector {
    type Sample = BackupRound;

    fn id(&self) -> &str {
        "backups"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn collect(&mut self) -> Option<BackupRound> {
        let mut reports = Vec::with_capacity(self.sets.len());
        for (set, cache) in self.sets.iter().zip(self.caches.iter_mut()) {
            if let Some(report) = report(set, cache, self.store.as_ref()).await {
                reports.push(report);
            }
        }
        Some(BackupRound {
            reports,
            taken_at: crate::core::model::now(),
        })
    }
}

/// One set judged now: its inventory on a blocking thread (reusing `cache`) and what the store
/// knows of its verifications and restore tests. `None` when the inventory thread died.
pub async fn report(
    set: &BackupSet,
    cache: &mut KindCache,
    store: Option<&Store>,
) -> Option<SetReport> {
    let (known, store_problem) = known(store, &set.name).await;
    let owned_set = set.clone();
    let mut owned_cache = std::mem::take(cache);
    let (inventory, used_cache) = tokio::task::spawn_blocking(move || {
        let inventory = inventory::scan(&owned_set, &mut owned_cache);
        (inventory, owned_cache)
    })
    .await
    .map_err(|error| tracing::error!("inventory of {} failed: {error}", set.name))
    .ok()?;
    *cache = used_cache;
    let mut report = status::evaluate(set, inventory, &known, crate::core::model::now());
    report.store_problem = store_problem;
    Some(report)
}

async fn known(store: Option<&Store>, set: &str) -> (Known, Option<String>) {
    let Some(store) = store else {
        return (Known::default(), None);
    };
    let read = async {
        Ok::<_, crate::core::store::StoreError>(Known {
            verifications: store.latest_verifications(set).await?,
            last_good_restore: store.last_good_restore_test(set).await?,
        })
    };
    match tokio::time::timeout(STORE_TIMEOUT, read).await {
        Ok(Ok(known)) => (known, None),
        Ok(Err(error)) => (Known::default(), Some(error.to_string())),
        Err(_) => (
            Known::default(),
            Some(format!(
                "{}: no answer within {} s; verifications and restore tests are not shown",
                store.location(),
                STORE_TIMEOUT.as_secs()
            )),
        ),
    }
}
