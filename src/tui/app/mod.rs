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

use crate::config::action::{Action, Home};
use crate::config::keymap::{KeyChord, KeyCode, Keymap};
use crate::core::checklists::{Checklist, Language};
use crate::core::checks::Evaluation;
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::core::tasks::{Params, TaskInfo};
use crate::tui::history::Span as TimeSpan;
use crate::tui::modal::{Modal, PaletteInput, Popup};
use crate::tui::panes::alerts::AlertsPane;
use crate::tui::panes::backups::BackupsPane;
use crate::tui::panes::checklists::ChecklistsPane;
use crate::tui::panes::containers::ContainersPane;
use crate::tui::panes::hosts::HostsPane;
use crate::tui::panes::logs::LogsPane;
use crate::tui::panes::queries::QueriesPane;
use crate::tui::panes::resources::ResourcesPane;
use crate::tui::panes::services::{ServiceRow, ServicesPane};
use crate::tui::panes::tasks::TasksPane;
use crate::tui::panes::{self, Component, Ctx, Handled, Notice, View};
use crate::tui::style::Look;

pub use crate::tui::panes::Pane;

/// The pane whose list the selection keys move when the focused pane has none (the gauges).
const SELECTION_FALLBACK: Pane = Pane::Alerts;

/// How often a span longer than memory holds reads its stored part again, so the part between
/// the last read and the ten minutes in memory fills in.
const HISTORY_REFRESH: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

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
    /// The other consoles on the shared store, from the newest heartbeat round.
    pub peers: Vec<crate::core::shared::Heartbeat>,
    /// The language of the incident levels' and stages' labels (the checklists' language).
    pub language: Language,
    pub should_quit: bool,
    /// The time the gauges' and services' sparklines cover.
    pub span: TimeSpan,
    /// The stored history last asked for: from when, when asked, and which series (an answer
    /// to an older question is dropped).
    history_asked: Option<(DateTime<Utc>, DateTime<Utc>, Vec<String>)>,
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
            peers: Vec::new(),
            language: Language::En,
            should_quit: false,
            span: TimeSpan::default(),
            history_asked: None,
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

    /// The configured `[[prometheus]]` sources: the hosts pane is shown with any.
    pub fn set_fleet_sources(&mut self, names: Vec<String>) {
        if let Some(pane) = self.pane_mut::<HostsPane>() {
            pane.configured = names;
        }
        self.dirty = true;
    }

    /// Whether the runner watches Docker: the containers pane is then shown ("reading Docker…"
    /// until its first refresh), so `--pane containers` can focus it at once.
    pub fn set_containers_watched(&mut self, watched: bool) {
        if let Some(pane) = self.pane_mut::<ContainersPane>() {
            pane.watched = watched;
        }
        self.dirty = true;
    }

    /// The configured log sources, shown as "reading…" until their first read.
    pub fn set_log_sources(&mut self, names: Vec<String>) {
        if let Some(pane) = self.pane_mut::<LogsPane>() {
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

    /// Puts the focus on `pane` if it is on screen (the backups and checklists panes are not
    /// when there is nothing to show); otherwise the focus stays.
    pub fn focus_on(&mut self, pane: Pane) {
        if self.pane_shown(pane) {
            self.focus = pane;
            self.dirty = true;
        }
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
            takes_keys: self.focus == pane
                || (pane == SELECTION_FALLBACK && self.focus == Pane::Resources),
            keymap: &self.keymap,
            read_only: self.host.read_only,
            judged: &self.judged,
            language: self.language,
            hostname: &self.host.hostname,
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Request> {
        match msg {
            Msg::Key(key) => {
                self.dirty = true;
                self.on_key(key)
            }
            Msg::Runner(event) => self.on_event(event),
            Msg::Tick(now) => self.on_tick(now),
            Msg::ScrollUp => self.act(Action::Up),
            Msg::ScrollDown => self.act(Action::Down),
        }
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
            language,
            ..
        } = self;
        let component = panes.iter_mut().find(|component| component.id() == pane)?;
        let mut ctx = Ctx {
            now: *now,
            read_only: host.read_only,
            language: *language,
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
                // The filter being typed is the hosts' when theirs is open, else the services'.
                let typing = match self
                    .pane_mut::<HostsPane>()
                    .filter(|pane| pane.filter_editing)
                {
                    Some(hosts) => hosts.edit_filter(key),
                    None => self
                        .pane_mut::<ServicesPane>()
                        .is_some_and(|pane| pane.edit_filter(key)),
                };
                if typing {
                    self.modal = Some(Modal::Filter);
                }
                return Vec::new();
            }
            Some(Modal::Palette(input)) => return self.palette_key(input, key),
            Some(Modal::Form(form)) => return self.form_key(*form, key),
            Some(Modal::Popup(Popup::LogLines(mut view))) if view.typing.is_some() => {
                let request = view.type_key(key);
                self.modal = Some(Modal::Popup(Popup::LogLines(view)));
                return request.into_iter().collect();
            }
            other => self.modal = other,
        }
        let Some(action) = self.keymap.resolve_in(key, self.key_home()) else {
            return self.unbound_key(key);
        };
        if self.modal.is_some() {
            return self.modal_action(action);
        }
        self.act(action)
    }

    /// Where the keys are, for a key two panes' actions share: the logs pane or its line view,
    /// the incidents pane, or elsewhere.
    fn key_home(&self) -> Option<Home> {
        match &self.modal {
            Some(Modal::Popup(Popup::LogLines(_) | Popup::LogAttach(_))) => Some(Home::Logs),
            Some(_) => None,
            None => match self.focus {
                Pane::Logs => Some(Home::Logs),
                Pane::Incidents => Some(Home::Incidents),
                Pane::Containers => Some(Home::Containers),
                _ => None,
            },
        }
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
            Action::TimeSpan => {
                let span = self.span.next();
                self.span = span;
                if let Some(pane) = self.pane_mut::<ResourcesPane>() {
                    pane.span = span;
                }
                if let Some(pane) = self.pane_mut::<ServicesPane>() {
                    pane.span = span;
                }
                return vec![self.history_request()];
            }
            Action::Palette => self.modal = Some(Modal::Palette(PaletteInput::default())),
            Action::Close if self.zoomed => self.zoomed = false,
            Action::Close
                if self.focus == Pane::Hosts
                    && self
                        .pane_mut::<HostsPane>()
                        .is_some_and(HostsPane::close_detail) => {}
            Action::Close
                if self.focus == Pane::Containers
                    && self
                        .pane_mut::<ContainersPane>()
                        .is_some_and(ContainersPane::close_detail) => {}
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

    /// The focused pane's action; else the pane that lists it: the one pane with that command,
    /// which takes the focus. A selection move the focused pane has no list for (the gauges)
    /// scrolls the alerts and leaves the focus where it is: focusing the alerts would shrink the
    /// gauges and redraw the whole screen for one line's move.
    fn route(&mut self, action: Action) -> Vec<Request> {
        if let Some(Handled::Yes(requests)) =
            self.with_ctx(self.focus, |pane, ctx| pane.handle(action, ctx))
        {
            return requests;
        }
        if action.is_selection() {
            return self.run_in(SELECTION_FALLBACK, action);
        }
        if action.needs_its_pane() {
            let keys = panes::keys_text(&self.keymap, Action::NextPane);
            // The panes on screen that list it; the incidents pane before it first appears.
            let listing: Vec<&dyn Component> = self
                .panes
                .iter()
                .map(AsRef::as_ref)
                .filter(|pane| {
                    pane.commands()
                        .iter()
                        .any(|command| command.action == action)
                })
                .collect();
            let shown: Vec<&dyn Component> = listing
                .iter()
                .copied()
                .filter(|pane| pane.shown())
                .collect();
            let homes: Vec<String> = if shown.is_empty() { listing } else { shown }
                .iter()
                .map(|pane| pane.title().to_lowercase())
                .collect();
            let home = if homes.is_empty() {
                "its".to_owned()
            } else {
                homes.join(" or ")
            };
            self.set_notice(
                &format!(
                    "{} works in the {home} pane: {keys} to it first",
                    action.name()
                ),
                Status::Warn,
            );
            return Vec::new();
        }
        let owner = {
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

    /// The stored series the sparklines draw.
    fn history_keys(&self) -> Vec<String> {
        let mut keys = self
            .pane::<ResourcesPane>()
            .map(ResourcesPane::history_keys)
            .unwrap_or_default();
        keys.extend(
            self.pane::<ServicesPane>()
                .map(ServicesPane::history_keys)
                .unwrap_or_default(),
        );
        keys
    }

    /// Asks the runner for the stored history of every series a sparkline shows, over the span:
    /// when the runner starts, when the span changes, and as the shown series or time move on.
    pub fn history_request(&mut self) -> Request {
        let keys = self.history_keys();
        let since = self.now - chrono::TimeDelta::seconds(self.span.seconds());
        self.history_asked = Some((since, self.now, keys.clone()));
        Request::LoadMetricHistory {
            keys,
            resolution: self.span.resolution(),
            since,
        }
    }

    /// A new question for the history when the shown series changed (an interface appeared),
    /// or a longer span's stored part lags what memory holds.
    fn history_follow_up(&mut self) -> Option<Request> {
        let (_, asked_at, asked_keys) = self.history_asked.as_ref()?;
        let lagging = self.span != TimeSpan::default() && self.now - *asked_at >= HISTORY_REFRESH;
        let keys = self.history_keys();
        (lagging || keys != *asked_keys).then(|| self.history_request())
    }

    fn on_tick(&mut self, now: DateTime<Utc>) -> Vec<Request> {
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
        self.history_follow_up().into_iter().collect()
    }

    /// Takes a runner event in; what it returns asks the runner for more (a followed log view
    /// fetches its lines again on each read).
    fn on_event(&mut self, event: Event) -> Vec<Request> {
        if let Event::MetricHistory { since, .. } = &event
            && self
                .history_asked
                .as_ref()
                .is_none_or(|(asked, _, _)| asked != since)
        {
            return Vec::new();
        }
        self.dirty = true;
        if let Event::Resources { sample, .. } = &event {
            self.now = self.now.max(sample.taken_at);
        }
        for pane in &mut self.panes {
            pane.apply(&event, self.now);
        }
        let mut requests: Vec<Request> = self
            .pane::<ContainersPane>()
            .and_then(|pane| pane.follow_up(&event))
            .into_iter()
            .collect();
        if let Some(modal) = &mut self.modal {
            modal.apply(&event);
            if let Modal::Popup(Popup::LogLines(view)) = modal {
                requests.extend(view.follow_up(&event));
            }
        }
        match event {
            Event::Resources { evaluations, .. }
            | Event::Backups { evaluations, .. }
            | Event::Logs { evaluations, .. }
            | Event::Fleet { evaluations, .. }
            | Event::Judged(evaluations) => {
                for evaluation in evaluations {
                    self.judged.insert(evaluation.metric.key(), evaluation);
                }
            }
            Event::Presence { peers, evaluations } => {
                self.peers = peers;
                for evaluation in evaluations {
                    self.judged.insert(evaluation.metric.key(), evaluation);
                }
            }
            Event::ChecklistRun(_) => self.notice = None,
            Event::IncidentOpened { id, level } => self.set_notice(
                &format!(
                    "opened {} as {}",
                    crate::tui::strings::printable(&id),
                    level.as_str()
                ),
                Status::Ok,
            ),
            Event::ChecklistRefused(message) | Event::IncidentRefused(message) => {
                self.set_notice(&message, Status::Warn)
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
            _ => {}
        }
        requests
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
        let (lines, actions, confirm) = match plan {
            Ok(plan) => {
                let refused = plan.refusal.is_some();
                (plan.lines(), plan.actions(), confirm && !refused)
            }
            Err(error) => (
                vec![format!("cannot plan {task_id}: {error}")],
                Vec::new(),
                false,
            ),
        };
        self.modal = Some(Modal::Popup(Popup::Plan {
            task_id,
            params,
            lines,
            actions,
            confirm,
        }));
    }
}

mod modal_keys;
mod palette;
#[cfg(test)]
mod tests;
