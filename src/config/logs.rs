//! The `[[log]]` entries (log sources: files by glob or the systemd journal, their line
//! format, the `[[log.match]]` regexes, the rules' window, the back-scan and the recipes)
//! turned into [`LogSource`]s while the file is parsed, each mistake reported at its place in
//! the file with the fix.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::DurationValue;
use super::diagnostics::ConfigError;
use crate::core::logs::format::{Format, JsonFields, RequestTime};
use crate::core::logs::source::{Input, LogSource, MatchRule};

/// The line formats a file source can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatName {
    Plain,
    Json,
    Syslog,
    Access,
}

/// The unit of the request time an access log writes after the user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RequestTimeUnit {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "ms")]
    Millis,
    #[serde(rename = "us")]
    Micros,
}

/// A JSON field name, or the names to try in order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FieldNames {
    One(String),
    Many(Vec<String>),
}

impl FieldNames {
    fn names(&self) -> Vec<String> {
        match self {
            FieldNames::One(name) => vec![name.clone()],
            FieldNames::Many(names) => names.clone(),
        }
    }
}

/// One `[[log.match]]`: lines matching `regex` are counted as `log.matches`, instance
/// `SOURCE/NAME`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub name: String,
    pub regex: toml::Spanned<String>,
}

/// One `[[log]]` source as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub name: String,
    pub path: Option<toml::Spanned<String>>,
    #[serde(default)]
    pub journal: bool,
    pub unit: Option<String>,
    pub journal_file: Option<PathBuf>,
    pub format: Option<FormatName>,
    pub level_field: Option<FieldNames>,
    pub message_field: Option<FieldNames>,
    pub time_field: Option<FieldNames>,
    pub request_time: Option<RequestTimeUnit>,
    pub window: Option<DurationValue>,
    pub back_scan: Option<DurationValue>,
    pub suspicious_after: Option<u64>,
    pub failed_logins: Option<bool>,
    #[serde(default, rename = "match")]
    pub matches: Vec<toml::Spanned<MatchConfig>>,
}

/// The shortest window: the counts are kept per minute.
const MIN_WINDOW: Duration = Duration::from_secs(60);
/// The longest window: per-minute counts are kept for 24 hours.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A mistake and the byte offset to point at.
type Mistake = (usize, String, String);

fn simple_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl LogConfig {
    fn to_source(&self, table_start: usize) -> Result<LogSource, Mistake> {
        let name = &self.name;
        let fail = |message: String, fix: &str| Err((table_start, message, fix.to_owned()));
        if !simple_name(name) {
            return fail(
                format!("log source name `{name}` is not a simple name"),
                "use letters, digits, -, _ and ., e.g. name = \"app\" (it names the source in rules: instance = \"app\")",
            );
        }
        let input = self.input(table_start)?;
        let format = self.format(table_start, &input)?;
        let mut source = LogSource::new(name.clone(), input, format);
        if let Some(failed_logins) = self.failed_logins {
            source.recipes.failed_logins = failed_logins;
        }
        if let Some(DurationValue(window)) = self.window {
            if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
                return fail(
                    format!(
                        "log source `{name}`: window = \"{}\" is outside 1m to 24h",
                        humantime::format_duration(window)
                    ),
                    "set a window of whole minutes up to a day, e.g. window = \"5m\" (the default)",
                );
            }
            source.window = window;
        }
        if let Some(DurationValue(back_scan)) = self.back_scan {
            source.back_scan = back_scan;
        }
        if let Some(after) = self.suspicious_after {
            if after == 0 {
                return fail(
                    format!("log source `{name}`: suspicious_after = 0 would list every address"),
                    "set the failures from one address that make it suspicious, e.g. suspicious_after = 5 (the default)",
                );
            }
            source.suspicious_after = after;
        }
        for entry in &self.matches {
            let rule = entry.get_ref();
            if !simple_name(&rule.name) {
                return Err((
                    entry.span().start,
                    format!(
                        "log source `{name}`: match name `{}` is not a simple name",
                        rule.name
                    ),
                    "use letters, digits, -, _ and ., e.g. name = \"timeouts\" (rules name it as instance = \"SOURCE/timeouts\")".into(),
                ));
            }
            if source.matches.iter().any(|other| other.name == rule.name) {
                return Err((
                    entry.span().start,
                    format!(
                        "log source `{name}`: match name `{}` is used twice",
                        rule.name
                    ),
                    "give each [[log.match]] of a source its own name".into(),
                ));
            }
            let regex = regex_lite::Regex::new(rule.regex.get_ref()).map_err(|error| {
                (
                    rule.regex.span().start,
                    format!(
                        "log source `{name}`: match `{}` regex `{}` is invalid: {}",
                        rule.name,
                        rule.regex.get_ref(),
                        one_line(&error.to_string())
                    ),
                    "write a regex in regex-lite syntax (no look-around or back-references); escape ( ) [ ] . * + ? with \\\\ in a TOML \"string\", or use a 'literal string', e.g. regex = 'upstream timed out \\(110'".into(),
                )
            })?;
            source.matches.push(MatchRule {
                name: rule.name.clone(),
                regex,
            });
        }
        Ok(source)
    }

    fn input(&self, table_start: usize) -> Result<Input, Mistake> {
        let name = &self.name;
        let fail = |at: usize, message: String, fix: &str| Err((at, message, fix.to_owned()));
        match (&self.path, self.journal) {
            (Some(_), true) => fail(
                table_start,
                format!("log source `{name}` has both path and journal = true"),
                "keep one: path = \"/var/log/app/*.log\" for files, or journal = true for the systemd journal (one [[log]] each)",
            ),
            (None, false) => fail(
                table_start,
                format!("log source `{name}` has neither path nor journal = true"),
                "add path = \"/var/log/app/*.log\" (a file or a glob), or journal = true (with unit = \"sshd.service\" for one unit)",
            ),
            (Some(path), false) => {
                let at = path.span().start;
                let pattern = path.get_ref();
                if let Some(key) = [
                    ("unit", self.unit.is_some()),
                    ("journal_file", self.journal_file.is_some()),
                ]
                .into_iter()
                .find_map(|(key, set)| set.then_some(key))
                {
                    return fail(
                        table_start,
                        format!("log source `{name}` reads files but sets `{key}`"),
                        "remove it, or read the journal instead: journal = true without path",
                    );
                }
                if !pattern.starts_with('/') {
                    return fail(
                        at,
                        format!("log source `{name}`: path `{pattern}` is not absolute"),
                        "write the full path, e.g. path = \"/var/log/app/*.log\"",
                    );
                }
                if let Err(error) = glob::Pattern::new(pattern) {
                    return fail(
                        at,
                        format!(
                            "log source `{name}`: path `{pattern}` is not a valid glob ({error})"
                        ),
                        "write a path or a glob like \"/var/log/app/*.log\" (* and ? match within a name, [abc] one character)",
                    );
                }
                Ok(Input::Files {
                    pattern: pattern.clone(),
                })
            }
            (None, true) => {
                if let Some(unit) = &self.unit
                    && unit.trim().is_empty()
                {
                    return fail(
                        table_start,
                        format!("log source `{name}` has an empty unit"),
                        "name the unit, e.g. unit = \"sshd.service\", or remove unit to read the whole journal",
                    );
                }
                Ok(Input::Journal {
                    unit: self.unit.clone(),
                    file: self.journal_file.clone(),
                })
            }
        }
    }

    fn format(&self, table_start: usize, input: &Input) -> Result<Format, Mistake> {
        let name = &self.name;
        let fail = |message: String, fix: String| Err((table_start, message, fix));
        let json_keys = [
            ("level_field", self.level_field.is_some()),
            ("message_field", self.message_field.is_some()),
            ("time_field", self.time_field.is_some()),
        ];
        let set_json_key = json_keys.iter().find_map(|(key, set)| set.then_some(*key));
        if matches!(input, Input::Journal { .. }) {
            let key = [
                ("format", self.format.is_some()),
                ("request_time", self.request_time.is_some()),
            ]
            .into_iter()
            .chain(json_keys)
            .find_map(|(key, set)| set.then_some(key));
            if let Some(key) = key {
                return fail(
                    format!("log source `{name}` reads the journal but sets `{key}`"),
                    "remove it: journal entries come with their own message and priority fields"
                        .into(),
                );
            }
            // The reader hands each entry on as a syslog line (`JournalEntry::line`), so the
            // signature is its message, not the stamp, host and program before it.
            return Ok(Format::Syslog);
        }
        let format = self.format.unwrap_or(FormatName::Plain);
        if format != FormatName::Json
            && let Some(key) = set_json_key
        {
            return fail(
                format!("log source `{name}` sets `{key}` but its format is not json"),
                format!("set format = \"json\", or remove {key}"),
            );
        }
        if format != FormatName::Access && self.request_time.is_some() {
            return fail(
                format!("log source `{name}` sets `request_time` but its format is not access"),
                "set format = \"access\", or remove request_time".into(),
            );
        }
        Ok(match format {
            FormatName::Plain => Format::Plain,
            FormatName::Syslog => Format::Syslog,
            FormatName::Json => {
                let mut fields = JsonFields::default();
                for (names, list) in [
                    (&self.level_field, &mut fields.level),
                    (&self.message_field, &mut fields.message),
                    (&self.time_field, &mut fields.time),
                ] {
                    if let Some(names) = names {
                        *list = names.names();
                    }
                }
                let empty = [
                    ("level_field", &fields.level, "severity"),
                    ("message_field", &fields.message, "msg"),
                    ("time_field", &fields.time, "ts"),
                ]
                .into_iter()
                .find(|(_, list, _)| list.is_empty() || list.iter().any(String::is_empty));
                if let Some((key, _, example)) = empty {
                    return fail(
                        format!("log source `{name}`: {key} names no field"),
                        format!(
                            "write a field name or a list of names, e.g. {key} = \"{example}\", or remove it for the defaults"
                        ),
                    );
                }
                Format::Json(fields)
            }
            FormatName::Access => Format::Access(match self.request_time {
                Some(RequestTimeUnit::Millis) => RequestTime::Millis,
                Some(RequestTimeUnit::Micros) => RequestTime::Micros,
                // The format has no "absent" unit: a line without a number after the user
                // agent has no request time whatever the unit, so "none" reads like "s".
                Some(RequestTimeUnit::Seconds | RequestTimeUnit::None) | None => {
                    RequestTime::Seconds
                }
            }),
        })
    }
}

/// regex-lite's errors span lines (the pattern, a caret, the reason); a diagnostic is one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The log sources, checked; the first mistake is reported at its place in the file.
pub fn build_sources(
    entries: &[toml::Spanned<LogConfig>],
    file: &str,
    source: &str,
) -> Result<Vec<LogSource>, ConfigError> {
    let mut sources: Vec<LogSource> = Vec::new();
    for entry in entries {
        let at = |(offset, message, fix): Mistake| {
            ConfigError::at(file, source, offset, message, Some(fix))
        };
        let built = entry.get_ref().to_source(entry.span().start).map_err(at)?;
        if sources.iter().any(|other| other.name == built.name) {
            return Err(at((
                entry.span().start,
                format!("log source name `{}` is used twice", built.name),
                "give each [[log]] its own name".into(),
            )));
        }
        sources.push(built);
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::core::logs::source::{DEFAULT_BACK_SCAN, DEFAULT_SUSPICIOUS_AFTER, DEFAULT_WINDOW};

    fn parse(text: &str) -> Result<Vec<LogSource>, ConfigError> {
        Config::parse("logs.toml", text).map(|config| config.log_sources)
    }

    fn error(text: &str) -> ConfigError {
        match parse(text) {
            Ok(sources) => panic!("accepted: {sources:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn a_plain_file_source_gets_the_defaults() {
        let sources = parse("[[log]]\nname = \"app\"\npath = \"/var/log/app/*.log\"\n").unwrap();
        assert_eq!(sources.len(), 1);
        let app = &sources[0];
        assert_eq!(app.name, "app");
        assert_eq!(
            app.input,
            Input::Files {
                pattern: "/var/log/app/*.log".into()
            }
        );
        assert_eq!(app.format, Format::Plain);
        assert!(!app.recipes.failed_logins && !app.recipes.access);
        assert_eq!(app.window, DEFAULT_WINDOW);
        assert_eq!(app.back_scan, DEFAULT_BACK_SCAN);
        assert_eq!(app.suspicious_after, DEFAULT_SUSPICIOUS_AFTER);
        assert!(app.matches.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let sources = parse(
            r#"
[[log]]
name = "api"
path = "/srv/api/log/*.jsonl"
format = "json"
level_field = "severity"
message_field = ["msg", "message"]
time_field = ["ts"]
window = "10m"
back_scan = "2h"
failed_logins = true
suspicious_after = 3
[[log.match]]
name = "timeouts"
regex = 'upstream timed out \(\d+'
[[log.match]]
name = "oom"
regex = "(?i)out of memory"

[[log]]
name = "nginx"
path = "/var/log/nginx/access.log"
format = "access"
request_time = "us"

[[log]]
name = "sshd"
journal = true
unit = "ssh.service"
journal_file = "/var/log/journal/export.journal"
failed_logins = false
"#,
        )
        .unwrap();
        let api = &sources[0];
        assert_eq!(
            api.format,
            Format::Json(JsonFields {
                level: vec!["severity".into()],
                message: vec!["msg".into(), "message".into()],
                time: vec!["ts".into()],
            })
        );
        assert_eq!(api.window, Duration::from_secs(600));
        assert_eq!(api.back_scan, Duration::from_secs(7200));
        assert!(api.recipes.failed_logins);
        assert_eq!(api.suspicious_after, 3);
        let names: Vec<&str> = api.matches.iter().map(|rule| rule.name.as_str()).collect();
        assert_eq!(names, ["timeouts", "oom"]);
        assert!(
            api.matches[0]
                .regex
                .is_match("upstream timed out (110: Connection timed out)")
        );
        assert!(!api.matches[0].regex.is_match("upstream timed out"));
        assert!(
            api.matches[1]
                .regex
                .is_match("Out Of Memory: killed process 12")
        );

        let nginx = &sources[1];
        assert_eq!(nginx.format, Format::Access(RequestTime::Micros));
        assert!(nginx.recipes.access && !nginx.recipes.failed_logins);

        let sshd = &sources[2];
        assert_eq!(
            sshd.input,
            Input::Journal {
                unit: Some("ssh.service".into()),
                file: Some(PathBuf::from("/var/log/journal/export.journal")),
            }
        );
        assert!(
            !sshd.recipes.failed_logins,
            "the override wins over the journal default"
        );
        assert_eq!(
            sshd.origin(),
            "journal -u ssh.service --file /var/log/journal/export.journal"
        );
    }

    #[test]
    fn syslog_and_journal_sources_count_failed_logins_by_default() {
        let sources = parse(
            "[[log]]\nname = \"auth\"\npath = \"/var/log/auth.log\"\nformat = \"syslog\"\n[[log]]\nname = \"journal\"\njournal = true\n",
        )
        .unwrap();
        assert!(sources[0].recipes.failed_logins);
        assert_eq!(sources[0].format, Format::Syslog);
        assert!(sources[1].recipes.failed_logins);
        assert_eq!(sources[1].format, Format::Syslog);
        assert_eq!(
            sources[1].input,
            Input::Journal {
                unit: None,
                file: None
            }
        );
    }

    #[test]
    fn access_request_time_defaults_to_seconds() {
        for (written, unit) in [
            ("", RequestTime::Seconds),
            ("request_time = \"s\"\n", RequestTime::Seconds),
            ("request_time = \"ms\"\n", RequestTime::Millis),
            ("request_time = \"none\"\n", RequestTime::Seconds),
        ] {
            let sources = parse(&format!(
                "[[log]]\nname = \"web\"\npath = \"/var/log/nginx/access.log\"\nformat = \"access\"\n{written}"
            ))
            .unwrap();
            assert_eq!(sources[0].format, Format::Access(unit), "{written}");
        }
    }

    #[test]
    fn an_invalid_regex_is_reported_at_its_line_with_the_reason() {
        let error = error(
            "[[log]]\nname = \"app\"\npath = \"/var/log/app.log\"\n[[log.match]]\nname = \"bad\"\nregex = \"timeout (\"\n",
        );
        assert_eq!(error.file, "logs.toml");
        assert_eq!(error.position.map(|(line, _)| line), Some(6));
        assert!(
            error
                .message
                .contains("match `bad` regex `timeout (` is invalid"),
            "{error}"
        );
        assert!(!error.message.contains('\n'), "one line: {error}");
        assert!(
            error
                .fix
                .as_deref()
                .is_some_and(|fix| fix.contains("regex-lite")),
            "{error}"
        );
    }

    #[test]
    fn path_and_journal_together_or_neither_are_refused() {
        let both = error("[[log]]\nname = \"x\"\npath = \"/var/log/x.log\"\njournal = true\n");
        assert_eq!(both.position.map(|(line, _)| line), Some(1));
        assert!(both.message.contains("both path and journal"), "{both}");
        let neither = error("\n[[log]]\nname = \"x\"\n");
        assert_eq!(neither.position.map(|(line, _)| line), Some(2));
        assert!(
            neither.message.contains("neither path nor journal"),
            "{neither}"
        );
    }

    #[test]
    fn an_unknown_format_names_the_nearest() {
        let error = error("[[log]]\nname = \"x\"\npath = \"/var/log/x.log\"\nformat = \"jsn\"\n");
        assert_eq!(error.position.map(|(line, _)| line), Some(4));
        assert!(error.message.contains("unknown variant `jsn`"), "{error}");
        assert_eq!(error.fix.as_deref(), Some("did you mean `json`?"));
    }

    #[test]
    fn keys_of_another_format_or_input_are_refused() {
        let cases = [
            (
                "path = \"/var/log/x.log\"\nlevel_field = \"lvl\"\n",
                "sets `level_field` but its format is not json",
            ),
            (
                "path = \"/var/log/x.log\"\nformat = \"syslog\"\nrequest_time = \"ms\"\n",
                "sets `request_time` but its format is not access",
            ),
            (
                "journal = true\nformat = \"json\"\n",
                "reads the journal but sets `format`",
            ),
            (
                "path = \"/var/log/x.log\"\nunit = \"nginx.service\"\n",
                "reads files but sets `unit`",
            ),
            (
                "path = \"var/log/x.log\"\n",
                "path `var/log/x.log` is not absolute",
            ),
            ("path = \"/var/log/[x.log\"\n", "is not a valid glob"),
            (
                "path = \"/var/log/x.log\"\nwindow = \"30s\"\n",
                "outside 1m to 24h",
            ),
            (
                "path = \"/var/log/x.log\"\nsuspicious_after = 0\n",
                "suspicious_after = 0",
            ),
            (
                "path = \"/var/log/x.log\"\nformat = \"json\"\ntime_field = []\n",
                "time_field names no field",
            ),
        ];
        for (keys, message) in cases {
            let error = error(&format!("[[log]]\nname = \"x\"\n{keys}"));
            assert!(error.message.contains(message), "{keys}: {error}");
            assert!(error.position.is_some() && error.fix.is_some(), "{error}");
        }
    }

    #[test]
    fn names_are_unique_and_simple() {
        let twice = error(
            "[[log]]\nname = \"x\"\npath = \"/a.log\"\n\n[[log]]\nname = \"x\"\npath = \"/b.log\"\n",
        );
        assert_eq!(twice.position.map(|(line, _)| line), Some(5));
        assert!(twice.message.contains("`x` is used twice"), "{twice}");
        let slash = error("[[log]]\nname = \"a/b\"\npath = \"/a.log\"\n");
        assert!(slash.message.contains("not a simple name"), "{slash}");
        let matches = error(
            "[[log]]\nname = \"x\"\npath = \"/a.log\"\n[[log.match]]\nname = \"m\"\nregex = \"a\"\n[[log.match]]\nname = \"m\"\nregex = \"b\"\n",
        );
        assert_eq!(matches.position.map(|(line, _)| line), Some(7));
        assert!(
            matches.message.contains("match name `m` is used twice"),
            "{matches}"
        );
    }

    /// The commented-out TOML of the default file from the line starting with `first` up to
    /// the next blank line, uncommented (prose comments left out).
    fn documented(first: &str) -> String {
        crate::config::DEFAULT_CONFIG
            .lines()
            .skip_while(|line| !line.starts_with(first))
            .take_while(|line| !line.is_empty())
            .filter_map(|line| line.strip_prefix('#'))
            .map(|line| line.strip_prefix(' ').unwrap_or(line))
            .filter(|line| {
                line.starts_with('[') || line.contains(" = ") || line.trim_start().starts_with('#')
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_documented_examples_parse() {
        let text = format!(
            "{}\n{}",
            documented("# [[rule]]"),
            documented("# Log sources for the logs pane")
        );
        let config = Config::parse("default examples", &text).unwrap();
        let names: Vec<&str> = config
            .log_sources
            .iter()
            .map(|source| source.name.as_str())
            .collect();
        assert_eq!(names, ["app", "api", "nginx", "auth", "sshd"]);
        let rules = config.effective_rules();
        let errors = rules
            .iter()
            .find(|rule| rule.metric == "log.errors")
            .unwrap();
        assert_eq!(
            (errors.instance.as_deref(), errors.warn),
            (Some("app"), Some(50.0))
        );
        let server_errors = rules
            .iter()
            .find(|rule| rule.metric == "log.http_5xx_pct")
            .unwrap();
        assert_eq!(server_errors.hold_for, Duration::from_secs(600));
    }

    #[test]
    fn a_misspelt_key_names_the_right_one() {
        let error = error("[[log]]\nname = \"x\"\npath = \"/a.log\"\nwindw = \"5m\"\n");
        assert_eq!(error.position.map(|(line, _)| line), Some(4));
        assert_eq!(error.fix.as_deref(), Some("did you mean `window`?"));
    }
}
