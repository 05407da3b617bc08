//! A one-line sparkline over bucketed history; gaps (no data yet) stay blank.

use ratatui::style::Style;
use ratatui::text::Span;

use crate::tui::style::GlyphSet;

/// `scale_max` is the value drawn as a full cell (100 for percentages; the window's maximum
/// for rates).
pub fn sparkline(
    values: &[Option<f64>],
    scale_max: f64,
    glyphs: GlyphSet,
    style: Style,
) -> Span<'static> {
    let levels = glyphs.levels;
    let top = levels.len() - 1;
    let text: String = values
        .iter()
        .map(|value| match value {
            None => ' ',
            Some(_) if scale_max <= 0.0 => levels[0],
            Some(v) => {
                let ratio = (v / scale_max).clamp(0.0, 1.0);
                levels[(ratio * top as f64).round() as usize]
            }
        })
        .collect();
    Span::styled(text, style)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::style::UNICODE_GLYPHS;

    #[test]
    fn scales_values_and_leaves_gaps() {
        let span = sparkline(
            &[None, Some(0.0), Some(50.0), Some(100.0)],
            100.0,
            UNICODE_GLYPHS,
            Style::default(),
        );
        assert_eq!(span.content, " ▁▅█");
    }
}
