//! `container-restart`, `container-stop` and `container-start`: the containers pane's actions on
//! one container (parameter `name`), through the Docker Engine API. The plan shows the exact
//! API call and, for a compose service, which project and service it belongs to; a container
//! Docker does not know is refused before anything is done.

use super::{ParamSpec, Params, Plan, TaskContext, TaskError, TaskSummary};
use crate::core::containers::docker::{self, ContainerAction, DockerError, STOP_GRACE_S};
use crate::core::text::printable;

pub const PARAMS: &[ParamSpec] = &[ParamSpec {
    name: "name",
    description: "the container's name (or id), as the containers pane shows it",
}];

/// The task ids, one per action.
pub fn task_id(action: ContainerAction) -> &'static str {
    match action {
        ContainerAction::Restart => "container-restart",
        ContainerAction::Stop => "container-stop",
        ContainerAction::Start => "container-start",
    }
}

/// Docker's own rule for names; anything else never reaches the API's URL path.
fn name(params: &Params) -> Result<String, TaskError> {
    let bad = |message: &str| TaskError::BadParam {
        name: "name".into(),
        message: message.into(),
    };
    let name = params
        .get("name")
        .map(|name| name.trim().trim_start_matches('/'))
        .ok_or_else(|| bad("give the container's name, e.g. name=web-1"))?;
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric())
        && chars.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'));
    if !valid {
        return Err(bad(&format!(
            "`{}` is not a container name (letters, digits, _ . - only)",
            printable(name)
        )));
    }
    Ok(name.to_owned())
}

fn failed(error: DockerError) -> TaskError {
    TaskError::failed(error.to_string())
}

pub async fn plan(action: ContainerAction, params: &Params) -> Result<Plan, TaskError> {
    let name = name(params)?;
    let docker = docker::connect().await.map_err(failed)?;
    let mut plan = Plan::default();
    plan.steps.push(Plan::note(format!(
        "Docker API: {} (as `docker {} {name}`)",
        action.api_call(&name),
        action.verb()
    )));
    match docker::inspect(&docker, &name).await {
        Ok(row) => {
            let mut now = format!("  {name} is {}", row.state);
            if let Some(health) = &row.health {
                now.push_str(&format!(", {health}"));
            }
            plan.steps.push(Plan::note(now));
            if let (Some(project), Some(service)) = (&row.project, &row.service) {
                plan.steps.push(Plan::note(format!(
                    "  compose {project}/{service}: this container alone, not `docker compose -p {project} {} {service}`",
                    action.verb()
                )));
            }
            if action != ContainerAction::Start {
                plan.warnings.push(format!(
                    "{name} gets {STOP_GRACE_S} s to stop on SIGTERM, then it is killed"
                ));
            }
        }
        Err(DockerError::NoSuchContainer(_)) => {
            plan.refusal = Some(format!("Docker has no container named {name}"));
        }
        Err(error) => return Err(failed(error)),
    }
    Ok(plan)
}

pub async fn run(action: ContainerAction, context: &TaskContext) -> Result<TaskSummary, TaskError> {
    let name = name(&context.params)?;
    if context.cancel.is_cancelled() {
        return Err(TaskError::Cancelled);
    }
    let docker = docker::connect().await.map_err(failed)?;
    context.output.line(action.api_call(&name));
    action.call(&docker, &name).await.map_err(failed)?;
    let row = docker::inspect(&docker, &name).await.map_err(failed)?;
    let done = match action {
        ContainerAction::Restart => "restarted",
        ContainerAction::Stop => "stopped",
        ContainerAction::Start => "started",
    };
    Ok(TaskSummary {
        exit_code: None,
        summary: format!("{name} {done}; now {}", row.state),
    })
}
