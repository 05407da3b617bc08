//! The incidents pane: open incidents first (the most severe first), then those resolved in the
//! last day, one row each with level, title, stage, the response time against the level's
//! target (OVERDUE while nobody acknowledged in time), commander and affected systems, and a red
//! count of follow-up action items past their due date. Its keys acknowledge, mitigate, resolve,
//! change the level of, take command of, write a note on and add an action item to the selected
//! incident (each a change the runner checks and appends to the store), declare a new one by hand
//! (also from the palette), and Enter shows the timeline. A read-only console refuses them all.

use chrono::{DateTime, NaiveDate, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::checklists::Language;
use crate::core::incidents::{Change, Incident, Level};
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::tui::form::Form;
use crate::tui::modal::{Modal, NoteEditor, NoteTarget, Popup};
use crate::tui::panes::{
    Command, Component, Ctx, Handled, PaletteEntry, Pane, Problem, Summary, View, command,
    open_note, pane_block, step, store_problem_line,
};
use crate::tui::strings::{self, pad, printable};

#[derive(Debug, Clone, Default)]
pub struct IncidentsPane {
    /// Open ones first, the most severe first, the newest first within a level; then the
    /// resolved ones, newest first.
    pub incidents: Vec<Incident>,
    pub selected: usize,
    /// Why the incidents could not be read or written, shown in place.
    pub problem: Option<Problem>,
}

const COMMANDS: &[Command] = &[
    command(Action::Up, None, "select the previous incident"),
    command(Action::Down, None, "select the next incident"),
    command(
        Action::RunTask,
        Some("timeline"),
        "show the incident's timeline",
    ),
    command(
        Action::Acknowledge,
        Some("ack"),
        "acknowledge: you take the response on (you become its commander)",
    ),
    command(
        Action::Mitigate,
        Some("mitigate"),
        "mark it mitigated: the impact is contained",
    ),
    command(Action::Resolve, Some("resolve"), "mark it resolved"),
    command(
        Action::NoteItem,
        Some("note"),
        "write a note into its timeline (Esc saves)",
    ),
    command(Action::RaiseLevel, None, "one level more severe (P2 -> P1)"),
    command(Action::LowerLevel, None, "one level less severe (P1 -> P2)"),
    // The footer is full at 80 columns already: these three are in the help (`?`).
    command(
        Action::TakeCommand,
        None,
        "take command: you become its commander",
    ),
    command(
        Action::AddActionItem,
        None,
        "add a follow-up action item: what, owner, due date",
    ),
    command(
        Action::DeclareIncident,
        None,
        "declare a new incident by hand: title, level, affected systems",
    ),
];

/// The palette entry that declares an incident by hand (incident ids never are empty).
const DECLARE_ENTRY: &str = "";

/// The palette key of an incident's action item: `INC-…#2` (incident ids have no `#`).
fn action_entry_key(incident: &str, item: usize) -> String {
    format!("{incident}#{item}")
}

fn parse_action_entry_key(key: &str) -> Option<(&str, usize)> {
    let (incident, item) = key.split_once('#')?;
    Some((incident, item.parse().ok()?))
}

/// In a read-only console, says that `what` is refused and returns true.
pub fn refused_read_only(ctx: &mut Ctx, what: &str) -> bool {
    if ctx.read_only {
        ctx.notice(
            &format!("read-only: {what} is refused (start opsdeck without --read-only)"),
            Status::Warn,
        );
    }
    ctx.read_only
}

/// `1 action item overdue`, `2 action items overdue`.
fn late_items(count: usize) -> String {
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} action item{plural} overdue")
}

/// The day action items fall due by, on the console's clock.
fn today(view: &View) -> NaiveDate {
    view.now.with_timezone(&view.look.utc_offset).date_naive()
}

impl IncidentsPane {
    pub fn open_count(&self) -> usize {
        self.incidents.iter().filter(|i| i.is_open()).count()
    }

    pub fn overdue_count(&self, now: DateTime<Utc>) -> usize {
        self.incidents.iter().filter(|i| i.overdue(now)).count()
    }

    /// Follow-up action items past their due date, over every incident shown.
    pub fn overdue_actions(&self, today: NaiveDate) -> usize {
        self.incidents
            .iter()
            .map(|i| i.overdue_actions(today).len())
            .sum()
    }

    pub fn selected_incident(&self) -> Option<&Incident> {
        self.incidents.get(self.selected)
    }

    /// Takes the incidents as read, keeping the same incident selected when it is still there.
    pub fn set(&mut self, mut incidents: Vec<Incident>) {
        let selected = self.selected_incident().map(|i| i.id.clone());
        incidents.sort_by(|a, b| {
            (!a.is_open(), a.is_open().then_some(a.level))
                .cmp(&(!b.is_open(), b.is_open().then_some(b.level)))
                .then(b.detected.at.cmp(&a.detected.at))
        });
        self.incidents = incidents;
        self.selected = selected
            .and_then(|id| self.incidents.iter().position(|i| i.id == id))
            .unwrap_or(self.selected)
            .min(self.incidents.len().saturating_sub(1));
    }

    /// The change asked for on the selected incident, or `None` when nothing is selected or
    /// the level cannot go further.
    fn change(&self, action: Action) -> Option<Change> {
        let incident = self.selected_incident()?;
        match action {
            Action::Acknowledge => Some(Change::Acknowledged),
            Action::Mitigate => Some(Change::Mitigated),
            Action::Resolve => Some(Change::Resolved),
            Action::TakeCommand => Some(Change::CommandTaken),
            Action::RaiseLevel | Action::LowerLevel => {
                let index = Level::ALL.iter().position(|l| *l == incident.level)?;
                let next = if action == Action::RaiseLevel {
                    index.checked_sub(1)?
                } else {
                    index + 1
                };
                Level::ALL
                    .get(next)
                    .map(|&level| Change::LevelChanged { level })
            }
            _ => None,
        }
    }

    /// The timeline popup; times are in UTC, as the CLI export and postmortems give them.
    fn timeline(incident: &Incident, today: NaiveDate, language: Language) -> Popup {
        let mut lines = vec![format!(
            "{} {}  {}",
            incident.level.as_str(),
            printable(&incident.title),
            incident.stage().label(language)
        )];
        let contacts = crate::core::incidents::policy::current().contact_lines(incident.level);
        lines.extend(
            contacts
                .iter()
                .map(|line| format!("  contact: {}", printable(line))),
        );
        lines.push(String::new());
        for entry in &incident.timeline {
            lines.push(format!(
                "{}  {}  {}",
                entry.at.format("%m-%d %H:%M UTC"),
                printable(&entry.by),
                printable(&entry.text)
            ));
            // Output and SQL keep their lines; each is escaped on its own.
            for (index, line) in entry.evidence.lines().enumerate() {
                let label = if index == 0 { "evidence:" } else { "         " };
                lines.push(format!("    {label} {}", printable(line)));
            }
            if let Some(link) = &entry.link {
                lines.push(format!("    see: {}", printable(link)));
            }
        }
        if !incident.actions.is_empty() {
            lines.push(String::new());
            lines.push("Action items:".to_owned());
            for (number, item) in incident.actions.iter().enumerate() {
                let late = if item.is_overdue(today) {
                    " OVERDUE"
                } else if item.done.is_some() {
                    " done"
                } else {
                    ""
                };
                lines.push(format!(
                    "  {}. due {}{late}  {}: {}",
                    number + 1,
                    item.due,
                    printable(&item.owner),
                    printable(&item.text)
                ));
            }
        }
        Popup::Text {
            title: format!("incident {}", printable(&incident.id)),
            lines,
        }
    }
}

fn level_style(level: Level, view: &View) -> Style {
    let palette = &view.look.palette;
    match level {
        Level::P0 | Level::P1 => palette.status(Status::Crit),
        Level::P2 => palette.status(Status::Warn),
        Level::P3 => palette.get(Slot::Text),
        Level::P4 => palette.get(Slot::Muted),
    }
}

/// `12m / 15m`, the response time so far (or as it was) against the level's target.
fn response(incident: &Incident, now: DateTime<Utc>) -> String {
    let target = i64::try_from(incident.level.response_target().as_secs()).unwrap_or(i64::MAX);
    format!(
        "{} / {}",
        strings::minutes(incident.response_time(now).num_seconds()),
        strings::minutes(target)
    )
}

/// Fixed columns: level, stage, response (with OVERDUE), commander; the title and the affected
/// systems share the rest.
const LEVEL_COLUMNS: usize = 3;
const STAGE_COLUMNS: usize = 13;
const RESPONSE_COLUMNS: usize = 24;
const COMMANDER_COLUMNS: usize = 11;

fn incident_line(incident: &Incident, view: &View, width: usize, selected: bool) -> Line<'static> {
    let palette = &view.look.palette;
    let open = incident.is_open();
    let text = palette.get(if open { Slot::Text } else { Slot::Muted });
    let rest = width.saturating_sub(LEVEL_COLUMNS + STAGE_COLUMNS + RESPONSE_COLUMNS);
    let affects = incident
        .affects
        .iter()
        .map(|name| printable(name))
        .collect::<Vec<_>>()
        .join(", ");
    // The title matters most: the commander and affected systems give way on narrow screens.
    let (commander_columns, affects_columns) = if rest >= 60 {
        (COMMANDER_COLUMNS, (rest - COMMANDER_COLUMNS) / 3)
    } else if rest >= 40 {
        (COMMANDER_COLUMNS, 0)
    } else {
        (0, 0)
    };
    let late = incident.overdue_actions(today(view)).len();
    let late_mark = if late > 0 {
        format!("!{late} ")
    } else {
        String::new()
    };
    let title_columns =
        rest.saturating_sub(commander_columns + affects_columns + strings::width(&late_mark));
    let mut spans = vec![
        Span::styled(
            pad(incident.level.as_str(), LEVEL_COLUMNS),
            if open {
                level_style(incident.level, view)
            } else {
                text
            },
        ),
        Span::styled(late_mark, palette.status(Status::Crit)),
        Span::styled(pad(&printable(&incident.title), title_columns), text),
        Span::styled(
            pad(incident.stage().label(view.language), STAGE_COLUMNS),
            text,
        ),
    ];
    let response = response(incident, view.now);
    if incident.overdue(view.now) {
        spans.push(Span::styled(response.clone(), text));
        spans.push(Span::styled(
            pad(
                " OVERDUE",
                RESPONSE_COLUMNS.saturating_sub(strings::width(&response)),
            ),
            palette.status(Status::Crit),
        ));
    } else {
        spans.push(Span::styled(pad(&response, RESPONSE_COLUMNS), text));
    }
    if commander_columns > 0 {
        let commander = incident
            .commander
            .as_deref()
            .map_or("-".to_owned(), printable);
        spans.push(Span::styled(pad(&commander, commander_columns), text));
    }
    if affects_columns > 0 {
        spans.push(Span::styled(
            strings::fit(&affects, affects_columns),
            palette.get(Slot::Muted),
        ));
    }
    let line = Line::from(spans);
    if selected {
        line.style(palette.get(Slot::Selection))
    } else {
        line
    }
}

impl Component for IncidentsPane {
    fn id(&self) -> Pane {
        Pane::Incidents
    }

    fn title(&self) -> &'static str {
        "Incidents"
    }

    /// Only while there is an incident to show (or a problem reading them), so a quiet console
    /// keeps its rows for the other panes.
    fn shown(&self) -> bool {
        !self.incidents.is_empty() || self.problem.is_some()
    }

    fn summary(&self, view: &View) -> Summary {
        let open = self.open_count();
        let overdue = self.overdue_count(view.now);
        let mut text = match open {
            0 => "Incidents none open".to_owned(),
            open => format!("Incidents {open} open"),
        };
        if overdue > 0 {
            text.push_str(&format!(" · {overdue} overdue"));
        }
        let late = self.overdue_actions(today(view));
        if late > 0 {
            text.push_str(&format!(" · {}", late_items(late)));
        }
        if self.problem.is_some() {
            text.push_str(" · store problem");
        }
        let worst = self
            .incidents
            .iter()
            .filter(|i| i.is_open())
            .map(|i| i.level)
            .min();
        let level = if overdue > 0 || late > 0 || self.problem.is_some() {
            Status::Crit
        } else {
            match worst {
                Some(Level::P0 | Level::P1) => Status::Crit,
                Some(Level::P2) => Status::Warn,
                _ => Status::Ok,
            }
        };
        Summary { text, level }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        let rows = self.incidents.len().max(1) + usize::from(self.problem.is_some());
        u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        let today = ctx.now.with_timezone(&chrono::Local).date_naive();
        let changes = action == Action::NoteItem || action.needs_its_pane();
        if changes && refused_read_only(ctx, "changing incidents") {
            return Handled::Yes(Vec::new());
        }
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                let last = self.incidents.len().saturating_sub(1);
                self.selected = step(self.selected, action, last);
                Handled::Yes(Vec::new())
            }
            Action::RunTask => {
                if let Some(incident) = self.selected_incident() {
                    ctx.open(IncidentsPane::timeline(incident, today, ctx.language));
                }
                Handled::Yes(Vec::new())
            }
            Action::NoteItem => {
                if let Some(incident) = self.selected_incident() {
                    *ctx.modal = Some(Modal::Note {
                        editor: Box::new(NoteEditor::new(NoteTarget::Incident(
                            incident.id.clone(),
                        ))),
                        under: Box::new(IncidentsPane::timeline(incident, today, ctx.language)),
                    });
                }
                Handled::Yes(Vec::new())
            }
            Action::DeclareIncident => {
                *ctx.modal = Some(Modal::Form(Box::new(Form::declare_by_hand(ctx.language))));
                Handled::Yes(Vec::new())
            }
            Action::AddActionItem => {
                if let Some(incident) = self.selected_incident() {
                    *ctx.modal = Some(Modal::Form(Box::new(Form::action_item(
                        incident,
                        ctx.language,
                    ))));
                }
                Handled::Yes(Vec::new())
            }
            Action::Acknowledge
            | Action::Mitigate
            | Action::Resolve
            | Action::TakeCommand
            | Action::RaiseLevel
            | Action::LowerLevel => {
                let Some(incident) = self.selected_incident() else {
                    return Handled::Yes(Vec::new());
                };
                match self.change(action) {
                    Some(change) => Handled::Yes(vec![Request::IncidentEntry {
                        id: incident.id.clone(),
                        change,
                    }]),
                    None => {
                        ctx.notice(
                            &format!(
                                "{} is already {}: there is no level beyond it",
                                printable(&incident.id),
                                incident.level.as_str()
                            ),
                            Status::Warn,
                        );
                        Handled::Yes(Vec::new())
                    }
                }
            }
            _ => Handled::No,
        }
    }

    fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        match event {
            Event::Incidents(incidents) => {
                self.set(incidents.clone());
                self.problem = None;
            }
            Event::Warning { source, message } if *source == "incidents" => {
                self.problem = Some(Problem {
                    message: message.clone(),
                    at: now,
                });
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        let look = view.look;
        let open = self.open_count();
        let overdue = self.overdue_count(view.now);
        let mut title = vec![Span::styled("Incidents", look.palette.get(Slot::Title))];
        title.push(open_note(open, look));
        if overdue > 0 {
            title.push(Span::styled(
                format!(" · {overdue} overdue"),
                look.palette.status(Status::Crit),
            ));
        }
        let late = self.overdue_actions(today(view));
        if late > 0 {
            title.push(Span::styled(
                format!(" · {}", late_items(late)),
                look.palette.status(Status::Crit),
            ));
        }
        let block = pane_block(title, view.focused, look);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let width = usize::from(inner.width);
        let height = usize::from(inner.height);
        let mut lines = Vec::new();
        if let Some(problem) = &self.problem {
            lines.push(store_problem_line(problem, width, look));
        }
        let room = height.saturating_sub(lines.len()).max(1);
        let offset = self.selected.saturating_sub(room - 1);
        lines.extend(
            self.incidents
                .iter()
                .enumerate()
                .skip(offset)
                .take(room)
                .map(|(index, incident)| {
                    incident_line(
                        incident,
                        view,
                        width,
                        view.takes_keys && index == self.selected,
                    )
                }),
        );
        lines.truncate(height);
        frame.render_widget(Paragraph::new(lines), inner);
    }

    /// Declaring by hand, whether or not the pane is on screen, then every open incident, then
    /// every follow-up action item not done yet (choosing one marks it done).
    fn palette(&self) -> Vec<PaletteEntry> {
        let declare = PaletteEntry {
            pane: Pane::Incidents,
            kind: "command",
            label: "declare incident (by hand)".to_owned(),
            key: DECLARE_ENTRY.to_owned(),
        };
        std::iter::once(declare)
            .chain(
                self.incidents
                    .iter()
                    .filter(|i| i.is_open())
                    .map(|incident| PaletteEntry {
                        pane: Pane::Incidents,
                        kind: "incident",
                        label: format!(
                            "{} {} ({})",
                            incident.level.as_str(),
                            printable(&incident.title),
                            incident.id
                        ),
                        key: incident.id.clone(),
                    }),
            )
            .chain(self.incidents.iter().flat_map(|incident| {
                incident
                    .actions
                    .iter()
                    .enumerate()
                    .filter(|(_, item)| item.done.is_none())
                    .map(|(index, item)| PaletteEntry {
                        pane: Pane::Incidents,
                        kind: "action item",
                        label: format!(
                            "mark done: {} ({}, due {}; {} #{})",
                            printable(&item.text),
                            printable(&item.owner),
                            item.due,
                            incident.id,
                            index + 1
                        ),
                        key: action_entry_key(&incident.id, index + 1),
                    })
            }))
            .collect()
    }

    fn open_entry(&mut self, key: &str, ctx: &mut Ctx) -> Vec<Request> {
        if let Some((id, item)) = parse_action_entry_key(key) {
            if refused_read_only(ctx, "marking an action item done") {
                return Vec::new();
            }
            return vec![Request::IncidentEntry {
                id: id.to_owned(),
                change: Change::ActionDone { item },
            }];
        }
        if key == DECLARE_ENTRY {
            self.handle(Action::DeclareIncident, ctx);
        } else if let Some(index) = self.incidents.iter().position(|i| i.id == key) {
            self.selected = index;
            self.handle(Action::RunTask, ctx);
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::{Event as LogEvent, fold};
    use chrono::TimeZone;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::minutes(minute)
    }

    fn incident(id: &str, level: Level, opened: i64, resolved: Option<i64>) -> Incident {
        let event = |change, minute| LogEvent {
            incident: id.into(),
            change,
            user: "alice".into(),
            host: "web-1".into(),
            at: at(minute),
        };
        let mut events = vec![event(
            Change::Opened {
                title: id.into(),
                level,
                affects: Vec::new(),
                evidence: String::new(),
            },
            opened,
        )];
        events.extend(resolved.map(|minute| event(Change::Resolved, minute)));
        fold(id, &events).expect("an incident")
    }

    fn ids(pane: &IncidentsPane) -> Vec<&str> {
        pane.incidents.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn open_ones_come_first_most_severe_first_and_the_selection_follows_its_incident() {
        let mut pane = IncidentsPane::default();
        pane.set(vec![
            incident("p3", Level::P3, 0, None),
            incident("done-p0", Level::P0, 1, Some(5)),
            incident("p1-old", Level::P1, 2, None),
            incident("p1-new", Level::P1, 3, None),
        ]);
        assert_eq!(ids(&pane), ["p1-new", "p1-old", "p3", "done-p0"]);
        pane.selected = 2;
        pane.set(vec![
            incident("p3", Level::P3, 0, None),
            incident("p0", Level::P0, 4, None),
        ]);
        assert_eq!(ids(&pane), ["p0", "p3"]);
        assert_eq!(
            pane.selected_incident().map(|i| i.id.as_str()),
            Some("p3"),
            "still the incident that was selected"
        );
        assert_eq!(pane.open_count(), 2);
    }

    #[test]
    fn the_response_clock_stops_at_the_acknowledgement_and_a_p4_cannot_go_lower() {
        let mut late = incident("late", Level::P0, 0, None);
        assert_eq!(response(&late, at(20)), "20m / 15m");
        assert!(late.overdue(at(20)));
        late.acknowledged = Some(crate::core::incidents::Stamp {
            by: "bob".into(),
            at: at(5),
        });
        assert_eq!(response(&late, at(20)), "5m / 15m");
        assert!(!late.overdue(at(20)));

        let mut pane = IncidentsPane::default();
        pane.set(vec![incident("minor", Level::P4, 0, None)]);
        assert_eq!(pane.change(Action::LowerLevel), None);
        assert_eq!(
            pane.change(Action::RaiseLevel),
            Some(Change::LevelChanged { level: Level::P3 })
        );
    }
}
