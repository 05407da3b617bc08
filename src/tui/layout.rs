//! The screen: header, panes, footer and popups, sized to whatever the terminal offers. There is
//! no minimum size: panes shrink to summaries when space is short.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::tui::app::AppState;
use crate::tui::modal::Modal;
use crate::tui::panes::alerts::AlertsPane;
use crate::tui::panes::resources::ResourcesPane;
use crate::tui::panes::{Component, Pane};
use crate::tui::popups::{form, help, palette, task};
use crate::tui::strings::{self, printable};
use crate::tui::style::Look;

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
    match &state.modal {
        Some(Modal::Help { scroll }) => help::render(state, *scroll, look, area, frame),
        Some(Modal::Popup(popup)) => task::render(state, popup, look, area, frame),
        Some(Modal::Note { editor, under }) => {
            task::render(state, under, look, area, frame);
            crate::tui::panes::checklists::render_editor(editor, look, area, frame);
        }
        Some(Modal::Palette(input)) => palette::render(state, input, look, area, frame),
        Some(Modal::Form(form)) => form::render(form, look, area, frame),
        Some(Modal::Filter) | None => {}
    }
}

/// Draws `pane` in `area`: in its frame when there is room for one, else as its summary line.
fn draw(state: &AppState, pane: &dyn Component, look: &Look, area: Rect, frame: &mut Frame) {
    if area.is_empty() {
        return;
    }
    let view = state.view(look, pane.id());
    if area.height >= 3 {
        pane.render(&view, area, frame);
    } else {
        pane.render_summary(&view, Rect { height: 1, ..area }, frame);
    }
}

fn render_body(state: &AppState, look: &Look, body: Rect, frame: &mut Frame) {
    let shown: Vec<&dyn Component> = state
        .panes
        .iter()
        .map(AsRef::as_ref)
        .filter(|pane| pane.shown())
        .collect();
    if state.zoomed
        && let Some(pane) = shown.iter().find(|pane| pane.id() == state.focus)
    {
        draw(state, *pane, look, body, frame);
        return;
    }
    let Some((resources, others)) = shown.split_first() else {
        return;
    };
    if body.height < 8 {
        // Too short for frames: the gauges' summary, then alert lines.
        let [summary, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(body);
        resources.render_summary(&state.view(look, resources.id()), summary, frame);
        if let Some(alerts) = state.pane::<AlertsPane>() {
            alerts.render_lines(&state.view(look, Pane::Alerts), rest, frame);
        }
        return;
    }
    let wanted =
        |pane: &dyn Component, width: u16| pane.wanted_height(&state.view(look, pane.id()), width);
    if body.width >= 120 {
        render_wide(state, look, body, frame, *resources, others);
        return;
    }
    let heights: Vec<u16> = shown.iter().map(|pane| wanted(*pane, body.width)).collect();
    let focused = shown.iter().position(|pane| pane.id() == state.focus);
    let urgent: Vec<usize> = shown
        .iter()
        .position(|pane| pane.id() == Pane::Alerts && state.open_alert_count() > 0)
        .into_iter()
        .collect();
    for (pane, area) in shown.iter().zip(split(
        body,
        &arrange(body.height, &heights, focused, &urgent),
    )) {
        draw(state, *pane, look, area, frame);
    }
}

/// Heights for panes stacked in `total` rows. When all fit, each gets what it wants and the
/// focused pane (the last one, with none focused) the rest. When they do not, every pane but the
/// focused one and the `urgent` ones (the alerts, while any is open) folds to its summary line,
/// the urgent ones get the rows they want (an open alert is never out of sight), and the
/// focused pane gets the rest.
fn arrange(total: u16, wanted: &[u16], focused: Option<usize>, urgent: &[usize]) -> Vec<u16> {
    let count = wanted.len();
    if count == 0 {
        return Vec::new();
    }
    if usize::from(total) < count {
        return (0..count)
            .map(|index| u16::from(index < usize::from(total)))
            .collect();
    }
    let receiver = focused.filter(|index| *index < count).unwrap_or(count - 1);
    let sum: u32 = wanted.iter().map(|rows| u32::from(*rows)).sum();
    if sum <= u32::from(total) {
        let mut heights = wanted.to_vec();
        heights[receiver] += total - u16::try_from(sum).unwrap_or(total);
        return heights;
    }
    let mut heights = vec![1u16; count];
    let mut left = total - u16::try_from(count).unwrap_or(u16::MAX);
    // The focused pane keeps a frame and a line before an alert may take the rest.
    let reserved = 2.min(left);
    left -= reserved;
    heights[receiver] += reserved;
    for &index in urgent
        .iter()
        .filter(|index| **index < count && **index != receiver)
    {
        let give = wanted[index].saturating_sub(1).min(left);
        // A frame needs three rows; fewer than that stay a summary line.
        if give >= 2 {
            heights[index] += give;
            left -= give;
        }
    }
    heights[receiver] += left;
    heights
}

/// `area` cut top to bottom into rows of `heights`.
fn split(area: Rect, heights: &[u16]) -> Vec<Rect> {
    let mut y = area.y;
    heights
        .iter()
        .map(|height| {
            let rect = Rect {
                x: area.x,
                y,
                width: area.width,
                height: (*height).min(area.bottom().saturating_sub(y)),
            };
            y += rect.height;
            rect
        })
        .collect()
}

/// A row of the wide layout: a pane on the left, one on the right.
type WideRow<'a> = (Option<&'a dyn Component>, Option<&'a dyn Component>);

/// Wide screens: the gauges across the top, then the panes two by two, left column beside right
/// column in screen order; the row holding the focused pane grows.
fn render_wide(
    state: &AppState,
    look: &Look,
    body: Rect,
    frame: &mut Frame,
    resources: &dyn Component,
    others: &[&dyn Component],
) {
    const MIN_ALERTS_HEIGHT: u16 = 5;
    let view = state.view(look, resources.id());
    // On a short screen, working in another pane shrinks the gauges to one line in a frame.
    let compact = state.focus != resources.id() && body.height < 45;
    let wanted = if compact {
        3
    } else {
        resources.wanted_height(&view, body.width)
    };
    let resources_height = wanted
        .min(body.height.saturating_sub(MIN_ALERTS_HEIGHT * 2))
        .max(3);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(resources_height), Constraint::Min(0)]).areas(body);
    match state.pane::<ResourcesPane>() {
        Some(pane) if compact => pane.render_compact(&view, top, frame),
        _ => resources.render(&view, top, frame),
    }
    let column = |side: usize| -> Vec<&dyn Component> {
        others
            .iter()
            .copied()
            .filter(|pane| pane.column() == side)
            .collect()
    };
    let (left, right) = (column(0), column(1));
    let rows: Vec<WideRow> = (0..left.len().max(right.len()))
        .map(|index| (left.get(index).copied(), right.get(index).copied()))
        .collect();
    let height_of = |pane: Option<&dyn Component>| {
        pane.map_or(0, |pane| {
            pane.wanted_height(&state.view(look, pane.id()), bottom.width / 2)
        })
    };
    let wanted: Vec<u16> = rows
        .iter()
        .map(|(left, right)| height_of(*left).max(height_of(*right)))
        .collect();
    let holds = |pane: Option<&dyn Component>| pane.is_some_and(|pane| pane.id() == state.focus);
    let focused_row = rows
        .iter()
        .position(|(left, right)| holds(*left) || holds(*right));
    let urgent: Vec<usize> = rows
        .iter()
        .position(|(_, right)| {
            right.is_some_and(|pane| pane.id() == Pane::Alerts) && state.open_alert_count() > 0
        })
        .into_iter()
        .collect();
    let heights = arrange(bottom.height, &wanted, focused_row, &urgent);
    for ((left, right), area) in rows.iter().zip(split(bottom, &heights)) {
        match (left, right) {
            (Some(left), Some(right)) => {
                let split = left.wide_share();
                let [left_area, right_area] = Layout::horizontal([
                    Constraint::Percentage(split),
                    Constraint::Percentage(100 - split),
                ])
                .areas(area);
                draw(state, *left, look, left_area, frame);
                draw(state, *right, look, right_area, frame);
            }
            (Some(only), None) | (None, Some(only)) => draw(state, *only, look, area, frame),
            (None, None) => {}
        }
    }
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
        .pane::<ResourcesPane>()
        .and_then(|pane| pane.resources.as_ref())
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
    if let Some(others) = others_on(state) {
        let used: usize = spans.iter().map(|span| strings::width(&span.content)).sum();
        let room = usize::from(width).saturating_sub(used + strings::width(&clock) + 1);
        // Names cut mid-word say less than a count.
        let others = if strings::width(&others) <= room {
            others
        } else {
            format!("· {} more on ", state.peers.len())
        };
        spans.push(Span::styled(others, look.palette.get(Slot::Muted)));
    }
    right_align(spans, clock, look.palette.get(Slot::Muted), width)
}

/// Who else is on the shared store (`also on: bob@web-02, carol@db-02 (2)`): each user and host
/// once, with the number of their consoles when more than one.
fn others_on(state: &AppState) -> Option<String> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for peer in &state.peers {
        let name = format!("{}@{}", printable(&peer.user), printable(&peer.host));
        match seen.iter_mut().find(|(known, _)| *known == name) {
            Some((_, count)) => *count += 1,
            None => seen.push((name, 1)),
        }
    }
    if seen.is_empty() {
        return None;
    }
    let names: Vec<String> = seen
        .into_iter()
        .map(|(name, count)| match count {
            1 => name,
            _ => format!("{name} ({count})"),
        })
        .collect();
    Some(format!("· also on: {} ", names.join(", ")))
}

/// The keys that matter now: help, the focused pane's commands, then the rest that work
/// everywhere (cut from the right when the notice needs the room).
fn footer_line(state: &AppState, look: &Look, width: u16) -> Line<'static> {
    let key_style = look.palette.get(Slot::Key);
    let muted = look.palette.get(Slot::Muted);
    let mut spans = Vec::new();
    let mut hint = |action: Action, label: &str| {
        if let Some(key) = state.keymap.keys_for(action).first() {
            spans.push(Span::styled(format!(" {key}"), key_style));
            spans.push(Span::styled(format!(" {label} "), muted));
        }
    };
    hint(Action::Help, "help");
    let focused = state.panes.iter().find(|pane| pane.id() == state.focus);
    for command in focused.map_or(&[][..], |pane| pane.commands()) {
        if let Some(label) = command.hint {
            hint(command.action, label);
        }
    }
    for action in Action::ALL {
        if let (true, Some(label)) = (action != Action::Help, action.hint()) {
            hint(action, label);
        }
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
