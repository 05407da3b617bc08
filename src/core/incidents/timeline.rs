//! The automatic timeline: what the runner sees while an incident is open (an alert opening,
//! escalating or resolving, a service going down or up, a task run starting and finishing, a
//! session cancelled or terminated, a backup verified, a checklist note) is appended to the open
//! incidents it concerns as an `observed` entry, under the runner's identity, with a frozen copy
//! of its evidence (the alert's values, the check's detail, the last lines of a run's output, the
//! session's SQL), so pruning or losing the original later cannot empty a postmortem.
//!
//! Which incidents an observation concerns: an alert, the open incidents whose affected systems
//! name its instance or metric (or that it is already attached to, or was declared from); a
//! service's change of state, those naming the service; a task run, a session signalled, a backup
//! verification and a checklist note, every open incident, since opsdeck cannot tell which
//! incident an engineer ran them for. An alert entry attaches the alert to the incident.
//!
//! The runner feeds observations through an unbounded channel and never waits for the writes.
//! The open incidents are kept from the console's incidents watcher and from the runner's own
//! changes when there are any, and otherwise re-read from the store when an observation comes
//! and the list is older than [`REREAD_AFTER`]: a headless `opsdeck run` records its run into
//! the incidents open in the store without reading them per event. An incident resolved by
//! another process within that window may still get an entry or two. Each runner writes what it
//! saw: two consoles on one store each add their own line for a service going down.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::service::{IncidentService, NotRecorded};
use super::{Change, Incident, Source, describe_alert};
use crate::core::model::{Alert, RunStatus, TaskRun};
use crate::core::notify::AlertEvent;
use crate::core::services::flap::ServiceState;

/// How old the list of open incidents may be before an observation re-reads it.
pub const REREAD_AFTER: Duration = Duration::from_secs(5);
/// How many of a run's last output lines an entry keeps.
const OUTPUT_LINES: usize = 10;
/// How long the runner waits, when it stops, for the entries still queued to be written.
pub const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Something the runner saw or did.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// An alert opened, escalated or resolved (already stored).
    Alert {
        alert: Alert,
        event: AlertEvent,
    },
    /// A service was checked; only a change of its state makes an entry.
    ServiceChecked {
        name: String,
        state: ServiceState,
        detail: String,
        at: DateTime<Utc>,
    },
    TaskStarted(TaskRun),
    TaskFinished(TaskRun),
    /// A note written on a checklist run (on an item, or on the run).
    ChecklistNote {
        checklist: String,
        period: String,
        item: Option<String>,
        text: String,
    },
}

enum Feed {
    Observed(Box<Observation>),
    /// The incidents as just read by someone else (the watcher, a change the runner made).
    Incidents(Vec<Incident>),
    Stop,
}

/// The runner's end of the timeline: cheap to clone, and nothing on it waits.
#[derive(Debug, Clone)]
pub struct Timeline {
    feed: mpsc::UnboundedSender<Feed>,
}

impl Timeline {
    /// Starts the writer; a store failure is handed to `warn` (which must not wait: the runner
    /// shows it as a warning) and to the log.
    pub fn spawn(
        service: IncidentService,
        warn: impl Fn(String) + Send + Sync + 'static,
    ) -> (Timeline, JoinHandle<()>) {
        let (feed, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(write(service, received, warn));
        (Timeline { feed }, task)
    }

    pub fn observe(&self, observation: Observation) {
        let _ = self.feed.send(Feed::Observed(Box::new(observation)));
    }

    /// A fresh list of incidents, which saves a read of the store.
    pub fn incidents(&self, incidents: &[Incident]) {
        let _ = self.feed.send(Feed::Incidents(incidents.to_vec()));
    }

    /// Writes what is queued so far, then stops the writer.
    pub fn stop(&self) {
        let _ = self.feed.send(Feed::Stop);
    }
}

async fn write(
    service: IncidentService,
    mut feed: mpsc::UnboundedReceiver<Feed>,
    warn: impl Fn(String),
) {
    let warn = |message: String| {
        tracing::warn!("{message}");
        warn(message);
    };
    let mut open: Vec<Incident> = Vec::new();
    let mut read_at: Option<Instant> = None;
    let mut services: HashMap<String, ServiceState> = HashMap::new();
    while let Some(item) = feed.recv().await {
        let observation = match item {
            Feed::Stop => break,
            Feed::Incidents(incidents) => {
                open = incidents.into_iter().filter(Incident::is_open).collect();
                read_at = Some(Instant::now());
                continue;
            }
            Feed::Observed(observation) => observation,
        };
        let Some(entry) = entry(*observation, &mut services) else {
            continue;
        };
        if read_at.is_none_or(|at| at.elapsed() >= REREAD_AFTER) {
            // A failed read is retried only after the same interval, not per event.
            read_at = Some(Instant::now());
            match service.open_incidents().await {
                Ok(incidents) => open = incidents,
                Err(message) => warn(message),
            }
        }
        for incident in open.iter().filter(|incident| entry.concerns(incident)) {
            // Never before the opening: the log folds from its first row, which must be it.
            let at = entry.at.max(incident.detected.at);
            if let Err(error) = observe_retrying(&service, incident, &entry.change, at).await {
                warn(format!(
                    "an entry of {}'s timeline was not written: {error}",
                    incident.id
                ));
            }
        }
    }
}

/// How many times an entry is tried before it is given up with a warning.
const WRITE_ATTEMPTS: u32 = 3;
/// The pause before the second attempt; it doubles before each further one.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Appends one entry, trying again after a store failure: a store busy for a few seconds (a
/// loaded host, a SQLite file another process is writing) must not leave a hole in a
/// postmortem. The writer is its own task, so the pauses hold up no one.
async fn observe_retrying(
    service: &IncidentService,
    incident: &Incident,
    change: &Change,
    at: DateTime<Utc>,
) -> Result<(), String> {
    let mut pause = RETRY_AFTER;
    let mut attempt = 1;
    loop {
        match service
            .observe(incident.id.clone(), change.clone(), at)
            .await
        {
            Ok(()) => return Ok(()),
            Err(NotRecorded::Refused(error)) => return Err(error),
            Err(NotRecorded::Store(error)) if attempt >= WRITE_ATTEMPTS => return Err(error),
            Err(NotRecorded::Store(error)) => {
                tracing::info!("retrying an entry of {}'s timeline: {error}", incident.id);
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
        }
    }
}

/// Which open incidents an entry goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Concerns {
    /// Those whose affected systems name one of these, or that know this alert.
    Named {
        names: Vec<String>,
        alert: Option<String>,
    },
    Every,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    concerns: Concerns,
    at: DateTime<Utc>,
    change: Change,
}

impl Entry {
    fn concerns(&self, incident: &Incident) -> bool {
        match &self.concerns {
            Concerns::Every => true,
            Concerns::Named { names, alert } => {
                alert
                    .as_ref()
                    .is_some_and(|alert| incident.knows_alert(alert))
                    || incident.affects.iter().any(|affected| {
                        names
                            .iter()
                            .any(|name| affected.trim().eq_ignore_ascii_case(name.trim()))
                    })
            }
        }
    }
}

fn observed(source: Source, text: String, evidence: String, link: Option<String>) -> Change {
    Change::Observed {
        source,
        text,
        evidence,
        link,
    }
}

/// What an observation writes, or `None` when it is not worth an entry (a service checked
/// without changing state).
fn entry(observation: Observation, services: &mut HashMap<String, ServiceState>) -> Option<Entry> {
    match observation {
        Observation::Alert { alert, event } => {
            let subject = match &alert.instance {
                Some(instance) => format!("{} {instance}", alert.metric),
                None => alert.metric.clone(),
            };
            let (text, at) = match event {
                AlertEvent::Opened => (
                    format!("{subject} {} opened", alert.level.label()),
                    alert.opened_at,
                ),
                AlertEvent::Escalated => (
                    format!("{subject} escalated to {}", alert.level.label()),
                    crate::core::model::now(),
                ),
                AlertEvent::Resolved => (
                    format!("{subject} resolved"),
                    alert.resolved_at.unwrap_or_else(crate::core::model::now),
                ),
            };
            let names = alert
                .instance
                .iter()
                .cloned()
                .chain([alert.metric.clone()])
                .collect();
            Some(Entry {
                concerns: Concerns::Named {
                    names,
                    alert: Some(alert.id.clone()),
                },
                at,
                change: observed(Source::Alert, text, describe_alert(&alert), Some(alert.id)),
            })
        }
        Observation::ServiceChecked {
            name,
            state,
            detail,
            at,
        } => {
            let before = services.insert(name.clone(), state);
            let changed = match (before, state) {
                (_, ServiceState::Unknown) => false,
                // Coming up at start is the normal case; down at start is worth a line.
                (None | Some(ServiceState::Unknown), ServiceState::Up) => false,
                (before, state) => before != Some(state),
            };
            if !changed {
                return None;
            }
            let text = match state {
                ServiceState::Down => format!("{name} down"),
                _ => format!("{name} up"),
            };
            Some(Entry {
                concerns: Concerns::Named {
                    names: vec![name],
                    alert: None,
                },
                at,
                change: observed(Source::Service, text, detail, None),
            })
        }
        Observation::TaskStarted(run) => Some(Entry {
            concerns: Concerns::Every,
            at: run.started_at,
            change: observed(
                source_of(&run.task_id),
                format!("{}{} started by {}", run.task_id, params(&run), run.user),
                run.plan.join("\n"),
                Some(run.id),
            ),
        }),
        Observation::TaskFinished(run) => {
            let mut text = format!("{}{} {}", run.task_id, params(&run), status(run.status));
            if let Some(code) = run.exit_code {
                text.push_str(&format!(" (exit {code})"));
            }
            if let Some(ended) = run.ended_at {
                let seconds = (ended - run.started_at).num_milliseconds() as f64 / 1000.0;
                text.push_str(&format!(" after {seconds:.1} s"));
            }
            if let Some(summary) = run.summary.as_deref().filter(|s| !s.is_empty()) {
                text.push_str(&format!(": {summary}"));
            }
            let source = source_of(&run.task_id);
            let lines: Vec<&str> = run.output.lines().collect();
            let last = &lines[lines.len().saturating_sub(OUTPUT_LINES)..];
            // A signalled session's SQL is in the plan (the statement and what the session ran).
            let evidence = if source == Source::Session {
                run.plan
                    .iter()
                    .map(String::as_str)
                    .chain(last.iter().copied())
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                last.join("\n")
            };
            Some(Entry {
                concerns: Concerns::Every,
                at: run.ended_at.unwrap_or(run.started_at),
                change: observed(source, text, evidence, Some(run.id)),
            })
        }
        Observation::ChecklistNote {
            checklist,
            period,
            item,
            text,
        } => {
            let on = match &item {
                Some(item) => format!("{checklist} / {item}"),
                None => checklist.clone(),
            };
            Some(Entry {
                concerns: Concerns::Every,
                at: crate::core::model::now(),
                change: observed(
                    Source::Checklist,
                    format!("note on {on}: {text}"),
                    format!("checklist {checklist}, period {period}"),
                    None,
                ),
            })
        }
    }
}

/// Sessions signalled and backups verified are what the guides' timeline asks for by name;
/// every other task is a task.
fn source_of(task_id: &str) -> Source {
    use crate::core::tasks::backups::BackupAction;
    use crate::core::tasks::pg_sessions::SessionAction;
    if [SessionAction::Cancel, SessionAction::Terminate]
        .iter()
        .any(|action| action.task_id() == task_id)
    {
        Source::Session
    } else if [BackupAction::Verify, BackupAction::RestoreTest]
        .iter()
        .any(|action| action.id() == task_id)
    {
        Source::Backup
    } else {
        Source::Task
    }
}

/// ` (pids=1234, database=app)`, or nothing without parameters.
fn params(run: &TaskRun) -> String {
    if run.params.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = run
        .params
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    format!(" ({})", listed.join(", "))
}

fn status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::TimedOut => "timed out",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::tests::event;
    use crate::core::incidents::{Level, fold};
    use crate::core::model::{Status, Unit};

    fn incident(affects: &[&str]) -> Incident {
        let opened = Change::Opened {
            title: "checkout down".into(),
            level: Level::P1,
            affects: affects.iter().map(|name| (*name).to_owned()).collect(),
            evidence: String::new(),
        };
        fold("INC-1", &[event(0, "alice", opened)]).expect("opened")
    }

    fn alert(instance: &str) -> Alert {
        Alert {
            id: "alert-7".into(),
            key: format!("service.up:{instance}"),
            host: None,
            metric: "service.up".into(),
            instance: Some(instance.into()),
            level: Status::Crit,
            opened_at: crate::core::incidents::tests::at(3),
            resolved_at: None,
            peak: 0.0,
            threshold: 1.0,
            unit: Unit::Count,
        }
    }

    fn run(task_id: &str) -> TaskRun {
        TaskRun {
            id: "run-1".into(),
            task_id: task_id.into(),
            params: [("pids".to_owned(), "4242".to_owned())].into(),
            plan: vec![
                "SELECT pg_terminate_backend(4242)".into(),
                "  pid 4242 psql on app by app, active 3m: UPDATE orders SET x = 1".into(),
            ],
            user: "bob".into(),
            client: None,
            host: "web-1".into(),
            pid: 1,
            started_at: crate::core::incidents::tests::at(5),
            ended_at: Some(
                crate::core::incidents::tests::at(5) + chrono::Duration::milliseconds(1500),
            ),
            status: RunStatus::Succeeded,
            exit_code: None,
            summary: Some("terminated 1 session".into()),
            output: (1..=12).map(|n| format!("line {n}\n")).collect(),
            log_path: None,
            trigger: Default::default(),
        }
    }

    #[test]
    fn an_alert_concerns_the_incidents_naming_its_instance_and_carries_its_values() {
        let entry = entry(
            Observation::Alert {
                alert: alert("checkout"),
                event: AlertEvent::Opened,
            },
            &mut HashMap::new(),
        )
        .expect("an entry");
        assert!(entry.concerns(&incident(&["Checkout"])));
        assert!(entry.concerns(&incident(&["service.up"])));
        assert!(!entry.concerns(&incident(&["payments"])));
        let Change::Observed {
            source,
            text,
            evidence,
            link,
        } = &entry.change
        else {
            panic!("observed: {entry:?}");
        };
        assert_eq!(*source, Source::Alert);
        assert_eq!(text, "service.up checkout CRIT opened");
        assert!(
            evidence.contains(
                "service.up checkout CRIT since 2026-12-05 03:03:00 UTC, open, peak 0, limit 1"
            ),
            "{evidence}"
        );
        assert_eq!(link.as_deref(), Some("alert-7"));
    }

    #[test]
    fn a_service_makes_an_entry_only_when_its_state_changes() {
        let mut services = HashMap::new();
        let mut check = |state, detail: &str| {
            entry(
                Observation::ServiceChecked {
                    name: "checkout".into(),
                    state,
                    detail: detail.into(),
                    at: crate::core::incidents::tests::at(1),
                },
                &mut services,
            )
            .map(|entry| match entry.change {
                Change::Observed { text, evidence, .. } => (text, evidence),
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(check(ServiceState::Unknown, "first failure"), None);
        assert_eq!(check(ServiceState::Up, "200 OK"), None, "up at start");
        assert_eq!(check(ServiceState::Up, "200 OK"), None);
        assert_eq!(
            check(ServiceState::Down, "connection refused"),
            Some(("checkout down".into(), "connection refused".into()))
        );
        assert_eq!(check(ServiceState::Down, "connection refused"), None);
        assert_eq!(
            check(ServiceState::Up, "200 OK in 3 ms"),
            Some(("checkout up".into(), "200 OK in 3 ms".into()))
        );
    }

    #[test]
    fn runs_concern_every_open_incident_with_status_link_and_frozen_output() {
        let finished = entry(
            Observation::TaskFinished(run("deploy")),
            &mut HashMap::new(),
        )
        .expect("an entry");
        assert_eq!(finished.concerns, Concerns::Every);
        let Change::Observed {
            source,
            text,
            evidence,
            link,
        } = finished.change
        else {
            panic!("observed");
        };
        assert_eq!(source, Source::Task);
        assert_eq!(
            text,
            "deploy (pids=4242) succeeded after 1.5 s: terminated 1 session"
        );
        assert_eq!(
            evidence,
            (3..=12)
                .map(|n| format!("line {n}"))
                .collect::<Vec<_>>()
                .join("\n"),
            "the last ten lines"
        );
        assert_eq!(link.as_deref(), Some("run-1"));

        let session = entry(
            Observation::TaskFinished(run("pg-terminate-session")),
            &mut HashMap::new(),
        )
        .expect("an entry");
        let Change::Observed {
            source, evidence, ..
        } = session.change
        else {
            panic!("observed");
        };
        assert_eq!(source, Source::Session);
        assert!(
            evidence.starts_with("SELECT pg_terminate_backend(4242)\n")
                && evidence.contains("UPDATE orders SET x = 1"),
            "{evidence}"
        );
        assert_eq!(source_of("backup-verify"), Source::Backup);
        assert_eq!(source_of("backup-create"), Source::Task);
    }
}
