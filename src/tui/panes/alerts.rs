//! The alerts area: open alerts first, then those resolved in the last 24 hours, each with its
//! level, start time, duration, peak and limit; store problems are shown here in place.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::core::checks::rules::format_value;
use crate::core::model::{Alert, Status};
use crate::tui::app::{AppState, Pane};
use crate::tui::layout::Look;
use crate::tui::panes::pane_block;
use crate::tui::strings::{self, printable};

pub fn render(state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    let open = state.open_alert_count();
    let mut title = vec![Span::styled("Alerts", look.palette.get(Slot::Title))];
    let note = if open > 0 {
        Span::styled(format!(" · {open} open"), look.palette.status(Status::Crit))
    } else {
        Span::styled(" · none open", look.palette.get(Slot::Muted))
    };
    title.push(note);
    let block = pane_block(title, state.focus == Pane::Alerts, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    render_lines(state, look, inner, frame);
}

fn alert_line(
    alert: &Alert,
    state: &AppState,
    look: &Look,
    width: usize,
    selected: bool,
) -> Line<'static> {
    let palette = &look.palette;
    let started = alert.opened_at.with_timezone(&look.utc_offset);
    let same_day = started.date_naive() == state.now.with_timezone(&look.utc_offset).date_naive();
    let when = if same_day {
        started.format("%H:%M").to_string()
    } else {
        started.format("%m-%d %H:%M").to_string()
    };
    let duration = strings::duration(alert.duration(state.now).num_seconds());
    let (state_text, level_style) = if alert.is_open() {
        (
            format!("since {when} ({duration})"),
            palette.status(alert.level),
        )
    } else {
        (
            format!("{when}, lasted {duration}"),
            palette.get(Slot::Muted),
        )
    };
    let subject = match &alert.instance {
        Some(instance) => format!("{} {}", alert.metric, printable(instance)),
        None => alert.metric.clone(),
    };
    let level = if alert.is_open() {
        alert.level.label()
    } else {
        "ok"
    };
    let text = format!(
        "{subject}  {state_text}  peak {} (limit {})",
        format_value(alert.peak, alert.unit),
        format_value(alert.threshold, alert.unit)
    );
    let mut line = Line::from(vec![
        Span::styled(format!("{level:<4} "), level_style),
        Span::styled(
            strings::fit(&text, width.saturating_sub(5)),
            palette.get(if alert.is_open() {
                Slot::Text
            } else {
                Slot::Muted
            }),
        ),
    ]);
    if selected {
        line = line.style(palette.get(Slot::Selection));
    }
    line
}

/// The alert rows (and any store problem) without a frame, for the pane and for tiny screens.
pub fn render_lines(state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    let width = usize::from(area.width);
    let height = usize::from(area.height);
    let mut lines = Vec::new();
    if let Some(problem) = &state.store_problem {
        lines.push(Line::styled(
            strings::fit(
                &format!("state store: {}", printable(&problem.message)),
                width,
            ),
            look.palette.status(Status::Crit),
        ));
    }
    if state.alerts.is_empty() {
        lines.push(Line::styled(
            "No alerts in the last 24 hours. Rules:",
            look.palette.get(Slot::Muted),
        ));
        lines.extend(state.rules_summary.iter().map(|rule| {
            Line::styled(
                strings::fit(&format!("  {rule}"), width),
                look.palette.get(Slot::Muted),
            )
        }));
    } else {
        let room = height.saturating_sub(lines.len()).max(1);
        let offset = state.alert_selected.saturating_sub(room - 1);
        let focused = state.focus == Pane::Alerts;
        lines.extend(state.alerts.iter().enumerate().skip(offset).take(room).map(
            |(index, alert)| {
                alert_line(
                    alert,
                    state,
                    look,
                    width,
                    focused && index == state.alert_selected,
                )
            },
        ));
    }
    lines.truncate(height);
    frame.render_widget(Paragraph::new(lines), area);
}
