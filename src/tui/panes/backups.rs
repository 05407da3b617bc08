//! The backups pane: one status line per backup set (the newest good backup's age against its
//! limit, file count, total size, retention and what a prune would free, last verification, last
//! restore test), then what is wrong with the selected set and its files, newest first, with their size trend.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::keymap::Keymap;
use crate::config::theme::Slot;
use crate::core::backups::VerifyResult;
use crate::core::backups::status::{FileReport, SetReport};
use crate::core::checks::Evaluation;
use crate::core::checks::rules::format_bytes;
use crate::core::model::Status;
use crate::core::protocol::{Event, Request};
use crate::core::tasks::Confirmed;
use crate::core::tasks::Params;
use crate::core::tasks::backups::BackupAction;
use crate::tui::modal::Popup;
use crate::tui::panes::{
    Command, Component, Ctx, Handled, PaletteEntry, Pane, Summary, View, command, pane_block, step,
};
use crate::tui::strings::{self, pad, printable};
use crate::tui::style::Look;

/// One set as shown: its report and how the rules judge each of its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRow {
    pub report: SetReport,
    pub levels: HashMap<&'static str, Status>,
    pub level: Status,
}

impl BackupRow {
    /// The level of one metric of this set (`Ok` when it has no rule or was not reported).
    pub fn level_of(&self, metric: &str) -> Status {
        self.levels.get(metric).copied().unwrap_or(Status::Ok)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupsPane {
    /// Names of the configured sets, in config order, known before the first report.
    pub configured: Vec<String>,
    pub rows: Vec<BackupRow>,
    pub selected: usize,
    /// Files scrolled past in the selected set's file list.
    pub file_offset: usize,
    pub received_at: Option<DateTime<Utc>>,
}

const COMMANDS: &[Command] = &[
    command(
        Action::RunTask,
        Some("detail"),
        "every file of the selected set, with its verification",
    ),
    command(
        Action::VerifyBackup,
        Some("verify"),
        "verify every file of the selected set (decompress, list, checksum)",
    ),
    command(
        Action::PruneBackups,
        Some("prune"),
        "delete what the selected set's retention allows (shows the files first)",
    ),
    command(
        Action::RestoreTest,
        Some("restore test"),
        "restore the newest dump into a throwaway database (asks first)",
    ),
    command(
        Action::CreateBackup,
        Some("back up"),
        "make a backup of the selected set now (asks first)",
    ),
    command(Action::PageUp, None, "scroll the selected set's files up"),
    command(
        Action::PageDown,
        None,
        "scroll the selected set's files down",
    ),
];

impl BackupsPane {
    fn on_reports(
        &mut self,
        reports: &[SetReport],
        evaluations: &[Evaluation],
        now: DateTime<Utc>,
    ) {
        self.rows = reports
            .iter()
            .map(|report| {
                let levels: HashMap<&'static str, Status> = evaluations
                    .iter()
                    .filter(|evaluation| {
                        evaluation.metric.instance.as_deref() == Some(report.set.as_str())
                    })
                    .map(|evaluation| (evaluation.metric.name, evaluation.status))
                    .collect();
                let level = levels.values().copied().max().unwrap_or(Status::Ok);
                BackupRow {
                    report: report.clone(),
                    levels,
                    level,
                }
            })
            .collect();
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        self.received_at = Some(now);
    }

    pub fn selected_row(&self) -> Option<&BackupRow> {
        self.rows.get(self.selected)
    }

    pub fn select(&mut self, selected: usize) {
        if selected != self.selected {
            self.file_offset = 0;
        }
        self.selected = selected.min(self.rows.len().saturating_sub(1));
    }

    fn scroll_files(&mut self, down: bool) {
        let files = self.selected_row().map_or(0, |row| row.report.files.len());
        self.file_offset = if down {
            (self.file_offset + 10).min(files.saturating_sub(1))
        } else {
            self.file_offset.saturating_sub(10)
        };
    }

    fn open_problems(&self) -> usize {
        self.rows
            .iter()
            .filter(|row| row.level >= Status::Warn)
            .count()
    }

    /// Verify, prune, restore-test or back up the selected set: verify starts at once, the
    /// others after their plan is shown and confirmed.
    pub fn backup_action(&mut self, action: BackupAction, ctx: &mut Ctx) -> Vec<Request> {
        let Some(set) = self
            .selected_row()
            .map(|row| row.report.set.clone())
            .or_else(|| self.configured.first().cloned())
        else {
            ctx.notice(
                "no backup sets configured: add [[backup]] entries to the config",
                Status::Warn,
            );
            return Vec::new();
        };
        if action.destructive() && ctx.read_only {
            ctx.notice(
                &format!(
                    "read-only: {} changes the system and is refused",
                    action.id()
                ),
                Status::Warn,
            );
            return Vec::new();
        }
        let params = Params::from([("set".to_owned(), set.clone())]);
        let task_id = action.id();
        if action.destructive() {
            ctx.notice(&format!("planning {task_id} of {set}…"), Status::Ok);
            vec![ctx.plan(task_id, params, true)]
        } else {
            ctx.notice(&format!("{task_id} of {set} started"), Status::Ok);
            vec![Request::StartTask {
                task_id: task_id.into(),
                params,
                confirmed: Confirmed::No,
            }]
        }
    }
}

/// The backup task an action key starts.
pub fn backup_action_of(action: Action) -> Option<BackupAction> {
    match action {
        Action::VerifyBackup => Some(BackupAction::Verify),
        Action::PruneBackups => Some(BackupAction::Prune),
        Action::RestoreTest => Some(BackupAction::RestoreTest),
        Action::CreateBackup => Some(BackupAction::Create),
        _ => None,
    }
}

impl Component for BackupsPane {
    fn id(&self) -> Pane {
        Pane::Backups
    }

    fn title(&self) -> &'static str {
        "Backups"
    }

    /// Only with sets configured, so a console without them keeps its rows.
    fn shown(&self) -> bool {
        !self.configured.is_empty()
    }

    fn summary(&self, _view: &View) -> Summary {
        let level = self
            .rows
            .iter()
            .map(|row| row.level)
            .max()
            .unwrap_or(Status::Unknown);
        let text = match (self.received_at, self.open_problems()) {
            (None, _) => "Backups scanning…".to_owned(),
            (Some(_), 0) => format!("Backups ok ({} sets)", self.configured.len()),
            (Some(_), problems) => format!("Backups {problems} need a look"),
        };
        Summary { text, level }
    }

    /// Sets, the selected set's findings and up to ten files.
    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        let findings = self.selected_row().map_or(0, |row| {
            row.report.findings.len() + usize::from(row.report.store_problem.is_some())
        });
        let files = self
            .selected_row()
            .map_or(0, |row| row.report.files.len().min(10) + 1);
        let rows = 1 + self.configured.len().max(self.rows.len()) + findings + files;
        u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        if let Some(backup) = backup_action_of(action) {
            return Handled::Yes(self.backup_action(backup, ctx));
        }
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                let last = self.configured.len().saturating_sub(1);
                self.select(step(self.selected, action, last));
            }
            Action::PageUp | Action::PageDown => self.scroll_files(action == Action::PageDown),
            Action::RunTask => {
                if let Some(set) = self.selected_row().map(|row| row.report.set.clone()) {
                    ctx.open(Popup::Backup { set, scroll: 0 });
                }
            }
            _ => return Handled::No,
        }
        Handled::Yes(Vec::new())
    }

    fn apply(&mut self, event: &Event, now: DateTime<Utc>) {
        if let Event::Backups {
            reports,
            evaluations,
        } = event
        {
            self.on_reports(reports, evaluations, now);
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        render(self, view, area, frame);
    }

    fn palette(&self) -> Vec<PaletteEntry> {
        self.configured
            .iter()
            .map(|set| PaletteEntry {
                pane: Pane::Backups,
                kind: "backup set",
                label: set.clone(),
                key: set.clone(),
            })
            .collect()
    }

    fn open_entry(&mut self, key: &str, ctx: &mut Ctx) -> Vec<Request> {
        if let Some(index) = self.rows.iter().position(|row| row.report.set == key) {
            self.select(index);
            ctx.open(Popup::Backup {
                set: key.to_owned(),
                scroll: 0,
            });
        }
        Vec::new()
    }
}

/// Draws nothing in an empty area: the pane is hidden when no sets are configured.
fn render(pane: &BackupsPane, shown: &View, area: Rect, frame: &mut Frame) {
    if area.is_empty() {
        return;
    }
    let look = shown.look;
    let palette = &look.palette;
    let view = pane;
    let mut title = vec![Span::styled("Backups", palette.get(Slot::Title))];
    let worst = view.rows.iter().map(|row| row.level).max();
    if let Some(level @ (Status::Warn | Status::Crit)) = worst {
        title.push(Span::styled(
            format!(" · {} need a look", view.open_problems()),
            palette.status(level),
        ));
    }
    match view.received_at {
        Some(at) => title.push(Span::styled(
            format!(
                " · scanned {} ago",
                strings::minutes((shown.now - at).num_seconds())
            ),
            palette.get(Slot::Muted),
        )),
        None => title.push(Span::styled(" · scanning…", palette.get(Slot::Muted))),
    }
    let focused = shown.focused;
    let block = pane_block(title, focused, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if height == 0 {
        return;
    }
    let name_width = view
        .configured
        .iter()
        .map(|name| strings::width(name))
        .max()
        .unwrap_or(8)
        .clamp(4, 16);
    let mut lines = vec![Line::styled(
        strings::fit(
            &format!(
                "{} {:<4} {:>12} {:>5} {:>9} {:<16} {:<10} RESTORE",
                pad("SET", name_width),
                "",
                "NEWEST GOOD",
                "FILES",
                "SIZE",
                "KEEP",
                "VERIFIED"
            ),
            width,
        ),
        palette.get(Slot::Muted),
    )];
    for (index, name) in view.configured.iter().enumerate() {
        let row = view.rows.iter().find(|row| row.report.set == *name);
        let mut line = match row {
            Some(row) => set_line(shown, row, name_width, width, look),
            None => Line::styled(
                format!("{} scanning…", pad(&printable(name), name_width)),
                palette.get(Slot::Muted),
            ),
        };
        if focused && index == view.selected {
            line = line.style(palette.get(Slot::Selection));
        }
        lines.push(line);
    }
    if let Some(row) = view.selected_row() {
        for finding in &row.report.findings {
            lines.push(Line::styled(
                strings::fit(&format!("  {}", printable(&finding.text)), width),
                palette.status(row.level_of(finding.metric).max(Status::Warn)),
            ));
        }
        if let Some(problem) = &row.report.store_problem {
            lines.push(Line::styled(
                strings::fit(&format!("  store: {}", printable(problem)), width),
                palette.status(Status::Warn),
            ));
        }
        // The header line of the files, and the key hint when the pane has the focus.
        let room = height.saturating_sub(lines.len() + 1 + usize::from(focused));
        if room > 0 && !row.report.files.is_empty() {
            lines.push(Line::styled(
                strings::fit(
                    &format!(
                        "  {:<11} {:>6} {:>9} {:>6} {:<14} {:<8} FILE",
                        "TIME", "AGE", "SIZE", "TREND", "KIND", "VERIFY"
                    ),
                    width,
                ),
                palette.get(Slot::Muted),
            ));
            let offset = view
                .file_offset
                .min(row.report.files.len().saturating_sub(1));
            for (index, file) in row.report.files.iter().enumerate().skip(offset).take(room) {
                lines.push(file_line(shown, &row.report, index, file, width, look));
            }
        }
    }
    if focused && lines.len() < height {
        lines.push(Line::styled(
            strings::fit(&keys_hint(shown.keymap), width),
            palette.get(Slot::Key),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The detail popup of one set: its status, what is wrong, and every file.
pub fn render_detail(
    pane: &BackupsPane,
    view: &View,
    set: &str,
    scroll: u16,
    area: Rect,
    frame: &mut Frame,
) {
    let look = view.look;
    let palette = &look.palette;
    let Some(row) = pane.rows.iter().find(|row| row.report.set == set) else {
        return;
    };
    let report = &row.report;
    let width = area.width.saturating_sub(4).min(110);
    let inner_width = usize::from(width.saturating_sub(2));
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", label(row.level)), palette.status(row.level)),
        Span::styled(
            strings::fit(
                &format!(
                    "{} · {} · {} file(s), {} · keep {} ({} expired, {})",
                    crate::core::text::printable_path(&report.directory),
                    report.kind.label(),
                    report.files.len(),
                    format_bytes(report.total_bytes as f64),
                    report.retention,
                    report.expired_files,
                    format_bytes(report.expired_bytes as f64)
                ),
                inner_width.saturating_sub(5),
            ),
            palette.get(Slot::Text),
        ),
    ])];
    let restore = match (&report.last_restore, report.restore_configured) {
        (_, false) => "no restore test configured".to_owned(),
        (None, true) => "never restore-tested".to_owned(),
        (Some(test), true) => format!(
            "last good restore test {} ago: {}",
            strings::duration((view.now - test.started_at).num_seconds()),
            printable(&test.message)
        ),
    };
    lines.push(Line::styled(
        strings::fit(&restore, inner_width),
        palette.get(Slot::Text),
    ));
    if report.findings.is_empty() {
        lines.push(Line::styled("nothing wrong", palette.status(Status::Ok)));
    }
    for finding in &report.findings {
        lines.push(Line::styled(
            strings::fit(&printable(&finding.text), inner_width),
            palette.status(row.level_of(finding.metric).max(Status::Warn)),
        ));
    }
    for path in &report.in_progress {
        lines.push(Line::styled(
            strings::fit(
                &format!("being written: {}", crate::core::text::printable_path(path)),
                inner_width,
            ),
            palette.get(Slot::Muted),
        ));
    }
    lines.push(Line::styled(
        strings::fit(
            &format!(
                "  {:<11} {:>6} {:>9} {:>6} {:<14} {:<8} FILE",
                "TIME", "AGE", "SIZE", "TREND", "KIND", "VERIFY"
            ),
            inner_width,
        ),
        palette.get(Slot::Muted),
    ));
    for (index, file) in report.files.iter().enumerate() {
        lines.push(file_line(view, report, index, file, inner_width, look));
        if let Some(verification) = &file.verification
            && verification.result != VerifyResult::Ok
        {
            lines.push(Line::styled(
                strings::fit(
                    &format!("      {}", printable(&verification.message)),
                    inner_width,
                ),
                palette.status(Status::Warn),
            ));
        }
    }
    let height = (u16::try_from(lines.len()).unwrap_or(u16::MAX) + 2).min(area.height);
    let popup = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(
        &format!(" {} · {} ", printable(set), keys_hint(view.keymap)),
        width,
        look,
    );
    crate::tui::widgets::popup::clear_under(frame, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

fn label(level: Status) -> &'static str {
    match level {
        Status::Ok => "OK",
        Status::Unknown => "…",
        Status::Warn => "WARN",
        Status::Crit => "CRIT",
    }
}

fn set_line(
    view: &View,
    row: &BackupRow,
    name_width: usize,
    width: usize,
    look: &Look,
) -> Line<'static> {
    let palette = &look.palette;
    let report = &row.report;
    let newest = match (report.problem.as_ref(), report.newest_age) {
        (Some(_), _) => "error".to_owned(),
        (None, None) => "none".to_owned(),
        (None, Some(age)) => strings::minutes(age),
    };
    let keep = if report.expired_files > 0 {
        format!("{} ({} exp.)", report.retention, report.expired_files)
    } else {
        report.retention.clone()
    };
    let verified = if report.corrupt > 0 {
        format!("{} BAD", report.corrupt)
    } else {
        report
            .last_verified
            .map(|at| coarse_ago((view.now - at).num_seconds()))
            .unwrap_or_else(|| "never".into())
    };
    let restore = match (&report.last_restore, report.restore_configured) {
        (_, false) => "-".to_owned(),
        (None, true) => "never".to_owned(),
        (Some(test), true) => coarse_ago((view.now - test.started_at).num_seconds()),
    };
    let text = format!(
        "{:>12} {:>5} {:>9} {:<16} ",
        format!("{newest} /{}", short_limit(&report.freshness)),
        report.files.len(),
        format_bytes(report.total_bytes as f64),
        strings::fit(&keep, 16),
    );
    let used = name_width + 1 + 5 + strings::width(&text);
    let tail = format!("{:<10} {restore}", strings::fit(&verified, 10));
    Line::from(vec![
        Span::styled(
            format!("{} ", pad(&printable(&report.set), name_width)),
            palette.get(Slot::Text),
        ),
        Span::styled(
            format!("{:<4} ", label(row.level)),
            palette.status(row.level),
        ),
        Span::styled(
            text,
            match row.level_of("backup.stale") {
                level @ (Status::Warn | Status::Crit) => palette.status(level),
                _ => palette.get(Slot::Text),
            },
        ),
        Span::styled(
            strings::fit(&tail, width.saturating_sub(used)),
            palette.get(Slot::Text),
        ),
    ])
}

/// Hours are enough for when a set was last verified or restore-tested.
fn coarse_ago(seconds: i64) -> String {
    if seconds < 3600 {
        "<1h ago".into()
    } else {
        format!("{} ago", strings::duration(seconds / 3600 * 3600))
    }
}

/// "24h" stays; a schedule shows as "cron".
fn short_limit(freshness: &str) -> String {
    if freshness.contains(' ') {
        "cron".into()
    } else {
        freshness.replace(' ', "")
    }
}

fn file_line(
    view: &View,
    report: &SetReport,
    index: usize,
    file: &FileReport,
    width: usize,
    look: &Look,
) -> Line<'static> {
    let palette = &look.palette;
    let backup = &file.file;
    let time = backup
        .time
        .with_timezone(&look.utc_offset)
        .format("%m-%d %H:%M")
        .to_string();
    let age = strings::minutes((view.now - backup.time).num_seconds());
    // Change against the next older file: a sudden drop is the sign of a broken dump.
    let trend = report
        .files
        .get(index + 1)
        .filter(|older| older.file.size > 0)
        .map(|older| {
            let change =
                (backup.size as f64 - older.file.size as f64) * 100.0 / older.file.size as f64;
            // Wider than the column helps nobody: past ten times, say so.
            if change > 999.0 {
                ">+999%".to_owned()
            } else {
                format!("{change:+.0}%")
            }
        })
        .unwrap_or_default();
    let (verify, verify_level) = match (&file.verification, file.changed_since_verified) {
        (Some(verification), _) => (
            verification.result.as_str().to_owned(),
            match verification.result {
                VerifyResult::Ok => Status::Ok,
                VerifyResult::Changed => Status::Warn,
                VerifyResult::Corrupt | VerifyResult::Error => Status::Crit,
            },
        ),
        (None, true) => ("changed".to_owned(), Status::Warn),
        (None, false) => ("-".to_owned(), Status::Unknown),
    };
    let kind_level = if backup.problem.is_some() {
        Status::Crit
    } else if file.kind_ok {
        Status::Ok
    } else {
        Status::Warn
    };
    let name = backup
        .path
        .file_name()
        .map(|name| printable(&name.to_string_lossy()))
        .unwrap_or_default();
    let mut note = String::new();
    if let Some(problem) = &backup.problem {
        note = format!("{} · ", printable(problem));
    } else if file.expired {
        note = "expired · ".into();
    }
    let head = format!(
        "  {time:<11} {age:>6} {:>9} {trend:>6} ",
        format_bytes(backup.size as f64)
    );
    let used = strings::width(&head) + 15 + 9;
    Line::from(vec![
        Span::styled(
            head,
            palette.get(if file.expired {
                Slot::Muted
            } else {
                Slot::Text
            }),
        ),
        Span::styled(
            format!("{:<14} ", strings::fit(backup.kind.label(), 14)),
            if kind_level == Status::Ok {
                palette.get(Slot::Muted)
            } else {
                palette.status(kind_level)
            },
        ),
        Span::styled(format!("{verify:<8} "), palette.status(verify_level)),
        Span::styled(
            strings::fit(&format!("{note}{name}"), width.saturating_sub(used)),
            palette.get(Slot::Text),
        ),
    ])
}

/// The keys of the backup actions, shown at the bottom of the focused pane.
fn keys_hint(keymap: &Keymap) -> String {
    [
        (Action::VerifyBackup, "verify"),
        (Action::PruneBackups, "prune"),
        (Action::RestoreTest, "restore test"),
        (Action::CreateBackup, "back up now"),
    ]
    .iter()
    .filter_map(|(action, what)| {
        keymap
            .keys_for(*action)
            .first()
            .map(|key| format!("{key} {what}"))
    })
    .collect::<Vec<_>>()
    .join(" · ")
}
