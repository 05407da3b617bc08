//! Checking every service on its own interval: one small task per service, a shared limit on
//! how many checks run at once, and a way to re-check one now. A slow or hanging service only
//! holds its own slot until its timeout; it never delays the others.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, mpsc};

use super::{CheckOutcome, ServiceSpec};

/// How many checks may run at the same time.
pub const CONCURRENT_CHECKS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceResult {
    pub name: String,
    pub checked_at: DateTime<Utc>,
    pub outcome: CheckOutcome,
}

/// Starts the loops; returns the handles that trigger an immediate re-check, by service name.
pub fn spawn_checks(
    specs: Vec<ServiceSpec>,
    results: mpsc::Sender<ServiceResult>,
) -> HashMap<String, Arc<Notify>> {
    let limit = Arc::new(Semaphore::new(CONCURRENT_CHECKS));
    let mut rechecks = HashMap::new();
    let mut loops = Vec::with_capacity(specs.len());
    for spec in &specs {
        let recheck = Arc::new(Notify::new());
        rechecks.insert(spec.name.clone(), recheck.clone());
        loops.push(recheck);
    }
    tokio::spawn(async move {
        super::prepare(&specs).await;
        for (spec, recheck) in specs.into_iter().zip(loops) {
            tokio::spawn(check_loop(spec, limit.clone(), recheck, results.clone()));
        }
    });
    rechecks
}

async fn check_loop(
    spec: ServiceSpec,
    limit: Arc<Semaphore>,
    recheck: Arc<Notify>,
    results: mpsc::Sender<ServiceResult>,
) {
    loop {
        let started = tokio::time::Instant::now();
        let outcome = {
            let Ok(_permit) = limit.acquire().await else {
                return;
            };
            spec.check.run(spec.timeout).await
        };
        let result = ServiceResult {
            name: spec.name.clone(),
            checked_at: crate::core::model::now(),
            outcome,
        };
        if results.send(result).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(started + spec.interval) => {}
            () = recheck.notified() => {}
        }
    }
}
