//! The `?` overlay: every binding, grouped by where it works (everywhere, then each pane and the
//! checklist run), generated from the live keymap so remapped keys show as they are.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::keymap::Keymap;
use crate::config::theme::Slot;
use crate::tui::app::AppState;
use crate::tui::panes::Command;
use crate::tui::panes::checklists::RUN_COMMANDS;
use crate::tui::panes::logs::LINES_COMMANDS;
use crate::tui::strings::pad;
use crate::tui::style::Look;

fn binding(keymap: &Keymap, action: Action, description: &str, look: &Look) -> Line<'static> {
    let keys = keymap.keys_for(action);
    let keys_text = if keys.is_empty() {
        "(unbound)".to_owned()
    } else {
        keys.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Line::from(vec![
        Span::styled(pad(&keys_text, 14), look.palette.get(Slot::Key)),
        Span::styled(
            format!(" {:<17} ", action.name()),
            look.palette.get(Slot::Muted),
        ),
        Span::styled(description.to_owned(), look.palette.get(Slot::Text)),
    ])
}

fn section(title: &str, look: &Look) -> Line<'static> {
    Line::styled(title.to_owned(), look.palette.get(Slot::Title))
}

fn pane_section(
    lines: &mut Vec<Line<'static>>,
    keymap: &Keymap,
    title: &str,
    commands: &[Command],
    look: &Look,
) {
    // Selection moves are listed once, under "Everywhere".
    let own: Vec<&Command> = commands
        .iter()
        .filter(|command| !command.action.is_selection())
        .collect();
    if own.is_empty() {
        return;
    }
    lines.push(Line::raw(""));
    lines.push(section(title, look));
    for command in own {
        lines.push(binding(keymap, command.action, command.description, look));
    }
}

pub fn lines(state: &AppState, look: &Look) -> Vec<Line<'static>> {
    let keymap = &state.keymap;
    let mut lines = vec![section("Everywhere", look)];
    for action in Action::ALL {
        if action.is_global() || action.is_selection() {
            lines.push(binding(keymap, action, action.description(), look));
        }
    }
    lines.push(binding(
        keymap,
        Action::Confirm,
        "in a plan popup: run exactly what it shows",
        look,
    ));
    for pane in &state.panes {
        pane_section(&mut lines, keymap, pane.title(), pane.commands(), look);
    }
    pane_section(&mut lines, keymap, "Checklist run", RUN_COMMANDS, look);
    pane_section(&mut lines, keymap, "Log lines", LINES_COMMANDS, look);
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "A task's own key (in the tasks pane) runs it from any pane. Remap keys in the [keys]",
        look.palette.get(Slot::Muted),
    ));
    lines.push(Line::styled(
        "section of the config (opsdeck config default shows it).",
        look.palette.get(Slot::Muted),
    ));
    lines
}

pub fn render(state: &AppState, scroll: u16, look: &Look, area: Rect, frame: &mut Frame) {
    let body = lines(state, look);
    let width = area.width.saturating_sub(4).min(110);
    let height = (u16::try_from(body.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(" Help · Esc or ? closes ", width, look);
    crate::tui::widgets::popup::clear_under(frame, popup);
    frame.render_widget(Paragraph::new(body).block(block).scroll((scroll, 0)), popup);
}
