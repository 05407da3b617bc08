//! Keys while a modal is open: the help, a popup (plan, history, detail, checklist run), a form
//! or the note editor. The popups' own scrolling and selection live with their state in
//! [`crate::tui::modal`]; what is here needs the console: starting a task, focusing a pane,
//! writing to a checklist run.

use super::AppState;
use crate::config::action::Action;
use crate::config::keymap::{KeyChord, KeyCode};
use crate::core::checklists::EntryKind;
use crate::core::model::Status;
use crate::core::protocol::Request;
use crate::core::tasks::Confirmed;
use crate::tui::form::{Form, Outcome};
use crate::tui::input::textarea_input;
use crate::tui::modal::{Modal, NoteEditor, NoteTarget, Popup, RunPopup, scrolled};
use crate::tui::panes::backups::backup_action_of;
use crate::tui::panes::checklists::{self, ChecklistsPane};
use crate::tui::panes::logs::LogsPane;
use crate::tui::panes::tasks::TasksPane;
use crate::tui::panes::{self, Pane};

impl AppState {
    /// Keys while the note editor is open: Esc stores the note (an empty one is dropped) and
    /// returns to the checklist run or incident timeline under it.
    pub(super) fn edit_note(
        &mut self,
        mut editor: NoteEditor,
        under: Popup,
        key: KeyChord,
    ) -> Vec<Request> {
        if key.code != KeyCode::Esc {
            editor.textarea.input(textarea_input(key));
            self.modal = Some(Modal::Note {
                editor: Box::new(editor),
                under: Box::new(under),
            });
            return Vec::new();
        }
        self.modal = Some(Modal::Popup(under));
        match editor.text() {
            Some(text) => {
                self.set_notice("saving…", Status::Ok);
                vec![editor.into_request(text)]
            }
            None => {
                self.set_notice("empty: nothing saved", Status::Ok);
                Vec::new()
            }
        }
    }

    /// Keys in a form: Enter sends what it makes (or shows the refusal in the form), Esc drops
    /// it. An action item is checked as the runner will check it: against the incident as last
    /// read, by this console's user, with today's local date.
    pub(super) fn form_key(&mut self, mut form: Form, key: KeyChord) -> Vec<Request> {
        let today = self.now.with_timezone(&chrono::Local).date_naive();
        match form.key(key, &self.host.user, today) {
            Outcome::Open => {
                self.modal = Some(Modal::Form(Box::new(form)));
                Vec::new()
            }
            Outcome::Cancelled => {
                self.set_notice("cancelled: nothing recorded", Status::Ok);
                Vec::new()
            }
            Outcome::Submitted(request) => {
                let doing = match &request {
                    Request::OpenIncident(opening) => format!(
                        "declaring {}: {}…",
                        opening.level.as_str(),
                        crate::tui::strings::printable(&opening.title)
                    ),
                    _ => "adding the action item…".to_owned(),
                };
                self.set_notice(&doing, Status::Ok);
                vec![request]
            }
        }
    }

    /// Keys in the help or a popup.
    pub(super) fn modal_action(&mut self, action: Action) -> Vec<Request> {
        match self.modal.take() {
            Some(Modal::Help { scroll }) => {
                match action {
                    Action::Quit => self.should_quit = true,
                    Action::Help | Action::Close => return Vec::new(),
                    _ => {}
                }
                let scroll = scrolled(scroll, action).unwrap_or(scroll);
                self.modal = Some(Modal::Help { scroll });
                Vec::new()
            }
            Some(Modal::Popup(popup)) => self.popup_action(popup, action),
            other => {
                self.modal = other;
                Vec::new()
            }
        }
    }

    fn popup_action(&mut self, mut popup: Popup, action: Action) -> Vec<Request> {
        if let Popup::Checklist(run_popup) = popup {
            return self.checklist_popup_action(run_popup, action);
        }
        if action == Action::Quit {
            self.should_quit = true;
            self.modal = Some(Modal::Popup(popup));
            return Vec::new();
        }
        if let Popup::LogLines(view) = popup {
            return self
                .with_ctx(Pane::Logs, |pane, ctx| {
                    panes::downcast_mut::<LogsPane>(pane)
                        .map(|logs| logs.lines_action(*view, action, ctx))
                })
                .flatten()
                .unwrap_or_default();
        }
        if let Popup::LogAttach(choice) = popup {
            return self
                .with_ctx(Pane::Logs, |_, ctx| {
                    LogsPane::choice_action(*choice, action, ctx)
                })
                .unwrap_or_default();
        }
        if popup.navigate(action) {
            self.modal = Some(Modal::Popup(popup));
            return Vec::new();
        }
        match (&popup, action) {
            (_, Action::Quit) => self.should_quit = true,
            (_, Action::Close) => return Vec::new(),
            (
                Popup::Plan {
                    task_id,
                    params,
                    actions,
                    confirm: true,
                    ..
                },
                Action::Confirm | Action::RunTask,
            ) => {
                return vec![Request::StartTask {
                    task_id: task_id.clone(),
                    params: params.clone(),
                    confirmed: Confirmed::Plan(actions.clone()),
                }];
            }
            (Popup::Plan { .. }, Action::RunTask) => return Vec::new(),
            (Popup::History { runs, selected, .. }, Action::RunTask) => {
                if let Some(run) = runs.get(*selected).cloned() {
                    popup = Popup::RunOutput {
                        run: Box::new(run),
                        scroll: 0,
                    };
                }
            }
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
                    self.modal = Some(Modal::Popup(Popup::Checklist(RunPopup {
                        checklist: checklist.clone(),
                        period: Some(period.clone()),
                        item: 0,
                        walkthrough: false,
                    })));
                    return vec![Request::LoadChecklistRun {
                        checklist: checklist.clone(),
                        period: Some(period.clone()),
                    }];
                }
            }
            (Popup::Backup { .. }, action) if backup_action_of(action).is_some() => {
                self.focus = Pane::Backups;
                return self.run_in(Pane::Backups, action);
            }
            (Popup::Report(view), Action::NextView) => {
                let mut view = view.clone();
                view.next_format();
                popup = Popup::Report(view);
            }
            (Popup::Report(view), Action::Confirm) if view.loaded => {
                let (kind, format) = (view.kind, view.format);
                self.modal = Some(Modal::Popup(popup));
                return vec![Request::SaveReport { kind, format }];
            }
            (Popup::Service { name }, Action::Recheck) => {
                let name = name.clone();
                self.modal = Some(Modal::Popup(popup));
                self.set_notice(&format!("checking {name}…"), Status::Ok);
                return vec![Request::CheckService { name }];
            }
            _ => {}
        }
        if self.modal.is_none() {
            self.modal = Some(Modal::Popup(popup));
        }
        Vec::new()
    }

    /// Keys in the checklist run popup.
    fn checklist_popup_action(&mut self, mut popup: RunPopup, action: Action) -> Vec<Request> {
        let Some(pane) = self.pane::<ChecklistsPane>() else {
            return Vec::new();
        };
        let Some(checklist) = pane.checklist(&popup.checklist).cloned() else {
            return Vec::new();
        };
        let last = checklist.items.len().saturating_sub(1);
        let item = checklist.items.get(popup.item.min(last)).cloned();
        let run = pane
            .run_of(&popup.checklist, popup.period.as_deref())
            .cloned();
        let mut requests = Vec::new();
        match action {
            Action::Close => return requests,
            Action::Quit => {
                self.should_quit = true;
                return requests;
            }
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                popup.item = panes::step(popup.item, action, last);
            }
            Action::NextView => popup.walkthrough = !popup.walkthrough,
            Action::Mark => {
                if let Some(item) = &item {
                    let kind = checklists::toggle_kind(run.as_ref(), item);
                    requests.push(Request::ChecklistEntry(checklists::entry(
                        &popup,
                        Some(item),
                        kind,
                        String::new(),
                    )));
                    if popup.walkthrough && kind == EntryKind::Tick {
                        popup.item = checklists::next_open(&checklist, run.as_ref(), popup.item);
                    }
                }
            }
            Action::SkipItem | Action::NoteItem => {
                let kind = if action == Action::SkipItem {
                    EntryKind::Skip
                } else {
                    EntryKind::Note
                };
                let editor = NoteEditor::new(NoteTarget::Checklist(checklists::entry(
                    &popup,
                    item.as_ref(),
                    kind,
                    String::new(),
                )));
                self.modal = Some(Modal::Note {
                    editor: Box::new(editor),
                    under: Box::new(Popup::Checklist(popup)),
                });
                return requests;
            }
            Action::SignOff => {
                requests.push(Request::ChecklistEntry(checklists::entry(
                    &popup,
                    None,
                    EntryKind::SignOff,
                    String::new(),
                )));
            }
            Action::RunTask => {
                if let Some(task_id) = item.as_ref().and_then(|item| item.task.clone()) {
                    let known = self
                        .pane_mut::<TasksPane>()
                        .is_some_and(|tasks| tasks.select_id(&task_id));
                    if known {
                        self.focus = Pane::Tasks;
                        return self.run_in(Pane::Tasks, Action::RunTask);
                    }
                    self.set_notice(
                        &format!("task {task_id} is not configured here"),
                        Status::Warn,
                    );
                }
            }
            _ => {}
        }
        self.modal = Some(Modal::Popup(Popup::Checklist(popup)));
        requests
    }
}
