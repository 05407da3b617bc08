//! Watches the scheduled tasks for the rules and the tasks pane: every minute (and when a run
//! ends) reads when each task last succeeded and reports where each stands (next run, overdue)
//! as a [`ScheduleSample`], whose `task.overdue` and `task.last_success_age` metrics the runner
//! judges like any other.

use std::time::Duration;

use crate::core::collectors::Collector;
use crate::core::store::Store;
use crate::core::tasks::schedule::{ScheduleSample, TaskSchedule};

/// How often the schedules are looked at: due times fall on whole minutes.
const EVERY: Duration = Duration::from_secs(60);

pub struct DueWatch {
    store: Store,
    schedules: Vec<(String, TaskSchedule)>,
}

impl DueWatch {
    pub fn new(store: Store, schedules: Vec<(String, TaskSchedule)>) -> DueWatch {
        DueWatch { store, schedules }
    }
}

impl Collector for DueWatch {
    /// The tasks' standing, or why the audit log could not be read.
    type Sample = Result<ScheduleSample, String>;

    fn id(&self) -> &str {
        "schedules"
    }

    fn interval(&self) -> Duration {
        EVERY
    }

    async fn collect(&mut self) -> Option<Self::Sample> {
        let sample = self
            .store
            .last_successes()
            .await
            .map(|successes| {
                ScheduleSample::new(
                    &self.schedules,
                    &successes,
                    crate::core::model::now(),
                    &chrono::Local,
                )
            })
            .map_err(|error| error.to_string());
        Some(sample)
    }
}
