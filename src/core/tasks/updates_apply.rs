//! `updates-apply`: installs the pending package upgrades that `apt-get -s upgrade` lists,
//! and only those (`apt-get install --only-upgrade PKG…`, non-interactive, keeping changed
//! config files). Destructive: the runner asks for confirmation, audits it and refuses it in
//! read-only mode. A dpkg lock held by another process refuses the plan and fails the run
//! before anything is started.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{ParamSpec, Params, Plan, PlanStep, TaskContext, TaskError, TaskSummary};
use crate::core::exposure::updates::{self, PendingUpdate, UpdateSettings};

pub const PARAMS: &[ParamSpec] = &[];

#[derive(Debug, Clone, PartialEq)]
pub struct UpdatesApplySettings {
    pub updates: UpdateSettings,
    /// Where dpkg's lock files and the reboot flag are looked for (`/` but in tests).
    pub root: PathBuf,
}

/// The upgrade command for exactly these packages.
fn argv(settings: &UpdatesApplySettings, pending: &[PendingUpdate]) -> Vec<String> {
    let mut argv: Vec<String> = [
        settings.updates.apt_get.as_str(),
        "--yes",
        "-o",
        "Dpkg::Options::=--force-confold",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "install",
        "--only-upgrade",
    ]
    .map(str::to_owned)
    .to_vec();
    argv.extend(pending.iter().map(|update| update.package.clone()));
    argv
}

/// The pending upgrades, on a blocking thread (apt reads its lists for seconds).
async fn pending(settings: &UpdatesApplySettings) -> Result<Vec<PendingUpdate>, TaskError> {
    let apt_get = settings.updates.apt_get.clone();
    tokio::task::spawn_blocking(move || updates::simulate(&apt_get))
        .await
        .map_err(|error| TaskError::failed(format!("apt simulation failed: {error}")))?
        .map_err(TaskError::failed)
}

fn locked(settings: &UpdatesApplySettings) -> Option<String> {
    updates::apt_lock_holder(&settings.root).map(|holder| {
        format!("apt is locked: {holder}; wait for it to finish and run updates-apply again")
    })
}

pub async fn plan(settings: &UpdatesApplySettings, _params: &Params) -> Result<Plan, TaskError> {
    let pending = pending(settings).await?;
    let security = pending.iter().filter(|update| update.security).count();
    let mut steps = vec![Plan::note(format!(
        "{} package(s) to upgrade, {security} of them security updates (from apt-get -s upgrade):",
        pending.len()
    ))];
    steps.extend(
        pending
            .iter()
            .map(|update| Plan::note(format!("  {}", update.describe()))),
    );
    if !pending.is_empty() {
        steps.push(PlanStep::Command {
            argv: argv(settings, &pending),
            cwd: None,
        });
        steps.push(Plan::note(format!(
            "with DEBIAN_FRONTEND=noninteractive; afterwards {} says whether a reboot is needed",
            updates::reboot_file(&settings.root).display()
        )));
    }
    Ok(Plan {
        steps,
        warnings: Vec::new(),
        refusal: locked(settings),
    })
}

pub async fn run(
    settings: &UpdatesApplySettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    if let Some(refusal) = locked(settings) {
        return Err(TaskError::failed(refusal));
    }
    let pending = pending(settings).await?;
    if pending.is_empty() {
        return Ok(TaskSummary {
            exit_code: None,
            summary: "nothing to upgrade".into(),
        });
    }
    let security = pending.iter().filter(|update| update.security).count();
    for update in &pending {
        context
            .output
            .line(format!("upgrade {}", update.describe()));
    }
    let env = BTreeMap::from([("DEBIAN_FRONTEND".to_owned(), "noninteractive".to_owned())]);
    let status =
        super::process::run_streaming(&argv(settings, &pending), &env, None, context).await?;
    match status.code() {
        Some(0) => Ok(TaskSummary {
            exit_code: Some(0),
            summary: format!("upgraded {} package(s), {security} security", pending.len()),
        }),
        Some(code) => Err(TaskError::Exit(code)),
        None => Err(TaskError::failed("apt-get was killed by a signal")),
    }
}
