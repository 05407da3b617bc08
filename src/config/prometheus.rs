//! `[[prometheus]]` (the servers the hosts pane reads the fleet from) and the `[[rule]] promql`
//! expressions judged with them, checked and built into [`FleetSpec`]s while parsing.

use std::time::Duration;

use serde::Deserialize;

use super::diagnostics::line_and_column;
use super::{ConfigError, DurationValue, IntervalValue, RuleConfig};
use crate::core::fleet::{FleetSpec, PromqlRule};
use crate::core::sources::prometheus::{Auth, PrometheusSpec};

/// `[[prometheus]] url = "http://prom:9090" jobs = ["node"]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Names the source in the hosts pane and in `prometheus.up`; default `prometheus`.
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    /// One job; `jobs` for several. Default `node`.
    #[serde(default)]
    pub job: Option<String>,
    #[serde(default)]
    pub jobs: Vec<String>,
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_interval")]
    pub interval: IntervalValue,
    #[serde(default = "default_timeout")]
    pub timeout: DurationValue,
}

fn default_interval() -> IntervalValue {
    IntervalValue(Duration::from_secs(15))
}

fn default_timeout() -> DurationValue {
    DurationValue(Duration::from_secs(5))
}

/// A PromQL rule and where it is written, for reporting Prometheus' verdict on it in place.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedRule {
    pub rule: PromqlRule,
    /// 1-based line and column of its `[[rule]]`.
    pub at: (usize, usize),
}

/// The metric of a PromQL rule named `name`. Metric names live as long as the process (they
/// are `&'static str` everywhere else); a config is read once, so each name is leaked once.
fn promql_metric(name: &str) -> &'static str {
    Box::leak(format!("promql.{name}").into_boxed_str())
}

/// A mistake at `offset` of `source`, with its fix.
fn at(file: &str, source: &str, offset: usize, message: String, fix: &str) -> ConfigError {
    ConfigError::at(file, source, offset, message, Some(fix.to_owned()))
}

/// The `[[rule]] promql` entries, in file order.
pub fn build_promql_rules(
    rules: &[toml::Spanned<RuleConfig>],
    file: &str,
    source: &str,
) -> Result<Vec<PlacedRule>, ConfigError> {
    let mut placed: Vec<PlacedRule> = Vec::new();
    for spanned in rules {
        let rule = spanned.get_ref();
        let Some(expr) = &rule.promql else { continue };
        let at = |message: String, fix: &str| at(file, source, spanned.span().start, message, fix);
        let Some(name) = &rule.name else {
            return Err(at(
                "a `promql` rule needs a `name`".into(),
                "add name = \"high_load\" (its alerts are then promql.high_load)",
            ));
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(at(
                format!(
                    "rule name `{}` is not a simple name",
                    crate::core::text::printable(name)
                ),
                "use letters, digits, - and _",
            ));
        }
        if placed
            .iter()
            .any(|other| other.rule.metric == format!("promql.{name}"))
        {
            return Err(at(
                format!("rule name `{name}` is used twice"),
                "give each promql rule its own name",
            ));
        }
        if expr.trim().is_empty() {
            return Err(at(
                format!("rule `{name}` has an empty promql"),
                "write the expression, e.g. promql = \"node_load1 > 4\"",
            ));
        }
        placed.push(PlacedRule {
            rule: PromqlRule {
                metric: promql_metric(name),
                expr: expr.clone(),
            },
            at: line_and_column(source, spanned.span().start),
        });
    }
    Ok(placed)
}

/// The `[[prometheus]]` sources, each with every PromQL rule.
pub fn build_sources(
    entries: &[toml::Spanned<PrometheusConfig>],
    rules: &[PlacedRule],
    file: &str,
    source: &str,
) -> Result<Vec<FleetSpec>, ConfigError> {
    let mut specs: Vec<FleetSpec> = Vec::new();
    for spanned in entries {
        let entry = spanned.get_ref();
        let at = |message: String, fix: &str| at(file, source, spanned.span().start, message, fix);
        let name = entry.name.clone().unwrap_or_else(|| "prometheus".into());
        if specs.iter().any(|spec| spec.name == name) {
            return Err(at(
                format!("prometheus name `{name}` is used twice"),
                "give each [[prometheus]] its own name = \"…\"",
            ));
        }
        let shown = crate::core::sources::secrets::mask_url(&entry.url);
        match reqwest::Url::parse(&entry.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(at(
                    format!("prometheus url `{shown}` is not an http(s) URL"),
                    "write url = \"http://prometheus:9090\"",
                ));
            }
        }
        let auth = match (&entry.bearer_token, &entry.username, &entry.password) {
            (None, None, None) => Auth::None,
            (Some(token), None, None) => Auth::Bearer(token.clone()),
            (None, Some(username), password) => Auth::Basic {
                username: username.clone(),
                password: password.clone().unwrap_or_default(),
            },
            (None, None, Some(_)) => {
                return Err(at(
                    format!("prometheus `{name}` has a password but no username"),
                    "add username = \"…\" next to the password",
                ));
            }
            (Some(_), _, _) => {
                return Err(at(
                    format!("prometheus `{name}` has both a bearer_token and basic auth"),
                    "keep either bearer_token or username/password",
                ));
            }
        };
        let mut jobs: Vec<String> = entry.job.iter().chain(&entry.jobs).cloned().collect();
        if jobs.is_empty() {
            jobs.push("node".into());
        }
        specs.push(FleetSpec {
            name,
            server: PrometheusSpec {
                url: entry.url.clone(),
                auth,
                timeout: entry.timeout.0.max(Duration::from_millis(100)),
            },
            jobs,
            interval: entry.interval.0,
            // The first server judges the PromQL rules; asking every server would judge each twice.
            rules: if specs.is_empty() {
                rules.iter().map(|placed| placed.rule.clone()).collect()
            } else {
                Vec::new()
            },
        });
    }
    if specs.is_empty()
        && let Some(first) = rules.first()
    {
        return Err(ConfigError {
            file: file.into(),
            position: Some(first.at),
            message: "a `promql` rule needs a [[prometheus]] server to ask".into(),
            fix: Some("add [[prometheus]] url = \"http://prometheus:9090\"".into()),
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_source_and_a_promql_rule_parse_into_specs_and_rules() {
        let config = Config::parse(
            "t",
            "[[prometheus]]\nurl = \"http://prom:9090\"\nbearer_token = \"s3cret\"\njobs = [\"node\", \"edge\"]\n\n[[rule]]\nname = \"load\"\npromql = \"node_load1\"\nwarn = 2\n",
        )
        .unwrap();
        let spec = &config.fleet_specs[0];
        assert_eq!(spec.name, "prometheus");
        assert_eq!(spec.jobs, ["node", "edge"]);
        assert_eq!(spec.interval, std::time::Duration::from_secs(15));
        assert_eq!(spec.rules[0].metric, "promql.load");
        assert!(!format!("{:?}", spec.server).contains("s3cret"));
        assert!(
            config
                .effective_rules()
                .iter()
                .any(|rule| rule.metric == "promql.load" && rule.warn == Some(2.0))
        );
    }

    #[test]
    fn promql_mistakes_are_reported_at_their_rule() {
        let error = |text: &str| Config::parse("t", text).unwrap_err().to_string();
        let without_server = error("[[rule]]\nname = \"x\"\npromql = \"up\"\nwarn = 1\n");
        assert!(
            without_server.starts_with("t:1:1: a `promql` rule needs a [[prometheus]]"),
            "{without_server}"
        );
        let both = error("[[rule]]\nmetric = \"host.up\"\npromql = \"up\"\nwarn = 1\n");
        assert!(both.contains("both `metric` and `promql`"), "{both}");
        let unnamed =
            error("[[prometheus]]\nurl = \"http://p:9090\"\n[[rule]]\npromql = \"up\"\nwarn = 1\n");
        assert!(
            unnamed.starts_with("t:3:1: a `promql` rule needs a `name`"),
            "{unnamed}"
        );
    }
}
