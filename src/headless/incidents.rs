//! `opsdeck incident`: incidents from the command line. Listing and showing them, declaring one,
//! every step of the life cycle, notes and action items (each change one appended event, checked
//! first against the incident as stored), and the postmortem export. Opening, changing the level
//! and resolving announce the change to the level's `[[escalation]]` contacts through `[notify]`.

use std::fmt::Write as _;

use anyhow::Result;
use chrono::{DateTime, Local, NaiveDate, Utc};
use serde::Serialize;

use super::Refused;
use crate::cli::{ExportFormat, Format, IncidentCommand};
use crate::core::checklists::Language;
use crate::core::incidents::policy::{self, Contact};
use crate::core::incidents::service::{IncidentService, NotRecorded};
use crate::core::incidents::{Change, Incident, Level, Notice, Opening, Stage, export};
use crate::core::notify::NotifySettings;
use crate::core::store::Store;
use crate::core::text::{duration, printable};

/// Who is at the keyboard where, and the language labels are shown in.
#[derive(Debug, Clone)]
pub struct Session {
    pub language: Language,
    pub user: String,
    pub host: String,
    /// Where opening, level changes and resolutions are announced.
    pub notify: NotifySettings,
}

impl Session {
    fn service(&self, store: &Store) -> IncidentService {
        IncidentService::new(store.clone(), self.user.clone(), self.host.clone())
            .with_notifications(self.notify.clone())
    }
}

fn refused(not_recorded: NotRecorded) -> anyhow::Error {
    match not_recorded {
        NotRecorded::Refused(message) => Refused(message).into(),
        NotRecorded::Store(message) => anyhow::anyhow!(message),
    }
}

/// Announces a change made here; a failed delivery is reported on stderr and does not fail the
/// command (the change is stored, and the failure is logged with the incident).
async fn announce(service: &IncidentService, id: &str, notice: Notice) -> Result<()> {
    if !service.announces() {
        return Ok(());
    }
    let failures = service.announce(id, notice).await.map_err(refused)?;
    for failure in failures {
        eprintln!("warning: notification not delivered: {failure}");
    }
    Ok(())
}

/// Runs one `opsdeck incident` command; returns the exit status.
pub async fn run(session: &Session, store: &Store, command: IncidentCommand) -> Result<i32> {
    super::exit_status(dispatch(session, store, command).await)
}

async fn dispatch(session: &Session, store: &Store, command: IncidentCommand) -> Result<i32> {
    let change = match command {
        IncidentCommand::List { all, format } => return list(session, store, all, format).await,
        IncidentCommand::Show { id, format } => return show(session, store, &id, format).await,
        IncidentCommand::Open {
            level,
            title,
            affects,
        } => return open(session, store, &level, title, affects).await,
        IncidentCommand::Export { id, format } => {
            return export_incident(session, store, &id, format).await;
        }
        IncidentCommand::Ack { id } => (id, Change::Acknowledged),
        IncidentCommand::Level { id, level } => {
            let level = level_of(&level)?;
            (id, Change::LevelChanged { level })
        }
        IncidentCommand::Note { id, text, evidence } => (
            id,
            Change::Note {
                text,
                evidence: evidence.unwrap_or_default(),
            },
        ),
        IncidentCommand::Mitigate { id } => (id, Change::Mitigated),
        IncidentCommand::Resolve { id } => (id, Change::Resolved),
        IncidentCommand::Recover { id } => (id, Change::Recovered),
        IncidentCommand::PostmortemDone { id } => (id, Change::PostmortemDone),
        IncidentCommand::Action {
            id,
            owner,
            due,
            text,
        } => {
            let due = NaiveDate::parse_from_str(due.trim(), "%Y-%m-%d").map_err(|_| {
                Refused(format!(
                    "--due `{}` is not a date\n  fix: give it as YYYY-MM-DD, e.g. --due {}",
                    printable(&due),
                    today()
                ))
            })?;
            (id, Change::ActionAdded { text, owner, due })
        }
        IncidentCommand::ActionDone { id, item } => (id, Change::ActionDone { item }),
    };
    let (id, change) = change;
    record(session, store, &id, change).await
}

fn today() -> NaiveDate {
    crate::core::model::now().with_timezone(&Local).date_naive()
}

fn level_of(text: &str) -> Result<Level, Refused> {
    Level::parse(text).ok_or_else(|| {
        let levels: Vec<String> = Level::ALL
            .iter()
            .map(|level| {
                format!(
                    "{} ({}, respond within {})",
                    level.as_str(),
                    level.definition(Language::En),
                    duration(target_seconds(*level))
                )
            })
            .collect();
        Refused(format!(
            "unknown level `{}`\n  fix: give one of {}",
            printable(text),
            levels.join(", ")
        ))
    })
}

fn target_seconds(level: Level) -> i64 {
    i64::try_from(level.response_target().as_secs()).unwrap_or(i64::MAX)
}

async fn incident(store: &Store, id: &str) -> Result<Incident> {
    match store.incident(id).await? {
        Some(incident) => Ok(incident),
        None => Err(Refused(format!(
            "no incident `{}`\n  fix: pass an id that `opsdeck incident list --all` shows",
            printable(id)
        ))
        .into()),
    }
}

fn when(at: &DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

async fn open(
    session: &Session,
    store: &Store,
    level: &str,
    title: String,
    affects: Vec<String>,
) -> Result<i32> {
    let level = level_of(level)?;
    let service = session.service(store);
    let opening = Opening {
        title,
        level,
        affects,
        evidence: String::new(),
        alert: None,
    };
    let id = service.open(opening).await.map_err(refused)?;
    // The id alone on stdout, for `id=$(opsdeck incident open ...)`.
    println!("{id}");
    eprintln!(
        "opened {id} as {} ({}): respond within {}, escalate to {}\n  acknowledge with: opsdeck incident ack {id}",
        level.as_str(),
        level.definition(session.language),
        duration(target_seconds(level)),
        level.escalation(session.language)
    );
    announce(&service, &id, Notice::Opened).await?;
    Ok(0)
}

/// Checks the change against the incident as stored now, appends it, and reports the incident
/// as read back (with whatever another console added meanwhile).
async fn record(session: &Session, store: &Store, id: &str, change: Change) -> Result<i32> {
    let service = session.service(store);
    let notice = change.notice();
    let (before, after) = service.change(id, change.clone()).await.map_err(refused)?;
    let what = match &change {
        Change::LevelChanged { level } => {
            format!("level {} -> {}", before.level.as_str(), level.as_str())
        }
        Change::Note { .. } => "noted".to_owned(),
        Change::ActionAdded { owner, due, .. } => {
            format!("action item for {} due {due}", printable(owner))
        }
        Change::ActionDone { item } => format!("action item {item} done"),
        change => {
            let stage = change.stage().unwrap_or(Stage::Detected);
            let after_detection = after
                .stamp(stage)
                .map(|stamp| duration((stamp.at - after.detected.at).num_seconds()))
                .unwrap_or_default();
            format!(
                "{} ({after_detection} after detection)",
                stage.label(session.language)
            )
        }
    };
    println!(
        "{} [{}] {}: {what} by {}; now {}",
        after.id,
        after.level.as_str(),
        printable(&after.title),
        printable(&session.user),
        after.stage().label(session.language)
    );
    if let Some(notice) = notice {
        announce(&service, &after.id, notice).await?;
    }
    Ok(0)
}

/// An incident with what is judged from it at the moment it is shown.
#[derive(Debug, Serialize)]
struct Judged<'a> {
    #[serde(flatten)]
    incident: &'a Incident,
    stage: Stage,
    overdue: bool,
    respond_by: DateTime<Utc>,
    /// The level's `[[escalation]]` contacts.
    contacts: Vec<&'static Contact>,
}

fn judged(incident: &Incident, now: DateTime<Utc>) -> Judged<'_> {
    Judged {
        incident,
        stage: incident.stage(),
        overdue: incident.overdue(now),
        respond_by: incident.respond_by(),
        contacts: policy::current().contacts(incident.level),
    }
}

/// Open ones first, the most severe first, the newest first within a level.
fn listing_order(incidents: &mut [Incident]) {
    incidents.sort_by(|a, b| {
        (!a.is_open(), a.level, std::cmp::Reverse(a.detected.at)).cmp(&(
            !b.is_open(),
            b.level,
            std::cmp::Reverse(b.detected.at),
        ))
    });
}

async fn list(session: &Session, store: &Store, all: bool, format: Format) -> Result<i32> {
    let mut incidents = store.incidents().await?;
    incidents.retain(|incident| all || incident.is_open());
    listing_order(&mut incidents);
    let now = crate::core::model::now();
    match format {
        Format::Text => print!("{}", list_text(&incidents, session.language, now)),
        Format::Json => {
            let judged: Vec<Judged> = incidents.iter().map(|i| judged(i, now)).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "incidents": judged }))?
            );
        }
    }
    Ok(0)
}

/// How long the response took, or has taken so far, against the level's target: `12m / 1h 00m`,
/// and `OVERDUE` while nobody has acknowledged it in time.
fn response(incident: &Incident, now: DateTime<Utc>) -> String {
    let age = duration(incident.response_time(now).num_seconds());
    let target = duration(target_seconds(incident.level));
    if incident.overdue(now) {
        format!("{age} / {target} OVERDUE")
    } else {
        format!("{age} / {target}")
    }
}

fn list_text(incidents: &[Incident], language: Language, now: DateTime<Utc>) -> String {
    if incidents.is_empty() {
        return "no open incidents (resolved ones: opsdeck incident list --all)\n".to_owned();
    }
    let rows: Vec<[String; 6]> = incidents
        .iter()
        .map(|incident| {
            [
                incident.id.clone(),
                incident.level.as_str().to_owned(),
                incident.stage().label(language).to_owned(),
                response(incident, now),
                incident
                    .commander
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), printable),
                printable(&incident.title),
            ]
        })
        .collect();
    let header = [
        "ID",
        "LEVEL",
        "STAGE",
        "RESPONSE / TARGET",
        "COMMANDER",
        "TITLE",
    ];
    let widths: Vec<usize> = (0..5)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
        for (column, width) in widths.iter().enumerate() {
            let _ = write!(out, "{:<width$}  ", row[column]);
        }
        let _ = writeln!(out, "{}", row[5]);
    }
    out
}

async fn show(session: &Session, store: &Store, id: &str, format: Format) -> Result<i32> {
    let incident = incident(store, id).await?;
    let now = crate::core::model::now();
    match format {
        Format::Text => print!("{}", show_text(&incident, session.language, now)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&judged(&incident, now))?),
    }
    Ok(0)
}

fn show_text(incident: &Incident, language: Language, now: DateTime<Utc>) -> String {
    let level = incident.level;
    let mut out = format!(
        "{} [{}] {}\n  level:     {} — {}; escalate to {}\n  stage:     {}\n  response:  {}\n  affects:   {}\n  commander: {}\n",
        incident.id,
        level.as_str(),
        printable(&incident.title),
        level.as_str(),
        level.definition(language),
        level.escalation(language),
        incident.stage().label(language),
        response(incident, now),
        if incident.affects.is_empty() {
            "-".to_owned()
        } else {
            printable(&incident.affects.join(", "))
        },
        incident.commander.as_deref().map_or_else(
            || "nobody yet (opsdeck incident ack ID)".to_owned(),
            printable
        ),
    );
    out.push_str("Contacts:\n");
    for line in policy::current().contact_lines(level) {
        let _ = writeln!(out, "  {}", printable(&line));
    }
    out.push_str("Times:\n");
    for stage in [
        Stage::Detected,
        Stage::Acknowledged,
        Stage::Mitigated,
        Stage::Resolved,
        Stage::Recovered,
        Stage::PostmortemDone,
    ] {
        let line = incident.stamp(stage).map_or_else(
            || "-".to_owned(),
            |stamp| {
                format!(
                    "{} by {} (+{})",
                    when(&stamp.at),
                    printable(&stamp.by),
                    duration((stamp.at - incident.detected.at).num_seconds())
                )
            },
        );
        let _ = writeln!(out, "  {:<16} {line}", stage.label(language));
    }
    out.push_str("Timeline:\n");
    for entry in &incident.timeline {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            when(&entry.at),
            printable(&entry.by),
            printable(&entry.text)
        );
        if !entry.evidence.is_empty() {
            let _ = writeln!(out, "      evidence: {}", printable(&entry.evidence));
        }
    }
    if !incident.actions.is_empty() {
        out.push_str("Action items:\n");
        let today = now.with_timezone(&Local).date_naive();
        for (number, action) in incident.actions.iter().enumerate() {
            let late = if action.is_overdue(today) {
                " OVERDUE"
            } else {
                ""
            };
            let mark = if action.done.is_some() { "x" } else { " " };
            let _ = writeln!(
                out,
                "  {}. [{mark}] {} — owner {} — due {}{late}",
                number + 1,
                printable(&action.text),
                printable(&action.owner),
                action.due
            );
        }
    }
    out
}

async fn export_incident(
    session: &Session,
    store: &Store,
    id: &str,
    format: ExportFormat,
) -> Result<i32> {
    let incident = incident(store, id).await?;
    match format {
        ExportFormat::Md => print!(
            "{}",
            export::markdown(&incident, session.language, &Local, today())
        ),
        ExportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&export::json(
                &incident,
                crate::core::model::now(),
                today()
            ))?
        ),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::{self, Event};
    use chrono::TimeZone;

    fn opened(id: &str, level: Level, minutes_ago: i64, now: DateTime<Utc>) -> Incident {
        incidents::fold(
            id,
            &[Event {
                incident: id.into(),
                change: Change::Opened {
                    title: format!("{id} \u{1b}[31mdown"),
                    level,
                    affects: Vec::new(),
                    evidence: String::new(),
                },
                user: "alice".into(),
                host: "h".into(),
                at: now - chrono::Duration::minutes(minutes_ago),
            }],
        )
        .expect("opened")
    }

    #[test]
    fn the_list_shows_overdue_incidents_open_and_most_severe_first_with_titles_escaped() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 5, 4, 0, 0)
            .single()
            .expect("time");
        let mut resolved = opened("INC-R", Level::P0, 300, now);
        resolved.resolved = Some(incidents::Stamp {
            by: "bob".into(),
            at: now,
        });
        let mut incidents = vec![
            opened("INC-P2", Level::P2, 30, now),
            resolved,
            opened("INC-P1", Level::P1, 61, now),
        ];
        listing_order(&mut incidents);
        let text = list_text(&incidents, Language::En, now);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID "), "{text}");
        assert!(lines[1].starts_with("INC-P1 "), "{text}");
        assert!(lines[1].contains("1h 01m / 1h 00m OVERDUE"), "{text}");
        assert!(lines[1].ends_with("INC-P1 \\x1b[31mdown"), "{text}");
        assert!(lines[2].starts_with("INC-P2 "), "{text}");
        assert!(lines[2].contains("30m / 4h 00m "), "{text}");
        assert!(!lines[2].contains("OVERDUE"), "{text}");
        assert!(lines[3].starts_with("INC-R "), "{text}");
        assert!(
            lines[3].contains(" 5h 00m / 15m "),
            "the clock stopped at the resolution: {text}"
        );
        assert!(!lines[3].contains("OVERDUE"), "resolved: {text}");
        assert!(!text.contains('\u{1b}'));

        let shown = show_text(&incidents[0], Language::Ko, now);
        assert!(
            shown.contains("P1 — 핵심 기능 장애; escalate to 개발팀장, DevOps 팀장"),
            "{shown}"
        );
        assert!(shown.contains("OVERDUE"), "{shown}");
    }
}
