//! A horizontal percentage bar, with eighth-cell precision in Unicode mode.

use ratatui::style::Style;
use ratatui::text::Span;

use crate::tui::style::GlyphSet;

pub fn bar(
    percent: f64,
    width: usize,
    glyphs: GlyphSet,
    fill: Style,
    empty: Style,
) -> Vec<Span<'static>> {
    if width == 0 {
        return Vec::new();
    }
    let percent = percent.clamp(0.0, 100.0);
    let steps_per_cell = glyphs.eighths.len() + 1;
    let total_steps = width * steps_per_cell;
    let steps = ((percent / 100.0) * total_steps as f64).round() as usize;
    let full_cells = steps / steps_per_cell;
    let remainder = steps % steps_per_cell;
    let mut filled: String = std::iter::repeat_n(glyphs.full, full_cells).collect();
    let mut used = full_cells;
    if remainder > 0 {
        filled.push(glyphs.eighths[remainder - 1]);
        used += 1;
    }
    let rest: String = std::iter::repeat_n(glyphs.empty, width - used).collect();
    vec![Span::styled(filled, fill), Span::styled(rest, empty)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::style::{ASCII_GLYPHS, UNICODE_GLYPHS};

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn bars_fill_proportionally() {
        let s = Style::default();
        assert_eq!(text(&bar(50.0, 10, ASCII_GLYPHS, s, s)), "#####.....");
        assert_eq!(text(&bar(55.0, 10, UNICODE_GLYPHS, s, s)), "█████▌░░░░");
        assert_eq!(text(&bar(150.0, 4, ASCII_GLYPHS, s, s)), "####");
        assert_eq!(text(&bar(0.0, 3, UNICODE_GLYPHS, s, s)), "░░░");
    }
}
