//! The tasks pane: every task with its key, a destructive mark, its schedule's next run and
//! last success (overdue marked), and its last run (when, who, status, duration); below, the
//! output of the selected task's newest run, following the tail.
//! Enter runs the selected task (a destructive one only after its plan is shown and confirmed),
//! `d` shows the plan, `c` cancels, `h` lists past runs.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::action::Action;
use crate::config::keymap::KeyChord;
use crate::config::theme::Slot;
use crate::core::model::{RunStatus, Status, TaskRun};
use crate::core::protocol::{Event, Request};
use crate::core::tasks::Confirmed;
use crate::core::tasks::schedule::DueStatus;
use crate::core::tasks::{Params, TaskInfo};
use crate::tui::modal::Popup;
use crate::tui::panes::{
    Command, Component, Ctx, Handled, PaletteEntry, Pane, Summary, View, command, pane_block,
};
use crate::tui::strings::{self, pad, printable};
use crate::tui::style::Look;

/// A task as listed in the tasks pane.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub info: TaskInfo,
    pub key: Option<KeyChord>,
    /// The newest run (running or finished), from the audit log or this session.
    pub last: Option<TaskRun>,
    /// Where its schedule stands, once the runner looked.
    pub due: Option<DueStatus>,
}

/// A run seen in this session, with its output so far.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub run: TaskRun,
    pub lines: VecDeque<String>,
}

/// Output lines kept per run on screen; the audit log and log file keep more.
const SCREEN_LINES_PER_RUN: usize = 5_000;

#[derive(Debug, Clone, Default)]
pub struct TasksPane {
    pub tasks: Vec<TaskRow>,
    pub selected: usize,
    pub runs: HashMap<String, RunView>,
    /// Lines scrolled up from the end of the output; 0 follows the tail.
    pub output_scroll: usize,
}

const COMMANDS: &[Command] = &[
    command(
        Action::RunTask,
        Some("run"),
        "run the selected task (asks first if it changes anything)",
    ),
    command(
        Action::PlanTask,
        Some("plan"),
        "show what the selected task would do (dry run)",
    ),
    command(
        Action::CancelTask,
        Some("cancel"),
        "cancel the selected task's run",
    ),
    command(
        Action::History,
        Some("history"),
        "past runs of the selected task, with their output",
    ),
    command(Action::PageUp, None, "scroll the output up"),
    command(Action::PageDown, None, "scroll the output down"),
];

impl TasksPane {
    pub fn set(&mut self, tasks: Vec<(TaskInfo, Option<KeyChord>)>) {
        self.tasks = tasks
            .into_iter()
            .map(|(info, key)| TaskRow {
                info,
                key,
                last: None,
                due: None,
            })
            .collect();
    }

    pub fn selected_task(&self) -> Option<&TaskRow> {
        self.tasks.get(self.selected)
    }

    /// Selects the task bound to `key` (its own hotkey, usable from any pane).
    pub fn select_key(&mut self, key: KeyChord) -> bool {
        self.select_where(|task| task.key == Some(key))
    }

    pub fn select_id(&mut self, task_id: &str) -> bool {
        self.select_where(|task| task.info.id == task_id)
    }

    fn select_where(&mut self, found: impl Fn(&TaskRow) -> bool) -> bool {
        match self.tasks.iter().position(found) {
            Some(index) => {
                self.selected = index;
                self.output_scroll = 0;
                true
            }
            None => false,
        }
    }

    pub fn any_running(&self) -> bool {
        self.running_count() > 0
    }

    fn overdue_count(&self) -> usize {
        self.tasks
            .iter()
            .filter(|task| task.due.as_ref().is_some_and(DueStatus::overdue))
            .count()
    }

    fn running_count(&self) -> usize {
        self.tasks
            .iter()
            .filter(|task| {
                task.last
                    .as_ref()
                    .is_some_and(|run| run.status == RunStatus::Running)
            })
            .count()
    }

    /// The run whose output the pane shows: the selected task's newest run.
    pub fn shown_run(&self) -> Option<(&TaskRun, Vec<&str>)> {
        let last = self.selected_task()?.last.as_ref()?;
        match self.runs.get(&last.id) {
            Some(view) => Some((&view.run, view.lines.iter().map(String::as_str).collect())),
            None => Some((last, last.output.lines().collect())),
        }
    }

    /// Keeps a task's newest run, whichever way it arrived (history, start, finish).
    fn set_last_run(&mut self, run: TaskRun) {
        if let Some(row) = self.tasks.iter_mut().find(|row| row.info.id == run.task_id) {
            let newer = row
                .last
                .as_ref()
                .is_none_or(|last| last.id == run.id || last.started_at <= run.started_at);
            if newer {
                row.last = Some(run);
            }
        }
    }

    /// Run, plan, cancel or list the runs of the selected task.
    pub fn task_action(&mut self, action: Action, ctx: &mut Ctx) -> Vec<Request> {
        let Some(task) = self.selected_task() else {
            ctx.notice("no tasks configured", Status::Warn);
            return Vec::new();
        };
        let task_id = task.info.id.clone();
        let destructive = task.info.destructive;
        let running = task
            .last
            .as_ref()
            .filter(|run| run.status == RunStatus::Running)
            .map(|run| run.id.clone());
        match action {
            Action::RunTask if destructive && ctx.read_only => {
                ctx.notice(
                    &format!("read-only: {task_id} changes the system and is refused"),
                    Status::Warn,
                );
                Vec::new()
            }
            Action::RunTask if destructive => {
                ctx.notice(&format!("planning {task_id}…"), Status::Ok);
                vec![ctx.plan(&task_id, Params::new(), true)]
            }
            Action::RunTask => vec![Request::StartTask {
                task_id,
                params: Params::new(),
                confirmed: Confirmed::No,
            }],
            Action::PlanTask => {
                ctx.notice(&format!("planning {task_id}…"), Status::Ok);
                vec![ctx.plan(&task_id, Params::new(), false)]
            }
            Action::CancelTask => match running {
                Some(run_id) => {
                    ctx.notice(&format!("cancelling {task_id}…"), Status::Warn);
                    vec![Request::CancelRun { run_id }]
                }
                None => {
                    ctx.notice(&format!("{task_id} is not running"), Status::Ok);
                    Vec::new()
                }
            },
            _ => {
                ctx.open(Popup::History {
                    task_id: task_id.clone(),
                    runs: Vec::new(),
                    selected: 0,
                    loaded: false,
                });
                vec![Request::LoadHistory {
                    task_id: Some(task_id),
                }]
            }
        }
    }
}

impl Component for TasksPane {
    fn id(&self) -> Pane {
        Pane::Tasks
    }

    fn title(&self) -> &'static str {
        "Tasks"
    }

    fn column(&self) -> usize {
        1
    }

    fn summary(&self, _view: &View) -> Summary {
        let running = self.running_count();
        let failed = self
            .tasks
            .iter()
            .filter(|task| {
                task.last
                    .as_ref()
                    .is_some_and(|run| run.status.health() == Status::Crit)
            })
            .count();
        let mut text = match (self.tasks.len(), running, failed) {
            (0, _, _) => "Tasks none configured".to_owned(),
            (_, 0, 0) => format!("Tasks {} · none running", self.tasks.len()),
            (_, running, 0) => format!("Tasks {running} running"),
            (_, 0, failed) => format!("Tasks {failed} failed last run"),
            (_, running, failed) => format!("Tasks {running} running · {failed} failed"),
        };
        let overdue = self.overdue_count();
        if overdue > 0 {
            text.push_str(&format!(" · {overdue} overdue"));
        }
        let level = if failed > 0 {
            Status::Crit
        } else if running > 0 || overdue > 0 {
            Status::Warn
        } else {
            Status::Ok
        };
        Summary { text, level }
    }

    fn wanted_height(&self, _view: &View, _width: u16) -> u16 {
        u16::try_from(self.tasks.len() * 2 + 2).unwrap_or(u16::MAX) + 2
    }

    fn commands(&self) -> &'static [Command] {
        COMMANDS
    }

    fn handle(&mut self, action: Action, ctx: &mut Ctx) -> Handled {
        match action {
            Action::Up | Action::Down | Action::Top | Action::Bottom => {
                let last = self.tasks.len().saturating_sub(1);
                self.selected = crate::tui::panes::step(self.selected, action, last);
                self.output_scroll = 0;
                Handled::Yes(Vec::new())
            }
            Action::PageUp => {
                self.output_scroll += 10;
                Handled::Yes(Vec::new())
            }
            Action::PageDown => {
                self.output_scroll = self.output_scroll.saturating_sub(10);
                Handled::Yes(Vec::new())
            }
            Action::RunTask | Action::PlanTask | Action::CancelTask | Action::History => {
                Handled::Yes(self.task_action(action, ctx))
            }
            _ => Handled::No,
        }
    }

    fn apply(&mut self, event: &Event, _now: DateTime<Utc>) {
        match event {
            Event::TaskStarted(run) => {
                self.runs.insert(
                    run.id.clone(),
                    RunView {
                        run: run.clone(),
                        lines: VecDeque::new(),
                    },
                );
                self.set_last_run(run.clone());
            }
            Event::TaskOutput { run_id, line } => {
                if let Some(view) = self.runs.get_mut(run_id) {
                    view.lines.push_back(line.clone());
                    if view.lines.len() > SCREEN_LINES_PER_RUN {
                        view.lines.pop_front();
                    }
                }
            }
            Event::TaskFinished(run) => {
                if let Some(view) = self.runs.get_mut(&run.id) {
                    view.run = run.clone();
                }
                self.set_last_run(run.clone());
            }
            Event::TaskRefused { run: Some(run), .. } => self.set_last_run(run.clone()),
            Event::Schedules(sample) => {
                for (task_id, status) in &sample.tasks {
                    if let Some(row) = self.tasks.iter_mut().find(|row| row.info.id == *task_id) {
                        row.due = Some(status.clone());
                    }
                }
            }
            Event::TaskHistory {
                task_id: None,
                runs,
            } => {
                for run in runs.iter().rev() {
                    self.set_last_run(run.clone());
                }
            }
            _ => {}
        }
    }

    fn render(&self, view: &View, area: Rect, frame: &mut Frame) {
        render(self, view, area, frame);
    }

    fn palette(&self) -> Vec<PaletteEntry> {
        self.tasks
            .iter()
            .map(|task| PaletteEntry {
                pane: Pane::Tasks,
                kind: "task",
                label: format!("{} — {}", task.info.id, task.info.title),
                key: task.info.id.clone(),
            })
            .collect()
    }

    fn open_entry(&mut self, key: &str, ctx: &mut Ctx) -> Vec<Request> {
        if self.select_id(key) {
            self.task_action(Action::RunTask, ctx)
        } else {
            Vec::new()
        }
    }
}

/// `succeeded 14:02 by oncall (3s)`, or `running 12s`.
pub fn run_status_text(run: &TaskRun, now: DateTime<Utc>, look: &Look) -> String {
    let seconds = run.duration(now).num_seconds();
    if run.status == RunStatus::Running {
        return format!("running {}", strings::duration(seconds));
    }
    let when = run.started_at.with_timezone(&look.utc_offset);
    let when = if when.date_naive() == now.with_timezone(&look.utc_offset).date_naive() {
        when.format("%H:%M").to_string()
    } else {
        when.format("%m-%d %H:%M").to_string()
    };
    format!(
        "{} {when} by {} ({})",
        run.status.as_str(),
        printable(&run.user),
        strings::duration(seconds)
    )
}

/// A scheduled task's standing: short for its row (` · OVERDUE`, ` · next 03:00`), in full for
/// the line under the list (`OVERDUE since 12-04 03:00 · next 03:00 · last ok 12-03 03:01 ·
/// schedule 0 3 * * *`), and whether it is overdue; all empty for a task run by hand only.
fn schedule_text(task: &TaskRow, now: DateTime<Utc>, look: &Look) -> (String, String, bool) {
    let Some(schedule) = &task.info.schedule else {
        return (String::new(), String::new(), false);
    };
    let Some(due) = &task.due else {
        return (
            String::new(),
            format!("schedule {}", schedule.cron.as_str()),
            false,
        );
    };
    let when = |at: DateTime<Utc>| {
        let local = at.with_timezone(&look.utc_offset);
        if local.date_naive() == now.with_timezone(&look.utc_offset).date_naive() {
            local.format("%H:%M").to_string()
        } else {
            local.format("%m-%d %H:%M").to_string()
        }
    };
    // What needs doing first: a narrow pane cuts the end.
    let mut parts = Vec::new();
    if let Some(missed) = due.missed {
        parts.push(format!("OVERDUE since {}", when(missed)));
    }
    let next = due.next_run.map(|next| format!("next {}", when(next)));
    parts.extend(next.clone());
    parts.push(match due.last_success {
        Some(success) => format!("last ok {}", when(success)),
        None => "never succeeded".to_owned(),
    });
    parts.push(format!("schedule {}", schedule.cron.as_str()));
    let short = match (due.overdue(), next) {
        (true, _) => " · OVERDUE".to_owned(),
        (false, Some(next)) => format!(" · {next}"),
        (false, None) => String::new(),
    };
    (short, parts.join(" · "), due.overdue())
}

fn render(pane: &TasksPane, view: &View, area: Rect, frame: &mut Frame) {
    let look = view.look;
    let palette = &look.palette;
    let running = pane.running_count();
    let mut title = vec![Span::styled("Tasks", palette.get(Slot::Title))];
    if running > 0 {
        title.push(Span::styled(
            format!(" · {running} running"),
            palette.status(Status::Warn),
        ));
    }
    let overdue = pane.overdue_count();
    if overdue > 0 {
        title.push(Span::styled(
            format!(" · {overdue} overdue"),
            palette.status(Status::Warn),
        ));
    }
    if view.read_only {
        title.push(Span::styled(" · read-only", palette.get(Slot::Muted)));
    }
    let block = pane_block(title, view.focused, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if pane.tasks.is_empty() || height == 0 {
        frame.render_widget(
            Paragraph::new("no tasks configured").style(palette.get(Slot::Muted)),
            inner,
        );
        return;
    }

    // The list gets what it needs up to half the pane; the output gets the rest.
    let list_rows = pane.tasks.len().min((height / 2).max(1));
    let offset = pane.selected.saturating_sub(list_rows - 1);
    let id_width = pane
        .tasks
        .iter()
        .map(|t| strings::width(&t.info.id))
        .max()
        .unwrap_or(8)
        .min(20);
    let mut lines = Vec::with_capacity(height);
    for (index, task) in pane.tasks.iter().enumerate().skip(offset).take(list_rows) {
        let key = task.key.map(|key| key.to_string()).unwrap_or_default();
        let mark = if task.info.destructive { "!" } else { " " };
        let (status_text, status_style) = match &task.last {
            Some(run) => (
                run_status_text(run, view.now, look),
                palette.status(run.status.health()),
            ),
            None => ("never run".to_owned(), palette.get(Slot::Muted)),
        };
        let lead = format!("{} {} {mark} ", pad(&key, 3), pad(&task.info.id, id_width));
        let (schedule_text, _, overdue) = schedule_text(task, view.now, look);
        let title_width = width.saturating_sub(
            strings::width(&lead)
                + strings::width(&schedule_text)
                + strings::width(&status_text)
                + 2,
        );
        // The selection marks the key and the name, not the whole row: moving it then rewrites
        // a few dozen cells instead of two full rows, a small reply over a slow link.
        let lead_style = if index == pane.selected && view.focused {
            palette.get(Slot::Selection)
        } else {
            palette.get(Slot::Text)
        };
        lines.push(Line::from(vec![
            Span::styled(lead, lead_style),
            Span::styled(pad(&task.info.title, title_width), palette.get(Slot::Muted)),
            Span::styled(
                schedule_text,
                if overdue {
                    palette.status(Status::Warn)
                } else {
                    palette.get(Slot::Muted)
                },
            ),
            Span::raw("  "),
            Span::styled(strings::fit(&status_text, width), status_style),
        ]));
    }

    if let Some(task) = pane.selected_task()
        && lines.len() < height
    {
        let (_, full, overdue) = schedule_text(task, view.now, look);
        if !full.is_empty() {
            let style = if overdue {
                palette.status(Status::Warn)
            } else {
                palette.get(Slot::Muted)
            };
            lines.push(Line::styled(strings::fit(&full, width), style));
        }
    }
    let output_rows = height - lines.len();
    if output_rows > 0 {
        match pane.shown_run() {
            Some((run, output)) => {
                let heading = format!(
                    "── {} · {}{} ",
                    run.task_id,
                    run.summary
                        .as_deref()
                        .map(printable)
                        .unwrap_or_else(|| run.status.as_str().to_owned()),
                    if pane.output_scroll > 0 {
                        format!(" · scrolled {}", pane.output_scroll)
                    } else {
                        String::new()
                    }
                );
                lines.push(Line::styled(
                    strings::fit(&heading, width),
                    palette.get(Slot::Muted),
                ));
                let room = output_rows - 1;
                let end = output.len().saturating_sub(pane.output_scroll);
                let start = end.saturating_sub(room);
                lines.extend(output[start..end].iter().map(|line| {
                    Line::styled(
                        strings::fit(&printable(line), width),
                        palette.get(Slot::Text),
                    )
                }));
            }
            None => lines.push(Line::styled(
                strings::fit(
                    &pane
                        .selected_task()
                        .map(|task| format!("{}: {}", task.info.id, task.info.description))
                        .unwrap_or_default(),
                    width,
                ),
                palette.get(Slot::Muted),
            )),
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
