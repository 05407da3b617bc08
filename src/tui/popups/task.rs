//! Task popups: the plan (a dry run, or the confirmation of a destructive task showing exactly
//! what will run), the history of a task's runs, one run's recorded output, and the maintenance
//! calendar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::calendar::{self, Calendar, Outcome};
use crate::core::model::Status;
use crate::tui::app::{AppState, Pane};
use crate::tui::modal::Popup;
use crate::tui::panes::backups::BackupsPane;
use crate::tui::panes::checklists::ChecklistsPane;
use crate::tui::panes::services::ServicesPane;
use crate::tui::panes::tasks::run_status_text;
use crate::tui::strings::printable;
use crate::tui::style::Look;

fn keys(state: &AppState, action: Action) -> String {
    state
        .keymap
        .keys_for(action)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

pub fn render(state: &AppState, popup: &Popup, look: &Look, area: Rect, frame: &mut Frame) {
    match popup {
        Popup::Service { name } => {
            if let Some(pane) = state.pane::<ServicesPane>() {
                let view = state.view(look, Pane::Services);
                crate::tui::panes::services::render_detail(pane, &view, name, area, frame);
            }
            return;
        }
        Popup::Checklist(run) => {
            if let Some(pane) = state.pane::<ChecklistsPane>() {
                let view = state.view(look, Pane::Checklists);
                crate::tui::panes::checklists::render_run(pane, &view, run, area, frame);
            }
            return;
        }
        Popup::LogLines(lines) => {
            let view = state.view(look, Pane::Logs);
            crate::tui::panes::logs::render_lines(lines, &view, area, frame);
            return;
        }
        Popup::LogAttach(choice) => {
            let view = state.view(look, Pane::Logs);
            crate::tui::panes::logs::render_choice(choice, &view, area, frame);
            return;
        }
        Popup::Backup { set, scroll } => {
            if let Some(pane) = state.pane::<BackupsPane>() {
                let view = state.view(look, Pane::Backups);
                crate::tui::panes::backups::render_detail(pane, &view, set, *scroll, area, frame);
            }
            return;
        }
        _ => {}
    }
    let palette = &look.palette;
    let (title, body, scroll): (String, Vec<Line>, u16) = match popup {
        Popup::Plan {
            task_id,
            lines,
            confirm,
            ..
        } => {
            let mut body: Vec<Line> = lines
                .iter()
                .map(|line| {
                    let style = if line.starts_with("refused") {
                        palette.status(Status::Crit)
                    } else if line.starts_with("warning") {
                        palette.status(Status::Warn)
                    } else {
                        palette.get(Slot::Text)
                    };
                    Line::styled(printable(line), style)
                })
                .collect();
            body.push(Line::raw(""));
            let footer = if *confirm {
                format!(
                    "{} runs exactly this · {} cancels",
                    keys(state, Action::Confirm),
                    keys(state, Action::Close)
                )
            } else {
                format!(
                    "dry run: nothing was changed · {} closes",
                    keys(state, Action::Close)
                )
            };
            body.push(Line::styled(footer, palette.get(Slot::Key)));
            let title = if *confirm {
                format!(" Run {task_id}? ")
            } else {
                format!(" Plan of {task_id} ")
            };
            (title, body, 0)
        }
        Popup::History {
            task_id,
            runs,
            selected,
            loaded,
        } => {
            let body: Vec<Line> = if !loaded {
                vec![Line::styled("loading…", palette.get(Slot::Muted))]
            } else if runs.is_empty() {
                vec![Line::styled(
                    "no runs recorded yet",
                    palette.get(Slot::Muted),
                )]
            } else {
                runs.iter()
                    .enumerate()
                    .map(|(index, run)| {
                        let text = format!(
                            "{}  {}",
                            run_status_text(run, state.now, look),
                            run.summary.as_deref().map(printable).unwrap_or_default()
                        );
                        let line = Line::styled(text, palette.status(run.status.health()));
                        if index == *selected {
                            line.style(palette.get(Slot::Selection))
                        } else {
                            line
                        }
                    })
                    .collect()
            };
            let offset =
                u16::try_from(selected.saturating_sub(area.height.saturating_sub(4) as usize))
                    .unwrap_or(0);
            (
                format!(
                    " History of {task_id} · {} shows output · {} closes ",
                    keys(state, Action::RunTask),
                    keys(state, Action::Close)
                ),
                body,
                offset,
            )
        }
        Popup::RunOutput { run, scroll } => {
            let mut body = vec![Line::styled(
                format!(
                    "{} · params {:?} · {}{}",
                    run_status_text(run, state.now, look),
                    run.params,
                    run.summary.as_deref().map(printable).unwrap_or_default(),
                    run.client
                        .as_deref()
                        .map(|c| format!(" · from {}", printable(c)))
                        .unwrap_or_default()
                ),
                palette.status(run.status.health()),
            )];
            body.extend(run.plan.iter().map(|line| {
                Line::styled(
                    format!("plan: {}", printable(line)),
                    palette.get(Slot::Muted),
                )
            }));
            body.extend(
                run.output
                    .lines()
                    .map(|line| Line::styled(printable(line), palette.get(Slot::Text))),
            );
            if let Some(path) = &run.log_path {
                body.push(Line::styled(
                    format!("full output: {}", printable(path)),
                    palette.get(Slot::Muted),
                ));
            }
            (
                format!(" Run {} of {} ", run.id, run.task_id),
                body,
                *scroll,
            )
        }
        Popup::Service { .. }
        | Popup::Backup { .. }
        | Popup::Checklist(_)
        | Popup::LogLines(_)
        | Popup::LogAttach(_) => return,
        Popup::ChecklistHistory {
            checklist,
            periods,
            selected,
            loaded,
        } => {
            let mut body: Vec<Line> = periods
                .iter()
                .enumerate()
                .map(|(index, (period, first, last))| {
                    let line = Line::styled(
                        format!(
                            "{period:<12} {} – {}",
                            first
                                .with_timezone(&look.utc_offset)
                                .format("%Y-%m-%d %H:%M"),
                            last.with_timezone(&look.utc_offset)
                                .format("%Y-%m-%d %H:%M")
                        ),
                        palette.get(Slot::Text),
                    );
                    if index == *selected {
                        line.style(palette.get(Slot::Selection))
                    } else {
                        line
                    }
                })
                .collect();
            if body.is_empty() {
                body.push(Line::styled(
                    if *loaded { "no runs yet" } else { "loading…" },
                    palette.get(Slot::Muted),
                ));
            }
            let offset = u16::try_from(selected.saturating_sub(10)).unwrap_or(0);
            (
                format!(
                    " Past runs of {} · {} opens · {} closes ",
                    printable(checklist),
                    keys(state, Action::RunTask),
                    keys(state, Action::Close)
                ),
                body,
                offset,
            )
        }
        Popup::Report(view) => {
            let mut body: Vec<Line> = view
                .lines
                .iter()
                .map(|line| Line::styled(printable(line), palette.get(Slot::Text)))
                .collect();
            if !view.loaded {
                body.push(Line::styled(
                    "composing… (the store, the watched databases and the logs are read)",
                    palette.get(Slot::Muted),
                ));
            }
            if let Some((message, status)) = &view.message {
                // At the top of what is in view, so a save after scrolling is seen.
                body.insert(
                    usize::from(view.scroll).min(body.len()),
                    Line::styled(printable(message), look.palette.status(*status)),
                );
            }
            (
                format!(
                    " {} · {} saves as {} · {} changes format · {} closes ",
                    printable(&view.title),
                    keys(state, Action::Confirm),
                    view.format.extension(),
                    keys(state, Action::NextView),
                    keys(state, Action::Close)
                ),
                body,
                view.scroll,
            )
        }
        Popup::Calendar { calendar, scroll } => {
            let body = match calendar {
                None => vec![Line::styled("loading…", palette.get(Slot::Muted))],
                Some(Err(message)) => vec![Line::styled(
                    printable(message),
                    palette.status(Status::Warn),
                )],
                Some(Ok(calendar)) => calendar_lines(calendar, look),
            };
            (
                format!(
                    " Maintenance calendar · {} closes ",
                    keys(state, Action::Close)
                ),
                body,
                *scroll,
            )
        }
        Popup::Text { title, lines } => (
            format!(
                " {} · {} closes ",
                printable(title),
                keys(state, Action::Close)
            ),
            lines
                .iter()
                .map(|line| Line::styled(printable(line), palette.get(Slot::Text)))
                .collect(),
            0,
        ),
    };
    let width = area.width.saturating_sub(4).min(100);
    let height = u16::try_from(body.len() + 2).unwrap_or(u16::MAX);
    let popup_area = crate::tui::widgets::popup::centered(area, width, height);
    let block = crate::tui::widgets::popup::frame(&title, width, look);
    crate::tui::widgets::popup::clear_under(frame, popup_area);
    frame.render_widget(
        Paragraph::new(body).block(block).scroll((scroll, 0)),
        popup_area,
    );
}

/// The calendar's past and next days, one line per due time or run, coloured by outcome.
fn calendar_lines(calendar: &Calendar, look: &Look) -> Vec<Line<'static>> {
    let palette = &look.palette;
    let style = |outcome: Outcome| match outcome {
        Outcome::Ran | Outcome::Done => palette.status(Status::Ok),
        Outcome::Skipped => palette.status(Status::Warn),
        Outcome::Failed | Outcome::Missed => palette.status(Status::Crit),
        Outcome::Due | Outcome::Running => palette.get(Slot::Text),
    };
    let entry_line = |entry: &calendar::Entry| {
        let kind = match entry.kind {
            calendar::Kind::Task => "task",
            calendar::Kind::Checklist => "list",
        };
        let times = entry.until.map_or_else(String::new, |until| {
            format!(
                "×{} until {} ",
                entry.count,
                until.with_timezone(&look.utc_offset).format("%H:%M")
            )
        });
        Line::styled(
            format!(
                "{}  {kind:<4} {:<20} {:<7} {times}{}",
                entry
                    .at
                    .with_timezone(&look.utc_offset)
                    .format("%a %m-%d %H:%M"),
                printable(&entry.id),
                entry.outcome.as_str(),
                printable(&entry.detail)
            ),
            style(entry.outcome),
        )
    };
    let heading = |text: String| Line::styled(text, palette.get(Slot::Title));
    let mut lines = vec![heading(format!("past {} days", calendar::DAYS))];
    if calendar.past.is_empty() {
        lines.push(Line::styled("nothing was due", palette.get(Slot::Muted)));
    }
    lines.extend(calendar.past.iter().map(entry_line));
    lines.push(heading(format!("next {} days", calendar::DAYS)));
    if calendar.upcoming.is_empty() {
        lines.push(Line::styled(
            "nothing is scheduled",
            palette.get(Slot::Muted),
        ));
    }
    lines.extend(calendar.upcoming.iter().map(entry_line));
    lines
}
