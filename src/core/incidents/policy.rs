//! The team's incident policy: each level's response target and labels (the guide's, unless the
//! configuration says otherwise) and the `[[escalation]]` contacts to call at each level.
//!
//! It is installed once per process from the configuration, before any incident is read, so
//! every view of an incident (the pane, the CLI, the export, the rules, the notifications)
//! judges it against the same targets without each of them carrying the configuration around.
//! A process that installs nothing (unit tests, tools) gets the guide's levels and no contacts.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use serde::Serialize;

use super::Level;

/// One level as the team runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelPolicy {
    /// How soon someone must acknowledge an incident of this level.
    pub respond_within: Duration,
    /// Replaces the guide's definition in both languages.
    pub definition: Option<String>,
    /// Replaces the guide's "escalate to" in both languages.
    pub escalate: Option<String>,
}

/// Someone to call at a level: at least one of phone, Slack channel and email is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub level: Level,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    /// A Slack channel such as `#ops-p0`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub slack: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
}

impl Contact {
    /// `Kim Minsu (CTO)`, or the name alone without a role.
    pub fn label(&self) -> String {
        if self.role.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.role)
        }
    }

    /// The label and every way to reach them: `Kim Minsu (CTO): phone 010-…, slack #ops, email …`.
    pub fn line(&self) -> String {
        let ways: Vec<String> = [
            ("phone", &self.phone),
            ("slack", &self.slack),
            ("email", &self.email),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(how, value)| format!("{how} {value}"))
        .collect();
        format!("{}: {}", self.label(), ways.join(", "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    levels: [LevelPolicy; 5],
    contacts: Vec<Contact>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::guide()
    }
}

impl Policy {
    /// The guide's levels (004, "장애 레벨 정의") and nobody to call.
    pub fn guide() -> Policy {
        Policy {
            levels: Level::ALL.map(|level| LevelPolicy {
                respond_within: level.guide_response_target(),
                definition: None,
                escalate: None,
            }),
            contacts: Vec::new(),
        }
    }

    pub fn set_level(&mut self, level: Level, policy: LevelPolicy) {
        self.levels[level as usize] = policy;
    }

    pub fn add_contact(&mut self, contact: Contact) {
        self.contacts.push(contact);
    }

    pub fn level(&self, level: Level) -> &LevelPolicy {
        &self.levels[level as usize]
    }

    /// Whom to call at `level`, in the order configured.
    pub fn contacts(&self, level: Level) -> Vec<&Contact> {
        self.contacts
            .iter()
            .filter(|contact| contact.level == level)
            .collect()
    }

    /// One line per contact at `level`, or the one line saying there is none and how to add one.
    pub fn contact_lines(&self, level: Level) -> Vec<String> {
        let contacts = self.contacts(level);
        if contacts.is_empty() {
            return vec![no_contact(level)];
        }
        contacts.iter().map(|contact| contact.line()).collect()
    }
}

/// What is shown where the contacts would be when a level has none.
pub fn no_contact(level: Level) -> String {
    format!(
        "no [[escalation]] contact for {}; add one in config.toml",
        level.as_str()
    )
}

static INSTALLED: OnceLock<Policy> = OnceLock::new();
static GUIDE: LazyLock<Policy> = LazyLock::new(Policy::guide);

/// Makes `policy` the one this process judges incidents by; `false` when one was installed
/// before, which stays (the configuration is read once, at start).
pub fn install(policy: Policy) -> bool {
    INSTALLED.set(policy).is_ok()
}

/// The installed policy, or the guide's when none was installed.
pub fn current() -> &'static Policy {
    INSTALLED.get().unwrap_or(&GUIDE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_levels_replace_the_guide_and_contacts_are_per_level() {
        let mut policy = Policy::guide();
        assert_eq!(
            policy.level(Level::P0).respond_within,
            Duration::from_secs(15 * 60)
        );
        policy.set_level(
            Level::P2,
            LevelPolicy {
                respond_within: Duration::from_secs(2),
                definition: Some("checkout slow".into()),
                escalate: None,
            },
        );
        policy.add_contact(Contact {
            level: Level::P2,
            name: "Kim".into(),
            role: "DBA".into(),
            phone: String::new(),
            slack: "#db".into(),
            email: "kim@example.com".into(),
        });
        assert_eq!(
            policy.level(Level::P2).respond_within,
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.level(Level::P3).respond_within,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(
            policy.contact_lines(Level::P2),
            ["Kim (DBA): slack #db, email kim@example.com"]
        );
        assert_eq!(
            policy.contact_lines(Level::P1),
            ["no [[escalation]] contact for P1; add one in config.toml"]
        );
    }
}
