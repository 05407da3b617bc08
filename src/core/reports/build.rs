//! Building a [`Report`]: each section read from the store for the period, the live parts taken
//! from what the caller read, the overall status the worst of them, and the figures compared
//! with the previous period (built from the store the same way).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::period::Period;
use super::{
    AlertLine, AlertsSection, BackupLine, CapacitySection, ChangeLine, ChangesSection,
    ChecklistLine, ChecklistNote, DEFAULT_SLO_PCT, DatabaseStatements, DayAvailability, DayCount,
    IncidentLine, LogSourceLine, LogsSection, Overall, PeriodInfo, ProjectionLine, Report,
    ReportError, ResourcesSection, RestoreLine, SCHEMA, ServiceAvailability, StatementLine,
    StatementsSection, TableLine, TaskRunLine, TaskRunsSection,
};
use crate::core::backups::VerifyResult;
use crate::core::backups::status::SetReport;
use crate::core::capacity::{self, Trend, job};
use crate::core::checklists::{Checklist, DueState, ItemStatus, Language, run, schedule};
use crate::core::checks::Rule;
use crate::core::logs::findings::LogsSnapshot;
use crate::core::model::{RunStatus, Status, Unit, series_key};
use crate::core::queries::QuerySnapshot;
use crate::core::store::Store;

/// How many statements each top list holds.
const TOP_STATEMENTS: usize = 10;
/// How many tables the table-health list holds.
const TOP_TABLES: usize = 10;
/// How many signatures per log source.
const TOP_SIGNATURES: usize = 5;

/// A service the report judges against its objective.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceTarget {
    pub name: String,
    /// Availability objective in percent ([`DEFAULT_SLO_PCT`] unless configured).
    pub slo_pct: f64,
    /// How often it is checked: a failed check counts as down until the next check, at most
    /// this long (a gap in the results is opsdeck not running, not the service being down).
    pub interval: Duration,
}

/// What the caller read live for the report; an empty [`Live`] leaves those sections with a
/// note saying why they are empty.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The watched databases' statements and table health; `None`: none configured.
    pub statements: Option<Vec<QuerySnapshot>>,
    /// The backup sets' inventories, for freshness.
    pub backups: Vec<SetReport>,
    /// The log sources read back over the period; `None`: none configured.
    pub logs: Option<LogsSnapshot>,
}

pub struct ReportInputs<'a> {
    pub host: String,
    pub services: Vec<ServiceTarget>,
    pub rules: &'a [Rule],
    pub checklists: &'a [Checklist],
    pub live: Live,
}

/// Builds the report of `period` as of `now`, days and checklist periods in `zone`.
pub async fn build<Tz: TimeZone>(
    store: &Store,
    inputs: &ReportInputs<'_>,
    period: &Period,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<Report, ReportError> {
    let previous = period.previous(zone);
    let current = stored_sections(store, inputs, period, now, zone).await?;
    let before = stored_sections(store, inputs, &previous, now, zone).await?;
    let statements = statements(store, period, &previous, inputs.live.statements.as_ref()).await?;
    let backups = backups(store, period, &inputs.live.backups).await?;
    let logs = logs(period, inputs.live.logs.as_ref());
    let changes = changes(&before, &current);
    let empty = current.is_empty()
        && backups.iter().all(|backup| {
            backup.verifications_ok + backup.verifications_failed == 0
                && backup
                    .last_restore_test
                    .as_ref()
                    .is_none_or(|test| test.at < period.start)
        });
    let mut report = Report {
        schema: SCHEMA,
        host: inputs.host.clone(),
        generated_at: now,
        period: PeriodInfo {
            kind: period.kind,
            label: period.label.clone(),
            start: period.start,
            end: period.end,
            previous_label: previous.label.clone(),
        },
        empty,
        overall: Overall {
            status: Status::Ok,
            reasons: Vec::new(),
        },
        resources: current.resources,
        services: current.services,
        alerts: current.alerts,
        incidents: current.incidents,
        statements,
        backups,
        checklists: current.checklists,
        task_runs: current.task_runs,
        capacity: capacity(store, period, now).await,
        logs,
        changes,
    };
    report.overall = overall(&report);
    Ok(report)
}

/// The sections read from the store alone, which the previous period has too.
struct Stored {
    resources: ResourcesSection,
    services: Vec<ServiceAvailability>,
    alerts: AlertsSection,
    incidents: Vec<IncidentLine>,
    checklists: Vec<ChecklistLine>,
    task_runs: TaskRunsSection,
}

impl Stored {
    fn is_empty(&self) -> bool {
        self.resources.metrics.is_empty()
            && self.services.iter().all(|service| service.checks == 0)
            && self.alerts.items.is_empty()
            && self.incidents.is_empty()
            && self.task_runs.runs.is_empty()
            && self
                .checklists
                .iter()
                .all(|line| line.done + line.skipped == 0 && line.notes.is_empty())
    }
}

async fn stored_sections<Tz: TimeZone>(
    store: &Store,
    inputs: &ReportInputs<'_>,
    period: &Period,
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<Stored, ReportError> {
    Ok(Stored {
        resources: super::resources::resources(store, period, inputs.rules, now).await?,
        services: services(store, period, &inputs.services).await?,
        alerts: alerts(store, &inputs.host, period).await?,
        incidents: incidents(store, period, now).await?,
        checklists: checklists(store, period, inputs.checklists, now, zone).await?,
        task_runs: task_runs(store, period, now).await?,
    })
}

/// Capacity projections: none are made yet. This is the seam the projections plug into.
/// The projections as of the period's end (or now, for the current period), from the same
/// history and code as the console's capacity job.
async fn capacity(store: &Store, period: &Period, now: DateTime<Utc>) -> CapacitySection {
    let as_of = period.end.min(now);
    let projected = job::run_once(store, as_of, capacity::Settings::default()).await;
    if let Some(error) = projected.error {
        return CapacitySection {
            note: Some(format!("no projections: {error}")),
            projections: Vec::new(),
        };
    }
    let projections: Vec<ProjectionLine> = projected
        .series
        .iter()
        .filter(|series| !matches!(series.projection.trend, Trend::Insufficient { .. }))
        .map(|series| {
            let projection = &series.projection;
            let unit = job::FAMILIES
                .iter()
                .find(|family| family.source == series.metric)
                .map_or(Unit::Count, |family| {
                    if family.capacity.is_some() {
                        Unit::Percent
                    } else {
                        family.outlook_unit
                    }
                });
            ProjectionLine {
                key: series_key(series.metric, series.instance.as_deref()),
                unit,
                growth_per_day: projection.fit.map(|fit| fit.slope.estimate),
                days_to_full: projection.days_to_full.map(|band| band.estimate),
                in_90_days: projection.at_horizon.map(|band| band.estimate),
                r_squared: projection.fit.map(|fit| fit.r_squared),
                saw_tooth: matches!(projection.trend, Trend::SawTooth { .. }),
            }
        })
        .collect();
    CapacitySection {
        note: projections
            .is_empty()
            .then(|| "no projections yet: a series needs at least 3 days of history".to_owned()),
        projections,
    }
}

async fn services(
    store: &Store,
    period: &Period,
    targets: &[ServiceTarget],
) -> Result<Vec<ServiceAvailability>, ReportError> {
    let mut results: BTreeMap<String, Vec<super::records::Checked>> = BTreeMap::new();
    for (service, checked) in store.service_results_in(period.start, period.end).await? {
        results.entry(service).or_default().push(checked);
    }
    let mut names: Vec<&str> = targets.iter().map(|target| target.name.as_str()).collect();
    names.extend(results.keys().map(String::as_str));
    names.sort_unstable();
    names.dedup();
    let empty = Vec::new();
    Ok(names
        .into_iter()
        .map(|name| {
            let target = targets.iter().find(|target| target.name == name);
            let slo_pct = target.map_or(DEFAULT_SLO_PCT, |target| target.slo_pct);
            // Results of a service no longer configured: its interval is unknown, so a failed
            // check counts as down until the next one, however late.
            let interval = target.map_or(Duration::MAX, |target| target.interval);
            let checks = results.get(name).unwrap_or(&empty);
            availability(name, slo_pct, interval, checks, period)
        })
        .collect())
}

fn availability(
    name: &str,
    slo_pct: f64,
    interval: Duration,
    checks: &[super::records::Checked],
    period: &Period,
) -> ServiceAvailability {
    let share = |checks: &[super::records::Checked]| {
        (!checks.is_empty()).then(|| {
            checks.iter().filter(|check| check.ok).count() as f64 * 100.0 / checks.len() as f64
        })
    };
    let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
    let mut downtime_ms = 0i64;
    for (index, check) in checks.iter().enumerate().filter(|(_, check)| !check.ok) {
        let next = checks.get(index + 1).map_or(period.end, |next| next.at);
        let until = next
            .min(period.end)
            .min(check.at.checked_add_signed(interval).unwrap_or(period.end));
        downtime_ms += (until - check.at).num_milliseconds().max(0);
    }
    let availability_pct = share(checks);
    let failed_checks = checks.iter().filter(|check| !check.ok).count() as u64;
    ServiceAvailability {
        name: name.to_owned(),
        slo_pct,
        availability_pct,
        checks: checks.len() as u64,
        failed_checks,
        downtime_minutes: downtime_ms as f64 / 60_000.0,
        slo_met: availability_pct.map(|pct| pct >= slo_pct),
        budget_minutes: period.minutes() * (100.0 - slo_pct) / 100.0,
        days: period
            .days
            .iter()
            .map(|day| {
                let of_day: Vec<_> = checks
                    .iter()
                    .filter(|check| check.at >= day.start && check.at < day.end)
                    .copied()
                    .collect();
                DayAvailability {
                    date: day.date,
                    availability_pct: share(&of_day),
                }
            })
            .collect(),
    }
}

fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 60_000.0
}

async fn alerts(store: &Store, host: &str, period: &Period) -> Result<AlertsSection, ReportError> {
    let alerts = store.alerts_in(host, period.start, period.end).await?;
    let items: Vec<AlertLine> = alerts
        .into_iter()
        .map(|alert| {
            let from = alert.opened_at.max(period.start);
            let to = alert.resolved_at.unwrap_or(period.end).min(period.end);
            AlertLine {
                minutes: minutes_between(from, to),
                id: alert.id,
                key: alert.key,
                level: alert.level,
                opened_at: alert.opened_at,
                resolved_at: alert.resolved_at,
                peak: alert.peak,
                threshold: alert.threshold,
                unit: alert.unit,
            }
        })
        .collect();
    let count = |level: Status| items.iter().filter(|alert| alert.level == level).count();
    Ok(AlertsSection {
        total: items.len(),
        crit: count(Status::Crit),
        warn: count(Status::Warn),
        open_at_end: items
            .iter()
            .filter(|alert| alert.resolved_at.is_none_or(|at| at >= period.end))
            .count(),
        per_day: period
            .days
            .iter()
            .map(|day| DayCount {
                date: day.date,
                count: items
                    .iter()
                    .filter(|alert| alert.opened_at >= day.start && alert.opened_at < day.end)
                    .count(),
            })
            .collect(),
        items,
    })
}

async fn incidents(
    store: &Store,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<Vec<IncidentLine>, ReportError> {
    let mut incidents: Vec<IncidentLine> = store
        .incidents()
        .await?
        .into_iter()
        .filter(|incident| {
            incident.detected.at < period.end
                && incident
                    .resolved
                    .as_ref()
                    .is_none_or(|resolved| resolved.at >= period.start)
        })
        .map(|incident| {
            let stopped = incident
                .acknowledged
                .as_ref()
                .or(incident.resolved.as_ref())
                .map_or(period.end.min(now), |stamp| stamp.at);
            IncidentLine {
                response_minutes: minutes_between(incident.detected.at, stopped),
                id: incident.id.clone(),
                title: incident.title.clone(),
                level: incident.level.as_str().to_owned(),
                stage: incident.stage().label(Language::En).to_owned(),
                affects: incident.affects.clone(),
                detected_at: incident.detected.at,
                acknowledged_at: incident.acknowledged.as_ref().map(|stamp| stamp.at),
                resolved_at: incident.resolved.as_ref().map(|stamp| stamp.at),
                commander: incident.commander.clone(),
                open_actions: incident
                    .actions
                    .iter()
                    .filter(|action| action.done.is_none())
                    .count(),
            }
        })
        .collect();
    incidents.sort_by(|a, b| (a.detected_at, &a.id).cmp(&(b.detected_at, &b.id)));
    Ok(incidents)
}

async fn checklists<Tz: TimeZone>(
    store: &Store,
    period: &Period,
    checklists: &[Checklist],
    now: DateTime<Utc>,
    zone: &Tz,
) -> Result<Vec<ChecklistLine>, ReportError> {
    let mut lines = Vec::new();
    for checklist in checklists {
        let mut at = period.start;
        while at < period.end && at <= now {
            let (_, run_end) = schedule::period_bounds(checklist.period, at, zone);
            let key = schedule::period_key(checklist.period, at, zone);
            let entries = store.checklist_entries(&checklist.id, &key).await?;
            let state = run::fold(checklist, &key, &entries);
            // A run is judged as it stood when its period ended (or now, for the current one).
            let judged_at = (run_end - chrono::Duration::milliseconds(1)).min(now);
            let due = schedule::due_state(checklist, Some(&state), judged_at, zone);
            let count = |wanted: fn(&ItemStatus) -> bool| {
                state
                    .items
                    .iter()
                    .filter(|item| wanted(&item.status))
                    .count()
            };
            let mut notes: Vec<ChecklistNote> = state
                .notes
                .iter()
                .map(|(by, at, text)| ChecklistNote {
                    item: None,
                    by: by.clone(),
                    at: *at,
                    text: text.clone(),
                })
                .collect();
            let mut skips = Vec::new();
            for item in &state.items {
                notes.extend(item.notes.iter().map(|(by, at, text)| ChecklistNote {
                    item: Some(item.item.clone()),
                    by: by.clone(),
                    at: *at,
                    text: text.clone(),
                }));
                if let ItemStatus::Skipped { by, at, reason } = &item.status {
                    skips.push(ChecklistNote {
                        item: Some(item.item.clone()),
                        by: by.clone(),
                        at: *at,
                        text: reason.clone(),
                    });
                }
            }
            notes.sort_by_key(|note| note.at);
            lines.push(ChecklistLine {
                checklist: checklist.id.clone(),
                run: key,
                state: due_name(due).to_owned(),
                done: count(|status| matches!(status, ItemStatus::Done { .. })),
                skipped: count(|status| matches!(status, ItemStatus::Skipped { .. })),
                open: count(|status| matches!(status, ItemStatus::Open)),
                signed_off_by: state.signed_off.as_ref().map(|(by, _)| by.clone()),
                skips,
                notes,
            });
            if run_end <= at {
                break;
            }
            at = run_end;
        }
    }
    Ok(lines)
}

fn due_name(due: DueState) -> &'static str {
    match due {
        DueState::Upcoming => "upcoming",
        DueState::Due => "due",
        DueState::InProgress => "in_progress",
        DueState::Done => "done",
        DueState::Overdue => "overdue",
    }
}

async fn task_runs(
    store: &Store,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<TaskRunsSection, ReportError> {
    let runs: Vec<TaskRunLine> = store
        .runs_in(period.start, period.end)
        .await?
        .into_iter()
        .map(|run| TaskRunLine {
            seconds: run
                .ended_at
                .map(|_| run.duration(now).num_milliseconds() as f64 / 1000.0),
            id: run.id,
            task: run.task_id,
            user: run.user,
            host: run.host,
            started_at: run.started_at,
            status: run.status.as_str().to_owned(),
            summary: run.summary,
        })
        .collect();
    let failed = runs
        .iter()
        .filter(|run| {
            RunStatus::parse(&run.status).is_some_and(|status| status.health() == Status::Crit)
        })
        .count();
    Ok(TaskRunsSection {
        total: runs.len(),
        failed,
        runs,
    })
}

fn statement_line(row: &crate::core::queries::StatementRow) -> StatementLine {
    StatementLine {
        queryid: row.queryid,
        user: row.user.clone(),
        query: row.query.clone(),
        calls: row.calls,
        mean_ms: row.mean_ms,
        total_ms: row.total_ms,
    }
}

/// Slow statements and table health from the live snapshots; what this report saw is kept so
/// the next report can tell which statements are new.
async fn statements(
    store: &Store,
    period: &Period,
    previous: &Period,
    snapshots: Option<&Vec<QuerySnapshot>>,
) -> Result<StatementsSection, ReportError> {
    let Some(snapshots) = snapshots.filter(|snapshots| !snapshots.is_empty()) else {
        return Ok(StatementsSection {
            note: Some("no databases are watched ([[database]] in the config)".to_owned()),
            databases: Vec::new(),
        });
    };
    let kind = period.kind.as_str();
    let mut databases = Vec::new();
    for snapshot in snapshots {
        let mut rows: Vec<StatementLine> = match &snapshot.statements {
            crate::core::queries::StatementsView::Rows { rows } => {
                rows.iter().map(statement_line).collect()
            }
            _ => Vec::new(),
        };
        rows.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
        let top_by_mean: Vec<StatementLine> = rows.iter().take(TOP_STATEMENTS).cloned().collect();
        rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        let top_by_total: Vec<StatementLine> = rows.iter().take(TOP_STATEMENTS).cloned().collect();
        let seen = store
            .statement_snapshot(&snapshot.database, kind, &previous.label)
            .await?;
        let new_since_previous = seen.map(|seen| {
            rows.iter()
                .filter(|row| {
                    !seen
                        .iter()
                        .any(|old| old.queryid == row.queryid && old.user == row.user)
                })
                .take(TOP_STATEMENTS)
                .cloned()
                .collect()
        });
        if snapshot.error.is_none() {
            store
                .save_statement_snapshot(
                    &snapshot.database,
                    kind,
                    &period.label,
                    &rows,
                    snapshot.taken_at,
                )
                .await?;
        }
        let health = snapshot.health.as_ref().ok();
        databases.push(DatabaseStatements {
            database: snapshot.database.clone(),
            error: snapshot.error.clone(),
            top_by_mean,
            top_by_total,
            new_since_previous,
            database_bytes: health.map(|health| health.database_bytes),
            tables: health.map_or_else(Vec::new, |health| {
                health
                    .largest_tables
                    .iter()
                    .take(TOP_TABLES)
                    .map(|table| {
                        let tuples = table.live_tuples + table.dead_tuples;
                        TableLine {
                            name: table.name.clone(),
                            total_bytes: table.total_bytes,
                            dead_pct: if tuples > 0 {
                                table.dead_tuples as f64 * 100.0 / tuples as f64
                            } else {
                                0.0
                            },
                            last_vacuum: table.last_vacuum.max(table.last_autovacuum),
                        }
                    })
                    .collect()
            }),
            unused_indexes: health.map_or_else(Vec::new, |health| {
                health
                    .unused_indexes
                    .iter()
                    .map(|index| index.name.clone())
                    .collect()
            }),
        });
    }
    Ok(StatementsSection {
        note: None,
        databases,
    })
}

async fn backups(
    store: &Store,
    period: &Period,
    live: &[SetReport],
) -> Result<Vec<BackupLine>, ReportError> {
    let mut names: Vec<String> = live.iter().map(|report| report.set.clone()).collect();
    names.extend(store.backup_set_names().await?);
    names.sort();
    names.dedup();
    let verifications = store.verifications_in(period.start, period.end).await?;
    let mut lines = Vec::new();
    for name in names {
        let of_set: Vec<_> = verifications.iter().filter(|v| v.set == name).collect();
        let inventory = live.iter().find(|report| report.set == name);
        let restore = store.restore_test_before(&name, period.end).await?;
        lines.push(BackupLine {
            newest_age_s: inventory.and_then(|report| report.newest_age),
            stale: inventory.map(|report| report.stale),
            verifications_ok: of_set
                .iter()
                .filter(|v| v.result == VerifyResult::Ok)
                .count(),
            verifications_failed: of_set
                .iter()
                .filter(|v| matches!(v.result, VerifyResult::Corrupt | VerifyResult::Error))
                .count(),
            last_verified_at: of_set.last().map(|v| v.at),
            last_restore_test: restore.map(|(at, ok, message)| RestoreLine { at, ok, message }),
            set: name,
        });
    }
    Ok(lines)
}

/// Log findings from the sources read back over the period. Per-minute counts are kept for the
/// last 24 hours only, so a longer period's counts cover that much and say so.
fn logs(period: &Period, snapshot: Option<&LogsSnapshot>) -> LogsSection {
    let Some(snapshot) = snapshot else {
        return LogsSection {
            note: Some("no log sources are configured ([[log]] in the config)".to_owned()),
            sources: Vec::new(),
        };
    };
    let covered_from = snapshot
        .sources
        .iter()
        .filter_map(|source| source.minutes.first().map(|minute| minute.minute))
        .min();
    let note = covered_from
        .filter(|from| *from > period.start)
        .map(|from| {
            format!(
                "line counts cover {} onwards (opsdeck keeps 24 hours of per-minute counts)",
                from.format("%Y-%m-%d %H:%M UTC")
            )
        });
    let sources = snapshot
        .sources
        .iter()
        .map(|source| {
            let in_period = source
                .minutes
                .iter()
                .filter(|minute| minute.minute >= period.start && minute.minute < period.end);
            let (lines, errors, warnings) = in_period.fold((0, 0, 0), |sum, minute| {
                (
                    sum.0 + minute.lines,
                    sum.1 + minute.errors,
                    sum.2 + minute.warnings,
                )
            });
            let seen_in = |first: DateTime<Utc>, last: DateTime<Utc>| {
                first < period.end && last >= period.start
            };
            LogSourceLine {
                source: source.name.clone(),
                error: source.error.clone(),
                lines,
                errors,
                warnings,
                failed_logins: source.logins.as_ref().map(|logins| logins.failed),
                server_error_pct: source
                    .access
                    .as_ref()
                    .and_then(|access| access.server_error_pct),
                new_signatures: source
                    .signatures
                    .iter()
                    .filter(|signature| {
                        signature.is_new
                            && signature.first_seen >= period.start
                            && signature.first_seen < period.end
                    })
                    .map(|signature| signature.template.clone())
                    .collect(),
                top_signatures: source
                    .signatures
                    .iter()
                    .filter(|signature| seen_in(signature.first_seen, signature.last_seen))
                    .take(TOP_SIGNATURES)
                    .map(|signature| (signature.template.clone(), signature.total))
                    .collect(),
            }
        })
        .collect();
    LogsSection { note, sources }
}

/// A figure of both periods; `higher_is_worse` tells which way is worse.
fn change(
    what: String,
    previous: Option<f64>,
    current: Option<f64>,
    higher_is_worse: bool,
) -> ChangeLine {
    let direction = match (previous, current) {
        (Some(before), Some(now)) if (now - before).abs() < 1e-9 => "same",
        (Some(before), Some(now)) if (now > before) == higher_is_worse => "worse",
        (Some(_), Some(_)) => "better",
        _ => "new",
    };
    ChangeLine {
        what,
        previous,
        current,
        direction,
    }
}

fn changes(before: &Stored, now: &Stored) -> ChangesSection {
    let mut items = vec![
        change(
            "alerts".into(),
            Some(before.alerts.total as f64),
            Some(now.alerts.total as f64),
            true,
        ),
        change(
            "critical alerts".into(),
            Some(before.alerts.crit as f64),
            Some(now.alerts.crit as f64),
            true,
        ),
        change(
            "incidents".into(),
            Some(before.incidents.len() as f64),
            Some(now.incidents.len() as f64),
            true,
        ),
        change(
            "task runs failed".into(),
            Some(before.task_runs.failed as f64),
            Some(now.task_runs.failed as f64),
            true,
        ),
    ];
    for service in &now.services {
        let previous = before
            .services
            .iter()
            .find(|old| old.name == service.name)
            .and_then(|old| old.availability_pct);
        if previous.is_none() && service.availability_pct.is_none() {
            continue;
        }
        items.push(change(
            format!("{} availability %", service.name),
            previous,
            service.availability_pct,
            false,
        ));
        items.push(change(
            format!("{} downtime minutes", service.name),
            before
                .services
                .iter()
                .find(|old| old.name == service.name)
                .map(|old| old.downtime_minutes),
            Some(service.downtime_minutes),
            true,
        ));
    }
    for metric in &now.resources.metrics {
        let previous = before
            .resources
            .metrics
            .iter()
            .find(|old| old.key == metric.key)
            .map(|old| old.mean);
        items.push(change(
            format!("{} mean", metric.key),
            previous,
            Some(metric.mean),
            true,
        ));
    }
    ChangesSection {
        previous_empty: before.is_empty(),
        items,
    }
}

/// The worst of the sections, with a line for each thing that made it so.
/// The worst of the sections, one reason per thing not ok. A report of a period with nothing
/// recorded judges nothing: its status is unknown, for the one reason that nothing was recorded
/// (what else it would find, such as every checklist overdue, follows from that alone).
fn overall(report: &Report) -> Overall {
    if report.empty {
        return Overall {
            status: Status::Unknown,
            reasons: vec![format!(
                "nothing was recorded for {} in this state store",
                report.period.label
            )],
        };
    }
    let mut status = Status::Ok;
    let mut reasons = Vec::new();
    let mut raise = |level: Status, reason: String| {
        status = status.max(level);
        reasons.push(reason);
    };
    for service in &report.services {
        if let (Some(false), Some(pct)) = (service.slo_met, service.availability_pct) {
            raise(
                Status::Crit,
                format!(
                    "{} was available {:.3} %, below its objective of {} %",
                    service.name, pct, service.slo_pct
                ),
            );
        }
    }
    if report.alerts.crit > 0 {
        raise(
            Status::Crit,
            format!("{} critical alert(s)", report.alerts.crit),
        );
    } else if report.alerts.warn > 0 {
        raise(
            Status::Warn,
            format!("{} warning alert(s)", report.alerts.warn),
        );
    }
    if !report.incidents.is_empty() {
        raise(
            Status::Warn,
            format!("{} incident(s)", report.incidents.len()),
        );
    }
    if report.task_runs.failed > 0 {
        raise(
            Status::Warn,
            format!("{} task run(s) failed", report.task_runs.failed),
        );
    }
    for backup in &report.backups {
        if backup.stale == Some(true) {
            raise(Status::Crit, format!("backup set {} is stale", backup.set));
        }
        if backup.verifications_failed > 0 {
            raise(
                Status::Crit,
                format!(
                    "backup set {}: {} verification(s) failed",
                    backup.set, backup.verifications_failed
                ),
            );
        }
    }
    let overdue = report
        .checklists
        .iter()
        .filter(|line| line.state == "overdue")
        .count();
    if overdue > 0 {
        raise(Status::Warn, format!("{overdue} checklist run(s) overdue"));
    }
    Overall { status, reasons }
}
