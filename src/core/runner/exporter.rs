//! Puts the exporter between the runner and whoever listens to it (the console, or the headless
//! `opsdeck exporter`): every event passes through unchanged and in order, and the exporter
//! keeps the figures it shows from them. With a store it also reads each task's last success on
//! this host every minute, so runs made by other opsdeck processes here (`opsdeck run` from
//! cron) are counted too.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::RunnerHandle;
use crate::core::exporter::http::{BindError, Endpoint};
use crate::core::exporter::{ExporterSettings, Figures};
use crate::core::protocol::Event;
use crate::core::store::Store;

const SUCCESSES_EVERY: Duration = Duration::from_secs(60);

/// Serves `endpoint` from `runner`'s events (and `store`'s record of task runs) until the
/// runner stops; the handle returned is the runner's, to be used in its place.
pub fn attach(endpoint: Endpoint, runner: RunnerHandle, store: Option<Store>) -> RunnerHandle {
    let figures = endpoint.figures();
    let stop = CancellationToken::new();
    tokio::spawn(endpoint.serve(stop.clone()));
    if let Some(store) = store {
        tokio::spawn(read_successes(store, figures.clone(), stop.clone()));
    }
    pass_on(
        runner,
        None,
        move |event| {
            figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .observe(event);
        },
        stop,
    )
}

/// The console's way in: a failure to listen is a warning in place, and the console runs on.
pub async fn attach_or_warn(
    settings: ExporterSettings,
    runner: RunnerHandle,
    store: Option<Store>,
) -> RunnerHandle {
    match Endpoint::bind(settings).await {
        Ok(endpoint) => attach(endpoint, runner, store),
        Err(error) => warn_first(&error, runner),
    }
}

fn warn_first(error: &BindError, runner: RunnerHandle) -> RunnerHandle {
    let warning = Event::Warning {
        source: "exporter",
        message: format!("{error}; set [exporter] listen to a free address"),
    };
    pass_on(runner, Some(warning), |_| {}, CancellationToken::new())
}

/// A handle whose events are `runner`'s, after `first`, each seen by `observe` on the way;
/// `stop` is cancelled once the runner or the listener is gone.
fn pass_on(
    mut runner: RunnerHandle,
    first: Option<Event>,
    mut observe: impl FnMut(&Event) + Send + 'static,
    stop: CancellationToken,
) -> RunnerHandle {
    let (sender, events) = mpsc::channel(256);
    let upstream = std::mem::replace(&mut runner.events, events);
    tokio::spawn(async move {
        let _stop = stop.drop_guard();
        if let Some(first) = first
            && sender.send(first).await.is_err()
        {
            return;
        }
        let mut upstream = upstream;
        while let Some(event) = upstream.recv().await {
            observe(&event);
            if sender.send(event).await.is_err() {
                return;
            }
        }
    });
    runner
}

/// One small query a minute (the last success per task) instead of re-reading runs with their
/// output; a failure leaves the figures as they were, and the next minute tries again.
async fn read_successes(store: Store, figures: Arc<Mutex<Figures>>, stop: CancellationToken) {
    let host = figures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .host()
        .to_owned();
    let mut every = tokio::time::interval(SUCCESSES_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {
                match store.last_successes(&host).await {
                    Ok(successes) => figures
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .task_successes(&successes),
                    Err(error) => tracing::warn!("exporter: {error}"),
                }
            }
        }
    }
}
