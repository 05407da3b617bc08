//! What takes the keys above the panes, one at a time: the help, the services filter, the
//! command palette, a popup (plan, history, detail, checklist run…), a form (declaring an
//! incident, an action item) or the note editor over the checklist run or incident timeline it
//! belongs to. The log line view and the choice of the incident a log finding goes to keep their
//! state here; their keys and drawing are the logs pane's.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use tui_textarea::TextArea;

use crate::config::action::Action;
use crate::config::keymap::{KeyChord, KeyCode};
use crate::core::checklists::EntryKind;
use crate::core::checklists::service::EntryRequest;
use crate::core::incidents::Change;
use crate::core::logs::findings::{LineFilter, LogLine};
use crate::core::model::{Status, TaskRun};
use crate::core::protocol::{Event, Request};
use crate::core::reports::{Format as ReportFormat, Kind as ReportKind};
use crate::core::tasks::Params;
use crate::tui::form::Form;

#[derive(Debug, Clone)]
pub enum Modal {
    Help {
        scroll: u16,
    },
    /// Typing the services filter (the text itself belongs to the services pane).
    Filter,
    Palette(PaletteInput),
    Popup(Popup),
    /// The note or skip-reason editor, over the checklist run or incident timeline it writes to.
    Note {
        editor: Box<NoteEditor>,
        under: Box<Popup>,
    },
    /// Declaring an incident, or adding an action item to one.
    Form(Box<Form>),
}

impl Modal {
    /// Fills a popup that was waiting for what the runner now sends (a task's runs, a
    /// checklist's past periods, a log source's lines); anything else leaves the modal as it is.
    pub fn apply(&mut self, event: &Event) {
        match (self, event) {
            (
                Modal::Popup(Popup::History {
                    task_id: shown,
                    runs: listed,
                    loaded,
                    ..
                }),
                Event::TaskHistory {
                    task_id: Some(task_id),
                    runs,
                },
            ) if shown == task_id => {
                listed.clone_from(runs);
                *loaded = true;
            }
            (
                Modal::Popup(Popup::ChecklistHistory {
                    checklist: shown,
                    periods,
                    loaded,
                    ..
                }),
                Event::ChecklistPeriods {
                    checklist,
                    periods: loaded_periods,
                },
            ) if shown == checklist => {
                periods.clone_from(loaded_periods);
                *loaded = true;
            }
            (Modal::Popup(Popup::LogLines(view)), event) => view.apply(event),
            (Modal::Popup(Popup::Report(view)), event) => view.apply(event),
            (Modal::Popup(Popup::Calendar { calendar, .. }), Event::Calendar(loaded)) => {
                *calendar = Some(loaded.clone());
            }
            _ => {}
        }
    }
}

/// How far a scroll moves for an action; `None` when the action does not scroll.
pub fn scrolled(scroll: u16, action: Action) -> Option<u16> {
    match action {
        Action::Up => Some(scroll.saturating_sub(1)),
        Action::Down => Some(scroll.saturating_add(1)),
        Action::PageUp => Some(scroll.saturating_sub(10)),
        Action::PageDown => Some(scroll.saturating_add(10)),
        Action::Top => Some(0),
        _ => None,
    }
}

/// What has been typed into the command palette, and the highlighted match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaletteInput {
    pub query: String,
    pub selected: usize,
}

/// An overlay that takes the keys until closed.
#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    /// What a task would do; with `confirm`, confirming runs it.
    Plan {
        task_id: String,
        params: Params,
        lines: Vec<String>,
        /// What confirming agrees to ([`crate::core::tasks::Plan::actions`]).
        actions: Vec<String>,
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
    /// A log source's lines (a signature's, a search's, or all), to filter, follow and attach.
    LogLines(Box<LinesView>),
    /// Choosing the open incident a log finding is attached to.
    LogAttach(Box<AttachChoice>),
    /// Read-only text, such as a statement's full query.
    Text {
        title: String,
        lines: Vec<String>,
    },
    /// A composed report, scrollable, to save as Markdown, HTML or JSON.
    Report(Box<ReportView>),
    /// The maintenance calendar: `None` until the runner sent it, or why it could not.
    Calendar {
        calendar: Option<Result<Box<crate::core::calendar::Calendar>, String>>,
        scroll: u16,
    },
}

/// The report view: the report as Markdown lines once the runner sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportView {
    pub kind: ReportKind,
    /// The title once composed.
    pub title: String,
    pub lines: Vec<String>,
    pub loaded: bool,
    pub scroll: u16,
    /// What saving writes.
    pub format: ReportFormat,
    /// Where the last save went, or why it failed.
    pub message: Option<(String, Status)>,
}

impl ReportView {
    pub fn new(kind: ReportKind) -> ReportView {
        ReportView {
            kind,
            title: kind.title().to_owned(),
            lines: Vec::new(),
            loaded: false,
            scroll: 0,
            format: ReportFormat::Markdown,
            message: None,
        }
    }

    /// Takes the report or the save's outcome it waits for.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::ReportComposed { kind, report } if *kind == self.kind => {
                self.loaded = true;
                match report {
                    Ok(report) => {
                        self.title = crate::core::reports::markdown::title(report);
                        self.lines = crate::core::reports::markdown::render(report)
                            .lines()
                            .map(str::to_owned)
                            .collect();
                    }
                    Err(error) => {
                        self.lines = vec![format!("no report: {error}")];
                    }
                }
            }
            Event::ReportSaved(saved) => {
                self.message = Some(match saved {
                    Ok(path) => (format!("saved {path}"), Status::Ok),
                    Err(error) => (error.clone(), Status::Warn),
                });
            }
            _ => {}
        }
    }

    /// The next format saving writes: Markdown, HTML, JSON, round.
    pub fn next_format(&mut self) {
        self.format = match self.format {
            ReportFormat::Markdown => ReportFormat::Html,
            ReportFormat::Html => ReportFormat::Json,
            ReportFormat::Json => ReportFormat::Markdown,
        };
    }
}

impl Popup {
    /// Moves the selection or the scroll of a list or text popup; whether the action did.
    pub fn navigate(&mut self, action: Action) -> bool {
        let moved_in = |selected: &mut usize, len: usize| match action {
            Action::Up => {
                *selected = selected.saturating_sub(1);
                true
            }
            Action::Down => {
                *selected = (*selected + 1).min(len.saturating_sub(1));
                true
            }
            _ => false,
        };
        match self {
            Popup::History { runs, selected, .. } => moved_in(selected, runs.len()),
            Popup::ChecklistHistory {
                periods, selected, ..
            } => moved_in(selected, periods.len()),
            Popup::Report(view) => match scrolled(view.scroll, action) {
                Some(moved) => {
                    view.scroll = moved.min(u16::try_from(view.lines.len()).unwrap_or(u16::MAX));
                    true
                }
                None => false,
            },
            Popup::Backup { scroll, .. }
            | Popup::RunOutput { scroll, .. }
            | Popup::Calendar { scroll, .. } => match scrolled(*scroll, action) {
                Some(moved) => {
                    *scroll = moved;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }
}

/// What the checklist popup shows: the current run, or a past one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPopup {
    pub checklist: String,
    /// `None`: the current period.
    pub period: Option<String>,
    /// The item under the cursor.
    pub item: usize,
    /// One item at a time (walkthrough) or the whole list.
    pub walkthrough: bool,
}

/// What a note is written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteTarget {
    /// A checklist entry (a note or a skip reason); the text goes into it.
    Checklist(EntryRequest),
    /// An incident's timeline, by incident id.
    Incident(String),
}

/// The multi-line editor for a note or a skip reason.
#[derive(Debug, Clone)]
pub struct NoteEditor {
    pub target: NoteTarget,
    pub textarea: TextArea<'static>,
}

impl NoteEditor {
    pub fn new(target: NoteTarget) -> NoteEditor {
        let mut textarea = TextArea::default();
        textarea.set_placeholder_text(match &target {
            NoteTarget::Checklist(entry) if entry.kind == EntryKind::Skip => {
                "why is this item skipped?"
            }
            NoteTarget::Checklist(_) => "note",
            NoteTarget::Incident(_) => "what happened, what was tried, what was seen",
        });
        NoteEditor { target, textarea }
    }

    /// The editor's title: what is being written.
    pub fn what(&self) -> &'static str {
        match &self.target {
            NoteTarget::Checklist(entry) if entry.kind == EntryKind::Skip => "Why skip",
            NoteTarget::Checklist(_) => "Note",
            NoteTarget::Incident(_) => "Incident note",
        }
    }

    /// The request that stores `text` where the note belongs.
    pub fn into_request(self, text: String) -> Request {
        match self.target {
            NoteTarget::Checklist(entry) => Request::ChecklistEntry(EntryRequest { text, ..entry }),
            NoteTarget::Incident(id) => Request::IncidentEntry {
                id,
                change: Change::Note {
                    text,
                    evidence: String::new(),
                },
            },
        }
    }

    /// The text as typed, lines joined with newlines; `None` when there is nothing.
    pub fn text(&self) -> Option<String> {
        let text = self.textarea.lines().join("\n");
        (!text.trim().is_empty()).then_some(text)
    }
}

/// An open incident a finding can be attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIncident {
    pub id: String,
    /// `P1 title (id)`, printable.
    pub label: String,
}

/// The line view: a source's lines passing a filter, as the runner sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct LinesView {
    pub source: String,
    /// What the lines shown were asked for with.
    pub filter: LineFilter,
    /// What the view was opened on; an empty search goes back to it.
    pub base: LineFilter,
    pub lines: Vec<LogLine>,
    pub loaded: bool,
    /// The first line shown.
    pub scroll: usize,
    /// Fetch again on each read and stay at the bottom.
    pub follow: bool,
    /// The search being typed.
    pub typing: Option<String>,
    /// What the last attach came to, shown in place.
    pub message: Option<(String, Status)>,
    /// The rows the lines had when last drawn, so scrolling up from the bottom moves at once.
    pub rows: Cell<usize>,
}

impl LinesView {
    pub fn new(source: &str, filter: LineFilter) -> LinesView {
        LinesView {
            source: source.to_owned(),
            filter: filter.clone(),
            base: filter,
            lines: Vec::new(),
            loaded: false,
            scroll: 0,
            follow: false,
            typing: None,
            message: None,
            rows: Cell::new(0),
        }
    }

    pub fn request(&self) -> Request {
        Request::LoadLogLines {
            source: self.source.clone(),
            filter: self.filter.clone(),
        }
    }

    /// Takes the lines it asked for.
    pub fn apply(&mut self, event: &Event) {
        if let Event::LogLines {
            source,
            filter,
            lines,
        } = event
            && *source == self.source
            && *filter == self.filter
        {
            self.lines.clone_from(lines);
            self.loaded = true;
        }
    }

    /// The request to fetch the lines again when a read comes in while following.
    pub fn follow_up(&self, event: &Event) -> Option<Request> {
        (self.follow && matches!(event, Event::Logs { .. })).then(|| self.request())
    }

    /// The first line on screen in `rows` rows.
    pub fn top(&self, rows: usize) -> usize {
        let last_top = self.lines.len().saturating_sub(rows);
        if self.follow {
            last_top
        } else {
            self.scroll.min(last_top)
        }
    }

    /// A key while the search is typed: Enter asks for the lines containing it (an empty one
    /// goes back to what the view was opened on), Esc stops typing.
    pub fn type_key(&mut self, key: KeyChord) -> Option<Request> {
        let typed = self.typing.as_mut()?;
        match key.code {
            KeyCode::Esc => self.typing = None,
            KeyCode::Enter => {
                let text = typed.trim().to_owned();
                self.typing = None;
                self.filter = if text.is_empty() {
                    self.base.clone()
                } else {
                    LineFilter::Text(text)
                };
                self.loaded = false;
                self.scroll = 0;
                return Some(self.request());
            }
            KeyCode::Backspace => {
                typed.pop();
            }
            KeyCode::Char(ch) if !key.ctrl && !key.alt => typed.push(ch),
            _ => {}
        }
        None
    }

    /// Scrolls for a selection key; whether it was one. Scrolling up stops following.
    pub fn scroll_by(&mut self, action: Action) -> bool {
        let rows = self.rows.get().max(1);
        let last_top = self.lines.len().saturating_sub(rows);
        let top = self.top(rows);
        self.scroll = match action {
            Action::Up => top.saturating_sub(1),
            Action::Down => (top + 1).min(last_top),
            Action::PageUp => top.saturating_sub(rows),
            Action::PageDown => (top + rows).min(last_top),
            Action::Top => 0,
            Action::Bottom => last_top,
            _ => return false,
        };
        if matches!(action, Action::Up | Action::PageUp | Action::Top) {
            self.follow = false;
        }
        true
    }
}

/// Choosing the open incident a finding goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachChoice {
    pub source: String,
    pub summary: String,
    pub lines: Vec<LogLine>,
    pub incidents: Vec<OpenIncident>,
    pub selected: usize,
    /// The line view it was started from, shown again afterwards.
    pub back: Option<Box<LinesView>>,
}

impl AttachChoice {
    pub fn request(&self) -> Option<Request> {
        let incident = self.incidents.get(self.selected)?;
        Some(Request::AttachLogFinding {
            incident: incident.id.clone(),
            source: self.source.clone(),
            summary: self.summary.clone(),
            lines: self.lines.clone(),
        })
    }
}
