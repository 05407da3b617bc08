//! The containers pane: every Docker container, worst first, with its compose project/service,
//! state (and exit code), health, restarts in the last hour, uptime, CPU, memory against the
//! limit and the image's age; the findings (crash loop, OOM kill, unhealthy, non-zero exit) and
//! an unhealthy container's last check output under its row. Enter shows the selected
//! container's log tail (escaped, bounded); E, P and U restart, stop and start it through the
//! task runner (plan, confirm, audit). Docker absent or unreadable: the pane says so and how to
//! fix it. Shown when the runner watches Docker (`[containers]`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::theme::Slot;
use crate::core::checks::Evaluation;
use crate::core::checks::levels_by_instance;
use crate::core::checks::rules::format_value;
use crate::core::containers::docker::ContainerAction;
use crate::core::containers::{ContainerRow, ContainersSnapshot};
use crate::core::model::{Status, Unit};
use crate::core::protocol::{Event, Request};
use crate::core::tasks::Params;
use crate::core::tasks::containers::task_id;
use crate::tui::panes::incidents::refused_read_only;
use crate::tui::panes::{
    Command, Component, Ctx, Handled, Pane, Summary, View, command, pane_block, step,
};
use crate::tui::strings::{self, pad, printable};

/// The log view: whose, and its lines once they came.
#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    pub name: String,
    pub lines: Option<Result<Vec<String>, String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainersPane {
    /// The runner watches Docker (`[containers] enabled`).
    pub watched: bool,
    pub snapshot: Option<ContainersSnapshot>,
    /// The rules' level per container name.
    pub levels: HashMap<String, Status>,
    pub selected: usize,
    pub logs: Option<LogView>,
}

const COMMANDS: &[Command] = &[
    command(
        Action::RunTask,
        Some("logs"),
        "show the selected container's log tail, and back",
    ),
    command(
        Action::RestartContainer,
        Some("restart"),
        "restart the selected container (plan, confirm, audit)",
    ),
    command(
        Action::StopContainer,
        Some("stop"),
        "stop the selected container (plan, confirm, audit)",
    ),
    command(
        Action::StartContainer,
        Some("start"),
        "start the selected container (plan, confirm, audit)",
    ),
    command(Action::Close, None, "back from the log tail to the list"),
];

impl ContainersPane {
    /// What an open log view asks for next: its container's tail again with each refresh of
    /// the containers, so the view follows the log while it is open.
    pub fn follow_up(&self, event: &Event) -> Option<Request> {
        match (event, &self.logs) {
            (Event::Containers { .. }, Some(logs)) => Some(Request::LoadContainerLogs {
                name: logs.name.clone(),
            }),
            _ => None,
        }
    }

    pub fn on_snapshot(&mut self, snapshot: &ContainersSnapshot, evaluations: &[Evaluation]) {
        self.levels = levels_by_instance(evaluations, "container.");
        let mut snapshot = snapshot.clone();
        // Worst by the rules first; the snapshot's own order (findings, name) breaks ties.
        snapshot
            .containers
            .sort_by_key(|row| std::cmp::Reverse(self.level(row)));
        self.selected = self
            .selected
            .min(snapshot.containers.len().saturating_sub(1));
        self.snapshot = Some(snapshot);
    }

    fn level(&self, row: &ContainerRow) -> Status {
        self.levels.get(&row.name).copied().unwrap_or(Status::Ok)
    }

    fn rows(&self) -> &[ContainerRow] {
        self.snapshot
            .as_ref()
            .map_or(&[], |snapshot| snapshot.containers.as_slice())
    }

    fn selected_row(&self) -> Option<&ContainerRow> {
        self.rows().get(self.selected)
    }

    /// Back from the log view; `false` when it was not open.
    pub fn close_detail(&mut self) -> bool {
        self.logs.take().is_some()
    }

    fn act(&self, action: ContainerAction, ctx: &mut Ctx) -> Vec<Request> {
        let task_id = task_id(action);
        let Some(row) = self.selected_row() else {
            ctx.notice("no container selected", Status::Warn);
            return Vec::new();
        };
        if refused_read_only(ctx, task_id) {
            return Vec::new();
        }
        let params: Params = [("name".to_owned(), row.name.clone())].into();
        vec![ctx.plan(task_id, params, true)]
    }
}

impl Component for ContainersPane {
    fn id(&self) -> Pane {
        Pane::Containers
    }

    fn title(&self) -> &'static str {
        "Containers"
    }

    fn shown(&self) -> bool {
        self.watched || self.snapshot.is_some()
    }

    fn summary(&self, _view: &View) -> Summary {
        let Some(snapshot) = &self.snapshot else {
            return Summary {
                text: "Containers reading Docker…".into(),
                level: Status::Unknown,
            };
        };
        if snapshot.unavailable.is_some() {
            return Summary {
                text: "Containers · Docker unreadable".into(),
                level: Status::Unknown,
            };
        }
        let total = snapshot.containers.len();
        let problems = snapshot
            .containers
            .iter()
            .filter(|row| self.level(row) >= Status::Warn)
            .count();
        let level = snapshot
            .containers
            .iter()
            .map(|row| self.level(row))
            .max()
            .unwrap_or(Status::Ok);
        let text = if problems == 0 {
            format!("Containers ok ({total})")
        } else {
            format!("Containers {problems} need a look of {total}")
        };
        Summary { text, level }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        if self.logs.is_some() {
            return 16;
        }
        let Some(snapshot) = &self.snapshot else {
            return 3;
        };
        if snapshot.unavailable.is_some() {
            return 5;
        }
        let now = snapshot.taken_at;
        let lines: usize = snapshot
            .containers
            .iter()
            .map(|row| 1 + row.findings(now).len())
            .sum();
        u16::try_from(lines.min(20) + 1)
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
        let last = self.rows().len().saturating_sub(1);
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom if self.logs.is_none() => {
                self.selected = step(self.selected, action, last);
            }
            Action::RunTask if self.logs.is_some() => self.logs = None,
            Action::RunTask => {
                let Some(name) = self.selected_row().map(|row| row.name.clone()) else {
                    return Handled::Yes(Vec::new());
                };
                self.logs = Some(LogView {
                    name: name.clone(),
                    lines: None,
                });
                return Handled::Yes(vec![Request::LoadContainerLogs { name }]);
            }
            Action::RestartContainer => {
                return Handled::Yes(self.act(ContainerAction::Restart, ctx));
            }
            Action::StopContainer => return Handled::Yes(self.act(ContainerAction::Stop, ctx)),
            Action::StartContainer => return Handled::Yes(self.act(ContainerAction::Start, ctx)),
            _ => return Handled::No,
        }
        Handled::Yes(Vec::new())
    }

    fn apply(&mut self, event: &Event, _now: DateTime<Utc>) {
        match event {
            Event::Containers {
                snapshot,
                evaluations,
            } => self.on_snapshot(snapshot, evaluations),
            Event::ContainerLogs { name, lines } => {
                if let Some(logs) = &mut self.logs
                    && logs.name == *name
                {
                    logs.lines = Some(lines.clone());
                }
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        if area.is_empty() {
            return;
        }
        let width = usize::from(area.width.saturating_sub(2));
        let height = usize::from(area.height.saturating_sub(2));
        let lines = match &self.logs {
            Some(logs) => log_lines(logs, view, width, height),
            None => self.list_lines(view, width, height),
        };
        let block = pane_block(self.title_spans(view), view.focused, view.look);
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }
}

impl ContainersPane {
    fn title_spans(&self, view: &View) -> Vec<Span<'static>> {
        let palette = &view.look.palette;
        let mut title = vec![Span::styled("Containers", palette.get(Slot::Title))];
        if let Some(logs) = &self.logs {
            title.push(Span::styled(
                format!(" · {} · log tail, following", printable(&logs.name)),
                palette.get(Slot::Title),
            ));
            return title;
        }
        if let Some(snapshot) = &self.snapshot
            && snapshot.unavailable.is_none()
        {
            title.push(Span::styled(
                format!(" · {}", snapshot.containers.len()),
                palette.get(Slot::Muted),
            ));
        }
        title
    }

    fn list_lines(&self, view: &View, width: usize, height: usize) -> Vec<Line<'static>> {
        let palette = &view.look.palette;
        let Some(snapshot) = &self.snapshot else {
            return vec![Line::styled("reading Docker…", palette.get(Slot::Muted))];
        };
        if let Some(unavailable) = &snapshot.unavailable {
            return vec![
                Line::styled(
                    strings::fit(&printable(&unavailable.message), width),
                    palette.status(Status::Unknown),
                ),
                Line::styled(
                    strings::fit(&format!("fix: {}", unavailable.fix), width),
                    palette.get(Slot::Text),
                ),
            ];
        }
        if snapshot.containers.is_empty() {
            return vec![Line::styled(
                "no containers on this Docker host",
                palette.get(Slot::Muted),
            )];
        }
        let mut lines = vec![Line::styled(
            strings::fit(
                &format!(
                    "{} {} {} {:>4} {:>6} {:>5} {:>17}  {} IMAGE",
                    pad("NAME", 20),
                    pad("STATE", 13),
                    pad("HEALTH", 9),
                    "R/1H",
                    "UP",
                    "CPU",
                    "MEMORY",
                    pad("COMPOSE", 14),
                ),
                width,
            ),
            palette.get(Slot::Header),
        )];
        let now = snapshot.taken_at;
        // The selection stays on screen: rows before it scroll away first.
        let room = height.saturating_sub(1).max(1);
        let mut body: Vec<Line<'static>> = Vec::new();
        let mut selected_at = 0;
        for (index, row) in snapshot.containers.iter().enumerate() {
            let level = self.level(row);
            let text = format!(
                "{} {} {} {:>4} {:>6} {:>5} {:>17}  {} {}",
                pad(&printable(&row.name), 20),
                pad(&row.state_label(), 13),
                pad(row.health.as_deref().unwrap_or("-"), 9),
                row.restarts_1h,
                row.uptime_s(now)
                    .map_or_else(|| "-".to_owned(), strings::minutes),
                row.cpu_pct
                    .map_or_else(|| "-".to_owned(), |pct| format_value(pct, Unit::Percent)),
                row.memory_label(),
                pad(&printable(&row.compose_label()), 14),
                row.image_label(now),
            );
            let style = if level >= Status::Warn {
                palette.status(level)
            } else {
                palette.get(Slot::Text)
            };
            let mut line = Line::styled(strings::fit(&text, width), style);
            if index == self.selected {
                selected_at = body.len();
                if view.takes_keys {
                    line = line.patch_style(palette.get(Slot::Selection));
                }
            }
            body.push(line);
            let mut notes = row.findings(now);
            if row.health.as_deref() == Some("unhealthy")
                && let Some(output) = row.health_output.as_deref().filter(|out| !out.is_empty())
            {
                notes.push(format!("last check: {}", printable(output)));
            }
            for note in notes {
                body.push(Line::styled(
                    strings::fit(&format!("  {note}"), width),
                    palette.status(level.max(Status::Warn)),
                ));
            }
        }
        let offset = selected_at.saturating_sub(room - 1);
        lines.extend(body.into_iter().skip(offset).take(room));
        lines
    }
}

fn log_lines(logs: &LogView, view: &View, width: usize, height: usize) -> Vec<Line<'static>> {
    let palette = &view.look.palette;
    match &logs.lines {
        None => vec![Line::styled("reading the log…", palette.get(Slot::Muted))],
        Some(Err(error)) => vec![Line::styled(
            strings::fit(&printable(error), width),
            palette.status(Status::Crit),
        )],
        Some(Ok(lines)) if lines.is_empty() => {
            vec![Line::styled("the log is empty", palette.get(Slot::Muted))]
        }
        // The newest lines, at the bottom; they were escaped when read.
        Some(Ok(lines)) => lines
            .iter()
            .skip(lines.len().saturating_sub(height.max(1)))
            .map(|line| Line::styled(strings::fit(line, width), palette.get(Slot::Text)))
            .collect(),
    }
}
