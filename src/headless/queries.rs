//! `opsdeck queries`: one refresh of each watched database, as text or JSON.

use std::fmt::Write as _;

use crate::core::checks::rules::format_bytes;
use crate::core::queries::collector::QueryCollector;
use crate::core::queries::{QuerySettings, QuerySnapshot, StatementsView};
use crate::core::text::printable;

/// Collects every database (one after another: each query has its own statement timeout).
pub async fn collect(
    databases: &[(String, String)],
    settings: &QuerySettings,
) -> Vec<QuerySnapshot> {
    let mut snapshots = Vec::new();
    for (name, url) in databases {
        let mut collector = QueryCollector::new(name.clone(), url.clone(), settings.clone());
        snapshots.push(collector.collect().await);
    }
    snapshots
}

/// Drops statements faster than `min_mean_ms` on average.
pub fn keep_slower_than(snapshots: &mut [QuerySnapshot], min_mean_ms: f64) {
    for snapshot in snapshots {
        if let StatementsView::Rows { rows } = &mut snapshot.statements {
            rows.retain(|row| row.mean_ms >= min_mean_ms);
        }
    }
}

pub fn to_text(snapshots: &[QuerySnapshot]) -> String {
    let mut out = String::new();
    for snapshot in snapshots {
        let _ = writeln!(
            out,
            "== {} ({}, {} ms)",
            snapshot.database,
            snapshot
                .server_version
                .as_deref()
                .unwrap_or("version unknown"),
            snapshot.took.as_millis()
        );
        if let Some(error) = &snapshot.error {
            let _ = writeln!(out, "error: {}", printable(error));
            continue;
        }
        match &snapshot.statements {
            StatementsView::Rows { rows } => {
                let _ = writeln!(
                    out,
                    "{:>8} {:>10} {:>10} {:>10} {:>8}  {:<12} QUERY",
                    "CALLS", "MEAN ms", "MAX ms", "TOTAL ms", "ROWS", "USER"
                );
                for row in rows {
                    let query: String =
                        printable(&row.query.split_whitespace().collect::<Vec<_>>().join(" "));
                    let _ = writeln!(
                        out,
                        "{:>8} {:>10.1} {:>10.1} {:>10.0} {:>8}  {:<12} {}{}{}",
                        row.calls,
                        row.mean_ms,
                        row.max_ms,
                        row.total_ms,
                        row.rows,
                        printable(&row.user),
                        if row.slow { "SLOW " } else { "" },
                        if row.toplevel == Some(false) {
                            "(nested) "
                        } else {
                            ""
                        },
                        query
                    );
                }
            }
            StatementsView::Unavailable { guidance } => {
                let _ = writeln!(out, "statements unavailable:\n{guidance}");
            }
            StatementsView::Failed { error } => {
                let _ = writeln!(out, "statements: {}", printable(error));
            }
        }
        match &snapshot.sessions {
            Ok(sessions) => {
                let _ = writeln!(out, "sessions needing attention: {}", sessions.len());
                for session in sessions {
                    let _ = writeln!(
                        out,
                        "  {}pid {} {} {} {}{}{}{} {}",
                        "  ".repeat(session.depth),
                        session.pid,
                        printable(&session.user),
                        session.state,
                        session
                            .age_in_state()
                            .map_or_else(String::new, |s| format!("{s:.0}s ")),
                        if session.blocking {
                            format!("BLOCKING {} ", session.waiting_on_it)
                        } else {
                            String::new()
                        },
                        if session.blocked_by.is_empty() {
                            String::new()
                        } else {
                            format!("blocked by {:?} ", session.blocked_by)
                        },
                        if session.opsdeck_task {
                            "[opsdeck task] "
                        } else {
                            ""
                        },
                        printable(
                            &session
                                .query
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    );
                }
            }
            Err(error) => {
                let _ = writeln!(out, "sessions: {}", printable(error));
            }
        }
        match &snapshot.health {
            Ok(health) => {
                let _ = writeln!(
                    out,
                    "database size {}",
                    format_bytes(health.database_bytes as f64)
                );
                for table in &health.largest_tables {
                    let _ = writeln!(
                        out,
                        "  table {} {} dead {}",
                        printable(&table.name),
                        format_bytes(table.total_bytes as f64),
                        table.dead_tuples
                    );
                }
                for index in &health.unused_indexes {
                    let _ = writeln!(
                        out,
                        "  unused index {} {}",
                        printable(&index.name),
                        format_bytes(index.bytes as f64)
                    );
                }
            }
            Err(error) => {
                let _ = writeln!(out, "health: {}", printable(error));
            }
        }
    }
    out
}
