//! The task runner end to end (shell tasks, real processes, real store): streaming output,
//! cancellation within a second, timeouts, read-only and confirmation refusals at the runner,
//! one run at a time, missing programs, and an audit row for every run — on SQLite and on a
//! throwaway PostgreSQL. Also the binary: a run killed with opsdeck shows as interrupted, with
//! the output saved before. A run's processes are found by its own process group, never by name.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::model::{RunStatus, TaskRun};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::store::{Store, StoreLocation};
use opsdeck::core::tasks::shell::ShellSettings;
use opsdeck::core::tasks::{Params, Task, TaskInfo, TaskKind};

fn shell_task(id: &str, script: &str, destructive: bool, timeout: Duration) -> Task {
    Task {
        info: TaskInfo {
            id: id.into(),
            title: id.into(),
            description: String::new(),
            destructive,
            timeout,
            concurrent: false,
            params: Vec::new(),
            schedule: None,
        },
        kind: TaskKind::Shell(ShellSettings {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            shell: false,
            env: BTreeMap::new(),
            cwd: None,
        }),
    }
}

fn tasks() -> Vec<Task> {
    let minute = Duration::from_secs(60);
    vec![
        shell_task(
            "sleepy",
            "echo started in group $$; sleep 60; echo never",
            false,
            minute,
        ),
        shell_task(
            "slow-output",
            "echo first line; sleep 2; echo second line",
            false,
            minute,
        ),
        shell_task("restart-app", "echo restarting", true, minute),
        shell_task("fails", "echo oops >&2; exit 3", false, minute),
        shell_task("too-long", "sleep 60", false, Duration::from_secs(1)),
        Task {
            kind: TaskKind::Shell(ShellSettings {
                argv: vec!["/no/such/program".into()],
                shell: false,
                env: BTreeMap::new(),
                cwd: None,
            }),
            ..shell_task("missing-binary", "", false, minute)
        },
    ]
}

fn start(store: Store, read_only: bool, runs_dir: Option<std::path::PathBuf>) -> RunnerHandle {
    runner::spawn(
        RunnerSettings::tasks_only(TaskSettings {
            tasks: tasks(),
            read_only,
            identity: Identity {
                user: "tester".into(),
                client: Some("10.0.0.7".into()),
                host: "test-host".into(),
                pid: std::process::id(),
            },
            runs_dir,
        }),
        Some(store),
    )
}

fn start_task(runner: &RunnerHandle, task_id: &str, confirmed: bool) {
    runner
        .requests
        .send(Request::StartTask {
            task_id: task_id.into(),
            params: Params::new(),
            confirmed: if confirmed {
                opsdeck::core::tasks::Confirmed::AsPlannedThen
            } else {
                opsdeck::core::tasks::Confirmed::No
            },
        })
        .unwrap();
}

/// Waits for the next event matching `pick`, failing after `limit`.
async fn wait_for<T>(
    runner: &mut RunnerHandle,
    limit: Duration,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let event = tokio::time::timeout_at(deadline, runner.events.recv())
            .await
            .expect("expected event in time")
            .expect("runner alive");
        if let Some(found) = pick(event) {
            return found;
        }
    }
}

async fn finished(runner: &mut RunnerHandle, task_id: &str) -> TaskRun {
    wait_for(runner, Duration::from_secs(20), |event| match event {
        Event::TaskFinished(run) if run.task_id == task_id => Some(run),
        _ => None,
    })
    .await
}

/// The group a task's shell reports with `echo started in group $$`: the runner starts each
/// run in a process group of its own, led by the shell.
fn started_in_group(line: &str) -> Option<i32> {
    line.strip_prefix("started in group ")?.parse().ok()
}

/// The live processes of a process group, as `pid (name) state`, read from /proc. A run's
/// processes are told apart by their group, whatever other tests run at the same time. Zombies
/// are left out: they have ended and only wait to be reaped.
fn live_members(group: i32) -> Vec<String> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap() {
        let Ok(entry) = entry else { continue };
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        // Gone since the listing: not a member any more.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may itself contain spaces and parentheses.
        let Some((pid_and_name, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == group.to_string() {
            members.push(format!("{pid_and_name}) {}", fields[0]));
        }
    }
    members
}

async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap()
}

#[tokio::test]
async fn output_streams_before_the_run_ends_and_lands_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store.clone(), false, Some(dir.path().join("runs")));
    start_task(&runner, "slow-output", false);
    let started = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskStarted(run) => Some(run),
        _ => None,
    })
    .await;
    // The audit row exists before the run is shown as started.
    let rows = store.runs(Some("slow-output"), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, RunStatus::Running);
    assert_eq!(rows[0].user, "tester");
    assert_eq!(rows[0].client.as_deref(), Some("10.0.0.7"));
    assert!(
        rows[0]
            .plan
            .iter()
            .any(|line| line.contains("echo first line"))
    );

    let line = wait_for(&mut runner, Duration::from_secs(5), |event| match event {
        Event::TaskOutput { run_id, line } if run_id == started.id => Some(line),
        Event::TaskFinished(_) => panic!("finished before any output arrived"),
        _ => None,
    })
    .await;
    assert_eq!(line, "first line");
    let run = finished(&mut runner, "slow-output").await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.exit_code, Some(0));
    let stored = &store.runs(Some("slow-output"), 10).await.unwrap()[0];
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(stored.output, "first line\nsecond line\n");
    assert!(stored.ended_at.unwrap() - stored.started_at >= chrono::TimeDelta::seconds(2));
    let log = std::fs::read_to_string(stored.log_path.as_ref().unwrap()).unwrap();
    assert_eq!(log, "first line\nsecond line\n");
}

#[tokio::test]
async fn cancelling_a_running_sleep_ends_it_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store.clone(), false, None);
    start_task(&runner, "sleepy", false);
    let (run_id, group) = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskOutput { run_id, line } => started_in_group(&line).map(|group| (run_id, group)),
        _ => None,
    })
    .await;
    assert!(
        !live_members(group).is_empty(),
        "no process in group {group}"
    );
    let asked = Instant::now();
    runner.requests.send(Request::CancelRun { run_id }).unwrap();
    let run = finished(&mut runner, "sleepy").await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(
        store.runs(Some("sleepy"), 1).await.unwrap()[0].status,
        RunStatus::Cancelled
    );
    // The whole process group is gone within the second, not only the shell.
    let mut survivors = live_members(group);
    while !survivors.is_empty() && asked.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        survivors = live_members(group);
    }
    assert!(survivors.is_empty(), "left behind: {survivors:?}");
}

#[tokio::test]
async fn a_run_past_its_timeout_is_stopped_and_recorded_as_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store.clone(), false, None);
    let began = Instant::now();
    start_task(&runner, "too-long", false);
    let run = finished(&mut runner, "too-long").await;
    assert_eq!(run.status, RunStatus::TimedOut);
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(
        store.runs(Some("too-long"), 1).await.unwrap()[0].status,
        RunStatus::TimedOut
    );
}

#[tokio::test]
async fn read_only_refuses_destructive_tasks_in_the_runner_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store.clone(), true, None);
    // Even a request claiming confirmation is refused.
    start_task(&runner, "restart-app", true);
    let reason = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskRefused { reason, .. } => Some(reason),
        Event::TaskStarted(_) => panic!("a destructive task started in read-only mode"),
        _ => None,
    })
    .await;
    assert!(reason.contains("read-only"), "{reason}");
    let rows = store.runs(Some("restart-app"), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, RunStatus::Refused);
    // Read-only tasks still run.
    start_task(&runner, "fails", false);
    assert_eq!(
        finished(&mut runner, "fails").await.status,
        RunStatus::Failed
    );
}

#[tokio::test]
async fn destructive_tasks_need_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store.clone(), false, None);
    start_task(&runner, "restart-app", false);
    let reason = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskRefused { reason, .. } => Some(reason),
        Event::TaskStarted(_) => panic!("started without confirmation"),
        _ => None,
    })
    .await;
    assert!(reason.contains("confirm"), "{reason}");
    start_task(&runner, "restart-app", true);
    let run = finished(&mut runner, "restart-app").await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.output, "restarting\n");
}

#[tokio::test]
async fn one_run_of_a_task_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store, false, None);
    start_task(&runner, "sleepy", false);
    let first = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskStarted(run) => Some(run),
        _ => None,
    })
    .await;
    start_task(&runner, "sleepy", false);
    let reason = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskRefused { reason, .. } => Some(reason),
        Event::TaskStarted(run) => panic!("second run started: {run:?}"),
        _ => None,
    })
    .await;
    assert!(reason.contains("already running"), "{reason}");
    runner
        .requests
        .send(Request::CancelRun { run_id: first.id })
        .unwrap();
    assert_eq!(
        finished(&mut runner, "sleepy").await.status,
        RunStatus::Cancelled
    );
}

#[tokio::test]
async fn failures_are_recorded_with_their_exit_status_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store.clone(), false, None);
    start_task(&runner, "fails", false);
    let run = finished(&mut runner, "fails").await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.exit_code, Some(3));
    assert_eq!(run.output, "oops\n");
    start_task(&runner, "missing-binary", false);
    let run = finished(&mut runner, "missing-binary").await;
    assert_eq!(run.status, RunStatus::Failed);
    let summary = run.summary.unwrap();
    assert!(
        summary.contains("/no/such/program") && summary.contains("not found"),
        "{summary}"
    );
    assert_eq!(store.runs(None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_tasks_and_parameters_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut runner = start(store, false, None);
    start_task(&runner, "no-such-task", false);
    let reason = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskRefused { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(
        reason.contains("unknown task `no-such-task`") && reason.contains("sleepy"),
        "{reason}"
    );
    runner
        .requests
        .send(Request::StartTask {
            task_id: "fails".into(),
            params: [("colour".to_owned(), "red".to_owned())].into(),
            confirmed: opsdeck::core::tasks::Confirmed::No,
        })
        .unwrap();
    let reason = wait_for(&mut runner, Duration::from_secs(10), |event| match event {
        Event::TaskRefused { reason, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(reason.contains("unknown parameter `colour`"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_works_on_postgresql_too() {
    let server = tokio::task::spawn_blocking(|| {
        let server = support::PgServer::start();
        server.create_database("opsdeck");
        server
    })
    .await
    .unwrap();
    let store = Store::open(&StoreLocation::Postgres(server.url_for("opsdeck")))
        .await
        .unwrap();
    let mut runner = start(store.clone(), false, None);
    start_task(&runner, "fails", false);
    let run = finished(&mut runner, "fails").await;
    let stored = store.runs(Some("fails"), 5).await.unwrap();
    assert_eq!(stored, vec![run]);
    drop(runner);
    drop(server);
}

#[test]
fn a_run_killed_with_opsdeck_shows_as_interrupted_afterwards() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        "[[task]]\nid = \"sleepy\"\nargv = [\"sh\", \"-c\", \"echo started in group $$; sleep 30\"]\ndestructive = false\n",
    )
    .unwrap();
    let state = home.path().join("state.db");
    let opsdeck = env!("CARGO_BIN_EXE_opsdeck");
    let command = |args: &[&str]| {
        let mut command = std::process::Command::new(opsdeck);
        command
            .arg("--config")
            .arg(&config)
            .arg("--state")
            .arg(&state)
            .args(args)
            .env("XDG_STATE_HOME", home.path().join("xdg-state"))
            .env("XDG_DATA_HOME", home.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", home.path().join("xdg-config"));
        command
    };
    let mut child = command(&["run", "sleepy"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let group = started_in_group(first.trim());
    let history = || -> Result<Vec<TaskRun>, String> {
        let output = command(&["history", "--task", "sleepy", "--format", "json"])
            .output()
            .map_err(|error| error.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        serde_json::from_slice(&output.stdout).map_err(|error| error.to_string())
    };
    // The output is saved every few seconds while the run goes on; what was saved before the
    // crash must survive it. Nothing here may panic before opsdeck and the task are killed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut saved = Ok(Vec::new());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        saved = history();
        let done = saved.as_ref().map_or(true, |runs| {
            runs.first()
                .is_some_and(|run| run.output.contains("started in group"))
        });
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The task outlives the opsdeck that was killed; its group goes too.
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_raw(group).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    let group = group.unwrap_or_else(|| panic!("first line: {first:?}"));
    let saved = saved.unwrap();
    assert!(
        saved
            .first()
            .is_some_and(|run| run.output.contains("started in group")),
        "the output was not saved within 10 s: {saved:?}"
    );

    let runs = history().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Interrupted);
    assert_eq!(runs[0].output, format!("started in group {group}\n"));
}

/// What runs is what was confirmed: a cleanup whose file list grew between the plan shown and
/// the confirmation is refused with the new file named, deletes nothing, and runs once its new
/// plan is confirmed.
#[tokio::test]
async fn a_destructive_run_whose_plan_changed_since_it_was_confirmed_is_refused() {
    use opsdeck::core::tasks::Confirmed;
    use opsdeck::core::tasks::temp_cleanup::TempCleanupSettings;
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    let old = |name: &str| {
        let path = clean.join(name);
        std::fs::write(&path, "stale").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - Duration::from_secs(10 * 86_400))
            .unwrap();
        path
    };
    let first = old("first.tmp");
    let cleanup = Task {
        kind: TaskKind::TempCleanup(TempCleanupSettings {
            directories: vec![clean.clone()],
            patterns: vec!["*.tmp".into()],
            older_than: Duration::from_secs(7 * 86_400),
        }),
        ..shell_task("temp-cleanup", "", true, Duration::from_secs(60))
    };
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let mut runner = runner::spawn(
        RunnerSettings::tasks_only(TaskSettings {
            tasks: vec![cleanup],
            ..support::runner::no_tasks()
        }),
        Some(store),
    );
    let plan = |runner: &RunnerHandle| {
        runner
            .requests
            .send(Request::PlanTask {
                task_id: "temp-cleanup".into(),
                params: Params::new(),
            })
            .unwrap();
    };
    let confirm = |runner: &RunnerHandle, actions: Vec<String>| {
        runner
            .requests
            .send(Request::StartTask {
                task_id: "temp-cleanup".into(),
                params: Params::new(),
                confirmed: Confirmed::Plan(actions),
            })
            .unwrap();
    };
    let planned = |event| match event {
        Event::TaskPlanned { plan, .. } => Some(plan.unwrap().actions()),
        _ => None,
    };
    plan(&runner);
    let shown = support::runner::next(&mut runner, planned).await;
    assert_eq!(shown, [format!("delete {}", first.display())]);
    // While the plan is on screen, another stale file appears.
    let late = old("late.tmp");
    confirm(&runner, shown);
    let reason = support::runner::next(&mut runner, |event| match event {
        Event::TaskRefused { reason, .. } => Some(reason),
        Event::TaskStarted(_) => panic!("ran a plan nobody confirmed"),
        _ => None,
    })
    .await;
    assert!(
        reason.contains("plan changed since it was confirmed"),
        "{reason}"
    );
    assert!(reason.contains("late.tmp"), "{reason}");
    assert!(first.exists() && late.exists());

    plan(&runner);
    let shown = support::runner::next(&mut runner, planned).await;
    assert_eq!(shown.len(), 2, "{shown:?}");
    confirm(&runner, shown);
    let run = support::runner::next(&mut runner, |event| match event {
        Event::TaskFinished(run) => Some(run),
        Event::TaskRefused { reason, .. } => panic!("refused: {reason}"),
        _ => None,
    })
    .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert!(!first.exists() && !late.exists());
    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();
}
