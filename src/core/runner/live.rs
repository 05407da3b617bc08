//! Live shared state: what other consoles (and the CLI on other hosts) change in the shared
//! store reaches this console within a moment. The change feed says what changed; this glue turns
//! it into the runner's events: a changed alert is read and sent as [`Event::AlertChanged`],
//! checklist and incident changes make their collectors read again at once, and task runs send
//! the run history again.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::core::collectors::Control;
use crate::core::execution::TaskManager;
use crate::core::model::Alert;
use crate::core::protocol::Event;
use crate::core::shared::changes::ChangeFeed;
use crate::core::shared::{Change, ChangeKind};
use crate::core::store::Store;

/// Where the changes go.
pub struct Targets {
    /// The checklists' collector, when checklists are configured.
    pub checklists: Option<Control>,
    /// The incidents' collector, when the incidents are watched.
    pub incidents: Option<Control>,
    pub tasks: TaskManager,
    pub events: mpsc::Sender<Event>,
    /// The judge's ear: alerts others changed, so it lets go of one another console resolved and
    /// takes one another opened while it sees the breach too ([`crate::core::checks::Judge::hear_of`]).
    pub judge: mpsc::UnboundedSender<Alert>,
}

/// Follows the change log of a shared store until `cancel`; does nothing on SQLite.
pub fn spawn(store: Store, targets: Targets, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            () = cancel.cancelled() => {}
            () = follow(store, targets) => {}
        }
    })
}

async fn follow(store: Store, targets: Targets) {
    let mut feed = loop {
        match ChangeFeed::start(store.clone()).await {
            Ok(Some(feed)) => break feed,
            Ok(None) => return,
            Err(message) => {
                if !warn(&targets.events, message).await {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    };
    // One warning per outage, not one per retry.
    let mut failing = false;
    loop {
        match feed.next().await {
            Ok(changes) => {
                failing = false;
                if !apply(&store, &targets, changes).await {
                    return;
                }
            }
            Err(message) => {
                if !failing && !warn(&targets.events, message).await {
                    return;
                }
                failing = true;
            }
        }
    }
}

/// Shows `changes`; `false` once nobody listens.
async fn apply(store: &Store, targets: &Targets, changes: Vec<Change>) -> bool {
    let touched = |kind| changes.iter().any(|change| change.kind == kind);
    if touched(ChangeKind::Checklist)
        && let Some(control) = &targets.checklists
    {
        control.refresh_now();
    }
    if touched(ChangeKind::Incident)
        && let Some(control) = &targets.incidents
    {
        control.refresh_now();
    }
    if touched(ChangeKind::TaskRun) {
        targets.tasks.send_history(None).await;
    }
    let mut alerts: Vec<&str> = Vec::new();
    for change in changes
        .iter()
        .filter(|change| change.kind == ChangeKind::Alert)
    {
        if !alerts.contains(&change.subject.as_str()) {
            alerts.push(&change.subject);
        }
    }
    for id in alerts {
        let event = match store.alert(id).await {
            Ok(Some(alert)) => {
                let _ = targets.judge.send(alert.clone());
                Event::AlertChanged(alert)
            }
            Ok(None) => continue,
            Err(error) => Event::Warning {
                source: "store",
                message: error.to_string(),
            },
        };
        if targets.events.send(event).await.is_err() {
            return false;
        }
    }
    true
}

async fn warn(events: &mpsc::Sender<Event>, message: String) -> bool {
    tracing::warn!("{message}");
    events
        .send(Event::Warning {
            source: "store",
            message,
        })
        .await
        .is_ok()
}
