//! The checklists pane: every checklist with its due state and progress; the run popup (one
//! item at a time in walkthrough mode, or the whole list) with live checks, tasks, skips and
//! notes; the list of past runs; and the note editor.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::config::theme::Slot;
use crate::core::checklists::{Checklist, DueState, ItemState, ItemStatus, RunState, schedule};
use crate::core::model::Status;
use crate::core::runner::CHECKLISTS_EVERY;
use crate::tui::action::Action;
use crate::tui::app::{AppState, Pane};
use crate::tui::checklists::{NoteEditor, RunPopup};
use crate::tui::layout::Look;
use crate::tui::panes::pane_block;
use crate::tui::strings::{self, pad, printable};
use crate::tui::widgets::bar::bar;

/// Three missed reads.
const STALE_AFTER_READS: u64 = 3;

/// Rows the pane would like: one per checklist, plus file problems.
pub fn wanted_height(state: &AppState) -> u16 {
    let view = &state.checklists;
    let rows = view.definitions.len().max(1) + view.problems.len();
    u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
}

pub fn due_level(due: DueState) -> Status {
    match due {
        DueState::Done => Status::Ok,
        DueState::Upcoming | DueState::InProgress => Status::Unknown,
        DueState::Due => Status::Warn,
        DueState::Overdue => Status::Crit,
    }
}

fn keys(state: &AppState, action: Action) -> String {
    state
        .keymap
        .keys_for(action)
        .first()
        .map(ToString::to_string)
        .unwrap_or_else(|| "(unbound)".into())
}

pub fn render(state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    if area.is_empty() {
        return;
    }
    let palette = &look.palette;
    let view = &state.checklists;
    let language = view.language();
    let mut title = vec![Span::styled("Checklists", palette.get(Slot::Title))];
    // Each is a cron search: once per checklist and frame.
    let due_states: Vec<DueState> = view
        .definitions
        .iter()
        .map(|checklist| view.due_state(checklist, state.now, &look.utc_offset))
        .collect();
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
            if (state.now - at).num_seconds()
                > i64::try_from(CHECKLISTS_EVERY.as_secs() * STALE_AFTER_READS)
                    .unwrap_or(i64::MAX) =>
        {
            title.push(Span::styled(
                format!(
                    " · STALE, read {} ago",
                    strings::minutes((state.now - at).num_seconds())
                ),
                palette.status(Status::Warn),
            ))
        }
        _ => title.push(Span::styled(
            format!(" · every {}s", CHECKLISTS_EVERY.as_secs()),
            palette.get(Slot::Muted),
        )),
    }
    let focused = state.focus == Pane::Checklists;
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
        let due_at = schedule::due_at(checklist, state.now, &look.utc_offset)
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

fn who(state: &AppState, look: &Look, by: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let when = at.with_timezone(&look.utc_offset);
    let today = state.now.with_timezone(&look.utc_offset).date_naive() == when.date_naive();
    let format = if today { "%H:%M" } else { "%m-%d %H:%M" };
    format!("{} {}", printable(by), when.format(format))
}

/// One item's lines: mark, text, live check, who and when, notes; the selected one also says
/// how to run its task.
fn item_lines(
    state: &AppState,
    look: &Look,
    checklist: &Checklist,
    index: usize,
    item_state: Option<&ItemState>,
    selected: bool,
    width: usize,
) -> Vec<Line<'static>> {
    let palette = &look.palette;
    let view = &state.checklists;
    let item = &checklist.items[index];
    let status = item_state.map_or(ItemStatus::Open, |state| state.status.clone());
    let (mark, level) = status_mark(&status);
    let mut head = vec![
        Span::styled(format!("{mark} "), palette.status(level)),
        Span::styled(
            strings::fit(
                &printable(item.text.get(view.language())),
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
        let (text, level) = view.evidence(check).unwrap_or_else(|| {
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
    }
    if selected && let Some(task) = &item.task {
        lines.push(Line::styled(
            strings::fit(
                &format!(
                    "{indent}task {task}: {} runs it",
                    keys(state, Action::RunTask)
                ),
                width,
            ),
            palette.get(Slot::Key),
        ));
    }
    match &status {
        ItemStatus::Done { by, at } => lines.push(Line::styled(
            strings::fit(
                &format!("{indent}done by {}", who(state, look, by, *at)),
                width,
            ),
            palette.get(Slot::Muted),
        )),
        ItemStatus::Skipped { by, at, reason } => lines.push(Line::styled(
            strings::fit(
                &format!(
                    "{indent}skipped by {}: {}",
                    who(state, look, by, *at),
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
                .map(|note| note_line(state, look, &format!("{indent}note"), note, width)),
        );
    }
    lines
}

/// A note as "note alice 09:12: text", with the text escaped.
fn note_line(
    state: &AppState,
    look: &Look,
    label: &str,
    (by, at, text): &(String, chrono::DateTime<chrono::Utc>, String),
    width: usize,
) -> Line<'static> {
    Line::styled(
        strings::fit(
            &format!("{label} {}: {}", who(state, look, by, *at), printable(text)),
            width,
        ),
        look.palette.get(Slot::Text),
    )
}

/// The run popup: a checklist's run, walkthrough or list.
pub fn render_run(state: &AppState, popup: &RunPopup, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let view = &state.checklists;
    let Some(checklist) = view.checklist(&popup.checklist) else {
        return;
    };
    let run = view.run_of(&popup.checklist, popup.period.as_deref());
    let width = area.width.saturating_sub(4).min(100);
    let inner_width = usize::from(width.saturating_sub(2));
    let period = run.map_or_else(
        || {
            popup.period.clone().unwrap_or_else(|| {
                schedule::period_key(checklist.period, state.now, &look.utc_offset)
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
                    .map(|(by, at)| format!(" · signed off by {}", who(state, look, by, *at)))
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
            state,
            look,
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
                state,
                look,
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
                .map(|note| note_line(state, look, "run note", note, inner_width)),
        );
    }
    let hint = format!(
        "{} done/undo · {} skip · {} note · {} sign off · {} {} · Esc closes",
        keys(state, Action::Mark),
        keys(state, Action::SkipItem),
        keys(state, Action::NoteItem),
        keys(state, Action::SignOff),
        keys(state, Action::NextView),
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
    let popup_area = crate::tui::popups::centered(area, width, height);
    let block = crate::tui::popups::popup_block(
        &format!(" {} ", printable(checklist.title.get(view.language()))),
        width,
        look,
    );
    crate::tui::popups::clear_under(frame, popup_area);
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
    let what = match editor.target.kind {
        crate::core::checklists::EntryKind::Skip => "Why skip",
        _ => "Note",
    };
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
    crate::tui::popups::clear_under(frame, popup);
    frame.render_widget(&textarea, popup);
}
