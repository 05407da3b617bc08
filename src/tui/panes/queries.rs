//! The queries pane: for the selected database, the slowest statements (with what changed since
//! the last refresh), the sessions hurting it now (long-running, idle in transaction, waiting
//! and their blockers), and table health. Query texts are shown escaped.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::core::checks::rules::format_bytes;
use crate::core::model::Status;
use crate::core::queries::{QuerySnapshot, StatementsView};
use crate::tui::app::{AppState, Pane, QueryView};
use crate::tui::layout::Look;
use crate::tui::panes::pane_block;
use crate::tui::strings::{self, printable};

/// A failed part of the refresh: a blank heading line, then the error.
fn failure_lines(error: &str, look: &Look) -> Vec<Line<'static>> {
    vec![
        Line::raw(""),
        Line::styled(printable(error), look.palette.status(Status::Crit)),
    ]
}

/// Figures on the left, the query (on one line, escaped) in the width that is left.
fn query_row(
    lead: String,
    style: ratatui::style::Style,
    query: &str,
    width: usize,
    look: &Look,
) -> Line<'static> {
    let query_width = width.saturating_sub(strings::width(&lead));
    Line::from(vec![
        Span::styled(lead, style),
        Span::styled(
            strings::fit(&one_line(query), query_width),
            look.palette.get(Slot::Text),
        ),
    ])
}

/// Counts in at most seven columns: `1234567`, then `12.3M`, `4.56G`.
fn compact_count(count: i64) -> String {
    if count < 10_000_000 {
        count.to_string()
    } else if count < 1_000_000_000 {
        format!("{:.1}M", count as f64 / 1e6)
    } else {
        format!("{:.2}G", count as f64 / 1e9)
    }
}

fn one_line(text: &str) -> String {
    printable(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub fn render(state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let mut title = vec![Span::styled("Queries", palette.get(Slot::Title))];
    let database = state.current_database();
    if let Some(database) = database {
        title.push(Span::styled(
            format!(
                " · {} ({}/{})",
                printable(&database.name),
                state.database_selected + 1,
                state.databases.len()
            ),
            palette.get(Slot::Text),
        ));
        if let Some(snapshot) = &database.snapshot {
            let age = state.now - snapshot.taken_at;
            let limit = chrono::TimeDelta::from_std(state.queries_interval * 3)
                .unwrap_or(chrono::TimeDelta::MAX);
            if age > limit {
                title.push(Span::styled(
                    format!(" · STALE {}", strings::duration(age.num_seconds())),
                    palette.status(Status::Warn),
                ));
            } else {
                title.push(Span::styled(
                    format!(" · {} ms", snapshot.took.as_millis()),
                    palette.get(Slot::Muted),
                ));
            }
        }
    }
    let block = pane_block(title, state.focus == Pane::Queries, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if height == 0 {
        return;
    }
    let Some(database) = database else {
        frame.render_widget(
            Paragraph::new(
                "no databases watched: add [[database]] entries (opsdeck config default shows how)",
            )
            .style(palette.get(Slot::Muted)),
            inner,
        );
        return;
    };
    let tab = |view: QueryView, label: &str| {
        let style = if state.query_view == view {
            palette.get(Slot::Selection)
        } else {
            palette.get(Slot::Muted)
        };
        Span::styled(format!(" {label} "), style)
    };
    let mut lines = vec![Line::from(vec![
        tab(QueryView::Statements, "statements"),
        tab(QueryView::Sessions, "sessions"),
        tab(QueryView::Health, "health"),
        Span::styled(
            match state.query_view {
                QueryView::Statements => format!("  by {}", state.statement_sort.label()),
                QueryView::Sessions if !state.marked_pids.is_empty() => {
                    format!("  {} marked", state.marked_pids.len())
                }
                _ => String::new(),
            },
            palette.get(Slot::Muted),
        ),
    ])];
    let rows = match &database.snapshot {
        None => vec![Line::styled("connecting…", palette.get(Slot::Muted))],
        Some(snapshot) => match &snapshot.error {
            Some(error) => vec![Line::styled(printable(error), palette.status(Status::Crit))],
            None => match state.query_view {
                QueryView::Statements => statement_lines(snapshot, look, width),
                QueryView::Sessions => session_lines(state, snapshot, look, width),
                QueryView::Health => health_lines(snapshot, look, width),
            },
        },
    };
    let room = height.saturating_sub(2);
    let offset = state.query_selected.saturating_sub(room.saturating_sub(1));
    let (heading, body) = match rows.split_first() {
        Some((heading, body))
            if database
                .snapshot
                .as_ref()
                .is_some_and(|s| s.error.is_none()) =>
        {
            (Some(heading.clone()), body.to_vec())
        }
        _ => (None, rows),
    };
    if let Some(heading) = heading {
        lines.push(heading);
    }
    lines.extend(
        body.into_iter()
            .enumerate()
            .skip(offset)
            .take(room)
            .map(|(index, line)| {
                if index == state.query_selected && state.focus == Pane::Queries {
                    line.style(palette.get(Slot::Selection))
                } else {
                    line
                }
            }),
    );
    frame.render_widget(Paragraph::new(lines), inner);
}

fn statement_lines(snapshot: &QuerySnapshot, look: &Look, width: usize) -> Vec<Line<'static>> {
    let palette = &look.palette;
    match &snapshot.statements {
        StatementsView::Unavailable { guidance } => std::iter::once(Line::raw(""))
            .chain(
                guidance
                    .lines()
                    .map(|line| Line::styled(printable(line), palette.status(Status::Warn))),
            )
            .collect(),
        StatementsView::Failed { error } => failure_lines(error, look),
        StatementsView::Rows { rows } => {
            let mut lines = vec![Line::styled(
                strings::fit(
                    &format!(
                        "{:>7} {:>9} {:>9} {:>6} {:>5} {:<8} QUERY",
                        "CALLS", "MEAN ms", "TOTAL ms", "+CALLS", "HIT %", "USER"
                    ),
                    width,
                ),
                palette.get(Slot::Muted),
            )];
            for row in rows {
                let style = if row.slow {
                    palette.status(Status::Crit)
                } else {
                    palette.get(Slot::Text)
                };
                let hit = row
                    .hit_ratio_pct
                    .map_or_else(|| "-".into(), |pct| format!("{pct:.1}"));
                let lead = format!(
                    "{:>7} {:>9.1} {:>9.0} {:>6} {:>5} {:<8} ",
                    compact_count(row.calls),
                    row.mean_ms,
                    row.total_ms,
                    if row.calls_delta > 0 {
                        format!("+{}", compact_count(row.calls_delta))
                    } else {
                        String::new()
                    },
                    hit,
                    strings::fit(&printable(&row.user), 8)
                );
                let query = if row.toplevel == Some(false) {
                    format!("(nested) {}", row.query)
                } else {
                    row.query.clone()
                };
                lines.push(query_row(lead, style, &query, width, look));
            }
            if rows.is_empty() {
                lines.push(Line::styled(
                    "no statements recorded yet",
                    palette.get(Slot::Muted),
                ));
            }
            lines
        }
    }
}

fn session_lines(
    state: &AppState,
    snapshot: &QuerySnapshot,
    look: &Look,
    width: usize,
) -> Vec<Line<'static>> {
    let palette = &look.palette;
    let sessions = match &snapshot.sessions {
        Ok(sessions) => sessions,
        Err(error) => return failure_lines(error, look),
    };
    let mut lines = vec![Line::styled(
        strings::fit(
            &format!(
                "  {:<8} {:<8} {:<12} {:>6} {:>6} {:<10} QUERY",
                "PID", "USER", "STATE", "AGE", "XACT", "WAITING"
            ),
            width,
        ),
        palette.get(Slot::Muted),
    )];
    for session in sessions {
        let seconds =
            |value: Option<f64>| value.map_or_else(|| "-".into(), |s| strings::duration(s as i64));
        let waiting = if session.blocking {
            format!("BLOCKS {}", session.waiting_on_it)
        } else if session.blocked_by.is_empty() {
            session.wait_event.clone().unwrap_or_default()
        } else {
            format!(
                "by {}",
                session
                    .blocked_by
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        // The root blocker is the session to act on: the most urgent colour.
        let level = if session.blocking || session.long_running {
            Status::Crit
        } else if !session.blocked_by.is_empty() || session.idle_in_transaction {
            Status::Warn
        } else {
            Status::Ok
        };
        let mark = if state.marked_pids.contains(&session.pid) {
            "* "
        } else {
            "  "
        };
        // Waiters are indented under what they wait on.
        let pid = format!("{}{}", " ".repeat(session.depth.min(3)), session.pid);
        let lead = format!(
            "{mark}{:<8} {:<8} {:<12} {:>6} {:>6} {:<10} ",
            pid,
            strings::fit(&printable(&session.user), 8),
            strings::fit(session.short_state(), 12),
            seconds(session.age_in_state()),
            seconds(session.transaction_seconds),
            strings::fit(&printable(&waiting), 10)
        );
        let style = palette.status(level).patch(palette.get(Slot::Text));
        let query = if session.opsdeck_task {
            format!("[opsdeck] {}", session.query)
        } else {
            session.query.clone()
        };
        lines.push(query_row(lead, style, &query, width, look));
    }
    if sessions.is_empty() {
        lines.push(Line::styled(
            "no long-running, idle-in-transaction or waiting sessions",
            palette.get(Slot::Muted),
        ));
    }
    lines
}

fn health_lines(snapshot: &QuerySnapshot, look: &Look, width: usize) -> Vec<Line<'static>> {
    let palette = &look.palette;
    let health = match &snapshot.health {
        Ok(health) => health,
        Err(error) => return failure_lines(error, look),
    };
    let mut lines = vec![Line::styled(
        strings::fit(
            &format!(
                "database {} · Enter: VACUUM ANALYZE a table / REINDEX an index{}",
                format_bytes(health.database_bytes as f64),
                health
                    .progress
                    .iter()
                    .map(|p| format!(
                        " · {} {} {} {}",
                        p.command,
                        printable(&p.relation),
                        p.phase,
                        p.percent
                            .map_or_else(String::new, |pct| format!("{pct:.0}%"))
                    ))
                    .collect::<String>()
            ),
            width,
        ),
        palette.get(Slot::Muted),
    )];
    let ago = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or_else(
            || "never".to_owned(),
            |at| {
                format!(
                    "{} ago",
                    strings::duration((snapshot.taken_at - at).num_seconds())
                )
            },
        )
    };
    for table in &health.largest_tables {
        let last_vacuum = table.last_vacuum.max(table.last_autovacuum);
        let last_analyze = table.last_analyze.max(table.last_autoanalyze);
        let dead_share = if table.live_tuples + table.dead_tuples > 0 {
            table.dead_tuples as f64 * 100.0 / (table.live_tuples + table.dead_tuples) as f64
        } else {
            0.0
        };
        let style = if dead_share > 20.0 {
            palette.status(Status::Warn)
        } else {
            palette.get(Slot::Text)
        };
        lines.push(Line::styled(
            strings::fit(
                &format!(
                    "table {}  {}  dead {} ({dead_share:.0} %)  vacuum {}  analyze {}",
                    printable(&table.name),
                    format_bytes(table.total_bytes as f64),
                    table.dead_tuples,
                    ago(last_vacuum),
                    ago(last_analyze)
                ),
                width,
            ),
            style,
        ));
    }
    for index in &health.unused_indexes {
        lines.push(Line::styled(
            strings::fit(
                &format!(
                    "index {}  {}  UNUSED (0 scans) on {}",
                    printable(&index.name),
                    format_bytes(index.bytes as f64),
                    printable(&index.table)
                ),
                width,
            ),
            palette.status(Status::Warn),
        ));
    }
    for index in &health.largest_indexes {
        lines.push(Line::styled(
            strings::fit(
                &format!(
                    "index {}  {}  {} scans on {}",
                    printable(&index.name),
                    format_bytes(index.bytes as f64),
                    index.scans,
                    printable(&index.table)
                ),
                width,
            ),
            palette.get(Slot::Text),
        ));
    }
    lines
}
