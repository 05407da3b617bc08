//! The frame every popup is drawn in: centred over the panes, the area under it cleared (with
//! care for a double-width character cut at its left edge), and a focused border with a title.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Clear};

use crate::config::theme::Slot;
use crate::tui::style::Look;
use unicode_width::UnicodeWidthStr;

/// Clears the area under a popup. A double-width character (Korean text) just left of it
/// would have its right half covered by the popup's border, which terminals draw as a torn
/// glyph, so it is blanked too.
pub fn clear_under(frame: &mut Frame, area: Rect) {
    frame.render_widget(Clear, area);
    if area.x == 0 {
        return;
    }
    let buffer = frame.buffer_mut();
    for y in area.top()..area.bottom() {
        let cell = &mut buffer[(area.x - 1, y)];
        if cell.symbol().width() > 1 {
            cell.set_symbol(" ");
        }
    }
}

/// A `width` × `height` rectangle in the middle of `area` (both already fitted to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let (width, height) = (width.min(area.width), height.min(area.height));
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// A popup's frame: the focused border and `title`, cut to the popup's width.
pub fn frame(title: &str, width: u16, look: &Look) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(look.palette.get(Slot::BorderFocused))
        .title(Span::styled(
            crate::tui::strings::fit(title, usize::from(width.saturating_sub(2))),
            look.palette.get(Slot::Title),
        ))
}
