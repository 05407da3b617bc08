//! Watches the scheduled tasks for the rules and the tasks pane: every minute (and when a run
//! ends) reads when each task last succeeded and reports where each stands (next run, overdue)
//! as a [`ScheduleSample`], whose `task.overdue` and `task.last_success_age` metrics the runner
//! judges like any other. The first look records when watching each schedule began, so windows
//! that passed before opsdeck was there raise no alarm.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::collectors::Collector;
use crate::core::store::Store;
use crate::core::tasks::schedule::{ScheduleSample, TaskSchedule};

/// How often the schedules are looked at: due times fall on whole minutes.
const EVERY: Duration = Duration::from_secs(60);

pub struct DueWatch {
    store: Store,
    /// The host whose runs and watch count: each host does its own maintenance.
    host: String,
    schedules: Vec<(String, TaskSchedule)>,
    /// When watching each schedule began; stored once and never moved, so read once.
    watched: Option<HashMap<String, DateTime<Utc>>>,
}

impl DueWatch {
    pub fn new(store: Store, host: String, schedules: Vec<(String, TaskSchedule)>) -> DueWatch {
        DueWatch {
            store,
            host,
            schedules,
            watched: None,
        }
    }

    async fn sample(&mut self) -> Result<ScheduleSample, crate::core::store::StoreError> {
        let now = crate::core::model::now();
        let watched = match self.watched.take() {
            Some(watched) => watched,
            None => {
                let ids: Vec<String> = self.schedules.iter().map(|(id, _)| id.clone()).collect();
                self.store.watch_schedules(&self.host, &ids, now).await?
            }
        };
        let watched = self.watched.insert(watched);
        let successes = self.store.last_successes(&self.host).await?;
        Ok(ScheduleSample::new(
            &self.schedules,
            watched,
            &successes,
            now,
            &chrono::Local,
        ))
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
        Some(self.sample().await.map_err(|error| error.to_string()))
    }
}
