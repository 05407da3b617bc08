//! What a key means. The names are the ones used in the `[keys]` section of the config; what an
//! action does in a given pane is that pane's to say (its commands), so the descriptions here are
//! the general meaning, shown for the keys that work everywhere.

use serde::{Deserialize, Serialize};

/// Where a pane-bound action works (see [`Action::home`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    Incidents,
    Logs,
    Containers,
}

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
    Zoom,
    Palette,
    Acknowledge,
    Mitigate,
    Resolve,
    RaiseLevel,
    LowerLevel,
    DeclareIncident,
    TakeCommand,
    AddActionItem,
    LogWindow,
    Follow,
    AttachFinding,
    TimeSpan,
    RestartContainer,
    StopContainer,
    StartContainer,
}

impl Action {
    pub const ALL: [Action; 49] = [
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
        Action::Zoom,
        Action::Palette,
        Action::Acknowledge,
        Action::Mitigate,
        Action::Resolve,
        Action::RaiseLevel,
        Action::LowerLevel,
        Action::DeclareIncident,
        Action::TakeCommand,
        Action::AddActionItem,
        Action::LogWindow,
        Action::Follow,
        Action::AttachFinding,
        Action::TimeSpan,
        Action::RestartContainer,
        Action::StopContainer,
        Action::StartContainer,
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
            Action::Zoom => "zoom",
            Action::Palette => "palette",
            Action::Acknowledge => "acknowledge",
            Action::Mitigate => "mitigate",
            Action::Resolve => "resolve",
            Action::RaiseLevel => "raise_level",
            Action::LowerLevel => "lower_level",
            Action::DeclareIncident => "declare_incident",
            Action::TakeCommand => "take_command",
            Action::AddActionItem => "add_action_item",
            Action::LogWindow => "log_window",
            Action::Follow => "follow",
            Action::AttachFinding => "attach_finding",
            Action::TimeSpan => "time_span",
            Action::RestartContainer => "restart_container",
            Action::StopContainer => "stop_container",
            Action::StartContainer => "start_container",
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
            Action::RunTask => "open or run the selected row",
            Action::PlanTask => "show what the selected task would do (dry run)",
            Action::CancelTask => "cancel the selected task's run",
            Action::History => "past runs of the selected row",
            Action::Confirm => "confirm the action shown in the popup",
            Action::Filter => "filter the rows",
            Action::Sort => "change the order of the rows",
            Action::Recheck => "check the selected row again now",
            Action::NextView => "the pane's next view",
            Action::NextDatabase => "the next watched database",
            Action::Mark => "mark or unmark the selected row",
            Action::CancelQuery => "cancel the query of the marked or selected sessions",
            Action::TerminateSession => "terminate the marked or selected sessions",
            Action::VerifyBackup => "verify every file of the selected backup set",
            Action::PruneBackups => "delete what the selected set's retention allows",
            Action::RestoreTest => {
                "restore the selected set's newest dump into a throwaway database"
            }
            Action::CreateBackup => "make a backup of the selected set now",
            Action::SkipItem => "skip the checklist item, with a reason",
            Action::NoteItem => "add a note to the checklist item",
            Action::SignOff => "sign the checklist run off",
            Action::Zoom => "zoom the focused pane to the whole screen, and back",
            Action::Palette => "command palette: jump to a pane, task, checklist, service…",
            Action::Acknowledge => "acknowledge the selected incident: you take the response on",
            Action::Mitigate => {
                "mark the selected incident mitigated (a workaround contains the impact)"
            }
            Action::Resolve => "mark the selected incident resolved (fixed)",
            Action::RaiseLevel => "make the selected incident one level more severe (P2 -> P1)",
            Action::LowerLevel => "make the selected incident one level less severe (P1 -> P2)",
            Action::DeclareIncident => {
                "declare an incident: from the selected alert, or by hand in the incidents pane"
            }
            Action::TakeCommand => {
                "take command of the selected incident (you become its commander)"
            }
            Action::AddActionItem => {
                "add a follow-up action item (owner, due date) to the selected incident"
            }
            Action::LogWindow => "the logs pane's histogram window: 15 min, 1 h, 24 h",
            Action::Follow => "follow the log lines shown: new lines as they come",
            Action::AttachFinding => "attach the log finding and its lines to an open incident",
            Action::TimeSpan => {
                "the time the gauges' and services' sparklines cover: 10 min, 6 h, 7 d, 30 d"
            }
            Action::RestartContainer => "restart the selected container (plan, confirm, audit)",
            Action::StopContainer => "stop the selected container (plan, confirm, audit)",
            Action::StartContainer => "start the selected container (plan, confirm, audit)",
        }
    }

    /// Changes a record the team shares (opens an incident, changes its stage or level, attaches
    /// a log finding to it): such a key acts only in its own pane, never passed on from another
    /// pane's focus, where a stray key would change an incident nobody was looking at, or
    /// declare one from an alert nobody had selected.
    pub fn needs_its_pane(self) -> bool {
        matches!(
            self,
            Action::Acknowledge
                | Action::Mitigate
                | Action::Resolve
                | Action::RaiseLevel
                | Action::LowerLevel
                | Action::DeclareIncident
                | Action::TakeCommand
                | Action::AddActionItem
                | Action::AttachFinding
                | Action::RestartContainer
                | Action::StopContainer
                | Action::StartContainer
        )
    }

    /// The one pane an action works in, for actions whose default key means another action in
    /// another pane (`a` acknowledges an incident in the incidents pane and attaches a log
    /// finding in the logs pane): the pane with the focus decides which one a shared key is.
    pub fn home(self) -> Option<Home> {
        match self {
            Action::Acknowledge
            | Action::Mitigate
            | Action::Resolve
            | Action::RaiseLevel
            | Action::LowerLevel
            | Action::TakeCommand
            | Action::AddActionItem => Some(Home::Incidents),
            Action::LogWindow | Action::Follow | Action::AttachFinding => Some(Home::Logs),
            Action::RestartContainer | Action::StopContainer | Action::StartContainer => {
                Some(Home::Containers)
            }
            _ => None,
        }
    }

    /// Moves a selection: every pane with rows has them; in the gauges they move the alerts'.
    pub fn is_selection(self) -> bool {
        matches!(
            self,
            Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom
        )
    }

    /// Keys that mean the same in every pane (the rest are the focused pane's commands).
    pub fn is_global(self) -> bool {
        matches!(
            self,
            Action::Quit
                | Action::Help
                | Action::Refresh
                | Action::NextPane
                | Action::PrevPane
                | Action::Close
                | Action::Zoom
                | Action::Palette
                | Action::TimeSpan
        )
    }

    /// Short label for the footer; `None` keeps the action out of the footer.
    pub fn hint(self) -> Option<&'static str> {
        match self {
            Action::Quit => Some("quit"),
            Action::Help => Some("help"),
            Action::Refresh => Some("refresh"),
            Action::NextPane => Some("pane"),
            Action::Zoom => Some("zoom"),
            Action::Palette => Some("go to"),
            _ => None,
        }
    }
}
