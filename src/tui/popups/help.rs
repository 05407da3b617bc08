//! The `?` overlay: every action with its keys, generated from the live keymap so remapped keys
//! show as they are.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::tui::app::AppState;
use crate::tui::layout::Look;
use crate::tui::strings::pad;

pub fn lines(state: &AppState, look: &Look) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (action, keys) in state.keymap.bindings() {
        let keys_text = if keys.is_empty() {
            "(unbound)".to_owned()
        } else {
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(Line::from(vec![
            Span::styled(pad(&keys_text, 16), look.palette.get(Slot::Key)),
            Span::styled(
                format!(" {:<10} ", action.name()),
                look.palette.get(Slot::Muted),
            ),
            Span::styled(action.description(), look.palette.get(Slot::Text)),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Remap keys in the [keys] section of the config (opsdeck config default shows it).",
        look.palette.get(Slot::Muted),
    ));
    lines
}

pub fn render(state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    let body = lines(state, look);
    let width = area.width.saturating_sub(4).min(76);
    let height = (u16::try_from(body.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = crate::tui::popups::centered(area, width, height);
    let block = crate::tui::popups::popup_block(" Help · Esc or ? closes ", width, look);
    crate::tui::popups::clear_under(frame, popup);
    frame.render_widget(
        Paragraph::new(body)
            .block(block)
            .scroll((state.help_scroll, 0)),
        popup,
    );
}
