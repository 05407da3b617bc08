//! The `[[service]]` entries (what the services pane checks) and the `[notify]` section (who is
//! told when an alert opens or resolves), turned into core settings with their mistakes reported
//! at their place in the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::DurationValue;
use super::diagnostics::ConfigError;
use crate::core::notify::{EmailSettings, NotifySettings};
use crate::core::services::command::CommandCheck;
use crate::core::services::container::ContainerCheck;
use crate::core::services::http::HttpCheck;
use crate::core::services::postgres::PostgresCheck;
use crate::core::services::process::ProcessCheck;
use crate::core::services::redis::RedisCheck;
use crate::core::services::systemd::SystemdCheck;
use crate::core::services::tcp::TcpCheck;
use crate::core::services::tls::{TlsCheck, TlsTarget};
use crate::core::services::{ServiceCheck, ServiceSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Http,
    Tcp,
    Tls,
    Postgres,
    Redis,
    Systemd,
    Process,
    Command,
    Container,
}

fn default_interval() -> DurationValue {
    DurationValue(Duration::from_secs(30))
}

fn default_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(5))
}

fn three() -> u32 {
    3
}

fn two() -> u32 {
    2
}

fn yes() -> bool {
    true
}

fn thirty() -> u32 {
    30
}

fn seven() -> u32 {
    7
}

fn one() -> u32 {
    1
}

/// One `[[service]]`: common fields, then the fields of its kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    pub kind: ServiceKind,
    #[serde(default = "default_interval")]
    pub interval: DurationValue,
    #[serde(default = "default_timeout")]
    pub timeout: DurationValue,
    #[serde(default = "three")]
    pub down_after: u32,
    #[serde(default = "two")]
    pub up_after: u32,
    /// The availability objective in percent the reports judge it against (default 99.5).
    #[serde(default)]
    pub slo: Option<toml::Spanned<f64>>,
    /// http, postgres, redis.
    #[serde(default)]
    pub url: Option<toml::Spanned<String>>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub expect_status: Vec<u16>,
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default)]
    pub json_pointer: Option<String>,
    #[serde(default)]
    pub json_equals: Option<toml::Value>,
    #[serde(default)]
    pub max_latency: Option<DurationValue>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "yes")]
    pub verify_tls: bool,
    /// tcp and tls: `host:port`.
    #[serde(default)]
    pub address: Option<String>,
    /// tls: the name sent in SNI (default: the host of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// tls: a certificate file instead of an address.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default = "thirty")]
    pub warn_days: u32,
    #[serde(default = "seven")]
    pub crit_days: u32,
    /// systemd.
    #[serde(default)]
    pub unit: Option<String>,
    /// process.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub full_command_line: bool,
    #[serde(default = "one")]
    pub min_count: u32,
    /// command.
    #[serde(default)]
    pub argv: Vec<String>,
    /// container: its name.
    #[serde(default)]
    pub container: Option<String>,
}

impl ServiceConfig {
    /// The core check, or what is missing or wrong (with the byte offset to point at).
    pub fn to_spec(&self, table_start: usize) -> Result<ServiceSpec, (usize, String, String)> {
        let missing = |field: &str, example: &str| {
            (
                table_start,
                format!("service `{}` ({:?}) needs `{field}`", self.name, self.kind).to_lowercase(),
                format!("add {field} = {example}"),
            )
        };
        let url = |example: &str| {
            self.url
                .as_ref()
                .map(|url| (url.get_ref().clone(), url.span().start))
                .ok_or_else(|| missing("url", example))
        };
        let check = match self.kind {
            ServiceKind::Http => {
                let (url, at) = url("\"http://127.0.0.1:8080/health\"")?;
                let parsed = reqwest::Url::parse(&url).map_err(|error| {
                    (
                        at,
                        format!(
                            "malformed URL `{}`: {error}",
                            crate::core::sources::secrets::mask_url(&url)
                        ),
                        "write a full URL such as http://127.0.0.1:8080/health".to_owned(),
                    )
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err((
                        at,
                        format!("URL scheme `{}` is not http or https", parsed.scheme()),
                        "use http:// or https://".into(),
                    ));
                }
                let json_equals =
                    match (&self.json_pointer, &self.json_equals) {
                        (Some(pointer), Some(value)) => Some((
                            pointer.clone(),
                            serde_json::to_value(value).map_err(|error| {
                                (
                                    table_start,
                                    format!("json_equals: {error}"),
                                    "use a TOML string, number or boolean".into(),
                                )
                            })?,
                        )),
                        (None, None) => None,
                        _ => return Err((
                            table_start,
                            "json_pointer and json_equals go together".into(),
                            "set both, e.g. json_pointer = \"/status\" and json_equals = \"ok\""
                                .into(),
                        )),
                    };
                ServiceCheck::Http(HttpCheck {
                    url,
                    method: self
                        .method
                        .clone()
                        .unwrap_or_else(|| "GET".into())
                        .to_uppercase(),
                    expect_status: self.expect_status.clone(),
                    body_contains: self.body_contains.clone(),
                    json_equals,
                    max_latency: self.max_latency.map(|latency| latency.0),
                    headers: self.headers.clone(),
                    verify_tls: self.verify_tls,
                })
            }
            ServiceKind::Tcp => ServiceCheck::Tcp(TcpCheck {
                address: self
                    .address
                    .clone()
                    .ok_or_else(|| missing("address", "\"127.0.0.1:5432\""))?,
            }),
            ServiceKind::Tls => {
                let target = match (&self.address, &self.cert_file) {
                    (Some(address), None) => TlsTarget::Endpoint {
                        address: address.clone(),
                        server_name: self.server_name.clone(),
                    },
                    (None, Some(file)) => TlsTarget::File(file.clone()),
                    _ => {
                        return Err((
                            table_start,
                            format!("tls service `{}` needs exactly one of `address` and `cert_file`", self.name),
                            "add address = \"example.com:443\" or cert_file = \"/etc/ssl/certs/site.pem\"".into(),
                        ));
                    }
                };
                ServiceCheck::Tls(TlsCheck {
                    target,
                    warn_days: self.warn_days,
                    crit_days: self.crit_days,
                })
            }
            ServiceKind::Postgres => {
                let (url, at) = url("\"postgres://postgres@127.0.0.1:5432/postgres\"")?;
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err((
                        at,
                        "a postgres service URL starts with postgres://".into(),
                        "write postgres://user@host:5432/database".into(),
                    ));
                }
                ServiceCheck::Postgres(PostgresCheck { url })
            }
            ServiceKind::Redis => {
                let (url, at) = url("\"redis://127.0.0.1:6379/0\"")?;
                if !(url.starts_with("redis://")
                    || url.starts_with("rediss://")
                    || url.starts_with("unix://"))
                {
                    return Err((
                        at,
                        "a redis service URL starts with redis://".into(),
                        "write redis://127.0.0.1:6379/0".into(),
                    ));
                }
                ServiceCheck::Redis(RedisCheck { url })
            }
            ServiceKind::Systemd => ServiceCheck::Systemd(SystemdCheck {
                unit: self
                    .unit
                    .clone()
                    .ok_or_else(|| missing("unit", "\"nginx.service\""))?,
            }),
            ServiceKind::Process => ServiceCheck::Process(ProcessCheck {
                pattern: self
                    .pattern
                    .clone()
                    .ok_or_else(|| missing("pattern", "\"nginx\""))?,
                full_command_line: self.full_command_line,
                min_count: self.min_count,
            }),
            ServiceKind::Command => {
                if self.argv.is_empty() {
                    return Err(missing(
                        "argv",
                        "[\"/usr/local/bin/check-app\", \"--quick\"]",
                    ));
                }
                ServiceCheck::Command(CommandCheck {
                    argv: self.argv.clone(),
                })
            }
            ServiceKind::Container => ServiceCheck::Container(ContainerCheck {
                container: self
                    .container
                    .clone()
                    .ok_or_else(|| missing("container", "\"web-1\""))?,
            }),
        };
        if self.interval.0 < Duration::from_secs(1) {
            return Err((
                table_start,
                format!("service `{}` interval must be at least 1s", self.name),
                "set interval = \"30s\" (the default)".into(),
            ));
        }
        if self.timeout.0.is_zero() {
            return Err((
                table_start,
                format!("service `{}` timeout must be more than 0", self.name),
                "set timeout = \"5s\" (the default)".into(),
            ));
        }
        Ok(ServiceSpec {
            name: self.name.clone(),
            interval: self.interval.0,
            timeout: self.timeout.0,
            down_after: self.down_after.max(1),
            up_after: self.up_after.max(1),
            check,
        })
    }
}

/// Checks every service entry; returns the specs or the first mistake at its place.
/// Each service's name, availability objective and check interval, for the reports.
pub fn report_targets(
    entries: &[toml::Spanned<ServiceConfig>],
) -> Vec<crate::core::reports::ServiceTarget> {
    entries
        .iter()
        .map(|entry| {
            let config = entry.get_ref();
            crate::core::reports::ServiceTarget {
                name: config.name.clone(),
                slo_pct: config
                    .slo
                    .as_ref()
                    .map_or(crate::core::reports::DEFAULT_SLO_PCT, |slo| *slo.get_ref()),
                interval: config.interval.0,
            }
        })
        .collect()
}

pub fn build_services(
    entries: &[toml::Spanned<ServiceConfig>],
    file: &str,
    source: &str,
) -> Result<Vec<ServiceSpec>, ConfigError> {
    let mut specs: Vec<ServiceSpec> = Vec::new();
    for entry in entries {
        let config = entry.get_ref();
        let at = |offset: usize, message: String, fix: String| {
            ConfigError::at(file, source, offset, message, Some(fix))
        };
        if config.name.trim().is_empty() {
            return Err(at(
                entry.span().start,
                "a service needs a name".into(),
                "add name = \"api\"".into(),
            ));
        }
        if specs.iter().any(|spec| spec.name == config.name) {
            return Err(at(
                entry.span().start,
                format!("service name `{}` is used twice", config.name),
                "give each [[service]] its own name".into(),
            ));
        }
        if let Some(slo) = &config.slo
            && !(slo.get_ref().is_finite() && *slo.get_ref() > 0.0 && *slo.get_ref() <= 100.0)
        {
            return Err(at(
                slo.span().start,
                format!("slo = {} is not a percentage", slo.get_ref()),
                "give the availability objective in percent, e.g. slo = 99.9".into(),
            ));
        }
        let spec = config
            .to_spec(entry.span().start)
            .map_err(|(offset, message, fix)| at(offset, message, fix))?;
        specs.push(spec);
    }
    Ok(specs)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "smtp_port")]
    pub smtp_port: u16,
    #[serde(default = "yes")]
    pub starttls: bool,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

fn smtp_port() -> u16 {
    587
}

/// `[notify]`: where alert messages go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// A Slack incoming-webhook URL; empty turns Slack off.
    pub slack_webhook: String,
    /// Generic JSON webhooks.
    pub webhooks: Vec<String>,
    /// Email for critical alerts.
    pub email: Option<EmailConfig>,
    /// No second message about one alert sooner than this (its resolution always goes out).
    pub min_interval: DurationValue,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            slack_webhook: String::new(),
            webhooks: Vec::new(),
            email: None,
            min_interval: DurationValue(Duration::from_secs(30 * 60)),
        }
    }
}

impl NotifyConfig {
    pub fn settings(&self, host: &str) -> NotifySettings {
        NotifySettings {
            slack_webhook: (!self.slack_webhook.trim().is_empty())
                .then(|| self.slack_webhook.clone()),
            webhooks: self.webhooks.clone(),
            email: self.email.as_ref().map(|email| EmailSettings {
                smtp_host: email.smtp_host.clone(),
                smtp_port: email.smtp_port,
                starttls: email.starttls,
                username: email.username.clone(),
                password: email.password.clone(),
                from: email.from.clone(),
                to: email.to.clone(),
            }),
            min_interval: self.min_interval.0,
            host: host.to_owned(),
        }
    }
}
