//! The hosts pane: every target of the `[[prometheus]]` sources' jobs, worst first (down, then
//! by the rules' level, then the busiest), with CPU, memory, the fullest filesystem, load,
//! network and the scrape's age, and where opsdeck's own exporter runs on the host (joined by
//! the instance's host part) its oldest backup, overdue checklists and open alerts; `/` filters by host or label, the list scrolls, and Enter opens
//! the host view (sparklines over the last half hour, from range queries). A source that cannot
//! be read, answers slowly or partly is said in place; its last good rows stay, marked stale.
//! Shown only when a `[[prometheus]]` source is configured.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::keymap::KeyChord;
use crate::config::theme::Slot;
use crate::core::checks::rules::format_value;
use crate::core::fleet::{FleetSnapshot, HostHistory, HostRow, host_levels, worst_first};
use crate::core::model::{Status, Unit};
use crate::core::protocol::{Event, Request};
use crate::tui::modal::Modal;
use crate::tui::panes::{
    Command, Component, Ctx, Handled, Pane, Summary, View, command, pane_block, step,
};
use crate::tui::strings::{self, pad, printable};
use crate::tui::widgets::sparkline::sparkline;

/// One source as last refreshed, with its hosts' levels.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceView {
    pub snapshot: FleetSnapshot,
    pub levels: HashMap<String, Status>,
    /// The last refresh failed: the rows are from an earlier one.
    pub failed: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A row as listed: its source and host, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Listed {
    source: usize,
    host: usize,
}

/// The host view: which host, and its history once it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct HostDetail {
    pub source: String,
    pub instance: String,
    pub history: Option<HostHistory>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostsPane {
    /// The configured sources' names, known before their first refresh.
    pub configured: Vec<String>,
    pub sources: Vec<SourceView>,
    pub selected: usize,
    pub filter: String,
    /// The filter is being typed (the console holds the keys in [`Modal::Filter`]).
    pub filter_editing: bool,
    pub detail: Option<HostDetail>,
    /// The rows shown, worst first and filtered: worked out when a snapshot arrives or the
    /// filter changes, not on every frame (hundreds of hosts, several reads a frame).
    listed: Vec<Listed>,
}

const COMMANDS: &[Command] = &[
    command(
        Action::RunTask,
        Some("host"),
        "open the selected host's view",
    ),
    command(
        Action::Filter,
        Some("filter"),
        "filter the hosts by name, job or label",
    ),
    command(Action::PageUp, None, "scroll the hosts a page up"),
    command(Action::PageDown, None, "scroll the hosts a page down"),
    command(Action::Close, None, "back from the host view to the list"),
];

/// Rows scrolled by a page key.
const PAGE: usize = 10;

impl HostsPane {
    fn on_snapshot(
        &mut self,
        snapshot: &FleetSnapshot,
        evaluations: &[crate::core::checks::Evaluation],
        now: DateTime<Utc>,
    ) {
        let index = self
            .sources
            .iter()
            .position(|view| view.snapshot.source == snapshot.source);
        // An unreachable server keeps the rows it gave last, marked stale.
        if let (Some(error), Some(index)) = (&snapshot.error, index) {
            self.sources[index].failed = Some(error.clone());
            return;
        }
        let view = SourceView {
            snapshot: snapshot.clone(),
            levels: host_levels(evaluations),
            failed: snapshot.error.clone(),
            received_at: now,
        };
        match index {
            Some(index) => self.sources[index] = view,
            None => {
                self.sources.push(view);
                let order = |name: &str| self.configured.iter().position(|other| other == name);
                self.sources
                    .sort_by_key(|view| order(&view.snapshot.source).unwrap_or(usize::MAX));
            }
        }
        self.listed = self.worst_first_filtered();
        self.selected = self.selected.min(self.listed.len().saturating_sub(1));
    }

    fn level(&self, listed: Listed) -> Status {
        let source = &self.sources[listed.source];
        let host = &source.snapshot.hosts[listed.host];
        source
            .levels
            .get(&host.instance)
            .copied()
            .unwrap_or(if host.up { Status::Ok } else { Status::Crit })
    }

    /// The rows shown.
    fn listed(&self) -> &[Listed] {
        &self.listed
    }

    /// The rows to show, worst first across the sources, filtered.
    fn worst_first_filtered(&self) -> Vec<Listed> {
        let needle = self.filter.to_lowercase();
        let mut listed: Vec<Listed> = Vec::new();
        for (source_index, source) in self.sources.iter().enumerate() {
            for host in worst_first(&source.snapshot.hosts, &source.levels) {
                let row = &source.snapshot.hosts[host];
                if needle.is_empty() || matches(row, &needle) {
                    listed.push(Listed {
                        source: source_index,
                        host,
                    });
                }
            }
        }
        // Worst first over every source; the sort is stable, so each source's order holds.
        listed.sort_by_key(|listed| {
            let host = &self.sources[listed.source].snapshot.hosts[listed.host];
            (host.up, std::cmp::Reverse(self.level(*listed)))
        });
        listed
    }

    fn host(&self, listed: Listed) -> &HostRow {
        &self.sources[listed.source].snapshot.hosts[listed.host]
    }

    /// A key while the filter is typed; `false` once typing ends (Enter or Esc).
    pub fn edit_filter(&mut self, key: KeyChord) -> bool {
        self.selected = 0;
        self.filter_editing = super::type_filter(&mut self.filter, key);
        self.listed = self.worst_first_filtered();
        self.filter_editing
    }

    /// Back from the host view; `false` when it was not open.
    pub fn close_detail(&mut self) -> bool {
        self.detail.take().is_some()
    }

    fn counts(&self) -> (usize, usize, usize) {
        let hosts = self
            .sources
            .iter()
            .map(|source| source.snapshot.hosts.len())
            .sum();
        let down = self
            .sources
            .iter()
            .flat_map(|source| &source.snapshot.hosts)
            .filter(|host| !host.up)
            .count();
        let listed = self.listed();
        let problems = listed
            .iter()
            .filter(|listed| self.level(**listed) >= Status::Warn)
            .count();
        (hosts, down, problems)
    }
}

/// Whether `host` matches a lower-cased filter: its instance, job or any label value.
fn matches(host: &HostRow, needle: &str) -> bool {
    host.instance.to_lowercase().contains(needle)
        || host.job.to_lowercase().contains(needle)
        || host
            .labels
            .iter()
            .any(|(key, value)| format!("{key}={value}").to_lowercase().contains(needle))
}

impl Component for HostsPane {
    fn id(&self) -> Pane {
        Pane::Hosts
    }

    fn title(&self) -> &'static str {
        "Hosts"
    }

    fn shown(&self) -> bool {
        !self.configured.is_empty()
    }

    fn summary(&self, _view: &View) -> Summary {
        if self.sources.is_empty() {
            return Summary {
                text: "Hosts reading Prometheus…".into(),
                level: Status::Unknown,
            };
        }
        let (hosts, down, problems) = self.counts();
        let failed = self.sources.iter().any(|source| source.failed.is_some());
        let level = self
            .listed()
            .iter()
            .map(|listed| self.level(*listed))
            .max()
            .unwrap_or(Status::Ok)
            .max(if failed { Status::Unknown } else { Status::Ok });
        let text = match (down, problems, failed) {
            (_, _, true) => format!("Hosts {hosts} · Prometheus unreadable"),
            (0, 0, false) => format!("Hosts ok ({hosts})"),
            (0, problems, false) => format!("Hosts {problems} need a look of {hosts}"),
            (down, _, false) => format!("Hosts {down} down of {hosts}"),
        };
        Summary { text, level }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        if self.detail.is_some() {
            return 12;
        }
        let hosts = self
            .sources
            .iter()
            .map(|source| source.snapshot.hosts.len())
            .sum::<usize>()
            .min(20);
        let notes = self
            .sources
            .iter()
            .map(|source| {
                usize::from(source.failed.is_some())
                    + source.snapshot.warnings.len().min(2)
                    + source
                        .snapshot
                        .rules
                        .iter()
                        .filter(|rule| rule.error.is_some())
                        .count()
            })
            .sum::<usize>();
        u16::try_from(
            hosts + notes + 2 + usize::from(self.filter_editing || !self.filter.is_empty()),
        )
        .unwrap_or(u16::MAX)
        .saturating_add(2)
    }

    fn column(&self) -> usize {
        1
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        let last = self.listed().len().saturating_sub(1);
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom if self.detail.is_none() => {
                self.selected = step(self.selected, action, last);
            }
            Action::PageDown => self.selected = (self.selected + PAGE).min(last),
            Action::PageUp => self.selected = self.selected.saturating_sub(PAGE),
            Action::Filter => {
                self.filter_editing = true;
                *ctx.modal = Some(Modal::Filter);
            }
            Action::RunTask if self.detail.is_some() => self.detail = None,
            Action::RunTask => {
                let Some(listed) = self.listed().get(self.selected).copied() else {
                    return Handled::Yes(Vec::new());
                };
                let source = self.sources[listed.source].snapshot.source.clone();
                let instance = self.host(listed).instance.clone();
                self.detail = Some(HostDetail {
                    source: source.clone(),
                    instance: instance.clone(),
                    history: None,
                });
                return Handled::Yes(vec![Request::LoadHostHistory { source, instance }]);
            }
            _ => return Handled::No,
        }
        Handled::Yes(Vec::new())
    }

    fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        match event {
            Event::Fleet {
                snapshot,
                evaluations,
            } => self.on_snapshot(snapshot, evaluations, now),
            Event::HostHistory(history) => {
                if let Some(detail) = &mut self.detail
                    && detail.instance == history.instance
                {
                    detail.history = Some((**history).clone());
                }
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        if area.is_empty() {
            return;
        }
        let lines = match &self.detail {
            Some(detail) => self.detail_lines(detail, view, area),
            None => self.list_lines(view, area),
        };
        let block = pane_block(self.title_spans(view), view.focused, view.look);
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }
}

impl HostsPane {
    fn title_spans(&self, view: &View) -> Vec<Span<'static>> {
        let palette = &view.look.palette;
        let mut title = vec![Span::styled("Hosts", palette.get(Slot::Title))];
        if let Some(detail) = &self.detail {
            title.push(Span::styled(
                format!(" · {}", printable(&detail.instance)),
                palette.get(Slot::Title),
            ));
            return title;
        }
        if self.sources.is_empty() {
            title.push(Span::styled(" · reading…", palette.get(Slot::Muted)));
            return title;
        }
        let (hosts, down, _) = self.counts();
        title.push(Span::styled(
            format!(" · {hosts}"),
            palette.get(Slot::Muted),
        ));
        if down > 0 {
            title.push(Span::styled(
                format!(" · {down} down"),
                palette.status(Status::Crit),
            ));
        }
        if let Some(oldest) = self.sources.iter().map(|source| source.received_at).min() {
            title.push(Span::styled(
                format!(
                    " · {} ago",
                    strings::minutes((view.now - oldest).num_seconds())
                ),
                palette.get(Slot::Muted),
            ));
        }
        title
    }

    /// Problems of the sources, in place above the rows.
    fn notes(&self, view: &View, width: usize) -> Vec<Line<'static>> {
        let palette = &view.look.palette;
        let mut lines = Vec::new();
        for source in &self.sources {
            if let Some(error) = &source.failed {
                lines.push(Line::styled(
                    strings::fit(
                        &format!(
                            "{}: cannot read Prometheus, rows from {} ago: {}",
                            printable(&source.snapshot.source),
                            strings::minutes((view.now - source.received_at).num_seconds()),
                            printable(error)
                        ),
                        width,
                    ),
                    palette.status(Status::Crit),
                ));
            }
            for warning in source.snapshot.warnings.iter().take(2) {
                lines.push(Line::styled(
                    strings::fit(&format!("partial data: {}", printable(warning)), width),
                    palette.status(Status::Warn),
                ));
            }
            for rule in &source.snapshot.rules {
                if let Some(error) = &rule.error {
                    lines.push(Line::styled(
                        strings::fit(
                            &format!("rule {}: {}", rule.metric, printable(error)),
                            width,
                        ),
                        palette.status(Status::Unknown),
                    ));
                }
            }
        }
        lines
    }

    fn list_lines(&self, view: &View, area: Rect) -> Vec<Line<'static>> {
        let palette = &view.look.palette;
        let width = usize::from(area.width.saturating_sub(2));
        let height = usize::from(area.height.saturating_sub(2));
        let mut lines = self.notes(view, width);
        if self.filter_editing || !self.filter.is_empty() {
            let cursor = if self.filter_editing { "▏" } else { "" };
            lines.push(Line::styled(
                strings::fit(
                    &format!(
                        "filter: {}{cursor}  ({} to end)",
                        printable(&self.filter),
                        if self.filter_editing { "Enter" } else { "/" }
                    ),
                    width,
                ),
                palette.get(Slot::Muted),
            ));
        }
        if self.sources.is_empty() {
            lines.push(Line::styled(
                "reading Prometheus…",
                palette.get(Slot::Muted),
            ));
            return lines;
        }
        let opsdeck = self
            .sources
            .iter()
            .flat_map(|source| &source.snapshot.hosts)
            .any(has_opsdeck);
        let columns = Columns::for_width(width, opsdeck);
        lines.push(Line::styled(columns.header(), palette.get(Slot::Muted)));
        let listed = self.listed();
        if listed.is_empty() {
            lines.push(Line::styled(
                if self.filter.is_empty() {
                    "no targets in the configured jobs".to_owned()
                } else {
                    format!("no host matches `{}`", printable(&self.filter))
                },
                palette.get(Slot::Muted),
            ));
            return lines;
        }
        let room = height.saturating_sub(lines.len()).max(1);
        // The selection stays on screen: the list scrolls once it passes the last row.
        let offset = self.selected.saturating_sub(room - 1);
        for (index, listed) in listed.iter().enumerate().skip(offset).take(room) {
            let host = self.host(*listed);
            let level = self.level(*listed);
            let stale = self.sources[listed.source].failed.is_some();
            let mut line = columns.row(host, level, stale, view);
            if index == self.selected && view.takes_keys {
                line = line.patch_style(palette.get(Slot::Selection));
            }
            lines.push(line);
        }
        lines
    }

    fn detail_lines(&self, detail: &HostDetail, view: &View, area: Rect) -> Vec<Line<'static>> {
        let palette = &view.look.palette;
        let width = usize::from(area.width.saturating_sub(2));
        let host = self.sources.iter().find_map(|source| {
            (source.snapshot.source == detail.source)
                .then(|| {
                    source
                        .snapshot
                        .hosts
                        .iter()
                        .find(|host| host.instance == detail.instance)
                })
                .flatten()
        });
        let mut lines = Vec::new();
        if let Some(host) = host {
            let labels: Vec<String> = host
                .labels
                .iter()
                .filter(|(key, _)| key.as_str() != "__name__")
                .map(|(key, value)| format!("{key}={}", printable(value)))
                .collect();
            lines.push(Line::styled(
                strings::fit(&labels.join(" "), width),
                palette.get(Slot::Muted),
            ));
            lines.push(opsdeck_line(host, view, width));
        }
        let Some(history) = &detail.history else {
            lines.push(Line::styled(
                "reading the last 30 minutes…",
                palette.get(Slot::Muted),
            ));
            return lines;
        };
        if let Some(error) = &history.error {
            lines.push(Line::styled(
                strings::fit(&printable(error), width),
                palette.status(Status::Crit),
            ));
        }
        let label = 8;
        let figure = 9;
        let spark = width.saturating_sub(label + figure + 2).max(1);
        for (what, unit, values) in &history.series {
            let recent: Vec<f64> = values.iter().rev().take(spark).rev().copied().collect();
            let scale = match unit {
                Unit::Percent => 100.0,
                _ => recent.iter().copied().fold(0.0, f64::max),
            };
            let cells: Vec<Option<f64>> = recent
                .iter()
                .map(|value| value.is_finite().then_some(*value))
                .collect();
            let last = recent
                .last()
                .filter(|value| value.is_finite())
                .map_or_else(|| "-".to_owned(), |value| format_value(*value, *unit));
            lines.push(Line::from(vec![
                Span::styled(pad(what, label), palette.get(Slot::Text)),
                Span::styled(format!("{last:>figure$} "), palette.get(Slot::Text)),
                sparkline(&cells, scale, view.look.glyphs, palette.gauge(Status::Ok)),
            ]));
        }
        lines.push(Line::styled(
            format!("{} back to the list", view.keys(Action::Close)),
            palette.get(Slot::Muted),
        ));
        lines
    }
}

/// Whether opsdeck's own exporter on the host reported anything (it always reports open alerts).
fn has_opsdeck(host: &HostRow) -> bool {
    host.backup_age_seconds.is_some()
        || host.checklists_overdue.is_some()
        || host.alerts_open.is_some()
}

/// The host view's line of what opsdeck's exporter on the host says.
fn opsdeck_line(host: &HostRow, view: &View, width: usize) -> Line<'static> {
    let palette = &view.look.palette;
    if !has_opsdeck(host) {
        return Line::styled(
            strings::fit(
                "opsdeck: no opsdeck exporter on this host in Prometheus (backups, checklists, alerts unknown)",
                width,
            ),
            palette.get(Slot::Muted),
        );
    }
    let backup = host.backup_age_seconds.map_or_else(
        || "no backup".to_owned(),
        |age| format!("oldest backup {}", strings::duration(age as i64)),
    );
    let count =
        |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |value| format!("{value:.0}"));
    let late = host.checklists_overdue.unwrap_or(0.0) > 0.0;
    let alerts = host.alerts_open.unwrap_or(0.0) > 0.0;
    Line::styled(
        strings::fit(
            &format!(
                "opsdeck: {backup} · checklists overdue {} · alerts open {}",
                count(host.checklists_overdue),
                count(host.alerts_open)
            ),
            width,
        ),
        if late || alerts {
            palette.status(Status::Warn)
        } else {
            palette.get(Slot::Text)
        },
    )
}

/// A backup's age in at most five columns: `45s`, `12m`, `26h`, `3d`.
fn short_age(seconds: f64) -> String {
    let seconds = seconds.max(0.0) as i64;
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Which columns fit: the host name takes what the figures leave.
struct Columns {
    host: usize,
    network: bool,
    /// Backup age, overdue checklists and open alerts from opsdeck's exporters.
    opsdeck: bool,
}

/// Width of the opsdeck columns with their spaces: backup age 5, overdue 4, alerts 4.
const OPSDECK_WIDTH: usize = 16;
/// Width of the network columns with their spaces.
const NETWORK_WIDTH: usize = 22;

impl Columns {
    /// `opsdeck`: some host has an opsdeck exporter. Its columns come before the network's:
    /// what Prometheus alone cannot show is worth more than two rates at 80 columns.
    fn for_width(width: usize, opsdeck: bool) -> Columns {
        // status 4, up 5, cpu/mem/disk 6 each, load 6, age 5, spaces.
        let fixed = 4 + 5 + 6 * 3 + 6 + 5 + 7;
        let opsdeck = opsdeck && width >= fixed + 14 + OPSDECK_WIDTH;
        let extra = if opsdeck { OPSDECK_WIDTH } else { 0 };
        let network = width >= fixed + extra + 16 + NETWORK_WIDTH;
        let host = width
            .saturating_sub(fixed + extra + if network { NETWORK_WIDTH } else { 0 })
            .max(8);
        Columns {
            host,
            network,
            opsdeck,
        }
    }

    fn header(&self) -> String {
        let mut text = format!(
            "{:<4} {} {:<4} {:>5} {:>5} {:>5} {:>5}",
            "",
            pad("HOST", self.host),
            "UP",
            "CPU",
            "MEM",
            "DISK",
            "LOAD"
        );
        if self.network {
            text.push_str(&format!(" {:>10} {:>10}", "IN", "OUT"));
        }
        text.push_str(&format!(" {:>5}", "AGE"));
        if self.opsdeck {
            text.push_str(&format!(" {:>5} {:>4} {:>4}", "BKUP", "LATE", "ALRT"));
        }
        text
    }

    fn row(&self, host: &HostRow, level: Status, stale: bool, view: &View) -> Line<'static> {
        let palette = &view.look.palette;
        let percent = |value: Option<f64>| {
            value
                .filter(|value| value.is_finite())
                .map_or_else(|| "-".to_owned(), |value| format!("{value:.0}%"))
        };
        let tag = match level {
            Status::Ok => "",
            Status::Warn => "WARN",
            Status::Crit => "CRIT",
            Status::Unknown => "?",
        };
        let mut text = format!(
            " {} {:<4} {:>5} {:>5} {:>5} {:>5}",
            strings::fit(&pad(&printable(&host.instance), self.host), self.host),
            if host.up { "up" } else { "down" },
            percent(host.cpu_used_pct),
            percent(host.mem_used_pct),
            percent(host.disk_used_pct),
            host.load1
                .map_or_else(|| "-".to_owned(), |load| format!("{load:.2}")),
        );
        if self.network {
            let rate = |value: Option<f64>| {
                value.map_or_else(
                    || "-".to_owned(),
                    |value| format_value(value, Unit::BytesPerSecond),
                )
            };
            text.push_str(&format!(
                " {:>10} {:>10}",
                rate(host.net_rx_bytes_per_s),
                rate(host.net_tx_bytes_per_s)
            ));
        }
        let age = host
            .scrape_age_seconds
            .map_or_else(|| "-".to_owned(), |age| format!("{age:.0}s"));
        text.push_str(&format!(
            " {:>5}",
            if stale { "stale" } else { age.as_str() }
        ));
        if self.opsdeck {
            let count = |value: Option<f64>| {
                value.map_or_else(|| "-".to_owned(), |value| format!("{value:.0}"))
            };
            text.push_str(&format!(
                " {:>5} {:>4} {:>4}",
                host.backup_age_seconds
                    .map_or_else(|| "-".to_owned(), short_age),
                count(host.checklists_overdue),
                count(host.alerts_open)
            ));
        }
        let style = if stale {
            palette.get(Slot::Muted)
        } else {
            palette.get(Slot::Text)
        };
        Line::from(vec![
            Span::styled(format!("{tag:<4}"), palette.status(level)),
            Span::styled(text, style),
        ])
    }
}
