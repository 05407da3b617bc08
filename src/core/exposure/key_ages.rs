//! The age of keys and secrets that must be rotated (the guides rotate API keys every 90
//! days): from a file's modification time, or a creation date written in the config. Only the
//! file's metadata is read, never its contents. (Masking secrets in output is
//! `core::sources::secrets`, a different matter.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::under;
use crate::core::model::{Metric, Unit};

pub const AGE_DAYS: &str = "secret.age_days";

/// Warning this long before `max_age` (80 days for the guides' 90).
pub const WARN_BEFORE: Duration = Duration::from_secs(10 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Its age is the file's modification time (rewriting the key renews it).
    File(PathBuf),
    /// Created on this day (UTC midnight).
    Created(NaiveDate),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: String,
    pub source: SecretSource,
    pub max_age: Duration,
}

impl SecretSpec {
    /// The warning and critical ages in days: `max_age` minus ten days, and `max_age`.
    pub fn limits_days(&self) -> (Option<f64>, f64) {
        let crit = self.max_age.as_secs_f64() / 86_400.0;
        let warn = self
            .max_age
            .checked_sub(WARN_BEFORE)
            .filter(|warn| !warn.is_zero())
            .map(|warn| warn.as_secs_f64() / 86_400.0);
        (warn, crit)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecretAge {
    pub name: String,
    pub age_days: Result<f64, String>,
}

impl SecretAge {
    pub fn metric(&self) -> Option<Metric> {
        let days = *self.age_days.as_ref().ok()?;
        Some(Metric::of(AGE_DAYS, &self.name, days, Unit::Days))
    }
}

pub fn age(spec: &SecretSpec, root: &Path, now: DateTime<Utc>) -> SecretAge {
    let since = match &spec.source {
        SecretSource::Created(date) => Ok(date.and_time(chrono::NaiveTime::MIN).and_utc()),
        SecretSource::File(path) => {
            let path = under(root, path);
            std::fs::metadata(&path)
                .and_then(|metadata| metadata.modified())
                .map(DateTime::<Utc>::from)
                .map_err(|error| {
                    format!(
                        "secret `{}`: cannot read the metadata of {}: {error} (fix the [[secret]] file path)",
                        spec.name,
                        path.display()
                    )
                })
        }
    };
    SecretAge {
        name: spec.name.clone(),
        age_days: since.map(|since| (now - since).num_milliseconds().max(0) as f64 / 86_400_000.0),
    }
}
