//! The screen: header, panes, footer and popups, sized to whatever the terminal offers. There is
//! no minimum size: panes shrink to summaries when space is short.

use chrono::FixedOffset;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::tui::app::{AppState, Pane};
use crate::tui::panes::{alerts, backups, checklists, queries, resources, services, tasks};
use crate::tui::popups::{help, task};
use crate::tui::strings::{self, printable};
use crate::tui::style::{GlyphSet, Palette};

/// How things look: theme styles, glyphs and the local time zone.
#[derive(Debug, Clone)]
pub struct Look {
    pub palette: Palette,
    pub glyphs: GlyphSet,
    pub utc_offset: FixedOffset,
}

pub fn view(state: &AppState, look: &Look, frame: &mut Frame) {
    let area = frame.area();
    if area.height == 0 || area.width == 0 {
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(u16::from(area.height > 2)),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(header_line(state, look, header.width)),
        header,
    );
    render_body(state, look, body, frame);
    if footer.height > 0 {
        frame.render_widget(
            Paragraph::new(footer_line(state, look, footer.width)),
            footer,
        );
    }
    if state.popup.is_some() {
        task::render(state, look, area, frame);
    }
    if let Some(editor) = &state.note_editor {
        checklists::render_editor(editor, look, area, frame);
    }
    if state.show_help {
        help::render(state, look, area, frame);
    }
}

fn render_body(state: &AppState, look: &Look, body: Rect, frame: &mut Frame) {
    const MIN_ALERTS_HEIGHT: u16 = 5;
    if body.height < 8 {
        // Too short for bordered panes: one summary line, then alert lines.
        let [summary, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(body);
        resources::render_summary(state, look, summary, frame);
        alerts::render_lines(state, look, rest, frame);
        return;
    }
    // On a short screen, working in the alerts or tasks pane shrinks the gauges to one line.
    let compact = state.focus != Pane::Resources && body.height < 45;
    let wanted = if compact {
        3
    } else {
        resources::wanted_height(state, body.width.saturating_sub(2)) + 2
    };
    let resources_height = wanted
        .min(body.height.saturating_sub(MIN_ALERTS_HEIGHT * 2))
        .max(3);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(resources_height), Constraint::Min(0)]).areas(body);
    if compact {
        resources::render_compact(state, look, top, frame);
    } else {
        resources::render(state, look, top, frame);
    }
    let service_rows = u16::try_from(state.services.len().max(1) + 1).unwrap_or(u16::MAX) + 2;
    let query_rows = if state.databases.is_empty() { 3 } else { 14 };
    // With no alerts the pane lists the rules instead, which is nice to have, not needed.
    let alert_lines = if state.alerts.is_empty() {
        state.rules_summary.len() + 1
    } else {
        state.alerts.len()
    };
    let alert_rows = u16::try_from(alert_lines).unwrap_or(u16::MAX) + 2;
    let task_rows = u16::try_from(state.tasks.len() * 2 + 2).unwrap_or(u16::MAX) + 2;
    let backup_rows = backups::wanted_height(state);
    let checklist_rows = checklists::wanted_height(state);
    if bottom.width >= 120 {
        // Two rows of two: services | alerts above, queries | tasks below, then backups |
        // checklists; the row holding the focused pane grows.
        let upper_rows = service_rows.max(alert_rows);
        let lower_rows = query_rows.max(task_rows);
        let focused_row = match state.focus {
            Pane::Services | Pane::Alerts => Some(0),
            Pane::Queries | Pane::Tasks => Some(1),
            Pane::Backups | Pane::Checklists => Some(2),
            Pane::Resources => None,
        };
        let (show_backups, show_checklists) = (
            state.pane_shown(Pane::Backups),
            state.pane_shown(Pane::Checklists),
        );
        let third_rows = match (show_backups, show_checklists) {
            (true, true) => backup_rows.max(checklist_rows),
            (true, false) => backup_rows,
            (false, _) => checklist_rows,
        };
        let rows = if show_backups || show_checklists {
            // The short third row (backups, checklists) before the tasks' and queries' room.
            stack(
                bottom,
                &[upper_rows, lower_rows, third_rows],
                focused_row,
                &[0, 2],
            )
        } else {
            stack(bottom, &[upper_rows, lower_rows], focused_row, &[0])
        };
        let row = |index: usize| rows.get(index).copied().unwrap_or_default();
        let (upper, lower, third) = (row(0), row(1), row(2));
        let [backups_area, checklists_area] = match (show_backups, show_checklists) {
            (true, true) => {
                Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .areas(third)
            }
            (true, false) => [third, Rect::default()],
            (false, _) => [Rect::default(), third],
        };
        let [services_area, alerts_area] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(upper);
        let [queries_area, tasks_area] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(lower);
        services::render(state, look, services_area, frame);
        queries::render(state, look, queries_area, frame);
        alerts::render(state, look, alerts_area, frame);
        tasks::render(state, look, tasks_area, frame);
        backups::render(state, look, backups_area, frame);
        checklists::render(state, look, checklists_area, frame);
        return;
    }
    let candidates = [
        (Pane::Services, service_rows),
        (Pane::Queries, query_rows),
        (Pane::Backups, backup_rows),
        (Pane::Checklists, checklist_rows),
        (Pane::Alerts, alert_rows),
        (Pane::Tasks, task_rows),
    ];
    let shown: Vec<(Pane, u16)> = candidates
        .into_iter()
        .filter(|(pane, _)| state.pane_shown(*pane))
        .collect();
    let wanted: Vec<u16> = shown.iter().map(|(_, rows)| *rows).collect();
    let focused = shown.iter().position(|(pane, _)| *pane == state.focus);
    let alerts: Vec<usize> = shown
        .iter()
        .position(|(pane, _)| *pane == Pane::Alerts)
        .into_iter()
        .collect();
    for ((pane, _), area) in shown.iter().zip(stack(bottom, &wanted, focused, &alerts)) {
        render_pane(*pane, state, look, area, frame);
    }
}

fn render_pane(pane: Pane, state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    match pane {
        Pane::Resources => resources::render(state, look, area, frame),
        Pane::Services => services::render(state, look, area, frame),
        Pane::Queries => queries::render(state, look, area, frame),
        Pane::Backups => backups::render(state, look, area, frame),
        Pane::Checklists => checklists::render(state, look, area, frame),
        Pane::Alerts => alerts::render(state, look, area, frame),
        Pane::Tasks => tasks::render(state, look, area, frame),
    }
}

/// Splits `area` top to bottom among panes that would like `wanted` rows. Each gets at least a
/// frame and one line, or, when there is no room for that, its title bar alone (which still
/// says what matters: "Alerts · 2 open"); the focused pane (or, with none focused, each in turn)
/// gets what it wants first, then the `urgent` ones (the alerts) in order, then the others; the
/// last pane takes what is left.
fn stack(area: Rect, wanted: &[u16], focused: Option<usize>, urgent: &[usize]) -> Vec<Rect> {
    let count = wanted.len();
    if count == 0 {
        return Vec::new();
    }
    let focused = focused.filter(|index| *index < count);
    let frame_and_line = 3;
    let fits = usize::from(area.height) >= count * usize::from(frame_and_line);
    let minimum = if fits { frame_and_line } else { 1 };
    let mut heights = vec![0u16; count];
    let mut left = area.height;
    for height in heights.iter_mut() {
        *height = minimum.min(left);
        left -= *height;
    }
    let mut order: Vec<usize> = focused.into_iter().collect();
    for index in urgent.iter().copied().chain(0..count) {
        if index < count && !order.contains(&index) {
            order.push(index);
        }
    }
    for index in order {
        let extra = wanted[index].saturating_sub(heights[index]).min(left);
        heights[index] += extra;
        left -= extra;
    }
    let receiver = focused.unwrap_or(count - 1);
    heights[receiver] += left;
    let mut y = area.y;
    heights
        .into_iter()
        .map(|height| {
            let rect = Rect {
                x: area.x,
                y,
                width: area.width,
                height,
            };
            y += height;
            rect
        })
        .collect()
}

fn header_line(state: &AppState, look: &Look, width: u16) -> Line<'static> {
    let header = look.palette.get(Slot::Header);
    let mut spans = vec![Span::styled(" opsdeck ", header)];
    let host = &state.host;
    // Environment and read-only come first: on a narrow screen they matter more than the rest.
    if !host.environment.is_empty() {
        let slot = if host.environment.to_ascii_lowercase().starts_with("prod") {
            Slot::EnvProd
        } else {
            Slot::EnvOther
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            format!(" {} ", printable(&host.environment)),
            look.palette.get(slot),
        ));
    }
    if host.read_only {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            " READ-ONLY ",
            look.palette.get(Slot::ReadOnly),
        ));
    }
    let uptime = state
        .resources
        .as_ref()
        .map(|view| {
            format!(
                " up {}",
                strings::duration(view.sample.uptime_secs as i64 / 60 * 60)
            )
        })
        .unwrap_or_default();
    spans.push(Span::styled(
        format!(
            " {} · {}{uptime} ",
            printable(&host.user),
            printable(&host.hostname)
        ),
        look.palette.get(Slot::Text),
    ));
    let clock = state
        .now
        .with_timezone(&look.utc_offset)
        .format("%H:%M")
        .to_string();
    right_align(spans, clock, look.palette.get(Slot::Muted), width)
}

fn footer_line(state: &AppState, look: &Look, width: u16) -> Line<'static> {
    let key_style = look.palette.get(Slot::Key);
    let muted = look.palette.get(Slot::Muted);
    let mut spans = Vec::new();
    for (action, keys) in state.keymap.bindings() {
        let (Some(hint), Some(key)) = (action.hint(), keys.first()) else {
            continue;
        };
        spans.push(Span::styled(format!(" {key}"), key_style));
        spans.push(Span::styled(format!(" {hint} "), muted));
    }
    match &state.notice {
        Some(notice) => right_align(
            spans,
            notice.text.clone(),
            look.palette.status(notice.level),
            width,
        ),
        None => Line::from(spans),
    }
}

/// Appends `right` flush with the right edge, cutting the left part if both do not fit.
fn right_align(
    mut spans: Vec<Span<'static>>,
    right: String,
    style: Style,
    width: u16,
) -> Line<'static> {
    let width = usize::from(width);
    let right = strings::fit(&right, width);
    let right_width = strings::width(&right);
    let mut used = 0;
    let mut kept = Vec::new();
    for span in spans.drain(..) {
        let room = width.saturating_sub(right_width + 1 + used);
        if room == 0 {
            break;
        }
        let text = strings::fit(&span.content, room);
        used += strings::width(&text);
        kept.push(Span::styled(text, span.style));
    }
    let gap = width.saturating_sub(used + right_width);
    kept.push(Span::raw(" ".repeat(gap)));
    kept.push(Span::styled(right, style));
    Line::from(kept)
}
