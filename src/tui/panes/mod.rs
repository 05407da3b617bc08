//! The panes of the console, one module each. A pane is a component: it owns its state next to
//! its renderer, turns the actions it understands into requests for the runner (`handle`), takes
//! in the runner's events (`apply`), draws itself (`render`) or a one-line summary when space is
//! short, and says which keys it understands (`commands`: the footer hints and its section of the
//! help) and what the command palette can jump to (`palette`). The console only routes: a new
//! pane is a module and one line in [`all`].

pub mod alerts;
pub mod backups;
pub mod checklists;
pub mod containers;
pub mod hosts;
pub mod incidents;
pub mod logs;
pub mod queries;
pub mod resources;
pub mod services;
pub mod tasks;

use std::any::Any;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};

use crate::config::action::Action;
use crate::config::keymap::Keymap;
use crate::config::theme::Slot;
use crate::core::checklists::Language;
use crate::core::checks::Evaluation;
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::tui::modal::{Modal, Popup};
use crate::tui::style::Look;

/// Which pane; the order of [`all`] is the order on screen and of Tab. Also the values of the
/// command line's `--pane`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Pane {
    Resources,
    Services,
    Hosts,
    Containers,
    Queries,
    Backups,
    Logs,
    Checklists,
    Incidents,
    Alerts,
    Tasks,
}

/// Every pane, in screen order: the one place panes are listed.
pub fn all() -> Vec<Box<dyn Component>> {
    vec![
        Box::new(resources::ResourcesPane::default()),
        Box::new(services::ServicesPane::default()),
        Box::new(hosts::HostsPane::default()),
        Box::new(containers::ContainersPane::default()),
        Box::new(queries::QueriesPane::default()),
        Box::new(backups::BackupsPane::default()),
        Box::new(logs::LogsPane::default()),
        Box::new(checklists::ChecklistsPane::default()),
        Box::new(incidents::IncidentsPane::default()),
        Box::new(alerts::AlertsPane::default()),
        Box::new(tasks::TasksPane::default()),
    ]
}

/// One key a pane understands, as the footer and the help show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub action: Action,
    /// A word or two for the footer; `None` keeps it to the help.
    pub hint: Option<&'static str>,
    /// What it does in this pane, for the help.
    pub description: &'static str,
}

pub const fn command(
    action: Action,
    hint: Option<&'static str>,
    description: &'static str,
) -> Command {
    Command {
        action,
        hint,
        description,
    }
}

/// Something the command palette can jump to; `key` is the pane's own name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaletteEntry {
    pub pane: Pane,
    /// What it is: `pane`, `task`, `checklist`, `service`, `database`, `backup set`.
    pub kind: &'static str,
    pub label: String,
    pub key: String,
}

/// A pane's state in one line, for when it is collapsed: `Services 1 down/5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub text: String,
    pub level: Status,
}

/// What a pane may read while drawing.
pub struct View<'a> {
    pub look: &'a Look,
    pub now: DateTime<Utc>,
    pub focused: bool,
    /// The selection keys move this pane's list: it has the focus, or it is the alerts while
    /// the gauges (which have no list) have it. Its selection is drawn only then.
    pub takes_keys: bool,
    pub keymap: &'a Keymap,
    pub read_only: bool,
    /// The newest verdict of the rules on every metric, by series key.
    pub judged: &'a HashMap<String, Evaluation>,
    /// The language of labels that come in English and Korean (incident levels and stages).
    pub language: Language,
    /// This console's host, which rows of a shared store name when they are another's.
    pub hostname: &'a str,
}

impl View<'_> {
    /// The keys bound to `action`, joined: `Enter`, `k/↑`, or `(unbound)`.
    pub fn keys(&self, action: Action) -> String {
        keys_text(self.keymap, action)
    }
}

pub fn keys_text(keymap: &Keymap, action: Action) -> String {
    let keys: Vec<String> = keymap
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

/// A problem reported by the runner, shown in place in the pane it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub at: DateTime<Utc>,
}

/// A short message in the footer, gone after a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub level: Status,
    pub until: DateTime<Utc>,
}

const NOTICE_TIME: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

impl Notice {
    pub fn new(text: &str, level: Status, now: DateTime<Utc>) -> Notice {
        Notice {
            text: text.to_owned(),
            level,
            until: now + NOTICE_TIME,
        }
    }
}

/// What a pane may change outside itself while it handles an action: the notice, the modal, the
/// plan it waits for.
pub struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub read_only: bool,
    pub language: Language,
    pub notice: &'a mut Option<Notice>,
    pub modal: &'a mut Option<Modal>,
    /// A plan asked for, and whether it is to be confirmed and run once it arrives.
    pub awaiting_plan: &'a mut Option<(String, bool)>,
}

impl Ctx<'_> {
    pub fn notice(&mut self, text: &str, level: Status) {
        *self.notice = Some(Notice::new(text, level, self.now));
    }

    pub fn open(&mut self, popup: Popup) {
        *self.modal = Some(Modal::Popup(popup));
    }

    /// Asks for `task_id`'s plan; `confirm` runs it once the plan is shown and confirmed.
    pub fn plan(
        &mut self,
        task_id: &str,
        params: crate::core::tasks::Params,
        confirm: bool,
    ) -> Request {
        *self.awaiting_plan = Some((task_id.to_owned(), confirm));
        Request::PlanTask {
            task_id: task_id.to_owned(),
            params,
        }
    }
}

/// What a pane did with an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Done (the screen may have changed), with these requests for the runner.
    Yes(Vec<Request>),
    /// Not this pane's: the console offers it to the pane that lists it.
    No,
}

pub trait Component: Any {
    fn id(&self) -> Pane;
    /// The pane's name, as in its title and in the palette.
    fn title(&self) -> &'static str;
    /// Whether it is on screen at all (backups only with sets configured…).
    fn shown(&self) -> bool {
        true
    }
    fn summary(&self, view: &View) -> Summary;
    /// The collapsed pane: its summary on one line, coloured by its level, drawn like a title
    /// bar so it reads as a pane folded away.
    fn render_summary(&self, view: &View, area: Rect, frame: &mut Frame) {
        let summary = self.summary(view);
        let palette = &view.look.palette;
        let border = palette.get(if view.focused {
            Slot::BorderFocused
        } else {
            Slot::Border
        });
        let style = match summary.level {
            Status::Ok | Status::Unknown => palette.get(Slot::Text),
            level => palette.status(level),
        };
        let width = usize::from(area.width);
        let text = crate::tui::strings::fit(&summary.text, width.saturating_sub(3));
        let rest = width.saturating_sub(crate::tui::strings::width(&text) + 3);
        let line = ratatui::text::Line::from(vec![
            Span::styled("─ ", border),
            Span::styled(text, style),
            Span::styled(format!(" {}", "─".repeat(rest)), border),
        ]);
        frame.render_widget(ratatui::widgets::Paragraph::new(line), area);
    }
    /// Rows it would like, frame included, at `width`.
    fn wanted_height(&self, view: &View, width: u16) -> u16;
    /// Its half of the screen on wide terminals: 0 left, 1 right (the resources span both).
    fn column(&self) -> usize {
        0
    }
    /// How much of a wide row it takes when it is on the left, in percent.
    fn wide_share(&self) -> u16 {
        60
    }
    fn commands(&self) -> &'static [Command];
    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled;
    fn apply(&mut self, event: &Event, now: DateTime<Utc>);
    fn render(&self, view: &View, area: Rect, frame: &mut Frame);
    fn palette(&self) -> Vec<PaletteEntry> {
        Vec::new()
    }
    /// The palette entry `key` of this pane was chosen (the pane has the focus by then).
    fn open_entry(&mut self, _key: &str, _ctx: &mut Ctx) -> Vec<Request> {
        Vec::new()
    }
}

/// The concrete pane behind a component, for setting it up.
pub fn downcast_mut<T: Component>(component: &mut dyn Component) -> Option<&mut T> {
    (component as &mut dyn Any).downcast_mut::<T>()
}

pub fn downcast_ref<T: Component>(component: &dyn Component) -> Option<&T> {
    (component as &dyn Any).downcast_ref::<T>()
}

/// A key typed into a pane's filter; `false` once typing ends (Enter or Esc).
pub fn type_filter(filter: &mut String, key: crate::config::keymap::KeyChord) -> bool {
    use crate::config::keymap::KeyCode;
    match key.code {
        KeyCode::Enter | KeyCode::Esc => return false,
        KeyCode::Backspace => {
            filter.pop();
        }
        KeyCode::Char(ch) if !key.ctrl && !key.alt => filter.push(ch),
        _ => {}
    }
    true
}

/// Moves a selection by one step (or to an end) within `0..=last`.
pub fn step(selected: usize, action: Action, last: usize) -> usize {
    match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => selected,
    }
}

/// `state store: …` in the crit style, for a pane whose rows could not be read or written.
pub fn store_problem_line(
    problem: &Problem,
    width: usize,
    look: &Look,
) -> ratatui::text::Line<'static> {
    ratatui::text::Line::styled(
        crate::tui::strings::fit(
            &format!(
                "state store: {}",
                crate::tui::strings::printable(&problem.message)
            ),
            width,
        ),
        look.palette.status(Status::Crit),
    )
}

/// The title's ` · 2 open` in the crit style, or ` · none open` muted.
pub fn open_note(open: usize, look: &Look) -> Span<'static> {
    if open > 0 {
        Span::styled(format!(" · {open} open"), look.palette.status(Status::Crit))
    } else {
        Span::styled(" · none open", look.palette.get(Slot::Muted))
    }
}

/// A bordered pane frame whose title carries the pane name and a freshness or problem note.
pub fn pane_block(title: Vec<Span<'static>>, focused: bool, look: &Look) -> Block<'static> {
    let border = if focused {
        Slot::BorderFocused
    } else {
        Slot::Border
    };
    let mut spans = vec![Span::raw(" ")];
    spans.extend(title);
    spans.push(Span::raw(" "));
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Plain)
        .border_style(look.palette.get(border))
        .title(spans)
}
