//! Overlays drawn above the panes.

pub mod help;
pub mod task;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Clear;
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
