//! The `[exposure]` section (pending updates and reboots, hardening checks: which are on and
//! where they look) and the `[[secret]]` entries (keys and secrets with a maximum age), turned
//! into core settings with their mistakes reported at their place in the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::diagnostics::ConfigError;
use super::{DurationValue, IntervalValue};
use crate::core::exposure::ExposureSettings;
use crate::core::exposure::hardening::HardeningSettings;
use crate::core::exposure::key_ages::{SecretSource, SecretSpec};
use crate::core::exposure::updates::UpdateSettings;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExposureConfig {
    /// Pending updates, reboot-required and needrestart; adds the `updates-apply` task.
    pub updates: bool,
    /// sshd, firewall and Lynis findings, as metrics and in `security-scan`.
    pub hardening: bool,
    pub interval: IntervalValue,
    /// Prefix of every path below (a mounted image, or a test's directory).
    pub root: PathBuf,
    pub apt_get: String,
    pub needrestart: String,
    pub sshd: String,
    pub sshd_config: PathBuf,
    pub ufw: String,
    pub nft: String,
    pub lynis_report: PathBuf,
    pub updates_apply_timeout: DurationValue,
}

impl Default for ExposureConfig {
    fn default() -> Self {
        let updates = UpdateSettings::default();
        let hardening = HardeningSettings::default();
        ExposureConfig {
            updates: false,
            hardening: false,
            interval: IntervalValue(Duration::from_secs(3600)),
            root: PathBuf::from("/"),
            apt_get: updates.apt_get,
            needrestart: updates.needrestart,
            sshd: hardening.sshd,
            sshd_config: hardening.sshd_config,
            ufw: hardening.ufw,
            nft: hardening.nft,
            lynis_report: hardening.lynis_report,
            updates_apply_timeout: DurationValue(Duration::from_secs(3600)),
        }
    }
}

impl ExposureConfig {
    pub fn update_settings(&self) -> Option<UpdateSettings> {
        self.updates.then(|| UpdateSettings {
            apt_get: self.apt_get.clone(),
            needrestart: self.needrestart.clone(),
        })
    }

    pub fn hardening_settings(&self) -> Option<HardeningSettings> {
        self.hardening.then(|| HardeningSettings {
            sshd: self.sshd.clone(),
            sshd_config: self.sshd_config.clone(),
            ufw: self.ufw.clone(),
            nft: self.nft.clone(),
            lynis_report: self.lynis_report.clone(),
        })
    }

    /// The collector's settings; `state_dir` keeps first sightings and Lynis warnings.
    pub fn settings(&self, secrets: &[SecretSpec], state_dir: &Path) -> ExposureSettings {
        ExposureSettings {
            root: self.root.clone(),
            state_dir: state_dir.to_path_buf(),
            interval: self.interval.0,
            updates: self.update_settings(),
            secrets: secrets.to_vec(),
            hardening: self.hardening_settings(),
        }
    }
}

/// `created = 2026-09-01` (a TOML date) or `"2026-09-01"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DateValue {
    Date(toml::value::Datetime),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    pub name: String,
    /// Its modification time is the secret's age; the contents are never read.
    pub file: Option<PathBuf>,
    pub created: Option<DateValue>,
    #[serde(default = "ninety_days")]
    pub max_age: DurationValue,
}

fn ninety_days() -> DurationValue {
    DurationValue(Duration::from_secs(90 * 86_400))
}

impl SecretConfig {
    fn to_spec(&self) -> Result<SecretSpec, (String, String)> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Err((
                "a [[secret]] has an empty name".into(),
                "write name = \"stripe-api-key\"".into(),
            ));
        }
        let source = match (&self.file, &self.created) {
            (Some(file), None) => SecretSource::File(file.clone()),
            (None, Some(created)) => {
                let text = match created {
                    DateValue::Date(date) => date.to_string(),
                    DateValue::Text(text) => text.clone(),
                };
                let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(
                    |error| {
                        (
                            format!("secret `{name}`: created = {text} is not a date ({error})"),
                            "write created = 2026-09-01 (year-month-day)".into(),
                        )
                    },
                )?;
                SecretSource::Created(date)
            }
            (file, _) => {
                let message = if file.is_some() {
                    "has both `file` and `created`"
                } else {
                    "has neither `file` nor `created`"
                };
                return Err((
                    format!("secret `{name}` {message}"),
                    "write file = \"/path/to/key\" (its modification time is the age) or created = 2026-09-01".into(),
                ));
            }
        };
        if self.max_age.0.is_zero() {
            return Err((
                format!("secret `{name}` has max_age 0"),
                "write max_age = \"90d\"".into(),
            ));
        }
        Ok(SecretSpec {
            name: name.clone(),
            source,
            max_age: self.max_age.0,
        })
    }
}

pub fn build_secrets(
    entries: &[toml::Spanned<SecretConfig>],
    file: &str,
    source: &str,
) -> Result<Vec<SecretSpec>, ConfigError> {
    let mut specs: Vec<SecretSpec> = Vec::new();
    for entry in entries {
        let at = |(message, fix): (String, String)| {
            ConfigError::at(file, source, entry.span().start, message, Some(fix))
        };
        let spec = entry.get_ref().to_spec().map_err(at)?;
        if specs.iter().any(|other| other.name == spec.name) {
            return Err(at((
                format!("secret name `{}` is used twice", spec.name),
                "give each [[secret]] its own name".into(),
            )));
        }
        specs.push(spec);
    }
    Ok(specs)
}
