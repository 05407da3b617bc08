//! `[incidents.levels.P0]` … `[incidents.levels.P4]` (a level's response target and labels over
//! the guide's) and `[[escalation]]` contacts, checked with the place of each mistake and built
//! into the incident policy.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::DurationValue;
use super::diagnostics::ConfigError;
use crate::core::incidents::Level;
use crate::core::incidents::policy::{Contact, Policy};

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// By level name (`P0` … `P4`).
    pub levels: BTreeMap<String, toml::Spanned<LevelConfig>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LevelConfig {
    pub respond_within: Option<toml::Spanned<DurationValue>>,
    pub definition: Option<String>,
    pub escalate: Option<String>,
}

/// One `[[escalation]]` entry. Every field defaults to empty so that a missing one is reported
/// with what to write, not as a bare "missing field".
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationConfig {
    pub level: String,
    pub name: String,
    pub role: String,
    pub phone: String,
    pub slack: String,
    pub email: String,
}

const LEVEL_NAMES: &str = "P0, P1, P2, P3 or P4";

/// The policy the file describes: the guide's levels with the configured changes, and the
/// contacts in the order written.
pub fn build_policy(
    incidents: &IncidentsConfig,
    escalation: &[toml::Spanned<EscalationConfig>],
    file: &str,
    source: &str,
) -> Result<Policy, ConfigError> {
    let mut policy = Policy::guide();
    for (name, spanned) in &incidents.levels {
        let at = |offset: usize, message: String, fix: String| {
            ConfigError::at(file, source, offset, message, Some(fix))
        };
        let Some(level) = Level::parse(name) else {
            return Err(at(
                spanned.span().start,
                format!("[incidents.levels.{name}]: `{name}` is not a level"),
                format!("name the table after a level: {LEVEL_NAMES}"),
            ));
        };
        let configured = spanned.get_ref();
        let mut level_policy = policy.level(level).clone();
        if let Some(within) = &configured.respond_within {
            if within.get_ref().0.is_zero() {
                return Err(at(
                    within.span().start,
                    format!("{} respond_within is 0", level.as_str()),
                    "give the time someone has to acknowledge, e.g. respond_within = \"15m\""
                        .to_owned(),
                ));
            }
            level_policy.respond_within = within.get_ref().0;
        }
        let label = |text: &Option<String>| {
            text.as_ref()
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty())
        };
        if let Some(definition) = label(&configured.definition) {
            level_policy.definition = Some(definition);
        }
        if let Some(escalate) = label(&configured.escalate) {
            level_policy.escalate = Some(escalate);
        }
        policy.set_level(level, level_policy);
    }
    for spanned in escalation {
        let entry = spanned.get_ref();
        let at = |message: String, fix: &str| {
            Err(ConfigError::at(
                file,
                source,
                spanned.span().start,
                message,
                Some(fix.to_owned()),
            ))
        };
        let Some(level) = Level::parse(&entry.level) else {
            let message = if entry.level.trim().is_empty() {
                "[[escalation]] has no level".to_owned()
            } else {
                format!(
                    "[[escalation]] level `{}` is not a level",
                    entry.level.trim()
                )
            };
            return at(
                message,
                &format!("write level = \"P1\" (one of {LEVEL_NAMES})"),
            );
        };
        let name = entry.name.trim();
        if name.is_empty() {
            return at(
                format!("[[escalation]] for {} has no name", level.as_str()),
                "write name = \"who to call\" (a person or a team)",
            );
        }
        let contact = Contact {
            level,
            name: name.to_owned(),
            role: entry.role.trim().to_owned(),
            phone: entry.phone.trim().to_owned(),
            slack: entry.slack.trim().to_owned(),
            email: entry.email.trim().to_owned(),
        };
        if contact.phone.is_empty() && contact.slack.is_empty() && contact.email.is_empty() {
            return at(
                format!(
                    "[[escalation]] `{name}` ({}) has no way to reach them",
                    level.as_str()
                ),
                "add phone = \"…\", slack = \"#channel\" and/or email = \"…\"",
            );
        }
        if !contact.email.is_empty() && !contact.email.contains('@') {
            return at(
                format!(
                    "[[escalation]] `{name}` email `{}` is not an address",
                    contact.email
                ),
                "write email = \"name@example.com\"",
            );
        }
        policy.add_contact(contact);
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;
    use crate::core::incidents::Level;

    #[test]
    fn levels_and_contacts_are_read_over_the_guide() {
        let config = Config::parse(
            "c.toml",
            "[incidents.levels.P2]\nrespond_within = \"2s\"\nescalate = \"DBA on call\"\n\n\
             [[escalation]]\nlevel = \"p2\"\nname = \"Kim\"\nrole = \"DBA\"\nslack = \"#db\"\n",
        )
        .expect("parses");
        let policy = &config.incident_policy;
        assert_eq!(
            policy.level(Level::P2).respond_within,
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.level(Level::P2).escalate.as_deref(),
            Some("DBA on call")
        );
        assert_eq!(policy.level(Level::P2).definition, None);
        assert_eq!(
            policy.level(Level::P0).respond_within,
            Duration::from_secs(900)
        );
        assert_eq!(policy.contacts(Level::P2)[0].label(), "Kim (DBA)");
    }

    #[test]
    fn mistakes_name_the_line_and_the_fix() {
        let error = |text: &str| {
            Config::parse("c.toml", text)
                .expect_err("refused")
                .to_string()
        };
        let unknown = error("[general]\n\n[[escalation]]\nlevel = \"P7\"\nname = \"Kim\"\n");
        assert!(unknown.starts_with("c.toml:3:"), "{unknown}");
        assert!(unknown.contains("level `P7` is not a level"), "{unknown}");
        assert!(unknown.contains("fix: write level = \"P1\""), "{unknown}");
        let nameless = error("[[escalation]]\nlevel = \"P1\"\nphone = \"010\"\n");
        assert!(nameless.starts_with("c.toml:1:"), "{nameless}");
        assert!(nameless.contains("for P1 has no name"), "{nameless}");
        let unreachable = error("[[escalation]]\nlevel = \"P1\"\nname = \"Kim\"\n");
        assert!(
            unreachable.contains("no way to reach them"),
            "{unreachable}"
        );
        assert!(unreachable.contains("fix: add phone"), "{unreachable}");
        let duration = error("[incidents.levels.P0]\nrespond_within = \"soon\"\n");
        assert!(duration.starts_with("c.toml:2:"), "{duration}");
        assert!(duration.contains("fix: write it like"), "{duration}");
        let level = error("\n[incidents.levels.P9]\nrespond_within = \"1m\"\n");
        assert!(level.contains("`P9` is not a level"), "{level}");
        assert!(
            level.starts_with("c.toml:2:") || level.starts_with("c.toml:3:"),
            "{level}"
        );
    }
}
