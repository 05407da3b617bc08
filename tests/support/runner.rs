//! Waiting on a runner's events in a test: the next one a test is after, or a failure naming
//! the wait once the deadline passes.

use std::time::Duration;

use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::protocol::Event;
use opsdeck::core::runner::RunnerHandle;

/// Long enough for a loaded CI machine to start a throwaway server and run a check on it, or
/// to read a month of history from a throwaway PostgreSQL and project it (capacity_history).
const WITHIN: Duration = Duration::from_secs(60);

/// The next event `wanted` picks, within 60 s.
pub async fn next<T>(runner: &mut RunnerHandle, mut wanted: impl FnMut(Event) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let event = tokio::time::timeout_at(deadline, runner.events.recv())
            .await
            .expect("the event within 60 s")
            .expect("runner alive");
        if let Some(found) = wanted(event) {
            return found;
        }
    }
}

/// No tasks, under the identity of `tester` on `test-host`: the settings of a runner that is
/// there for its collectors.
pub fn no_tasks() -> TaskSettings {
    TaskSettings {
        tasks: Vec::new(),
        read_only: false,
        identity: Identity {
            user: "tester".into(),
            client: None,
            host: "test-host".into(),
            pid: std::process::id(),
        },
        runs_dir: None,
    }
}
