//! The panes of the console, one module each.

pub mod alerts;
pub mod backups;
pub mod checklists;
pub mod queries;
pub mod resources;
pub mod services;
pub mod tasks;

use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};

use crate::config::theme::Slot;
use crate::tui::layout::Look;

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
