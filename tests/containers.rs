//! The containers pane's data against a real Docker (`dockerd --storage-driver=vfs`, started by
//! `.ci/run`): a container exiting 1 every second is a crash loop, one allocating past its
//! memory limit is OOM-killed, a failing HEALTHCHECK is unhealthy (and its service check down),
//! each judged by the built-in rules; `opsdeck containers` exits by them; a restart goes through
//! the runner into the audit log and is refused read-only; log lines come back escaped.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use opsdeck::config::Config;
use opsdeck::core::checks::Judge;
use opsdeck::core::containers::docker::{self, ContainerCollector};
use opsdeck::core::containers::{ContainerRow, ContainersSnapshot};
use opsdeck::core::execution::TaskSettings;
use opsdeck::core::model::{RunStatus, Status};
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerSettings};
use opsdeck::core::services::ServiceCheck;
use opsdeck::core::services::container::ContainerCheck;
use opsdeck::core::store::{Store, StoreLocation};
use opsdeck::core::tasks::Params;
use support::docker::{Spec, TestContainer, eventually, start};

fn judge() -> Judge {
    Judge::new(opsdeck::config::default_rules())
}

/// The level the built-in rules give `metric` of the container `name`.
fn level(snapshot: &ContainersSnapshot, name: &str, metric: &str) -> Option<Status> {
    judge()
        .evaluate(snapshot)
        .into_iter()
        .find(|evaluation| {
            evaluation.metric.name == metric && evaluation.metric.instance.as_deref() == Some(name)
        })
        .map(|evaluation| evaluation.status)
}

/// Refreshes until the container's row satisfies `done`.
async fn row_until(
    collector: &mut ContainerCollector,
    container: &TestContainer,
    limit: Duration,
    what: &str,
    done: impl Fn(&ContainerRow) -> bool,
) -> ContainersSnapshot {
    eventually(limit, what, async || {
        let snapshot = collector.snapshot().await;
        assert!(snapshot.unavailable.is_none(), "{:?}", snapshot.unavailable);
        snapshot
            .find(&container.name)
            .is_some_and(&done)
            .then_some(snapshot)
    })
    .await
}

#[tokio::test]
async fn a_container_exiting_every_second_is_a_crash_loop() {
    let docker = support::docker::docker().await;
    let spec = Spec {
        cmd: &["sh", "-c", "sleep 1; exit 1"],
        restart_always: true,
        ..Spec::default()
    };
    let container = start(&docker, "crashloop", spec).await;
    let mut collector = ContainerCollector::new(Duration::from_secs(1));
    // Docker's back-off doubles from 100 ms: five restarts take some 10 s.
    let snapshot = row_until(
        &mut collector,
        &container,
        Duration::from_secs(60),
        "five restarts seen on the event stream",
        |row| row.restarts_1h >= 5,
    )
    .await;
    assert_eq!(
        level(&snapshot, &container.name, "container.restarts_1h"),
        Some(Status::Crit)
    );
    let row = snapshot.find(&container.name).unwrap();
    assert!(
        row.findings(snapshot.taken_at)
            .iter()
            .any(|finding| finding.starts_with("crash loop")),
        "{row:?}"
    );
    assert!(row.restart_count >= 5, "{row:?}");
    // A fresh reader (as `opsdeck containers` is) counts them from the past hour's events.
    let fresh = ContainerCollector::new(Duration::from_secs(1))
        .snapshot()
        .await;
    assert!(
        fresh.find(&container.name).unwrap().restarts_1h >= 5,
        "{fresh:?}"
    );
}

#[tokio::test]
async fn a_container_past_its_memory_limit_is_oom_killed_and_the_cli_exits_critical() {
    let docker = support::docker::docker().await;
    let spec = Spec {
        // Holds 64 MiB in a shell variable under an 8 MiB limit.
        cmd: &[
            "sh",
            "-c",
            "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}",
        ],
        memory_bytes: Some(8 * 1024 * 1024),
        ..Spec::default()
    };
    let container = start(&docker, "oom", spec).await;
    let mut collector = ContainerCollector::new(Duration::from_secs(1));
    let snapshot = row_until(
        &mut collector,
        &container,
        Duration::from_secs(60),
        "the container OOM-killed",
        |row| row.oom_killed && !row.running(),
    )
    .await;
    assert_eq!(
        level(&snapshot, &container.name, "container.oom_killed"),
        Some(Status::Crit)
    );
    assert_eq!(
        level(&snapshot, &container.name, "container.up"),
        Some(Status::Crit)
    );
    let row = snapshot.find(&container.name).unwrap();
    assert_eq!(row.exit_code, Some(137), "{row:?}");
    assert_eq!(row.state_label(), "exited(137)");

    // The console's runner watches Docker and the kill becomes an alert like any other.
    let mut watching = runner::spawn(
        RunnerSettings {
            rules: opsdeck::config::default_rules(),
            containers: Some(Duration::from_secs(1)),
            ..RunnerSettings::tasks_only(support::runner::no_tasks())
        },
        None,
    );
    let alert = support::runner::next(&mut watching, |event| match event {
        Event::AlertChanged(alert)
            if alert.metric == "container.oom_killed"
                && alert.instance.as_deref() == Some(container.name.as_str()) =>
        {
            Some(alert)
        }
        _ => None,
    })
    .await;
    assert_eq!(alert.level, Status::Crit, "{alert:?}");
    let _ = watching.requests.send(Request::Shutdown);

    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_opsdeck"));
    command.args(["containers", "--format", "json"]);
    support::run::sandboxed(&mut command, dir.path(), "tester");
    let run = support::run::Run::from(command.output().unwrap());
    assert_eq!(run.code, Some(2), "{}", run.text());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let listed = report["snapshot"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == container.name.as_str())
        .unwrap_or_else(|| panic!("{} listed: {}", container.name, run.stdout));
    assert_eq!(listed["oom_killed"], true);
    let verdict = report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == container.name.as_str())
        .unwrap();
    assert_eq!(verdict["status"], "crit", "{verdict}");

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_opsdeck"));
    command.arg("containers");
    support::run::sandboxed(&mut command, dir.path(), "tester");
    let run = support::run::Run::from(command.output().unwrap());
    assert_eq!(run.code, Some(2), "{}", run.text());
    assert!(run.stdout.contains("OOM-killed"), "{}", run.text());
}

#[tokio::test]
async fn a_failing_healthcheck_is_unhealthy_past_its_limit_and_its_service_down() {
    let docker = support::docker::docker().await;
    let spec = Spec {
        cmd: &["sleep", "600"],
        healthcheck: Some("echo 'db gone'; exit 1"),
        ..Spec::default()
    };
    let sick = start(&docker, "unhealthy", spec).await;
    let well = start(
        &docker,
        "healthy",
        Spec {
            cmd: &["sleep", "600"],
            ..Spec::default()
        },
    )
    .await;
    let mut collector = ContainerCollector::new(Duration::from_secs(1));
    let snapshot = row_until(
        &mut collector,
        &sick,
        Duration::from_secs(30),
        "the container unhealthy",
        |row| row.health.as_deref() == Some("unhealthy"),
    )
    .await;
    let row = snapshot.find(&sick.name).unwrap();
    assert_eq!(row.health_output.as_deref(), Some("db gone"), "{row:?}");

    let check = |name: &str| {
        ServiceCheck::Container(ContainerCheck {
            container: name.to_owned(),
        })
    };
    let down = check(&sick.name).run(Duration::from_secs(5)).await;
    assert!(!down.ok, "{down:?}");
    assert!(down.detail.contains("unhealthy: db gone"), "{down:?}");
    let up = check(&well.name).run(Duration::from_secs(5)).await;
    assert!(up.ok, "{up:?}");
    assert!(up.detail.starts_with("running"), "{up:?}");
    let missing = check("opsdeck-test-no-such-container")
        .run(Duration::from_secs(5))
        .await;
    assert!(!missing.ok);
    assert!(missing.detail.contains("no container named"), "{missing:?}");

    // Unhealthy for longer than the built-in rule's limit (30 s) is a warning.
    let snapshot = eventually(
        Duration::from_secs(90),
        "the unhealthy warning",
        async || {
            let snapshot = collector.snapshot().await;
            (level(&snapshot, &sick.name, "container.unhealthy_s") == Some(Status::Warn))
                .then_some(snapshot)
        },
    )
    .await;
    assert!(
        snapshot
            .find(&sick.name)
            .unwrap()
            .findings(snapshot.taken_at)
            .iter()
            .any(|finding| finding.starts_with("unhealthy for")),
    );
    assert_eq!(
        level(&snapshot, &well.name, "container.up"),
        Some(Status::Ok)
    );
    assert_eq!(level(&snapshot, &well.name, "container.unhealthy_s"), None);
}

fn runner(store: Store, read_only: bool) -> runner::RunnerHandle {
    let dir = std::env::temp_dir();
    let tasks = Config::default()
        .tasks(&dir)
        .into_iter()
        .map(|(task, _)| task)
        .collect();
    runner::spawn(
        RunnerSettings::tasks_only(TaskSettings {
            tasks,
            read_only,
            ..support::runner::no_tasks()
        }),
        Some(store),
    )
}

fn restart(runner: &runner::RunnerHandle, name: &str) {
    let params: Params = [("name".to_owned(), name.to_owned())].into();
    runner
        .requests
        .send(Request::StartTask {
            task_id: "container-restart".into(),
            params,
            confirmed: opsdeck::core::tasks::Confirmed::AsPlannedThen,
        })
        .unwrap();
}

#[tokio::test]
async fn a_restart_goes_through_the_runner_into_the_audit_log_and_is_refused_read_only() {
    let docker = support::docker::docker().await;
    let container = start(
        &docker,
        "restart",
        Spec {
            cmd: &["sleep", "600"],
            ..Spec::default()
        },
    )
    .await;
    let before = docker::inspect(&docker, &container.name).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();

    let mut read_only = runner(store.clone(), true);
    restart(&read_only, &container.name);
    let reason = support::runner::next(&mut read_only, |event| match event {
        Event::TaskRefused { reason, .. } => Some(reason),
        Event::TaskStarted(_) => panic!("a restart started read-only"),
        _ => None,
    })
    .await;
    assert!(reason.contains("read-only"), "{reason}");
    let after_refusal = docker::inspect(&docker, &container.name).await.unwrap();
    assert_eq!(after_refusal.started_at, before.started_at);

    let mut runner = runner(store.clone(), false);
    let params: Params = [("name".to_owned(), container.name.clone())].into();
    runner
        .requests
        .send(Request::PlanTask {
            task_id: "container-restart".into(),
            params,
        })
        .unwrap();
    let plan = support::runner::next(&mut runner, |event| match event {
        Event::TaskPlanned { plan, .. } => Some(plan.unwrap()),
        _ => None,
    })
    .await;
    let call = format!("POST /containers/{}/restart?t=10", container.name);
    assert!(
        plan.lines().iter().any(|line| line.contains(&call)),
        "{:?}",
        plan.lines()
    );
    restart(&runner, &container.name);
    let run = support::runner::next(&mut runner, |event| match event {
        Event::TaskFinished(run) => Some(run),
        _ => None,
    })
    .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let after = docker::inspect(&docker, &container.name).await.unwrap();
    assert!(after.running());
    assert!(after.started_at > before.started_at, "{after:?}");

    let audit = store.runs(Some("container-restart"), 10).await.unwrap();
    let statuses: Vec<RunStatus> = audit.iter().map(|run| run.status).collect();
    assert!(statuses.contains(&RunStatus::Refused), "{statuses:?}");
    assert!(statuses.contains(&RunStatus::Succeeded), "{statuses:?}");
    let done = audit
        .iter()
        .find(|run| run.status == RunStatus::Succeeded)
        .unwrap();
    assert_eq!(done.params.get("name"), Some(&container.name));
    assert!(
        done.plan.iter().any(|line| line.contains(&call)),
        "{done:?}"
    );

    // A name that is not a container name never reaches the API.
    let params: Params = [("name".to_owned(), "../../images/x".to_owned())].into();
    runner
        .requests
        .send(Request::StartTask {
            task_id: "container-restart".into(),
            params,
            confirmed: opsdeck::core::tasks::Confirmed::AsPlannedThen,
        })
        .unwrap();
    let run = support::runner::next(&mut runner, |event| match event {
        Event::TaskFinished(run) => Some(run),
        Event::TaskStarted(run) => panic!("a bad name was started: {run:?}"),
        _ => None,
    })
    .await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let summary = run.summary.unwrap_or_default();
    assert!(summary.contains("not a container name"), "{summary}");
}

#[tokio::test]
async fn hostile_log_lines_and_labels_come_back_escaped_and_bounded() {
    let docker = support::docker::docker().await;
    let spec = Spec {
        cmd: &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; printf 'evil \\033[2J\\033]0;owned\\007 end\\n'; sleep 600",
        ],
        labels: &[
            ("com.docker.compose.project", "shop\u{1b}[31m"),
            ("com.docker.compose.service", "web\r\nfake"),
        ],
        ..Spec::default()
    };
    let container = start(&docker, "hostile", spec).await;
    let lines = eventually(Duration::from_secs(30), "the log written", async || {
        let lines = docker::log_tail(&docker, &container.name).await.unwrap();
        lines
            .last()
            .is_some_and(|line| line.starts_with("evil"))
            .then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), docker::LOG_TAIL_LINES);
    assert_eq!(lines.last().unwrap(), "evil \\x1b[2J\\x1b]0;owned\\x07 end");
    assert!(lines.iter().all(|line| !line.chars().any(char::is_control)));

    let mut collector = ContainerCollector::new(Duration::from_secs(1));
    let snapshot = collector.snapshot().await;
    let row = snapshot.find(&container.name).unwrap();
    // Kept as Docker has them; escaped wherever they are shown.
    assert_eq!(row.project.as_deref(), Some("shop\u{1b}[31m"));
    let shown = opsdeck::core::text::printable(&row.compose_label());
    assert_eq!(shown, "shop\\x1b[31m/web\\r\\nfake");
    let report = opsdeck::headless::containers::ContainersReport::new(snapshot, &judge());
    assert!(!report.to_text().contains('\u{1b}'));
}

/// `opsdeck containers` where Docker cannot be read: exit 3 with the fix, nothing else needed.
/// The binary is run from `dir`, where another user can reach it whatever the checkout's
/// parent directories allow.
fn containers_cli(
    dir: &std::path::Path,
    setup: impl FnOnce(&mut std::process::Command),
) -> support::run::Run {
    let binary = dir.join("opsdeck");
    if !binary.exists() {
        std::fs::hard_link(env!("CARGO_BIN_EXE_opsdeck"), &binary)
            .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_opsdeck"), &binary).map(|_| ()))
            .unwrap();
    }
    let mut command = std::process::Command::new(&binary);
    command.arg("containers");
    support::run::sandboxed(&mut command, dir, "tester");
    setup(&mut command);
    support::run::Run::from(command.output().unwrap())
}

#[test]
fn docker_absent_or_its_socket_unreadable_is_unknown_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = containers_cli(dir.path(), |command| {
        command.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    });
    assert_eq!(missing.code, Some(3), "{}", missing.text());
    assert!(
        missing
            .stdout
            .contains("UNKNOWN cannot read Docker at unix:///nonexistent/docker.sock"),
        "{}",
        missing.text()
    );
    assert!(
        missing.stdout.contains("fix: start Docker"),
        "{}",
        missing.text()
    );

    // Someone outside the docker group: the socket refuses them.
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let refused = containers_cli(dir.path(), |command| {
        command.uid(65534).gid(65534).env_remove("DOCKER_HOST");
    });
    assert_eq!(refused.code, Some(3), "{}", refused.text());
    assert!(
        refused.stdout.contains("Permission denied"),
        "{}",
        refused.text()
    );
    assert!(
        refused
            .stdout
            .contains("fix: add your user to the docker group (sudo usermod -aG docker $USER)"),
        "{}",
        refused.text()
    );
}
