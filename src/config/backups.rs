//! The `[[backup]]` entries (backup sets: where the files are, what they should be, how fresh
//! and how long kept, how to make and restore-test them) and the `[backups]` section, turned
//! into core settings with their mistakes reported at their place in the file.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::diagnostics::ConfigError;
use super::{DurationValue, FIX_SEPARATOR, IntervalValue};
use crate::core::backups::{
    BackupSet, CreateSource, DumpFormat, ExpectedKind, Freshness, RestoreSettings, Retention,
};

/// `[backups]`: how often the sets are inventoried and where PostgreSQL's tools are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupsConfig {
    pub interval: IntervalValue,
    /// e.g. `/usr/lib/postgresql/16/bin` when `pg_dump` on PATH is another major version.
    pub pg_bin_dir: Option<PathBuf>,
}

impl Default for BackupsConfig {
    fn default() -> Self {
        BackupsConfig {
            interval: IntervalValue(Duration::from_secs(60)),
            pg_bin_dir: None,
        }
    }
}

/// A size such as `1024`, `"10KiB"`, `"5 MB"` or `"1G"` (binary multiples either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(SizeText),
}

impl SizeValue {
    pub fn bytes(self) -> u64 {
        match self {
            SizeValue::Bytes(bytes) | SizeValue::Text(SizeText(bytes)) => bytes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SizeText(pub u64);

impl TryFrom<String> for SizeText {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => u64::MAX,
        };
        match number.parse::<f64>() {
            Ok(value) if multiplier != u64::MAX && value >= 0.0 => {
                Ok(SizeText((value * multiplier as f64) as u64))
            }
            _ => Err(format!(
                "invalid size \"{text}\"{FIX_SEPARATOR}write a number of bytes or a size like \"512KiB\", \"10MB\", \"1GiB\""
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Postgres,
    Redis,
    Paths,
}

/// `[backup.create]`: how `backup-create` makes a backup of this set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConfig {
    pub source: SourceKind,
    pub url: Option<String>,
    pub format: Option<DumpFormat>,
    #[serde(default)]
    pub paths: Vec<PathBuf>,
}

fn thirty_days() -> DurationValue {
    DurationValue(Duration::from_secs(30 * 86_400))
}

/// `[backup.restore]`: how `restore-test` checks the newest dump.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreConfig {
    pub url: String,
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub queries: Vec<String>,
    #[serde(default = "thirty_days")]
    pub max_age: DurationValue,
}

fn one_byte() -> SizeValue {
    SizeValue::Bytes(1)
}

fn one_hour() -> DurationValue {
    DurationValue(Duration::from_secs(3600))
}

fn other_kind() -> ExpectedKind {
    ExpectedKind::Other
}

/// One `[[backup]]` set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSetConfig {
    pub name: String,
    pub directory: PathBuf,
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default = "other_kind")]
    pub kind: ExpectedKind,
    pub max_age: Option<DurationValue>,
    pub schedule: Option<String>,
    #[serde(default = "one_hour")]
    pub grace: DurationValue,
    pub keep_days: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    #[serde(default = "one_byte")]
    pub min_size: SizeValue,
    #[serde(default)]
    pub encryption_required: bool,
    pub prefix: Option<String>,
    pub create: Option<CreateConfig>,
    pub restore: Option<RestoreConfig>,
}

/// The RPO of the guides: a backup every day.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The guides' retention.
const DEFAULT_KEEP_DAYS: u32 = 30;

impl BackupSetConfig {
    fn to_set(&self) -> Result<BackupSet, (String, String)> {
        let fail = |message: String, fix: &str| Err((message, fix.to_owned()));
        let name = &self.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return fail(
                format!("backup set name `{name}` is not a simple name"),
                "use letters, digits, - and _, e.g. name = \"postgres\"",
            );
        }
        for pattern in &self.patterns {
            if let Err(error) = glob::Pattern::new(pattern) {
                return fail(
                    format!(
                        "backup set `{name}`: pattern `{pattern}` is not a valid glob ({error})"
                    ),
                    "write patterns like \"db_*.sql.gz\"",
                );
            }
        }
        let freshness = match (&self.max_age, &self.schedule) {
            (Some(_), Some(_)) => {
                return fail(
                    format!("backup set `{name}` has both max_age and schedule"),
                    "keep one: max_age = \"24h\" or schedule = \"0 3 * * *\"",
                );
            }
            (_, Some(expression)) => {
                if let Err(error) = croner::Cron::from_str(expression) {
                    return fail(
                        format!(
                            "backup set `{name}`: schedule `{expression}` is not a cron expression ({error})"
                        ),
                        "write five fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\"",
                    );
                }
                Freshness::Schedule {
                    expression: expression.clone(),
                    grace: self.grace.0,
                }
            }
            (Some(max_age), None) => Freshness::MaxAge(max_age.0),
            (None, None) => Freshness::MaxAge(DEFAULT_MAX_AGE),
        };
        let calendar = [self.keep_daily, self.keep_weekly, self.keep_monthly];
        let retention = match (self.keep_days, calendar.iter().any(Option::is_some)) {
            (Some(_), true) => {
                return fail(
                    format!("backup set `{name}` has keep_days and keep_daily/weekly/monthly"),
                    "keep one: keep_days = 30, or keep_daily/keep_weekly/keep_monthly",
                );
            }
            (Some(0), false) => {
                return fail(
                    format!("backup set `{name}`: keep_days = 0 would delete every backup"),
                    "keep at least one day, e.g. keep_days = 30",
                );
            }
            (Some(days), false) => Retention::Days(days),
            (None, true) => Retention::Calendar {
                daily: self.keep_daily.unwrap_or(0),
                weekly: self.keep_weekly.unwrap_or(0),
                monthly: self.keep_monthly.unwrap_or(0),
            },
            (None, false) => Retention::Days(DEFAULT_KEEP_DAYS),
        };
        let create = self
            .create
            .as_ref()
            .map(|create| create_source(name, self.kind, create))
            .transpose()?;
        let restore = match &self.restore {
            Some(_) if !self.kind.is_pg_dump() => {
                return fail(
                    format!(
                        "backup set `{name}` has [backup.restore] but its kind is {}",
                        self.kind.label()
                    ),
                    "restore tests need PostgreSQL dumps: set kind = \"pg_dump_gzip\", \"pg_dump_plain\" or \"pg_dump_custom\"",
                );
            }
            Some(restore) if !is_postgres_url(&restore.url) => {
                return fail(
                    format!("backup set `{name}`: restore url must start with postgres://"),
                    "write url = \"postgres://postgres@127.0.0.1:5432/postgres\" (a user that may CREATE DATABASE)",
                );
            }
            Some(restore) => Some(RestoreSettings {
                url: restore.url.clone(),
                tables: restore.tables.clone(),
                queries: restore.queries.clone(),
                max_age: restore.max_age.0,
            }),
            None => None,
        };
        Ok(BackupSet {
            name: name.clone(),
            directory: self.directory.clone(),
            patterns: self.patterns.clone(),
            kind: self.kind,
            freshness,
            retention,
            min_size: self.min_size.bytes(),
            encryption_required: self.encryption_required,
            create,
            prefix: self.prefix.clone().unwrap_or_else(|| name.clone()),
            restore,
        })
    }
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn create_source(
    name: &str,
    kind: ExpectedKind,
    create: &CreateConfig,
) -> Result<CreateSource, (String, String)> {
    let fail = |message: String, fix: &str| Err((message, fix.to_owned()));
    match create.source {
        SourceKind::Postgres => {
            let Some(url) = create.url.as_ref().filter(|url| is_postgres_url(url)) else {
                return fail(
                    format!(
                        "backup set `{name}`: [backup.create] source = \"postgres\" needs a postgres:// url"
                    ),
                    "add url = \"postgres://postgres@127.0.0.1:5432/appdb\"",
                );
            };
            let format = match (create.format, kind) {
                (Some(format), _) => format,
                (None, ExpectedKind::PgDumpCustom) => DumpFormat::Custom,
                (None, _) => DumpFormat::Gzip,
            };
            let matches = matches!(
                (format, kind),
                (DumpFormat::Gzip, ExpectedKind::PgDumpGzip)
                    | (DumpFormat::Custom, ExpectedKind::PgDumpCustom)
                    | (_, ExpectedKind::Other)
            );
            if !matches {
                return fail(
                    format!(
                        "backup set `{name}`: backup-create would make {} files but kind = {}",
                        match format {
                            DumpFormat::Gzip => "pg_dump gzip",
                            DumpFormat::Custom => "pg_dump custom",
                        },
                        kind.label()
                    ),
                    "make them agree: kind = \"pg_dump_gzip\" with format = \"gzip\", or kind = \"pg_dump_custom\" with format = \"custom\"",
                );
            }
            Ok(CreateSource::Postgres {
                url: url.clone(),
                format,
            })
        }
        SourceKind::Redis => {
            let Some(url) = create
                .url
                .as_ref()
                .filter(|url| url.starts_with("redis://") || url.starts_with("rediss://"))
            else {
                return fail(
                    format!(
                        "backup set `{name}`: [backup.create] source = \"redis\" needs a redis:// url"
                    ),
                    "add url = \"redis://127.0.0.1:6379\"",
                );
            };
            if !matches!(
                kind,
                ExpectedKind::RedisRdb | ExpectedKind::RedisAof | ExpectedKind::Other
            ) {
                return fail(
                    format!(
                        "backup set `{name}`: a Redis backup is an RDB file but kind = {}",
                        kind.label()
                    ),
                    "set kind = \"redis_rdb\"",
                );
            }
            Ok(CreateSource::Redis { url: url.clone() })
        }
        SourceKind::Paths => {
            if create.paths.is_empty() {
                return fail(
                    format!("backup set `{name}`: [backup.create] source = \"paths\" has no paths"),
                    "add paths = [\"/etc/myapp\", \"/app/data\"]",
                );
            }
            if !matches!(kind, ExpectedKind::TarGz | ExpectedKind::Other) {
                return fail(
                    format!(
                        "backup set `{name}`: a paths backup is a tar.gz but kind = {}",
                        kind.label()
                    ),
                    "set kind = \"tar_gz\"",
                );
            }
            Ok(CreateSource::Paths {
                paths: create.paths.clone(),
            })
        }
    }
}

/// The backup sets, checked; the first mistake is reported at its place in the file.
pub fn build_sets(
    entries: &[toml::Spanned<BackupSetConfig>],
    file: &str,
    source: &str,
) -> Result<Vec<BackupSet>, ConfigError> {
    let mut sets: Vec<BackupSet> = Vec::new();
    for entry in entries {
        let at = |(message, fix): (String, String)| {
            ConfigError::at(file, source, entry.span().start, message, Some(fix))
        };
        let set = entry.get_ref().to_set().map_err(at)?;
        if sets.iter().any(|other| other.name == set.name) {
            return Err(at((
                format!("backup set name `{}` is used twice", set.name),
                "give each [[backup]] its own name".into(),
            )));
        }
        sets.push(set);
    }
    Ok(sets)
}
