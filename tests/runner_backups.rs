//! The runner keeps the backups pane current by itself: when a backup task ends, the next
//! inventory round comes at once (the interval here is an hour) and shows the new file, with no
//! request from the UI.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use support::runner::next;

use opsdeck::config::Config;
use opsdeck::core::execution::TaskSettings;
use opsdeck::core::model::RunStatus;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerSettings};
use opsdeck::core::store::{Store, StoreLocation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_backup_task_refreshes_the_backups_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(data.join("a.txt"), "alpha").unwrap();
    let text = format!(
        r#"
[backups]
interval = "1h"

[[backup]]
name = "files"
directory = "{backups}"
kind = "tar_gz"

[backup.create]
source = "paths"
paths = ["{data}"]
"#,
        backups = backups.display(),
        data = data.display()
    );
    let config = Config::parse("opsdeck.toml", &text).unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let mut runner = runner::spawn(
        RunnerSettings {
            rules: config.effective_rules(),
            backups: config.backup_set_specs.clone(),
            backups_interval: config.backups.interval.0,
            ..RunnerSettings::tasks_only(TaskSettings {
                tasks: config
                    .tasks(&dir.path().join("state"))
                    .into_iter()
                    .map(|(task, _)| task)
                    .collect(),
                ..support::runner::no_tasks()
            })
        },
        Some(store),
    );

    let files = |event: Event| match event {
        Event::Backups { reports, .. } => Some(
            reports
                .into_iter()
                .flat_map(|report| report.files)
                .map(|file| file.file.path)
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    assert_eq!(
        next(&mut runner, files).await,
        Vec::<std::path::PathBuf>::new()
    );

    // As the console does it: plan, show, confirm what was shown. The file's name comes from a
    // time the plan fixed, so a confirmation a while later still runs what it named.
    runner
        .requests
        .send(Request::PlanTask {
            task_id: "backup-create".into(),
            params: [("set".to_owned(), "files".to_owned())].into(),
        })
        .unwrap();
    let (params, plan) = next(&mut runner, |event| match event {
        Event::TaskPlanned { params, plan, .. } => Some((params, plan.unwrap())),
        _ => None,
    })
    .await;
    assert!(params.contains_key("named_at"), "{params:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    runner
        .requests
        .send(Request::StartTask {
            task_id: "backup-create".into(),
            params,
            confirmed: opsdeck::core::tasks::Confirmed::Plan(plan.actions()),
        })
        .unwrap();
    // The end of the task and the refreshed round may arrive in either order.
    let (mut finished, mut listed) = (None, None);
    while finished.is_none() || listed.is_none() {
        match next(&mut runner, Some).await {
            Event::TaskFinished(run) => finished = Some(run),
            Event::TaskRefused { reason, .. } => panic!("refused: {reason}"),
            event => {
                if let Some(files) = files(event).filter(|files| !files.is_empty()) {
                    listed = Some(files);
                }
            }
        }
    }
    let (run, listed) = (finished.unwrap(), listed.unwrap());
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let made: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "gz"))
        .collect();
    assert_eq!(made.len(), 1, "one archive made: {made:?}");
    let named = made[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        plan.lines().iter().any(|line| line.contains(&named)),
        "the plan named {named}: {:#?}",
        plan.lines()
    );
    // Nothing was asked of the runner since the task started, and the hour has not passed.
    assert_eq!(listed, made);
    runner.requests.send(Request::Shutdown).unwrap();
    let _ = runner.task.await;
}
