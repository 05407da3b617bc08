//! Running tasks for the runner: refusal rules (unknown task, bad parameters, read-only,
//! missing confirmation, already running here or in another process, pre-flight), scheduled
//! runs (only when due, destructive ones only when unattended), the audit record written before
//! a run is shown as started, streamed output (kept as a 64 KiB tail in the store and in full in
//! a log file), timeouts and cancellation.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::model::{RunStatus, TaskRun, Trigger, new_id, now};
use crate::core::protocol::Event;
use crate::core::store::Store;
use crate::core::tasks::schedule::TaskSchedule;
use crate::core::tasks::{Confirmed, Output, Params, Task, TaskContext, TaskError};

/// How much output the audit record keeps; the log file keeps everything.
pub const OUTPUT_TAIL_BYTES: usize = 64 * 1024;
/// How often the output of a run still going is saved to the store.
const OUTPUT_SAVE_EVERY: Duration = Duration::from_secs(2);
/// How long a cancelled or timed-out task gets to wind down before it is abandoned.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// Who is running tasks: recorded with every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub client: Option<String>,
    pub host: String,
    pub pid: u32,
}

impl Identity {
    /// `$USER` (or `$LOGNAME`), the client address from `SSH_CONNECTION`, and this host.
    pub fn from_environment(host: String, user: String) -> Identity {
        let client = std::env::var("SSH_CONNECTION")
            .ok()
            .and_then(|value| value.split_whitespace().next().map(str::to_owned));
        Identity {
            user,
            client,
            host,
            pid: std::process::id(),
        }
    }
}

pub struct TaskSettings {
    pub tasks: Vec<Task>,
    pub read_only: bool,
    pub identity: Identity,
    /// Where full output logs and the per-task lock files (one run of a task at a time across
    /// processes) go (`<state dir>/runs`); `None` keeps only the stored tail and locks nothing.
    pub runs_dir: Option<PathBuf>,
}

/// Shared between the runner loop and the spawned runs.
#[derive(Clone)]
pub struct TaskManager {
    settings: Arc<TaskSettings>,
    store: Option<Store>,
    events: mpsc::Sender<Event>,
    /// Runs in progress: run id → (task id, its cancellation token).
    running: Arc<Mutex<HashMap<String, (String, CancellationToken)>>>,
}

/// A run that holds its task's lock, about to be planned and started.
struct Claimed {
    run_id: String,
    params: Params,
    cancel: CancellationToken,
    trigger: Trigger,
    /// The actions the person confirmed, when they confirmed a plan they were shown.
    seen: Option<Vec<String>>,
}

/// Why a run whose plan changed after it was confirmed is refused, naming one difference;
/// `None` when it does what was confirmed.
fn drift(task_id: &str, seen: &[String], now: &[String]) -> Option<String> {
    if seen == now {
        return None;
    }
    // A cleanup may list thousands of files: look them up, not along.
    let (seen_set, now_set): (HashSet<&String>, HashSet<&String>) =
        (seen.iter().collect(), now.iter().collect());
    let difference = match now.iter().find(|action| !seen_set.contains(action)) {
        Some(added) => format!("it would now also {}", crate::core::text::printable(added)),
        None => match seen.iter().find(|action| !now_set.contains(action)) {
            Some(gone) => format!("it would no longer {}", crate::core::text::printable(gone)),
            None => "its steps are in another order".to_owned(),
        },
    };
    Some(format!(
        "{task_id}'s plan changed since it was confirmed ({difference}; {} action(s) now, {} confirmed): look at the new plan and confirm again",
        now.len(),
        seen.len()
    ))
}

impl TaskManager {
    pub fn new(settings: TaskSettings, store: Option<Store>, events: mpsc::Sender<Event>) -> Self {
        TaskManager {
            settings: Arc::new(settings),
            store,
            events,
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn task(&self, task_id: &str) -> Result<&Task, String> {
        self.settings
            .tasks
            .iter()
            .find(|task| task.info.id == task_id)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .settings
                    .tasks
                    .iter()
                    .map(|t| t.info.id.as_str())
                    .collect();
                format!("unknown task `{task_id}`; tasks are: {}", known.join(", "))
            })
    }

    /// At start: runs this host left `running` in a process that is gone become `interrupted`;
    /// then the recent history goes to the listener.
    pub async fn startup(&self) {
        let Some(store) = &self.store else {
            return;
        };
        if let Err(error) = mark_interrupted(store, &self.settings.identity.host).await {
            self.warn(error.to_string()).await;
        }
        self.send_history(None).await;
    }

    pub async fn send_history(&self, task_id: Option<String>) {
        let Some(store) = &self.store else {
            let _ = self
                .events
                .send(Event::TaskHistory {
                    task_id,
                    runs: Vec::new(),
                })
                .await;
            return;
        };
        match store.runs(task_id.as_deref(), 200).await {
            Ok(runs) => {
                let _ = self.events.send(Event::TaskHistory { task_id, runs }).await;
            }
            Err(error) => self.warn(error.to_string()).await,
        }
    }

    async fn warn(&self, message: String) {
        let _ = self
            .events
            .send(Event::Warning {
                source: "store",
                message,
            })
            .await;
    }

    /// Plans a run; the answer carries the parameters it was planned with (the times it fixed
    /// among them), which confirming it sends back.
    pub async fn plan(&self, task_id: String, params: Params) {
        let (params, plan) = match self.task(&task_id) {
            Ok(task) => {
                let params = task.fixed_for_plan(params, now());
                let plan = task.plan(&params).await.map_err(|error| error.to_string());
                (params, plan)
            }
            Err(message) => (params, Err(message)),
        };
        let _ = self
            .events
            .send(Event::TaskPlanned {
                task_id,
                params,
                plan,
            })
            .await;
    }

    pub fn cancel(&self, run_id: &str) {
        if let Some((_, token)) = self
            .running
            .lock()
            .ok()
            .and_then(|running| running.get(run_id).cloned())
        {
            token.cancel();
        }
    }

    /// Cancels every run and waits (a few seconds at most) until each has been recorded.
    pub async fn shutdown(&self) {
        if let Ok(running) = self.running.lock() {
            for (_, token) in running.values() {
                token.cancel();
            }
        }
        let deadline = tokio::time::Instant::now() + CANCEL_GRACE * 2;
        while tokio::time::Instant::now() < deadline
            && self.running.lock().is_ok_and(|running| !running.is_empty())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn refused_run(
        &self,
        task_id: &str,
        params: &Params,
        plan: Vec<String>,
        reason: String,
        trigger: Trigger,
    ) -> TaskRun {
        let identity = &self.settings.identity;
        let at = now();
        TaskRun {
            id: new_id(at),
            task_id: task_id.to_owned(),
            params: params.clone(),
            plan,
            user: identity.user.clone(),
            client: identity.client.clone(),
            host: identity.host.clone(),
            pid: identity.pid,
            started_at: at,
            ended_at: Some(at),
            status: RunStatus::Refused,
            exit_code: None,
            summary: Some(reason),
            output: String::new(),
            log_path: None,
            trigger,
        }
    }

    /// Records a refusal (when it concerns a real task) and tells the listener.
    async fn refuse(
        &self,
        task_id: &str,
        params: &Params,
        plan: Vec<String>,
        reason: String,
        record: Option<Trigger>,
    ) {
        let run = self.refused_run(
            task_id,
            params,
            plan,
            reason.clone(),
            record.unwrap_or_default(),
        );
        let record = record.is_some();
        if record
            && let Some(store) = &self.store
            && let Err(error) = store.insert_run(&run).await
        {
            self.warn(error.to_string()).await;
        }
        let _ = self
            .events
            .send(Event::TaskRefused {
                task_id: task_id.to_owned(),
                reason,
                run: record.then_some(run),
            })
            .await;
    }

    /// Starts a run in the background; everything it does arrives as events.
    pub fn start(&self, task_id: String, params: Params, confirmed: Confirmed) {
        let manager = self.clone();
        tokio::spawn(async move {
            manager
                .execute(task_id, params, confirmed, Trigger::Manual)
                .await
        });
    }

    /// Starts a run the schedule asks for ([`crate::core::protocol::Request::StartDue`]).
    pub fn start_due(&self, task_id: String) {
        let manager = self.clone();
        tokio::spawn(async move {
            manager
                .execute(task_id, Params::new(), Confirmed::No, Trigger::Schedule)
                .await
        });
    }

    async fn execute(
        &self,
        task_id: String,
        params: Params,
        confirmed: Confirmed,
        trigger: Trigger,
    ) {
        let task = match self.task(&task_id) {
            Ok(task) => task.clone(),
            Err(reason) => {
                return self
                    .refuse(&task_id, &params, Vec::new(), reason, None)
                    .await;
            }
        };
        if let Err(error) = task.check_params(&params) {
            return self
                .refuse(&task_id, &params, Vec::new(), error.to_string(), None)
                .await;
        }
        if trigger == Trigger::Schedule && task.info.schedule.is_none() {
            let reason = format!("{task_id} has no schedule");
            return self
                .refuse(&task_id, &params, Vec::new(), reason, None)
                .await;
        }
        if trigger == Trigger::Manual && task.info.destructive && self.settings.read_only {
            let reason = format!(
                "{task_id} changes the system and opsdeck is read-only (--read-only or read_only = true)"
            );
            return self
                .refuse(&task_id, &params, Vec::new(), reason, Some(trigger))
                .await;
        }
        if trigger == Trigger::Manual && task.info.destructive && !confirmed.given() {
            let reason = format!(
                "{task_id} changes the system: confirm it first (in the console, or --yes on the command line)"
            );
            return self
                .refuse(&task_id, &params, Vec::new(), reason, Some(trigger))
                .await;
        }
        let cancel = CancellationToken::new();
        let run_id = new_id(now());
        let already = {
            let Ok(mut running) = self.running.lock() else {
                return;
            };
            let other = running
                .iter()
                .find(|(_, (running_task, _))| *running_task == task_id)
                .map(|(other, _)| other.clone());
            match other {
                Some(other) if !task.info.concurrent => Some(other),
                _ => {
                    running.insert(run_id.clone(), (task_id.clone(), cancel.clone()));
                    None
                }
            }
        };
        if let Some(other) = already {
            let reason =
                format!("{task_id} is already running (run {other}); wait for it or cancel it");
            return self
                .refuse(&task_id, &params, Vec::new(), reason, None)
                .await;
        }
        match self.lock(&task) {
            Ok(lock) => {
                match (trigger, &task.info.schedule) {
                    (Trigger::Schedule, Some(schedule)) => {
                        self.execute_due(&task, schedule, run_id.clone(), cancel)
                            .await;
                    }
                    _ => {
                        // Only a destructive run waits for consent; what it consented to must
                        // still be what it would do.
                        let seen = match confirmed {
                            Confirmed::Plan(actions) if task.info.destructive => Some(actions),
                            _ => None,
                        };
                        let claimed = Claimed {
                            run_id: run_id.clone(),
                            params,
                            cancel,
                            trigger,
                            seen,
                        };
                        self.execute_claimed(&task, claimed).await;
                    }
                }
                drop(lock);
            }
            Err(reason) => {
                self.refuse(&task_id, &params, Vec::new(), reason, None)
                    .await;
            }
        }
        if let Ok(mut running) = self.running.lock() {
            running.remove(&run_id);
        }
    }

    /// Holds `<runs dir>/<task>.lock` (flock) for the run, so a task runs once at a time across
    /// every opsdeck process on this host; the kernel lets go of it when a process dies.
    /// Concurrent tasks, and runners without a runs directory, lock nothing.
    fn lock(&self, task: &Task) -> Result<Option<std::fs::File>, String> {
        let Some(dir) = self
            .settings
            .runs_dir
            .as_ref()
            .filter(|_| !task.info.concurrent)
        else {
            return Ok(None);
        };
        let path = dir.join(format!("{}.lock", task.info.id));
        let file = std::fs::create_dir_all(dir).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        });
        let file = match file {
            Ok(file) => file,
            Err(error) => {
                // Without a lock file the run still happens, as it did before locks existed.
                tracing::warn!("cannot open the lock file {}: {error}", path.display());
                return Ok(None);
            }
        };
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(format!(
                "{} is already running in another opsdeck process (it holds {})",
                task.info.id,
                path.display()
            )),
            Err(error) => {
                tracing::warn!("cannot lock {}: {error}", path.display());
                Ok(None)
            }
        }
    }

    /// A scheduled run, under the task's lock: skipped without a record when the due time has
    /// had a success or a scheduled attempt since (another process got there first); refused
    /// with a record (so the calendar shows it skipped) when read-only or destructive without
    /// `unattended`.
    async fn execute_due(
        &self,
        task: &Task,
        schedule: &TaskSchedule,
        run_id: String,
        cancel: CancellationToken,
    ) {
        let task_id = &task.info.id;
        let params = Params::new();
        let now = now();
        let Some(due) = schedule.cron.last_at_or_before(now, &chrono::Local) else {
            let reason = format!("{task_id} is not due (its schedule has no time before now)");
            return self
                .refuse(task_id, &params, Vec::new(), reason, None)
                .await;
        };
        if let Some(store) = &self.store {
            match store
                .task_runs_since(task_id, &self.settings.identity.host, due)
                .await
            {
                Ok(runs) => {
                    if let Some(run) = runs.iter().find(|run| {
                        run.status == RunStatus::Succeeded || run.trigger == Trigger::Schedule
                    }) {
                        let reason = format!(
                            "{task_id} is not due: run {} ({}) since its due time {}",
                            run.id,
                            run.status.as_str(),
                            due.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")
                        );
                        return self
                            .refuse(task_id, &params, Vec::new(), reason, None)
                            .await;
                    }
                }
                Err(error) => {
                    let reason = format!("{task_id} not started: {error}");
                    return self
                        .refuse(task_id, &params, Vec::new(), reason, None)
                        .await;
                }
            }
        }
        let trigger = Some(Trigger::Schedule);
        if task.info.destructive && self.settings.read_only {
            let reason = format!(
                "skipped: {task_id} changes the system and opsdeck is read-only (--read-only or read_only = true)"
            );
            return self
                .refuse(task_id, &params, Vec::new(), reason, trigger)
                .await;
        }
        if task.info.destructive && !schedule.unattended {
            let reason = format!(
                "skipped: {task_id} changes the system and runs from the schedule only with unattended = true in its config"
            );
            return self
                .refuse(task_id, &params, Vec::new(), reason, trigger)
                .await;
        }
        let claimed = Claimed {
            run_id,
            params,
            cancel,
            trigger: Trigger::Schedule,
            seen: None,
        };
        self.execute_claimed(task, claimed).await;
    }

    async fn execute_claimed(&self, task: &Task, claimed: Claimed) {
        let Claimed {
            run_id,
            params,
            cancel,
            trigger,
            seen,
        } = claimed;
        let identity = &self.settings.identity;
        let plan = match task.plan(&params).await {
            Ok(plan) => plan,
            Err(error) => {
                let mut run =
                    self.refused_run(&task.info.id, &params, Vec::new(), String::new(), trigger);
                run.id = run_id;
                run.status = RunStatus::Failed;
                run.summary = Some(format!("could not plan the run: {error}"));
                return self.record_finished_without_running(run).await;
            }
        };
        if let Some(refusal) = &plan.refusal {
            let reason = format!("pre-flight refused the run: {refusal}");
            return self
                .refuse(&task.info.id, &params, plan.lines(), reason, Some(trigger))
                .await;
        }
        if let Some(reason) = seen.and_then(|seen| drift(&task.info.id, &seen, &plan.actions())) {
            return self
                .refuse(&task.info.id, &params, plan.lines(), reason, Some(trigger))
                .await;
        }
        let log_path = self
            .settings
            .runs_dir
            .as_ref()
            .map(|dir| dir.join(format!("{}-{run_id}.log", task.info.id)));
        let mut run = TaskRun {
            id: run_id.clone(),
            task_id: task.info.id.clone(),
            params: params.clone(),
            plan: plan.lines(),
            user: identity.user.clone(),
            client: identity.client.clone(),
            host: identity.host.clone(),
            pid: identity.pid,
            started_at: now(),
            ended_at: None,
            status: RunStatus::Running,
            exit_code: None,
            summary: None,
            output: String::new(),
            log_path: log_path.as_ref().map(|path| path.display().to_string()),
            trigger,
        };
        if let Some(store) = &self.store
            && let Err(error) = store.insert_run(&run).await
        {
            // Without an audit record the run must not happen.
            let reason = format!("not started: the audit log could not be written ({error})");
            let task_id = run.task_id.clone();
            let _ = self
                .events
                .send(Event::TaskRefused {
                    task_id,
                    reason,
                    run: None,
                })
                .await;
            return;
        }
        let _ = self.events.send(Event::TaskStarted(run.clone())).await;

        let mut log_file = log_path.as_ref().and_then(|path| open_log(path));
        let (line_tx, mut lines) = mpsc::unbounded_channel();
        let context = TaskContext {
            params,
            output: Output::new(line_tx),
            cancel: cancel.clone(),
            store: self.store.clone(),
        };
        let running = task.run(&context);
        tokio::pin!(running);
        let deadline = tokio::time::sleep(task.info.timeout);
        tokio::pin!(deadline);
        let mut save_tick = tokio::time::interval(OUTPUT_SAVE_EVERY);
        save_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut timed_out = false;
        let mut output_dirty = false;
        // The output is saved from a task of its own: a store write awaited in this loop would
        // stop it polling the run, which may hold the store's one SQLite connection mid-query,
        // and both would wait out the pool's timeout (the run's own write then lost).
        let mut saving: Option<tokio::task::JoinHandle<()>> = None;
        let result = loop {
            tokio::select! {
                biased;
                Some(line) = lines.recv() => {
                    self.take_line(&mut run, &mut log_file, line).await;
                    output_dirty = true;
                }
                result = &mut running => break result,
                () = &mut deadline => {
                    timed_out = true;
                    cancel.cancel();
                    let message = format!("timed out after {}; stopping it", humantime::format_duration(task.info.timeout));
                    self.take_line(&mut run, &mut log_file, message).await;
                    match tokio::time::timeout(CANCEL_GRACE, &mut running).await {
                        Ok(result) => break result,
                        Err(_) => break Err(TaskError::Cancelled),
                    }
                }
                _ = save_tick.tick() => {
                    let idle = saving.as_ref().is_none_or(tokio::task::JoinHandle::is_finished);
                    if output_dirty
                        && idle
                        && let Some(store) = &self.store
                    {
                        output_dirty = false;
                        let (store, id, output) = (store.clone(), run.id.clone(), run.output.clone());
                        saving = Some(tokio::spawn(async move {
                            let _ = store.save_run_output(&id, &output).await;
                        }));
                    }
                }
                () = cancel.cancelled() => {
                    // The task sees the same token; give it a moment to stop cleanly.
                    match tokio::time::timeout(CANCEL_GRACE, &mut running).await {
                        Ok(result) => break result,
                        Err(_) => break Err(TaskError::Cancelled),
                    }
                }
            }
        };
        while let Ok(line) = lines.try_recv() {
            self.take_line(&mut run, &mut log_file, line).await;
        }
        // Landing after the final record, an earlier snapshot would cut its output short.
        if let Some(saving) = saving {
            let _ = saving.await;
        }
        run.ended_at = Some(now());
        match result {
            Ok(summary) => {
                run.status = RunStatus::Succeeded;
                run.exit_code = summary.exit_code;
                run.summary = Some(summary.summary);
            }
            Err(TaskError::Cancelled) if timed_out => {
                run.status = RunStatus::TimedOut;
                run.summary = Some(format!(
                    "timed out after {}",
                    humantime::format_duration(task.info.timeout)
                ));
            }
            Err(TaskError::Cancelled) => {
                run.status = RunStatus::Cancelled;
                run.summary = Some("cancelled".into());
            }
            Err(TaskError::Exit(code)) => {
                run.status = if timed_out {
                    RunStatus::TimedOut
                } else {
                    RunStatus::Failed
                };
                run.exit_code = Some(code);
                run.summary = Some(format!("exited with status {code}"));
            }
            Err(error) => {
                run.status = if timed_out {
                    RunStatus::TimedOut
                } else {
                    RunStatus::Failed
                };
                run.summary = Some(error.to_string());
            }
        }
        self.record_finished(run).await;
    }

    async fn take_line(
        &self,
        run: &mut TaskRun,
        log_file: &mut Option<std::fs::File>,
        line: String,
    ) {
        if let Some(file) = log_file
            && writeln!(file, "{line}").is_err()
        {
            *log_file = None;
        }
        push_tail(&mut run.output, &line);
        let _ = self
            .events
            .send(Event::TaskOutput {
                run_id: run.id.clone(),
                line,
            })
            .await;
    }

    async fn record_finished_without_running(&self, run: TaskRun) {
        if let Some(store) = &self.store
            && let Err(error) = store.insert_run(&run).await
        {
            self.warn(error.to_string()).await;
        }
        let _ = self.events.send(Event::TaskFinished(run)).await;
    }

    async fn record_finished(&self, run: TaskRun) {
        if let Some(store) = &self.store
            && let Err(error) = store.finish_run(&run).await
        {
            self.warn(error.to_string()).await;
        }
        let _ = self.events.send(Event::TaskFinished(run)).await;
    }
}

/// Runs this host left `running` in a process that no longer exists become `interrupted`.
pub async fn mark_interrupted(
    store: &Store,
    host: &str,
) -> Result<Vec<String>, crate::core::store::StoreError> {
    let is_alive = |pid: u32| pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists();
    store.mark_interrupted(host, is_alive, now()).await
}

fn open_log(path: &std::path::Path) -> Option<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

/// Appends a line, keeping only the last [`OUTPUT_TAIL_BYTES`] (cut at a line boundary).
pub fn push_tail(output: &mut String, line: &str) {
    output.push_str(line);
    output.push('\n');
    if output.len() > OUTPUT_TAIL_BYTES {
        let excess = output.len() - OUTPUT_TAIL_BYTES;
        let cut = output[excess..]
            .find('\n')
            .map_or(output.len(), |at| excess + at + 1);
        output.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_tail_keeps_whole_recent_lines() {
        let mut output = String::new();
        for index in 0..10_000 {
            push_tail(&mut output, &format!("line {index:05} {}", "x".repeat(20)));
        }
        assert!(output.len() <= OUTPUT_TAIL_BYTES);
        assert!(output.starts_with("line "));
        assert!(output.ends_with("line 09999 xxxxxxxxxxxxxxxxxxxx\n"));
    }
}
