//! The services pane: every configured service with its status, latency, detail, how long ago
//! it was checked and its availability over 24 hours; filter and sort; the detail popup.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::keymap::{KeyChord, KeyCode};
use crate::config::theme::Slot;
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::core::services::CheckOutcome;
use crate::core::services::flap::ServiceState;
use crate::tui::history::{History, Span as TimeSpan};
use crate::tui::modal::{Modal, Popup};
use crate::tui::panes::{
    Command, Component, Ctx, Handled, PaletteEntry, Pane, Summary, View, command, pane_block, step,
};
use crate::tui::strings::{self, pad, printable};
use crate::tui::widgets::sparkline::sparkline;

/// A service as listed in the services pane.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub name: String,
    pub kind: &'static str,
    pub interval: Duration,
    pub state: ServiceState,
    pub level: Status,
    pub last: Option<(DateTime<Utc>, CheckOutcome)>,
    /// Recent results, oldest first: when, ok, latency in ms.
    pub recent: VecDeque<(DateTime<Utc>, bool, Option<f64>)>,
    pub last_error: Option<(DateTime<Utc>, String)>,
    pub availability_24h: Option<f64>,
    pub availability_7d: Option<f64>,
}

/// Results kept per service on screen (the store keeps eight days).
const SCREEN_RESULTS_PER_SERVICE: usize = 120;

/// How the services table is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServiceSort {
    #[default]
    Configured,
    WorstFirst,
    Name,
    SlowestFirst,
}

impl ServiceSort {
    fn next(self) -> ServiceSort {
        match self {
            ServiceSort::Configured => ServiceSort::WorstFirst,
            ServiceSort::WorstFirst => ServiceSort::Name,
            ServiceSort::Name => ServiceSort::SlowestFirst,
            ServiceSort::SlowestFirst => ServiceSort::Configured,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ServiceSort::Configured => "as configured",
            ServiceSort::WorstFirst => "worst first",
            ServiceSort::Name => "by name",
            ServiceSort::SlowestFirst => "slowest first",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ServicesPane {
    pub rows: Vec<ServiceRow>,
    pub selected: usize,
    pub filter: String,
    /// The filter is being typed (the console holds the keys in [`Modal::Filter`]).
    pub filter_editing: bool,
    pub sort: ServiceSort,
    /// Each service's latency in ms, by name, for the detail's sparkline.
    pub latency: History,
    /// The time the latency sparkline covers.
    pub span: TimeSpan,
}

/// The stored series of a service's latency: `service.latency_ms:<name>`.
const LATENCY: &str = "service.latency_ms";

const COMMANDS: &[Command] = &[
    command(
        Action::RunTask,
        Some("detail"),
        "open the selected service's detail",
    ),
    command(
        Action::Recheck,
        Some("check now"),
        "check the selected service again now",
    ),
    command(
        Action::Filter,
        Some("filter"),
        "filter by name, kind or detail (Enter or Esc ends)",
    ),
    command(
        Action::Sort,
        Some("sort"),
        "sort: as configured, worst first, by name, slowest first",
    ),
    command(Action::Up, None, "select the previous service"),
    command(Action::Down, None, "select the next service"),
];

impl ServicesPane {
    /// The stored series the latency sparklines show.
    pub fn history_keys(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|row| format!("{LATENCY}:{}", row.name))
            .collect()
    }

    pub fn set(&mut self, services: Vec<(String, &'static str, Duration)>) {
        self.rows = services
            .into_iter()
            .map(|(name, kind, interval)| ServiceRow {
                name,
                kind,
                interval,
                state: ServiceState::Unknown,
                level: Status::Unknown,
                last: None,
                recent: VecDeque::new(),
                last_error: None,
                availability_24h: None,
                availability_7d: None,
            })
            .collect();
    }

    /// The services the table shows, filtered and sorted.
    pub fn visible(&self) -> Vec<&ServiceRow> {
        let filter = self.filter.to_lowercase();
        let mut rows: Vec<&ServiceRow> =
            self.rows
                .iter()
                .filter(|row| {
                    filter.is_empty()
                        || row.name.to_lowercase().contains(&filter)
                        || row.kind.contains(&filter)
                        || row.last.as_ref().is_some_and(|(_, outcome)| {
                            outcome.detail.to_lowercase().contains(&filter)
                        })
                })
                .collect();
        let latency = |row: &ServiceRow| {
            row.last
                .as_ref()
                .and_then(|(_, outcome)| outcome.latency)
                .unwrap_or_default()
        };
        match self.sort {
            ServiceSort::Configured => {}
            ServiceSort::WorstFirst => rows.sort_by_key(|row| std::cmp::Reverse(row.level)),
            ServiceSort::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
            ServiceSort::SlowestFirst => rows.sort_by_key(|row| std::cmp::Reverse(latency(row))),
        }
        rows
    }

    pub fn selected_row(&self) -> Option<&ServiceRow> {
        self.visible().get(self.selected).copied()
    }

    /// A key while the filter is typed; `false` once typing ends (Enter or Esc).
    pub fn edit_filter(&mut self, key: KeyChord) -> bool {
        self.selected = 0;
        match key.code {
            KeyCode::Enter | KeyCode::Esc => {
                self.filter_editing = false;
                return false;
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(ch) if !key.ctrl && !key.alt => self.filter.push(ch),
            _ => {}
        }
        true
    }

    fn down_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|row| row.state == ServiceState::Down)
            .count()
    }
}

impl Component for ServicesPane {
    fn id(&self) -> Pane {
        Pane::Services
    }

    fn title(&self) -> &'static str {
        "Services"
    }

    fn summary(&self, _view: &View) -> Summary {
        let down = self.down_count();
        let worst = self.rows.iter().map(level).max().unwrap_or(Status::Ok);
        let text = match (self.rows.len(), down) {
            (0, _) => "Services none configured".to_owned(),
            (total, 0) => match worst {
                Status::Warn | Status::Crit => format!("Services {total} · some warn"),
                _ => format!("Services {total} up"),
            },
            (total, down) => format!("Services {down} down/{total}"),
        };
        Summary { text, level: worst }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        u16::try_from(self.rows.len().max(1) + 1).unwrap_or(u16::MAX) + 2
    }

    fn wide_share(&self) -> u16 {
        50
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                let last = self.visible().len().saturating_sub(1);
                self.selected = step(self.selected, action, last);
            }
            Action::RunTask => {
                if let Some(name) = self.selected_row().map(|row| row.name.clone()) {
                    ctx.open(Popup::Service { name });
                }
            }
            Action::Recheck => {
                let Some(name) = self.selected_row().map(|row| row.name.clone()) else {
                    return Handled::Yes(Vec::new());
                };
                ctx.notice(&format!("checking {name}…"), Status::Ok);
                return Handled::Yes(vec![Request::CheckService { name }]);
            }
            Action::Filter => {
                self.filter_editing = true;
                *ctx.modal = Some(Modal::Filter);
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.selected = 0;
                ctx.notice(
                    &format!("services sorted {}", self.sort.label()),
                    Status::Ok,
                );
            }
            _ => return Handled::No,
        }
        Handled::Yes(Vec::new())
    }

    fn apply(&mut self, event: &Event, _now: DateTime<Utc>) {
        match event {
            Event::ServiceChecked {
                name,
                state,
                level,
                checked_at,
                outcome,
            } => {
                let Some(row) = self.rows.iter_mut().find(|row| row.name == *name) else {
                    return;
                };
                row.state = *state;
                row.level = if *state == ServiceState::Down {
                    Status::Crit
                } else {
                    *level
                };
                let latency = outcome
                    .latency
                    .map(|latency| latency.as_secs_f64() * 1000.0);
                row.recent.push_back((*checked_at, outcome.ok, latency));
                if let Some(latency) = latency {
                    self.latency.record(name, *checked_at, latency);
                }
                if row.recent.len() > SCREEN_RESULTS_PER_SERVICE {
                    row.recent.pop_front();
                }
                if !outcome.ok {
                    row.last_error = Some((*checked_at, outcome.detail.clone()));
                }
                row.last = Some((*checked_at, outcome.clone()));
            }
            Event::MetricHistory {
                resolution, series, ..
            } => {
                let loaded = series
                    .iter()
                    .filter_map(|(key, points)| {
                        let name = key.strip_prefix(LATENCY)?.strip_prefix(':')?;
                        let peaks = points.iter().map(|point| (point.at, point.max));
                        Some((name.to_owned(), peaks.collect()))
                    })
                    .collect();
                self.latency.load(*resolution, loaded);
            }
            Event::ServiceAvailability(figures) => {
                for (name, day, week) in figures {
                    if let Some(row) = self.rows.iter_mut().find(|row| row.name == *name) {
                        row.availability_24h = *day;
                        row.availability_7d = *week;
                    }
                }
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        render(self, view, area, frame);
    }

    fn palette(&self) -> Vec<PaletteEntry> {
        self.rows
            .iter()
            .map(|row| PaletteEntry {
                pane: Pane::Services,
                kind: "service",
                label: format!("{} ({})", row.name, row.kind),
                key: row.name.clone(),
            })
            .collect()
    }

    fn open_entry(&mut self, key: &str, ctx: &mut Ctx) -> Vec<Request> {
        if !self.visible().iter().any(|row| row.name == key) {
            self.filter.clear();
        }
        if let Some(index) = self.visible().iter().position(|row| row.name == key) {
            self.selected = index;
            ctx.open(Popup::Service {
                name: key.to_owned(),
            });
        }
        Vec::new()
    }
}

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

fn render(pane: &ServicesPane, view: &View, area: Rect, frame: &mut Frame) {
    let look = view.look;
    let palette = &look.palette;
    let rows = pane.visible();
    let down = pane.down_count();
    let mut title = vec![Span::styled("Services", palette.get(Slot::Title))];
    if down > 0 {
        title.push(Span::styled(
            format!(" · {down} down"),
            palette.status(Status::Crit),
        ));
    }
    if !pane.filter.is_empty() || pane.filter_editing {
        let cursor = if pane.filter_editing { "▏" } else { "" };
        title.push(Span::styled(
            format!(" · filter: {}{cursor}", printable(&pane.filter)),
            palette.get(Slot::Key),
        ));
    }
    if pane.sort != ServiceSort::Configured {
        title.push(Span::styled(
            format!(" · {}", pane.sort.label()),
            palette.get(Slot::Muted),
        ));
    }
    let block = pane_block(title, view.focused, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if height == 0 {
        return;
    }
    if pane.rows.is_empty() {
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
    let offset = pane.selected.saturating_sub(room.saturating_sub(1));
    for (index, row) in rows.iter().enumerate().skip(offset).take(room) {
        let ago = row
            .last
            .as_ref()
            .map(|(at, _)| strings::minutes((view.now - *at).num_seconds()))
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
        if index == pane.selected && view.focused {
            line = line.style(palette.get(Slot::Selection));
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The detail view of one service.
pub fn render_detail(pane: &ServicesPane, view: &View, name: &str, area: Rect, frame: &mut Frame) {
    let look = view.look;
    let palette = &look.palette;
    let Some(row) = pane.rows.iter().find(|row| row.name == name) else {
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
            let judged = view.judged.get(&key);
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
                    strings::duration((view.now - *at).num_seconds()),
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
    let columns = inner_width.saturating_sub(9);
    let bucket_seconds = (pane.span.seconds() + columns as i64 - 1) / columns.max(1) as i64;
    let shown = pane
        .latency
        .buckets(&row.name, view.now, bucket_seconds, columns);
    let max = shown.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
    lines.push(Line::from(vec![
        Span::styled("latency  ", palette.get(Slot::Muted)),
        sparkline(&shown, max, look.glyphs, palette.get(Slot::GaugeLow)),
    ]));
    lines.push(Line::styled(
        format!(
            "max {:.0} ms over {} · {} changes the span",
            max,
            pane.span.label(),
            view.keys(Action::TimeSpan)
        ),
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
    lines.push(Line::styled(
        format!(
            "{} checks again now · {} closes",
            view.keys(Action::Recheck),
            view.keys(Action::Close)
        ),
        palette.get(Slot::Key),
    ));
    let height = (u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(&format!(" {} ", printable(name)), width, look);
    crate::tui::widgets::popup::clear_under(frame, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
