//! The postmortem: an incident written out in the four parts of the incident report template
//! (basic info, timeline, analysis, follow-up), as Markdown to paste into a ticket or wiki and
//! as versioned JSON for tools. The analysis is left as headings to fill in: opsdeck knows what
//! happened and when, not why.
//!
//! Titles, notes and evidence are text people typed or pasted, and end up in a document someone
//! else reads: in the Markdown their control characters become visible escapes and Markdown
//! that could change the document's structure is neutralised (as in the checklists' export).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use super::{Incident, Stage, Stamp, policy};
use crate::core::checklists::Language;
use crate::core::checklists::export::{inline, line_start};
use crate::core::text::duration;

/// The `schema` of the JSON export; raised when a field changes meaning or goes away.
pub const JSON_SCHEMA: &str = "opsdeck.incident-report/1";

/// The template's timeline times, in order, with their labels.
const TIMES: [(Stage, &str); 6] = [
    (Stage::Detected, "Detection time"),
    (Stage::Acknowledged, "Response time"),
    (Stage::Mitigated, "Mitigation time"),
    (Stage::Resolved, "Resolution time"),
    (Stage::Recovered, "Recovery time"),
    (Stage::PostmortemDone, "Postmortem done"),
];

const ANALYSIS: [&str; 4] = [
    "Root cause",
    "Impact assessment",
    "Resolution steps",
    "Prevention measures",
];

const TO_FILL: &str = "_To be filled in._";

/// The incident as a Markdown postmortem, times in `zone`; action items due before `today`
/// and still listed are marked overdue.
pub fn markdown<Tz: TimeZone>(
    incident: &Incident,
    language: Language,
    zone: &Tz,
    today: NaiveDate,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let when = |at: &DateTime<Utc>| {
        at.with_timezone(zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let level = incident.level;
    let affects = if incident.affects.is_empty() {
        "not recorded".to_owned()
    } else {
        inline(&incident.affects.join(", "))
    };
    let mut out = format!(
        "# Incident {}: {}\n\n## 1. Basic info\n\n- Incident ID: {}\n- Date/time: {}\n- Severity: {} — {} (respond within {}; escalate to {})\n- Affected systems: {affects}\n- Status: {}\n- Commander: {}\n",
        inline(&incident.id),
        line_start(&incident.title),
        inline(&incident.id),
        when(&incident.detected.at),
        level.as_str(),
        level.definition(language),
        duration(seconds(level.response_target())),
        level.escalation(language),
        incident.stage().label(language),
        incident
            .commander
            .as_deref()
            .map_or_else(|| "nobody yet".to_owned(), inline),
    );
    out.push_str("- Escalation contacts:\n");
    for line in policy::current().contact_lines(level) {
        out.push_str(&format!("  - {}\n", inline(&line)));
    }
    out.push_str("\n## 2. Timeline\n\n");
    for (stage, label) in TIMES {
        let line = match incident.stamp(stage) {
            None => "—".to_owned(),
            Some(stamp) if stage == Stage::Detected => {
                format!("{} ({})", when(&stamp.at), inline(&stamp.by))
            }
            Some(stamp) => format!(
                "{} ({}), {} after detection",
                when(&stamp.at),
                inline(&stamp.by),
                duration((stamp.at - incident.detected.at).num_seconds())
            ),
        };
        out.push_str(&format!("- {label}: {line}\n"));
    }
    out.push_str("\n### Entries\n\n");
    for entry in &incident.timeline {
        out.push_str(&format!(
            "- {} — {} — {}\n",
            when(&entry.at),
            inline(&entry.by),
            inline(&entry.text)
        ));
        if !entry.evidence.is_empty() {
            out.push_str(&format!("  - evidence: {}\n", inline(&entry.evidence)));
        }
        if let Some(link) = &entry.link {
            out.push_str(&format!("  - see: {}\n", inline(link)));
        }
    }
    out.push_str("\n## 3. Analysis\n");
    for heading in ANALYSIS {
        out.push_str(&format!("\n### {heading}\n\n{TO_FILL}\n"));
    }
    out.push_str("\n## 4. Follow-up\n\n### Action items\n\n");
    if incident.actions.is_empty() {
        out.push_str("None yet.\n");
    }
    for action in &incident.actions {
        let late = if action.is_overdue(today) {
            " (overdue)"
        } else {
            ""
        };
        let mark = if action.done.is_some() { "x" } else { " " };
        out.push_str(&format!(
            "- [{mark}] {} — owner: {} — due: {}{late}\n",
            line_start(&action.text),
            inline(&action.owner),
            action.due
        ));
    }
    out.push_str(&format!("\n### Monitoring plans\n\n{TO_FILL}\n"));
    out
}

/// Everything in the report as JSON (schema [`JSON_SCHEMA`]); text exactly as stored, times as
/// RFC 3339 UTC, durations in seconds.
pub fn json(incident: &Incident, now: DateTime<Utc>, today: NaiveDate) -> Value {
    let level = incident.level;
    let time = |stamp: Option<&Stamp>| match stamp {
        None => Value::Null,
        Some(stamp) => json!({
            "at": stamp.at,
            "by": stamp.by,
            "after_detection_seconds": (stamp.at - incident.detected.at).num_seconds(),
        }),
    };
    let actions: Vec<Value> = incident
        .actions
        .iter()
        .map(|action| {
            json!({
                "text": action.text,
                "owner": action.owner,
                "due": action.due,
                "overdue": action.is_overdue(today),
                "added_by": action.added_by,
                "added_at": action.added_at,
                "done": action.done,
            })
        })
        .collect();
    json!({
        "schema": JSON_SCHEMA,
        "basic_info": {
            "incident_id": incident.id,
            "title": incident.title,
            "date_time": incident.detected.at,
            "severity_level": level.as_str(),
            "severity": {
                "definition": {
                    "en": level.definition(Language::En),
                    "ko": level.definition(Language::Ko),
                },
                "response_target_seconds": seconds(level.response_target()),
                "escalation": {
                    "en": level.escalation(Language::En),
                    "ko": level.escalation(Language::Ko),
                },
                "contacts": policy::current().contacts(level),
            },
            "affected_systems": incident.affects,
            "status": incident.stage(),
            "commander": incident.commander,
            "overdue": incident.overdue(now),
            "level_changes": incident.level_changes,
        },
        "timeline": {
            "detection_time": time(Some(&incident.detected)),
            "response_time": time(incident.acknowledged.as_ref()),
            "mitigation_time": time(incident.mitigated.as_ref()),
            "resolution_time": time(incident.resolved.as_ref()),
            "recovery_time": time(incident.recovered.as_ref()),
            "postmortem_done_time": time(incident.postmortem_done.as_ref()),
            "entries": incident.timeline,
        },
        "analysis": {
            "root_cause": null,
            "impact_assessment": null,
            "resolution_steps": null,
            "prevention_measures": null,
        },
        "follow_up": {
            "action_items": actions,
            "monitoring_plans": null,
        },
    })
}

fn seconds(target: std::time::Duration) -> i64 {
    i64::try_from(target.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::tests::{at, event};
    use crate::core::incidents::{Change, Level, fold};

    fn incident() -> Incident {
        fold(
            "INC-1",
            &[
                event(
                    0,
                    "alice",
                    Change::Opened {
                        title: "# checkout\u{1b}[2J down".into(),
                        level: Level::P1,
                        affects: vec!["checkout".into(), "db".into()],
                        evidence: String::new(),
                    },
                ),
                event(12, "bob", Change::Acknowledged),
                event(
                    20,
                    "bob",
                    Change::Note {
                        text: "pool\nexhausted".into(),
                        evidence: "<!-- active=100".into(),
                    },
                ),
                event(
                    30,
                    "bob",
                    Change::ActionAdded {
                        text: "raise pool".into(),
                        owner: "dba".into(),
                        due: NaiveDate::from_ymd_opt(2026, 12, 6).expect("date"),
                    },
                ),
            ],
        )
        .expect("opened")
    }

    #[test]
    fn markdown_has_the_four_parts_with_times_and_neutralised_text() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
        let text = markdown(&incident(), Language::En, &Utc, today);
        for expected in [
            "# Incident INC-1: \\# checkout\\x1b[2J down\n",
            "## 1. Basic info\n",
            "- Date/time: 2026-12-05 03:00 UTC\n",
            "- Severity: P1 — core feature down (respond within 1h 00m; escalate to dev lead, DevOps lead)\n",
            "- Affected systems: checkout, db\n",
            "- Status: acknowledged\n- Commander: bob\n",
            "## 2. Timeline\n",
            "- Detection time: 2026-12-05 03:00 UTC (alice)\n",
            "- Response time: 2026-12-05 03:12 UTC (bob), 12m after detection\n",
            "- Resolution time: —\n",
            "- 2026-12-05 03:20 UTC — bob — note: pool\\nexhausted\n  - evidence: \\<!-- active=100\n",
            "## 3. Analysis\n\n### Root cause\n\n_To be filled in._\n",
            "### Prevention measures\n",
            "## 4. Follow-up\n\n### Action items\n\n- [ ] raise pool — owner: dba — due: 2026-12-06 (overdue)\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn json_keeps_text_exactly_and_times_as_offsets_from_detection() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let value = json(&incident(), at(60), today);
        assert_eq!(value["schema"], JSON_SCHEMA);
        assert_eq!(value["basic_info"]["title"], "# checkout\u{1b}[2J down");
        assert_eq!(value["basic_info"]["severity_level"], "P1");
        assert_eq!(value["basic_info"]["overdue"], false);
        assert_eq!(
            value["timeline"]["response_time"]["after_detection_seconds"],
            720
        );
        assert_eq!(value["timeline"]["resolution_time"], Value::Null);
        assert_eq!(value["follow_up"]["action_items"][0]["overdue"], false);
        assert_eq!(value["analysis"]["root_cause"], Value::Null);
    }
}
