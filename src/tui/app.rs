//! The console's state and its pure update function: `update(state, msg) -> requests`.
//! Nothing here does I/O; the event loop in [`crate::tui`] feeds messages in and sends the
//! returned requests to the runner.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::keymap::{KeyChord, KeyCode, Keymap};
use crate::core::backups::tasks::BackupAction;
use crate::core::checklists::service::EntryRequest;
use crate::core::checklists::{Checklist, EntryKind, Language};
use crate::core::checks::Evaluation;
use crate::core::collectors::resources::ResourceSample;
use crate::core::model::{Alert, RunStatus, Status, TaskRun};
use crate::core::queries::{QuerySnapshot, StatementSort, StatementsView};
use crate::core::runner::{Event, Request};
use crate::core::services::CheckOutcome;
use crate::core::services::flap::ServiceState;
use crate::core::tasks::{Params, TaskInfo};
use crate::tui::action::Action;
use crate::tui::checklists::{ChecklistsView, NoteEditor, RunPopup};
use crate::tui::history::History;

/// Who and where: shown in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub hostname: String,
    pub user: String,
    pub environment: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Resources,
    Services,
    Queries,
    Backups,
    Checklists,
    Alerts,
    Tasks,
}

impl Pane {
    const ORDER: [Pane; 7] = [
        Pane::Resources,
        Pane::Services,
        Pane::Queries,
        Pane::Backups,
        Pane::Checklists,
        Pane::Alerts,
        Pane::Tasks,
    ];

    fn step(self, forward: bool) -> Pane {
        let index = Pane::ORDER.iter().position(|p| *p == self).unwrap_or(0);
        let len = Pane::ORDER.len();
        let next = if forward { index + 1 } else { index + len - 1 };
        Pane::ORDER[next % len]
    }
}

/// The latest resources sample with its judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceView {
    pub sample: ResourceSample,
    pub statuses: HashMap<String, Status>,
}

impl ResourceView {
    pub fn status(&self, key: &str) -> Status {
        self.statuses.get(key).copied().unwrap_or(Status::Ok)
    }
}

/// Moves a selection one row (or to an end) within `0..=last`.
fn step(selected: usize, action: Action, last: usize) -> usize {
    match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(last),
        Action::Top => 0,
        _ => last,
    }
}

/// A message shown in the footer until replaced or expired.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub level: Status,
    pub until: DateTime<Utc>,
}

/// A problem reported by the runner, shown in place in the pane it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub message: String,
    pub at: DateTime<Utc>,
}

/// A task as listed in the tasks pane.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub info: TaskInfo,
    pub key: Option<KeyChord>,
    /// The newest run (running or finished), from the audit log or this session.
    pub last: Option<TaskRun>,
}

/// A service as listed in the services pane.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub name: String,
    pub kind: &'static str,
    pub interval: Duration,
    pub state: ServiceState,
    pub level: Status,
    pub last: Option<(DateTime<Utc>, CheckOutcome)>,
    /// Recent results, oldest first: when, ok, latency in ms.
    pub recent: VecDeque<(DateTime<Utc>, bool, Option<f64>)>,
    pub last_error: Option<(DateTime<Utc>, String)>,
    pub availability_24h: Option<f64>,
    pub availability_7d: Option<f64>,
}

/// Results kept per service on screen (the store keeps eight days).
const SCREEN_RESULTS_PER_SERVICE: usize = 120;

/// How the services table is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceSort {
    Configured,
    WorstFirst,
    Name,
    SlowestFirst,
}

impl ServiceSort {
    fn next(self) -> ServiceSort {
        match self {
            ServiceSort::Configured => ServiceSort::WorstFirst,
            ServiceSort::WorstFirst => ServiceSort::Name,
            ServiceSort::Name => ServiceSort::SlowestFirst,
            ServiceSort::SlowestFirst => ServiceSort::Configured,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ServiceSort::Configured => "as configured",
            ServiceSort::WorstFirst => "worst first",
            ServiceSort::Name => "by name",
            ServiceSort::SlowestFirst => "slowest first",
        }
    }
}

/// What the queries pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryView {
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

/// A run seen in this session, with its output so far.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub run: TaskRun,
    pub lines: VecDeque<String>,
}

/// Output lines kept per run on screen; the audit log and log file keep more.
const SCREEN_LINES_PER_RUN: usize = 5_000;

/// An overlay that takes the keys until closed.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    /// What a task would do; with `confirm`, confirming runs it.
    Plan {
        task_id: String,
        params: Params,
        lines: Vec<String>,
        confirm: bool,
    },
    History {
        task_id: String,
        runs: Vec<TaskRun>,
        selected: usize,
        loaded: bool,
    },
    RunOutput {
        run: Box<TaskRun>,
        scroll: u16,
    },
    /// One service: recent results, last error, latency history.
    Service {
        name: String,
    },
    /// One backup set: what is wrong, and every file.
    Backup {
        set: String,
        scroll: u16,
    },
    /// A checklist run: one item at a time, or the list.
    Checklist(RunPopup),
    /// Past runs of a checklist, newest first.
    ChecklistHistory {
        checklist: String,
        periods: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
        selected: usize,
        loaded: bool,
    },
    /// Read-only text, such as a statement's full query.
    Text {
        title: String,
        lines: Vec<String>,
    },
}

// A message is moved once into `update`, a few times a second at most: boxing the large runner
// events would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyChord),
    Runner(Event),
    /// The wall clock moved on (drives staleness and notice expiry).
    Tick(DateTime<Utc>),
    ScrollUp,
    ScrollDown,
}

const NOTICE_TIME: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

#[derive(Debug, Clone)]
pub struct AppState {
    pub host: HostInfo,
    pub keymap: Keymap,
    pub interval: Duration,
    pub now: DateTime<Utc>,
    pub resources: Option<ResourceView>,
    pub history: History,
    /// Open alerts first (newest first), then resolved ones (newest first).
    pub alerts: Vec<Alert>,
    pub alert_selected: usize,
    pub focus: Pane,
    pub show_help: bool,
    pub help_scroll: u16,
    pub notice: Option<Notice>,
    pub resources_problem: Option<Problem>,
    pub store_problem: Option<Problem>,
    pub rules_summary: Vec<String>,
    pub tasks: Vec<TaskRow>,
    pub task_selected: usize,
    pub runs: HashMap<String, RunView>,
    /// Lines scrolled up from the end of the output; 0 follows the tail.
    pub output_scroll: usize,
    pub popup: Option<Popup>,
    /// A plan asked for, and whether it is to be confirmed and run once it arrives.
    pub awaiting_plan: Option<(String, bool)>,
    pub services: Vec<ServiceRow>,
    pub service_selected: usize,
    pub service_filter: String,
    pub filter_editing: bool,
    pub service_sort: ServiceSort,
    pub databases: Vec<QueryDatabase>,
    pub database_selected: usize,
    pub query_view: QueryView,
    pub query_selected: usize,
    pub statement_sort: StatementSort,
    pub marked_pids: std::collections::BTreeSet<i32>,
    pub queries_interval: Duration,
    pub backups: crate::tui::backups::BackupsView,
    pub checklists: ChecklistsView,
    /// The note or skip-reason editor, when open (it takes every key).
    pub note_editor: Option<NoteEditor>,
    pub should_quit: bool,
    /// Set by every change that can alter the screen; the loop draws and clears it.
    pub dirty: bool,
}

impl AppState {
    pub fn new(
        host: HostInfo,
        keymap: Keymap,
        interval: Duration,
        rules_summary: Vec<String>,
        now: DateTime<Utc>,
    ) -> Self {
        AppState {
            host,
            keymap,
            interval,
            now,
            resources: None,
            history: History::default(),
            alerts: Vec::new(),
            alert_selected: 0,
            focus: Pane::Resources,
            show_help: false,
            help_scroll: 0,
            notice: None,
            resources_problem: None,
            store_problem: None,
            rules_summary,
            tasks: Vec::new(),
            task_selected: 0,
            runs: HashMap::new(),
            output_scroll: 0,
            popup: None,
            awaiting_plan: None,
            services: Vec::new(),
            service_selected: 0,
            service_filter: String::new(),
            filter_editing: false,
            service_sort: ServiceSort::Configured,
            databases: Vec::new(),
            database_selected: 0,
            query_view: QueryView::Statements,
            query_selected: 0,
            statement_sort: StatementSort::MeanTime,
            marked_pids: std::collections::BTreeSet::new(),
            queries_interval: Duration::from_secs(5),
            backups: crate::tui::backups::BackupsView::default(),
            checklists: ChecklistsView::default(),
            note_editor: None,
            should_quit: false,
            dirty: true,
        }
    }

    pub fn set_tasks(&mut self, tasks: Vec<(TaskInfo, Option<KeyChord>)>) {
        self.tasks = tasks
            .into_iter()
            .map(|(info, key)| TaskRow {
                info,
                key,
                last: None,
            })
            .collect();
        self.dirty = true;
    }

    /// Whether a pane is on screen: the backups pane only when backup sets are configured (and
    /// the checklists pane only with checklists or checklist file problems), so a console
    /// without them keeps its rows for alerts and tasks.
    pub fn pane_shown(&self, pane: Pane) -> bool {
        match pane {
            Pane::Backups => !self.backups.configured.is_empty(),
            Pane::Checklists => {
                !self.checklists.definitions.is_empty() || !self.checklists.problems.is_empty()
            }
            _ => true,
        }
    }

    /// The checklists in `language`, with the files that could not be loaded.
    pub fn set_checklists(
        &mut self,
        definitions: Vec<Checklist>,
        language: Language,
        problems: Vec<String>,
    ) {
        self.checklists.definitions = definitions;
        self.checklists.language = Some(language);
        self.checklists.problems = problems;
        self.dirty = true;
    }

    /// Keys while the note editor is open: Esc stores the note (an empty one is dropped).
    fn edit_note(&mut self, key: KeyChord) -> Vec<Request> {
        self.dirty = true;
        if key.code == KeyCode::Esc {
            let Some(editor) = self.note_editor.take() else {
                return Vec::new();
            };
            return match editor.text() {
                Some(text) => {
                    self.set_notice("saving…", Status::Ok);
                    vec![Request::ChecklistEntry(EntryRequest {
                        text,
                        ..editor.target
                    })]
                }
                None => {
                    self.set_notice("empty: nothing saved", Status::Ok);
                    Vec::new()
                }
            };
        }
        if let Some(editor) = self.note_editor.as_mut() {
            editor.textarea.input(textarea_input(key));
        }
        Vec::new()
    }

    /// Enter, History and sign-off on the checklists pane.
    fn checklist_pane_action(&mut self, action: Action) -> Vec<Request> {
        self.dirty = true;
        let Some(checklist) = self.checklists.selected_checklist().cloned() else {
            return Vec::new();
        };
        match action {
            Action::History => {
                self.popup = Some(Popup::ChecklistHistory {
                    checklist: checklist.id.clone(),
                    periods: Vec::new(),
                    selected: 0,
                    loaded: false,
                });
                vec![Request::LoadChecklistPeriods {
                    checklist: checklist.id,
                }]
            }
            _ => {
                let run = self.checklists.runs.get(&checklist.id);
                let first_open = crate::tui::checklists::next_open(
                    &checklist,
                    run,
                    checklist.items.len().saturating_sub(1),
                );
                self.popup = Some(Popup::Checklist(RunPopup {
                    checklist: checklist.id,
                    period: None,
                    item: first_open,
                    walkthrough: true,
                }));
                Vec::new()
            }
        }
    }

    /// Keys in the checklist run popup.
    fn checklist_popup_action(&mut self, mut popup: RunPopup, action: Action) -> Vec<Request> {
        let Some(checklist) = self.checklists.checklist(&popup.checklist).cloned() else {
            self.popup = None;
            return Vec::new();
        };
        let last = checklist.items.len().saturating_sub(1);
        let item = checklist.items.get(popup.item.min(last)).cloned();
        let run = self
            .checklists
            .run_of(&popup.checklist, popup.period.as_deref())
            .cloned();
        let mut requests = Vec::new();
        match action {
            Action::Close => {
                self.popup = None;
                return requests;
            }
            Action::Quit => {
                self.should_quit = true;
                return requests;
            }
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                popup.item = step(popup.item, action, last);
            }
            Action::NextView => popup.walkthrough = !popup.walkthrough,
            Action::Mark => {
                if let Some(item) = &item {
                    let kind = crate::tui::checklists::toggle_kind(run.as_ref(), item);
                    requests.push(Request::ChecklistEntry(crate::tui::checklists::entry(
                        &popup,
                        Some(item),
                        kind,
                        String::new(),
                    )));
                    if popup.walkthrough && kind == EntryKind::Tick {
                        popup.item =
                            crate::tui::checklists::next_open(&checklist, run.as_ref(), popup.item);
                    }
                }
            }
            Action::SkipItem | Action::NoteItem => {
                let kind = if action == Action::SkipItem {
                    EntryKind::Skip
                } else {
                    EntryKind::Note
                };
                self.note_editor = Some(NoteEditor::new(crate::tui::checklists::entry(
                    &popup,
                    item.as_ref(),
                    kind,
                    String::new(),
                )));
            }
            Action::SignOff => {
                requests.push(Request::ChecklistEntry(crate::tui::checklists::entry(
                    &popup,
                    None,
                    EntryKind::SignOff,
                    String::new(),
                )));
            }
            Action::RunTask => {
                if let Some(task_id) = item.as_ref().and_then(|item| item.task.clone()) {
                    match self.tasks.iter().position(|task| task.info.id == task_id) {
                        Some(index) => {
                            self.task_selected = index;
                            self.popup = None;
                            return self.task_action(Action::RunTask);
                        }
                        None => self.set_notice(
                            &format!("task {task_id} is not configured here"),
                            Status::Warn,
                        ),
                    }
                }
            }
            _ => {}
        }
        self.popup = Some(Popup::Checklist(popup));
        requests
    }

    /// The configured backup sets, shown as "scanning…" until their first report.
    pub fn set_backup_sets(&mut self, names: Vec<String>) {
        self.backups.configured = names;
        self.dirty = true;
    }

    /// Verify, prune, restore-test or back up the selected set.
    fn backup_action(&mut self, action: BackupAction) -> Vec<Request> {
        self.focus = Pane::Backups;
        self.dirty = true;
        let Some(set) = self
            .backups
            .selected_row()
            .map(|row| row.report.set.clone())
            .or_else(|| self.backups.configured.first().cloned())
        else {
            self.set_notice(
                "no backup sets configured: add [[backup]] entries to the config",
                Status::Warn,
            );
            return Vec::new();
        };
        if action.destructive() && self.host.read_only {
            self.set_notice(
                &format!(
                    "read-only: {} changes the system and is refused",
                    action.id()
                ),
                Status::Warn,
            );
            return Vec::new();
        }
        let request = crate::tui::backups::request(action, &set, self.now);
        if request.confirm {
            self.awaiting_plan = Some((request.task_id.to_owned(), true));
            self.set_notice(
                &format!("planning {} of {set}…", request.task_id),
                Status::Ok,
            );
        } else {
            self.set_notice(&format!("{} of {set} started", request.task_id), Status::Ok);
        }
        vec![crate::tui::backups::to_request(&request)]
    }

    pub fn set_services(&mut self, services: Vec<(String, &'static str, Duration)>) {
        self.services = services
            .into_iter()
            .map(|(name, kind, interval)| ServiceRow {
                name,
                kind,
                interval,
                state: ServiceState::Unknown,
                level: Status::Unknown,
                last: None,
                recent: VecDeque::new(),
                last_error: None,
                availability_24h: None,
                availability_7d: None,
            })
            .collect();
        self.dirty = true;
    }

    pub fn set_databases(&mut self, names: Vec<String>, interval: Duration) {
        self.databases = names
            .into_iter()
            .map(|name| QueryDatabase {
                name,
                snapshot: None,
            })
            .collect();
        self.queries_interval = interval;
        self.dirty = true;
    }

    pub fn current_database(&self) -> Option<&QueryDatabase> {
        self.databases.get(self.database_selected)
    }

    /// Rows of the current view, for selection bounds.
    pub fn query_rows(&self) -> usize {
        let Some(snapshot) = self.current_database().and_then(|db| db.snapshot.as_ref()) else {
            return 0;
        };
        match self.query_view {
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
            .and_then(|sessions| sessions.get(self.query_selected))
            .map(|session| vec![session.pid])
            .unwrap_or_default()
    }

    fn query_action(&mut self, action: Action) -> Vec<Request> {
        self.dirty = true;
        match action {
            Action::NextView => {
                self.query_view = self.query_view.next();
                self.query_selected = 0;
                Vec::new()
            }
            Action::NextDatabase => {
                if !self.databases.is_empty() {
                    self.database_selected = (self.database_selected + 1) % self.databases.len();
                }
                self.query_selected = 0;
                self.marked_pids.clear();
                Vec::new()
            }
            Action::Sort => {
                self.statement_sort = self.statement_sort.next();
                self.query_selected = 0;
                let label = self.statement_sort.label();
                self.set_notice(&format!("statements by {label}"), Status::Ok);
                vec![Request::SetStatementSort(self.statement_sort)]
            }
            Action::Mark => {
                if let Some(pid) = self
                    .current_database()
                    .and_then(|db| db.snapshot.as_ref())
                    .and_then(|snapshot| snapshot.sessions.as_ref().ok())
                    .and_then(|sessions| sessions.get(self.query_selected))
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
                if pids.is_empty() || self.query_view != QueryView::Sessions {
                    self.set_notice(
                        "select or mark sessions in the sessions view (v) first",
                        Status::Warn,
                    );
                    return Vec::new();
                }
                if self.host.read_only {
                    self.set_notice(&format!("read-only: {task_id} is refused"), Status::Warn);
                    return Vec::new();
                }
                let pids: Vec<String> = pids.iter().map(ToString::to_string).collect();
                let params: Params = [
                    ("database".to_owned(), database),
                    ("pids".to_owned(), pids.join(",")),
                ]
                .into();
                self.awaiting_plan = Some((task_id.to_owned(), true));
                vec![Request::PlanTask {
                    task_id: task_id.to_owned(),
                    params,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// Enter in the queries pane: a statement's full text, or the maintenance task for a
    /// table or index.
    fn query_open(&mut self) -> Vec<Request> {
        self.dirty = true;
        let Some(snapshot) = self.current_database().and_then(|db| db.snapshot.clone()) else {
            return Vec::new();
        };
        match self.query_view {
            QueryView::Statements => {
                if let StatementsView::Rows { rows } = &snapshot.statements
                    && let Some(row) = rows.get(self.query_selected)
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
                    self.popup = Some(Popup::Text {
                        title: format!("statement {}", row.queryid),
                        lines,
                    });
                }
                Vec::new()
            }
            QueryView::Sessions => {
                if let Ok(sessions) = &snapshot.sessions
                    && let Some(session) = sessions.get(self.query_selected)
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
                    self.popup = Some(Popup::Text {
                        title: format!("session {}", session.pid),
                        lines,
                    });
                }
                Vec::new()
            }
            QueryView::Health => {
                let (task_id, param, name) = match self.health_targets().get(self.query_selected) {
                    Some(HealthTarget::Table(name)) => ("db-vacuum-analyze", "table", name.clone()),
                    Some(HealthTarget::Index(name)) => ("db-reindex", "index", name.clone()),
                    None => return Vec::new(),
                };
                if self.host.read_only {
                    self.set_notice(&format!("read-only: {task_id} is refused"), Status::Warn);
                    return Vec::new();
                }
                let database = self
                    .current_database()
                    .map(|db| db.name.clone())
                    .unwrap_or_default();
                self.awaiting_plan = Some((task_id.to_owned(), true));
                vec![Request::PlanTask {
                    task_id: task_id.to_owned(),
                    params: [(param.to_owned(), name), ("database".to_owned(), database)].into(),
                }]
            }
        }
    }

    /// The services the table shows, filtered and sorted.
    pub fn visible_services(&self) -> Vec<&ServiceRow> {
        let filter = self.service_filter.to_lowercase();
        let mut rows: Vec<&ServiceRow> =
            self.services
                .iter()
                .filter(|row| {
                    filter.is_empty()
                        || row.name.to_lowercase().contains(&filter)
                        || row.kind.contains(&filter)
                        || row.last.as_ref().is_some_and(|(_, outcome)| {
                            outcome.detail.to_lowercase().contains(&filter)
                        })
                })
                .collect();
        let latency = |row: &ServiceRow| {
            row.last
                .as_ref()
                .and_then(|(_, outcome)| outcome.latency)
                .unwrap_or_default()
        };
        match self.service_sort {
            ServiceSort::Configured => {}
            ServiceSort::WorstFirst => rows.sort_by_key(|row| std::cmp::Reverse(row.level)),
            ServiceSort::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
            ServiceSort::SlowestFirst => rows.sort_by_key(|row| std::cmp::Reverse(latency(row))),
        }
        rows
    }

    pub fn selected_service(&self) -> Option<&ServiceRow> {
        self.visible_services().get(self.service_selected).copied()
    }

    pub fn selected_task(&self) -> Option<&TaskRow> {
        self.tasks.get(self.task_selected)
    }

    /// The run whose output the tasks pane shows: the selected task's newest run.
    pub fn shown_run(&self) -> Option<(&TaskRun, Vec<&str>)> {
        let last = self.selected_task()?.last.as_ref()?;
        match self.runs.get(&last.id) {
            Some(view) => Some((&view.run, view.lines.iter().map(String::as_str).collect())),
            None => Some((last, last.output.lines().collect())),
        }
    }

    /// When the resources data is older than three intervals, how old it is.
    pub fn resources_stale_for(&self) -> Option<chrono::TimeDelta> {
        let taken = self.resources.as_ref()?.sample.taken_at;
        let age = self.now - taken;
        let limit =
            chrono::TimeDelta::from_std(self.interval * 3).unwrap_or(chrono::TimeDelta::MAX);
        (age > limit.max(chrono::TimeDelta::seconds(3))).then_some(age)
    }

    pub fn open_alert_count(&self) -> usize {
        self.alerts.iter().filter(|alert| alert.is_open()).count()
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Request> {
        match msg {
            Msg::Key(key) => return self.on_key(key),
            Msg::Runner(event) => {
                // A backup task changed what is on disk or what is known about it.
                let refresh = matches!(&event, Event::TaskFinished(run)
                    if crate::core::backups::tasks::TASK_IDS.contains(&run.task_id.as_str()));
                self.on_event(event);
                if refresh {
                    return vec![Request::RefreshBackups];
                }
            }
            Msg::Tick(now) => self.on_tick(now),
            Msg::ScrollUp => self.act(Action::Up),
            Msg::ScrollDown => self.act(Action::Down),
        }
        Vec::new()
    }

    fn on_key(&mut self, key: KeyChord) -> Vec<Request> {
        if self.note_editor.is_some() {
            return self.edit_note(key);
        }
        if self.filter_editing {
            self.edit_filter(key);
            return Vec::new();
        }
        if self.popup.is_some() {
            return match self.keymap.resolve(key) {
                Some(action) => self.popup_action(action),
                None => Vec::new(),
            };
        }
        match self.keymap.resolve(key) {
            Some(Action::Refresh) => {
                self.set_notice("refreshing…", Status::Ok);
                vec![Request::RefreshNow]
            }
            Some(Action::RunTask) if !self.show_help && self.focus == Pane::Queries => {
                self.query_open()
            }
            Some(
                action @ (Action::NextView
                | Action::NextDatabase
                | Action::Mark
                | Action::CancelQuery
                | Action::TerminateSession),
            ) if !self.show_help => {
                self.focus = Pane::Queries;
                self.query_action(action)
            }
            Some(Action::VerifyBackup) if !self.show_help => {
                self.backup_action(BackupAction::Verify)
            }
            Some(Action::PruneBackups) if !self.show_help => {
                self.backup_action(BackupAction::Prune)
            }
            Some(Action::RestoreTest) if !self.show_help => {
                self.backup_action(BackupAction::RestoreTest)
            }
            Some(Action::CreateBackup) if !self.show_help => {
                self.backup_action(BackupAction::Create)
            }
            Some(Action::Sort) if !self.show_help && self.focus == Pane::Queries => {
                self.query_action(Action::Sort)
            }
            Some(action @ (Action::RunTask | Action::History))
                if !self.show_help && self.focus == Pane::Checklists =>
            {
                self.checklist_pane_action(action)
            }
            Some(Action::RunTask) if !self.show_help && self.focus == Pane::Backups => {
                if let Some(set) = self
                    .backups
                    .selected_row()
                    .map(|row| row.report.set.clone())
                {
                    self.popup = Some(Popup::Backup { set, scroll: 0 });
                    self.dirty = true;
                }
                Vec::new()
            }
            Some(Action::RunTask) if !self.show_help && self.focus == Pane::Services => {
                if let Some(name) = self.selected_service().map(|row| row.name.clone()) {
                    self.popup = Some(Popup::Service { name });
                    self.dirty = true;
                }
                Vec::new()
            }
            Some(Action::Recheck) if !self.show_help => match self.selected_service() {
                Some(row) => {
                    let name = row.name.clone();
                    self.set_notice(&format!("checking {name}…"), Status::Ok);
                    vec![Request::CheckService { name }]
                }
                None => Vec::new(),
            },
            Some(Action::Filter) if !self.show_help => {
                self.focus = Pane::Services;
                self.filter_editing = true;
                self.dirty = true;
                Vec::new()
            }
            Some(Action::Sort) if !self.show_help => {
                self.service_sort = self.service_sort.next();
                self.service_selected = 0;
                let label = self.service_sort.label();
                self.set_notice(&format!("services sorted {label}"), Status::Ok);
                Vec::new()
            }
            Some(
                action
                @ (Action::RunTask | Action::PlanTask | Action::CancelTask | Action::History),
            ) if !self.show_help => self.task_action(action),
            Some(action) => {
                self.act(action);
                Vec::new()
            }
            None if !self.show_help && self.tasks.iter().any(|task| task.key == Some(key)) => {
                self.task_selected = self
                    .tasks
                    .iter()
                    .position(|task| task.key == Some(key))
                    .unwrap_or(0);
                self.focus = Pane::Tasks;
                self.output_scroll = 0;
                self.task_action(Action::RunTask)
            }
            None if key.ctrl && key.code == KeyCode::Char('c') => {
                let quit_keys = self.keys_text(Action::Quit);
                self.set_notice(
                    &format!(
                        "Ctrl-C does not quit here: press {quit_keys} (or bind it in [keys] quit)"
                    ),
                    Status::Warn,
                );
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    fn edit_filter(&mut self, key: KeyChord) {
        self.dirty = true;
        match key.code {
            KeyCode::Enter | KeyCode::Esc => self.filter_editing = false,
            KeyCode::Backspace => {
                self.service_filter.pop();
            }
            KeyCode::Char(ch) if !key.ctrl && !key.alt => self.service_filter.push(ch),
            _ => {}
        }
        self.service_selected = 0;
    }

    fn task_action(&mut self, action: Action) -> Vec<Request> {
        self.dirty = true;
        let Some(task) = self.selected_task() else {
            self.set_notice("no tasks configured", Status::Warn);
            return Vec::new();
        };
        let task_id = task.info.id.clone();
        let destructive = task.info.destructive;
        let running = task
            .last
            .as_ref()
            .filter(|run| run.status == RunStatus::Running)
            .map(|run| run.id.clone());
        match action {
            Action::RunTask if destructive && self.host.read_only => {
                self.set_notice(
                    &format!("read-only: {task_id} changes the system and is refused"),
                    Status::Warn,
                );
                Vec::new()
            }
            Action::RunTask if destructive => {
                self.awaiting_plan = Some((task_id.clone(), true));
                self.set_notice(&format!("planning {task_id}…"), Status::Ok);
                vec![Request::PlanTask {
                    task_id,
                    params: Params::new(),
                }]
            }
            Action::RunTask => vec![Request::StartTask {
                task_id,
                params: Params::new(),
                confirmed: false,
            }],
            Action::PlanTask => {
                self.awaiting_plan = Some((task_id.clone(), false));
                self.set_notice(&format!("planning {task_id}…"), Status::Ok);
                vec![Request::PlanTask {
                    task_id,
                    params: Params::new(),
                }]
            }
            Action::CancelTask => match running {
                Some(run_id) => {
                    self.set_notice(&format!("cancelling {task_id}…"), Status::Warn);
                    vec![Request::CancelRun { run_id }]
                }
                None => {
                    self.set_notice(&format!("{task_id} is not running"), Status::Ok);
                    Vec::new()
                }
            },
            _ => {
                self.popup = Some(Popup::History {
                    task_id: task_id.clone(),
                    runs: Vec::new(),
                    selected: 0,
                    loaded: false,
                });
                vec![Request::LoadHistory {
                    task_id: Some(task_id),
                }]
            }
        }
    }

    fn popup_action(&mut self, action: Action) -> Vec<Request> {
        self.dirty = true;
        let Some(popup) = self.popup.as_mut() else {
            return Vec::new();
        };
        if let Popup::Checklist(run_popup) = popup {
            let run_popup = run_popup.clone();
            return self.checklist_popup_action(run_popup, action);
        }
        match (popup, action) {
            (_, Action::Quit) => self.should_quit = true,
            (_, Action::Close) => self.popup = None,
            (
                Popup::Plan {
                    task_id,
                    params,
                    confirm: true,
                    ..
                },
                Action::Confirm | Action::RunTask,
            ) => {
                let request = Request::StartTask {
                    task_id: task_id.clone(),
                    params: params.clone(),
                    confirmed: true,
                };
                self.popup = None;
                return vec![request];
            }
            (Popup::Plan { .. }, Action::RunTask) => self.popup = None,
            (Popup::History { selected, .. }, Action::Up) => *selected = selected.saturating_sub(1),
            (Popup::History { runs, selected, .. }, Action::Down) => {
                *selected = (*selected + 1).min(runs.len().saturating_sub(1))
            }
            (Popup::History { runs, selected, .. }, Action::RunTask) => {
                if let Some(run) = runs.get(*selected).cloned() {
                    self.popup = Some(Popup::RunOutput {
                        run: Box::new(run),
                        scroll: 0,
                    });
                }
            }
            (Popup::ChecklistHistory { selected, .. }, Action::Up) => {
                *selected = selected.saturating_sub(1)
            }
            (
                Popup::ChecklistHistory {
                    periods, selected, ..
                },
                Action::Down,
            ) => *selected = (*selected + 1).min(periods.len().saturating_sub(1)),
            (
                Popup::ChecklistHistory {
                    checklist,
                    periods,
                    selected,
                    ..
                },
                Action::RunTask,
            ) => {
                if let Some((period, _, _)) = periods.get(*selected) {
                    let (checklist, period) = (checklist.clone(), period.clone());
                    self.popup = Some(Popup::Checklist(RunPopup {
                        checklist: checklist.clone(),
                        period: Some(period.clone()),
                        item: 0,
                        walkthrough: false,
                    }));
                    return vec![Request::LoadChecklistRun {
                        checklist,
                        period: Some(period),
                    }];
                }
            }
            (Popup::Backup { scroll, .. }, Action::Up) => *scroll = scroll.saturating_sub(1),
            (Popup::Backup { scroll, .. }, Action::Down) => *scroll = scroll.saturating_add(1),
            (Popup::Backup { scroll, .. }, Action::PageUp) => *scroll = scroll.saturating_sub(10),
            (Popup::Backup { scroll, .. }, Action::PageDown) => *scroll = scroll.saturating_add(10),
            (Popup::Backup { scroll, .. }, Action::Top) => *scroll = 0,
            (
                Popup::Backup { .. },
                action @ (Action::VerifyBackup
                | Action::PruneBackups
                | Action::RestoreTest
                | Action::CreateBackup),
            ) => {
                self.popup = None;
                let backup_action = match action {
                    Action::VerifyBackup => BackupAction::Verify,
                    Action::PruneBackups => BackupAction::Prune,
                    Action::RestoreTest => BackupAction::RestoreTest,
                    _ => BackupAction::Create,
                };
                return self.backup_action(backup_action);
            }
            (Popup::Service { name }, Action::Recheck) => {
                let name = name.clone();
                self.set_notice(&format!("checking {name}…"), Status::Ok);
                return vec![Request::CheckService { name }];
            }
            (Popup::RunOutput { scroll, .. }, Action::Up) => *scroll = scroll.saturating_sub(1),
            (Popup::RunOutput { scroll, .. }, Action::Down) => *scroll = scroll.saturating_add(1),
            (Popup::RunOutput { scroll, .. }, Action::PageUp) => {
                *scroll = scroll.saturating_sub(10)
            }
            (Popup::RunOutput { scroll, .. }, Action::PageDown) => {
                *scroll = scroll.saturating_add(10)
            }
            _ => {}
        }
        Vec::new()
    }

    fn keys_text(&self, action: Action) -> String {
        let keys: Vec<String> = self
            .keymap
            .keys_for(action)
            .iter()
            .map(ToString::to_string)
            .collect();
        if keys.is_empty() {
            "(unbound)".into()
        } else {
            keys.join("/")
        }
    }

    fn set_notice(&mut self, text: &str, level: Status) {
        self.notice = Some(Notice {
            text: text.to_owned(),
            level,
            until: self.now + NOTICE_TIME,
        });
        self.dirty = true;
    }

    fn act(&mut self, action: Action) {
        self.dirty = true;
        if self.show_help {
            match action {
                Action::Quit => self.should_quit = true,
                Action::Help | Action::Close => self.show_help = false,
                Action::Up => self.help_scroll = self.help_scroll.saturating_sub(1),
                Action::Down => self.help_scroll = self.help_scroll.saturating_add(1),
                Action::PageUp => self.help_scroll = self.help_scroll.saturating_sub(10),
                Action::PageDown => self.help_scroll = self.help_scroll.saturating_add(10),
                Action::Top => self.help_scroll = 0,
                _ => {}
            }
            return;
        }
        let last_alert = self.alerts.len().saturating_sub(1);
        match action {
            Action::Quit => self.should_quit = true,
            Action::Help => {
                self.show_help = true;
                self.help_scroll = 0;
            }
            Action::Close => self.notice = None,
            Action::NextPane | Action::PrevPane => {
                let forward = action == Action::NextPane;
                self.focus = self.focus.step(forward);
                while !self.pane_shown(self.focus) {
                    self.focus = self.focus.step(forward);
                }
            }
            Action::Refresh
            | Action::RunTask
            | Action::PlanTask
            | Action::CancelTask
            | Action::History
            | Action::Confirm
            | Action::Filter
            | Action::Sort
            | Action::Recheck
            | Action::NextView
            | Action::NextDatabase
            | Action::Mark
            | Action::CancelQuery
            | Action::TerminateSession
            | Action::VerifyBackup
            | Action::PruneBackups
            | Action::RestoreTest
            | Action::CreateBackup
            | Action::SkipItem
            | Action::NoteItem
            | Action::SignOff => {}
            Action::Up | Action::Down | Action::Top | Action::Bottom
                if self.focus == Pane::Queries =>
            {
                let last = self.query_rows().saturating_sub(1);
                self.query_selected = step(self.query_selected, action, last);
            }
            Action::Up | Action::Down | Action::Top | Action::Bottom
                if self.focus == Pane::Services =>
            {
                let last = self.visible_services().len().saturating_sub(1);
                self.service_selected = step(self.service_selected, action, last);
            }
            Action::Up | Action::Down | Action::Top | Action::Bottom
                if self.focus == Pane::Tasks =>
            {
                let last = self.tasks.len().saturating_sub(1);
                self.task_selected = match action {
                    Action::Up => self.task_selected.saturating_sub(1),
                    Action::Down => (self.task_selected + 1).min(last),
                    Action::Top => 0,
                    _ => last,
                };
                self.output_scroll = 0;
            }
            Action::Up | Action::Down | Action::Top | Action::Bottom
                if self.focus == Pane::Backups =>
            {
                let last = self.backups.configured.len().saturating_sub(1);
                self.backups
                    .select(step(self.backups.selected, action, last));
            }
            Action::Up | Action::Down | Action::Top | Action::Bottom
                if self.focus == Pane::Checklists =>
            {
                let last = self.checklists.definitions.len().saturating_sub(1);
                self.checklists.selected = step(self.checklists.selected, action, last);
            }
            Action::PageUp | Action::PageDown if self.focus == Pane::Backups => {
                self.backups.scroll_files(action == Action::PageDown);
            }
            Action::PageUp if self.focus == Pane::Tasks => self.output_scroll += 10,
            Action::PageDown if self.focus == Pane::Tasks => {
                self.output_scroll = self.output_scroll.saturating_sub(10);
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                if self.focus != Pane::Alerts {
                    self.focus = Pane::Alerts;
                }
                self.alert_selected = match action {
                    Action::Up => self.alert_selected.saturating_sub(1),
                    Action::Down => (self.alert_selected + 1).min(last_alert),
                    Action::PageUp => self.alert_selected.saturating_sub(10),
                    Action::PageDown => (self.alert_selected + 10).min(last_alert),
                    Action::Top => 0,
                    _ => last_alert,
                };
            }
        }
    }

    fn on_tick(&mut self, now: DateTime<Utc>) {
        let before = (
            self.now.timestamp() / 60,
            self.resources_stale_for().map(|age| age.num_seconds()),
        );
        self.now = now;
        let after = (
            now.timestamp() / 60,
            self.resources_stale_for().map(|age| age.num_seconds()),
        );
        // A running task's elapsed time is on screen.
        let running = self.tasks.iter().any(|task| {
            task.last
                .as_ref()
                .is_some_and(|run| run.status == RunStatus::Running)
        });
        if before != after || running {
            self.dirty = true;
        }
        if self
            .notice
            .as_ref()
            .is_some_and(|notice| notice.until <= now)
        {
            self.notice = None;
            self.dirty = true;
        }
    }

    fn on_event(&mut self, event: Event) {
        self.dirty = true;
        match event {
            Event::Resources {
                sample,
                evaluations,
            } => self.on_resources(*sample, evaluations),
            Event::Backups {
                reports,
                evaluations,
            } => {
                self.checklists.remember(&evaluations);
                self.backups.on_reports(reports, &evaluations, self.now)
            }
            Event::ChecklistRuns(runs) => self.checklists.on_runs(runs, self.now),
            Event::ChecklistRun(run) => {
                self.notice = None;
                self.checklists.on_run(run)
            }
            Event::ChecklistPeriods {
                checklist,
                periods: loaded_periods,
            } => {
                if let Some(Popup::ChecklistHistory {
                    checklist: shown,
                    periods,
                    loaded,
                    ..
                }) = self.popup.as_mut()
                    && *shown == checklist
                {
                    *periods = loaded_periods;
                    *loaded = true;
                }
            }
            Event::ChecklistRefused(message) => self.set_notice(&message, Status::Warn),
            Event::Judged(evaluations) => self.checklists.remember(&evaluations),
            Event::AlertsLoaded(alerts) => {
                self.alerts = alerts;
                self.sort_alerts();
            }
            Event::AlertChanged(alert) => {
                match self.alerts.iter_mut().find(|known| known.id == alert.id) {
                    Some(known) => *known = alert,
                    None => self.alerts.push(alert),
                }
                self.sort_alerts();
            }
            Event::TaskPlanned {
                task_id,
                params,
                plan,
            } => self.on_plan(task_id, params, plan),
            Event::TaskStarted(run) => {
                self.set_notice(&format!("{} started", run.task_id), Status::Ok);
                self.runs.insert(
                    run.id.clone(),
                    RunView {
                        run: run.clone(),
                        lines: VecDeque::new(),
                    },
                );
                self.set_last_run(run);
            }
            Event::TaskOutput { run_id, line } => {
                if let Some(view) = self.runs.get_mut(&run_id) {
                    view.lines.push_back(line);
                    if view.lines.len() > SCREEN_LINES_PER_RUN {
                        view.lines.pop_front();
                    }
                }
            }
            Event::TaskFinished(run) => {
                let summary = run.summary.clone().unwrap_or_default();
                self.set_notice(
                    &format!("{} {}: {summary}", run.task_id, run.status.as_str()),
                    run.status.health(),
                );
                if let Some(view) = self.runs.get_mut(&run.id) {
                    view.run = run.clone();
                }
                self.set_last_run(run);
            }
            Event::TaskRefused { reason, run, .. } => {
                self.set_notice(&reason, Status::Warn);
                if let Some(run) = run {
                    self.set_last_run(run);
                }
            }
            Event::TaskHistory {
                task_id: None,
                runs,
            } => {
                for run in runs.into_iter().rev() {
                    self.set_last_run(run);
                }
            }
            Event::TaskHistory {
                task_id: Some(task_id),
                runs,
            } => {
                if let Some(Popup::History {
                    task_id: shown,
                    runs: listed,
                    loaded,
                    ..
                }) = self.popup.as_mut()
                    && *shown == task_id
                {
                    *listed = runs;
                    *loaded = true;
                }
            }
            Event::ServiceChecked {
                name,
                state,
                level,
                checked_at,
                outcome,
            } => {
                if let Some(row) = self.services.iter_mut().find(|row| row.name == name) {
                    row.state = state;
                    row.level = if state == ServiceState::Down {
                        Status::Crit
                    } else {
                        level
                    };
                    let latency = outcome
                        .latency
                        .map(|latency| latency.as_secs_f64() * 1000.0);
                    row.recent.push_back((checked_at, outcome.ok, latency));
                    if row.recent.len() > SCREEN_RESULTS_PER_SERVICE {
                        row.recent.pop_front();
                    }
                    if !outcome.ok {
                        row.last_error = Some((checked_at, outcome.detail.clone()));
                    }
                    row.last = Some((checked_at, outcome));
                }
            }
            Event::Queries(snapshot) => {
                if let Some(database) = self
                    .databases
                    .iter_mut()
                    .find(|db| db.name == snapshot.database)
                {
                    database.snapshot = Some(*snapshot);
                }
                // Sessions come and go: forget marks on pids no longer listed.
                let listed: Vec<i32> = self
                    .current_database()
                    .and_then(|db| db.snapshot.as_ref())
                    .and_then(|snapshot| snapshot.sessions.as_ref().ok())
                    .map(|sessions| sessions.iter().map(|session| session.pid).collect())
                    .unwrap_or_default();
                self.marked_pids.retain(|pid| listed.contains(pid));
                self.query_selected = self.query_selected.min(self.query_rows().saturating_sub(1));
            }
            Event::ServiceAvailability(figures) => {
                for (name, day, week) in figures {
                    if let Some(row) = self.services.iter_mut().find(|row| row.name == name) {
                        row.availability_24h = day;
                        row.availability_7d = week;
                    }
                }
            }
            Event::Warning { source, message } => {
                let problem = Some(Problem {
                    message,
                    at: self.now,
                });
                // Store and notification problems concern alerts; they are shown there.
                if source == "store" || source == "notify" {
                    self.store_problem = problem;
                } else {
                    self.resources_problem = problem;
                }
            }
        }
    }

    fn on_plan(
        &mut self,
        task_id: String,
        params: Params,
        plan: Result<crate::core::tasks::Plan, String>,
    ) {
        let Some((awaited, confirm)) = self.awaiting_plan.take() else {
            return;
        };
        if awaited != task_id {
            self.awaiting_plan = Some((awaited, confirm));
            return;
        }
        self.notice = None;
        let (lines, confirm) = match plan {
            Ok(plan) => {
                let refused = plan.refusal.is_some();
                (plan.lines(), confirm && !refused)
            }
            Err(error) => (vec![format!("cannot plan {task_id}: {error}")], false),
        };
        self.popup = Some(Popup::Plan {
            task_id,
            params,
            lines,
            confirm,
        });
    }

    /// Keeps a task's newest run, whichever way it arrived (history, start, finish).
    fn set_last_run(&mut self, run: TaskRun) {
        if let Some(row) = self.tasks.iter_mut().find(|row| row.info.id == run.task_id) {
            let newer = row
                .last
                .as_ref()
                .is_none_or(|last| last.id == run.id || last.started_at <= run.started_at);
            if newer {
                row.last = Some(run);
            }
        }
    }

    fn on_resources(&mut self, sample: ResourceSample, evaluations: Vec<Evaluation>) {
        self.checklists.remember(&evaluations);
        self.now = self.now.max(sample.taken_at);
        let at = sample.taken_at;
        if let Some(cpu) = sample.cpu_total_pct {
            self.history.record("cpu", at, cpu);
        }
        self.history.record("memory", at, sample.memory.used_pct());
        for net in &sample.networks {
            if let (Some(rx), Some(tx)) = (net.rx_bytes_per_s, net.tx_bytes_per_s) {
                self.history
                    .record(&format!("net:{}", net.interface), at, rx + tx);
            }
        }
        let statuses = evaluations
            .into_iter()
            .map(|evaluation| (evaluation.metric.key(), evaluation.status))
            .collect();
        self.resources = Some(ResourceView { sample, statuses });
        self.resources_problem = None;
    }

    fn sort_alerts(&mut self) {
        self.alerts.sort_by(|a, b| {
            b.is_open()
                .cmp(&a.is_open())
                .then(b.opened_at.cmp(&a.opened_at))
        });
        self.alert_selected = self.alert_selected.min(self.alerts.len().saturating_sub(1));
    }
}

/// A key as the note editor understands it.
fn textarea_input(key: KeyChord) -> tui_textarea::Input {
    use tui_textarea::Key;
    let code = match key.code {
        KeyCode::Char(ch) => Key::Char(ch),
        KeyCode::F(number) => Key::F(number),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab | KeyCode::BackTab => Key::Tab,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Delete => Key::Delete,
        KeyCode::Insert => Key::Null,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
    };
    tui_textarea::Input {
        key: code,
        ctrl: key.ctrl,
        alt: key.alt,
        shift: false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::config::keymap::KeyList;
    use crate::core::model::Unit;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn host() -> HostInfo {
        HostInfo {
            hostname: "h".into(),
            user: "u".into(),
            environment: String::new(),
            read_only: false,
        }
    }

    fn app(keymap: Keymap) -> AppState {
        AppState::new(host(), keymap, Duration::from_secs(1), Vec::new(), at(0))
    }

    fn key(name: &str) -> Msg {
        Msg::Key(KeyChord::parse(name).unwrap())
    }

    fn alert(id: &str, opened: i64, resolved: Option<i64>) -> Alert {
        Alert {
            id: id.into(),
            key: "cpu.used_pct".into(),
            metric: "cpu.used_pct".into(),
            instance: None,
            level: Status::Warn,
            opened_at: at(opened),
            resolved_at: resolved.map(at),
            peak: 85.0,
            threshold: 80.0,
            unit: Unit::Percent,
        }
    }

    #[test]
    fn help_opens_and_closes_and_q_quits_from_it() {
        let mut state = app(Keymap::default());
        state.update(key("?"));
        assert!(state.show_help);
        state.update(key("esc"));
        assert!(!state.show_help);
        state.update(key("f1"));
        assert!(state.show_help);
        state.update(key("q"));
        assert!(state.should_quit);
    }

    #[test]
    fn ctrl_c_does_not_quit_by_default_but_says_how() {
        let mut state = app(Keymap::default());
        state.update(key("ctrl-c"));
        assert!(!state.should_quit);
        let notice = state.notice.clone().expect("a hint");
        assert!(notice.text.contains("press q"), "{}", notice.text);
        state.update(Msg::Tick(at(10)));
        assert!(state.notice.is_none(), "the hint expires");
    }

    #[test]
    fn remapped_keys_are_honoured() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            Action::Quit,
            KeyList(vec![KeyChord::parse("ctrl-c").unwrap()]),
        );
        let mut state = app(Keymap::new(&overrides));
        state.update(key("q"));
        assert!(!state.should_quit);
        state.update(key("ctrl-c"));
        assert!(state.should_quit);
    }

    #[test]
    fn refresh_asks_the_runner() {
        let mut state = app(Keymap::default());
        assert_eq!(state.update(key("r")), vec![Request::RefreshNow]);
        assert!(state.update(key("x")).is_empty());
    }

    #[test]
    fn alert_changes_replace_by_id_and_open_alerts_sort_first() {
        let mut state = app(Keymap::default());
        state.update(Msg::Runner(Event::AlertsLoaded(vec![
            alert("old", -500, Some(-400)),
            alert("a", -100, None),
        ])));
        state.update(Msg::Runner(Event::AlertChanged(alert("b", -50, None))));
        let ids: Vec<&str> = state.alerts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "old"]);
        state.update(Msg::Runner(Event::AlertChanged(alert("b", -50, Some(-10)))));
        let ids: Vec<&str> = state.alerts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "old"]);
        assert_eq!(state.open_alert_count(), 1);
    }

    #[test]
    fn selection_moves_focus_to_alerts_and_stays_in_range() {
        let mut state = app(Keymap::default());
        state.update(Msg::Runner(Event::AlertsLoaded(vec![
            alert("a", -1, None),
            alert("b", -2, None),
        ])));
        state.update(key("G"));
        assert_eq!(state.focus, Pane::Alerts);
        assert_eq!(state.alert_selected, 1);
        state.update(key("j"));
        assert_eq!(state.alert_selected, 1);
        state.update(key("g"));
        assert_eq!(state.alert_selected, 0);
        state.update(key("tab"));
        assert_eq!(state.focus, Pane::Tasks);
        state.update(key("tab"));
        assert_eq!(state.focus, Pane::Resources);
    }

    #[test]
    fn a_quiet_tick_does_not_ask_for_a_redraw() {
        let mut state = app(Keymap::default());
        state.dirty = false;
        state.update(Msg::Tick(at(1)));
        assert!(!state.dirty, "nothing visible changed within the minute");
        state.update(Msg::Tick(at(61)));
        assert!(state.dirty, "the clock's minute changed");
    }
}
