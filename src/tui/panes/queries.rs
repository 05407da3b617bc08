//! The queries pane: for the selected database, the slowest statements (with what changed since
//! the last refresh), the sessions hurting it now (long-running, idle in transaction, waiting
//! and their blockers, as lock trees), and table health. Query texts are shown escaped. Enter
//! opens a statement's text or offers VACUUM ANALYZE / REINDEX; `x`/`X` cancel or terminate the
//! marked or selected sessions, after their plan is shown.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::checks::rules::format_bytes;
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::core::queries::{QuerySnapshot, StatementSort, StatementsView};
use crate::core::tasks::Params;
use crate::tui::modal::Popup;
use crate::tui::panes::{
    Command, Component, Ctx, Handled, PaletteEntry, Pane, Summary, View, command, pane_block, step,
};
use crate::tui::strings::{self, printable};
use crate::tui::style::Look;

/// What the pane shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueryView {
    #[default]
    Statements,
    Sessions,
    Health,
}

impl QueryView {
    fn next(self) -> QueryView {
        match self {
            QueryView::Statements => QueryView::Sessions,
            QueryView::Sessions => QueryView::Health,
            QueryView::Health => QueryView::Statements,
        }
    }
}

/// A watched database and its latest refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryDatabase {
    pub name: String,
    pub snapshot: Option<QuerySnapshot>,
}

/// Something the health view can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTarget {
    Table(String),
    Index(String),
}

#[derive(Debug, Clone)]
pub struct QueriesPane {
    pub databases: Vec<QueryDatabase>,
    /// The database shown.
    pub database: usize,
    pub view: QueryView,
    pub selected: usize,
    pub sort: StatementSort,
    pub marked_pids: BTreeSet<i32>,
    /// How often the databases are read, for staleness.
    pub interval: Duration,
    /// Capacity figures (`+120 MiB/d`, `saw-tooth`) by database name and by `database/table`.
    pub growth: HashMap<String, String>,
}

impl Default for QueriesPane {
    fn default() -> Self {
        QueriesPane {
            databases: Vec::new(),
            database: 0,
            view: QueryView::Statements,
            selected: 0,
            sort: StatementSort::MeanTime,
            marked_pids: BTreeSet::new(),
            interval: Duration::from_secs(5),
            growth: HashMap::new(),
        }
    }
}

const COMMANDS: &[Command] = &[
    command(
        Action::RunTask,
        Some("open"),
        "a statement's full text; on a table or index, VACUUM ANALYZE or REINDEX (asks first)",
    ),
    command(
        Action::NextView,
        Some("view"),
        "statements, sessions, table health",
    ),
    command(
        Action::NextDatabase,
        Some("database"),
        "the next watched database",
    ),
    command(
        Action::Sort,
        Some("sort"),
        "statements by mean time, total time, calls or rows",
    ),
    command(
        Action::Mark,
        Some("mark"),
        "sessions: mark or unmark the selected session",
    ),
    command(
        Action::CancelQuery,
        Some("cancel query"),
        "sessions: cancel the query of the marked or selected ones (pg_cancel_backend; asks first)",
    ),
    command(
        Action::TerminateSession,
        Some("terminate"),
        "sessions: terminate the marked or selected ones (pg_terminate_backend; asks first)",
    ),
];

impl QueriesPane {
    pub fn set(&mut self, names: Vec<String>, interval: Duration) {
        self.databases = names
            .into_iter()
            .map(|name| QueryDatabase {
                name,
                snapshot: None,
            })
            .collect();
        self.interval = interval;
    }

    pub fn current_database(&self) -> Option<&QueryDatabase> {
        self.databases.get(self.database)
    }

    /// Rows of the current view, for selection bounds.
    pub fn rows(&self) -> usize {
        let Some(snapshot) = self.current_database().and_then(|db| db.snapshot.as_ref()) else {
            return 0;
        };
        match self.view {
            QueryView::Statements => match &snapshot.statements {
                StatementsView::Rows { rows } => rows.len(),
                _ => 0,
            },
            QueryView::Sessions => snapshot.sessions.as_ref().map_or(0, Vec::len),
            QueryView::Health => self.health_targets().len(),
        }
    }

    /// The health view's rows that a task can act on: largest tables, then unused indexes,
    /// then largest indexes.
    pub fn health_targets(&self) -> Vec<HealthTarget> {
        let Some(Ok(health)) = self
            .current_database()
            .and_then(|db| db.snapshot.as_ref())
            .map(|snapshot| snapshot.health.as_ref())
        else {
            return Vec::new();
        };
        health
            .largest_tables
            .iter()
            .map(|table| HealthTarget::Table(table.name.clone()))
            .chain(
                health
                    .unused_indexes
                    .iter()
                    .map(|index| HealthTarget::Index(index.name.clone())),
            )
            .chain(
                health
                    .largest_indexes
                    .iter()
                    .map(|index| HealthTarget::Index(index.name.clone())),
            )
            .collect()
    }

    fn selected_pids(&self) -> Vec<i32> {
        if !self.marked_pids.is_empty() {
            return self.marked_pids.iter().copied().collect();
        }
        self.current_database()
            .and_then(|db| db.snapshot.as_ref())
            .and_then(|snapshot| snapshot.sessions.as_ref().ok())
            .and_then(|sessions| sessions.get(self.selected))
            .map(|session| vec![session.pid])
            .unwrap_or_default()
    }

    fn query_action(&mut self, action: Action, ctx: &mut Ctx) -> Vec<Request> {
        match action {
            Action::NextView => {
                self.view = self.view.next();
                self.selected = 0;
                Vec::new()
            }
            Action::NextDatabase => {
                if !self.databases.is_empty() {
                    self.database = (self.database + 1) % self.databases.len();
                }
                self.selected = 0;
                self.marked_pids.clear();
                Vec::new()
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.selected = 0;
                let label = self.sort.label();
                ctx.notice(&format!("statements by {label}"), Status::Ok);
                vec![Request::SetStatementSort(self.sort)]
            }
            Action::Mark => {
                if let Some(pid) = self
                    .current_database()
                    .and_then(|db| db.snapshot.as_ref())
                    .and_then(|snapshot| snapshot.sessions.as_ref().ok())
                    .and_then(|sessions| sessions.get(self.selected))
                    .map(|session| session.pid)
                    && !self.marked_pids.remove(&pid)
                {
                    self.marked_pids.insert(pid);
                }
                Vec::new()
            }
            Action::CancelQuery | Action::TerminateSession => {
                let task_id = if action == Action::CancelQuery {
                    "pg-cancel-query"
                } else {
                    "pg-terminate-session"
                };
                let pids = self.selected_pids();
                let Some(database) = self.current_database().map(|db| db.name.clone()) else {
                    return Vec::new();
                };
                if pids.is_empty() || self.view != QueryView::Sessions {
                    ctx.notice(
                        "select or mark sessions in the sessions view (v) first",
                        Status::Warn,
                    );
                    return Vec::new();
                }
                if ctx.read_only {
                    ctx.notice(&format!("read-only: {task_id} is refused"), Status::Warn);
                    return Vec::new();
                }
                let pids: Vec<String> = pids.iter().map(ToString::to_string).collect();
                let params: Params = [
                    ("database".to_owned(), database),
                    ("pids".to_owned(), pids.join(",")),
                ]
                .into();
                vec![ctx.plan(task_id, params, true)]
            }
            _ => Vec::new(),
        }
    }

    /// Enter in the queries pane: a statement's full text, or the maintenance task for a
    /// table or index.
    fn open_selected(&mut self, ctx: &mut Ctx) -> Vec<Request> {
        let Some(snapshot) = self.current_database().and_then(|db| db.snapshot.clone()) else {
            return Vec::new();
        };
        match self.view {
            QueryView::Statements => {
                if let StatementsView::Rows { rows } = &snapshot.statements
                    && let Some(row) = rows.get(self.selected)
                {
                    let mut lines = vec![format!(
                        "{} calls · mean {:.1} ms · max {:.1} ms · total {:.0} ms · {} rows · hit ratio {}",
                        row.calls,
                        row.mean_ms,
                        row.max_ms,
                        row.total_ms,
                        row.rows,
                        row.hit_ratio_pct
                            .map_or_else(|| "-".into(), |pct| format!("{pct:.1} %"))
                    )];
                    lines.push(format!(
                        "since last refresh: {} calls, {:.0} ms · since opsdeck started: {} calls, {:.0} ms",
                        row.calls_delta, row.total_ms_delta, row.calls_since_start, row.total_ms_since_start
                    ));
                    lines.push(format!(
                        "user {} · {}",
                        row.user,
                        match row.toplevel {
                            Some(true) => "top level (run by a client)",
                            Some(false) => "nested (run inside a function or procedure)",
                            None => "top level or nested: not told by this server",
                        }
                    ));
                    lines.push(String::new());
                    lines.extend(row.query.lines().map(str::to_owned));
                    ctx.open(Popup::Text {
                        title: format!("statement {}", row.queryid),
                        lines,
                    });
                }
                Vec::new()
            }
            QueryView::Sessions => {
                if let Ok(sessions) = &snapshot.sessions
                    && let Some(session) = sessions.get(self.selected)
                {
                    let mut lines = vec![format!(
                        "pid {} · {} on {} · {} · {} · from {}",
                        session.pid,
                        session.user,
                        session.database,
                        session.application,
                        session.state,
                        session.client
                    )];
                    if session.opsdeck_task {
                        lines.push("one of opsdeck's own task sessions".to_owned());
                    }
                    if session.blocking {
                        lines.push(format!(
                            "BLOCKING: {} session(s) wait on it",
                            session.waiting_on_it
                        ));
                    }
                    if !session.blocked_by.is_empty() {
                        lines.push(format!("blocked by {:?}", session.blocked_by));
                    }
                    let age = |value: Option<f64>| {
                        value.map_or_else(|| "-".to_owned(), |s| format!("{s:.0} s"))
                    };
                    lines.push(format!(
                        "statement {} · transaction {} · in this state {}",
                        age(session.query_seconds),
                        age(session.transaction_seconds),
                        age(session.state_seconds)
                    ));
                    lines.push(String::new());
                    lines.extend(session.query.lines().map(str::to_owned));
                    ctx.open(Popup::Text {
                        title: format!("session {}", session.pid),
                        lines,
                    });
                }
                Vec::new()
            }
            QueryView::Health => {
                let (task_id, param, name) = match self.health_targets().get(self.selected) {
                    Some(HealthTarget::Table(name)) => ("db-vacuum-analyze", "table", name.clone()),
                    Some(HealthTarget::Index(name)) => ("db-reindex", "index", name.clone()),
                    None => return Vec::new(),
                };
                if ctx.read_only {
                    ctx.notice(&format!("read-only: {task_id} is refused"), Status::Warn);
                    return Vec::new();
                }
                let database = self
                    .current_database()
                    .map(|db| db.name.clone())
                    .unwrap_or_default();
                let params = [(param.to_owned(), name), ("database".to_owned(), database)].into();
                vec![ctx.plan(task_id, params, true)]
            }
        }
    }
}

impl Component for QueriesPane {
    fn id(&self) -> Pane {
        Pane::Queries
    }

    fn title(&self) -> &'static str {
        "Queries"
    }

    fn summary(&self, _view: &View) -> Summary {
        let Some(database) = self.current_database() else {
            return Summary {
                text: "Queries no databases watched".to_owned(),
                level: Status::Ok,
            };
        };
        let Some(snapshot) = &database.snapshot else {
            return Summary {
                text: format!("Queries {} connecting…", database.name),
                level: Status::Unknown,
            };
        };
        if snapshot.error.is_some() {
            return Summary {
                text: format!("Queries {} unreachable", database.name),
                level: Status::Crit,
            };
        }
        let slow = match &snapshot.statements {
            StatementsView::Rows { rows } => rows.iter().filter(|row| row.slow).count(),
            _ => 0,
        };
        let sessions = snapshot.sessions.as_ref().map_or(0, Vec::len);
        let blocked = snapshot.sessions.as_ref().map_or(0, |sessions| {
            sessions.iter().filter(|s| !s.blocked_by.is_empty()).count()
        });
        let mut text = format!(
            "Queries {} · {slow} slow · {sessions} sessions",
            database.name
        );
        if blocked > 0 {
            text.push_str(&format!(" · {blocked} waiting"));
        }
        let level = if blocked > 0 || slow > 0 {
            Status::Warn
        } else {
            Status::Ok
        };
        Summary { text, level }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        if self.databases.is_empty() { 3 } else { 14 }
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                let last = self.rows().saturating_sub(1);
                self.selected = step(self.selected, action, last);
                Handled::Yes(Vec::new())
            }
            Action::RunTask => Handled::Yes(self.open_selected(ctx)),
            Action::NextView
            | Action::NextDatabase
            | Action::Sort
            | Action::Mark
            | Action::CancelQuery
            | Action::TerminateSession => Handled::Yes(self.query_action(action, ctx)),
            _ => Handled::No,
        }
    }

    fn apply(&mut self, event: &Event, _now: DateTime<Utc>) {
        if let Event::Capacity(report) = event {
            self.growth = report
                .series
                .iter()
                .filter(|series| matches!(series.metric, "db.bytes" | "db.table_bytes"))
                .filter_map(|series| Some((series.instance.clone()?, series.label())))
                .collect();
            return;
        }
        let Event::Queries(snapshot) = event else {
            return;
        };
        if let Some(database) = self
            .databases
            .iter_mut()
            .find(|db| db.name == snapshot.database)
        {
            database.snapshot = Some(snapshot.as_ref().clone());
        }
        // Sessions come and go: forget marks on pids no longer listed.
        let listed: Vec<i32> = self
            .current_database()
            .and_then(|db| db.snapshot.as_ref())
            .and_then(|snapshot| snapshot.sessions.as_ref().ok())
            .map(|sessions| sessions.iter().map(|session| session.pid).collect())
            .unwrap_or_default();
        self.marked_pids.retain(|pid| listed.contains(pid));
        self.selected = self.selected.min(self.rows().saturating_sub(1));
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        render(self, view, area, frame);
    }

    fn palette(&self) -> Vec<PaletteEntry> {
        self.databases
            .iter()
            .map(|database| PaletteEntry {
                pane: Pane::Queries,
                kind: "database",
                label: database.name.clone(),
                key: database.name.clone(),
            })
            .collect()
    }

    fn open_entry(&mut self, key: &str, _ctx: &mut Ctx) -> Vec<Request> {
        if let Some(index) = self.databases.iter().position(|db| db.name == key) {
            self.database = index;
            self.selected = 0;
            self.marked_pids.clear();
        }
        Vec::new()
    }
}

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

fn render(pane: &QueriesPane, shown: &View, area: Rect, frame: &mut Frame) {
    let look = shown.look;
    let palette = &look.palette;
    let mut title = vec![Span::styled("Queries", palette.get(Slot::Title))];
    let database = pane.current_database();
    if let Some(database) = database {
        title.push(Span::styled(
            format!(
                " · {} ({}/{})",
                printable(&database.name),
                pane.database + 1,
                pane.databases.len()
            ),
            palette.get(Slot::Text),
        ));
        if let Some(snapshot) = &database.snapshot {
            let age = shown.now - snapshot.taken_at;
            let limit =
                chrono::TimeDelta::from_std(pane.interval * 3).unwrap_or(chrono::TimeDelta::MAX);
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
    let block = pane_block(title, shown.focused, look);
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
        let style = if pane.view == view {
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
            match pane.view {
                QueryView::Statements => format!("  by {}", pane.sort.label()),
                QueryView::Sessions if !pane.marked_pids.is_empty() => {
                    format!("  {} marked", pane.marked_pids.len())
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
            None => match pane.view {
                QueryView::Statements => statement_lines(snapshot, look, width),
                QueryView::Sessions => session_lines(pane, snapshot, look, width),
                QueryView::Health => health_lines(snapshot, &pane.growth, look, width),
            },
        },
    };
    let room = height.saturating_sub(2);
    let offset = pane.selected.saturating_sub(room.saturating_sub(1));
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
                if index == pane.selected && shown.focused {
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
    pane: &QueriesPane,
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
        let mark = if pane.marked_pids.contains(&session.pid) {
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

/// A size's capacity figure after it: ` (+120 MiB/d)`, or nothing before the first projection.
fn trend(label: Option<&String>) -> String {
    label.map_or_else(String::new, |label| format!(" ({label})"))
}

fn health_lines(
    snapshot: &QuerySnapshot,
    growth: &HashMap<String, String>,
    look: &Look,
    width: usize,
) -> Vec<Line<'static>> {
    let palette = &look.palette;
    let health = match &snapshot.health {
        Ok(health) => health,
        Err(error) => return failure_lines(error, look),
    };
    let mut lines = vec![Line::styled(
        strings::fit(
            &format!(
                "database {}{} · Enter: VACUUM ANALYZE a table / REINDEX an index{}",
                format_bytes(health.database_bytes as f64),
                trend(growth.get(&snapshot.database)),
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
                    "table {}  {}{}  dead {} ({dead_share:.0} %)  vacuum {}  analyze {}",
                    printable(&table.name),
                    format_bytes(table.total_bytes as f64),
                    trend(growth.get(&format!("{}/{}", snapshot.database, table.name))),
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
