//! What a key means. The names are the ones used in the `[keys]` section of the config.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Refresh,
    NextPane,
    PrevPane,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Close,
    RunTask,
    PlanTask,
    CancelTask,
    History,
    Confirm,
    Filter,
    Sort,
    Recheck,
    NextView,
    NextDatabase,
    Mark,
    CancelQuery,
    TerminateSession,
    VerifyBackup,
    PruneBackups,
    RestoreTest,
    CreateBackup,
    SkipItem,
    NoteItem,
    SignOff,
}

impl Action {
    pub const ALL: [Action; 32] = [
        Action::Quit,
        Action::Help,
        Action::Refresh,
        Action::NextPane,
        Action::PrevPane,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Close,
        Action::RunTask,
        Action::PlanTask,
        Action::CancelTask,
        Action::History,
        Action::Confirm,
        Action::Filter,
        Action::Sort,
        Action::Recheck,
        Action::NextView,
        Action::NextDatabase,
        Action::Mark,
        Action::CancelQuery,
        Action::TerminateSession,
        Action::VerifyBackup,
        Action::PruneBackups,
        Action::RestoreTest,
        Action::CreateBackup,
        Action::SkipItem,
        Action::NoteItem,
        Action::SignOff,
    ];

    /// The config name, e.g. `next_pane`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Refresh => "refresh",
            Action::NextPane => "next_pane",
            Action::PrevPane => "prev_pane",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Close => "close",
            Action::RunTask => "run_task",
            Action::PlanTask => "plan_task",
            Action::CancelTask => "cancel_task",
            Action::History => "history",
            Action::Confirm => "confirm",
            Action::Filter => "filter",
            Action::Sort => "sort",
            Action::Recheck => "recheck",
            Action::NextView => "next_view",
            Action::NextDatabase => "next_database",
            Action::Mark => "mark",
            Action::CancelQuery => "cancel_query",
            Action::TerminateSession => "terminate_session",
            Action::VerifyBackup => "verify_backup",
            Action::PruneBackups => "prune_backups",
            Action::RestoreTest => "restore_test",
            Action::CreateBackup => "create_backup",
            Action::SkipItem => "skip_item",
            Action::NoteItem => "note_item",
            Action::SignOff => "sign_off",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "quit opsdeck",
            Action::Help => "show or hide this help",
            Action::Refresh => "refresh every pane now",
            Action::NextPane => "focus the next pane",
            Action::PrevPane => "focus the previous pane",
            Action::Up => "move the selection up",
            Action::Down => "move the selection down",
            Action::PageUp => "scroll a page up",
            Action::PageDown => "scroll a page down",
            Action::Top => "go to the first row",
            Action::Bottom => "go to the last row",
            Action::Close => "close the popup",
            Action::RunTask => {
                "run the selected task (asks first if it changes anything), or open the selected service"
            }
            Action::PlanTask => "show what the selected task would do (dry run)",
            Action::CancelTask => "cancel the selected task's run",
            Action::History => "past runs of the selected task, with their output",
            Action::Confirm => "confirm the action shown in the popup",
            Action::Filter => "filter the services by name, kind or detail (Enter or Esc ends)",
            Action::Sort => {
                "sort: services (worst first, name, slowest) or statements (mean, total, calls, rows)"
            }
            Action::Recheck => "check the selected service again now",
            Action::NextView => {
                "queries pane: statements, sessions, table health; checklist: one item at a time or the list"
            }
            Action::NextDatabase => "queries pane: the next watched database",
            Action::Mark => "sessions: mark or unmark the selected session; checklist: done / undo",
            Action::CancelQuery => {
                "sessions: cancel query (pg_cancel_backend) of the marked or selected ones"
            }
            Action::TerminateSession => {
                "sessions: terminate session (pg_terminate_backend) of the marked or selected ones"
            }
            Action::VerifyBackup => {
                "backups: verify every file of the selected set (decompress, list, checksum)"
            }
            Action::PruneBackups => {
                "backups: delete what the selected set's retention allows (shows the files first)"
            }
            Action::RestoreTest => {
                "backups: restore the selected set's newest dump into a throwaway database (asks first)"
            }
            Action::CreateBackup => "backups: make a backup of the selected set now (asks first)",
            Action::SkipItem => "checklist: skip the item, with a reason",
            Action::NoteItem => "checklist: add a note to the item (multi-line; Esc saves)",
            Action::SignOff => "checklist: sign the run off once every item is done or skipped",
        }
    }

    /// Short label for the footer; `None` keeps the action out of the footer.
    pub fn hint(self) -> Option<&'static str> {
        match self {
            Action::Quit => Some("quit"),
            Action::Help => Some("help"),
            Action::Refresh => Some("refresh"),
            Action::NextPane => Some("pane"),
            Action::RunTask => Some("run"),
            Action::PlanTask => Some("plan"),
            Action::CancelTask => Some("cancel"),
            Action::History => Some("history"),
            _ => None,
        }
    }
}
