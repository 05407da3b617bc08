//! The popup of a form ([`crate::tui::form`]): a label and a one-line field per row, the level
//! with its definition, response target, escalation and the contacts it notifies, the refusal of
//! the last Enter in place, and the keys. Text is drawn escaped (a title prefilled from an alert may carry control
//! characters) with the cursor in reverse video, so it reads without colour too.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::core::model::Status;
use crate::tui::form::{Form, Row};
use crate::tui::strings::{self, printable};
use crate::tui::style::Look;

const LABEL_COLUMNS: usize = 11;

pub fn render(form: &Form, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let width = area.width.saturating_sub(4).min(76);
    let inner = usize::from(width.saturating_sub(2));
    let field_columns = inner.saturating_sub(LABEL_COLUMNS + 1);
    let mut lines = Vec::new();
    for (index, row) in form.rows().into_iter().enumerate() {
        let focused = index == form.focus;
        let label = format!(
            "{}{:<width$}",
            if focused { "> " } else { "  " },
            form.label(row),
            width = LABEL_COLUMNS - 2
        );
        let mut spans = vec![Span::styled(
            label,
            palette.get(if focused { Slot::Title } else { Slot::Muted }),
        )];
        match row {
            Row::Text(field) => {
                if let Some(textarea) = form.fields.get(field) {
                    spans.extend(field_spans(textarea, focused, field_columns, look));
                }
                lines.push(Line::from(spans));
            }
            Row::Level => {
                let Some(level) = form.level() else { continue };
                let [definition, response, notified] = Form::level_lines(level, form.language);
                let picked = format!("{}  ", level.as_str());
                let picked_width = strings::width(&picked);
                spans.push(Span::styled(picked, palette.get(Slot::Text)));
                spans.push(Span::styled(
                    strings::fit(&definition, field_columns.saturating_sub(picked_width)),
                    palette.get(Slot::Text),
                ));
                lines.push(Line::from(spans));
                for detail in [response, notified] {
                    lines.push(Line::styled(
                        strings::fit(
                            &format!("{}{}", " ".repeat(LABEL_COLUMNS), printable(&detail)),
                            inner,
                        ),
                        palette.get(Slot::Muted),
                    ));
                }
            }
        }
    }
    lines.push(Line::raw(""));
    if let Some(refusal) = &form.refusal {
        lines.push(Line::styled(
            strings::fit(&format!("  {}", printable(refusal)), inner),
            palette.status(Status::Crit),
        ));
    }
    let level_keys = if form.level().is_some() {
        " · ←/→ or 0-4 level"
    } else {
        ""
    };
    lines.push(Line::styled(
        strings::fit(
            &format!(
                "  Enter {} · Esc cancels · Tab/↑↓ field{level_keys}",
                form.submit_word()
            ),
            inner,
        ),
        palette.get(Slot::Key),
    ));
    let height = (u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(&format!(" {} ", form.title()), width, look);
    crate::tui::widgets::popup::clear_under(frame, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

/// A field's one line in `columns`, escaped; the focused one with its cursor, scrolled so the
/// cursor stays in view; an empty one shows its placeholder.
fn field_spans(
    textarea: &tui_textarea::TextArea<'static>,
    focused: bool,
    columns: usize,
    look: &Look,
) -> Vec<Span<'static>> {
    let palette = &look.palette;
    let text = textarea.lines().join(" ");
    let cursor_style = Style::default().add_modifier(Modifier::REVERSED);
    if text.is_empty() {
        let placeholder = strings::fit(textarea.placeholder_text(), columns.saturating_sub(1));
        let mut spans = Vec::new();
        if focused {
            spans.push(Span::styled(" ", cursor_style));
        }
        spans.push(Span::styled(placeholder, palette.get(Slot::Muted)));
        return spans;
    }
    let text_style = palette.get(Slot::Text);
    if !focused {
        return vec![Span::styled(
            strings::fit(&printable(&text), columns),
            text_style,
        )];
    }
    let column = textarea.cursor().1;
    let before: Vec<char> = text.chars().take(column).collect();
    let under = text.chars().nth(column);
    let after: String = text.chars().skip(column + 1).collect();
    // Keep the cursor in view: drop characters from the left until it fits.
    let mut start = 0;
    let shown = |start: usize| printable(&before[start..].iter().collect::<String>());
    while start < before.len() && strings::width(&shown(start)) + 1 > columns {
        start += 1;
    }
    let before = shown(start);
    let under = under.map_or_else(|| " ".to_owned(), |ch| printable(&ch.to_string()));
    let rest = columns.saturating_sub(strings::width(&before) + strings::width(&under));
    vec![
        Span::styled(before, text_style),
        Span::styled(under, cursor_style),
        Span::styled(strings::fit(&printable(&after), rest), text_style),
    ]
}
