//! The console's view of the backup sets: the latest report of each with the level the rules
//! give its metrics, the selection, and the requests the backup keys make (verify at once;
//! create, prune and restore test only after their plan is shown and confirmed).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::core::backups::status::SetReport;
use crate::core::backups::tasks::BackupAction;
use crate::core::checks::Evaluation;
use crate::core::model::Status;
use crate::core::runner::Request;
use crate::core::tasks::Params;

/// One set as shown: its report and how the rules judge each of its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRow {
    pub report: SetReport,
    pub levels: HashMap<&'static str, Status>,
    pub level: Status,
}

impl BackupRow {
    /// The level of one metric of this set (`Ok` when it has no rule or was not reported).
    pub fn level_of(&self, metric: &str) -> Status {
        self.levels.get(metric).copied().unwrap_or(Status::Ok)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupsView {
    /// Names of the configured sets, in config order, known before the first report.
    pub configured: Vec<String>,
    pub rows: Vec<BackupRow>,
    pub selected: usize,
    /// Files scrolled past in the selected set's file list.
    pub file_offset: usize,
    pub received_at: Option<DateTime<Utc>>,
}

impl BackupsView {
    pub fn on_reports(
        &mut self,
        reports: Vec<SetReport>,
        evaluations: &[Evaluation],
        now: DateTime<Utc>,
    ) {
        self.rows = reports
            .into_iter()
            .map(|report| {
                let levels: HashMap<&'static str, Status> = evaluations
                    .iter()
                    .filter(|evaluation| {
                        evaluation.metric.instance.as_deref() == Some(report.set.as_str())
                    })
                    .map(|evaluation| (evaluation.metric.name, evaluation.status))
                    .collect();
                let level = levels.values().copied().max().unwrap_or(Status::Ok);
                BackupRow {
                    report,
                    levels,
                    level,
                }
            })
            .collect();
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        self.received_at = Some(now);
    }

    pub fn selected_row(&self) -> Option<&BackupRow> {
        self.rows.get(self.selected)
    }

    pub fn select(&mut self, selected: usize) {
        if selected != self.selected {
            self.file_offset = 0;
        }
        self.selected = selected.min(self.rows.len().saturating_sub(1));
    }

    pub fn scroll_files(&mut self, down: bool) {
        let files = self.selected_row().map_or(0, |row| row.report.files.len());
        self.file_offset = if down {
            (self.file_offset + 10).min(files.saturating_sub(1))
        } else {
            self.file_offset.saturating_sub(10)
        };
    }

    pub fn open_problems(&self) -> usize {
        self.rows
            .iter()
            .filter(|row| row.level >= Status::Warn)
            .count()
    }
}

/// What a backup key asks for: the task, its parameters, and whether its plan must be shown
/// and confirmed first.
pub struct BackupRequest {
    pub task_id: &'static str,
    pub params: Params,
    pub confirm: bool,
}

pub fn request(action: BackupAction, set: &str, now: DateTime<Utc>) -> BackupRequest {
    let mut params = Params::from([("set".to_owned(), set.to_owned())]);
    if action == BackupAction::Prune {
        // The run judges retention at the same instant as the plan on screen, so it deletes
        // exactly the files that were confirmed.
        params.insert("as_of".into(), now.timestamp_millis().to_string());
    }
    BackupRequest {
        task_id: action.id(),
        params,
        confirm: action.destructive(),
    }
}

/// The request that starts or plans a backup task.
pub fn to_request(request: &BackupRequest) -> Request {
    if request.confirm {
        Request::PlanTask {
            task_id: request.task_id.into(),
            params: request.params.clone(),
        }
    } else {
        Request::StartTask {
            task_id: request.task_id.into(),
            params: request.params.clone(),
            confirmed: false,
        }
    }
}
