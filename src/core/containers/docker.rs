//! Reading Docker through its Engine API (the unix socket, or `DOCKER_HOST`): the
//! [`ContainerCollector`] follows the `/events` stream and inspects a container again only when
//! an event names it (a full list and inspect happen at start and after the stream broke); the
//! stream also yields the restarts of the last hour and since when a container is unhealthy.
//! CPU and memory come from one-shot stats of the running containers. Also here: the log tail
//! of one container and the restart/stop/start calls the tasks make.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, EventMessage, HealthStatusEnum};
use bollard::query_parameters::{
    EventsOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
    RestartContainerOptions, StartContainerOptions, StatsOptions, StopContainerOptions,
};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use thiserror::Error;

use super::{ContainerRow, ContainersSnapshot, Unavailable};
use crate::core::collectors::Collector;
use crate::core::model::now;
use crate::core::text::printable;

/// The refresh of CPU and memory; state changes arrive on the event stream in between and are
/// shown at the next refresh.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Every Docker call but the event stream ends within this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The log tail shown in the pane: lines, and characters of one line.
pub const LOG_TAIL_LINES: usize = 200;
const LOG_LINE_CHARS: usize = 500;
/// How long `docker stop`/`restart` give a container before they kill it (Docker's default).
pub const STOP_GRACE_S: i32 = 10;
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Error, Clone, PartialEq)]
pub enum DockerError {
    #[error("{}\n  fix: {}", .0.message, .0.fix)]
    Unavailable(Unavailable),
    #[error("no container named `{0}`")]
    NoSuchContainer(String),
    #[error("Docker: {0}")]
    Api(String),
}

/// The endpoint in use: `DOCKER_HOST`, or Docker's own socket.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| DEFAULT_SOCKET.to_owned())
}

/// Connects and agrees on an API version (Debian's Docker speaks older ones than the crate).
pub async fn connect() -> Result<Docker, DockerError> {
    let endpoint = endpoint();
    let unavailable = |message: String| DockerError::Unavailable(explain(&endpoint, message));
    let docker =
        Docker::connect_with_host(&endpoint).map_err(|error| unavailable(error.to_string()))?;
    let docker = tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| unavailable("no answer within 10 s".into()))?
        .map_err(|error| unavailable(error_text(&error)))?;
    Ok(docker)
}

/// The message and how to fix it: a missing socket means no Docker running, a refused one the
/// docker group.
fn explain(endpoint: &str, message: String) -> Unavailable {
    let socket = endpoint.strip_prefix("unix://");
    let fix = if message.contains("ermission denied") {
        "add your user to the docker group (sudo usermod -aG docker $USER) and log in again"
            .to_owned()
    } else if socket.is_some_and(|path| !std::path::Path::new(path).exists()) {
        format!(
            "start Docker (sudo systemctl start docker), or set DOCKER_HOST if it listens elsewhere than {endpoint}"
        )
    } else {
        format!("check that dockerd runs and answers on {endpoint} (DOCKER_HOST)")
    };
    Unavailable {
        message: format!("cannot read Docker at {endpoint}: {message}"),
        fix,
    }
}

/// The error with its causes: the io error (permission denied, no such file) is a cause.
fn error_text(error: &bollard::errors::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // hyper repeats its causes in its own message.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn api_error(name: &str, error: &bollard::errors::Error) -> DockerError {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => DockerError::NoSuchContainer(name.to_owned()),
        other => DockerError::Api(error_text(other)),
    }
}

async fn timed<T>(
    name: &str,
    call: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, DockerError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| DockerError::Api(format!("no answer about {name} within 10 s")))?
        .map_err(|error| api_error(name, &error))
}

/// What the event stream taught, shared between the stream's task and the collector.
#[derive(Debug, Default)]
struct Watched {
    /// Containers an event named since the last refresh.
    dirty: HashSet<String>,
    /// Restart times (a start after a die) per container id.
    restarts: HashMap<String, VecDeque<DateTime<Utc>>>,
    died: HashSet<String>,
    unhealthy_since: HashMap<String, DateTime<Utc>>,
    /// When the newest event happened (seconds): a stream started again resumes from there.
    last_event: Option<i64>,
    /// The events of the newest seconds taken, (nanoseconds, id, action): the live stream
    /// repeats the second where the read of the past ended, and an event must not count twice.
    recent: HashSet<(i64, String, String)>,
    stream_ended: bool,
}

impl Watched {
    fn take(&mut self, event: &EventMessage) {
        let Some(id) = event.actor.as_ref().and_then(|actor| actor.id.clone()) else {
            return;
        };
        let action = event.action.clone().unwrap_or_default();
        let nano = event.time_nano.unwrap_or(0);
        if !self.recent.insert((nano, id.clone(), action.clone())) {
            return;
        }
        self.recent
            .retain(|(seen, _, _)| nano - *seen < 2_000_000_000);
        let at = event
            .time
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .unwrap_or_else(now);
        self.last_event = event.time.max(self.last_event);
        match action.as_str() {
            "die" => {
                self.died.insert(id.clone());
            }
            // A start after a die is a restart; the first start is not.
            "start" if self.died.remove(&id) => {
                self.restarts.entry(id.clone()).or_default().push_back(at);
            }
            "health_status: unhealthy" => {
                self.unhealthy_since.entry(id.clone()).or_insert(at);
            }
            "health_status: healthy" => {
                self.unhealthy_since.remove(&id);
            }
            "destroy" => {
                self.restarts.remove(&id);
                self.died.remove(&id);
                self.unhealthy_since.remove(&id);
            }
            _ => {}
        }
        self.dirty.insert(id);
    }

    fn restarts_within_hour(&mut self, id: &str, at: DateTime<Utc>) -> u32 {
        let Some(times) = self.restarts.get_mut(id) else {
            return 0;
        };
        while times
            .front()
            .is_some_and(|time| at - *time > TimeDelta::hours(1))
        {
            times.pop_front();
        }
        u32::try_from(times.len()).unwrap_or(u32::MAX)
    }
}

/// The last CPU reading of a container, for the rate between two refreshes.
#[derive(Debug, Clone, Copy)]
struct CpuReading {
    container: u64,
    system: u64,
}

/// Collects [`ContainersSnapshot`]s; see the module doc.
pub struct ContainerCollector {
    interval: Duration,
    docker: Option<Docker>,
    watched: Arc<Mutex<Watched>>,
    stream: Option<tokio::task::JoinHandle<()>>,
    inspected: HashMap<String, ContainerInspectResponse>,
    cpu: HashMap<String, CpuReading>,
    image_created: HashMap<String, Option<DateTime<Utc>>>,
}

impl ContainerCollector {
    pub fn new(interval: Duration) -> ContainerCollector {
        ContainerCollector {
            interval,
            docker: None,
            watched: Arc::new(Mutex::new(Watched::default())),
            stream: None,
            inspected: HashMap::new(),
            cpu: HashMap::new(),
            image_created: HashMap::new(),
        }
    }

    /// One refresh; Docker absent or unreadable gives a snapshot that says so.
    pub async fn snapshot(&mut self) -> ContainersSnapshot {
        let taken_at = now();
        let endpoint = endpoint();
        match self.refresh(taken_at).await {
            Ok(containers) => ContainersSnapshot {
                taken_at,
                endpoint,
                unavailable: None,
                containers,
            },
            Err(error) => {
                self.docker = None;
                let unavailable = match error {
                    DockerError::Unavailable(unavailable) => unavailable,
                    other => explain(&endpoint, other.to_string()),
                };
                ContainersSnapshot {
                    taken_at,
                    endpoint,
                    unavailable: Some(unavailable),
                    containers: Vec::new(),
                }
            }
        }
    }

    async fn refresh(&mut self, taken_at: DateTime<Utc>) -> Result<Vec<ContainerRow>, DockerError> {
        let docker = match &self.docker {
            Some(docker) => docker.clone(),
            None => {
                let docker = connect().await?;
                self.docker = Some(docker.clone());
                docker
            }
        };
        let stream_down = self.stream.as_ref().is_none_or(|task| task.is_finished());
        let (dirty, full) = {
            let mut watched = self
                .watched
                .lock()
                .map_err(|_| DockerError::Api("the event watch stopped".into()))?;
            let full = stream_down || watched.stream_ended;
            watched.stream_ended = false;
            (std::mem::take(&mut watched.dirty), full)
        };
        if full {
            // The past hour (or what the broken stream missed) is read to its end first, so
            // even a one-off refresh counts the restarts; the live stream goes on from there.
            if let Some(old) = self.stream.take() {
                old.abort();
            }
            let since = self
                .watched
                .lock()
                .ok()
                .and_then(|watched| watched.last_event)
                .unwrap_or(taken_at.timestamp() - 3600);
            let until = taken_at.timestamp();
            let past = tokio::time::timeout(
                CALL_TIMEOUT,
                docker
                    .events(Some(events_options(since, Some(until))))
                    .collect::<Vec<_>>(),
            )
            .await
            .map_err(|_| {
                DockerError::Api("the past hour's events did not come within 10 s".into())
            })?;
            if let Ok(mut watched) = self.watched.lock() {
                for event in past.into_iter().flatten() {
                    watched.take(&event);
                }
            }
            self.stream = Some(tokio::spawn(follow_events(
                docker.clone(),
                until,
                self.watched.clone(),
            )));
            let listed = timed(
                "the container list",
                docker.list_containers(Some(ListContainersOptions {
                    all: true,
                    ..Default::default()
                })),
            )
            .await?;
            let ids: HashSet<String> = listed
                .into_iter()
                .filter_map(|summary| summary.id)
                .collect();
            self.inspected.retain(|id, _| ids.contains(id));
            for id in ids {
                self.inspect(&docker, &id).await?;
            }
        } else {
            for id in dirty {
                self.inspect(&docker, &id).await?;
            }
        }
        let ids: Vec<String> = self.inspected.keys().cloned().collect();
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            rows.push(self.row(&docker, &id, taken_at).await?);
        }
        self.cpu
            .retain(|id, _| rows.iter().any(|row| row.id == *id));
        // Findings are formatted text: work them out once per row, not per comparison.
        rows.sort_by_cached_key(|row| {
            (
                std::cmp::Reverse(row.findings(taken_at).len()),
                row.name.clone(),
            )
        });
        Ok(rows)
    }

    async fn inspect(&mut self, docker: &Docker, id: &str) -> Result<(), DockerError> {
        match timed(
            id,
            docker.inspect_container(id, None::<InspectContainerOptions>),
        )
        .await
        {
            Ok(inspected) => {
                self.inspected.insert(id.to_owned(), inspected);
                Ok(())
            }
            // Removed since the event: gone from the pane too.
            Err(DockerError::NoSuchContainer(_)) => {
                self.inspected.remove(id);
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn row(
        &mut self,
        docker: &Docker,
        id: &str,
        taken_at: DateTime<Utc>,
    ) -> Result<ContainerRow, DockerError> {
        let inspected = self.inspected.get(id).cloned().unwrap_or_default();
        let mut row = describe(&inspected);
        if let Ok(mut watched) = self.watched.lock() {
            row.restarts_1h = watched.restarts_within_hour(id, taken_at);
            if row.health.as_deref() != Some("unhealthy") {
                // Not unhealthy now: an old start must not carry over to its next failure.
                watched.unhealthy_since.remove(id);
            } else {
                row.unhealthy_since = Some(
                    *watched
                        .unhealthy_since
                        .entry(id.to_owned())
                        .or_insert_with(|| first_failure(&inspected).unwrap_or(taken_at)),
                );
            }
        }
        let image_id = inspected.image.clone().unwrap_or_default();
        if !self.image_created.contains_key(&image_id) {
            let created = timed(&image_id, docker.inspect_image(&image_id))
                .await
                .ok()
                .and_then(|image| image.created)
                .and_then(|created| parse_time(&created));
            self.image_created.insert(image_id.clone(), created);
        }
        row.image_created = self.image_created.get(&image_id).copied().flatten();
        if row.running() {
            self.usage(docker, &mut row).await;
        } else {
            self.cpu.remove(id);
        }
        Ok(row)
    }

    /// CPU % since the previous refresh and memory against the limit, as `docker stats` counts
    /// them (memory less the inactive page cache).
    async fn usage(&mut self, docker: &Docker, row: &mut ContainerRow) {
        let options = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let mut stream = docker.stats(&row.id, Some(options));
        let Ok(Some(Ok(stats))) = tokio::time::timeout(CALL_TIMEOUT, stream.next()).await else {
            return;
        };
        if let Some(memory) = &stats.memory_stats {
            let inactive = memory.stats.as_ref().and_then(|stats| {
                stats
                    .get("total_inactive_file")
                    .or_else(|| stats.get("inactive_file"))
                    .copied()
            });
            row.memory_bytes = memory
                .usage
                .map(|usage| usage.saturating_sub(inactive.unwrap_or(0)));
            row.memory_limit = memory.limit;
        }
        let Some(cpu) = &stats.cpu_stats else {
            return;
        };
        let (Some(container), Some(system)) = (
            cpu.cpu_usage.as_ref().and_then(|usage| usage.total_usage),
            cpu.system_cpu_usage,
        ) else {
            return;
        };
        let reading = CpuReading { container, system };
        if let Some(previous) = self.cpu.insert(row.id.clone(), reading) {
            let system_delta = system.saturating_sub(previous.system);
            if system_delta > 0 {
                let cpus = f64::from(cpu.online_cpus.unwrap_or(1).max(1));
                let used = container.saturating_sub(previous.container) as f64;
                row.cpu_pct = Some(used / system_delta as f64 * cpus * 100.0);
            }
        }
    }
}

impl Collector for ContainerCollector {
    type Sample = Box<ContainersSnapshot>;

    fn id(&self) -> &str {
        "containers"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn collect(&mut self) -> Option<Box<ContainersSnapshot>> {
        Some(Box::new(self.snapshot().await))
    }
}

impl Drop for ContainerCollector {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.abort();
        }
    }
}

fn events_options(since: i64, until: Option<i64>) -> EventsOptions {
    let filters = HashMap::from([("type".to_owned(), vec!["container".to_owned()])]);
    EventsOptions {
        since: Some(since.to_string()),
        until: until.map(|until| until.to_string()),
        filters: Some(filters),
    }
}

async fn follow_events(docker: Docker, since: i64, watched: Arc<Mutex<Watched>>) {
    let mut events = docker.events(Some(events_options(since, None)));
    while let Some(Ok(event)) = events.next().await {
        let Ok(mut watched) = watched.lock() else {
            return;
        };
        watched.take(&event);
    }
    if let Ok(mut watched) = watched.lock() {
        watched.stream_ended = true;
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    // Docker writes year 1 for "never".
    (at.timestamp() > 0).then_some(at)
}

/// The start of the oldest failed check of the current failing streak that the health log
/// still holds.
fn first_failure(inspected: &ContainerInspectResponse) -> Option<DateTime<Utc>> {
    let health = inspected.state.as_ref()?.health.as_ref()?;
    let log = health.log.as_ref()?;
    let streak = usize::try_from(health.failing_streak.unwrap_or(0)).ok()?;
    let first = log.len().saturating_sub(streak);
    log.get(first)?.start.as_deref().and_then(parse_time)
}

/// The row for an inspected container, without what the event stream and stats add.
fn describe(inspected: &ContainerInspectResponse) -> ContainerRow {
    let state = inspected.state.clone().unwrap_or_default();
    let config = inspected.config.clone().unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let health = state
        .health
        .as_ref()
        .and_then(|health| match health.status {
            Some(HealthStatusEnum::HEALTHY) => Some("healthy".to_owned()),
            Some(HealthStatusEnum::UNHEALTHY) => Some("unhealthy".to_owned()),
            Some(HealthStatusEnum::STARTING) => Some("starting".to_owned()),
            _ => None,
        });
    let health_output = state
        .health
        .as_ref()
        .and_then(|health| health.log.as_ref())
        .and_then(|log| log.last())
        .and_then(|last| last.output.clone())
        .map(|output| output.trim_end().to_owned());
    let restart_policy = inspected
        .host_config
        .as_ref()
        .and_then(|host| host.restart_policy.as_ref())
        .and_then(|policy| policy.name)
        .map(|name| name.to_string())
        .unwrap_or_default();
    let status = state
        .status
        .map(|status| status.to_string())
        .unwrap_or_default();
    let running = status == "running";
    ContainerRow {
        id: inspected.id.clone().unwrap_or_default(),
        name: inspected
            .name
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_owned(),
        project: labels.get("com.docker.compose.project").cloned(),
        service: labels.get("com.docker.compose.service").cloned(),
        state: status,
        health,
        health_output,
        unhealthy_since: None,
        restart_count: inspected.restart_count.unwrap_or(0),
        restarts_1h: 0,
        restart_policy,
        started_at: state.started_at.as_deref().and_then(parse_time),
        finished_at: state.finished_at.as_deref().and_then(parse_time),
        exit_code: (!running).then_some(state.exit_code).flatten(),
        oom_killed: state.oom_killed.unwrap_or(false),
        cpu_pct: None,
        memory_bytes: None,
        memory_limit: None,
        image: config.image.unwrap_or_default(),
        image_created: None,
    }
}

/// One container by name (up and healthy is the service check's question).
pub async fn inspect(docker: &Docker, name: &str) -> Result<ContainerRow, DockerError> {
    let inspected = timed(
        name,
        docker.inspect_container(name, None::<InspectContainerOptions>),
    )
    .await?;
    Ok(describe(&inspected))
}

/// The last lines of a container's output (stdout and stderr), escaped and bounded.
pub async fn log_tail(docker: &Docker, name: &str) -> Result<Vec<String>, DockerError> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: LOG_TAIL_LINES.to_string(),
        ..Default::default()
    };
    let chunks: Vec<_> = tokio::time::timeout(
        CALL_TIMEOUT,
        docker.logs(name, Some(options)).collect::<Vec<_>>(),
    )
    .await
    .map_err(|_| DockerError::Api(format!("no log of {name} within 10 s")))?;
    let mut text = String::new();
    for chunk in chunks {
        let chunk = chunk.map_err(|error| api_error(name, &error))?;
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    let lines: Vec<String> = text
        .lines()
        .map(|line| printable(&line.chars().take(LOG_LINE_CHARS).collect::<String>()))
        .collect();
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
    Ok(lines.into_iter().skip(skip).collect())
}

/// What a container task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerAction {
    Restart,
    Stop,
    Start,
}

impl ContainerAction {
    pub fn verb(self) -> &'static str {
        match self {
            ContainerAction::Restart => "restart",
            ContainerAction::Stop => "stop",
            ContainerAction::Start => "start",
        }
    }

    /// The Engine API call, as the plan shows it.
    pub fn api_call(self, name: &str) -> String {
        let grace = match self {
            ContainerAction::Restart | ContainerAction::Stop => format!("?t={STOP_GRACE_S}"),
            ContainerAction::Start => String::new(),
        };
        format!("POST /containers/{name}/{}{grace}", self.verb())
    }

    pub async fn call(self, docker: &Docker, name: &str) -> Result<(), DockerError> {
        match self {
            ContainerAction::Restart => {
                let options = RestartContainerOptions {
                    t: Some(STOP_GRACE_S),
                    signal: None,
                };
                timed_long(name, docker.restart_container(name, Some(options))).await
            }
            ContainerAction::Stop => {
                let options = StopContainerOptions {
                    t: Some(STOP_GRACE_S),
                    signal: None,
                };
                timed_long(name, docker.stop_container(name, Some(options))).await
            }
            ContainerAction::Start => {
                timed(
                    name,
                    docker.start_container(name, None::<StartContainerOptions>),
                )
                .await
            }
        }
    }
}

/// Stopping waits out the grace period first.
async fn timed_long(
    name: &str,
    call: impl Future<Output = Result<(), bollard::errors::Error>>,
) -> Result<(), DockerError> {
    let limit = CALL_TIMEOUT + Duration::from_secs(STOP_GRACE_S.unsigned_abs().into());
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| {
            DockerError::Api(format!(
                "no answer about {name} within {} s",
                limit.as_secs()
            ))
        })?
        .map_err(|error| api_error(name, &error))
}
