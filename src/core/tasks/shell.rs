//! Tasks defined in the config as a command: an argv run directly (no shell unless the task
//! says `shell = true`), with its environment, working directory and timeout.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::process::run_streaming;
use super::{Params, Plan, PlanStep, TaskContext, TaskError, TaskSummary};

#[derive(Debug, Clone, PartialEq)]
pub struct ShellSettings {
    /// The program and its arguments; with `shell`, a single shell command line.
    pub argv: Vec<String>,
    pub shell: bool,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
}

impl ShellSettings {
    fn command(&self) -> Vec<String> {
        if self.shell {
            vec!["/bin/sh".into(), "-c".into(), self.argv.join(" ")]
        } else {
            self.argv.clone()
        }
    }
}

pub async fn plan(settings: &ShellSettings, _params: &Params) -> Result<Plan, TaskError> {
    let mut steps = Vec::new();
    if !settings.env.is_empty() {
        let env: Vec<String> = settings
            .env
            .keys()
            .map(|name| format!("{name}=…"))
            .collect();
        steps.push(Plan::note(format!("environment: {}", env.join(" "))));
    }
    steps.push(PlanStep::Command {
        argv: settings.command(),
        cwd: settings.cwd.clone(),
    });
    Ok(Plan {
        steps,
        ..Plan::default()
    })
}

pub async fn run(
    settings: &ShellSettings,
    context: &TaskContext,
) -> Result<TaskSummary, TaskError> {
    let status = run_streaming(
        &settings.command(),
        &settings.env,
        settings.cwd.as_deref(),
        context,
    )
    .await?;
    let summary = match status.code() {
        Some(0) => "exited 0".to_owned(),
        Some(code) => return Err(TaskError::Exit(code)),
        None => return Err(TaskError::failed(format!("ended by a signal ({status})"))),
    };
    Ok(TaskSummary {
        exit_code: status.code(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::core::tasks::Output;

    #[tokio::test]
    async fn secrets_a_command_prints_are_masked_in_its_output() {
        let settings = ShellSettings {
            argv: vec![
                "echo".into(),
                "dumping postgres://ops:hunter2@db/app with Authorization: Bearer abc.def".into(),
            ],
            shell: false,
            env: BTreeMap::new(),
            cwd: None,
        };
        let (sender, mut lines) = mpsc::unbounded_channel();
        let context = TaskContext {
            params: Params::new(),
            output: Output::new(sender),
            cancel: CancellationToken::new(),
            store: None,
        };
        run(&settings, &context).await.unwrap();
        assert_eq!(
            lines.recv().await.unwrap(),
            "dumping postgres://ops:***@db/app with Authorization: Bearer ***"
        );
    }
}
