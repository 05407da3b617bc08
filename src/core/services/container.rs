//! `container` checks: one Docker container by name is up when it runs and, if it has a
//! HEALTHCHECK, is healthy. The detail says `running, healthy, up 3h`, `restarting`,
//! `running, unhealthy: <last check output>`, `exited (code 1, OOM-killed)`, or why Docker
//! could not be read.

use std::time::Duration;

use super::CheckOutcome;
use crate::core::containers::ContainerRow;
use crate::core::containers::docker::{self, DockerError};
use crate::core::model::now;
use crate::core::text::{duration, printable};

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerCheck {
    pub container: String,
}

pub async fn check(check: &ContainerCheck, timeout: Duration) -> CheckOutcome {
    let looked_up = tokio::time::timeout(timeout, async {
        let docker = docker::connect().await?;
        docker::inspect(&docker, &check.container).await
    })
    .await;
    match looked_up {
        Ok(Ok(row)) => judge(&row),
        Ok(Err(DockerError::Unavailable(unavailable))) => {
            CheckOutcome::failed(format!("{} ({})", unavailable.message, unavailable.fix))
        }
        Ok(Err(error)) => CheckOutcome::failed(printable(&error.to_string())),
        Err(_) => CheckOutcome::failed(format!(
            "Docker did not answer within {}",
            humantime::format_duration(timeout)
        )),
    }
}

fn judge(row: &ContainerRow) -> CheckOutcome {
    let healthy = row
        .health
        .as_deref()
        .is_none_or(|health| health == "healthy");
    let mut detail = row.state.clone();
    if let Some(health) = &row.health {
        detail.push_str(&format!(", {health}"));
        if health == "unhealthy"
            && let Some(output) = row
                .health_output
                .as_deref()
                .filter(|output| !output.is_empty())
        {
            detail.push_str(&format!(": {}", printable(output)));
        }
    }
    if let Some(uptime) = row.uptime_s(now()) {
        detail.push_str(&format!(", up {}", duration(uptime)));
    }
    if !row.running() {
        let mut exit = Vec::new();
        if let Some(code) = row.exit_code {
            exit.push(format!("code {code}"));
        }
        if row.oom_killed {
            exit.push("OOM-killed".to_owned());
        }
        if !exit.is_empty() {
            detail.push_str(&format!(" ({})", exit.join(", ")));
        }
    }
    CheckOutcome {
        ok: row.running() && healthy,
        latency: None,
        detail,
        metrics: Vec::new(),
    }
}
