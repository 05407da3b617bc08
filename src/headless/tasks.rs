//! `opsdeck tasks`, `opsdeck run` and `opsdeck history`: the task runner and its audit log
//! from the command line, for cron and scripts.

use std::fmt::Write as _;
use std::io::Write as _;

use serde::Serialize;

use crate::core::model::{RunStatus, TaskRun};
use crate::core::protocol::{Event, Request};
use crate::core::runner::RunnerHandle;
use crate::core::tasks::{Params, Task};

/// Exit status of `opsdeck run` for a finished run.
pub fn exit_code(run: &TaskRun) -> i32 {
    match run.status {
        RunStatus::Succeeded => 0,
        RunStatus::Failed => run
            .exit_code
            .filter(|code| (1..=255).contains(code))
            .unwrap_or(1),
        RunStatus::Refused => 2,
        RunStatus::TimedOut => 124,
        RunStatus::Cancelled => 130,
        RunStatus::Running | RunStatus::Interrupted => 1,
    }
}

/// Runs (or, with `dry_run`, plans) one task through the runner, printing output as it comes.
/// Ctrl-C cancels the run and still waits for it to be recorded.
pub async fn run(
    mut runner: RunnerHandle,
    task_id: String,
    params: Params,
    dry_run: bool,
    confirmed: bool,
) -> anyhow::Result<i32> {
    let request = if dry_run {
        Request::PlanTask {
            task_id: task_id.clone(),
            params,
        }
    } else {
        Request::StartTask {
            task_id: task_id.clone(),
            params,
            confirmed,
        }
    };
    runner.requests.send(request)?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut current_run: Option<String> = None;
    let mut stdout = std::io::stdout();
    let code = loop {
        let event = tokio::select! {
            event = runner.events.recv() => event,
            _ = interrupt.recv() => { cancel(&runner, &current_run); continue; }
            _ = terminate.recv() => { cancel(&runner, &current_run); continue; }
        };
        let Some(event) = event else {
            anyhow::bail!("the runner stopped unexpectedly");
        };
        match event {
            Event::TaskPlanned {
                task_id: planned,
                plan,
                ..
            } if planned == task_id => match plan {
                Ok(plan) => {
                    for line in plan.lines() {
                        writeln!(stdout, "{line}")?;
                    }
                    break if plan.refusal.is_some() { 2 } else { 0 };
                }
                Err(error) => {
                    eprintln!("opsdeck: cannot plan {task_id}: {error}");
                    break 1;
                }
            },
            Event::TaskRefused {
                task_id: refused,
                reason,
                ..
            } if refused == task_id => {
                eprintln!("opsdeck: {reason}");
                break 2;
            }
            Event::TaskStarted(run) if run.task_id == task_id => {
                for line in &run.plan {
                    eprintln!("plan: {line}");
                }
                current_run = Some(run.id);
            }
            Event::TaskOutput { run_id, line } if current_run.as_deref() == Some(&run_id) => {
                writeln!(stdout, "{line}")?;
                stdout.flush()?;
            }
            Event::TaskFinished(run) if run.task_id == task_id => {
                eprintln!(
                    "{}: {} ({})",
                    run.task_id,
                    run.status.as_str(),
                    run.summary.as_deref().unwrap_or("")
                );
                break exit_code(&run);
            }
            Event::Warning { source, message } => eprintln!("opsdeck: {source}: {message}"),
            _ => {}
        }
    };
    let _ = runner.requests.send(Request::Shutdown);
    let _ = runner.task.await;
    Ok(code)
}

fn cancel(runner: &RunnerHandle, current_run: &Option<String>) {
    match current_run {
        Some(run_id) => {
            eprintln!("opsdeck: cancelling…");
            let _ = runner.requests.send(Request::CancelRun {
                run_id: run_id.clone(),
            });
        }
        None => eprintln!(
            "opsdeck: not started yet; cancelling when it starts is not possible, waiting"
        ),
    }
}

#[derive(Debug, Serialize)]
pub struct TaskListing<'a> {
    pub id: &'a str,
    pub key: Option<String>,
    pub title: &'a str,
    pub description: &'a str,
    pub destructive: bool,
    pub last_run: Option<&'a TaskRun>,
}

pub fn listing<'a>(
    tasks: &'a [(Task, Option<String>)],
    runs: &'a [TaskRun],
) -> Vec<TaskListing<'a>> {
    tasks
        .iter()
        .map(|(task, key)| TaskListing {
            id: &task.info.id,
            key: key.clone(),
            title: &task.info.title,
            description: &task.info.description,
            destructive: task.info.destructive,
            last_run: runs.iter().find(|run| run.task_id == task.info.id),
        })
        .collect()
}

pub fn listing_text(listing: &[TaskListing]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<4} {:<20} {:<12} {:<26} LAST RUN",
        "KEY", "TASK", "CHANGES", "TITLE"
    );
    for task in listing {
        let last = task.last_run.map_or_else(
            || "never".to_owned(),
            |run| {
                format!(
                    "{} {} by {}",
                    run.status.as_str(),
                    run.started_at.format("%Y-%m-%d %H:%M"),
                    run.user
                )
            },
        );
        let _ = writeln!(
            out,
            "{:<4} {:<20} {:<12} {:<26} {last}",
            task.key.as_deref().unwrap_or("-"),
            task.id,
            if task.destructive { "yes (asks)" } else { "no" },
            task.title
        );
    }
    out
}

pub fn history_text(runs: &[TaskRun]) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        out.push_str("no runs recorded\n");
    }
    for run in runs {
        let ended = run
            .ended_at
            .map(|at| {
                format!(
                    "{} s",
                    (at - run.started_at).num_milliseconds() as f64 / 1000.0
                )
            })
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{}  {:<18} {:<11} {:<8} by {}{}  exit {}  {}",
            run.started_at.format("%Y-%m-%d %H:%M:%S"),
            run.task_id,
            run.status.as_str(),
            ended,
            run.user,
            run.client
                .as_deref()
                .map(|client| format!(" from {client}"))
                .unwrap_or_default(),
            run.exit_code
                .map_or_else(|| "-".to_owned(), |code| code.to_string()),
            run.summary.as_deref().unwrap_or("")
        );
        let lines: Vec<&str> = run.output.lines().collect();
        for line in &lines[lines.len().saturating_sub(5)..] {
            let _ = writeln!(out, "    | {}", crate::core::text::printable(line));
        }
    }
    out
}
