//! The services pane: every configured service with its status, latency, detail, how long ago
//! it was checked and its availability over 24 hours; filter and sort; the detail popup.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::core::model::Status;
use crate::core::services::flap::ServiceState;
use crate::tui::app::{AppState, Pane, ServiceRow, ServiceSort};
use crate::tui::layout::Look;
use crate::tui::panes::pane_block;
use crate::tui::strings::{self, pad, printable};
use crate::tui::widgets::sparkline::sparkline;

fn status_label(row: &ServiceRow) -> &'static str {
    match (row.state, row.level) {
        (ServiceState::Unknown, _) => "…",
        (ServiceState::Down, _) => "DOWN",
        (ServiceState::Up, Status::Crit) => "CRIT",
        (ServiceState::Up, Status::Warn) => "WARN",
        (ServiceState::Up, _) => "UP",
    }
}

fn level(row: &ServiceRow) -> Status {
    match row.state {
        ServiceState::Unknown => Status::Unknown,
        ServiceState::Down => Status::Crit,
        ServiceState::Up => row.level,
    }
}

fn latency_text(row: &ServiceRow) -> String {
    match row.last.as_ref().and_then(|(_, outcome)| outcome.latency) {
        Some(latency) if latency.as_millis() >= 1000 => format!("{:.1} s", latency.as_secs_f64()),
        Some(latency) => format!("{} ms", latency.as_millis()),
        None => "-".into(),
    }
}

fn availability_text(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |pct| format!("{pct:.2}%"))
}

pub fn render(state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let rows = state.visible_services();
    let down = state
        .services
        .iter()
        .filter(|row| row.state == ServiceState::Down)
        .count();
    let mut title = vec![Span::styled("Services", palette.get(Slot::Title))];
    if down > 0 {
        title.push(Span::styled(
            format!(" · {down} down"),
            palette.status(Status::Crit),
        ));
    }
    if !state.service_filter.is_empty() || state.filter_editing {
        let cursor = if state.filter_editing { "▏" } else { "" };
        title.push(Span::styled(
            format!(" · filter: {}{cursor}", printable(&state.service_filter)),
            palette.get(Slot::Key),
        ));
    }
    if state.service_sort != ServiceSort::Configured {
        title.push(Span::styled(
            format!(" · {}", state.service_sort.label()),
            palette.get(Slot::Muted),
        ));
    }
    let block = pane_block(title, state.focus == Pane::Services, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if height == 0 {
        return;
    }
    if state.services.is_empty() {
        frame.render_widget(
            Paragraph::new("no services configured: add [[service]] entries (opsdeck config default shows how)")
                .style(palette.get(Slot::Muted)),
            inner,
        );
        return;
    }
    let name_width = rows
        .iter()
        .map(|row| strings::width(&row.name))
        .max()
        .unwrap_or(8)
        .clamp(6, 20);
    // name, kind, status, latency, checked ago, 24 h; the detail takes what is left.
    let fixed = name_width + 1 + 8 + 1 + 4 + 1 + 8 + 1 + 5 + 1 + 8 + 1;
    let detail_width = width.saturating_sub(fixed);
    let mut lines = vec![Line::styled(
        strings::fit(
            &format!(
                "{} {:<8} {:<4} {:>8} {:>5} {:>8} DETAIL",
                pad("NAME", name_width),
                "KIND",
                "",
                "LATENCY",
                "AGO",
                "24H"
            ),
            width,
        ),
        palette.get(Slot::Muted),
    )];
    let room = height - 1;
    let offset = state
        .service_selected
        .saturating_sub(room.saturating_sub(1));
    for (index, row) in rows.iter().enumerate().skip(offset).take(room) {
        let ago = row
            .last
            .as_ref()
            .map(|(at, _)| strings::minutes((state.now - *at).num_seconds()))
            .unwrap_or_else(|| "-".into());
        let detail = row
            .last
            .as_ref()
            .map(|(_, outcome)| printable(&outcome.detail))
            .unwrap_or_else(|| "not checked yet".into());
        let mut line = Line::from(vec![
            Span::styled(
                format!("{} ", pad(&printable(&row.name), name_width)),
                palette.get(Slot::Text),
            ),
            Span::styled(format!("{:<8} ", row.kind), palette.get(Slot::Muted)),
            Span::styled(
                format!("{:<4} ", status_label(row)),
                palette.status(level(row)),
            ),
            Span::styled(
                format!("{:>8} {:>5} ", latency_text(row), ago),
                palette.get(Slot::Text),
            ),
            Span::styled(
                format!("{:>8} ", availability_text(row.availability_24h)),
                palette.get(Slot::Muted),
            ),
            Span::styled(strings::fit(&detail, detail_width), palette.get(Slot::Text)),
        ]);
        if index == state.service_selected && state.focus == Pane::Services {
            line = line.style(palette.get(Slot::Selection));
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The detail view of one service.
pub fn render_detail(state: &AppState, name: &str, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let Some(row) = state.services.iter().find(|row| row.name == name) else {
        return;
    };
    let width = area.width.saturating_sub(4).min(100);
    let inner_width = usize::from(width.saturating_sub(2));
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                format!("{} ", status_label(row)),
                palette.status(level(row)),
            ),
            Span::styled(
                format!(
                    "{} check every {} · 24 h {} · 7 d {}",
                    row.kind,
                    humantime::format_duration(row.interval),
                    availability_text(row.availability_24h),
                    availability_text(row.availability_7d)
                ),
                palette.get(Slot::Text),
            ),
        ]),
        Line::styled(
            strings::fit(
                &row.last
                    .as_ref()
                    .map(|(_, outcome)| printable(&outcome.detail))
                    .unwrap_or_else(|| "not checked yet".into()),
                inner_width,
            ),
            palette.get(Slot::Text),
        ),
    ];
    // Every figure the rules judge, with its limit when it breaks one: the evicted keys of a
    // Redis are worth seeing before an alert opens on them.
    if let Some((_, outcome)) = &row.last {
        let mut line: Vec<Span> = vec![Span::styled("figures  ", palette.get(Slot::Muted))];
        let mut used = 9;
        for (metric, value, unit) in &outcome.metrics {
            let key = crate::core::model::series_key(metric, Some(name));
            let judged = state.checklists.evaluations.get(&key);
            let status = judged.map_or(Status::Ok, |evaluation| evaluation.status);
            let text = judged
                .and_then(crate::core::checks::Evaluation::reason)
                .unwrap_or_else(|| {
                    format!(
                        "{metric} {}",
                        crate::core::checks::rules::format_value(*value, *unit)
                    )
                });
            let separator = if line.len() > 1 { "· " } else { "" };
            let text = format!("{separator}{} ", text.trim_start_matches("service."));
            let text_width = strings::width(&text);
            if used + text_width > inner_width && line.len() > 1 {
                lines.push(Line::from(std::mem::take(&mut line)));
                line.push(Span::raw(" ".repeat(9)));
                used = 9;
            }
            used += text_width;
            let style = if status == Status::Ok {
                palette.get(Slot::Text)
            } else {
                palette.status(status)
            };
            line.push(Span::styled(text, style));
        }
        if line.len() > 1 {
            lines.push(Line::from(line));
        }
    }
    match &row.last_error {
        Some((at, error)) => lines.push(Line::styled(
            strings::fit(
                &format!(
                    "last error {} ago: {}",
                    strings::duration((state.now - *at).num_seconds()),
                    printable(error)
                ),
                inner_width,
            ),
            palette.status(Status::Crit),
        )),
        None => lines.push(Line::styled(
            "no error in this session",
            palette.get(Slot::Muted),
        )),
    }
    let latencies: Vec<Option<f64>> = row.recent.iter().map(|(_, _, latency)| *latency).collect();
    let shown = &latencies[latencies
        .len()
        .saturating_sub(inner_width.saturating_sub(9))..];
    let max = shown.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
    lines.push(Line::from(vec![
        Span::styled("latency  ", palette.get(Slot::Muted)),
        sparkline(shown, max, look.glyphs, palette.get(Slot::GaugeLow)),
    ]));
    lines.push(Line::styled(
        format!("max {:.0} ms over the last {} checks", max, shown.len()),
        palette.get(Slot::Muted),
    ));
    lines.push(Line::styled(
        "recent results (newest first):",
        palette.get(Slot::Muted),
    ));
    for (at, ok, latency) in row.recent.iter().rev().take(10) {
        let when = at.with_timezone(&look.utc_offset).format("%H:%M:%S");
        let latency = latency.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"));
        lines.push(Line::styled(
            format!("  {when}  {}  {latency}", if *ok { "ok  " } else { "FAIL" }),
            palette.status(if *ok { Status::Ok } else { Status::Crit }),
        ));
    }
    let recheck: Vec<String> = state
        .keymap
        .keys_for(crate::tui::action::Action::Recheck)
        .iter()
        .map(ToString::to_string)
        .collect();
    lines.push(Line::styled(
        format!("{} checks again now · Esc closes", recheck.join("/")),
        palette.get(Slot::Key),
    ));
    let height = (u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = crate::tui::popups::centered(area, width, height);
    let block = crate::tui::popups::popup_block(&format!(" {} ", printable(name)), width, look);
    crate::tui::popups::clear_under(frame, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
