//! The console's view of the checklists: definitions in the chosen language, the current run of
//! each (as stored: a tick shows once the runner has written it), the live evidence for items
//! linked to a metric, and the note editor.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use tui_textarea::TextArea;

use crate::core::checklists::service::EntryRequest;
use crate::core::checklists::{
    CheckRef, Checklist, DueState, EntryKind, Item, ItemStatus, Language, RunState, schedule,
};
use crate::core::checks::Evaluation;
use crate::core::checks::rules::format_value;
use crate::core::model::Status;

#[derive(Debug, Clone, Default)]
pub struct ChecklistsView {
    pub definitions: Vec<Checklist>,
    pub language: Option<Language>,
    /// Checklist files that could not be loaded, as `file:line: message; fix: …`.
    pub problems: Vec<String>,
    /// The current period's run of each checklist, by id.
    pub runs: HashMap<String, RunState>,
    /// A past run being looked at.
    pub viewing: Option<RunState>,
    pub selected: usize,
    pub received_at: Option<DateTime<Utc>>,
    /// The newest verdict on every metric, by series key, for items' live checks.
    pub evaluations: HashMap<String, Evaluation>,
}

impl ChecklistsView {
    pub fn language(&self) -> Language {
        self.language.unwrap_or(Language::En)
    }

    pub fn selected_checklist(&self) -> Option<&Checklist> {
        self.definitions.get(self.selected)
    }

    pub fn checklist(&self, id: &str) -> Option<&Checklist> {
        self.definitions.iter().find(|checklist| checklist.id == id)
    }

    /// The run shown for a checklist: the past run being viewed, else the current one.
    pub fn run_of(&self, id: &str, period: Option<&str>) -> Option<&RunState> {
        match period {
            Some(period) => self
                .viewing
                .as_ref()
                .filter(|run| run.checklist == id && run.period == period),
            None => self.runs.get(id),
        }
    }

    pub fn on_run(&mut self, run: RunState) {
        let current = self
            .runs
            .get(&run.checklist)
            .is_none_or(|known| known.period == run.period);
        if let Some(viewing) = &self.viewing
            && viewing.checklist == run.checklist
            && viewing.period == run.period
        {
            self.viewing = Some(run.clone());
        }
        if current {
            self.runs.insert(run.checklist.clone(), run);
        }
    }

    pub fn on_runs(&mut self, runs: Vec<RunState>, now: DateTime<Utc>) {
        for run in runs {
            self.runs.insert(run.checklist.clone(), run);
        }
        self.received_at = Some(now);
    }

    pub fn remember(&mut self, evaluations: &[Evaluation]) {
        for evaluation in evaluations {
            self.evaluations
                .insert(evaluation.metric.key(), evaluation.clone());
        }
    }

    /// Where a checklist stands now.
    pub fn due_state<Tz: TimeZone>(
        &self,
        checklist: &Checklist,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> DueState {
        let run = self
            .runs
            .get(&checklist.id)
            .filter(|run| run.period == schedule::period_key(checklist.period, now, zone));
        schedule::due_state(
            checklist,
            run.filter(|run| run.started_at.is_some()),
            now,
            zone,
        )
    }

    /// The live evidence for an item linked to a metric, e.g. "cpu.used_pct 37.0 % < 80 %",
    /// with the rules' verdict; `None` before the metric has been seen.
    pub fn evidence(&self, check: &CheckRef) -> Option<(String, Status)> {
        let evaluation = match &check.instance {
            Some(instance) => self.evaluations.get(&crate::core::model::series_key(
                &check.metric,
                Some(instance),
            )),
            None => self
                .evaluations
                .values()
                .filter(|evaluation| evaluation.metric.name == check.metric)
                .max_by(|a, b| {
                    a.status
                        .cmp(&b.status)
                        .then(a.metric.value.total_cmp(&b.metric.value))
                }),
        }?;
        let value = format_value(evaluation.metric.value, evaluation.metric.unit);
        let subject = match &evaluation.metric.instance {
            Some(instance) => format!("{} {instance}", evaluation.metric.name),
            None => evaluation.metric.name.to_owned(),
        };
        let limit = match evaluation.status {
            Status::Crit => evaluation.crit.or(evaluation.warn),
            _ => evaluation.warn.or(evaluation.crit),
        };
        let text = match limit {
            Some(limit) => {
                // A broken rule is shown as the rule says it (`1 >= 1`); a kept one by how far
                // it is from the limit (`37 % < 80 %`).
                let sign = match (evaluation.status, evaluation.operator) {
                    (Status::Warn | Status::Crit, Some(operator)) => operator.symbol(),
                    _ => match evaluation.metric.value.partial_cmp(&limit) {
                        Some(std::cmp::Ordering::Less) => "<",
                        Some(std::cmp::Ordering::Greater) => ">",
                        _ => "=",
                    },
                };
                format!(
                    "{subject} {value} {sign} {}",
                    format_value(limit, evaluation.metric.unit)
                )
            }
            None => format!("{subject} {value}"),
        };
        Some((crate::core::text::printable(&text), evaluation.status))
    }
}

/// What the checklist popup shows: the current run, or a past one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPopup {
    pub checklist: String,
    /// `None`: the current period.
    pub period: Option<String>,
    /// The item under the cursor.
    pub item: usize,
    /// One item at a time (walkthrough) or the whole list.
    pub walkthrough: bool,
}

/// The multi-line editor for a note or a skip reason.
#[derive(Debug, Clone)]
pub struct NoteEditor {
    pub target: EntryRequest,
    pub textarea: TextArea<'static>,
}

impl NoteEditor {
    pub fn new(target: EntryRequest) -> NoteEditor {
        let mut textarea = TextArea::default();
        textarea.set_placeholder_text(match target.kind {
            EntryKind::Skip => "why is this item skipped?",
            _ => "note",
        });
        NoteEditor { target, textarea }
    }

    /// The text as typed, lines joined with newlines; `None` when there is nothing.
    pub fn text(&self) -> Option<String> {
        let text = self.textarea.lines().join("\n");
        (!text.trim().is_empty()).then_some(text)
    }
}

/// The request that records `kind` on the popup's item.
pub fn entry(popup: &RunPopup, item: Option<&Item>, kind: EntryKind, text: String) -> EntryRequest {
    EntryRequest {
        checklist: popup.checklist.clone(),
        period: popup.period.clone(),
        item: item.map(|item| item.id.clone()),
        kind,
        text,
    }
}

/// Tick an open item; reopen a done or skipped one.
pub fn toggle_kind(run: Option<&RunState>, item: &Item) -> EntryKind {
    let open = run
        .and_then(|run| run.items.iter().find(|state| state.item == item.id))
        .is_none_or(|state| state.status == ItemStatus::Open);
    if open {
        EntryKind::Tick
    } else {
        EntryKind::Reopen
    }
}

/// The next item still open after `from`, wrapping; `from` itself when none is.
pub fn next_open(checklist: &Checklist, run: Option<&RunState>, from: usize) -> usize {
    let count = checklist.items.len();
    (1..=count)
        .map(|step| (from + step) % count.max(1))
        .find(|index| {
            let item = &checklist.items[*index];
            run.and_then(|run| run.items.iter().find(|state| state.item == item.id))
                .is_none_or(|state| state.status == ItemStatus::Open)
        })
        .unwrap_or(from)
}
