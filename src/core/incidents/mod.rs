//! Incidents P0–P4: the levels from the teams' guide (definition, response target, who to
//! escalate to, in English and Korean), the life cycle with the times the incident report
//! template asks for (detected, acknowledged, mitigated, resolved, recovered, postmortem done),
//! and the incident itself, folded from an append-only log of events that two consoles can
//! write to at once without losing each other's changes.

mod announce;
pub mod export;
pub mod policy;
mod records;
pub mod service;
pub mod timeline;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::core::checklists::Language;
use crate::core::checks::rules::format_value;
use crate::core::model::{Alert, Status};

/// What the rules see: how many open incidents nobody acknowledged within their level's target.
pub const UNACKNOWLEDGED_OVERDUE: &str = "incident.unacknowledged_overdue";
/// Every metric incidents feed to the rules.
pub const INCIDENT_METRICS: &[&str] = &[UNACKNOWLEDGED_OVERDUE];

/// The incidents as read at one moment, as the rules judge them: the console's watch and
/// `opsdeck check` count the overdue ones the same way.
pub struct IncidentsSample<'a> {
    pub incidents: &'a [Incident],
    pub taken_at: DateTime<Utc>,
}

impl IncidentsSample<'_> {
    /// The open incidents nobody acknowledged within their level's target at `taken_at`.
    pub fn overdue(&self) -> impl Iterator<Item = &Incident> {
        self.incidents
            .iter()
            .filter(|incident| incident.overdue(self.taken_at))
    }
}

impl crate::core::collectors::Sample for IncidentsSample<'_> {
    fn metrics(&self) -> Vec<crate::core::model::Metric> {
        vec![crate::core::model::Metric::new(
            UNACKNOWLEDGED_OVERDUE,
            self.overdue().count() as f64,
            crate::core::model::Unit::Count,
        )]
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// An incident's severity, P0 (everything down) to P4 (minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    P0,
    P1,
    P2,
    P3,
    P4,
}

impl Level {
    pub const ALL: [Level; 5] = [Level::P0, Level::P1, Level::P2, Level::P3, Level::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::P0 => "P0",
            Level::P1 => "P1",
            Level::P2 => "P2",
            Level::P3 => "P3",
            Level::P4 => "P4",
        }
    }

    /// `P1` or `p1`.
    pub fn parse(text: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// What the level means: the configured definition, else the guide's (004, "장애 레벨 정의").
    pub fn definition(self, language: Language) -> &'static str {
        policy::current()
            .level(self)
            .definition
            .as_deref()
            .unwrap_or_else(|| self.guide_definition(language))
    }

    fn guide_definition(self, language: Language) -> &'static str {
        match (self, language) {
            (Level::P0, Language::En) => "full service outage",
            (Level::P0, Language::Ko) => "전체 서비스 중단",
            (Level::P1, Language::En) => "core feature down",
            (Level::P1, Language::Ko) => "핵심 기능 장애",
            (Level::P2, Language::En) => "partial feature failure",
            (Level::P2, Language::Ko) => "부분 기능 장애",
            (Level::P3, Language::En) => "degraded performance",
            (Level::P3, Language::Ko) => "성능 저하",
            (Level::P4, Language::En) => "minor issue",
            (Level::P4, Language::Ko) => "경미한 문제",
        }
    }

    /// How soon someone must acknowledge an incident of this level, as configured.
    pub fn response_target(self) -> Duration {
        policy::current().level(self).respond_within
    }

    /// The guide's response target.
    fn guide_response_target(self) -> Duration {
        let minutes = match self {
            Level::P0 => 15,
            Level::P1 => 60,
            Level::P2 => 4 * 60,
            Level::P3 => 24 * 60,
            Level::P4 => 72 * 60,
        };
        Duration::from_secs(minutes * 60)
    }

    /// Who to escalate to: as configured, else as the guide says.
    pub fn escalation(self, language: Language) -> &'static str {
        policy::current()
            .level(self)
            .escalate
            .as_deref()
            .unwrap_or_else(|| self.guide_escalation(language))
    }

    fn guide_escalation(self, language: Language) -> &'static str {
        match (self, language) {
            (Level::P0, Language::En) => "CTO, CEO",
            (Level::P0, Language::Ko) => "CTO, CEO",
            (Level::P1, Language::En) => "dev lead, DevOps lead",
            (Level::P1, Language::Ko) => "개발팀장, DevOps 팀장",
            (Level::P2, Language::En) => "owning developer",
            (Level::P2, Language::Ko) => "담당 개발자",
            (Level::P3, Language::En) => "owning team",
            (Level::P3, Language::Ko) => "담당팀",
            (Level::P4, Language::En) => "normal handling",
            (Level::P4, Language::Ko) => "일반 처리",
        }
    }
}

/// How far an incident has come; each stage is reached once and keeps its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Detected,
    Acknowledged,
    Mitigated,
    Resolved,
    Recovered,
    PostmortemDone,
}

impl Stage {
    pub fn label(self, language: Language) -> &'static str {
        match (self, language) {
            (Stage::Detected, Language::En) => "detected",
            (Stage::Detected, Language::Ko) => "감지",
            (Stage::Acknowledged, Language::En) => "acknowledged",
            (Stage::Acknowledged, Language::Ko) => "확인",
            (Stage::Mitigated, Language::En) => "mitigated",
            (Stage::Mitigated, Language::Ko) => "완화",
            (Stage::Resolved, Language::En) => "resolved",
            (Stage::Resolved, Language::Ko) => "해결",
            (Stage::Recovered, Language::En) => "recovered",
            (Stage::Recovered, Language::Ko) => "복구",
            (Stage::PostmortemDone, Language::En) => "postmortem done",
            (Stage::PostmortemDone, Language::Ko) => "사후 분석 완료",
        }
    }
}

/// One change to an incident, as stored (the payload of a log row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Opened {
        title: String,
        level: Level,
        affects: Vec<String>,
        /// A frozen copy of what it was declared from (the alert's values); empty when declared
        /// by hand. Older rows have none.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        evidence: String,
    },
    Acknowledged,
    LevelChanged {
        level: Level,
    },
    /// Free text, with a frozen copy of what it is about (a value, a line of output).
    Note {
        text: String,
        evidence: String,
    },
    Mitigated,
    Resolved,
    Recovered,
    PostmortemDone,
    ActionAdded {
        text: String,
        owner: String,
        due: NaiveDate,
    },
    /// A follow-up action item is done: `item` is its number as listed (1 for the first added).
    ActionDone {
        item: usize,
    },
    /// Someone took the response on without acknowledging (it was already acknowledged, or they
    /// take over from the commander).
    CommandTaken,
    /// Something opsdeck saw or did while the incident was open (an alert, a service's state, a
    /// task run, a cancelled session, a backup verification, a checklist note), recorded by the
    /// runner with a frozen copy of its evidence, so later retention cannot empty the timeline.
    Observed {
        source: Source,
        text: String,
        evidence: String,
        /// What it refers to: the alert's id for an alert, the run's id for a task run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    /// A notification about the incident went out (or failed), and to whom.
    Notified {
        notice: Notice,
        to: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failures: Vec<String>,
    },
}

/// Where an observed timeline entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Alert,
    Service,
    Task,
    Session,
    Backup,
    Checklist,
    /// A log finding attached from the logs pane, its lines frozen as evidence.
    Log,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Alert => "alert",
            Source::Service => "service",
            Source::Task => "task",
            Source::Session => "session",
            Source::Backup => "backup",
            Source::Checklist => "checklist",
            Source::Log => "log",
        }
    }
}

/// Why the team was told about an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Opened,
    LevelChanged,
    Overdue,
    Resolved,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Opened => "opened",
            Notice::LevelChanged => "level_changed",
            Notice::Overdue => "overdue",
            Notice::Resolved => "resolved",
        }
    }
}

impl Change {
    /// The tag stored in the `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Opened { .. } => "opened",
            Change::Acknowledged => "acknowledged",
            Change::LevelChanged { .. } => "level_changed",
            Change::Note { .. } => "note",
            Change::Mitigated => "mitigated",
            Change::Resolved => "resolved",
            Change::Recovered => "recovered",
            Change::PostmortemDone => "postmortem_done",
            Change::ActionAdded { .. } => "action_added",
            Change::ActionDone { .. } => "action_done",
            Change::CommandTaken => "command_taken",
            Change::Observed { .. } => "observed",
            Change::Notified { .. } => "notified",
        }
    }

    /// The notification this change calls for, if any: the team hears when an incident opens,
    /// changes level or is resolved (and, from the console's watch, when it goes overdue).
    pub fn notice(&self) -> Option<Notice> {
        match self {
            Change::Opened { .. } => Some(Notice::Opened),
            Change::LevelChanged { .. } => Some(Notice::LevelChanged),
            Change::Resolved => Some(Notice::Resolved),
            _ => None,
        }
    }

    /// The stage this change marks, if it is a step of the life cycle.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Change::Acknowledged => Some(Stage::Acknowledged),
            Change::Mitigated => Some(Stage::Mitigated),
            Change::Resolved => Some(Stage::Resolved),
            Change::Recovered => Some(Stage::Recovered),
            Change::PostmortemDone => Some(Stage::PostmortemDone),
            _ => None,
        }
    }
}

/// One row of an incident's log: a change, who made it, where and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub incident: String,
    pub change: Change,
    pub user: String,
    pub host: String,
    pub at: DateTime<Utc>,
}

/// Who did something and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamp {
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelChange {
    pub from: Level,
    pub to: Level,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionItem {
    pub text: String,
    pub owner: String,
    pub due: NaiveDate,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
    /// Who marked it done and when; an item done is never overdue.
    pub done: Option<Stamp>,
}

impl ActionItem {
    /// Not done, and its due date is before `today`.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.done.is_none() && self.due < today
    }
}

/// One line of the timeline: when, who, what, and the evidence frozen when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
    pub evidence: String,
    /// The alert or task run an observed entry refers to (`opsdeck history show RUN` shows a
    /// run's output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// An incident folded from its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub level: Level,
    pub affects: Vec<String>,
    pub detected: Stamp,
    pub acknowledged: Option<Stamp>,
    pub mitigated: Option<Stamp>,
    pub resolved: Option<Stamp>,
    pub recovered: Option<Stamp>,
    pub postmortem_done: Option<Stamp>,
    /// Whoever acknowledged it: they took the response on.
    pub commander: Option<String>,
    /// (who, when, text, evidence), oldest first.
    pub notes: Vec<TimelineEntry>,
    pub level_changes: Vec<LevelChange>,
    pub actions: Vec<ActionItem>,
    /// The alerts attached to it while it was open (their ids, first attached first).
    pub attached_alerts: Vec<String>,
    /// The notifications sent about it, in order.
    pub notices: Vec<Notice>,
    /// Every change in order, in words.
    pub timeline: Vec<TimelineEntry>,
}

impl Incident {
    /// The furthest stage reached.
    pub fn stage(&self) -> Stage {
        [
            (Stage::PostmortemDone, &self.postmortem_done),
            (Stage::Recovered, &self.recovered),
            (Stage::Resolved, &self.resolved),
            (Stage::Mitigated, &self.mitigated),
            (Stage::Acknowledged, &self.acknowledged),
        ]
        .into_iter()
        .find_map(|(stage, stamp)| stamp.as_ref().map(|_| stage))
        .unwrap_or(Stage::Detected)
    }

    /// Still being worked on: not resolved yet.
    pub fn is_open(&self) -> bool {
        self.resolved.is_none()
    }

    /// When the level's response target runs out.
    pub fn respond_by(&self) -> DateTime<Utc> {
        let target = chrono::Duration::from_std(self.level.response_target())
            .unwrap_or(chrono::Duration::MAX);
        self.detected
            .at
            .checked_add_signed(target)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Open, nobody has acknowledged it, and the level's response target has passed.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.is_open() && self.acknowledged.is_none() && now > self.respond_by()
    }

    /// How long the response took, or has taken so far: the clock stops at the acknowledgement,
    /// or at the resolution of one never acknowledged.
    pub fn response_time(&self, now: DateTime<Utc>) -> chrono::Duration {
        let stopped = self
            .acknowledged
            .as_ref()
            .or(self.resolved.as_ref())
            .map_or(now, |stamp| stamp.at);
        stopped - self.detected.at
    }

    /// Since detection, for a stage's stamp (the template's response, resolution and recovery
    /// times).
    pub fn after_detection(&self, stamp: Option<&Stamp>) -> Option<chrono::Duration> {
        stamp.map(|stamp| stamp.at - self.detected.at)
    }

    pub fn stamp(&self, stage: Stage) -> Option<&Stamp> {
        match stage {
            Stage::Detected => Some(&self.detected),
            Stage::Acknowledged => self.acknowledged.as_ref(),
            Stage::Mitigated => self.mitigated.as_ref(),
            Stage::Resolved => self.resolved.as_ref(),
            Stage::Recovered => self.recovered.as_ref(),
            Stage::PostmortemDone => self.postmortem_done.as_ref(),
        }
    }

    fn stamp_mut(&mut self, stage: Stage) -> Option<&mut Option<Stamp>> {
        match stage {
            Stage::Detected => None,
            Stage::Acknowledged => Some(&mut self.acknowledged),
            Stage::Mitigated => Some(&mut self.mitigated),
            Stage::Resolved => Some(&mut self.resolved),
            Stage::Recovered => Some(&mut self.recovered),
            Stage::PostmortemDone => Some(&mut self.postmortem_done),
        }
    }
}

/// Folds an incident's log (any order) into the incident; `None` when it has no `opened`
/// event. Events of the same millisecond count as simultaneous: the opening comes first, the
/// rest keep the order given. A stage reached twice (two consoles acknowledging at once) keeps
/// its first time.
pub fn fold(id: &str, events: &[Event]) -> Option<Incident> {
    let mut ordered: Vec<&Event> = events.iter().filter(|event| event.incident == id).collect();
    ordered.sort_by_key(|event| (event.at, !matches!(event.change, Change::Opened { .. })));
    let (first, rest) = ordered.split_first()?;
    let Change::Opened {
        title,
        level,
        affects,
        evidence,
    } = &first.change
    else {
        return None;
    };
    let mut incident = Incident {
        id: id.to_owned(),
        title: title.clone(),
        level: *level,
        affects: affects.clone(),
        detected: Stamp {
            by: first.user.clone(),
            at: first.at,
        },
        acknowledged: None,
        mitigated: None,
        resolved: None,
        recovered: None,
        postmortem_done: None,
        commander: None,
        notes: Vec::new(),
        level_changes: Vec::new(),
        actions: Vec::new(),
        attached_alerts: Vec::new(),
        notices: Vec::new(),
        timeline: vec![TimelineEntry {
            at: first.at,
            by: first.user.clone(),
            text: format!("opened as {}: {title}", level.as_str()),
            evidence: evidence.clone(),
            link: None,
        }],
    };
    for event in rest {
        let entry = |text: String, evidence: &str| TimelineEntry {
            at: event.at,
            by: event.user.clone(),
            text,
            evidence: evidence.to_owned(),
            link: None,
        };
        match &event.change {
            // A second opening of the same id cannot be made by opsdeck; it changes nothing.
            Change::Opened { .. } => {}
            Change::LevelChanged { level } => {
                incident.level_changes.push(LevelChange {
                    from: incident.level,
                    to: *level,
                    by: event.user.clone(),
                    at: event.at,
                });
                incident.timeline.push(entry(
                    format!(
                        "level changed {} -> {}",
                        incident.level.as_str(),
                        level.as_str()
                    ),
                    "",
                ));
                incident.level = *level;
            }
            Change::Note { text, evidence } => {
                incident.notes.push(entry(text.clone(), evidence));
                incident
                    .timeline
                    .push(entry(format!("note: {text}"), evidence));
            }
            Change::ActionAdded { text, owner, due } => {
                incident.actions.push(ActionItem {
                    text: text.clone(),
                    owner: owner.clone(),
                    due: *due,
                    added_by: event.user.clone(),
                    added_at: event.at,
                    done: None,
                });
                incident.timeline.push(entry(
                    format!("action item for {owner}, due {due}: {text}"),
                    "",
                ));
            }
            Change::ActionDone { item } => {
                let Some(action) = item
                    .checked_sub(1)
                    .and_then(|index| incident.actions.get_mut(index))
                else {
                    continue;
                };
                if action.done.is_some() {
                    continue;
                }
                action.done = Some(Stamp {
                    by: event.user.clone(),
                    at: event.at,
                });
                let text = format!("action item {item} done: {}", action.text);
                incident.timeline.push(entry(text, ""));
            }
            Change::CommandTaken => {
                incident.commander = Some(event.user.clone());
                incident.timeline.push(entry("took command".to_owned(), ""));
            }
            Change::Observed {
                source,
                text,
                evidence,
                link,
            } => {
                // The alert it was declared from is its own, not attached.
                if let (Source::Alert, Some(alert)) = (source, link)
                    && !incident.attached_alerts.contains(alert)
                    && !incident.declared_from(alert)
                {
                    incident.attached_alerts.push(alert.clone());
                }
                incident.timeline.push(TimelineEntry {
                    link: link.clone(),
                    ..entry(format!("{}: {text}", source.as_str()), evidence)
                });
            }
            Change::Notified {
                notice,
                to,
                failures,
            } => {
                incident.notices.push(*notice);
                let mut text = format!("notified {} to {}", notice.as_str(), to.join(", "));
                if !failures.is_empty() {
                    text.push_str(&format!(" ({} failed)", failures.len()));
                }
                incident.timeline.push(entry(text, &failures.join("; ")));
            }
            change => {
                let Some(stage) = change.stage() else {
                    continue;
                };
                let Some(slot) = incident.stamp_mut(stage) else {
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                *slot = Some(Stamp {
                    by: event.user.clone(),
                    at: event.at,
                });
                if stage == Stage::Acknowledged {
                    incident.commander = Some(event.user.clone());
                }
                incident
                    .timeline
                    .push(entry(stage.label(Language::En).to_owned(), ""));
            }
        }
    }
    Some(incident)
}

/// What a new incident starts with: declared by hand, from a script, or from an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub title: String,
    pub level: Level,
    /// The systems, services or instances it concerns.
    pub affects: Vec<String>,
    /// A frozen copy of what it was declared from; empty when declared by hand.
    pub evidence: String,
    /// The alert it was declared from, which no other open incident may have been declared from.
    pub alert: Option<String>,
}

impl Opening {
    /// Prefilled from an alert: its metric, instance, peak and limit as the title, its instance
    /// (or, without one, its metric) as what is affected, P1 for a critical alert and P3 for a
    /// warning (degraded until someone says it is worse), and the alert itself as evidence, as
    /// it stood when the incident was declared.
    pub fn from_alert(alert: &Alert) -> Opening {
        let subject = match &alert.instance {
            Some(instance) => format!("{} {instance}", alert.metric),
            None => alert.metric.clone(),
        };
        let peak = format_value(alert.peak, alert.unit);
        let threshold = format_value(alert.threshold, alert.unit);
        Opening {
            title: format!("{subject} {peak} (limit {threshold})"),
            level: if alert.level >= Status::Crit {
                Level::P1
            } else {
                Level::P3
            },
            affects: vec![
                alert
                    .instance
                    .clone()
                    .unwrap_or_else(|| alert.metric.clone()),
            ],
            evidence: format!(
                "{}{}",
                alert_evidence_prefix(&alert.id),
                describe_alert(alert)
            ),
            alert: Some(alert.id.clone()),
        }
    }
}

/// An alert as it stands, frozen into evidence: `disk.used_pct /data CRIT since 2026-12-05
/// 03:10:00 UTC, open, peak 92.1 %, limit 90.0 %`.
pub fn describe_alert(alert: &Alert) -> String {
    let subject = match &alert.instance {
        Some(instance) => format!("{} {instance}", alert.metric),
        None => alert.metric.clone(),
    };
    let state = match alert.resolved_at {
        Some(resolved) => format!("resolved {}", resolved.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "open".to_owned(),
    };
    format!(
        "{subject} {} since {}, {state}, peak {}, limit {}",
        alert.level.label(),
        alert.opened_at.format("%Y-%m-%d %H:%M:%S UTC"),
        format_value(alert.peak, alert.unit),
        format_value(alert.threshold, alert.unit)
    )
}

/// How the evidence of an incident declared from an alert begins: the alert's id, so that the
/// log itself says which alert it came from.
fn alert_evidence_prefix(alert: &str) -> String {
    format!("alert {alert}: ")
}

impl Incident {
    /// Whether it was declared from the alert with this id.
    pub fn declared_from(&self, alert: &str) -> bool {
        self.timeline
            .first()
            .is_some_and(|opened| opened.evidence.starts_with(&alert_evidence_prefix(alert)))
    }

    /// The follow-up action items not done and due before `today`, the longest overdue first.
    pub fn overdue_actions(&self, today: NaiveDate) -> Vec<&ActionItem> {
        let mut overdue: Vec<&ActionItem> = self
            .actions
            .iter()
            .filter(|item| item.is_overdue(today))
            .collect();
        overdue.sort_by_key(|item| item.due);
        overdue
    }

    /// Whether the alert with this id belongs to it: declared from it, or attached since.
    pub fn knows_alert(&self, alert: &str) -> bool {
        self.declared_from(alert) || self.attached_alerts.iter().any(|known| known == alert)
    }
}

/// The checklist check (`check = "incident.overdue_actions"`) that shows the incidents'
/// overdue follow-up action items, for the monthly incident procedure review.
pub const OVERDUE_ACTIONS_CHECK: &str = "incident.overdue_actions";

/// Every incident's action items due before `today`, with the incident's id, the longest
/// overdue first.
pub fn overdue_actions(incidents: &[Incident], today: NaiveDate) -> Vec<(&str, &ActionItem)> {
    let mut overdue: Vec<(&str, &ActionItem)> = incidents
        .iter()
        .flat_map(|incident| {
            incident
                .overdue_actions(today)
                .into_iter()
                .map(|item| (incident.id.as_str(), item))
        })
        .collect();
    overdue.sort_by_key(|(_, item)| item.due);
    overdue
}

/// Whether `change` may be made to `incident` as it stands now; the refusal says why and what
/// to do instead. `by` is who makes it; `today` is the first day an action item may be due.
pub fn check(
    incident: &Incident,
    change: &Change,
    by: &str,
    today: NaiveDate,
) -> Result<(), String> {
    let done = |stage: Stage| {
        incident.stamp(stage).map(|stamp| {
            format!(
                "{} was already {} by {} at {}",
                incident.id,
                stage.label(Language::En),
                stamp.by,
                stamp.at.format("%Y-%m-%d %H:%M UTC")
            )
        })
    };
    let refusal = match change {
        Change::Opened { .. } => Some(format!("{} is already open", incident.id)),
        Change::CommandTaken => done(Stage::Resolved).or_else(|| {
            (incident.commander.as_deref() == Some(by)).then(|| {
                format!(
                    "{} is already commanded by {by}\n  fix: nothing to do; another person can take command",
                    incident.id
                )
            })
        }),
        Change::Observed { .. } | Change::Notified { .. } => None,
        Change::Acknowledged | Change::Mitigated => {
            let stage = change.stage().unwrap_or(Stage::Acknowledged);
            done(stage).or_else(|| done(Stage::Resolved))
        }
        Change::Resolved => done(Stage::Resolved),
        Change::Recovered | Change::PostmortemDone => {
            let stage = change.stage().unwrap_or(Stage::Recovered);
            done(stage).or_else(|| {
                incident.resolved.is_none().then(|| {
                    format!(
                        "{} is not resolved yet, so it cannot be {}\n  fix: opsdeck incident resolve {} first",
                        incident.id,
                        stage.label(Language::En),
                        incident.id
                    )
                })
            })
        }
        Change::LevelChanged { level } => (*level == incident.level).then(|| {
            format!(
                "{} is already {}\n  fix: give another level (P0 to P4)",
                incident.id,
                level.as_str()
            )
        }),
        Change::Note { text, .. } => text
            .trim()
            .is_empty()
            .then(|| "the note is empty\n  fix: write what happened, in quotes".to_owned()),
        Change::ActionAdded { text, owner, due } => {
            if text.trim().is_empty() {
                Some(
                    "the action item is empty\n  fix: say what is to be done, in quotes".to_owned(),
                )
            } else if owner.trim().is_empty() {
                Some(
                    "the action item has no owner\n  fix: --owner NAME (a person or team)"
                        .to_owned(),
                )
            } else if *due < today {
                Some(format!(
                    "the action item is due {due}, which is in the past\n  fix: --due {today} or later"
                ))
            } else {
                None
            }
        }
        Change::ActionDone { item } => {
            match item.checked_sub(1).and_then(|index| incident.actions.get(index)) {
                None if incident.actions.is_empty() => Some(format!(
                    "{} has no action items\n  fix: add one with opsdeck incident action {} --owner NAME --due DATE \"what\"",
                    incident.id, incident.id
                )),
                None => Some(format!(
                    "{} has no action item {item}; its items are numbered 1 to {}\n  fix: opsdeck incident show {} lists them",
                    incident.id,
                    incident.actions.len(),
                    incident.id
                )),
                Some(action) => action.done.as_ref().map(|stamp| {
                    format!(
                        "action item {item} of {} was already done by {} at {}",
                        incident.id,
                        stamp.by,
                        stamp.at.format("%Y-%m-%d %H:%M UTC")
                    )
                }),
            }
        }
    };
    refusal.map_or(Ok(()), Err)
}

/// A new incident id: `INC-` and the UTC date, then six hex digits from the time and process,
/// so that consoles opening incidents at the same moment do not pick the same one.
pub fn new_id(now: DateTime<Utc>) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let sequence = u64::from(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = u64::from(Utc::now().timestamp_subsec_nanos());
    let process = u64::from(std::process::id());
    let mixed = (nanos ^ (process << 11) ^ (sequence << 19)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("INC-{}-{:06x}", now.format("%Y%m%d"), mixed >> 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(super) fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::minutes(minute)
    }

    pub(super) fn event(minute: i64, user: &str, change: Change) -> Event {
        Event {
            incident: "INC-1".into(),
            change,
            user: user.into(),
            host: "web-1".into(),
            at: at(minute),
        }
    }

    fn opened(level: Level) -> Change {
        Change::Opened {
            title: "checkout down".into(),
            level,
            affects: vec!["checkout".into()],
            evidence: String::new(),
        }
    }

    #[test]
    fn the_life_cycle_folds_into_stages_times_and_a_timeline() {
        let events = vec![
            event(40, "bob", Change::Resolved),
            event(0, "alice", opened(Level::P2)),
            event(5, "bob", Change::Acknowledged),
            event(7, "carol", Change::Acknowledged),
            event(10, "bob", Change::LevelChanged { level: Level::P1 }),
            event(
                12,
                "carol",
                Change::Note {
                    text: "pool exhausted".into(),
                    evidence: "active=100/100".into(),
                },
            ),
            event(20, "bob", Change::Mitigated),
            event(
                50,
                "bob",
                Change::ActionAdded {
                    text: "raise pool".into(),
                    owner: "dba".into(),
                    due: NaiveDate::from_ymd_opt(2026, 12, 12).expect("date"),
                },
            ),
            event(60, "bob", Change::Recovered),
            Event {
                incident: "INC-2".into(),
                ..event(61, "eve", Change::PostmortemDone)
            },
        ];
        let incident = fold("INC-1", &events).expect("opened");
        assert_eq!(incident.level, Level::P1);
        assert_eq!(
            incident.detected,
            Stamp {
                by: "alice".into(),
                at: at(0)
            }
        );
        assert_eq!(
            incident.acknowledged,
            Some(Stamp {
                by: "bob".into(),
                at: at(5)
            }),
            "the first acknowledgement counts"
        );
        assert_eq!(incident.commander.as_deref(), Some("bob"));
        assert_eq!(incident.mitigated.as_ref().map(|s| s.at), Some(at(20)));
        assert_eq!(incident.resolved.as_ref().map(|s| s.at), Some(at(40)));
        assert_eq!(incident.recovered.as_ref().map(|s| s.at), Some(at(60)));
        assert_eq!(incident.postmortem_done, None, "another incident's event");
        assert_eq!(incident.stage(), Stage::Recovered);
        assert!(!incident.is_open());
        assert_eq!(
            incident.after_detection(incident.acknowledged.as_ref()),
            Some(chrono::Duration::minutes(5))
        );
        assert_eq!(
            incident.level_changes,
            vec![LevelChange {
                from: Level::P2,
                to: Level::P1,
                by: "bob".into(),
                at: at(10)
            }]
        );
        assert_eq!(incident.notes.len(), 1);
        assert_eq!(incident.notes[0].evidence, "active=100/100");
        assert_eq!(incident.actions[0].owner, "dba");
        let timeline: Vec<(DateTime<Utc>, &str, &str)> = incident
            .timeline
            .iter()
            .map(|entry| (entry.at, entry.by.as_str(), entry.text.as_str()))
            .collect();
        assert_eq!(
            timeline,
            vec![
                (at(0), "alice", "opened as P2: checkout down"),
                (at(5), "bob", "acknowledged"),
                (at(10), "bob", "level changed P2 -> P1"),
                (at(12), "carol", "note: pool exhausted"),
                (at(20), "bob", "mitigated"),
                (at(40), "bob", "resolved"),
                (
                    at(50),
                    "bob",
                    "action item for dba, due 2026-12-12: raise pool"
                ),
                (at(60), "bob", "recovered"),
            ]
        );
    }

    #[test]
    fn an_opening_in_the_same_millisecond_as_a_note_still_comes_first() {
        let note = Change::Note {
            text: "first look".into(),
            evidence: String::new(),
        };
        let incident = fold(
            "INC-1",
            &[event(0, "bob", note), event(0, "alice", opened(Level::P3))],
        )
        .expect("opened");
        assert_eq!(incident.detected.by, "alice");
        assert_eq!(incident.notes.len(), 1);
    }

    #[test]
    fn without_an_opening_there_is_no_incident() {
        assert_eq!(
            fold("INC-1", &[event(0, "bob", Change::Acknowledged)]),
            None
        );
        assert_eq!(fold("INC-1", &[]), None);
    }

    #[test]
    fn overdue_means_open_and_unacknowledged_past_the_levels_target() {
        let open = |level| fold("INC-1", &[event(0, "alice", opened(level))]).expect("opened");
        let p0 = open(Level::P0);
        assert!(!p0.overdue(at(15)), "exactly at the target is not late yet");
        assert!(p0.overdue(at(16)));
        let p1 = open(Level::P1);
        assert!(!p1.overdue(at(59)));
        assert!(p1.overdue(at(61)));
        assert!(!open(Level::P4).overdue(at(71 * 60)));
        assert!(open(Level::P4).overdue(at(72 * 60 + 1)));

        let acknowledged = fold(
            "INC-1",
            &[
                event(0, "alice", opened(Level::P0)),
                event(30, "bob", Change::Acknowledged),
            ],
        )
        .expect("opened");
        assert!(!acknowledged.overdue(at(60)), "late, but acknowledged");
        let resolved = fold(
            "INC-1",
            &[
                event(0, "alice", opened(Level::P0)),
                event(10, "bob", Change::Resolved),
            ],
        )
        .expect("opened");
        assert!(
            !resolved.overdue(at(60)),
            "resolved incidents are not waiting"
        );

        // Raising the level shortens the target from the same detection time.
        let raised = fold(
            "INC-1",
            &[
                event(0, "alice", opened(Level::P3)),
                event(20, "bob", Change::LevelChanged { level: Level::P0 }),
            ],
        )
        .expect("opened");
        assert!(raised.overdue(at(20)));
    }

    #[test]
    fn an_action_item_done_is_no_longer_overdue_and_is_done_once() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let due = |day| NaiveDate::from_ymd_opt(2026, 12, day).expect("date");
        let added = |text: &str, day| Change::ActionAdded {
            text: text.into(),
            owner: "dba".into(),
            due: due(day),
        };
        let mut events = vec![
            event(0, "alice", opened(Level::P2)),
            event(1, "alice", added("raise the pool", 1)),
            event(2, "alice", added("alert on pool use", 3)),
        ];
        let before = fold("INC-1", &events).expect("opened");
        assert_eq!(before.overdue_actions(today).len(), 2);

        events.push(event(30, "bob", Change::ActionDone { item: 1 }));
        events.push(event(40, "carol", Change::ActionDone { item: 1 }));
        let after = fold("INC-1", &events).expect("opened");
        assert_eq!(
            after.actions[0].done,
            Some(Stamp {
                by: "bob".into(),
                at: at(30)
            }),
            "the first one to mark it done counts"
        );
        let overdue: Vec<&str> = after
            .overdue_actions(today)
            .iter()
            .map(|item| item.text.as_str())
            .collect();
        assert_eq!(overdue, vec!["alert on pool use"]);
        assert_eq!(
            after.timeline.last().map(|entry| entry.text.as_str()),
            Some("action item 1 done: raise the pool")
        );

        let refused =
            |item| check(&after, &Change::ActionDone { item }, "bob", today).expect_err("refused");
        assert!(refused(1).starts_with("action item 1 of INC-1 was already done by bob"));
        assert!(refused(3).contains("its items are numbered 1 to 2"));
        assert!(refused(0).contains("fix: opsdeck incident show INC-1 lists them"));
        assert_eq!(
            check(&after, &Change::ActionDone { item: 2 }, "bob", today),
            Ok(())
        );
        let without = fold("INC-1", &events[..1]).expect("opened");
        let refusal =
            check(&without, &Change::ActionDone { item: 1 }, "bob", today).expect_err("refused");
        assert!(refusal.contains("INC-1 has no action items"), "{refusal}");
    }

    #[test]
    fn changes_out_of_order_or_empty_are_refused_with_the_fix() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let incident = |changes: Vec<Change>| {
            let mut events = vec![event(0, "alice", opened(Level::P2))];
            events.extend(changes.into_iter().map(|change| event(5, "bob", change)));
            fold("INC-1", &events).expect("opened")
        };
        let open = incident(Vec::new());
        let refused = |incident: &Incident, change: Change| {
            check(incident, &change, "bob", today).expect_err("refused")
        };
        assert_eq!(check(&open, &Change::Acknowledged, "bob", today), Ok(()));
        assert!(
            refused(&open, Change::Recovered).contains("fix: opsdeck incident resolve INC-1 first")
        );
        assert!(refused(&open, Change::PostmortemDone).contains("not resolved yet"));
        assert!(refused(&open, Change::LevelChanged { level: Level::P2 }).contains("already P2"));
        assert!(
            refused(
                &open,
                Change::Note {
                    text: " ".into(),
                    evidence: String::new()
                }
            )
            .contains("note is empty")
        );
        let action = |text: &str, owner: &str, due| Change::ActionAdded {
            text: text.into(),
            owner: owner.into(),
            due,
        };
        let yesterday = today.pred_opt().expect("date");
        assert!(
            refused(&open, action("x", "dba", yesterday))
                .contains("fix: --due 2026-12-05 or later")
        );
        assert!(refused(&open, action("x", " ", today)).contains("no owner"));
        assert!(refused(&open, action("", "dba", today)).contains("action item is empty"));
        assert_eq!(
            check(&open, &action("x", "dba", today), "bob", today),
            Ok(())
        );

        let acknowledged = incident(vec![Change::Acknowledged]);
        assert!(
            refused(&acknowledged, Change::Acknowledged)
                .contains("already acknowledged by bob at 2026-12-05 03:05 UTC")
        );
        let resolved = incident(vec![Change::Resolved]);
        assert!(refused(&resolved, Change::Mitigated).contains("already resolved"));
        assert!(refused(&resolved, Change::Resolved).contains("already resolved"));
        assert_eq!(check(&resolved, &Change::Recovered, "bob", today), Ok(()));
        assert_eq!(
            check(&resolved, &Change::PostmortemDone, "bob", today),
            Ok(())
        );
    }

    #[test]
    fn levels_carry_the_guides_targets_and_escalation_in_both_languages() {
        let table: Vec<(Level, u64, &str, &str)> = Level::ALL
            .iter()
            .map(|level| {
                (
                    *level,
                    level.response_target().as_secs() / 60,
                    level.definition(Language::Ko),
                    level.escalation(Language::En),
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                (Level::P0, 15, "전체 서비스 중단", "CTO, CEO"),
                (Level::P1, 60, "핵심 기능 장애", "dev lead, DevOps lead"),
                (Level::P2, 240, "부분 기능 장애", "owning developer"),
                (Level::P3, 1440, "성능 저하", "owning team"),
                (Level::P4, 4320, "경미한 문제", "normal handling"),
            ]
        );
        assert_eq!(Level::parse(" p2 "), Some(Level::P2));
        assert_eq!(Level::parse("P5"), None);
    }

    #[test]
    fn an_observed_alert_attaches_and_the_alert_it_was_declared_from_stays_its_own() {
        let declared_from = Alert {
            id: "alert-1".into(),
            key: "service.up:checkout".into(),
            metric: "service.up".into(),
            instance: Some("checkout".into()),
            host: None,
            level: Status::Crit,
            opened_at: at(0),
            resolved_at: None,
            peak: 0.0,
            threshold: 1.0,
            unit: crate::core::model::Unit::Count,
        };
        let opening = Opening::from_alert(&declared_from);
        let observed = |alert: &str, text: &str| Change::Observed {
            source: Source::Alert,
            text: text.into(),
            evidence: String::new(),
            link: Some(alert.into()),
        };
        let incident = fold(
            "INC-1",
            &[
                event(
                    0,
                    "alice",
                    Change::Opened {
                        title: opening.title,
                        level: opening.level,
                        affects: opening.affects,
                        evidence: opening.evidence,
                    },
                ),
                event(5, "tester", observed("alert-1", "resolved")),
                event(9, "tester", observed("alert-2", "opened")),
                event(12, "tester", observed("alert-2", "resolved")),
            ],
        )
        .expect("opened");
        assert_eq!(incident.attached_alerts, ["alert-2"]);
        assert!(incident.knows_alert("alert-1") && incident.knows_alert("alert-2"));
        assert!(!incident.knows_alert("alert-3"));
        assert_eq!(incident.timeline[2].text, "alert: opened");
        assert_eq!(incident.timeline[2].link.as_deref(), Some("alert-2"));
    }

    #[test]
    fn changes_round_trip_through_their_json_payload() {
        let change = Change::ActionAdded {
            text: "raise pool".into(),
            owner: "dba".into(),
            due: NaiveDate::from_ymd_opt(2026, 12, 12).expect("date"),
        };
        let json = serde_json::to_string(&change).expect("json");
        assert!(json.contains("\"kind\":\"action_added\""), "{json}");
        assert_eq!(
            serde_json::from_str::<Change>(&json).expect("parse"),
            change
        );
        // Rows written before openings carried evidence still read.
        let older = r#"{"kind":"opened","title":"t","level":"P1","affects":[]}"#;
        assert!(matches!(
            serde_json::from_str::<Change>(older).expect("parse"),
            Change::Opened { evidence, .. } if evidence.is_empty()
        ));
        assert!(new_id(at(0)).starts_with("INC-20261205-"));
        assert_ne!(new_id(at(0)), new_id(at(0)));
    }
}
