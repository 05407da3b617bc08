//! A run's state, folded from its log of entries, and the rules an entry must pass before it is
//! written. The log is the truth: the state is recomputed from it every time, so entries two
//! consoles wrote at once simply both count.

use super::{Checklist, Entry, EntryKind, ItemState, ItemStatus, RunState};

/// Folds the entries of one run into its state. Entries of other runs are ignored; entries for
/// items the checklist no longer defines stay in `entries` only.
pub fn fold(checklist: &Checklist, period: &str, entries: &[Entry]) -> RunState {
    let mut entries: Vec<Entry> = entries
        .iter()
        .filter(|entry| entry.checklist == checklist.id && entry.period == period)
        .cloned()
        .collect();
    // Stable: entries of the same moment keep their log order.
    entries.sort_by_key(|entry| entry.at);
    let mut run = RunState {
        checklist: checklist.id.clone(),
        period: period.to_owned(),
        items: checklist
            .items
            .iter()
            .map(|item| ItemState {
                item: item.id.clone(),
                status: ItemStatus::Open,
                notes: Vec::new(),
            })
            .collect(),
        notes: Vec::new(),
        signed_off: None,
        started_at: entries.first().map(|entry| entry.at),
        entries: Vec::new(),
    };
    for entry in &entries {
        apply(&mut run, entry);
    }
    run.entries = entries;
    run
}

fn apply(run: &mut RunState, entry: &Entry) {
    let by = entry.user.clone();
    let at = entry.at;
    let item = entry
        .item
        .as_deref()
        .and_then(|id| run.items.iter_mut().find(|state| state.item == id));
    match (entry.kind, item) {
        (EntryKind::Tick, Some(item)) => item.status = ItemStatus::Done { by, at },
        (EntryKind::Skip, Some(item)) => {
            item.status = ItemStatus::Skipped {
                by,
                at,
                reason: entry.text.clone(),
            }
        }
        (EntryKind::Reopen, Some(item)) => {
            item.status = ItemStatus::Open;
            // The sign-off vouched for a run with nothing left open; once something is open
            // again it no longer does, and the run has to be signed off anew.
            run.signed_off = None;
        }
        (EntryKind::Note, Some(item)) => item.notes.push((by, at, entry.text.clone())),
        (EntryKind::Note, None) if entry.item.is_none() => {
            run.notes.push((by, at, entry.text.clone()))
        }
        (EntryKind::SignOff, _) => {
            // A sign-off may carry a closing remark; it reads as a note on the run.
            if !entry.text.is_empty() {
                run.notes.push((by.clone(), at, entry.text.clone()));
            }
            run.signed_off = Some((by, at));
        }
        // An item no longer in the checklist: kept in the log, not shown as an item.
        _ => {}
    }
}

/// Whether `kind` on `item` with `text` may be added to `run`; the refusal says what is wrong and
/// how to put it right.
pub fn check_entry(
    checklist: &Checklist,
    run: &RunState,
    kind: EntryKind,
    item: Option<&str>,
    text: &str,
) -> Result<(), String> {
    let ids = || {
        checklist
            .items
            .iter()
            .map(|item| item.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let state = match item {
        Some(id) => match run.items.iter().find(|state| state.item == id) {
            Some(state) if checklist.items.iter().any(|item| item.id == id) => Some(state),
            _ => {
                return Err(format!(
                    "checklist `{}` has no item `{id}`; its items are: {}",
                    checklist.id,
                    ids()
                ));
            }
        },
        None => None,
    };
    match (kind, state) {
        (EntryKind::Tick | EntryKind::Skip | EntryKind::Reopen, None) => Err(format!(
            "{} needs an item of checklist `{}`: one of {}",
            kind.as_str(),
            checklist.id,
            ids()
        )),
        (EntryKind::SignOff, Some(state)) => Err(format!(
            "a sign-off is for the whole run, not for item `{}`; leave the item out",
            state.item
        )),
        (EntryKind::Skip, Some(state)) if text.trim().is_empty() => Err(format!(
            "skipping `{}` needs a reason; give the reason it is not done",
            state.item
        )),
        (EntryKind::Note, _) if text.trim().is_empty() => {
            Err("the note is empty; write what you want to note".to_owned())
        }
        (EntryKind::Tick, Some(state))
            if state.notes.is_empty() && note_required(checklist, &state.item) =>
        {
            Err(format!(
                "`{}` needs a note before it is ticked; add a note first: what you checked and what you found",
                state.item
            ))
        }
        (EntryKind::Reopen, Some(state)) if state.status == ItemStatus::Open => Err(format!(
            "`{}` is not ticked or skipped, so there is nothing to reopen",
            state.item
        )),
        (EntryKind::SignOff, None) => {
            if let Some((by, _)) = &run.signed_off {
                return Err(format!(
                    "`{}` {} is already signed off by {by}; reopen an item first to sign it off again",
                    checklist.id, run.period
                ));
            }
            let open: Vec<&str> = run
                .items
                .iter()
                .filter(|state| state.status == ItemStatus::Open)
                .map(|state| state.item.as_str())
                .collect();
            if open.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "cannot sign off `{}` {}: {} of {} items still open: {}; tick or skip them first",
                    checklist.id,
                    run.period,
                    open.len(),
                    run.items.len(),
                    open.join(", ")
                ))
            }
        }
        _ => Ok(()),
    }
}

fn note_required(checklist: &Checklist, id: &str) -> bool {
    checklist
        .items
        .iter()
        .any(|item| item.id == id && item.note_required)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::core::checklists::{Item, Period, Text};

    fn item(id: &str, note_required: bool) -> Item {
        Item {
            id: id.into(),
            text: Text {
                en: format!("Check {id}"),
                ko: None,
            },
            check: None,
            task: None,
            note_required,
        }
    }

    fn checklist() -> Checklist {
        Checklist {
            id: "daily".into(),
            title: Text {
                en: "Daily checks".into(),
                ko: None,
            },
            period: Period::Day,
            schedule: "0 9 * * *".into(),
            overdue_after: Duration::from_secs(3600),
            items: vec![
                item("disk", false),
                item("backups", true),
                item("certs", false),
            ],
            source: "builtin:daily.toml".into(),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0)
            .single()
            .expect("time")
    }

    fn entry(item: Option<&str>, kind: EntryKind, text: &str, user: &str, seconds: i64) -> Entry {
        Entry {
            checklist: "daily".into(),
            period: "2027-01-15".into(),
            item: item.map(str::to_owned),
            kind,
            text: text.into(),
            user: user.into(),
            host: "web-1".into(),
            at: at(seconds),
        }
    }

    fn status(run: &RunState, id: &str) -> ItemStatus {
        run.items
            .iter()
            .find(|state| state.item == id)
            .expect("item")
            .status
            .clone()
    }

    #[test]
    fn an_empty_log_is_an_unstarted_run_with_every_item_open() {
        let run = fold(&checklist(), "2027-01-15", &[]);
        let ids: Vec<&str> = run.items.iter().map(|state| state.item.as_str()).collect();
        assert_eq!(ids, ["disk", "backups", "certs"]);
        assert!(
            run.items
                .iter()
                .all(|state| state.status == ItemStatus::Open)
        );
        assert_eq!(run.started_at, None);
        assert_eq!(run.progress(), (0, 3));
    }

    #[test]
    fn the_last_entry_per_item_wins_by_time_not_by_log_position() {
        // Written out of order, as two consoles with slightly different clocks may.
        let entries = [
            entry(Some("disk"), EntryKind::Reopen, "", "bob", 20),
            entry(Some("disk"), EntryKind::Tick, "", "alice", 10),
            entry(Some("certs"), EntryKind::Tick, "", "alice", 5),
            entry(
                Some("backups"),
                EntryKind::Skip,
                "no backups today",
                "bob",
                30,
            ),
        ];
        let run = fold(&checklist(), "2027-01-15", &entries);
        assert_eq!(status(&run, "disk"), ItemStatus::Open);
        assert_eq!(
            status(&run, "certs"),
            ItemStatus::Done {
                by: "alice".into(),
                at: at(5)
            }
        );
        assert_eq!(
            status(&run, "backups"),
            ItemStatus::Skipped {
                by: "bob".into(),
                at: at(30),
                reason: "no backups today".into()
            }
        );
        assert_eq!(run.started_at, Some(at(5)));
        assert_eq!(run.progress(), (2, 3));
        let times: Vec<i64> = run.entries.iter().map(|e| e.at.timestamp()).collect();
        assert!(times.is_sorted(), "entries oldest first: {times:?}");
    }

    #[test]
    fn entries_of_the_same_moment_keep_their_log_order() {
        let entries = [
            entry(Some("disk"), EntryKind::Tick, "", "alice", 10),
            entry(Some("disk"), EntryKind::Reopen, "", "alice", 10),
        ];
        let run = fold(&checklist(), "2027-01-15", &entries);
        assert_eq!(status(&run, "disk"), ItemStatus::Open);
        let reversed = [entries[1].clone(), entries[0].clone()];
        let run = fold(&checklist(), "2027-01-15", &reversed);
        assert!(matches!(status(&run, "disk"), ItemStatus::Done { .. }));
    }

    #[test]
    fn notes_go_to_their_item_or_the_run_and_sign_off_is_cleared_by_a_reopen() {
        let raw = "line1\nline2\u{1b}[31m";
        let entries = [
            entry(Some("backups"), EntryKind::Note, raw, "alice", 1),
            entry(None, EntryKind::Note, "handover: all quiet", "alice", 2),
            entry(Some("gone"), EntryKind::Note, "old item", "alice", 3),
            entry(Some("disk"), EntryKind::Tick, "", "alice", 4),
            entry(Some("backups"), EntryKind::Tick, "", "alice", 5),
            entry(
                Some("certs"),
                EntryKind::Skip,
                "renewed yesterday",
                "bob",
                6,
            ),
            entry(None, EntryKind::SignOff, "", "carol", 7),
        ];
        let run = fold(&checklist(), "2027-01-15", &entries);
        assert_eq!(
            run.items[1].notes,
            vec![("alice".into(), at(1), raw.into())]
        );
        assert!(run.items[0].notes.is_empty());
        assert_eq!(
            run.notes,
            vec![("alice".into(), at(2), "handover: all quiet".into())]
        );
        assert_eq!(run.signed_off, Some(("carol".into(), at(7))));
        assert_eq!(
            run.entries.len(),
            entries.len(),
            "unknown items stay in the log"
        );

        let mut reopened = entries.to_vec();
        reopened.push(entry(Some("certs"), EntryKind::Reopen, "", "dave", 8));
        let run = fold(&checklist(), "2027-01-15", &reopened);
        assert_eq!(run.signed_off, None);
        assert_eq!(status(&run, "certs"), ItemStatus::Open);
    }

    #[test]
    fn a_sign_off_remark_is_a_run_note_and_other_runs_are_ignored() {
        let mut other = entry(Some("disk"), EntryKind::Tick, "", "alice", 1);
        other.period = "2027-01-14".into();
        let entries = [
            other,
            entry(None, EntryKind::SignOff, "see ticket 42", "carol", 2),
        ];
        let run = fold(&checklist(), "2027-01-15", &entries);
        assert_eq!(status(&run, "disk"), ItemStatus::Open);
        assert_eq!(
            run.notes,
            vec![("carol".into(), at(2), "see ticket 42".into())]
        );
        assert_eq!(run.entries.len(), 1);
    }

    #[test]
    fn refusals_name_the_problem_and_the_fix() {
        let checklist = checklist();
        let fresh = fold(&checklist, "2027-01-15", &[]);
        let check = |run: &RunState, kind, item: Option<&str>, text: &str| {
            check_entry(&checklist, run, kind, item, text)
        };

        let unknown = check(&fresh, EntryKind::Tick, Some("dsik"), "").expect_err("unknown");
        assert_eq!(
            unknown,
            "checklist `daily` has no item `dsik`; its items are: disk, backups, certs"
        );
        let no_item = check(&fresh, EntryKind::Tick, None, "").expect_err("no item");
        assert!(no_item.contains("disk, backups, certs"), "{no_item}");

        let no_reason = check(&fresh, EntryKind::Skip, Some("disk"), "  ").expect_err("reason");
        assert!(no_reason.contains("needs a reason"), "{no_reason}");
        assert_eq!(check(&fresh, EntryKind::Skip, Some("disk"), "n/a"), Ok(()));

        let empty = check(&fresh, EntryKind::Note, Some("disk"), "\n").expect_err("empty");
        assert!(empty.contains("note is empty"), "{empty}");
        assert_eq!(check(&fresh, EntryKind::Note, None, "run note"), Ok(()));

        let unnoted = check(&fresh, EntryKind::Tick, Some("backups"), "").expect_err("note");
        assert!(unnoted.contains("add a note first: "), "{unnoted}");
        let noted = fold(
            &checklist,
            "2027-01-15",
            &[entry(
                Some("backups"),
                EntryKind::Note,
                "restored ok",
                "alice",
                1,
            )],
        );
        assert_eq!(check(&noted, EntryKind::Tick, Some("backups"), ""), Ok(()));
        assert_eq!(check(&fresh, EntryKind::Tick, Some("disk"), ""), Ok(()));

        let nothing = check(&fresh, EntryKind::Reopen, Some("disk"), "").expect_err("open");
        assert!(nothing.contains("nothing to reopen"), "{nothing}");

        let partly = fold(
            &checklist,
            "2027-01-15",
            &[entry(Some("disk"), EntryKind::Tick, "", "alice", 1)],
        );
        let open = check(&partly, EntryKind::SignOff, None, "").expect_err("open items");
        assert_eq!(
            open,
            "cannot sign off `daily` 2027-01-15: 2 of 3 items still open: backups, certs; tick or skip them first"
        );
        let on_item = check(&partly, EntryKind::SignOff, Some("disk"), "").expect_err("item");
        assert!(on_item.contains("whole run"), "{on_item}");
    }

    #[test]
    fn a_complete_run_may_be_signed_off_once() {
        let checklist = checklist();
        let mut entries = vec![
            entry(Some("disk"), EntryKind::Tick, "", "alice", 1),
            entry(
                Some("backups"),
                EntryKind::Skip,
                "no backups on holidays",
                "alice",
                2,
            ),
            entry(Some("certs"), EntryKind::Tick, "", "alice", 3),
        ];
        let run = fold(&checklist, "2027-01-15", &entries);
        assert_eq!(
            check_entry(&checklist, &run, EntryKind::SignOff, None, ""),
            Ok(())
        );
        entries.push(entry(None, EntryKind::SignOff, "", "carol", 4));
        let run = fold(&checklist, "2027-01-15", &entries);
        let again =
            check_entry(&checklist, &run, EntryKind::SignOff, None, "").expect_err("signed off");
        assert!(again.contains("already signed off by carol"), "{again}");
    }
}
