//! What the team is told about an incident: the headline for each notice (opened, level
//! changed, overdue, resolved), the incident's fields, whom it is addressed to (the level's
//! `[[escalation]]` contacts, in their Slack channels and mailboxes), and the JSON the webhooks
//! get. Sending it is the notifier's.

use serde_json::json;

use super::policy::{Contact, no_contact};
use super::{Incident, Level, Notice};
use crate::core::checklists::Language;
use crate::core::notify::Announcement;
use crate::core::text::{duration, printable};

/// The announcement of `notice` about `incident`, addressed to `contacts`.
pub fn announcement(incident: &Incident, notice: Notice, contacts: &[&Contact]) -> Announcement {
    let level = incident.level;
    let title = printable(&incident.title);
    let id = printable(&incident.id);
    let target = duration(i64::try_from(level.response_target().as_secs()).unwrap_or(i64::MAX));
    let headline = match notice {
        Notice::Opened => format!("[{}] {id} opened: {title}", level.as_str()),
        Notice::LevelChanged => {
            let from = incident
                .level_changes
                .last()
                .map(|change| format!("{} -> ", change.from.as_str()))
                .unwrap_or_default();
            format!(
                "[{}] {id} level changed {from}{}: {title}",
                level.as_str(),
                level.as_str()
            )
        }
        Notice::Overdue => format!(
            "[{}] {id} OVERDUE: not acknowledged within {target}: {title}",
            level.as_str()
        ),
        Notice::Resolved => {
            let lasted = incident
                .resolved
                .as_ref()
                .map(|resolved| duration((resolved.at - incident.detected.at).num_seconds()))
                .unwrap_or_default();
            format!(
                "[RESOLVED] {id} ({}) resolved after {lasted}: {title}",
                level.as_str()
            )
        }
    };
    let escalate_to = if contacts.is_empty() {
        no_contact(level)
    } else {
        contacts
            .iter()
            .map(|contact| printable(&contact.line()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let affects = if incident.affects.is_empty() {
        "-".to_owned()
    } else {
        printable(&incident.affects.join(", "))
    };
    let mut channels: Vec<String> = Vec::new();
    for contact in contacts {
        if !contact.slack.is_empty() && !channels.contains(&contact.slack) {
            channels.push(contact.slack.clone());
        }
    }
    Announcement {
        fields: vec![
            ("Incident", id),
            (
                "Level",
                format!("{} — {}", level.as_str(), level.definition(Language::En)),
            ),
            ("Affects", affects),
            ("Stage", incident.stage().label(Language::En).to_owned()),
            (
                "Detected",
                incident
                    .detected
                    .at
                    .format("%Y-%m-%d %H:%M:%S UTC")
                    .to_string(),
            ),
            ("Respond within", target),
            ("Escalate to", escalate_to.clone()),
        ],
        title: headline,
        addressed: format!("Escalate to: {escalate_to}"),
        color: match (notice, level) {
            (Notice::Resolved, _) => "good",
            (Notice::Overdue, _) | (_, Level::P0 | Level::P1) => "danger",
            _ => "warning",
        },
        channels,
        emails: contacts
            .iter()
            .filter(|contact| !contact.email.is_empty())
            .map(|contact| contact.email.clone())
            .collect(),
        webhook: json!({
            "event": format!("incident_{}", notice.as_str()),
            "notice": notice.as_str(),
            "incident": {
                "id": incident.id,
                "level": level.as_str(),
                "title": incident.title,
                "affects": incident.affects,
                "stage": incident.stage(),
                "detected_at": incident.detected.at,
                "respond_by": incident.respond_by(),
                "commander": incident.commander,
            },
            "contacts": contacts,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::{Change, Event, fold};
    use chrono::TimeZone;

    #[test]
    fn a_resolution_names_how_long_it_lasted_and_an_opening_without_contacts_says_so() {
        let at = |minute| {
            chrono::Utc
                .with_ymd_and_hms(2026, 12, 5, 3, minute, 0)
                .single()
                .expect("time")
        };
        let event = |minute, change| Event {
            incident: "INC-1".into(),
            change,
            user: "alice".into(),
            host: "h".into(),
            at: at(minute),
        };
        let opened = Change::Opened {
            title: "api \u{1b}[31mdown".into(),
            level: Level::P2,
            affects: vec!["api".into()],
            evidence: String::new(),
        };
        let open = fold("INC-1", &[event(0, opened.clone())]).expect("opened");
        let told = announcement(&open, Notice::Opened, &[]);
        assert_eq!(told.title, "[P2] INC-1 opened: api \\x1b[31mdown");
        assert_eq!(
            told.addressed,
            "Escalate to: no [[escalation]] contact for P2; add one in config.toml"
        );
        assert_eq!(told.color, "warning");
        assert!(told.channels.is_empty());
        let resolved =
            fold("INC-1", &[event(0, opened), event(42, Change::Resolved)]).expect("opened");
        let told = announcement(&resolved, Notice::Resolved, &[]);
        assert_eq!(
            told.title,
            "[RESOLVED] INC-1 (P2) resolved after 42m: api \\x1b[31mdown"
        );
        assert_eq!(told.color, "good");
        assert_eq!(told.webhook["incident"]["title"], "api \u{1b}[31mdown");
    }
}
