//! A run written out for the shift handover: a Markdown document to paste into a ticket or chat,
//! and JSON with everything, raw entries included, for tools.
//!
//! Text people typed (notes, skip reasons) and text from checklist files lands in a document
//! someone else reads, so it is made harmless first: control characters become visible escapes
//! (nothing can break a line or forge one), and Markdown that could change the document's
//! structure is neutralised.

use chrono::{DateTime, Local, TimeZone, Utc};
use serde_json::{Value, json};

use super::{Checklist, DueState, ItemStatus, Language, RunState};
use crate::core::text::printable;

/// The run as a Markdown handover document, times in local time.
pub fn markdown(
    checklist: &Checklist,
    run: &RunState,
    state: DueState,
    language: Language,
    host: &str,
) -> String {
    render(checklist, run, state, language, host, &Local)
}

fn render<Tz: TimeZone>(
    checklist: &Checklist,
    run: &RunState,
    state: DueState,
    language: Language,
    host: &str,
    zone: &Tz,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let when = |at: &DateTime<Utc>| {
        at.with_timezone(zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let (resolved, total) = run.progress();
    let mut out = format!(
        "# {}\n\n- Checklist: {} ({})\n- Period: {}\n- Host: {}\n- State: {}\n- Progress: {resolved}/{total}\n\n## Items\n\n",
        line_start(checklist.title.get(language)),
        inline(&checklist.id),
        inline(&checklist.source),
        inline(&run.period),
        inline(host),
        state.label(),
    );
    for state in &run.items {
        let text = checklist
            .items
            .iter()
            .find(|item| item.id == state.item)
            .map_or(state.item.as_str(), |item| item.text.get(language));
        let line = match &state.status {
            ItemStatus::Open => format!("- [ ] {}", line_start(text)),
            ItemStatus::Done { by, at } => {
                format!(
                    "- [x] {} — by {} {}",
                    line_start(text),
                    inline(by),
                    when(at)
                )
            }
            ItemStatus::Skipped { by, at, reason } => format!(
                "- [~] {} — skipped by {} {}: {}",
                line_start(text),
                inline(by),
                when(at),
                inline(reason)
            ),
        };
        out.push_str(&line);
        out.push('\n');
        for (by, at, note) in &state.notes {
            out.push_str(&format!(
                "  - {} {}: {}\n",
                inline(by),
                when(at),
                inline(note)
            ));
        }
    }
    if !run.notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for (by, at, note) in &run.notes {
            out.push_str(&format!(
                "- {} {}: {}\n",
                inline(by),
                when(at),
                inline(note)
            ));
        }
    }
    match &run.signed_off {
        Some((by, at)) => out.push_str(&format!("\nSigned off by {} {}.\n", inline(by), when(at))),
        None => out.push_str("\nNot signed off.\n"),
    }
    out
}

/// Text inside a line: one line whatever it holds, and no HTML (an unclosed `<!--` in a note
/// would hide the rest of the document when rendered).
pub fn inline(text: &str) -> String {
    printable(text).replace('<', "\\<")
}

/// Text that starts a line's content (after `# ` or `- [x] `), where a leading `#`, `>`, `-`,
/// `1.` and the like would turn it into a heading, quote or list of its own.
pub fn line_start(text: &str) -> String {
    let text = inline(text);
    let text = text.trim_start();
    let digits = text.len()
        - text
            .trim_start_matches(|ch: char| ch.is_ascii_digit())
            .len();
    let marker = text[digits..].chars().next();
    match marker {
        Some(ch @ ('.' | ')')) if digits > 0 => {
            format!("{}\\{ch}{}", &text[..digits], &text[digits + 1..])
        }
        Some('#' | '>' | '-' | '+' | '*' | '=' | '_' | '~' | '`' | '|' | '[' | '!')
            if digits == 0 =>
        {
            format!("\\{text}")
        }
        _ => text.to_owned(),
    }
}

/// Everything about the run: the definition, its state and progress, and the raw entries.
pub fn json(checklist: &Checklist, run: &RunState, state: DueState) -> Value {
    let (resolved, total) = run.progress();
    json!({
        "checklist": checklist,
        "period": run.period,
        "state": state,
        "progress": { "resolved": resolved, "total": total },
        "run": run,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::checklists::run::fold;
    use crate::core::checklists::{Entry, EntryKind, Item, Period, Text};

    fn item(id: &str, en: &str, ko: Option<&str>) -> Item {
        Item {
            id: id.into(),
            text: Text {
                en: en.into(),
                ko: ko.map(str::to_owned),
            },
            check: None,
            task: None,
            note_required: false,
        }
    }

    fn checklist() -> Checklist {
        Checklist {
            id: "daily".into(),
            title: Text {
                en: "Daily checks".into(),
                ko: Some("일일 점검".into()),
            },
            period: Period::Day,
            schedule: "0 9 * * *".into(),
            overdue_after: Duration::from_secs(3600),
            items: vec![
                item(
                    "disk",
                    "Disk usage below 80%",
                    Some("디스크 사용량 80% 미만"),
                ),
                item("backups", "Last night's backup verified", None),
                item("certs", "# 1. Certificates valid > 14 days", None),
            ],
            source: "builtin:daily.toml".into(),
        }
    }

    fn entry(item: Option<&str>, kind: EntryKind, text: &str, user: &str, minute: i64) -> Entry {
        Entry {
            checklist: "daily".into(),
            period: "2027-01-15".into(),
            item: item.map(str::to_owned),
            kind,
            text: text.into(),
            user: user.into(),
            host: "web-1".into(),
            at: Utc
                .timestamp_opt(1_799_999_940 + minute * 60, 0)
                .single()
                .expect("time"),
        }
    }

    #[test]
    fn the_document_shows_exactly_what_was_ticked_skipped_and_noted() {
        let entries = [
            entry(Some("disk"), EntryKind::Tick, "", "alice", 1),
            entry(Some("disk"), EntryKind::Note, "/var at 71%", "alice", 2),
            entry(
                Some("certs"),
                EntryKind::Skip,
                "renewal <!-- ticket",
                "bob",
                3,
            ),
            entry(None, EntryKind::Note, "line1\nline2\u{1b}[31m", "alice", 4),
        ];
        let run = fold(&checklist(), "2027-01-15", &entries);
        let document = render(
            &checklist(),
            &run,
            DueState::InProgress,
            Language::En,
            "web-1",
            &Utc,
        );
        assert_eq!(
            document,
            "# Daily checks

- Checklist: daily (builtin:daily.toml)
- Period: 2027-01-15
- Host: web-1
- State: in progress
- Progress: 2/3

## Items

- [x] Disk usage below 80% — by alice 2027-01-15 08:00 UTC
  - alice 2027-01-15 08:01 UTC: /var at 71%
- [ ] Last night's backup verified
- [~] \\# 1. Certificates valid > 14 days — skipped by bob 2027-01-15 08:02 UTC: renewal \\<!-- ticket

## Notes

- alice 2027-01-15 08:03 UTC: line1\\nline2\\x1b[31m

Not signed off.
"
        );
    }

    #[test]
    fn a_signed_off_run_in_korean_uses_the_korean_text_where_there_is_one() {
        let entries = [
            entry(Some("disk"), EntryKind::Tick, "", "alice", 1),
            entry(Some("backups"), EntryKind::Tick, "", "alice", 2),
            entry(Some("certs"), EntryKind::Tick, "", "alice", 3),
            entry(None, EntryKind::SignOff, "", "carol", 4),
        ];
        let run = fold(&checklist(), "2027-01-15", &entries);
        let document = render(
            &checklist(),
            &run,
            DueState::Done,
            Language::Ko,
            "web-1",
            &Utc,
        );
        assert!(document.starts_with("# 일일 점검\n"), "{document}");
        assert!(
            document.contains("- [x] 디스크 사용량 80% 미만 — by alice"),
            "{document}"
        );
        assert!(document.contains("- [x] Last night's backup verified — by alice"));
        assert!(document.contains("- Progress: 3/3\n"));
        assert!(document.ends_with("\nSigned off by carol 2027-01-15 08:03 UTC.\n"));
    }

    #[test]
    fn line_starts_that_markdown_would_read_as_structure_are_neutralised() {
        assert_eq!(line_start("## big"), "\\## big");
        assert_eq!(line_start("> quote"), "\\> quote");
        assert_eq!(line_start("- [x] forged"), "\\- [x] forged");
        assert_eq!(line_start("12. item"), "12\\. item");
        assert_eq!(line_start("3) item"), "3\\) item");
        assert_eq!(line_start("    code"), "code");
        assert_eq!(line_start("2026 was fine"), "2026 was fine");
        assert_eq!(line_start("plain"), "plain");
        assert_eq!(inline("a\nb <b>"), "a\\nb \\<b>");
    }

    #[test]
    fn json_has_the_definition_the_state_and_the_raw_entries() {
        let raw = "line1\nline2\u{1b}[31m";
        let entries = [entry(Some("disk"), EntryKind::Note, raw, "alice", 1)];
        let run = fold(&checklist(), "2027-01-15", &entries);
        let value = json(&checklist(), &run, DueState::InProgress);
        assert_eq!(value["checklist"]["id"], "daily");
        assert_eq!(value["period"], "2027-01-15");
        assert_eq!(value["state"], "in_progress");
        assert_eq!(value["progress"], json!({"resolved": 0, "total": 3}));
        assert_eq!(value["run"]["entries"][0]["text"], raw);
        assert_eq!(value["run"]["entries"][0]["kind"], "note");
        assert_eq!(value["run"]["items"][0]["status"]["state"], "open");
    }
}
