//! The report as text: [`sections`] lays it out once as titled notes and tables (shared with the
//! HTML renderer), and [`render`] writes them as Markdown.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::Report;
use crate::core::checks::rules::format_value;
use crate::core::model::Unit;
use crate::core::text::printable;

/// How much of a statement's text a table shows.
const QUERY_CHARS: usize = 80;

/// One section of the report as text: a title, lines, and tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// A stable name (`services`, `alerts`, …): the HTML anchors and charts use it.
    pub id: &'static str,
    pub title: &'static str,
    pub lines: Vec<String>,
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub caption: Option<String>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

fn maybe_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), time)
}

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.3} %"))
}

fn minutes(value: f64) -> String {
    format!("{value:.1}")
}

fn cut(text: &str, chars: usize) -> String {
    let shown = printable(text);
    match shown.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &shown[..at]),
        None => shown,
    }
}

fn section(id: &'static str, title: &'static str) -> Section {
    Section {
        id,
        title,
        lines: Vec::new(),
        tables: Vec::new(),
    }
}

fn table(headers: Vec<&'static str>, rows: Vec<Vec<String>>) -> Table {
    Table {
        caption: None,
        headers,
        rows,
    }
}

/// The report laid out as sections, in the order they are read.
pub fn sections(report: &Report) -> Vec<Section> {
    let mut all = Vec::new();

    let mut overall = section("overall", "Overall status");
    overall
        .lines
        .push(format!("Status: {}", report.overall.status.label()));
    if report.empty {
        // The one reason, said in full.
        overall.lines.push(format!(
            "Nothing was recorded for {}: no alerts, service results, incidents, checklist entries, task runs or backup records. Is opsdeck running with this state store?",
            report.period.label
        ));
    } else {
        overall.lines.extend(
            report
                .overall
                .reasons
                .iter()
                .map(|reason| format!("- {reason}")),
        );
    }
    all.push(overall);

    let mut resources = section("resources", "Resources");
    resources.lines.extend(report.resources.note.clone());
    for metric in &report.resources.metrics {
        let above: Vec<String> = metric
            .above
            .iter()
            .map(|above| {
                format!(
                    "{} {} {}: {} min",
                    above.level.as_str(),
                    above.operator,
                    format_value(above.threshold, metric.unit),
                    minutes(above.minutes)
                )
            })
            .collect();
        resources.lines.push(format!(
            "- {}: mean {}, peak {}{}",
            printable(&metric.key),
            format_value(metric.mean, metric.unit),
            format_value(metric.peak, metric.unit),
            if above.is_empty() {
                String::new()
            } else {
                format!("; beyond thresholds: {}", above.join(", "))
            }
        ));
    }
    if !report.resources.metrics.is_empty() {
        let headers = vec!["day", "series", "mean", "peak"];
        let rows = report
            .resources
            .metrics
            .iter()
            .flat_map(|metric| {
                metric.days.iter().map(move |day| {
                    vec![
                        day.date.to_string(),
                        printable(&metric.key),
                        format_value(day.mean, metric.unit),
                        format_value(day.peak, metric.unit),
                    ]
                })
            })
            .collect();
        resources.tables.push(table(headers, rows));
    }
    all.push(resources);

    let mut services = section("services", "Services");
    if report.services.is_empty() {
        services
            .lines
            .push("No services are configured or recorded.".to_owned());
    } else {
        services.tables.push(table(
            vec![
                "service",
                "availability",
                "objective",
                "met",
                "downtime min",
                "budget min",
                "checks",
                "failed",
            ],
            report
                .services
                .iter()
                .map(|service| {
                    vec![
                        printable(&service.name),
                        pct(service.availability_pct),
                        format!("{} %", service.slo_pct),
                        match service.slo_met {
                            Some(true) => "yes".to_owned(),
                            Some(false) => "NO".to_owned(),
                            None => "not checked".to_owned(),
                        },
                        minutes(service.downtime_minutes),
                        minutes(service.budget_minutes),
                        service.checks.to_string(),
                        service.failed_checks.to_string(),
                    ]
                })
                .collect(),
        ));
    }
    all.push(services);

    let mut alerts = section("alerts", "Alerts");
    alerts.lines.push(format!(
        "{} alert(s): {} critical, {} warning; {} still open at the end of the period.",
        report.alerts.total, report.alerts.crit, report.alerts.warn, report.alerts.open_at_end
    ));
    if !report.alerts.items.is_empty() {
        alerts.tables.push(table(
            vec![
                "opened",
                "resolved",
                "level",
                "series",
                "peak",
                "threshold",
                "minutes",
            ],
            report
                .alerts
                .items
                .iter()
                .map(|alert| {
                    vec![
                        time(alert.opened_at),
                        maybe_time(alert.resolved_at),
                        alert.level.label().to_owned(),
                        printable(&alert.key),
                        format_value(alert.peak, alert.unit),
                        format_value(alert.threshold, alert.unit),
                        minutes(alert.minutes),
                    ]
                })
                .collect(),
        ));
    }
    all.push(alerts);

    let mut incidents = section("incidents", "Incidents");
    if report.incidents.is_empty() {
        incidents.lines.push("No incidents.".to_owned());
    } else {
        incidents.tables.push(table(
            vec![
                "id",
                "level",
                "title",
                "stage",
                "detected",
                "response min",
                "resolved",
                "commander",
                "open actions",
            ],
            report
                .incidents
                .iter()
                .map(|incident| {
                    vec![
                        printable(&incident.id),
                        incident.level.clone(),
                        printable(&incident.title),
                        incident.stage.clone(),
                        time(incident.detected_at),
                        minutes(incident.response_minutes),
                        maybe_time(incident.resolved_at),
                        incident
                            .commander
                            .as_deref()
                            .map_or_else(|| "-".to_owned(), printable),
                        incident.open_actions.to_string(),
                    ]
                })
                .collect(),
        ));
    }
    all.push(incidents);

    let mut statements = section("statements", "Slow statements and table health");
    statements.lines.extend(report.statements.note.clone());
    for database in &report.statements.databases {
        if let Some(error) = &database.error {
            statements.lines.push(format!(
                "{}: {}",
                printable(&database.database),
                printable(error)
            ));
        }
        if let Some(bytes) = database.database_bytes {
            statements.lines.push(format!(
                "{}: {}",
                printable(&database.database),
                format_value(bytes as f64, Unit::Bytes)
            ));
        }
        let statement_rows = |lines: &[super::StatementLine]| -> Vec<Vec<String>> {
            lines
                .iter()
                .map(|line| {
                    vec![
                        format!("{:.1}", line.mean_ms),
                        format!("{:.0}", line.total_ms),
                        line.calls.to_string(),
                        printable(&line.user),
                        cut(&line.query, QUERY_CHARS),
                    ]
                })
                .collect()
        };
        let headers = || vec!["mean ms", "total ms", "calls", "user", "statement"];
        let mut by_mean = table(headers(), statement_rows(&database.top_by_mean));
        by_mean.caption = Some(format!(
            "{}: top by mean time",
            printable(&database.database)
        ));
        let mut by_total = table(headers(), statement_rows(&database.top_by_total));
        by_total.caption = Some(format!(
            "{}: top by total time",
            printable(&database.database)
        ));
        statements.tables.extend([by_mean, by_total]);
        match &database.new_since_previous {
            Some(new) => {
                let mut fresh = table(headers(), statement_rows(new));
                fresh.caption = Some(format!(
                    "{}: new since {}",
                    printable(&database.database),
                    report.period.previous_label
                ));
                statements.tables.push(fresh);
            }
            None => statements.lines.push(format!(
                "{}: no snapshot was kept with a report of {}, so new statements cannot be told.",
                printable(&database.database),
                report.period.previous_label
            )),
        }
        let mut tables = table(
            vec!["table", "size", "dead tuples", "last vacuum"],
            database
                .tables
                .iter()
                .map(|line| {
                    vec![
                        printable(&line.name),
                        format_value(line.total_bytes as f64, Unit::Bytes),
                        format!("{:.1} %", line.dead_pct),
                        maybe_time(line.last_vacuum),
                    ]
                })
                .collect(),
        );
        tables.caption = Some(format!("{}: largest tables", printable(&database.database)));
        statements.tables.push(tables);
        if !database.unused_indexes.is_empty() {
            statements.lines.push(format!(
                "{}: never-scanned indexes: {}",
                printable(&database.database),
                database
                    .unused_indexes
                    .iter()
                    .map(|name| printable(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    all.push(statements);

    let mut backups = section("backups", "Backups");
    if report.backups.is_empty() {
        backups
            .lines
            .push("No backup sets are configured or recorded.".to_owned());
    } else {
        backups.tables.push(table(
            vec![
                "set",
                "newest backup age",
                "verified ok",
                "failed",
                "last verified",
                "last restore test",
            ],
            report
                .backups
                .iter()
                .map(|backup| {
                    vec![
                        printable(&backup.set),
                        match (backup.newest_age_s, backup.stale) {
                            (Some(age), Some(true)) => {
                                format!("{} (stale)", crate::core::text::duration(age))
                            }
                            (Some(age), _) => crate::core::text::duration(age),
                            (None, _) => "-".to_owned(),
                        },
                        backup.verifications_ok.to_string(),
                        backup.verifications_failed.to_string(),
                        maybe_time(backup.last_verified_at),
                        backup.last_restore_test.as_ref().map_or_else(
                            || "never".to_owned(),
                            |test| {
                                format!(
                                    "{} {}",
                                    time(test.at),
                                    if test.ok { "ok" } else { "FAILED" }
                                )
                            },
                        ),
                    ]
                })
                .collect(),
        ));
    }
    all.push(backups);

    let mut checklists = section("checklists", "Checklists");
    if report.checklists.is_empty() {
        checklists.lines.push("No checklists.".to_owned());
    } else {
        checklists.tables.push(table(
            vec![
                "checklist",
                "run",
                "state",
                "done",
                "skipped",
                "open",
                "signed off by",
            ],
            report
                .checklists
                .iter()
                .map(|line| {
                    vec![
                        printable(&line.checklist),
                        line.run.clone(),
                        line.state.replace('_', " "),
                        line.done.to_string(),
                        line.skipped.to_string(),
                        line.open.to_string(),
                        line.signed_off_by
                            .as_deref()
                            .map_or_else(|| "-".to_owned(), printable),
                    ]
                })
                .collect(),
        ));
        for line in &report.checklists {
            for skip in &line.skips {
                checklists.lines.push(format!(
                    "- {} {}: skipped {} by {}: {}",
                    printable(&line.checklist),
                    line.run,
                    printable(skip.item.as_deref().unwrap_or("-")),
                    printable(&skip.by),
                    printable(&skip.text)
                ));
            }
            for note in &line.notes {
                checklists.lines.push(format!(
                    "- {} {}: note{} by {} at {}: {}",
                    printable(&line.checklist),
                    line.run,
                    note.item
                        .as_deref()
                        .map(|item| format!(" on {}", printable(item)))
                        .unwrap_or_default(),
                    printable(&note.by),
                    time(note.at),
                    printable(&note.text)
                ));
            }
        }
    }
    all.push(checklists);

    let mut runs = section("task_runs", "Task runs");
    runs.lines.push(format!(
        "{} run(s), {} failed.",
        report.task_runs.total, report.task_runs.failed
    ));
    if !report.task_runs.runs.is_empty() {
        runs.tables.push(table(
            vec![
                "started", "task", "who", "host", "status", "seconds", "summary",
            ],
            report
                .task_runs
                .runs
                .iter()
                .map(|run| {
                    vec![
                        time(run.started_at),
                        printable(&run.task),
                        printable(&run.user),
                        printable(&run.host),
                        run.status.clone(),
                        run.seconds
                            .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}")),
                        run.summary
                            .as_deref()
                            .map_or_else(|| "-".to_owned(), |s| cut(s, QUERY_CHARS)),
                    ]
                })
                .collect(),
        ));
    }
    all.push(runs);

    let mut capacity = section("capacity", "Capacity projections");
    capacity.lines.extend(report.capacity.note.clone());
    if !report.capacity.projections.is_empty() {
        capacity.tables.push(table(
            vec![
                "series",
                "growth per day",
                "days to full",
                "in 90 days",
                "R²",
            ],
            report
                .capacity
                .projections
                .iter()
                .map(|line| {
                    let value = |value: Option<f64>| {
                        value.map_or_else(|| "-".to_owned(), |value| format_value(value, line.unit))
                    };
                    vec![
                        printable(&line.key),
                        if line.saw_tooth {
                            "saw-tooth, not projected".to_owned()
                        } else {
                            value(line.growth_per_day)
                        },
                        line.days_to_full
                            .map_or_else(|| "-".to_owned(), |days| format!("{days:.0}")),
                        value(line.in_90_days),
                        line.r_squared
                            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
                    ]
                })
                .collect(),
        ));
    }
    all.push(capacity);

    let mut logs = section("logs", "Log findings");
    logs.lines.extend(report.logs.note.clone());
    if !report.logs.sources.is_empty() {
        logs.tables.push(table(
            vec![
                "source",
                "lines",
                "errors",
                "warnings",
                "failed logins",
                "5xx",
                "new signatures",
            ],
            report
                .logs
                .sources
                .iter()
                .map(|source| {
                    vec![
                        printable(&source.source),
                        source.lines.to_string(),
                        source.errors.to_string(),
                        source.warnings.to_string(),
                        source
                            .failed_logins
                            .map_or_else(|| "-".to_owned(), |n| n.to_string()),
                        source
                            .server_error_pct
                            .map_or_else(|| "-".to_owned(), |pct| format!("{pct:.2} %")),
                        source.new_signatures.len().to_string(),
                    ]
                })
                .collect(),
        ));
        for source in &report.logs.sources {
            if let Some(error) = &source.error {
                logs.lines.push(format!(
                    "- {}: {}",
                    printable(&source.source),
                    printable(error)
                ));
            }
            for signature in &source.new_signatures {
                logs.lines.push(format!(
                    "- {}: new signature: {}",
                    printable(&source.source),
                    cut(signature, QUERY_CHARS)
                ));
            }
        }
    }
    all.push(logs);

    let mut changes = section("changes", "Changed since the previous period");
    if report.changes.previous_empty {
        changes.lines.push(format!(
            "Nothing was recorded for {}, so every figure is new.",
            report.period.previous_label
        ));
    }
    changes.tables.push(table(
        vec!["figure", "previous period", "this period", "change"],
        report
            .changes
            .items
            .iter()
            .map(|line| {
                let figure = |value: Option<f64>| {
                    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.2}"))
                };
                vec![
                    printable(&line.what),
                    figure(line.previous),
                    figure(line.current),
                    line.direction.to_owned(),
                ]
            })
            .collect(),
    ));
    all.push(changes);
    all
}

/// The title line of the report.
pub fn title(report: &Report) -> String {
    format!(
        "{} {} for {}",
        report.period.kind.title(),
        report.period.label,
        printable(&report.host)
    )
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", title(report));
    let _ = writeln!(
        out,
        "{} to {} (generated {}, schema {})\n",
        time(report.period.start),
        time(report.period.end),
        time(report.generated_at),
        report.schema
    );
    for section in sections(report) {
        let _ = writeln!(out, "## {}\n", section.title);
        for line in &section.lines {
            let _ = writeln!(out, "{line}");
        }
        if !section.lines.is_empty() {
            out.push('\n');
        }
        for table in &section.tables {
            if let Some(caption) = &table.caption {
                let _ = writeln!(out, "**{caption}**\n");
            }
            if table.rows.is_empty() {
                out.push_str("(none)\n\n");
                continue;
            }
            let _ = writeln!(out, "| {} |", table.headers.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(table.headers.len()));
            for row in &table.rows {
                let cells: Vec<String> = row.iter().map(|cell| escape_cell(cell)).collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            out.push('\n');
        }
    }
    out
}
