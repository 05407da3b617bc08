//! What takes the keys above the panes, one at a time: the help, the services filter, the
//! command palette, a popup (plan, history, detail, checklist run…) or the note editor over the
//! checklist run it belongs to.

use chrono::{DateTime, Utc};
use tui_textarea::TextArea;

use crate::core::checklists::EntryKind;
use crate::core::checklists::service::EntryRequest;
use crate::core::model::TaskRun;
use crate::core::tasks::Params;

#[derive(Debug, Clone)]
pub enum Modal {
    Help {
        scroll: u16,
    },
    /// Typing the services filter (the text itself belongs to the services pane).
    Filter,
    Palette(PaletteInput),
    Popup(Popup),
    /// The note or skip-reason editor, over the checklist run it writes to.
    Note {
        editor: Box<NoteEditor>,
        under: Box<Popup>,
    },
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

/// The multi-line editor for a note or a skip reason.
#[derive(Debug, Clone)]
pub struct NoteEditor {
    pub target: EntryRequest,
    pub textarea: TextArea<'static>,
}

impl NoteEditor {
    pub fn new(target: EntryRequest) -> NoteEditor {
        let mut textarea = TextArea::default();
        textarea.set_placeholder_text(match target.kind {
            EntryKind::Skip => "why is this item skipped?",
            _ => "note",
        });
        NoteEditor { target, textarea }
    }

    /// The text as typed, lines joined with newlines; `None` when there is nothing.
    pub fn text(&self) -> Option<String> {
        let text = self.textarea.lines().join("\n");
        (!text.trim().is_empty()).then_some(text)
    }
}
