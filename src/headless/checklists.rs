//! `opsdeck checklist`: the maintenance checklists from the command line. Where each run stands,
//! one run's items (the incident review with the incidents' overdue action items), ticking,
//! skipping, noting and signing off (every change one appended entry, checked first by the same
//! rules as the console), and the shift-handover export.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Local, NaiveDate, Utc};
use serde::Serialize;

use super::Refused;
use crate::cli::{ChecklistCommand, ExportFormat, Format, RunChoice};
use crate::core::checklists::{
    Checklist, ChecklistError, DueState, Entry, EntryKind, Item, ItemStatus, KnownNames, Language,
    RunState, definition, export, run, schedule,
};
use crate::core::incidents::{Incident, OVERDUE_ACTIONS_CHECK, overdue_actions};
use crate::core::store::Store;
use crate::core::text::printable;

/// How many earlier runs `show` points to.
const EARLIER_RUNS_SHOWN: i64 = 10;

/// What every checklist command works with: the definitions, the files that could not be read,
/// and who is at the keyboard where.
#[derive(Debug, Clone)]
pub struct Session {
    pub checklists: Vec<Checklist>,
    pub load_errors: Vec<ChecklistError>,
    pub language: Language,
    pub user: String,
    pub host: String,
}

impl Session {
    /// Loads the built-in checklists and those in `user_dir`, checking the metrics and tasks they
    /// name against `task_ids` and every metric opsdeck knows.
    pub fn load(
        user_dir: Option<&Path>,
        task_ids: Vec<String>,
        language: Language,
        user: String,
        host: String,
    ) -> Session {
        let known = KnownNames {
            metrics: crate::config::known_metric_names()
                .into_iter()
                .chain([crate::core::incidents::OVERDUE_ACTIONS_CHECK])
                .map(str::to_owned)
                .collect(),
            tasks: task_ids,
        };
        let (checklists, load_errors) = definition::load_all(user_dir, &known);
        Session {
            checklists,
            load_errors,
            language,
            user,
            host,
        }
    }
}

/// Runs one `opsdeck checklist` command; returns the exit status.
pub async fn run(session: &Session, store: &Store, command: ChecklistCommand) -> Result<i32> {
    // A broken file must not go unnoticed, whatever the command; the others still work.
    for error in &session.load_errors {
        eprintln!("opsdeck: {error}");
    }
    super::exit_status(dispatch(session, store, command).await)
}

async fn dispatch(session: &Session, store: &Store, command: ChecklistCommand) -> Result<i32> {
    match command {
        ChecklistCommand::List { format } => list(session, store, format).await,
        ChecklistCommand::Show { id, run, format } => show(session, store, &id, &run, format).await,
        ChecklistCommand::Tick {
            id,
            item,
            skip,
            note,
            reopen,
            run,
        } => {
            let (kind, text) = match (skip, reopen) {
                (Some(reason), _) => (EntryKind::Skip, reason),
                (None, true) => (EntryKind::Reopen, String::new()),
                (None, false) => (EntryKind::Tick, String::new()),
            };
            let mut planned = Vec::new();
            if let Some(note) = note {
                planned.push((EntryKind::Note, Some(item.clone()), note));
            }
            planned.push((kind, Some(item), text));
            record(session, store, &id, &run, planned).await
        }
        ChecklistCommand::Note {
            id,
            text,
            item,
            run,
        } => {
            record(
                session,
                store,
                &id,
                &run,
                vec![(EntryKind::Note, item, text)],
            )
            .await
        }
        ChecklistCommand::SignOff { id, note, run } => {
            // The remark travels in the sign-off entry itself (the run shows it as a note).
            if note.as_deref().is_some_and(|note| note.trim().is_empty()) {
                return Err(Refused(
                    "the --note of the sign-off is empty\n  fix: write the remark, or leave --note out".to_owned(),
                )
                .into());
            }
            let remark = note.unwrap_or_default();
            record(
                session,
                store,
                &id,
                &run,
                vec![(EntryKind::SignOff, None, remark)],
            )
            .await
        }
        ChecklistCommand::Export { id, run, format } => {
            export_run(session, store, &id, &run, format).await
        }
    }
}

fn checklist<'a>(session: &'a Session, id: &str) -> Result<&'a Checklist, Refused> {
    session
        .checklists
        .iter()
        .find(|checklist| checklist.id == id)
        .ok_or_else(|| {
            let known: Vec<&str> = session.checklists.iter().map(|c| c.id.as_str()).collect();
            let broken = if session.load_errors.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} checklist file(s) could not be read, see above)",
                    session.load_errors.len()
                )
            };
            Refused(format!(
                "no checklist `{}`{broken}; checklists are: {}\n  fix: pass one of those ids (`opsdeck checklist list` shows them)",
                printable(id),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
}

/// The period key of the run `choice` picks: the current period unless `--date` or `--period`.
fn period_of(checklist: &Checklist, choice: &RunChoice) -> Result<String, Refused> {
    let (flag, input) = match (&choice.date, &choice.period) {
        (Some(date), _) => ("--date", date),
        (None, Some(period)) => ("--period", period),
        (None, None) => {
            return Ok(schedule::period_key(
                checklist.period,
                crate::core::model::now(),
                &Local,
            ));
        }
    };
    schedule::period_for_input(checklist.period, input, &Local).ok_or_else(|| {
        let example = schedule::period_key(checklist.period, crate::core::model::now(), &Local);
        Refused(format!(
            "{flag} `{}` is not a day or a period of checklist `{}`\n  fix: give a day as YYYY-MM-DD, or a period key like `{example}` (the current one)",
            printable(input),
            checklist.id
        ))
    })
}

async fn load_run(store: &Store, checklist: &Checklist, period: &str) -> Result<RunState> {
    let entries = store.checklist_entries(&checklist.id, period).await?;
    Ok(run::fold(checklist, period, &entries))
}

/// Where a run stands now. `schedule::due_state` judges the current period; a run of an earlier
/// period that was never signed off can only be overdue, and one of a later period (ticked
/// ahead with `--date`) is not due yet.
fn due_state(checklist: &Checklist, run: &RunState) -> DueState {
    let now = crate::core::model::now();
    let current = schedule::period_key(checklist.period, now, &Local);
    // Keys of one period kind are zero-padded, so they compare as text in time order.
    match run.period.cmp(&current) {
        Ordering::Equal => schedule::due_state(checklist, Some(run), now, &Local),
        _ if run.signed_off.is_some() => DueState::Done,
        Ordering::Less => DueState::Overdue,
        Ordering::Greater if run.entries.is_empty() => DueState::Upcoming,
        Ordering::Greater => DueState::InProgress,
    }
}

fn when(at: &DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

#[derive(Debug, Serialize)]
struct Listed<'a> {
    id: &'a str,
    title: &'a str,
    period: String,
    state: DueState,
    resolved: usize,
    total: usize,
    signed_off: Option<&'a (String, DateTime<Utc>)>,
    source: &'a str,
}

async fn list(session: &Session, store: &Store, format: Format) -> Result<i32> {
    let mut runs = Vec::with_capacity(session.checklists.len());
    for checklist in &session.checklists {
        let period = schedule::period_key(checklist.period, crate::core::model::now(), &Local);
        runs.push(load_run(store, checklist, &period).await?);
    }
    let listed: Vec<Listed> = session
        .checklists
        .iter()
        .zip(&runs)
        .map(|(checklist, run)| {
            let (resolved, total) = run.progress();
            Listed {
                id: &checklist.id,
                title: checklist.title.get(session.language),
                period: run.period.clone(),
                state: due_state(checklist, run),
                resolved,
                total,
                signed_off: run.signed_off.as_ref(),
                source: &checklist.source,
            }
        })
        .collect();
    match format {
        Format::Text => print!("{}", list_text(&listed)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "checklists": listed,
                "errors": session.load_errors,
            }))?
        ),
    }
    Ok(if session.load_errors.is_empty() { 0 } else { 1 })
}

fn list_text(listed: &[Listed]) -> String {
    if listed.is_empty() {
        return "no checklists\n".to_owned();
    }
    let id_width = listed
        .iter()
        .map(|listed| listed.id.chars().count())
        .max()
        .unwrap_or(0)
        .max("CHECKLIST".len());
    let mut out = format!(
        "{:<id_width$}  {:<10}  {:<11}  {:<6}  TITLE\n",
        "CHECKLIST", "PERIOD", "STATE", "DONE"
    );
    for listed in listed {
        let _ = writeln!(
            out,
            "{:<id_width$}  {:<10}  {:<11}  {:<6}  {}",
            listed.id,
            printable(&listed.period),
            listed.state.label(),
            format!("{}/{}", listed.resolved, listed.total),
            printable(listed.title)
        );
    }
    out
}

async fn show(
    session: &Session,
    store: &Store,
    id: &str,
    choice: &RunChoice,
    format: Format,
) -> Result<i32> {
    let checklist = checklist(session, id)?;
    let period = period_of(checklist, choice)?;
    let run = load_run(store, checklist, &period).await?;
    let state = due_state(checklist, &run);
    match format {
        Format::Text => {
            let earlier = store
                .checklist_periods(&checklist.id, EARLIER_RUNS_SHOWN + 1)
                .await?;
            let earlier: Vec<&str> = earlier
                .iter()
                .map(|(period, _, _)| period.as_str())
                .filter(|other| *other != period)
                .take(usize::try_from(EARLIER_RUNS_SHOWN).unwrap_or(0))
                .collect();
            let review = if checklist.items.iter().any(reviews_incidents) {
                let incidents = store.incidents().await?;
                let today = crate::core::model::now().with_timezone(&Local).date_naive();
                incident_review(&incidents, today)
            } else {
                Vec::new()
            };
            print!(
                "{}",
                show_text(checklist, &run, state, session.language, &earlier, &review)
            );
        }
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&export::json(checklist, &run, state))?
        ),
    }
    Ok(0)
}

/// Whether the item shows the incidents' overdue action items (the incident procedure review).
fn reviews_incidents(item: &Item) -> bool {
    item.check
        .as_ref()
        .is_some_and(|check| check.metric == OVERDUE_ACTIONS_CHECK)
}

/// What the incident review item shows: how many action items are overdue, and the first ones.
fn incident_review(incidents: &[Incident], today: NaiveDate) -> Vec<String> {
    let overdue = overdue_actions(incidents, today);
    if overdue.is_empty() {
        return vec!["no incident action item overdue".to_owned()];
    }
    let mut lines = vec![format!(
        "{} incident action item(s) overdue:",
        overdue.len()
    )];
    lines.extend(overdue.iter().take(REVIEW_SHOWN).map(|(id, item)| {
        format!(
            "  due {} {}: {} ({})",
            item.due,
            printable(&item.owner),
            printable(&item.text),
            printable(id)
        )
    }));
    lines
}

/// How many overdue action items the incident review lists.
const REVIEW_SHOWN: usize = 3;

/// `review` goes under the item that reviews the incidents.
fn show_text(
    checklist: &Checklist,
    run: &RunState,
    state: DueState,
    language: Language,
    earlier: &[&str],
    review: &[String],
) -> String {
    let (resolved, total) = run.progress();
    let mut out = format!(
        "{} ({}) — {} — {} — {resolved}/{total} done\n",
        printable(checklist.title.get(language)),
        checklist.id,
        printable(&run.period),
        state.label()
    );
    let id_width = run
        .items
        .iter()
        .map(|item| item.item.chars().count())
        .max()
        .unwrap_or(0);
    for item_state in &run.items {
        let Some(item) = checklist
            .items
            .iter()
            .find(|item| item.id == item_state.item)
        else {
            continue;
        };
        let text = printable(item.text.get(language));
        let line = match &item_state.status {
            ItemStatus::Open if item.note_required => format!("[ ] {text} (needs a note)"),
            ItemStatus::Open => format!("[ ] {text}"),
            ItemStatus::Done { by, at } => {
                format!("[x] {text} — {} {}", printable(by), when(at))
            }
            ItemStatus::Skipped { by, at, reason } => format!(
                "[~] {text} — skipped by {} {}: {}",
                printable(by),
                when(at),
                printable(reason)
            ),
        };
        let _ = writeln!(out, "  {:<id_width$}  {line}", item.id);
        if reviews_incidents(item) {
            for line in review {
                let _ = writeln!(out, "  {:<id_width$}      {line}", "");
            }
        }
        for (by, at, note) in &item_state.notes {
            let _ = writeln!(
                out,
                "  {:<id_width$}      note {} {}: {}",
                "",
                printable(by),
                when(at),
                printable(note)
            );
        }
    }
    if !run.notes.is_empty() {
        out.push_str("Run notes:\n");
        for (by, at, note) in &run.notes {
            let _ = writeln!(out, "  {} {}: {}", printable(by), when(at), printable(note));
        }
    }
    match &run.signed_off {
        Some((by, at)) => {
            let _ = writeln!(out, "Signed off by {} {}.", printable(by), when(at));
        }
        None => out.push_str("Not signed off.\n"),
    }
    if !earlier.is_empty() {
        let earlier: Vec<String> = earlier.iter().map(|period| printable(period)).collect();
        let _ = writeln!(
            out,
            "Earlier runs: {} (show one with --period)",
            earlier.join(", ")
        );
    }
    out
}

/// Checks every planned entry against the run as it will be by then (a note before a tick
/// counts for the tick), and only when all pass appends them, in order.
async fn record(
    session: &Session,
    store: &Store,
    id: &str,
    choice: &RunChoice,
    planned: Vec<(EntryKind, Option<String>, String)>,
) -> Result<i32> {
    let checklist = checklist(session, id)?;
    let period = period_of(checklist, choice)?;
    let mut entries = store.checklist_entries(&checklist.id, &period).await?;
    let mut run = run::fold(checklist, &period, &entries);
    let mut new = Vec::with_capacity(planned.len());
    for (kind, item, text) in planned {
        if let Err(message) = run::check_entry(checklist, &run, kind, item.as_deref(), &text) {
            let hint = match item.as_deref() {
                Some(item)
                    if kind == EntryKind::Tick && lacks_required_note(checklist, &run, item) =>
                {
                    format!(
                        "\n  fix: opsdeck checklist tick {} {item} --note TEXT",
                        checklist.id
                    )
                }
                _ => String::new(),
            };
            return Err(Refused(format!("{message}{hint}")).into());
        }
        let entry = Entry {
            checklist: checklist.id.clone(),
            period: period.clone(),
            item,
            kind,
            text,
            user: session.user.clone(),
            host: session.host.clone(),
            at: crate::core::model::now(),
        };
        entries.push(entry.clone());
        run = run::fold(checklist, &period, &entries);
        new.push(entry);
    }
    for entry in &new {
        store.append_checklist_entry(entry).await?;
    }
    // Read back: another console may have added entries meanwhile, and they count too.
    let run = load_run(store, checklist, &period).await?;
    let (resolved, total) = run.progress();
    for entry in &new {
        let what = match entry.kind {
            EntryKind::Tick => "ticked",
            EntryKind::Reopen => "reopened",
            EntryKind::Skip => "skipped",
            EntryKind::Note => "noted",
            EntryKind::SignOff => "signed off",
        };
        let subject = entry
            .item
            .as_deref()
            .map_or_else(String::new, |item| format!(" {item}"));
        println!(
            "{} {}{subject}: {what} by {} ({resolved}/{total} done)",
            checklist.id,
            printable(&period),
            printable(&entry.user)
        );
    }
    Ok(0)
}

/// Whether `item` needs a note before its tick and has none yet (the command line can say how
/// to give both at once).
fn lacks_required_note(checklist: &Checklist, run: &RunState, item: &str) -> bool {
    let required = checklist
        .items
        .iter()
        .any(|defined| defined.id == item && defined.note_required);
    required
        && run
            .items
            .iter()
            .any(|state| state.item == item && state.notes.is_empty())
}

async fn export_run(
    session: &Session,
    store: &Store,
    id: &str,
    choice: &RunChoice,
    format: ExportFormat,
) -> Result<i32> {
    let checklist = checklist(session, id)?;
    let period = period_of(checklist, choice)?;
    let run = load_run(store, checklist, &period).await?;
    let state = due_state(checklist, &run);
    match format {
        ExportFormat::Md => print!(
            "{}",
            export::markdown(checklist, &run, state, session.language, &session.host)
        ),
        ExportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&export::json(checklist, &run, state))?
        ),
    }
    Ok(0)
}
