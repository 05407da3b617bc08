//! The configuration: its schema, the embedded default file, loading with file:line:col
//! diagnostics, and conversion into the settings the core and the TUI use.
//!
//! A user file only needs the keys it changes: every section falls back to the defaults, rules
//! are merged by metric and instance, and key bindings by action.

pub mod action;
pub mod backups;
pub mod containers;
pub mod diagnostics;
pub mod exposure;
pub mod incidents;
pub mod keymap;
pub mod logs;
pub mod paths;
pub mod prometheus;
pub mod queries;
pub mod services;
pub mod tasks;
pub mod theme;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use diagnostics::nearest;
pub use diagnostics::{ConfigError, FIX_SEPARATOR};
use keymap::{KeyList, Keymap};
use theme::{Theme, load_theme};

use crate::config::action::Action;
use crate::core::checks::{Operator, Rule};
use crate::core::collectors::resources::{METRIC_NAMES, ResourceSettings};
use crate::core::containers::docker::ContainerAction;
use crate::core::store::StoreLocation;

/// The documented default configuration, printed by `opsdeck config default`.
pub const DEFAULT_CONFIG: &str = include_str!("../../assets/config.default.toml");

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub general: GeneralConfig,
    pub store: StoreConfig,
    pub exporter: ExporterConfig,
    pub resources: ResourcesConfig,
    #[serde(rename = "rule")]
    pub rules: Vec<toml::Spanned<RuleConfig>>,
    pub keys: BTreeMap<Action, KeyList>,
    pub tasks: tasks::TasksConfig,
    #[serde(rename = "task")]
    pub commands: Vec<toml::Spanned<tasks::CommandTaskConfig>>,
    #[serde(rename = "service")]
    pub services: Vec<toml::Spanned<services::ServiceConfig>>,
    pub notify: services::NotifyConfig,
    pub queries: queries::QueriesConfig,
    #[serde(rename = "database")]
    pub databases: Vec<toml::Spanned<queries::DatabaseConfig>>,
    pub backups: backups::BackupsConfig,
    #[serde(rename = "backup")]
    pub backup_sets: Vec<toml::Spanned<backups::BackupSetConfig>>,
    pub incidents: incidents::IncidentsConfig,
    #[serde(rename = "escalation")]
    pub escalation: Vec<toml::Spanned<incidents::EscalationConfig>>,
    #[serde(rename = "log")]
    pub logs: Vec<toml::Spanned<logs::LogConfig>>,
    #[serde(rename = "prometheus")]
    pub prometheus: Vec<toml::Spanned<prometheus::PrometheusConfig>>,
    pub exposure: exposure::ExposureConfig,
    #[serde(rename = "secret")]
    pub secrets: Vec<toml::Spanned<exposure::SecretConfig>>,
    /// The `[[secret]]` entries, checked and built while parsing.
    #[serde(skip)]
    pub secret_specs: Vec<crate::core::exposure::key_ages::SecretSpec>,
    pub containers: containers::ContainersConfig,
    /// The `[[prometheus]]` sources, checked and built while parsing.
    #[serde(skip)]
    pub fleet_specs: Vec<crate::core::fleet::FleetSpec>,
    /// The `[[rule]] promql` entries and where they are written.
    #[serde(skip)]
    pub promql_rules: Vec<prometheus::PlacedRule>,
    /// The levels and contacts, checked and built while parsing.
    #[serde(skip)]
    pub incident_policy: crate::core::incidents::policy::Policy,
    /// The backup sets, checked and built while parsing.
    #[serde(skip)]
    pub backup_set_specs: Vec<crate::core::backups::BackupSet>,
    /// The services, checked and built while parsing.
    #[serde(skip)]
    pub service_specs: Vec<crate::core::services::ServiceSpec>,
    /// The log sources, checked and built while parsing.
    #[serde(skip)]
    pub log_sources: Vec<crate::core::logs::source::LogSource>,
    /// Where `theme` is written in the file, to point at it when no such theme exists.
    #[serde(skip)]
    pub theme_at: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneralConfig {
    /// A label such as PROD or STAGING shown in the header in its own colour; empty hides it.
    pub environment: String,
    pub read_only: bool,
    pub theme: toml::Spanned<String>,
    pub glyphs: Glyphs,
    pub mouse: bool,
    /// Checklist text: "en", "ko", or "auto" (from LANG).
    pub language: LanguageSetting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LanguageSetting {
    Auto,
    En,
    Ko,
}

impl LanguageSetting {
    /// The language to show, asking the locale (`env`) when this is `auto`.
    pub fn resolve(
        self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> crate::core::checklists::Language {
        let configured = match self {
            LanguageSetting::Auto => None,
            LanguageSetting::En => Some("en"),
            LanguageSetting::Ko => Some("ko"),
        };
        crate::core::checklists::Language::choose(configured, env)
    }
}

impl Default for GeneralConfig {
    fn default() -> Self {
        GeneralConfig {
            environment: String::new(),
            read_only: false,
            theme: toml::Spanned::new(0..0, "dark".into()),
            glyphs: Glyphs::Auto,
            mouse: false,
            language: LanguageSetting::Auto,
        }
    }
}

/// Which characters draw gauges and sparklines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Glyphs {
    /// Unicode block elements when the locale is UTF-8, ASCII otherwise.
    Auto,
    Unicode,
    Ascii,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub url: StoreUrl,
}

/// `""` (SQLite in the XDG data dir), `sqlite:///path/state.db` or `postgres://…`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(try_from = "String")]
pub struct StoreUrl(pub Option<StoreLocation>);

impl TryFrom<String> for StoreUrl {
    type Error = String;

    fn try_from(url: String) -> Result<Self, String> {
        if url.trim().is_empty() {
            return Ok(StoreUrl(None));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            return Ok(StoreUrl(Some(StoreLocation::Sqlite(PathBuf::from(path)))));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl(Some(StoreLocation::Postgres(url))));
        }
        Err(format!(
            "unsupported store URL `{}`{FIX_SEPARATOR}use sqlite:///path/to/state.db or postgres://user@host/db (or leave it empty for the default SQLite file)",
            crate::core::sources::secrets::mask_url(&url)
        ))
    }
}

/// `[exporter] listen = "127.0.0.1:9464"`: where opsdeck serves its own metrics to Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterConfig {
    pub listen: ListenAddress,
}

/// An IP address and port to listen on; `""` (the default) keeps the exporter off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(try_from = "String")]
pub struct ListenAddress(pub Option<std::net::SocketAddr>);

impl TryFrom<String> for ListenAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(ListenAddress(None));
        }
        text.trim()
            .parse()
            .map(|address| ListenAddress(Some(address)))
            .map_err(|_| {
                format!(
                    "`{text}` is not an address to listen on{FIX_SEPARATOR}write an IP address and a port, e.g. listen = \"127.0.0.1:9464\" (or \"[::1]:9464\"), or leave listen out to keep the exporter off"
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcesConfig {
    pub interval: IntervalValue,
    pub filesystems: Vec<String>,
    pub interfaces: Vec<String>,
}

impl Default for ResourcesConfig {
    fn default() -> Self {
        ResourcesConfig {
            interval: IntervalValue(Duration::from_secs(1)),
            filesystems: Vec::new(),
            interfaces: Vec::new(),
        }
    }
}

/// A duration written as `500ms`, `1s`, `5m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(try_from = "String")]
pub struct DurationValue(pub Duration);

impl TryFrom<String> for DurationValue {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.trim() == "0" {
            return Ok(DurationValue(Duration::ZERO));
        }
        humantime::parse_duration(text.trim())
            .map(DurationValue)
            .map_err(|error| {
                format!("invalid duration \"{text}\" ({error}){FIX_SEPARATOR}write it like 500ms, 30s, 5m or 1h")
            })
    }
}

/// A sampling interval: a duration of at least 100 ms (sampling faster costs CPU for nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IntervalValue(pub Duration);

impl TryFrom<String> for IntervalValue {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let DurationValue(duration) = DurationValue::try_from(text.clone())?;
        if duration < Duration::from_millis(100) {
            return Err(format!(
                "interval must be at least 100ms, not \"{text}\"{FIX_SEPARATOR}set interval = \"1s\" (the default) or any value of at least 100ms"
            ));
        }
        Ok(IntervalValue(duration))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// A metric opsdeck collects; or `promql` (with `name`) for any PromQL expression.
    #[serde(default)]
    pub metric: Option<MetricName>,
    #[serde(default)]
    pub promql: Option<String>,
    /// Names a `promql` rule: its metric is `promql.NAME`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub instance: Option<String>,
    #[serde(default)]
    pub op: OperatorValue,
    #[serde(default)]
    pub warn: Option<f64>,
    #[serde(default)]
    pub crit: Option<f64>,
    #[serde(default, rename = "for")]
    pub hold_for: DurationValue,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MetricName(pub String);

/// Every metric a rule or a checklist item may name, from each part that makes them.
pub fn known_metric_names() -> Vec<&'static str> {
    METRIC_NAMES
        .iter()
        .chain(crate::core::services::SERVICE_METRICS)
        .chain(crate::core::queries::QUERY_METRICS)
        .chain(crate::core::backups::status::BACKUP_METRICS)
        .chain(crate::core::incidents::INCIDENT_METRICS)
        .chain(crate::core::logs::findings::LOG_METRICS)
        .chain(crate::core::fleet::FLEET_METRICS)
        .chain(crate::core::containers::CONTAINER_METRICS)
        .chain(crate::core::capacity::job::CAPACITY_METRICS)
        .chain(crate::core::tasks::schedule::TASK_METRICS)
        .chain(crate::core::exposure::EXPOSURE_METRICS)
        .chain(crate::core::shared::PRESENCE_METRICS)
        .copied()
        .collect()
}

impl TryFrom<String> for MetricName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let known = known_metric_names();
        if known.contains(&name.as_str()) {
            return Ok(MetricName(name));
        }
        let hint = nearest(&name, &known)
            .map(|best| format!("did you mean `{best}`? "))
            .unwrap_or_default();
        Err(format!(
            "unknown metric `{name}`{FIX_SEPARATOR}{hint}metrics are: {}",
            known.join(", ")
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OperatorValue(pub Operator);

impl Default for OperatorValue {
    fn default() -> Self {
        OperatorValue(Operator::Above)
    }
}

impl TryFrom<String> for OperatorValue {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Operator::parse(text.trim())
            .map(OperatorValue)
            .ok_or_else(|| {
                format!("unknown operator `{text}`{FIX_SEPARATOR}use one of >, >=, <, <=")
            })
    }
}

/// The built-in rules, from the seeds' thresholds: CPU 80/90 % for 5 min, memory 85/95 % for
/// 3 min, disk 80/90 %, a filesystem full in under 30/7 days.
/// Dumps, verification of every file and restores of large databases take long; the runner's
/// cancel still works at any time.
const BACKUP_TASK_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// A stop waits out its grace period before Docker kills the container.
const CONTAINER_TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// The task `[exposure] updates = true` adds.
pub const UPDATES_APPLY: &str = "updates-apply";

pub fn default_rules() -> Vec<Rule> {
    let rule = |metric: &str, warn, crit, minutes: u64| Rule {
        metric: metric.into(),
        instance: None,
        operator: Operator::Above,
        warn: Some(warn),
        crit: Some(crit),
        hold_for: Duration::from_secs(minutes * 60),
    };
    let below = |metric: &str, warn: Option<f64>, crit| Rule {
        operator: Operator::AtMost,
        warn,
        crit: Some(crit),
        ..rule(metric, 0.0, 0.0, 0)
    };
    // A count or yes/no that is bad from 1 on: warn-only or critical.
    let flag = |metric: &str, warn_only: bool| Rule {
        operator: Operator::AtLeast,
        warn: warn_only.then_some(1.0),
        crit: (!warn_only).then_some(1.0),
        ..rule(metric, 0.0, 0.0, 0)
    };
    vec![
        rule("cpu.used_pct", 80.0, 90.0, 5),
        rule("memory.used_pct", 85.0, 95.0, 3),
        rule("disk.used_pct", 80.0, 90.0, 0),
        // A service shown down (after flap control) is critical at once.
        Rule {
            operator: Operator::Below,
            ..below("service.up", None, 1.0)
        },
        // The guides renew certificates 30 days before they expire.
        below("service.tls_days_left", Some(30.0), 7.0),
        // The capacity guides' horizon: a month to plan, a week to act.
        Rule {
            operator: Operator::Below,
            ..below("disk.days_to_full", Some(30.0), 7.0)
        },
        flag("backup.stale", false),
        flag("backup.too_small", false),
        flag("backup.unencrypted", false),
        flag("backup.corrupt", false),
        Rule {
            operator: Operator::Below,
            warn: Some(50.0),
            crit: None,
            ..rule("backup.size_ratio_pct", 0.0, 0.0, 0)
        },
        flag("backup.kind_mismatch", true),
        flag("backup.restore_test_overdue", true),
        // A scheduled task with no success since a due time whose grace ran out.
        flag(crate::core::tasks::schedule::OVERDUE_METRIC, true),
        // Nobody acknowledged an open incident within its level's target.
        flag(crate::core::incidents::UNACKNOWLEDGED_OVERDUE, false),
        // A host Prometheus cannot scrape, or a Prometheus opsdeck cannot read, is critical.
        Rule {
            operator: Operator::Below,
            ..below(crate::core::fleet::HOST_UP, None, 1.0)
        },
        Rule {
            operator: Operator::Below,
            ..below(crate::core::fleet::PROMETHEUS_UP, None, 1.0)
        },
        rule(crate::core::fleet::HOST_CPU, 80.0, 90.0, 5),
        rule(crate::core::fleet::HOST_MEM, 85.0, 95.0, 3),
        rule(crate::core::fleet::HOST_DISK, 80.0, 90.0, 0),
        // The guides patch monthly: a security update is worth a look at once, and one
        // pending past a patch cycle is overdue.
        flag(crate::core::exposure::updates::SECURITY, true),
        Rule {
            operator: Operator::AtLeast,
            ..rule(
                crate::core::exposure::updates::SECURITY_OLDEST_DAYS,
                7.0,
                30.0,
                0,
            )
        },
        flag(crate::core::exposure::updates::REBOOT_REQUIRED, true),
        Rule {
            operator: Operator::AtLeast,
            ..rule(
                crate::core::exposure::updates::REBOOT_REQUIRED_DAYS,
                7.0,
                30.0,
                0,
            )
        },
        flag(crate::core::exposure::updates::SERVICES_NEED_RESTART, true),
        // Root logging in with a password is the one setting the guides never accept.
        flag(crate::core::exposure::hardening::SSH_ROOT_LOGIN, false),
        flag(crate::core::exposure::hardening::SSH_PASSWORD_AUTH, true),
        Rule {
            operator: Operator::Below,
            warn: Some(1.0),
            crit: None,
            ..rule(
                crate::core::exposure::hardening::FIREWALL_ACTIVE,
                0.0,
                0.0,
                0,
            )
        },
        flag(crate::core::exposure::hardening::LYNIS_NEW_WARNINGS, true),
        // A container that should run and does not, or was killed for memory, is critical at
        // once; a crash loop is CRASH_LOOP_RESTARTS restarts within the hour.
        Rule {
            operator: Operator::Below,
            ..below(crate::core::containers::CONTAINER_UP, None, 1.0)
        },
        Rule {
            operator: Operator::AtLeast,
            ..rule(
                crate::core::containers::CONTAINER_RESTARTS,
                3.0,
                crate::core::containers::CRASH_LOOP_RESTARTS,
                0,
            )
        },
        flag(crate::core::containers::CONTAINER_OOM, false),
        rule(
            crate::core::containers::CONTAINER_UNHEALTHY,
            crate::core::containers::UNHEALTHY_WARN_S,
            crate::core::containers::UNHEALTHY_CRIT_S,
            0,
        ),
        rule(crate::core::containers::CONTAINER_MEMORY, 85.0, 95.0, 3),
    ]
}

/// A loaded configuration and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file read, or `None` for the embedded defaults.
    pub source: Option<PathBuf>,
}

impl Config {
    /// Parses a configuration text; `file` names it in error messages.
    pub fn parse(file: &str, source: &str) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::from_str(source).map_err(|error| ConfigError::from_toml(file, source, &error))?;
        config.validate(file, source)?;
        config.service_specs = services::build_services(&config.services, file, source)?;
        config.backup_set_specs = backups::build_sets(&config.backup_sets, file, source)?;
        config.log_sources = logs::build_sources(&config.logs, file, source)?;
        config.secret_specs = exposure::build_secrets(&config.secrets, file, source)?;
        config.promql_rules = prometheus::build_promql_rules(&config.rules, file, source)?;
        config.fleet_specs =
            prometheus::build_sources(&config.prometheus, &config.promql_rules, file, source)?;
        config.incident_policy =
            incidents::build_policy(&config.incidents, &config.escalation, file, source)?;
        let span = config.general.theme.span();
        config.theme_at =
            (!span.is_empty()).then(|| diagnostics::line_and_column(source, span.start));
        Ok(config)
    }

    fn validate(&self, file: &str, source: &str) -> Result<(), ConfigError> {
        let mut names: Vec<&str> = Vec::new();
        for database in &self.databases {
            let entry = database.get_ref();
            let at = |message: String, fix: &str| {
                Err(ConfigError::at(
                    file,
                    source,
                    database.span().start,
                    message,
                    Some(fix.to_owned()),
                ))
            };
            if names.contains(&entry.name.as_str()) {
                return at(
                    format!("database name `{}` is used twice", entry.name),
                    "give each [[database]] its own name",
                );
            }
            names.push(&entry.name);
            if !(entry.url.starts_with("postgres://") || entry.url.starts_with("postgresql://")) {
                return at(
                    format!("database `{}` url must start with postgres://", entry.name),
                    "write url = \"postgres://user@host:5432/dbname\"",
                );
            }
        }
        self.validate_commands(file, source)?;
        self.validate_schedules(file, source)?;
        self.validate_task_keys(file)?;
        for rule in &self.rules {
            let inner = rule.get_ref();
            let what = match (&inner.metric, &inner.promql) {
                (Some(metric), None) => metric.0.clone(),
                (None, Some(_)) => format!("promql `{}`", inner.name.as_deref().unwrap_or("")),
                (metric, _) => {
                    let message = if metric.is_some() {
                        "a rule has both `metric` and `promql`"
                    } else {
                        "a rule has neither `metric` nor `promql`"
                    };
                    return Err(ConfigError::at(
                        file,
                        source,
                        rule.span().start,
                        message.into(),
                        Some("write metric = \"cpu.used_pct\" for a collected metric, or name = \"…\" and promql = \"…\" for a PromQL expression".into()),
                    ));
                }
            };
            if inner.enabled && inner.warn.is_none() && inner.crit.is_none() {
                return Err(ConfigError::at(
                    file,
                    source,
                    rule.span().start,
                    format!("rule for `{what}` has neither `warn` nor `crit`"),
                    Some("add `warn = …` and/or `crit = …`, or `enabled = false` to turn the rule off".into()),
                ));
            }
        }
        Ok(())
    }

    fn validate_commands(&self, file: &str, source: &str) -> Result<(), ConfigError> {
        let keymap = self.keymap();
        let mut seen: Vec<&str> = tasks::BUILTIN_TASK_IDS
            .iter()
            .chain(&crate::core::tasks::backups::TASK_IDS)
            .chain(&[UPDATES_APPLY])
            .copied()
            .collect();
        for spanned in &self.commands {
            let command = spanned.get_ref();
            let at = |message: String, fix: &str| {
                Err(ConfigError::at(
                    file,
                    source,
                    spanned.span().start,
                    message,
                    Some(fix.to_owned()),
                ))
            };
            if command.id.is_empty()
                || !command
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return at(
                    format!("task id `{}` is not a simple name", command.id),
                    "use letters, digits, - and _, e.g. id = \"restart-app\"",
                );
            }
            if seen.contains(&command.id.as_str()) {
                return at(
                    format!(
                        "task id `{}` is used twice (or is a built-in task)",
                        command.id
                    ),
                    "give each [[task]] its own id",
                );
            }
            seen.push(&command.id);
            if command.argv.is_empty() {
                return at(
                    format!("task `{}` has an empty argv", command.id),
                    "write argv = [\"program\", \"arg\", …]",
                );
            }
            if let Some(key) = command.key
                && let Some(action) = keymap.resolve(key.0)
            {
                return at(
                    format!(
                        "task `{}` key {} is already bound to `{}`",
                        command.id,
                        key.0,
                        action.name()
                    ),
                    "pick another key, or rebind the action in [keys]",
                );
            }
        }
        Ok(())
    }

    /// Every schedule parses, and no scheduled task lacks what it needs to run without
    /// parameters; reported at the `schedule` line.
    fn validate_schedules(&self, file: &str, source: &str) -> Result<(), ConfigError> {
        let commands = self
            .commands
            .iter()
            .map(|spanned| spanned.get_ref().written_schedule());
        for written in self.tasks.written_schedules().into_iter().chain(commands) {
            if let Err((at, message, fix)) = written.resolve() {
                return Err(ConfigError::at(file, source, at, message, Some(fix)));
            }
        }
        Ok(())
    }

    /// Built-in task keys must not shadow an action or each other (`[[task]]` keys are checked
    /// with their entries).
    fn validate_task_keys(&self, file: &str) -> Result<(), ConfigError> {
        let keymap = self.keymap();
        let mut taken: Vec<(keymap::KeyChord, String)> = Vec::new();
        for (task, key) in self.tasks(Path::new("")) {
            let Some(key) = key else { continue };
            let clash = keymap
                .resolve(key)
                .map(|action| format!("the `{}` action", action.name()))
                .or_else(|| {
                    taken
                        .iter()
                        .find(|(other, _)| *other == key)
                        .map(|(_, id)| format!("task `{id}`"))
                });
            if let Some(clash) = clash {
                return Err(ConfigError {
                    file: file.into(),
                    position: None,
                    message: format!(
                        "key {key} of task `{}` is also bound to {clash}",
                        task.info.id
                    ),
                    fix: Some(format!(
                        "set another key in [tasks.{}] key (or the [[task]] entry), or rebind it in [keys]",
                        task.info.id
                    )),
                });
            }
            taken.push((key, task.info.id));
        }
        Ok(())
    }

    /// Every task (built-in and `[[task]]`) with its key; `state_dir` holds generated files.
    pub fn tasks(
        &self,
        state_dir: &Path,
    ) -> Vec<(crate::core::tasks::Task, Option<keymap::KeyChord>)> {
        let commands: Vec<tasks::CommandTaskConfig> = self
            .commands
            .iter()
            .map(|spanned| spanned.get_ref().clone())
            .collect();
        let mut tasks = self.tasks.build(&commands, &self.databases(), state_dir);
        let hardening = self.exposure.hardening_settings();
        for (task, _) in &mut tasks {
            if let crate::core::tasks::TaskKind::SecurityScan(scan) = &mut task.kind {
                scan.hardening = hardening.clone().map(|settings| {
                    crate::core::tasks::security_scan::Hardening {
                        settings,
                        root: self.exposure.root.clone(),
                        state_dir: state_dir.to_path_buf(),
                    }
                });
            }
        }
        if let Some(updates) = self.exposure.update_settings() {
            let task = crate::core::tasks::Task {
                info: crate::core::tasks::TaskInfo {
                    id: UPDATES_APPLY.into(),
                    title: "Apply updates".into(),
                    description: "install the pending package upgrades apt-get -s upgrade lists"
                        .into(),
                    destructive: true,
                    timeout: self.exposure.updates_apply_timeout.0,
                    concurrent: false,
                    params: crate::core::tasks::updates_apply::PARAMS.to_vec(),
                    schedule: None,
                },
                kind: crate::core::tasks::TaskKind::UpdatesApply(
                    crate::core::tasks::updates_apply::UpdatesApplySettings {
                        updates,
                        root: self.exposure.root.clone(),
                    },
                ),
            };
            tasks.push((task, None));
        }
        if !self.backup_set_specs.is_empty() {
            let settings = crate::core::tasks::backups::BackupTaskSettings {
                sets: self.backup_set_specs.clone(),
                tools: self.backup_tools(),
            };
            for action in crate::core::tasks::backups::BackupAction::ALL {
                let task = crate::core::tasks::Task {
                    info: crate::core::tasks::TaskInfo {
                        id: action.id().into(),
                        title: action.title().into(),
                        description: action.description().into(),
                        destructive: action.destructive(),
                        timeout: BACKUP_TASK_TIMEOUT,
                        // Different sets may be worked on at once; the same set twice is
                        // harmless for all but prune, which only deletes what is unchanged.
                        concurrent: true,
                        params: action.params().to_vec(),
                        schedule: None,
                    },
                    kind: crate::core::tasks::TaskKind::Backup(action, settings.clone()),
                };
                tasks.push((task, None));
            }
        }
        if self.containers.enabled {
            for action in [
                ContainerAction::Restart,
                ContainerAction::Stop,
                ContainerAction::Start,
            ] {
                let task = crate::core::tasks::Task {
                    info: crate::core::tasks::TaskInfo {
                        id: crate::core::tasks::containers::task_id(action).into(),
                        title: format!("{} container", action.verb()),
                        description: format!(
                            "{} the container picked in the containers pane (Docker API)",
                            action.verb()
                        ),
                        destructive: true,
                        timeout: CONTAINER_TASK_TIMEOUT,
                        // Different containers at once; Docker serialises the same one.
                        concurrent: true,
                        params: crate::core::tasks::containers::PARAMS.to_vec(),
                        // Acted on by hand, on a container picked in the pane.
                        schedule: None,
                    },
                    kind: crate::core::tasks::TaskKind::Container(action),
                };
                tasks.push((task, None));
            }
        }
        tasks
    }

    pub fn backup_tools(&self) -> crate::core::backups::BackupTools {
        crate::core::backups::BackupTools::new(self.backups.pg_bin_dir.as_deref())
    }

    /// Reads `--config FILE` if given, else the XDG config file if it exists, else defaults.
    pub fn load(
        explicit: Option<&Path>,
        default_file: Option<&Path>,
    ) -> Result<LoadedConfig, ConfigError> {
        let (path, required) = match (explicit, default_file) {
            (Some(path), _) => (path.to_path_buf(), true),
            (None, Some(path)) => (path.to_path_buf(), false),
            (None, None) => {
                return Ok(LoadedConfig {
                    config: Config::default(),
                    source: None,
                });
            }
        };
        match std::fs::read_to_string(&path) {
            Ok(source) => Ok(LoadedConfig {
                config: Config::parse(&path.display().to_string(), &source)?,
                source: Some(path),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(LoadedConfig {
                    config: Config::default(),
                    source: None,
                })
            }
            Err(error) => Err(ConfigError::unreadable(
                &path,
                &error,
                &format!(
                    "check the path; `opsdeck config default > {}` writes a commented starting point",
                    path.display()
                ),
            )),
        }
    }

    /// Defaults with the file's rules merged in: a rule for the same metric and instance
    /// replaces the default one; `enabled = false` removes it. Each `[[secret]]` warns ten days
    /// before its `max_age` and is critical at it. Each tls service's own
    /// `warn_days`/`crit_days` become a rule for that service.
    pub fn effective_rules(&self) -> Vec<Rule> {
        let mut rules = default_rules();
        for spec in &self.service_specs {
            if let crate::core::services::ServiceCheck::Tls(tls) = &spec.check {
                rules.push(Rule {
                    metric: "service.tls_days_left".into(),
                    instance: Some(spec.name.clone()),
                    operator: Operator::AtMost,
                    warn: Some(f64::from(tls.warn_days)),
                    crit: Some(f64::from(tls.crit_days)),
                    hold_for: Duration::ZERO,
                });
            }
        }
        for secret in &self.secret_specs {
            let (warn, crit) = secret.limits_days();
            rules.push(Rule {
                metric: crate::core::exposure::key_ages::AGE_DAYS.into(),
                instance: Some(secret.name.clone()),
                operator: Operator::AtLeast,
                warn,
                crit: Some(crit),
                hold_for: Duration::ZERO,
            });
        }
        for spanned in &self.rules {
            let configured = spanned.get_ref();
            let metric = match (&configured.metric, &configured.name) {
                (Some(metric), _) => metric.0.clone(),
                (None, Some(name)) => format!("promql.{name}"),
                (None, None) => continue,
            };
            rules.retain(|rule| !(rule.metric == metric && rule.instance == configured.instance));
            if configured.enabled {
                rules.push(Rule {
                    metric,
                    instance: configured.instance.clone(),
                    operator: configured.op.0,
                    warn: configured.warn,
                    crit: configured.crit,
                    hold_for: configured.hold_for.0,
                });
            }
        }
        rules
    }

    /// The theme named by `--theme` (`chosen`) or by this config; an unknown name in the config
    /// is reported at its place in `file`.
    pub fn theme(
        &self,
        chosen: Option<&str>,
        themes_dir: Option<&Path>,
        file: Option<&Path>,
    ) -> Result<Theme, ConfigError> {
        let name = chosen.unwrap_or(self.general.theme.get_ref());
        load_theme(name, themes_dir).map_err(|mut error| {
            if let (None, Some(file), Some(at), None) =
                (chosen, file, self.theme_at, error.position)
            {
                error.file = file.display().to_string();
                error.position = Some(at);
            }
            error
        })
    }

    /// The watched databases as (name, url).
    pub fn databases(&self) -> Vec<(String, String)> {
        self.databases
            .iter()
            .map(|database| {
                (
                    database.get_ref().name.clone(),
                    database.get_ref().url.clone(),
                )
            })
            .collect()
    }

    pub fn keymap(&self) -> Keymap {
        Keymap::new(&self.keys)
    }

    pub fn resource_settings(&self) -> ResourceSettings {
        ResourceSettings {
            interval: self.resources.interval.0,
            filesystems: self
                .resources
                .filesystems
                .iter()
                .map(PathBuf::from)
                .collect(),
            interfaces: self.resources.interfaces.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_file_is_the_default() {
        let parsed = Config::parse("default", DEFAULT_CONFIG).expect("embedded default parses");
        assert_eq!(parsed.general, GeneralConfig::default());
        assert_eq!(parsed.store, StoreConfig::default());
        assert_eq!(parsed.exporter, ExporterConfig::default());
        assert_eq!(parsed.resources, ResourcesConfig::default());
        assert_eq!(parsed.effective_rules(), default_rules());
        assert_eq!(parsed.keymap(), Keymap::default());
        assert_eq!(parsed.tasks, tasks::TasksConfig::default());
        assert!(parsed.commands.is_empty());
        assert!(parsed.services.is_empty());
        assert_eq!(parsed.notify, services::NotifyConfig::default());
        assert_eq!(parsed.queries, queries::QueriesConfig::default());
        assert!(parsed.databases.is_empty());
        assert!(parsed.logs.is_empty() && parsed.log_sources.is_empty());
    }

    #[test]
    fn a_user_rule_replaces_the_default_for_its_metric() {
        let config = Config::parse(
            "t",
            "[[rule]]\nmetric = \"cpu.used_pct\"\nwarn = 70\ncrit = 95\nfor = \"1m\"\n[[rule]]\nmetric = \"memory.used_pct\"\nenabled = false\nwarn = 1\n",
        )
        .unwrap();
        let rules = config.effective_rules();
        let cpu: Vec<_> = rules
            .iter()
            .filter(|r| r.metric == "cpu.used_pct")
            .collect();
        assert_eq!(cpu.len(), 1);
        assert_eq!(cpu[0].warn, Some(70.0));
        assert_eq!(cpu[0].hold_for, Duration::from_secs(60));
        assert!(!rules.iter().any(|r| r.metric == "memory.used_pct"));
        assert!(rules.iter().any(|r| r.metric == "disk.used_pct"));
    }

    #[test]
    fn a_bad_listen_address_is_reported_at_its_line() {
        let error = Config::parse(
            "t.toml",
            "[general]\n\n[exporter]\nlisten = \"localhost:9464\"\n",
        )
        .unwrap_err();
        assert_eq!(error.position.map(|(line, _)| line), Some(4), "{error}");
        assert!(error.message.contains("localhost:9464"), "{error}");
        assert!(
            error
                .fix
                .as_deref()
                .is_some_and(|fix| fix.contains("127.0.0.1:9464"))
        );
        let parsed = Config::parse("t.toml", "[exporter]\nlisten = \"127.0.0.1:9464\"\n").unwrap();
        assert_eq!(
            parsed.exporter.listen.0,
            Some(([127, 0, 0, 1], 9464).into())
        );
    }
}
