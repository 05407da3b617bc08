//! The command palette's popup (`:`, as in k9s): what was typed, and the panes, tasks,
//! checklists, databases, backup sets and services it matches, best first (the matching is the
//! console's, in `tui::app::palette`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::tui::app::AppState;
use crate::tui::modal::PaletteInput;
use crate::tui::strings::{self, pad, printable};
use crate::tui::style::Look;

/// How many matches are listed at most.
const SHOWN: usize = 12;

pub fn render(state: &AppState, input: &PaletteInput, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let found = state.palette_matches(&input.query);
    let width = area.width.saturating_sub(4).min(72);
    let inner_width = usize::from(width.saturating_sub(2));
    let mut lines = vec![Line::from(vec![
        Span::styled(": ", palette.get(Slot::Key)),
        Span::styled(
            format!("{}▏", printable(&input.query)),
            palette.get(Slot::Text),
        ),
    ])];
    let first = input.selected.saturating_sub(SHOWN - 1);
    for (index, entry) in found.iter().enumerate().skip(first).take(SHOWN) {
        let text = format!("{} {}", pad(entry.kind, 10), printable(&entry.label));
        let mut line = Line::styled(strings::fit(&text, inner_width), palette.get(Slot::Text));
        if index == input.selected {
            line = line.style(palette.get(Slot::Selection));
        }
        lines.push(line);
    }
    if found.is_empty() {
        lines.push(Line::styled("nothing matches", palette.get(Slot::Muted)));
    }
    lines.push(Line::styled(
        "Enter goes there (a task asks first if it changes anything) · Esc closes",
        palette.get(Slot::Muted),
    ));
    let height = (u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(
        &format!(
            " Go to · {} of {} ",
            found.len(),
            state.palette_entries().len()
        ),
        width,
        look,
    );
    crate::tui::widgets::popup::clear_under(frame, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
