//! The checklists pane: every checklist with its due state and progress; the run popup (one
//! item at a time in walkthrough mode, or the whole list) with live checks, tasks, skips and
//! notes; the list of past runs; and the note editor. Definitions are in the chosen language,
//! each run as stored (a tick shows once the runner has written it), items linked to a metric
//! show the rules' live verdict, and the incident review item the incidents' overdue action
//! items.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::checklists::service::EntryRequest;
use crate::core::checklists::{
    CheckRef, Checklist, DueState, EntryKind, Item, ItemState, ItemStatus, Language, RunState,
    schedule,
};
use crate::core::checks::rules::format_value;
use crate::core::checks::{Evaluation, Operator};
use crate::core::incidents::{self, Incident, OVERDUE_ACTIONS_CHECK};
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::core::runner::CHECKLISTS_EVERY;
use crate::tui::modal::{NoteEditor, Popup, RunPopup};
use crate::tui::panes::{
    Command, Component, Ctx, Handled, PaletteEntry, Pane, Summary, View, command, pane_block, step,
};
use crate::tui::strings::{self, pad, printable};
use crate::tui::style::Look;
use crate::tui::widgets::bar::bar;

#[derive(Debug, Clone, Default)]
pub struct ChecklistsPane {
    pub definitions: Vec<Checklist>,
    pub language: Option<Language>,
    /// Checklist files that could not be loaded, as `file:line: message; fix: …`.
    pub problems: Vec<String>,
    /// The current period's run of each checklist, by id.
    pub runs: HashMap<String, RunState>,
    /// A past run being looked at.
    pub viewing: Option<RunState>,
    pub selected: usize,
    pub received_at: Option<DateTime<Utc>>,
    /// The incidents as last read, for the items that show their overdue action items.
    pub incidents: Option<Vec<Incident>>,
}

/// How many overdue action items the incident review item lists.
const OVERDUE_ACTIONS_SHOWN: usize = 3;

impl ChecklistsPane {
    pub fn language(&self) -> Language {
        self.language.unwrap_or(Language::En)
    }

    pub fn selected_checklist(&self) -> Option<&Checklist> {
        self.definitions.get(self.selected)
    }

    pub fn checklist(&self, id: &str) -> Option<&Checklist> {
        self.definitions.iter().find(|checklist| checklist.id == id)
    }

    /// The run shown for a checklist: the past run being viewed, else the current one.
    pub fn run_of(&self, id: &str, period: Option<&str>) -> Option<&RunState> {
        match period {
            Some(period) => self
                .viewing
                .as_ref()
                .filter(|run| run.checklist == id && run.period == period),
            None => self.runs.get(id),
        }
    }

    pub fn set(&mut self, definitions: Vec<Checklist>, language: Language, problems: Vec<String>) {
        self.definitions = definitions;
        self.language = Some(language);
        self.problems = problems;
    }

    pub fn on_run(&mut self, run: RunState) {
        let current = self
            .runs
            .get(&run.checklist)
            .is_none_or(|known| known.period == run.period);
        if let Some(viewing) = &self.viewing
            && viewing.checklist == run.checklist
            && viewing.period == run.period
        {
            self.viewing = Some(run.clone());
        }
        if current {
            self.runs.insert(run.checklist.clone(), run);
        }
    }

    pub fn on_runs(&mut self, runs: &[RunState], now: DateTime<Utc>) {
        for run in runs {
            self.runs.insert(run.checklist.clone(), run.clone());
        }
        self.received_at = Some(now);
    }

    /// Where a checklist stands now.
    pub fn due_state<Tz: TimeZone>(
        &self,
        checklist: &Checklist,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> DueState {
        let run = self
            .runs
            .get(&checklist.id)
            .filter(|run| run.period == schedule::period_key(checklist.period, now, zone));
        schedule::due_state(
            checklist,
            run.filter(|run| run.started_at.is_some()),
            now,
            zone,
        )
    }

    /// The live evidence for an item linked to a metric, e.g. "cpu.used_pct 37.0 % < 80 %",
    /// with the rules' verdict; `None` before the metric has been seen.
    pub fn evidence(
        judged: &HashMap<String, Evaluation>,
        check: &CheckRef,
    ) -> Option<(String, Status)> {
        let evaluation = match &check.instance {
            Some(instance) => judged.get(&crate::core::model::series_key(
                &check.metric,
                Some(instance),
            )),
            None => judged
                .values()
                .filter(|evaluation| evaluation.metric.name == check.metric)
                .max_by(|a, b| {
                    let by_value = a.metric.value.total_cmp(&b.metric.value);
                    // Under a `<` rule (days to full) the lower value is the worse one.
                    let worse = match a.operator {
                        Some(Operator::Below | Operator::AtMost) => by_value.reverse(),
                        _ => by_value,
                    };
                    a.status.cmp(&b.status).then(worse)
                }),
        }?;
        let value = format_value(evaluation.metric.value, evaluation.metric.unit);
        let subject = match &evaluation.metric.instance {
            Some(instance) => format!("{} {instance}", evaluation.metric.name),
            None => evaluation.metric.name.to_owned(),
        };
        let limit = match evaluation.status {
            Status::Crit => evaluation.crit.or(evaluation.warn),
            _ => evaluation.warn.or(evaluation.crit),
        };
        let text = match limit {
            Some(limit) => {
                // A broken rule is shown as the rule says it (`1 >= 1`); a kept one by how far
                // it is from the limit (`37 % < 80 %`).
                let sign = match (evaluation.status, evaluation.operator) {
                    (Status::Warn | Status::Crit, Some(operator)) => operator.symbol(),
                    _ => match evaluation.metric.value.partial_cmp(&limit) {
                        Some(std::cmp::Ordering::Less) => "<",
                        Some(std::cmp::Ordering::Greater) => ">",
                        _ => "=",
                    },
                };
                format!(
                    "{subject} {value} {sign} {}",
                    format_value(limit, evaluation.metric.unit)
                )
            }
            None => format!("{subject} {value}"),
        };
        Some((crate::core::text::printable(&text), evaluation.status))
    }

    /// The incidents' follow-up action items past their due date: how many, with the verdict,
    /// and the first ones (the longest overdue first); `None` before the incidents are read.
    pub fn overdue_actions(&self, view: &View) -> Option<(String, Status, Vec<String>)> {
        let today = view.now.with_timezone(&view.look.utc_offset).date_naive();
        let overdue = incidents::overdue_actions(self.incidents.as_ref()?, today);
        if overdue.is_empty() {
            return Some((
                "no incident action item overdue".to_owned(),
                Status::Ok,
                Vec::new(),
            ));
        }
        let first = overdue
            .iter()
            .take(OVERDUE_ACTIONS_SHOWN)
            .map(|(id, item)| {
                format!(
                    "due {} {}: {} ({})",
                    item.due,
                    printable(&item.owner),
                    printable(&item.text),
                    printable(id)
                )
            })
            .collect();
        Some((
            format!("{} incident action item(s) overdue", overdue.len()),
            Status::Warn,
            first,
        ))
    }
}

const COMMANDS: &[Command] = &[
    command(
        Action::RunTask,
        Some("open"),
        "open the selected checklist's run (one item at a time)",
    ),
    command(
        Action::History,
        Some("past runs"),
        "past runs of the selected checklist",
    ),
    command(Action::Up, None, "select the previous checklist"),
    command(Action::Down, None, "select the next checklist"),
];

/// The run popup's keys, for the help.
pub const RUN_COMMANDS: &[Command] = &[
    command(Action::Mark, None, "checklist run: done / undo the item"),
    command(
        Action::SkipItem,
        None,
        "checklist run: skip the item, with a reason",
    ),
    command(
        Action::NoteItem,
        None,
        "checklist run: add a note to the item (multi-line; Esc saves)",
    ),
    command(
        Action::SignOff,
        None,
        "checklist run: sign off once every item is done or skipped",
    ),
    command(
        Action::NextView,
        None,
        "checklist run: one item at a time, or the whole list",
    ),
    command(Action::RunTask, None, "checklist run: run the item's task"),
];

impl ChecklistsPane {
    /// Opens the run of `checklist` at its first open item.
    fn open_run(&self, checklist: &Checklist, ctx: &mut Ctx) {
        let run = self.runs.get(&checklist.id);
        let first_open = next_open(checklist, run, checklist.items.len().saturating_sub(1));
        ctx.open(Popup::Checklist(RunPopup {
            checklist: checklist.id.clone(),
            period: None,
            item: first_open,
            walkthrough: true,
        }));
    }

    fn due_states(&self, view: &View) -> Vec<DueState> {
        // Each is a cron search: once per checklist and frame.
        self.definitions
            .iter()
            .map(|checklist| self.due_state(checklist, view.now, &view.look.utc_offset))
            .collect()
    }
}

impl Component for ChecklistsPane {
    fn id(&self) -> Pane {
        Pane::Checklists
    }

    fn title(&self) -> &'static str {
        "Checklists"
    }

    fn column(&self) -> usize {
        1
    }

    /// Only with checklists, or checklist files with mistakes to show.
    fn shown(&self) -> bool {
        !self.definitions.is_empty() || !self.problems.is_empty()
    }

    fn summary(&self, view: &View) -> Summary {
        let due = self.due_states(view);
        let count = |wanted: DueState| due.iter().filter(|state| **state == wanted).count();
        let (overdue, now_due) = (count(DueState::Overdue), count(DueState::Due));
        let mut parts = Vec::new();
        if overdue > 0 {
            parts.push(format!("{overdue} overdue"));
        }
        if now_due > 0 {
            parts.push(format!("{now_due} due"));
        }
        if !self.problems.is_empty() {
            parts.push(format!("{} file problem(s)", self.problems.len()));
        }
        if parts.is_empty() {
            parts.push(format!("{}/{} done", count(DueState::Done), due.len()));
        }
        Summary {
            text: format!("Checklists {}", parts.join(" · ")),
            level: due
                .iter()
                .copied()
                .map(due_level)
                .max()
                .unwrap_or(Status::Ok),
        }
    }

    /// One row per checklist, plus file problems.
    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        let rows = self.definitions.len().max(1) + self.problems.len();
        u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                let last = self.definitions.len().saturating_sub(1);
                self.selected = step(self.selected, action, last);
                Handled::Yes(Vec::new())
            }
            Action::RunTask => {
                if let Some(checklist) = self.selected_checklist() {
                    self.open_run(checklist, ctx);
                }
                Handled::Yes(Vec::new())
            }
            Action::History => {
                let Some(checklist) = self.selected_checklist() else {
                    return Handled::Yes(Vec::new());
                };
                let id = checklist.id.clone();
                ctx.open(Popup::ChecklistHistory {
                    checklist: id.clone(),
                    periods: Vec::new(),
                    selected: 0,
                    loaded: false,
                });
                Handled::Yes(vec![Request::LoadChecklistPeriods { checklist: id }])
            }
            _ => Handled::No,
        }
    }

    fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        match event {
            Event::ChecklistRuns(runs) => self.on_runs(runs, now),
            Event::ChecklistRun(run) => self.on_run(run.clone()),
            Event::Incidents(incidents) => self.incidents = Some(incidents.clone()),
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        render(self, view, area, frame);
    }

    fn palette(&self) -> Vec<PaletteEntry> {
        let language = self.language();
        self.definitions
            .iter()
            .map(|checklist| PaletteEntry {
                pane: Pane::Checklists,
                kind: "checklist",
                label: format!("{} ({})", checklist.title.get(language), checklist.id),
                key: checklist.id.clone(),
            })
            .collect()
    }

    fn open_entry(&mut self, key: &str, ctx: &mut Ctx) -> Vec<Request> {
        if let Some(index) = self
            .definitions
            .iter()
            .position(|checklist| checklist.id == key)
        {
            self.selected = index;
            let checklist = self.definitions[index].clone();
            self.open_run(&checklist, ctx);
        }
        Vec::new()
    }
}

/// The request that records `kind` on the popup's item.
pub fn entry(popup: &RunPopup, item: Option<&Item>, kind: EntryKind, text: String) -> EntryRequest {
    EntryRequest {
        checklist: popup.checklist.clone(),
        period: popup.period.clone(),
        item: item.map(|item| item.id.clone()),
        kind,
        text,
    }
}

/// Tick an open item; reopen a done or skipped one.
pub fn toggle_kind(run: Option<&RunState>, item: &Item) -> EntryKind {
    let open = run
        .and_then(|run| run.items.iter().find(|state| state.item == item.id))
        .is_none_or(|state| state.status == ItemStatus::Open);
    if open {
        EntryKind::Tick
    } else {
        EntryKind::Reopen
    }
}

/// The next item still open after `from`, wrapping; `from` itself when none is.
pub fn next_open(checklist: &Checklist, run: Option<&RunState>, from: usize) -> usize {
    let count = checklist.items.len();
    (1..=count)
        .map(|step| (from + step) % count.max(1))
        .find(|index| {
            let item = &checklist.items[*index];
            run.and_then(|run| run.items.iter().find(|state| state.item == item.id))
                .is_none_or(|state| state.status == ItemStatus::Open)
        })
        .unwrap_or(from)
}

/// Three missed reads.
const STALE_AFTER_READS: u64 = 3;

pub fn due_level(due: DueState) -> Status {
    match due {
        DueState::Done => Status::Ok,
        DueState::Upcoming | DueState::InProgress => Status::Unknown,
        DueState::Due => Status::Warn,
        DueState::Overdue => Status::Crit,
    }
}

fn keys(view: &View, action: Action) -> String {
    view.keymap
        .keys_for(action)
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "(unbound)".into())
}

fn render(pane: &ChecklistsPane, shown: &View, area: Rect, frame: &mut Frame) {
    if area.is_empty() {
        return;
    }
    let look = shown.look;
    let palette = &look.palette;
    let view = pane;
    let language = view.language();
    let mut title = vec![Span::styled("Checklists", palette.get(Slot::Title))];
    let due_states = pane.due_states(shown);
    let overdue = due_states
        .iter()
        .filter(|due| **due == DueState::Overdue)
        .count();
    if overdue > 0 {
        title.push(Span::styled(
            format!(" · {overdue} overdue"),
            palette.status(Status::Crit),
        ));
    }
    // Like the gauges: the refresh interval while reads keep coming (so the first read changes
    // nothing on screen), the age of the last one once they stop.
    match view.received_at {
        Some(at)
            if (shown.now - at).num_seconds()
                > i64::try_from(CHECKLISTS_EVERY.as_secs() * STALE_AFTER_READS)
                    .unwrap_or(i64::MAX) =>
        {
            title.push(Span::styled(
                format!(
                    " · STALE, read {} ago",
                    strings::minutes((shown.now - at).num_seconds())
                ),
                palette.status(Status::Warn),
            ))
        }
        _ => title.push(Span::styled(
            format!(" · every {}s", CHECKLISTS_EVERY.as_secs()),
            palette.get(Slot::Muted),
        )),
    }
    let focused = shown.focused;
    let block = pane_block(title, focused, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    if view.definitions.is_empty() {
        lines.push(Line::styled(
            "no checklists: every checklist file has a mistake (see below)",
            palette.get(Slot::Muted),
        ));
    }
    let title_width = view
        .definitions
        .iter()
        .map(|checklist| strings::width(checklist.title.get(language)))
        .max()
        .unwrap_or(10)
        .clamp(8, 24);
    for (index, (checklist, &due)) in view.definitions.iter().zip(&due_states).enumerate() {
        let run = view.runs.get(&checklist.id);
        let (resolved, total) = run.map_or((0, checklist.items.len()), RunState::progress);
        let due_at = schedule::due_at(checklist, shown.now, &look.utc_offset)
            .with_timezone(&look.utc_offset);
        let when = match checklist.period {
            crate::core::checklists::Period::Day => due_at.format("%H:%M").to_string(),
            crate::core::checklists::Period::Week => due_at.format("%a %H:%M").to_string(),
            _ => due_at.format("%m-%d").to_string(),
        };
        let percent = if total == 0 {
            100.0
        } else {
            resolved as f64 * 100.0 / total as f64
        };
        let mut spans = vec![
            Span::styled(
                format!(
                    "{} ",
                    pad(&printable(checklist.title.get(language)), title_width)
                ),
                palette.get(Slot::Text),
            ),
            Span::styled(
                format!("{:<11} ", due.label()),
                palette.status(due_level(due)),
            ),
            Span::styled(
                format!("{resolved:>2}/{total:<2} "),
                palette.get(Slot::Text),
            ),
        ];
        spans.extend(bar(
            percent,
            10,
            look.glyphs,
            palette.get(Slot::GaugeLow),
            palette.get(Slot::GaugeEmpty),
        ));
        spans.push(Span::styled(
            strings::fit(
                &format!(" due {when} · {}", checklist.id),
                width.saturating_sub(title_width + 1 + 12 + 6 + 10),
            ),
            palette.get(Slot::Muted),
        ));
        let mut line = Line::from(spans);
        if focused && index == view.selected {
            line = line.style(palette.get(Slot::Selection));
        }
        lines.push(line);
    }
    for problem in &view.problems {
        lines.push(Line::styled(
            strings::fit(&printable(problem), width),
            palette.status(Status::Warn),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn status_mark(status: &ItemStatus) -> (&'static str, Status) {
    match status {
        ItemStatus::Open => ("[ ]", Status::Unknown),
        ItemStatus::Done { .. } => ("[x]", Status::Ok),
        ItemStatus::Skipped { .. } => ("[-]", Status::Warn),
    }
}

fn who(view: &View, by: &str, at: DateTime<Utc>) -> String {
    let look = view.look;
    let when = at.with_timezone(&look.utc_offset);
    let today = view.now.with_timezone(&look.utc_offset).date_naive() == when.date_naive();
    let format = if today { "%H:%M" } else { "%m-%d %H:%M" };
    format!("{} {}", printable(by), when.format(format))
}

/// One item's lines: mark, text, live check, who and when, notes; the selected one also says
/// how to run its task.
fn item_lines(
    pane: &ChecklistsPane,
    view: &View,
    checklist: &Checklist,
    index: usize,
    item_state: Option<&ItemState>,
    selected: bool,
    width: usize,
) -> Vec<Line<'static>> {
    let look = view.look;
    let palette = &look.palette;
    let item = &checklist.items[index];
    let status = item_state.map_or(ItemStatus::Open, |state| state.status.clone());
    let (mark, level) = status_mark(&status);
    let mut head = vec![
        Span::styled(format!("{mark} "), palette.status(level)),
        Span::styled(
            strings::fit(
                &printable(item.text.get(pane.language())),
                width.saturating_sub(4),
            ),
            palette.get(Slot::Text),
        ),
    ];
    if item.note_required {
        head.push(Span::styled(" ✎", palette.get(Slot::Muted)));
    }
    let mut line = Line::from(head);
    if selected {
        line = line.style(palette.get(Slot::Selection));
    }
    let mut lines = vec![line];
    let indent = "    ";
    if let Some(check) = &item.check {
        let (live, details) = if check.metric == OVERDUE_ACTIONS_CHECK {
            match pane.overdue_actions(view) {
                Some((text, level, details)) => (Some((text, level)), details),
                None => (None, Vec::new()),
            }
        } else {
            (ChecklistsPane::evidence(view.judged, check), Vec::new())
        };
        let (text, level) = live.unwrap_or_else(|| {
            (
                format!("{} not measured yet", check.metric),
                Status::Unknown,
            )
        });
        let verdict = match level {
            Status::Ok => "✓",
            Status::Warn => "! WARN",
            Status::Crit => "✗ CRIT",
            Status::Unknown => "?",
        };
        lines.push(Line::styled(
            strings::fit(&format!("{indent}{text} {verdict}"), width),
            palette.status(level),
        ));
        lines.extend(details.iter().map(|detail| {
            Line::styled(
                strings::fit(&format!("{indent}  {detail}"), width),
                palette.get(Slot::Muted),
            )
        }));
    }
    if selected && let Some(task) = &item.task {
        lines.push(Line::styled(
            strings::fit(
                &format!(
                    "{indent}task {task}: {} runs it",
                    keys(view, Action::RunTask)
                ),
                width,
            ),
            palette.get(Slot::Key),
        ));
    }
    match &status {
        ItemStatus::Done { by, at } => lines.push(Line::styled(
            strings::fit(&format!("{indent}done by {}", who(view, by, *at)), width),
            palette.get(Slot::Muted),
        )),
        ItemStatus::Skipped { by, at, reason } => lines.push(Line::styled(
            strings::fit(
                &format!(
                    "{indent}skipped by {}: {}",
                    who(view, by, *at),
                    printable(reason)
                ),
                width,
            ),
            palette.status(Status::Warn),
        )),
        ItemStatus::Open => {}
    }
    if let Some(item_state) = item_state {
        lines.extend(
            item_state
                .notes
                .iter()
                .map(|note| note_line(view, &format!("{indent}note"), note, width)),
        );
    }
    lines
}

/// A note as "note alice 09:12: text", with the text escaped.
fn note_line(
    view: &View,
    label: &str,
    (by, at, text): &(String, DateTime<Utc>, String),
    width: usize,
) -> Line<'static> {
    let look = view.look;
    Line::styled(
        strings::fit(
            &format!("{label} {}: {}", who(view, by, *at), printable(text)),
            width,
        ),
        look.palette.get(Slot::Text),
    )
}

/// The run popup: a checklist's run, walkthrough or list.
pub fn render_run(
    pane: &ChecklistsPane,
    view: &View,
    popup: &RunPopup,
    area: Rect,
    frame: &mut Frame,
) {
    let look = view.look;
    let palette = &look.palette;
    let Some(checklist) = pane.checklist(&popup.checklist) else {
        return;
    };
    let run = pane.run_of(&popup.checklist, popup.period.as_deref());
    let width = area.width.saturating_sub(4).min(100);
    let inner_width = usize::from(width.saturating_sub(2));
    let period = run.map_or_else(
        || {
            popup.period.clone().unwrap_or_else(|| {
                schedule::period_key(checklist.period, view.now, &look.utc_offset)
            })
        },
        |run| run.period.clone(),
    );
    let (resolved, total) = run.map_or((0, checklist.items.len()), RunState::progress);
    let mut lines = vec![Line::styled(
        strings::fit(
            &format!(
                "{} · {resolved}/{total} done{}",
                period,
                run.and_then(|run| run.signed_off.as_ref())
                    .map(|(by, at)| format!(" · signed off by {}", who(view, by, *at)))
                    .unwrap_or_default()
            ),
            inner_width,
        ),
        palette.get(Slot::Muted),
    )];
    let state_of = |index: usize| {
        run.and_then(|run| {
            run.items
                .iter()
                .find(|item_state| item_state.item == checklist.items[index].id)
        })
    };
    let item_count = checklist.items.len();
    let selected = popup.item.min(item_count.saturating_sub(1));
    let mut selected_line = 0;
    if popup.walkthrough && item_count > 0 {
        lines.push(Line::styled(
            format!("item {} of {item_count}", selected + 1),
            palette.get(Slot::Title),
        ));
        lines.extend(item_lines(
            pane,
            view,
            checklist,
            selected,
            state_of(selected),
            true,
            inner_width,
        ));
    } else {
        for index in 0..item_count {
            if index == selected {
                selected_line = lines.len();
            }
            lines.extend(item_lines(
                pane,
                view,
                checklist,
                index,
                state_of(index),
                index == selected,
                inner_width,
            ));
        }
    }
    if let Some(run) = run {
        lines.extend(
            run.notes
                .iter()
                .map(|note| note_line(view, "run note", note, inner_width)),
        );
    }
    let hint = format!(
        "{} done/undo · {} skip · {} note · {} sign off · {} {} · Esc closes",
        keys(view, Action::Mark),
        keys(view, Action::SkipItem),
        keys(view, Action::NoteItem),
        keys(view, Action::SignOff),
        keys(view, Action::NextView),
        if popup.walkthrough {
            "list"
        } else {
            "one at a time"
        },
    );
    let height = (u16::try_from(lines.len() + 1).unwrap_or(u16::MAX) + 2).min(area.height);
    let room = usize::from(height.saturating_sub(3));
    // Keep the selected item on screen in list mode.
    let scroll = selected_line.saturating_sub(room.saturating_sub(4));
    let mut shown: Vec<Line> = lines.into_iter().skip(scroll).take(room).collect();
    shown.push(Line::styled(
        strings::fit(&hint, inner_width),
        palette.get(Slot::Key),
    ));
    let popup_area = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(
        &format!(" {} ", printable(checklist.title.get(pane.language()))),
        width,
        look,
    );
    crate::tui::widgets::popup::clear_under(frame, popup_area);
    frame.render_widget(Paragraph::new(shown).block(block), popup_area);
}

/// The note (or skip reason) editor, over everything else.
pub fn render_editor(editor: &NoteEditor, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let width = area.width.saturating_sub(8).min(80);
    let height = area.height.saturating_sub(4).min(10);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let what = editor.what();
    let mut textarea = editor.textarea.clone();
    textarea.set_block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(palette.get(Slot::BorderFocused))
            .title(Span::styled(
                format!(" {what} · Esc saves (an empty one is dropped) · Enter new line "),
                palette.get(Slot::Title),
            )),
    );
    crate::tui::widgets::popup::clear_under(frame, popup);
    frame.render_widget(&textarea, popup);
}
