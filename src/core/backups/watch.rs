//! Keeps the backup sets' reports current for the runner: every set is inventoried on the
//! interval and whenever asked (after a backup task, or a refresh key), on blocking threads so a
//! slow disk or a directory of 100,000 files never holds up the other collectors or the UI.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use super::BackupSet;
use super::inventory::{self, KindCache};
use super::status::{self, Known, SetReport};
use crate::core::store::Store;

/// How long reading a set's verifications and restore tests may take before the report goes
/// out without them.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends a report of every set after each round; stops when nobody listens.
pub async fn watch(
    sets: Vec<BackupSet>,
    interval: Duration,
    store: Option<Store>,
    refresh: Arc<Notify>,
    reports: mpsc::Sender<Vec<SetReport>>,
) {
    let mut caches: Vec<KindCache> = sets.iter().map(|_| KindCache::default()).collect();
    loop {
        let mut round = Vec::with_capacity(sets.len());
        for (set, cache) in sets.iter().zip(caches.iter_mut()) {
            if let Some(report) = report(set, cache, store.as_ref()).await {
                round.push(report);
            }
        }
        if reports.send(round).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = refresh.notified() => {}
        }
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
