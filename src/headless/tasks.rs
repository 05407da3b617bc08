//! `opsdeck tasks`, `opsdeck run` (and `run --due`) and `opsdeck history`: the task runner and
//! its audit log from the command line, for cron and scripts.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::model::{RunStatus, TaskRun};
use crate::core::protocol::{Event, Request};
use crate::core::runner::RunnerHandle;
use crate::core::tasks::Confirmed;
use crate::core::tasks::schedule::{DueStatus, TaskSchedule};
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
            // `--yes`: the plan printed before the run is the one that runs then.
            confirmed: if confirmed {
                Confirmed::AsPlannedThen
            } else {
                Confirmed::No
            },
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

/// `opsdeck run --due`: asks the runner for each scheduled task in turn and waits for it to
/// end, so two due tasks never run at once from one invocation. Exit 1 when a run failed;
/// tasks not due, skipped or running elsewhere are reported and are no failure.
pub async fn run_due(mut runner: RunnerHandle, task_ids: Vec<String>) -> anyhow::Result<i32> {
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    if task_ids.is_empty() {
        eprintln!("opsdeck: no task has a schedule; nothing to run");
    }
    let mut stdout = std::io::stdout();
    let mut code = 0;
    let mut stopping = false;
    for task_id in task_ids {
        if stopping {
            break;
        }
        runner.requests.send(Request::StartDue {
            task_id: task_id.clone(),
        })?;
        let mut current_run: Option<String> = None;
        loop {
            let event = tokio::select! {
                event = runner.events.recv() => event,
                _ = interrupt.recv() => { stopping = true; cancel(&runner, &current_run); continue; }
                _ = terminate.recv() => { stopping = true; cancel(&runner, &current_run); continue; }
            };
            let Some(event) = event else {
                anyhow::bail!("the runner stopped unexpectedly");
            };
            match event {
                Event::TaskRefused {
                    task_id: refused,
                    reason,
                    ..
                } if refused == task_id => {
                    eprintln!("{task_id}: {reason}");
                    break;
                }
                Event::TaskStarted(run) if run.task_id == task_id => {
                    eprintln!("{task_id}: started (run {}, trigger schedule)", run.id);
                    current_run = Some(run.id);
                }
                Event::TaskOutput { run_id, line } if current_run.as_deref() == Some(&run_id) => {
                    writeln!(stdout, "{task_id}: {line}")?;
                    stdout.flush()?;
                }
                Event::TaskFinished(run) if run.task_id == task_id => {
                    eprintln!(
                        "{task_id}: {} ({})",
                        run.status.as_str(),
                        run.summary.as_deref().unwrap_or("")
                    );
                    if run.status != RunStatus::Succeeded {
                        code = 1;
                    }
                    break;
                }
                Event::Warning { source, message } => eprintln!("opsdeck: {source}: {message}"),
                _ => {}
            }
        }
    }
    let _ = runner.requests.send(Request::Shutdown);
    let _ = runner.task.await;
    Ok(if stopping { 130 } else { code })
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
    pub schedule: Option<&'a TaskSchedule>,
    /// Next run, last success and overdue, for a scheduled task.
    pub due: Option<DueStatus>,
}

/// The tasks with their newest run (`runs` newest first) and, when scheduled, where their
/// schedule stands at `now` in local time, counting due times from when opsdeck began watching
/// it (`watched`, from [`crate::core::store::Store::watch_schedules`]; `now` when absent).
pub fn listing<'a>(
    tasks: &'a [(Task, Option<String>)],
    runs: &'a [TaskRun],
    watched: &HashMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<TaskListing<'a>> {
    tasks
        .iter()
        .map(|(task, key)| {
            let last_success = runs
                .iter()
                .find(|run| run.task_id == task.info.id && run.status == RunStatus::Succeeded)
                .and_then(|run| run.ended_at);
            TaskListing {
                id: &task.info.id,
                key: key.clone(),
                title: &task.info.title,
                description: &task.info.description,
                destructive: task.info.destructive,
                last_run: runs.iter().find(|run| run.task_id == task.info.id),
                schedule: task.info.schedule.as_ref(),
                due: task.info.schedule.as_ref().map(|schedule| {
                    let since = watched.get(&task.info.id).copied().unwrap_or(now);
                    schedule.status(since, last_success, now, &chrono::Local)
                }),
            }
        })
        .collect()
}

pub fn listing_text(listing: &[TaskListing]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<4} {:<20} {:<12} {:<26} {:<30} LAST RUN",
        "KEY", "TASK", "CHANGES", "TITLE", "SCHEDULE"
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
        let schedule = match (task.schedule, &task.due) {
            (Some(schedule), Some(due)) => {
                let next = due.next_run.map_or_else(
                    || "never".to_owned(),
                    |at| {
                        at.with_timezone(&chrono::Local)
                            .format("%m-%d %H:%M")
                            .to_string()
                    },
                );
                let overdue = if due.overdue() { " OVERDUE" } else { "" };
                format!("{} next {next}{overdue}", schedule.cron.as_str())
            }
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<4} {:<20} {:<12} {:<26} {:<30} {last}",
            task.key.as_deref().unwrap_or("-"),
            task.id,
            if task.destructive { "yes (asks)" } else { "no" },
            task.title,
            schedule
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
