//! The tasks pane: every task with its key, a destructive mark and its last run (when, who,
//! status, duration); below, the output of the selected task's newest run, following the tail.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::theme::Slot;
use crate::core::model::{RunStatus, TaskRun};
use crate::tui::app::{AppState, Pane};
use crate::tui::layout::Look;
use crate::tui::panes::pane_block;
use crate::tui::strings::{self, pad, printable};

/// `succeeded 14:02 by oncall (3s)`, or `running 12s`.
pub fn run_status_text(run: &TaskRun, state: &AppState, look: &Look) -> String {
    let seconds = run.duration(state.now).num_seconds();
    if run.status == RunStatus::Running {
        return format!("running {}", strings::duration(seconds));
    }
    let when = run.started_at.with_timezone(&look.utc_offset);
    let when = if when.date_naive() == state.now.with_timezone(&look.utc_offset).date_naive() {
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

pub fn render(state: &AppState, look: &Look, area: Rect, frame: &mut Frame) {
    let palette = &look.palette;
    let running = state
        .tasks
        .iter()
        .filter(|task| {
            task.last
                .as_ref()
                .is_some_and(|run| run.status == RunStatus::Running)
        })
        .count();
    let mut title = vec![Span::styled("Tasks", palette.get(Slot::Title))];
    if running > 0 {
        title.push(Span::styled(
            format!(" · {running} running"),
            palette.status(crate::core::model::Status::Warn),
        ));
    }
    if state.host.read_only {
        title.push(Span::styled(" · read-only", palette.get(Slot::Muted)));
    }
    let block = pane_block(title, state.focus == Pane::Tasks, look);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    if state.tasks.is_empty() || height == 0 {
        frame.render_widget(
            Paragraph::new("no tasks configured").style(palette.get(Slot::Muted)),
            inner,
        );
        return;
    }

    // The list gets what it needs up to half the pane; the output gets the rest.
    let list_rows = state.tasks.len().min((height / 2).max(1));
    let offset = state.task_selected.saturating_sub(list_rows - 1);
    let id_width = state
        .tasks
        .iter()
        .map(|t| strings::width(&t.info.id))
        .max()
        .unwrap_or(8)
        .min(20);
    let mut lines = Vec::with_capacity(height);
    for (index, task) in state.tasks.iter().enumerate().skip(offset).take(list_rows) {
        let key = task.key.map(|key| key.to_string()).unwrap_or_default();
        let mark = if task.info.destructive { "!" } else { " " };
        let (status_text, status_style) = match &task.last {
            Some(run) => (
                run_status_text(run, state, look),
                palette.status(run.status.health()),
            ),
            None => ("never run".to_owned(), palette.get(Slot::Muted)),
        };
        let lead = format!("{} {} {mark} ", pad(&key, 3), pad(&task.info.id, id_width));
        let title_width =
            width.saturating_sub(strings::width(&lead) + strings::width(&status_text) + 2);
        let mut line = Line::from(vec![
            Span::styled(lead, palette.get(Slot::Text)),
            Span::styled(pad(&task.info.title, title_width), palette.get(Slot::Muted)),
            Span::raw("  "),
            Span::styled(strings::fit(&status_text, width), status_style),
        ]);
        if index == state.task_selected && state.focus == Pane::Tasks {
            line = line.style(palette.get(Slot::Selection));
        }
        lines.push(line);
    }

    let output_rows = height - lines.len();
    if output_rows > 0 {
        match state.shown_run() {
            Some((run, output)) => {
                let heading = format!(
                    "── {} · {}{} ",
                    run.task_id,
                    run.summary
                        .as_deref()
                        .map(printable)
                        .unwrap_or_else(|| run.status.as_str().to_owned()),
                    if state.output_scroll > 0 {
                        format!(" · scrolled {}", state.output_scroll)
                    } else {
                        String::new()
                    }
                );
                lines.push(Line::styled(
                    strings::fit(&heading, width),
                    palette.get(Slot::Muted),
                ));
                let room = output_rows - 1;
                let end = output.len().saturating_sub(state.output_scroll);
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
                    &state
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
