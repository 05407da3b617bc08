//! opsdeck's own metrics for Prometheus: what Prometheus cannot see by itself (service checks
//! after flap control, TLS expiry, backup freshness and verification, checklists, task runs,
//! open alerts and incidents), kept from the runner's [`Event`]s — the same figures the console
//! shows — and written in the text exposition format on each scrape.
//!
//! Only names, numbers and the user's own identifiers (service, set, checklist and task names,
//! levels) are written: no URL, detail line or message, so no configured secret can reach the
//! endpoint.

pub mod http;
mod text;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use chrono::{DateTime, Local, Utc};

use crate::core::backups::VerifyResult;
use crate::core::backups::status::SetReport;
use crate::core::checklists::{Checklist, DueState, RunState, schedule};
use crate::core::incidents::{Incident, Level};
use crate::core::model::{Alert, RunStatus, Status, TaskRun};
use crate::core::protocol::Event;
use crate::core::services::flap::ServiceState;
use text::Exposition;

/// What the exporter needs besides the runner's events.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    pub listen: SocketAddr,
    /// This host's name as task runs record it: only runs made here count as its successes (a
    /// shared store also holds the other hosts' runs).
    pub host: String,
    /// The checklists, to say whether each is due or overdue at the moment of a scrape.
    pub checklists: Vec<Checklist>,
}

/// The last check of a service.
#[derive(Debug, Clone)]
struct ServiceFigures {
    state: ServiceState,
    ok: bool,
    latency_seconds: Option<f64>,
    tls_days_left: Option<f64>,
    checked_at: DateTime<Utc>,
}

/// One backup set after its last inventory round.
#[derive(Debug, Clone)]
struct BackupFigures {
    newest_at: Option<DateTime<Utc>>,
    stale: bool,
    files: usize,
    total_bytes: u64,
    corrupt: usize,
    newest_verified: bool,
    last_verified: Option<DateTime<Utc>>,
    last_restore: Option<(DateTime<Utc>, bool)>,
    restore_overdue: bool,
}

impl BackupFigures {
    fn of(report: &SetReport) -> BackupFigures {
        BackupFigures {
            newest_at: report
                .newest_age
                .map(|age| report.scanned_at - chrono::TimeDelta::seconds(age)),
            stale: report.stale,
            files: report.files.len(),
            total_bytes: report.total_bytes,
            corrupt: report.corrupt,
            newest_verified: report.files.first().is_some_and(|file| {
                !file.changed_since_verified
                    && file
                        .verification
                        .as_ref()
                        .is_some_and(|verification| verification.result == VerifyResult::Ok)
            }),
            last_verified: report.last_verified,
            last_restore: report
                .last_restore
                .as_ref()
                .map(|restore| (restore.started_at, restore.ok)),
            restore_overdue: report.restore_overdue,
        }
    }
}

/// Everything the exporter knows, updated event by event.
#[derive(Debug)]
pub struct Figures {
    host: String,
    checklists: Vec<Checklist>,
    services: BTreeMap<String, ServiceFigures>,
    /// Per service: 24 h and 7 d availability in percent.
    availability: BTreeMap<String, (Option<f64>, Option<f64>)>,
    backups: BTreeMap<String, BackupFigures>,
    checklist_runs: HashMap<String, RunState>,
    task_successes: BTreeMap<String, DateTime<Utc>>,
    /// Open alerts by id.
    alerts: HashMap<String, Alert>,
    /// `None` until the runner has read them (never, without a store).
    incidents: Option<Vec<Incident>>,
}

impl Figures {
    pub fn new(host: String, checklists: Vec<Checklist>) -> Figures {
        Figures {
            host,
            checklists,
            services: BTreeMap::new(),
            availability: BTreeMap::new(),
            backups: BTreeMap::new(),
            checklist_runs: HashMap::new(),
            task_successes: BTreeMap::new(),
            alerts: HashMap::new(),
            incidents: None,
        }
    }

    /// Takes in what the runner just told.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::ServiceChecked {
                name,
                state,
                checked_at,
                outcome,
                ..
            } => {
                let tls_days_left = outcome
                    .metrics
                    .iter()
                    .find(|(metric, _, _)| *metric == "service.tls_days_left")
                    .map(|(_, value, _)| *value);
                self.services.insert(
                    name.clone(),
                    ServiceFigures {
                        state: *state,
                        ok: outcome.ok,
                        latency_seconds: outcome.latency.map(|latency| latency.as_secs_f64()),
                        tls_days_left,
                        checked_at: *checked_at,
                    },
                );
            }
            Event::ServiceAvailability(figures) => {
                self.availability = figures
                    .iter()
                    .map(|(name, day, week)| (name.clone(), (*day, *week)))
                    .collect();
            }
            Event::Backups { reports, .. } => {
                self.backups = reports
                    .iter()
                    .map(|report| (report.set.clone(), BackupFigures::of(report)))
                    .collect();
            }
            Event::ChecklistRuns(runs) => {
                for run in runs {
                    self.checklist_runs
                        .insert(run.checklist.clone(), run.clone());
                }
            }
            Event::ChecklistRun(run) => {
                // A past period's run (browsed in the console) must not stand for the current one.
                let current = self
                    .checklist_runs
                    .get(&run.checklist)
                    .is_none_or(|known| known.period <= run.period);
                if current {
                    self.checklist_runs
                        .insert(run.checklist.clone(), run.clone());
                }
            }
            Event::TaskHistory { runs, .. } => runs.iter().for_each(|run| self.task_run(run)),
            Event::TaskFinished(run) => self.task_run(run),
            Event::AlertsLoaded(alerts) => {
                for alert in alerts {
                    self.alert(alert);
                }
            }
            Event::AlertChanged(alert) => self.alert(alert),
            Event::Incidents(incidents) => self.incidents = Some(incidents.clone()),
            _ => {}
        }
    }

    fn task_run(&mut self, run: &TaskRun) {
        let Some(ended_at) = run.ended_at else {
            return;
        };
        if run.status != RunStatus::Succeeded || run.host != self.host {
            return;
        }
        self.task_success(&run.task_id, ended_at);
    }

    fn task_success(&mut self, task_id: &str, ended_at: DateTime<Utc>) {
        let last = self
            .task_successes
            .entry(task_id.to_owned())
            .or_insert(ended_at);
        *last = (*last).max(ended_at);
    }

    /// This host's name, whose runs and alerts count.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Each task's last success on this host as the store has it, runs made by other opsdeck
    /// processes here (`opsdeck run` from cron) included.
    pub fn task_successes(&mut self, successes: &HashMap<String, DateTime<Utc>>) {
        for (task_id, ended_at) in successes {
            self.task_success(task_id, *ended_at);
        }
    }

    fn alert(&mut self, alert: &Alert) {
        // A shared store tells of every host's alerts, and of the fleet's, which each host's
        // exporter would count again: only this host's are its own.
        if alert.host.as_deref() != Some(self.host.as_str()) {
            return;
        }
        if alert.is_open() {
            self.alerts.insert(alert.id.clone(), alert.clone());
        } else {
            self.alerts.remove(&alert.id);
        }
    }

    /// The text exposition of everything known, ages counted to `now`.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let mut out = Exposition::default();
        out.family(
            "opsdeck_build_info",
            "gauge",
            "Always 1; the version of opsdeck serving these metrics.",
        );
        out.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
        per_name(&mut out, "service", &self.services, SERVICE_FAMILIES, now);
        out.family(
            "opsdeck_service_availability_ratio",
            "gauge",
            "Share of the service's checks that succeeded over the window (0 to 1).",
        );
        for (name, (day, week)) in &self.availability {
            for (window, pct) in [("24h", day), ("7d", week)] {
                if let Some(pct) = pct {
                    out.sample(
                        &[("service", name.as_str()), ("window", window)],
                        pct / 100.0,
                    );
                }
            }
        }
        per_name(&mut out, "set", &self.backups, BACKUP_FAMILIES, now);
        self.render_checklists(&mut out, now);
        out.family(
            "opsdeck_task_last_success_timestamp_seconds",
            "gauge",
            "When a run of the task on this host last ended successfully (Unix time).",
        );
        for (task, at) in &self.task_successes {
            out.sample(&[("task", task.as_str())], timestamp(*at));
        }
        out.family(
            "opsdeck_alerts_open",
            "gauge",
            "Alerts the rules opened on this host's metrics that are still open, by level.",
        );
        for level in [Status::Warn, Status::Crit] {
            let open = self
                .alerts
                .values()
                .filter(|alert| alert.level == level)
                .count();
            out.sample(&[("level", level.as_str())], open as f64);
        }
        if let Some(incidents) = &self.incidents {
            out.family(
                "opsdeck_incidents_open",
                "gauge",
                "Incidents not resolved yet, by level (P0 most severe).",
            );
            for level in Level::ALL {
                let open = incidents
                    .iter()
                    .filter(|incident| incident.is_open() && incident.level == level)
                    .count();
                out.sample(&[("level", level.as_str())], open as f64);
            }
            out.family(
                "opsdeck_incidents_unacknowledged_overdue",
                "gauge",
                "Open incidents nobody acknowledged within their level's response target.",
            );
            let overdue = incidents
                .iter()
                .filter(|incident| incident.overdue(now))
                .count();
            out.sample(&[], overdue as f64);
        }
        out.finish()
    }

    fn render_checklists(&self, out: &mut Exposition, now: DateTime<Utc>) {
        let states: Vec<(&Checklist, DueState, usize)> = self
            .checklists
            .iter()
            .map(|checklist| {
                let run = self.checklist_runs.get(&checklist.id).filter(|run| {
                    run.period == schedule::period_key(checklist.period, now, &Local)
                });
                let state = schedule::due_state(checklist, run, now, &Local);
                let open = run.map_or(checklist.items.len(), |run| {
                    let (resolved, total) = run.progress();
                    total - resolved
                });
                (checklist, state, open)
            })
            .collect();
        out.family(
            "opsdeck_checklist_due",
            "gauge",
            "1 when the checklist is due in its current period and not signed off yet.",
        );
        for (checklist, state, _) in &states {
            let due = matches!(
                state,
                DueState::Due | DueState::InProgress | DueState::Overdue
            );
            out.sample(&[("checklist", checklist.id.as_str())], flag(due));
        }
        out.family(
            "opsdeck_checklist_overdue",
            "gauge",
            "1 when the checklist is past its grace time in the current period and not signed off.",
        );
        for (checklist, state, _) in &states {
            out.sample(
                &[("checklist", checklist.id.as_str())],
                flag(*state == DueState::Overdue),
            );
        }
        out.family(
            "opsdeck_checklist_open_items",
            "gauge",
            "Items of the current period's run neither ticked nor skipped.",
        );
        for (checklist, _, open) in &states {
            out.sample(&[("checklist", checklist.id.as_str())], *open as f64);
        }
    }
}

/// A family of one figure per named thing: its name, its help, and the figure at a moment
/// (`None`: no sample for that thing).
type Family<T> = (
    &'static str,
    &'static str,
    fn(&T, DateTime<Utc>) -> Option<f64>,
);

/// Writes each family of `families`, one sample per entry of `items` labelled `label`.
fn per_name<T>(
    out: &mut Exposition,
    label: &str,
    items: &BTreeMap<String, T>,
    families: &[Family<T>],
    now: DateTime<Utc>,
) {
    for (name, help, figure) in families {
        out.family(name, "gauge", help);
        for (item, figures) in items {
            if let Some(value) = figure(figures, now) {
                out.sample(&[(label, item.as_str())], value);
            }
        }
    }
}

fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (now - at).as_seconds_f64().max(0.0)
}

fn timestamp(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

fn flag(value: bool) -> f64 {
    f64::from(u8::from(value))
}

const SERVICE_FAMILIES: &[Family<ServiceFigures>] = &[
    (
        "opsdeck_service_up",
        "1 when the service is up after flap control, 0 when down (absent before its first check).",
        |service, _| {
            (service.state != ServiceState::Unknown)
                .then(|| flag(service.state == ServiceState::Up))
        },
    ),
    (
        "opsdeck_service_check_success",
        "1 when the service's last check succeeded, before flap control.",
        |service, _| Some(flag(service.ok)),
    ),
    (
        "opsdeck_service_latency_seconds",
        "Time the service took to answer its last check, for the kinds that measure it.",
        |service, _| service.latency_seconds,
    ),
    (
        "opsdeck_service_last_check_timestamp_seconds",
        "When the service was last checked (Unix time).",
        |service, _| Some(timestamp(service.checked_at)),
    ),
    (
        "opsdeck_service_tls_remaining_seconds",
        "Time until the service's TLS certificate expires, in whole days at its last check (negative once expired).",
        |service, now| {
            service
                .tls_days_left
                .map(|days| days * 86_400.0 - age(service.checked_at, now))
        },
    ),
];

const BACKUP_FAMILIES: &[Family<BackupFigures>] = &[
    (
        "opsdeck_backup_age_seconds",
        "Age of the set's newest good backup (absent when there is none).",
        |backup, now| backup.newest_at.map(|newest| age(newest, now)),
    ),
    (
        "opsdeck_backup_stale",
        "1 when the set's newest good backup is older than its freshness rule allows.",
        |backup, _| Some(flag(backup.stale)),
    ),
    (
        "opsdeck_backup_files",
        "Backup files of the set on disk.",
        |backup, _| Some(backup.files as f64),
    ),
    (
        "opsdeck_backup_size_bytes",
        "Total size of the set's backup files.",
        |backup, _| Some(backup.total_bytes as f64),
    ),
    (
        "opsdeck_backup_corrupt_files",
        "Backup files of the set whose verification found them damaged.",
        |backup, _| Some(backup.corrupt as f64),
    ),
    (
        "opsdeck_backup_newest_verified",
        "1 when the set's newest backup, as it is now, was verified good.",
        |backup, _| Some(flag(backup.newest_verified)),
    ),
    (
        "opsdeck_backup_verification_age_seconds",
        "Time since any current file of the set was last verified.",
        |backup, now| backup.last_verified.map(|verified| age(verified, now)),
    ),
    (
        "opsdeck_backup_restore_test_age_seconds",
        "Time since the set's last restore test started.",
        |backup, now| backup.last_restore.map(|(started, _)| age(started, now)),
    ),
    (
        "opsdeck_backup_restore_test_success",
        "1 when the set's last restore test succeeded.",
        |backup, _| backup.last_restore.map(|(_, ok)| flag(ok)),
    ),
    (
        "opsdeck_backup_restore_test_overdue",
        "1 when the set's last good restore test is older than its max_age.",
        |backup, _| Some(flag(backup.restore_overdue)),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::services::CheckOutcome;

    #[test]
    fn service_names_are_escaped_and_ages_count_to_the_scrape() {
        let mut figures = Figures::new("here".into(), Vec::new());
        let checked_at = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        figures.observe(&Event::ServiceChecked {
            name: "api \"eu\"\\\nwest".into(),
            state: ServiceState::Up,
            level: Status::Ok,
            checked_at,
            outcome: CheckOutcome {
                ok: true,
                latency: Some(std::time::Duration::from_millis(250)),
                detail: "postgres://u:secret@db/app".into(),
                metrics: vec![(
                    "service.tls_days_left",
                    2.0,
                    crate::core::model::Unit::Count,
                )],
            },
        });
        let text = figures.render(checked_at + chrono::TimeDelta::hours(1));
        assert!(
            text.contains("opsdeck_service_up{service=\"api \\\"eu\\\"\\\\\\nwest\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("} 0.25\n"), "{text}");
        assert!(text.contains("} 169200\n"), "two days less an hour: {text}");
        assert!(!text.contains("secret"), "{text}");
    }

    /// On a shared store every host's exporter hears of every alert: each counts only its own
    /// host's, or the fleet view would sum the others' (and the fleet's) once per host.
    #[test]
    fn only_this_hosts_open_alerts_are_counted() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let alert = |id: &str, host: Option<&str>, level: Status| Alert {
            id: id.into(),
            key: format!("cpu.used_pct:{id}"),
            metric: "cpu.used_pct".into(),
            instance: Some(id.into()),
            host: host.map(Into::into),
            level,
            opened_at: at,
            resolved_at: None,
            peak: 95.0,
            threshold: 90.0,
            unit: crate::core::model::Unit::Percent,
        };
        let mut figures = Figures::new("web-1".into(), Vec::new());
        figures.observe(&Event::AlertsLoaded(vec![
            alert("mine", Some("web-1"), Status::Crit),
            alert("also-mine", Some("web-1"), Status::Warn),
            alert("theirs", Some("web-2"), Status::Crit),
            alert("fleet", None, Status::Crit),
        ]));
        let mut resolved = alert("also-mine", Some("web-1"), Status::Warn);
        resolved.resolved_at = Some(at);
        figures.observe(&Event::AlertChanged(resolved));
        let text = figures.render(at);
        assert!(
            text.contains("opsdeck_alerts_open{level=\"crit\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("opsdeck_alerts_open{level=\"warn\"} 0\n"),
            "{text}"
        );
    }
}
