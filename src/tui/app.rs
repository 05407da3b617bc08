//! The console's state and its pure update function: `update(state, msg) -> requests`. Nothing
//! here does I/O; the event loop in [`crate::tui`] feeds messages in and sends the returned
//! requests to the runner.
//!
//! The state of each pane lives in its component ([`crate::tui::panes`]); this module keeps the
//! focus, the zoom, the one [`Modal`] that takes the keys, the notice, and the routing: a key goes
//! to the modal if one is open, else to the keys that work everywhere, else to the focused pane,
//! and an action the focused pane does not know goes to the one pane that lists it (`v` from the
//! services pane switches the queries view and focuses it).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::action::Action;
use crate::config::keymap::{KeyChord, KeyCode, Keymap};
use crate::core::checklists::{Checklist, EntryKind, Language};
use crate::core::checks::Evaluation;
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::core::tasks::{Params, TaskInfo};
use crate::tui::modal::{Modal, NoteEditor, PaletteInput, Popup, RunPopup};
use crate::tui::panes::alerts::AlertsPane;
use crate::tui::panes::backups::{BackupsPane, backup_action_of};
use crate::tui::panes::checklists::{self, ChecklistsPane};
use crate::tui::panes::queries::QueriesPane;
use crate::tui::panes::resources::ResourcesPane;
use crate::tui::panes::services::{ServiceRow, ServicesPane};
use crate::tui::panes::tasks::TasksPane;
use crate::tui::panes::{self, Component, Ctx, Handled, Notice, PaletteEntry, View};
use crate::tui::style::Look;

pub use crate::tui::panes::Pane;

/// Who and where: shown in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    pub hostname: String,
    pub user: String,
    pub environment: String,
    pub read_only: bool,
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

pub struct AppState {
    pub host: HostInfo,
    pub keymap: Keymap,
    pub now: DateTime<Utc>,
    pub focus: Pane,
    /// The focused pane fills the screen.
    pub zoomed: bool,
    pub modal: Option<Modal>,
    pub notice: Option<Notice>,
    /// A plan asked for, and whether it is to be confirmed and run once it arrives.
    pub awaiting_plan: Option<(String, bool)>,
    /// Every pane, in screen order ([`panes::all`]).
    pub panes: Vec<Box<dyn Component>>,
    /// The newest verdict of the rules on every metric, by series key.
    pub judged: HashMap<String, Evaluation>,
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
        let mut state = AppState {
            host,
            keymap,
            now,
            focus: Pane::Resources,
            zoomed: false,
            modal: None,
            notice: None,
            awaiting_plan: None,
            panes: panes::all(),
            judged: HashMap::new(),
            should_quit: false,
            dirty: true,
        };
        if let Some(resources) = state.pane_mut::<ResourcesPane>() {
            resources.interval = interval;
        }
        if let Some(alerts) = state.pane_mut::<AlertsPane>() {
            alerts.rules_summary = rules_summary;
        }
        state
    }

    /// The pane of type `T`.
    pub fn pane<T: Component>(&self) -> Option<&T> {
        self.panes
            .iter()
            .find_map(|pane| panes::downcast_ref::<T>(pane.as_ref()))
    }

    pub fn pane_mut<T: Component>(&mut self) -> Option<&mut T> {
        self.panes
            .iter_mut()
            .find_map(|pane| panes::downcast_mut::<T>(pane.as_mut()))
    }

    fn component(&self, id: Pane) -> Option<&dyn Component> {
        self.panes
            .iter()
            .find(|pane| pane.id() == id)
            .map(AsRef::as_ref)
    }

    pub fn set_tasks(&mut self, tasks: Vec<(TaskInfo, Option<KeyChord>)>) {
        if let Some(pane) = self.pane_mut::<TasksPane>() {
            pane.set(tasks);
        }
        self.dirty = true;
    }

    pub fn set_services(&mut self, services: Vec<(String, &'static str, Duration)>) {
        if let Some(pane) = self.pane_mut::<ServicesPane>() {
            pane.set(services);
        }
        self.dirty = true;
    }

    pub fn set_databases(&mut self, names: Vec<String>, interval: Duration) {
        if let Some(pane) = self.pane_mut::<QueriesPane>() {
            pane.set(names, interval);
        }
        self.dirty = true;
    }

    /// The configured backup sets, shown as "scanning…" until their first report.
    pub fn set_backup_sets(&mut self, names: Vec<String>) {
        if let Some(pane) = self.pane_mut::<BackupsPane>() {
            pane.configured = names;
        }
        self.dirty = true;
    }

    /// The checklists in `language`, with the files that could not be loaded.
    pub fn set_checklists(
        &mut self,
        definitions: Vec<Checklist>,
        language: Language,
        problems: Vec<String>,
    ) {
        if let Some(pane) = self.pane_mut::<ChecklistsPane>() {
            pane.set(definitions, language, problems);
        }
        self.dirty = true;
    }

    /// Whether a pane is on screen (the backups and checklists panes only with something to
    /// show, so a console without them keeps its rows for the others).
    pub fn pane_shown(&self, pane: Pane) -> bool {
        self.component(pane).is_some_and(|pane| pane.shown())
    }

    /// The services the table shows, filtered and sorted.
    pub fn visible_services(&self) -> Vec<&ServiceRow> {
        self.pane::<ServicesPane>()
            .map(ServicesPane::visible)
            .unwrap_or_default()
    }

    pub fn open_alert_count(&self) -> usize {
        self.pane::<AlertsPane>().map_or(0, AlertsPane::open_count)
    }

    /// What a pane draws with: the look, the clock, whether it has the focus.
    pub fn view<'a>(&'a self, look: &'a Look, pane: Pane) -> View<'a> {
        View {
            look,
            now: self.now,
            focused: self.focus == pane,
            keymap: &self.keymap,
            read_only: self.host.read_only,
            judged: &self.judged,
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Request> {
        match msg {
            Msg::Key(key) => {
                self.dirty = true;
                return self.on_key(key);
            }
            Msg::Runner(event) => self.on_event(event),
            Msg::Tick(now) => self.on_tick(now),
            Msg::ScrollUp => return self.act(Action::Up),
            Msg::ScrollDown => return self.act(Action::Down),
        }
        Vec::new()
    }

    /// Runs `handle` with the context panes act through.
    fn with_ctx<R>(
        &mut self,
        pane: Pane,
        handle: impl FnOnce(&mut dyn Component, &mut Ctx) -> R,
    ) -> Option<R> {
        let AppState {
            panes,
            now,
            host,
            notice,
            modal,
            awaiting_plan,
            ..
        } = self;
        let component = panes.iter_mut().find(|component| component.id() == pane)?;
        let mut ctx = Ctx {
            now: *now,
            read_only: host.read_only,
            notice,
            modal,
            awaiting_plan,
        };
        Some(handle(component.as_mut(), &mut ctx))
    }

    fn on_key(&mut self, key: KeyChord) -> Vec<Request> {
        match self.modal.take() {
            Some(Modal::Note { editor, under }) => return self.edit_note(*editor, *under, key),
            Some(Modal::Filter) => {
                let typing = self
                    .pane_mut::<ServicesPane>()
                    .is_some_and(|pane| pane.edit_filter(key));
                if typing {
                    self.modal = Some(Modal::Filter);
                }
                return Vec::new();
            }
            Some(Modal::Palette(input)) => return self.palette_key(input, key),
            other => self.modal = other,
        }
        let Some(action) = self.keymap.resolve(key) else {
            return self.unbound_key(key);
        };
        if self.modal.is_some() {
            return self.modal_action(action);
        }
        self.act(action)
    }

    /// A key bound to no action: a task's own key runs it from any pane.
    fn unbound_key(&mut self, key: KeyChord) -> Vec<Request> {
        if self.modal.is_none()
            && self
                .pane_mut::<TasksPane>()
                .is_some_and(|tasks| tasks.select_key(key))
        {
            self.focus = Pane::Tasks;
            return self.run_in(Pane::Tasks, Action::RunTask);
        }
        if key.ctrl && key.code == KeyCode::Char('c') {
            let quit_keys = panes::keys_text(&self.keymap, Action::Quit);
            self.set_notice(
                &format!(
                    "Ctrl-C does not quit here: press {quit_keys} (or bind it in [keys] quit)"
                ),
                Status::Warn,
            );
        }
        Vec::new()
    }

    fn act(&mut self, action: Action) -> Vec<Request> {
        self.dirty = true;
        match action {
            Action::Quit => self.should_quit = true,
            Action::Help => self.modal = Some(Modal::Help { scroll: 0 }),
            Action::Refresh => {
                self.set_notice("refreshing…", Status::Ok);
                return vec![Request::RefreshNow];
            }
            Action::NextPane | Action::PrevPane => self.step_focus(action == Action::NextPane),
            Action::Zoom => self.zoomed = !self.zoomed,
            Action::Palette => self.modal = Some(Modal::Palette(PaletteInput::default())),
            Action::Close if self.zoomed => self.zoomed = false,
            Action::Close => self.notice = None,
            action => return self.route(action),
        }
        Vec::new()
    }

    fn step_focus(&mut self, forward: bool) {
        let shown: Vec<Pane> = self
            .panes
            .iter()
            .filter(|pane| pane.shown())
            .map(|pane| pane.id())
            .collect();
        let Some(index) = shown.iter().position(|pane| *pane == self.focus) else {
            self.focus = shown.first().copied().unwrap_or(Pane::Resources);
            return;
        };
        let len = shown.len();
        let next = if forward { index + 1 } else { index + len - 1 };
        self.focus = shown[next % len];
    }

    /// The focused pane's action; else the pane that lists it: the alerts for a selection move
    /// (the gauges have none), the one pane with that command for the rest.
    fn route(&mut self, action: Action) -> Vec<Request> {
        if let Some(Handled::Yes(requests)) =
            self.with_ctx(self.focus, |pane, ctx| pane.handle(action, ctx))
        {
            return requests;
        }
        let owner = if action.is_selection() {
            Some(Pane::Alerts)
        } else {
            let listing: Vec<Pane> = self
                .panes
                .iter()
                .filter(|pane| {
                    pane.shown()
                        && pane
                            .commands()
                            .iter()
                            .any(|command| command.action == action)
                })
                .map(|pane| pane.id())
                .collect();
            match listing.as_slice() {
                [only] => Some(*only),
                _ => None,
            }
        };
        match owner {
            Some(owner) if owner != self.focus => {
                self.focus = owner;
                self.run_in(owner, action)
            }
            _ => Vec::new(),
        }
    }

    fn run_in(&mut self, pane: Pane, action: Action) -> Vec<Request> {
        match self.with_ctx(pane, |pane, ctx| pane.handle(action, ctx)) {
            Some(Handled::Yes(requests)) => requests,
            _ => Vec::new(),
        }
    }

    fn set_notice(&mut self, text: &str, level: Status) {
        self.notice = Some(Notice::new(text, level, self.now));
        self.dirty = true;
    }

    /// Keys while the note editor is open: Esc stores the note (an empty one is dropped) and
    /// returns to the checklist run.
    fn edit_note(&mut self, mut editor: NoteEditor, under: Popup, key: KeyChord) -> Vec<Request> {
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
                vec![Request::ChecklistEntry(
                    crate::core::checklists::service::EntryRequest {
                        text,
                        ..editor.target
                    },
                )]
            }
            None => {
                self.set_notice("empty: nothing saved", Status::Ok);
                Vec::new()
            }
        }
    }

    /// What the palette lists: every pane, then what each pane offers.
    pub fn palette_entries(&self) -> Vec<PaletteEntry> {
        let shown = self.panes.iter().filter(|pane| pane.shown());
        shown
            .clone()
            .map(|pane| PaletteEntry {
                pane: pane.id(),
                kind: "pane",
                label: pane.title().to_owned(),
                key: String::new(),
            })
            .chain(shown.flat_map(|pane| pane.palette()))
            .collect()
    }

    /// The entries matching what was typed, best first.
    pub fn palette_matches(&self, query: &str) -> Vec<PaletteEntry> {
        crate::tui::popups::palette::matches(self.palette_entries(), query)
    }

    fn palette_key(&mut self, mut input: PaletteInput, key: KeyChord) -> Vec<Request> {
        match key.code {
            KeyCode::Esc => return Vec::new(),
            KeyCode::Enter => {
                let chosen = self
                    .palette_matches(&input.query)
                    .into_iter()
                    .nth(input.selected);
                return match chosen {
                    Some(entry) => self.open_palette_entry(entry),
                    None => Vec::new(),
                };
            }
            KeyCode::Up => input.selected = input.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => input.selected += 1,
            KeyCode::Backspace => {
                input.query.pop();
                input.selected = 0;
            }
            KeyCode::Char(ch) if !key.ctrl && !key.alt => {
                input.query.push(ch);
                input.selected = 0;
            }
            _ => {}
        }
        let count = self.palette_matches(&input.query).len();
        input.selected = input.selected.min(count.saturating_sub(1));
        self.modal = Some(Modal::Palette(input));
        Vec::new()
    }

    fn open_palette_entry(&mut self, entry: PaletteEntry) -> Vec<Request> {
        self.focus = entry.pane;
        if entry.kind == "pane" {
            return Vec::new();
        }
        self.with_ctx(entry.pane, |pane, ctx| pane.open_entry(&entry.key, ctx))
            .unwrap_or_default()
    }

    /// Keys in the help or a popup.
    fn modal_action(&mut self, action: Action) -> Vec<Request> {
        match self.modal.take() {
            Some(Modal::Help { scroll }) => {
                let scroll = match action {
                    Action::Quit => {
                        self.should_quit = true;
                        scroll
                    }
                    Action::Help | Action::Close => return Vec::new(),
                    Action::Up => scroll.saturating_sub(1),
                    Action::Down => scroll.saturating_add(1),
                    Action::PageUp => scroll.saturating_sub(10),
                    Action::PageDown => scroll.saturating_add(10),
                    Action::Top => 0,
                    _ => scroll,
                };
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
        match (&mut popup, action) {
            (_, Action::Quit) => self.should_quit = true,
            (_, Action::Close) => return Vec::new(),
            (
                Popup::Plan {
                    task_id,
                    params,
                    confirm: true,
                    ..
                },
                Action::Confirm | Action::RunTask,
            ) => {
                return vec![Request::StartTask {
                    task_id: task_id.clone(),
                    params: params.clone(),
                    confirmed: true,
                }];
            }
            (Popup::Plan { .. }, Action::RunTask) => return Vec::new(),
            (Popup::History { selected, .. }, Action::Up) => *selected = selected.saturating_sub(1),
            (Popup::History { runs, selected, .. }, Action::Down) => {
                *selected = (*selected + 1).min(runs.len().saturating_sub(1))
            }
            (Popup::History { runs, selected, .. }, Action::RunTask) => {
                if let Some(run) = runs.get(*selected).cloned() {
                    popup = Popup::RunOutput {
                        run: Box::new(run),
                        scroll: 0,
                    };
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
                    self.modal = Some(Modal::Popup(Popup::Checklist(RunPopup {
                        checklist: checklist.clone(),
                        period: Some(period.clone()),
                        item: 0,
                        walkthrough: false,
                    })));
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
            (Popup::Backup { .. }, action) if backup_action_of(action).is_some() => {
                self.focus = Pane::Backups;
                return self.run_in(Pane::Backups, action);
            }
            (Popup::Service { name }, Action::Recheck) => {
                let name = name.clone();
                self.modal = Some(Modal::Popup(popup));
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
                let editor = NoteEditor::new(checklists::entry(
                    &popup,
                    item.as_ref(),
                    kind,
                    String::new(),
                ));
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

    fn on_tick(&mut self, now: DateTime<Utc>) {
        let stale = |state: &AppState, at: DateTime<Utc>| {
            state
                .pane::<ResourcesPane>()
                .and_then(|pane| pane.stale_for(at))
                .map(|age| age.num_seconds())
        };
        let before = (self.now.timestamp() / 60, stale(self, self.now));
        let after = (now.timestamp() / 60, stale(self, now));
        self.now = now;
        // A running task's elapsed time is on screen.
        let running = self.pane::<TasksPane>().is_some_and(TasksPane::any_running);
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
        if let Event::Resources { sample, .. } = &event {
            self.now = self.now.max(sample.taken_at);
        }
        for pane in &mut self.panes {
            pane.apply(&event, self.now);
        }
        match event {
            Event::Resources { evaluations, .. }
            | Event::Backups { evaluations, .. }
            | Event::Judged(evaluations) => {
                for evaluation in evaluations {
                    self.judged.insert(evaluation.metric.key(), evaluation);
                }
            }
            Event::ChecklistRun(_) => self.notice = None,
            Event::ChecklistRefused(message) => self.set_notice(&message, Status::Warn),
            Event::ChecklistPeriods {
                checklist,
                periods: loaded_periods,
            } => {
                if let Some(Modal::Popup(Popup::ChecklistHistory {
                    checklist: shown,
                    periods,
                    loaded,
                    ..
                })) = self.modal.as_mut()
                    && *shown == checklist
                {
                    *periods = loaded_periods;
                    *loaded = true;
                }
            }
            Event::TaskPlanned {
                task_id,
                params,
                plan,
            } => self.on_plan(task_id, params, plan),
            Event::TaskStarted(run) => {
                self.set_notice(&format!("{} started", run.task_id), Status::Ok)
            }
            Event::TaskFinished(run) => {
                let summary = run.summary.clone().unwrap_or_default();
                self.set_notice(
                    &format!("{} {}: {summary}", run.task_id, run.status.as_str()),
                    run.status.health(),
                );
            }
            Event::TaskRefused { reason, .. } => self.set_notice(&reason, Status::Warn),
            Event::TaskHistory {
                task_id: Some(task_id),
                runs,
            } => {
                if let Some(Modal::Popup(Popup::History {
                    task_id: shown,
                    runs: listed,
                    loaded,
                    ..
                })) = self.modal.as_mut()
                    && *shown == task_id
                {
                    *listed = runs;
                    *loaded = true;
                }
            }
            _ => {}
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
        self.modal = Some(Modal::Popup(Popup::Plan {
            task_id,
            params,
            lines,
            confirm,
        }));
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
    use crate::core::model::{Alert, Unit};

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

    fn alerts(state: &AppState) -> &AlertsPane {
        state.pane::<AlertsPane>().unwrap()
    }

    #[test]
    fn help_opens_and_closes_and_q_quits_from_it() {
        let mut state = app(Keymap::default());
        state.update(key("?"));
        assert!(matches!(state.modal, Some(Modal::Help { .. })));
        state.update(key("esc"));
        assert!(state.modal.is_none());
        state.update(key("f1"));
        assert!(matches!(state.modal, Some(Modal::Help { .. })));
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
        let ids: Vec<&str> = alerts(&state)
            .alerts
            .iter()
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(ids, ["b", "a", "old"]);
        state.update(Msg::Runner(Event::AlertChanged(alert("b", -50, Some(-10)))));
        let ids: Vec<&str> = alerts(&state)
            .alerts
            .iter()
            .map(|a| a.id.as_str())
            .collect();
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
        assert_eq!(alerts(&state).selected, 1);
        state.update(key("j"));
        assert_eq!(alerts(&state).selected, 1);
        state.update(key("g"));
        assert_eq!(alerts(&state).selected, 0);
        state.update(key("tab"));
        assert_eq!(state.focus, Pane::Tasks);
        state.update(key("tab"));
        assert_eq!(state.focus, Pane::Resources);
    }

    #[test]
    fn an_action_the_focused_pane_lacks_goes_to_the_pane_that_lists_it() {
        let mut state = app(Keymap::default());
        state.set_databases(vec!["app".into()], Duration::from_secs(5));
        state.focus = Pane::Services;
        state.update(key("v"));
        assert_eq!(state.focus, Pane::Queries, "`v` is the queries pane's");
        let queries = state.pane::<QueriesPane>().unwrap();
        assert_eq!(
            queries.view,
            crate::tui::panes::queries::QueryView::Sessions
        );
        // Enter means something in many panes: it does not move the focus.
        state.focus = Pane::Resources;
        assert!(state.update(key("enter")).is_empty());
        assert_eq!(state.focus, Pane::Resources);
    }

    #[test]
    fn zoom_toggles_and_esc_leaves_it() {
        let mut state = app(Keymap::default());
        state.update(key("z"));
        assert!(state.zoomed);
        state.update(key("z"));
        assert!(!state.zoomed);
        state.update(key("z"));
        state.update(key("esc"));
        assert!(!state.zoomed);
    }

    #[test]
    fn the_palette_types_every_key_and_jumps_to_the_choice() {
        let mut state = app(Keymap::default());
        state.set_services(vec![(
            "orders-db".into(),
            "postgres",
            Duration::from_secs(30),
        )]);
        state.update(key(":"));
        // `q` and `j` are bound, but in the palette they are letters.
        for ch in "ordq".chars() {
            state.update(Msg::Key(KeyChord::parse(&ch.to_string()).unwrap()));
        }
        assert!(!state.should_quit);
        state.update(key("backspace"));
        assert!(matches!(&state.modal, Some(Modal::Palette(input)) if input.query == "ord"));
        let matches = state.palette_matches("ord");
        assert_eq!(matches[0].key, "orders-db", "{matches:?}");
        state.update(key("enter"));
        assert_eq!(state.focus, Pane::Services);
        assert!(
            matches!(&state.modal, Some(Modal::Popup(Popup::Service { name })) if name == "orders-db")
        );
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
