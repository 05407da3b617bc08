//! The logs pane: one row per log source (lines per minute, errors and warnings over its window,
//! when its last line came, why it cannot be read in place), the selected source's top
//! signatures under it (new ones first and marked, with their last-hour count against the same
//! hour yesterday and when they were first seen), and below the list the selected source's
//! per-minute histogram over 15 min, 1 h or 24 h, its named matches, and the access-log and
//! failed-login figures. Enter shows the lines behind a signature (or all of a source's) in the
//! line view, which filters, follows and attaches what it shows to an open incident.
//!
//! Everything that comes from a log is made printable and cut by display width here: a line is
//! never written to the terminal raw.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::incidents::Incident;
use crate::core::logs::findings::{
    LineFilter, LogLine, LogsSnapshot, MinuteCounts, SignatureFinding, SourceFindings,
};
use crate::core::logs::format::Level;
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::tui::modal::{AttachChoice, LinesView, OpenIncident, Popup};
use crate::tui::panes::incidents::refused_read_only;
use crate::tui::panes::{
    Command, Component, Ctx, Handled, PaletteEntry, Pane, Summary, View, command, pane_block,
};
use crate::tui::strings::{self, fit, pad, printable};
use crate::tui::style::Look;
use crate::tui::widgets::sparkline::sparkline;

/// The histogram's span, cycled by [`Action::LogWindow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Window {
    #[default]
    Quarter,
    Hour,
    Day,
}

impl Window {
    pub fn minutes(self) -> i64 {
        match self {
            Window::Quarter => 15,
            Window::Hour => 60,
            Window::Day => 1440,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Window::Quarter => "15 min",
            Window::Hour => "1 h",
            Window::Day => "24 h",
        }
    }

    fn next(self) -> Window {
        match self {
            Window::Quarter => Window::Hour,
            Window::Hour => Window::Day,
            Window::Day => Window::Quarter,
        }
    }
}

/// A row of the pane's list: a source, or one of the selected source's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Source(usize),
    Signature(usize, usize),
}

impl Row {
    fn source(self) -> usize {
        match self {
            Row::Source(source) | Row::Signature(source, _) => source,
        }
    }
}

/// A read older than this is drawn as a warning in the title.
const STALE_AFTER_SECS: i64 = 300;

/// Signatures listed under the selected source.
const SIGNATURE_ROWS: usize = 10;

#[derive(Debug, Clone, Default)]
pub struct LogsPane {
    /// Names of the configured sources, in config order, known before the first read.
    pub configured: Vec<String>,
    pub snapshot: Option<LogsSnapshot>,
    /// The worst verdict of the rules on each source's metrics, by source name.
    pub levels: HashMap<String, Status>,
    pub received_at: Option<DateTime<Utc>>,
    /// The selected row; its source is the one whose signatures and figures are shown.
    pub selected: Option<Row>,
    pub window: Window,
    /// Open incidents, most severe first (from [`Event::Incidents`]).
    pub incidents: Vec<OpenIncident>,
    /// What the last attach from the pane came to, shown in place until the selection moves.
    pub note: Option<(String, Status)>,
}

const COMMANDS: &[Command] = &[
    command(Action::Up, None, "select the previous source or signature"),
    command(Action::Down, None, "select the next source or signature"),
    command(Action::PageUp, None, "ten rows up"),
    command(Action::PageDown, None, "ten rows down"),
    command(
        Action::RunTask,
        Some("lines"),
        "the lines of the selected signature, or all of the source's",
    ),
    command(
        Action::LogWindow,
        Some("window"),
        "the histogram over 15 min, 1 h or 24 h",
    ),
    command(
        Action::Filter,
        Some("search"),
        "search the selected source's lines for a text",
    ),
    command(
        Action::Follow,
        Some("follow"),
        "the selected lines as they come",
    ),
    command(
        Action::AttachFinding,
        Some("attach"),
        "attach the selected finding (its sample line) to an open incident",
    ),
];

/// The keys of the line view, for the help.
pub const LINES_COMMANDS: &[Command] = &[
    command(
        Action::Filter,
        None,
        "show the source's lines containing a text (Enter searches, Esc cancels; empty: back)",
    ),
    command(
        Action::Follow,
        None,
        "follow: fetch the lines again on each read and stay at the bottom",
    ),
    command(
        Action::AttachFinding,
        None,
        "attach the finding with the lines shown, frozen, to an open incident",
    ),
];

/// `text` from a log, made printable and cut to `columns` with a `…` marker. Only the head that
/// can be on screen is escaped and measured: a line may be megabytes.
pub fn log_text(text: &str, columns: usize) -> String {
    let end = text
        .char_indices()
        .nth(columns + 1)
        .map_or(text.len(), |(index, _)| index);
    let head = printable(&text[..end]);
    if end < text.len() {
        fit(&format!("{head}…"), columns)
    } else {
        fit(&head, columns)
    }
}

/// Lines and errors per column over the `window` minutes ending with the minute of `end`, in at
/// most `columns` columns of whole minutes each, oldest first; the newest column is complete.
/// Also the minutes per column.
pub fn histogram(
    minutes: &[MinuteCounts],
    end: DateTime<Utc>,
    window: i64,
    columns: usize,
) -> (Vec<(u64, u64)>, i64) {
    let columns = i64::try_from(columns.max(1)).unwrap_or(i64::MAX);
    let per_column = (window.max(1) + columns - 1) / columns;
    let bins = (window.max(1) + per_column - 1) / per_column;
    let last = end.timestamp().div_euclid(60);
    let mut counts = vec![(0, 0); usize::try_from(bins).unwrap_or(0)];
    for minute in minutes {
        let ago = last - minute.minute.timestamp().div_euclid(60);
        if !(0..window).contains(&ago) {
            continue;
        }
        let index = usize::try_from(bins - 1 - ago / per_column).unwrap_or(0);
        if let Some(bin) = counts.get_mut(index) {
            bin.0 += minute.lines;
            bin.1 += minute.errors;
        }
    }
    (counts, per_column)
}

/// `1 new signature`, `2 new signatures`.
fn new_signatures(count: u64) -> String {
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} new signature{plural}")
}

/// `12`, `1.5`, `0.2`: a per-minute rate.
fn rate(lines: u64, window_secs: u64) -> String {
    if window_secs == 0 {
        return "-".into();
    }
    let per_minute = lines as f64 * 60.0 / window_secs as f64;
    if per_minute >= 10.0 {
        format!("{per_minute:.0}")
    } else {
        format!("{per_minute:.1}")
    }
}

/// The trend of a signature: its last hour against the same hour yesterday.
fn trend(signature: &SignatureFinding, look: &Look) -> String {
    match signature.same_hour_yesterday {
        None => String::new(),
        Some(yesterday) => {
            let last = signature.last_hour as f64;
            let arrow = if last > yesterday {
                look.glyphs.rising
            } else if last < yesterday {
                look.glyphs.falling
            } else {
                '='
            };
            format!("{arrow}{yesterday:.0}")
        }
    }
}

fn level_word(level: Option<Level>) -> &'static str {
    match level {
        Some(Level::Error) => "ERROR",
        Some(Level::Warn) => "WARN",
        Some(Level::Info) => "INFO",
        Some(Level::Debug) => "DEBUG",
        None => "-",
    }
}

fn level_style(level: Option<Level>, look: &Look) -> Style {
    match level {
        Some(Level::Error) => look.palette.status(Status::Crit),
        Some(Level::Warn) => look.palette.status(Status::Warn),
        _ => look.palette.get(Slot::Text),
    }
}

/// The most columns of a template in an attached finding's summary: the timeline is one line.
const SUMMARY_TEMPLATE: usize = 160;

/// The one line an attached finding says, in UTC like the rest of an incident's timeline:
/// `new signature "…" first seen 02:41 UTC, 12 in the last hour (3 same hour yesterday)`.
pub fn finding_summary(source: &SourceFindings, filter: &LineFilter) -> String {
    match filter {
        LineFilter::Signature(template) => {
            match source.signatures.iter().find(|s| s.template == *template) {
                Some(signature) => {
                    let yesterday = signature
                        .same_hour_yesterday
                        .map_or(String::new(), |y| format!(" ({y:.0} same hour yesterday)"));
                    format!(
                        "{}signature \"{}\" first seen {} UTC, {} in the last hour{yesterday}",
                        if signature.is_new { "new " } else { "" },
                        log_text(template, SUMMARY_TEMPLATE),
                        signature.first_seen.format("%H:%M"),
                        signature.last_hour
                    )
                }
                None => format!("signature \"{}\"", log_text(template, SUMMARY_TEMPLATE)),
            }
        }
        LineFilter::Text(text) => {
            format!("lines containing \"{}\"", log_text(text, SUMMARY_TEMPLATE))
        }
        LineFilter::All => {
            let window = strings::duration(i64::try_from(source.window_secs).unwrap_or(0));
            format!(
                "{} errors, {} warnings in {window}, {}",
                source.window.errors,
                source.window.warnings,
                new_signatures(source.window.new_signatures)
            )
        }
    }
}

impl LogsPane {
    fn sources(&self) -> &[SourceFindings] {
        self.snapshot
            .as_ref()
            .map_or(&[][..], |snapshot| snapshot.sources.as_slice())
    }

    fn source(&self, index: usize) -> Option<&SourceFindings> {
        self.sources().get(index)
    }

    fn selected_row(&self) -> Option<Row> {
        self.selected
            .or((!self.sources().is_empty()).then_some(Row::Source(0)))
    }

    /// The list as drawn: every source, the selected one's signatures under it.
    pub fn rows(&self) -> Vec<Row> {
        let open = self.selected_row().map(Row::source);
        let mut rows = Vec::new();
        for (index, source) in self.sources().iter().enumerate() {
            rows.push(Row::Source(index));
            if open == Some(index) {
                let shown = source.signatures.len().min(SIGNATURE_ROWS);
                rows.extend((0..shown).map(|signature| Row::Signature(index, signature)));
            }
        }
        rows
    }

    fn move_selection(&mut self, action: Action) {
        let rows = self.rows();
        let Some(last) = rows.len().checked_sub(1) else {
            return;
        };
        let at = self
            .selected_row()
            .and_then(|row| rows.iter().position(|r| *r == row))
            .unwrap_or(0);
        let to = match action {
            Action::Up => at.saturating_sub(1),
            Action::Down => (at + 1).min(last),
            Action::PageUp => at.saturating_sub(10),
            Action::PageDown => (at + 10).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => at,
        };
        self.selected = rows.get(to).copied();
        self.note = None;
    }

    /// The source and filter of the selected row: a signature's lines, or all of a source's.
    fn selected_lines(&self) -> Option<(String, LineFilter)> {
        let row = self.selected_row()?;
        let source = self.source(row.source())?;
        let filter = match row {
            Row::Signature(_, index) => {
                LineFilter::Signature(source.signatures.get(index)?.template.clone())
            }
            Row::Source(_) => LineFilter::All,
        };
        Some((source.name.clone(), filter))
    }

    /// Opens the line view on the selected row; a search is over all of the source's lines.
    fn open_lines(&self, ctx: &mut Ctx, follow: bool, search: bool) -> Vec<Request> {
        let Some((source, filter)) = self.selected_lines() else {
            return Vec::new();
        };
        let filter = if search { LineFilter::All } else { filter };
        let mut view = LinesView::new(&source, filter);
        view.follow = follow;
        let request = view.request();
        if search {
            view.typing = Some(String::new());
        }
        ctx.open(Popup::LogLines(Box::new(view)));
        vec![request]
    }

    /// Sends the finding to the one open incident, or asks which one; `Err` says why not.
    fn attach(
        &self,
        source: &str,
        filter: &LineFilter,
        lines: Vec<LogLine>,
        back: Option<Box<LinesView>>,
        ctx: &mut Ctx,
    ) -> Result<Vec<Request>, String> {
        if refused_read_only(ctx, "attaching a finding to an incident") {
            return Err("read-only: attaching is refused".into());
        }
        let Some(findings) = self.sources().iter().find(|s| s.name == source) else {
            return Err(format!("{} is no longer read", printable(source)));
        };
        if self.incidents.is_empty() {
            return Err("no open incident to attach to: declare one first (incidents pane)".into());
        }
        let choice = AttachChoice {
            source: source.to_owned(),
            summary: finding_summary(findings, filter),
            lines,
            incidents: self.incidents.clone(),
            selected: 0,
            back,
        };
        if let [only] = self.incidents.as_slice() {
            ctx.notice(
                &format!("attaching to {}…", printable(&only.id)),
                Status::Ok,
            );
            return Ok(choice.request().into_iter().collect());
        }
        ctx.open(Popup::LogAttach(Box::new(choice)));
        Ok(Vec::new())
    }

    /// Attaches the selected signature with its sample line (what the pane shows of it).
    fn attach_selected(&mut self, ctx: &mut Ctx) -> Vec<Request> {
        let Some((source, filter)) = self.selected_lines() else {
            return Vec::new();
        };
        let sample = match (self.selected_row(), &filter) {
            (Some(Row::Signature(index, signature)), LineFilter::Signature(_)) => self
                .source(index)
                .and_then(|s| s.signatures.get(signature))
                .map(|s| LogLine {
                    at: s.first_seen,
                    level: s.level,
                    text: s.sample.clone(),
                }),
            _ => None,
        };
        match self.attach(&source, &filter, sample.into_iter().collect(), None, ctx) {
            Ok(requests) => requests,
            Err(reason) => {
                self.note = Some((reason, Status::Warn));
                Vec::new()
            }
        }
    }

    /// Keys in the line view (Quit is the console's).
    pub fn lines_action(&self, mut view: LinesView, action: Action, ctx: &mut Ctx) -> Vec<Request> {
        if view.scroll_by(action) {
            ctx.open(Popup::LogLines(Box::new(view)));
            return Vec::new();
        }
        let mut requests = Vec::new();
        match action {
            Action::Close => return requests,
            Action::Filter => view.typing = Some(String::new()),
            Action::Follow => {
                view.follow = !view.follow;
                if view.follow {
                    requests.push(view.request());
                }
            }
            Action::AttachFinding if !view.loaded => {
                view.message = Some((
                    "the lines are still loading: attach once they are shown".into(),
                    Status::Warn,
                ));
            }
            Action::AttachFinding => {
                let (source, filter, lines) =
                    (view.source.clone(), view.filter.clone(), view.lines.clone());
                let back = Box::new(view.clone());
                match self.attach(&source, &filter, lines, Some(back), ctx) {
                    Ok(sent) => {
                        if ctx.modal.is_some() {
                            return sent;
                        }
                        let to = self.incidents.first().map_or("", |i| i.id.as_str());
                        view.message = Some((
                            format!("attaching {} lines to {}…", view.lines.len(), printable(to)),
                            Status::Ok,
                        ));
                        requests = sent;
                    }
                    Err(reason) => view.message = Some((reason, Status::Warn)),
                }
            }
            _ => {}
        }
        ctx.open(Popup::LogLines(Box::new(view)));
        requests
    }

    /// Keys while choosing the incident: Enter attaches, Esc goes back.
    pub fn choice_action(mut choice: AttachChoice, action: Action, ctx: &mut Ctx) -> Vec<Request> {
        let last = choice.incidents.len().saturating_sub(1);
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                choice.selected = crate::tui::panes::step(choice.selected, action, last);
                ctx.open(Popup::LogAttach(Box::new(choice)));
                Vec::new()
            }
            Action::RunTask | Action::Confirm | Action::AttachFinding => {
                let requests: Vec<Request> = choice.request().into_iter().collect();
                let id = choice
                    .incidents
                    .get(choice.selected)
                    .map(|i| i.id.clone())
                    .unwrap_or_default();
                ctx.notice(&format!("attaching to {}…", printable(&id)), Status::Ok);
                if let Some(mut back) = choice.back {
                    back.message = Some((
                        format!(
                            "attaching {} lines to {}…",
                            choice.lines.len(),
                            printable(&id)
                        ),
                        Status::Ok,
                    ));
                    ctx.open(Popup::LogLines(back));
                }
                requests
            }
            Action::Close => {
                if let Some(back) = choice.back {
                    ctx.open(Popup::LogLines(back));
                }
                Vec::new()
            }
            _ => {
                ctx.open(Popup::LogAttach(Box::new(choice)));
                Vec::new()
            }
        }
    }

    fn on_snapshot(&mut self, snapshot: &LogsSnapshot, levels: HashMap<String, Status>) {
        // The same source and signature stay selected when the order changes.
        let named = self.selected_row().and_then(|row| {
            let source = self.source(row.source())?;
            let template = match row {
                Row::Signature(_, index) => Some(source.signatures.get(index)?.template.clone()),
                Row::Source(_) => None,
            };
            Some((source.name.clone(), template))
        });
        let mut snapshot = snapshot.clone();
        // New signatures lead whatever order they came in; the rest keep theirs.
        for source in &mut snapshot.sources {
            source.signatures.sort_by_key(|signature| !signature.is_new);
        }
        self.snapshot = Some(snapshot);
        self.levels = levels;
        self.selected = named.and_then(|(name, template)| {
            let index = self.sources().iter().position(|s| s.name == name)?;
            let signatures = &self.sources()[index].signatures;
            Some(
                match template.and_then(|t| signatures.iter().position(|s| s.template == t)) {
                    Some(signature) if signature < SIGNATURE_ROWS => {
                        Row::Signature(index, signature)
                    }
                    _ => Row::Source(index),
                },
            )
        });
    }

    fn new_signatures(&self) -> u64 {
        self.sources().iter().map(|s| s.window.new_signatures).sum()
    }

    fn unreadable(&self) -> usize {
        self.sources().iter().filter(|s| s.error.is_some()).count()
    }

    fn level_of(&self, source: &SourceFindings) -> Status {
        let judged = self.levels.get(&source.name).copied().unwrap_or(Status::Ok);
        if source.error.is_some() {
            judged.max(Status::Warn)
        } else {
            judged
        }
    }

    /// The rows under the list for the selected source.
    fn detail_height(&self) -> usize {
        self.selected_row()
            .and_then(|row| self.source(row.source()))
            .map_or(0, |source| {
                4 + usize::from(!source.matches.is_empty())
                    + 2 * usize::from(source.access.is_some())
                    + usize::from(source.logins.is_some())
            })
    }
}

impl Component for LogsPane {
    fn id(&self) -> Pane {
        Pane::Logs
    }

    fn title(&self) -> &'static str {
        "Logs"
    }

    /// Only with log sources, so a console without `[[log]]` keeps its rows.
    fn shown(&self) -> bool {
        !self.configured.is_empty() || !self.sources().is_empty()
    }

    fn summary(&self, _view: &View) -> Summary {
        if self.snapshot.is_none() {
            return Summary {
                text: "Logs reading…".into(),
                level: Status::Unknown,
            };
        }
        let sources = self.sources();
        let errors: u64 = sources.iter().map(|s| s.window.errors).sum();
        let mut text = format!("Logs {} sources · {errors} errors", sources.len());
        let new = self.new_signatures();
        if new > 0 {
            text.push_str(&format!(" · {}", new_signatures(new)));
        }
        let unreadable = self.unreadable();
        if unreadable > 0 {
            text.push_str(&format!(" · {unreadable} unreadable"));
        }
        let level = sources
            .iter()
            .map(|s| self.level_of(s))
            .max()
            .unwrap_or(Status::Unknown)
            .max(if new > 0 { Status::Warn } else { Status::Ok });
        Summary { text, level }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        let listed = self.rows().len().max(self.configured.len());
        let rows = 1 + usize::from(self.note.is_some()) + listed + 1 + self.detail_height();
        u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        let requests = match action {
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                self.move_selection(action);
                Vec::new()
            }
            Action::LogWindow => {
                self.window = self.window.next();
                Vec::new()
            }
            Action::RunTask => self.open_lines(ctx, false, false),
            Action::Follow => self.open_lines(ctx, true, false),
            Action::Filter => self.open_lines(ctx, false, true),
            Action::AttachFinding => self.attach_selected(ctx),
            _ => return Handled::No,
        };
        Handled::Yes(requests)
    }

    fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        match event {
            Event::Logs {
                snapshot,
                evaluations,
            } => {
                let mut levels: HashMap<String, Status> = HashMap::new();
                for evaluation in evaluations {
                    if let Some(instance) = &evaluation.metric.instance {
                        let source = instance.split('/').next().unwrap_or(instance);
                        let level = levels.entry(source.to_owned()).or_insert(Status::Ok);
                        *level = (*level).max(evaluation.status);
                    }
                }
                self.on_snapshot(snapshot, levels);
                self.received_at = Some(now);
            }
            Event::Incidents(incidents) => {
                let mut open: Vec<&Incident> = incidents.iter().filter(|i| i.is_open()).collect();
                open.sort_by(|a, b| {
                    a.level
                        .cmp(&b.level)
                        .then(b.detected.at.cmp(&a.detected.at))
                });
                self.incidents = open
                    .iter()
                    .map(|incident| OpenIncident {
                        id: incident.id.clone(),
                        label: format!(
                            "{} {} ({})",
                            incident.level.as_str(),
                            printable(&incident.title),
                            printable(&incident.id)
                        ),
                    })
                    .collect();
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        render(self, view, area, frame);
    }

    fn palette(&self) -> Vec<PaletteEntry> {
        self.sources()
            .iter()
            .map(|source| PaletteEntry {
                pane: Pane::Logs,
                kind: "log source",
                label: format!(
                    "{} ({})",
                    printable(&source.name),
                    printable(&source.origin)
                ),
                key: source.name.clone(),
            })
            .collect()
    }

    fn open_entry(&mut self, key: &str, _ctx: &mut Ctx) -> Vec<Request> {
        if let Some(index) = self.sources().iter().position(|s| s.name == key) {
            self.selected = Some(Row::Source(index));
            self.note = None;
        }
        Vec::new()
    }
}

/// Columns of a source row after its name: three counts, the window and the last line's age.
const FIGURES: usize = 3 * 7 + 2 * 6;

fn source_line(
    pane: &LogsPane,
    source: &SourceFindings,
    name_width: usize,
    width: usize,
    view: &View,
) -> Line<'static> {
    let look = view.look;
    let palette = &look.palette;
    let level = pane.level_of(source);
    let text = palette.get(Slot::Text);
    let window = strings::duration(i64::try_from(source.window_secs).unwrap_or(0));
    let last = source.last_line_at.map_or("-".to_owned(), |at| {
        strings::minutes((view.now - at).num_seconds())
    });
    let errors_style = if source.window.errors > 0 {
        palette.status(level.max(Status::Warn))
    } else {
        text
    };
    let mut spans = vec![
        Span::styled(pad(&log_text(&source.name, name_width), name_width), text),
        Span::styled(
            format!(" {:>6}", rate(source.window.lines, source.window_secs)),
            text,
        ),
        Span::styled(format!(" {:>6}", source.window.errors), errors_style),
        Span::styled(format!(" {:>6}", source.window.warnings), text),
        Span::styled(format!(" {window:>5} {last:>5}"), text),
    ];
    let rest = width.saturating_sub(name_width + FIGURES + 2);
    if let Some(error) = &source.error {
        spans.push(Span::styled(
            format!("  {}", log_text(error, rest)),
            palette.status(Status::Crit),
        ));
    } else if source.window.new_signatures > 0 {
        spans.push(Span::styled(
            format!(
                "  {}",
                fit(&format!("{} new", source.window.new_signatures), rest)
            ),
            palette.status(Status::Warn),
        ));
    } else {
        spans.push(Span::styled(
            format!("  {}", log_text(&source.origin, rest)),
            palette.get(Slot::Muted),
        ));
    }
    Line::from(spans)
}

/// Columns of a signature row before its template.
const SIGNATURE_FIGURES: usize = 2 + 3 + 1 + 6 + 1 + 7 + 1 + 5 + 2;

fn signature_line(
    signature: &SignatureFinding,
    width: usize,
    now: DateTime<Utc>,
    look: &Look,
) -> Line<'static> {
    let palette = &look.palette;
    // A time alone would read as today's: older ones show their day.
    let format = if now - signature.first_seen < chrono::TimeDelta::hours(20) {
        "%H:%M"
    } else {
        "%m-%d"
    };
    let first = signature
        .first_seen
        .with_timezone(&look.utc_offset)
        .format(format)
        .to_string();
    let marker = if signature.is_new { "NEW" } else { "" };
    Line::from(vec![
        Span::raw("  "),
        Span::styled(format!("{marker:<3}"), palette.status(Status::Warn)),
        Span::styled(
            format!(
                " {:>6} {:<7} {first:>5}  ",
                signature.last_hour,
                trend(signature, look)
            ),
            palette.get(Slot::Text),
        ),
        Span::styled(
            log_text(&signature.template, width.saturating_sub(SIGNATURE_FIGURES)),
            level_style(signature.level, look),
        ),
    ])
}

/// The detail of the selected source: its histogram, matches and recipe figures.
fn detail_lines(
    pane: &LogsPane,
    source: &SourceFindings,
    width: usize,
    view: &View,
) -> Vec<Line<'static>> {
    let look = view.look;
    let palette = &look.palette;
    let muted = palette.get(Slot::Muted);
    let text = palette.get(Slot::Text);
    const LABEL: usize = 8;
    let end = pane
        .snapshot
        .as_ref()
        .map_or(view.now, |snapshot| snapshot.taken_at);
    let columns = width.saturating_sub(LABEL + 12).max(1);
    let window = pane.window.minutes();
    let (bins, per_column) = histogram(&source.minutes, end, window, columns);
    let max_lines = bins.iter().map(|b| b.0).max().unwrap_or(0);
    let max_errors = bins.iter().map(|b| b.1).max().unwrap_or(0);
    // A short window has fewer bins than columns: each is drawn wider, up to four columns.
    let repeat = (columns / bins.len().max(1)).clamp(1, 4);
    let span = match (per_column, repeat) {
        (1, 1) => "a column a minute".to_owned(),
        (1, columns) => format!("{columns} columns a minute"),
        (minutes, _) => format!("a column = {minutes} min"),
    };
    let values = |pick: fn(&(u64, u64)) -> u64| -> Vec<Option<f64>> {
        bins.iter()
            .flat_map(|bin| {
                let value = Some(pick(bin)).filter(|v| *v > 0).map(|v| v as f64);
                std::iter::repeat_n(value, repeat)
            })
            .collect()
    };
    let mut lines = vec![
        Line::styled(
            fit(
                &format!(
                    "{} · last {} · {span}",
                    printable(&source.name),
                    pane.window.label()
                ),
                width,
            ),
            palette.get(Slot::Title),
        ),
        Line::from(vec![
            Span::styled(pad("lines", LABEL), muted),
            sparkline(&values(|b| b.0), max_lines as f64, look.glyphs, text),
            Span::styled(format!(" max {max_lines}"), muted),
        ]),
        Line::from(vec![
            Span::styled(pad("errors", LABEL), muted),
            sparkline(
                &values(|b| b.1),
                max_errors as f64,
                look.glyphs,
                palette.status(Status::Crit),
            ),
            Span::styled(format!(" max {max_errors}"), muted),
        ]),
    ];
    let ago = format!("-{}", pane.window.label().replace(' ', ""));
    let axis = (bins.len() * repeat).saturating_sub(ago.len() + 3);
    lines.push(Line::styled(
        format!("{}{ago}{}now", " ".repeat(LABEL), " ".repeat(axis)),
        muted,
    ));
    let labelled = |label: &str, body: String, style: Style| {
        Line::from(vec![
            Span::styled(pad(label, LABEL), muted),
            Span::styled(fit(&body, width.saturating_sub(LABEL)), style),
        ])
    };
    let pairs = |items: &[(String, u64)]| {
        items
            .iter()
            .take(5)
            .map(|(name, count)| format!("{} {count}", log_text(name, 40)))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    if !source.matches.is_empty() {
        let body = source
            .matches
            .iter()
            .map(|m| format!("{} {} ({} total)", printable(&m.name), m.in_window, m.total))
            .collect::<Vec<_>>()
            .join(" · ");
        lines.push(labelled("matches", body, text));
    }
    if let Some(access) = &source.access {
        let mut figures = vec![format!("{} requests", access.requests)];
        if let Some(pct) = access.server_error_pct {
            figures.push(format!("5xx {pct:.1} %"));
        }
        if let Some(p95) = access.p95_ms {
            figures.push(format!("p95 {p95:.0} ms"));
        }
        if let Some(mean) = access.mean_ms {
            figures.push(format!("mean {mean:.0} ms"));
        }
        if access.unparsed > 0 {
            figures.push(format!("{} unparsed", access.unparsed));
        }
        let bad = access.server_error_pct.unwrap_or(0.0) > 0.0;
        lines.push(labelled(
            "access",
            figures.join(" · "),
            if bad {
                palette.status(Status::Warn)
            } else {
                text
            },
        ));
        lines.push(labelled("top", pairs(&access.top_endpoints), text));
    }
    if let Some(logins) = &source.logins {
        let mut body = format!("{} failed", logins.failed);
        if !logins.suspicious.is_empty() {
            body.push_str(&format!(" · suspicious {}", pairs(&logins.suspicious)));
        }
        if !logins.top_ips.is_empty() {
            body.push_str(&format!(" · top {}", pairs(&logins.top_ips)));
        }
        if !logins.top_users.is_empty() {
            body.push_str(&format!(" · users {}", pairs(&logins.top_users)));
        }
        let style = if logins.suspicious.is_empty() {
            text
        } else {
            palette.status(Status::Warn)
        };
        lines.push(labelled("logins", body, style));
    }
    lines
}

fn render(pane: &LogsPane, view: &View, area: Rect, frame: &mut Frame) {
    let look = view.look;
    let palette = &look.palette;
    let mut title = vec![Span::styled("Logs", palette.get(Slot::Title))];
    let new = pane.new_signatures();
    if new > 0 {
        title.push(Span::styled(
            format!(" · {}", new_signatures(new)),
            palette.status(Status::Warn),
        ));
    }
    let unreadable = pane.unreadable();
    if unreadable > 0 {
        title.push(Span::styled(
            format!(" · {unreadable} unreadable"),
            palette.status(Status::Crit),
        ));
    }
    match pane.received_at {
        Some(at) => {
            let age = (view.now - at).num_seconds();
            // The runner reads every few seconds: minutes without a read mean it is stuck.
            let style = if age >= STALE_AFTER_SECS {
                palette.status(Status::Warn)
            } else {
                palette.get(Slot::Muted)
            };
            title.push(Span::styled(
                format!(" · read {} ago", strings::minutes(age)),
                style,
            ));
        }
        None => title.push(Span::styled(" · reading…", palette.get(Slot::Muted))),
    }
    let block = pane_block(title, view.focused, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if height == 0 {
        return;
    }
    let name_width = pane
        .sources()
        .iter()
        .map(|s| &s.name)
        .chain(&pane.configured)
        .map(|name| strings::width(&printable(name)))
        .max()
        .unwrap_or(6)
        .clamp(6, 20);
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{} {:>6} {:>6} {:>6} {:>5} {:>5}",
                pad("SOURCE", name_width),
                "/MIN",
                "ERRORS",
                "WARN",
                "IN",
                "LAST"
            ),
            width,
        ),
        palette.get(Slot::Muted),
    )];
    if let Some((note, level)) = &pane.note {
        lines.push(Line::styled(fit(note, width), palette.status(*level)));
    }
    if pane.snapshot.is_none() {
        lines.extend(pane.configured.iter().map(|name| {
            Line::styled(
                format!("{} reading…", pad(&log_text(name, name_width), name_width)),
                palette.get(Slot::Muted),
            )
        }));
    }
    let rows = pane.rows();
    // Every row of the list first (an unreadable source must stay in sight), then as much of
    // the detail as is left, none when less than its title and histogram fit.
    let free = height.saturating_sub(lines.len());
    let detail = pane
        .detail_height()
        .min(free.saturating_sub(rows.len() + 1));
    let detail = if detail >= 3 { detail } else { 0 };
    let room = free
        .saturating_sub(if detail > 0 { detail + 1 } else { 0 })
        .max(1);
    let selected = pane.selected_row();
    let at = selected
        .and_then(|row| rows.iter().position(|r| *r == row))
        .unwrap_or(0);
    let offset = at.saturating_sub(room - 1);
    for row in rows.iter().skip(offset).take(room) {
        let line = match *row {
            Row::Source(index) => match pane.source(index) {
                Some(source) => source_line(pane, source, name_width, width, view),
                None => continue,
            },
            Row::Signature(index, signature) => {
                match pane.source(index).and_then(|s| s.signatures.get(signature)) {
                    Some(signature) => signature_line(signature, width, view.now, look),
                    None => continue,
                }
            }
        };
        let line = if view.takes_keys && Some(*row) == selected {
            line.style(palette.get(Slot::Selection))
        } else {
            line
        };
        lines.push(line);
    }
    if let Some(source) = selected.and_then(|row| pane.source(row.source()))
        && detail > 0
    {
        lines.push(Line::raw(""));
        lines.extend(
            detail_lines(pane, source, width, view)
                .into_iter()
                .take(detail),
        );
    }
    lines.truncate(height);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `all lines`, `signature "…"`, `lines containing "…"`.
fn filter_label(filter: &LineFilter, columns: usize) -> String {
    match filter {
        LineFilter::All => "all lines".to_owned(),
        LineFilter::Signature(template) => {
            format!("signature \"{}\"", log_text(template, columns))
        }
        LineFilter::Text(text) => format!("lines containing \"{}\"", log_text(text, columns)),
    }
}

/// The line view over the panes.
pub fn render_lines(lines_view: &LinesView, view: &View, area: Rect, frame: &mut Frame) {
    let look = view.look;
    let palette = &look.palette;
    let width = area.width.saturating_sub(4).min(160);
    let height = area.height.saturating_sub(2);
    let inner_width = usize::from(width.saturating_sub(2));
    let mut title = format!(
        " {} · {}",
        log_text(&lines_view.source, 24),
        filter_label(&lines_view.filter, 40)
    );
    if lines_view.loaded {
        title.push_str(&format!(" · {} lines", lines_view.lines.len()));
    }
    if lines_view.follow {
        title.push_str(" · following");
    }
    title.push(' ');
    let mut footer = Vec::new();
    if let Some(typed) = &lines_view.typing {
        footer.push(Line::styled(
            fit(&format!("search: {}▏", printable(typed)), inner_width),
            palette.get(Slot::Key),
        ));
    }
    if let Some((message, level)) = &lines_view.message {
        footer.push(Line::styled(
            fit(message, inner_width),
            palette.status(*level),
        ));
    }
    footer.push(Line::styled(
        fit(
            &format!(
                "{} search · {} follow · {} attach to an incident · {} closes",
                view.keys(Action::Filter),
                view.keys(Action::Follow),
                view.keys(Action::AttachFinding),
                view.keys(Action::Close)
            ),
            inner_width,
        ),
        palette.get(Slot::Muted),
    ));
    let rows = usize::from(height.saturating_sub(2)).saturating_sub(footer.len());
    lines_view.rows.set(rows);
    let mut body: Vec<Line> = if !lines_view.loaded {
        vec![Line::styled("loading…", palette.get(Slot::Muted))]
    } else if lines_view.lines.is_empty() {
        vec![Line::styled(
            "no recent line matches",
            palette.get(Slot::Muted),
        )]
    } else {
        let top = lines_view.top(rows);
        lines_view
            .lines
            .iter()
            .skip(top)
            .take(rows)
            .map(|line| {
                let stamp = format!(
                    "{} {:<5} ",
                    line.at.with_timezone(&look.utc_offset).format("%H:%M:%S"),
                    level_word(line.level)
                );
                let rest = inner_width.saturating_sub(strings::width(&stamp));
                Line::from(vec![
                    Span::styled(stamp, palette.get(Slot::Muted)),
                    Span::styled(log_text(&line.text, rest), level_style(line.level, look)),
                ])
            })
            .collect()
    };
    // Always the full height, so following does not make the frame jump.
    body.resize(rows, Line::raw(""));
    body.extend(footer);
    let popup_height = u16::try_from(body.len() + 2).unwrap_or(u16::MAX);
    let popup_area = crate::tui::widgets::popup::centered(area, width, popup_height);
    let block = crate::tui::widgets::popup::frame(&title, width, look);
    crate::tui::widgets::popup::clear_under(frame, popup_area);
    frame.render_widget(Paragraph::new(body).block(block), popup_area);
}

/// The choice of the open incident a finding goes to.
pub fn render_choice(choice: &AttachChoice, view: &View, area: Rect, frame: &mut Frame) {
    let look = view.look;
    let palette = &look.palette;
    let width = area.width.saturating_sub(4).min(90);
    let inner = usize::from(width.saturating_sub(2));
    let mut body = vec![
        Line::styled(
            fit(&printable(&choice.summary), inner),
            palette.get(Slot::Text),
        ),
        Line::styled(
            format!("with {} lines as evidence, to:", choice.lines.len()),
            palette.get(Slot::Muted),
        ),
    ];
    for (index, incident) in choice.incidents.iter().enumerate() {
        let line = Line::styled(fit(&incident.label, inner), palette.get(Slot::Text));
        body.push(if index == choice.selected {
            line.style(palette.get(Slot::Selection))
        } else {
            line
        });
    }
    body.push(Line::styled(
        fit(
            &format!(
                "{} attaches · {} cancels",
                view.keys(Action::RunTask),
                view.keys(Action::Close)
            ),
            inner,
        ),
        palette.get(Slot::Key),
    ));
    let height = u16::try_from(body.len() + 2).unwrap_or(u16::MAX);
    let popup_area = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(" Attach to which open incident? ", width, look);
    crate::tui::widgets::popup::clear_under(frame, popup_area);
    frame.render_widget(Paragraph::new(body).block(block), popup_area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn minute(offset: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::minutes(offset)
    }

    #[test]
    fn a_day_bins_whole_minutes_into_the_columns_that_fit() {
        let minutes: Vec<MinuteCounts> = (0..1440)
            .map(|ago| MinuteCounts {
                minute: minute(-ago),
                lines: 1,
                errors: u64::from(ago == 0 || ago == 30),
                warnings: 0,
            })
            .collect();
        let (bins, per) = histogram(
            &minutes,
            minute(0) + chrono::Duration::seconds(42),
            1440,
            60,
        );
        assert_eq!((bins.len(), per), (60, 24));
        assert!(bins.iter().all(|bin| bin.0 == 24), "{bins:?}");
        // Now and 30 minutes ago: the newest column and the one before it.
        assert_eq!(bins[59].1, 1);
        assert_eq!(bins[58].1, 1);
        assert_eq!(bins.iter().map(|b| b.1).sum::<u64>(), 2);

        let (bins, per) = histogram(&minutes, minute(0), 1440, 100);
        assert_eq!((bins.len(), per), (96, 15));
        assert_eq!(bins.iter().map(|b| b.0).sum::<u64>(), 1440);

        // A quarter hour keeps a column a minute; older minutes stay out.
        let (bins, per) = histogram(&minutes, minute(0), 15, 60);
        assert_eq!((bins.len(), per), (15, 1));
        assert_eq!(bins.iter().map(|b| b.0).sum::<u64>(), 15);
    }

    #[test]
    fn log_text_escapes_and_cuts_by_display_width() {
        assert_eq!(log_text("a\x1b[2Jb", 20), "a\\x1b[2Jb");
        assert_eq!(log_text("디스크 사용량 초과", 9), "디스크 …");
        let long = "x".repeat(100_000);
        assert_eq!(log_text(&long, 10), format!("{}…", "x".repeat(9)));
        // Zero-width characters past the head still leave the marker.
        let marks = "\u{200b}".repeat(50);
        assert!(log_text(&marks, 10).ends_with('…'));
    }
}
