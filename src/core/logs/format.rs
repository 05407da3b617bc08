//! One log line into a [`LogRecord`]: its time, level and message when the line's format has
//! them. Formats: plain text with a level word, JSON lines, syslog (RFC 3164 stamps or
//! rsyslog's RFC 3339 ones) and the nginx/Apache combined access log. Parsing never fails and
//! never panics: what a line lacks (or garbles) is `None`, and the whole line stays the message.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// How bad a line says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The level a word names, as loggers spell it (`ERROR`, `err`, `[warning]`, `E`, ...).
    pub fn from_word(word: &str) -> Option<Level> {
        let word = word.trim_matches(|c: char| "[]()<>:|,;\"'".contains(c));
        if word.is_empty() || word.len() > 9 {
            return None;
        }
        match word.to_ascii_uppercase().as_str() {
            "ERROR" | "ERR" | "E" | "FATAL" | "F" | "CRIT" | "CRITICAL" | "PANIC" | "EMERG"
            | "ALERT" | "SEVERE" => Some(Level::Error),
            "WARN" | "WARNING" | "W" => Some(Level::Warn),
            "INFO" | "I" | "NOTICE" => Some(Level::Info),
            "DEBUG" | "D" | "TRACE" | "T" => Some(Level::Debug),
            _ => None,
        }
    }

    /// Bunyan/pino numeric levels (10 trace ... 60 fatal).
    fn from_number(number: f64) -> Option<Level> {
        match number {
            n if n >= 50.0 => Some(Level::Error),
            n if n >= 40.0 => Some(Level::Warn),
            n if n >= 30.0 => Some(Level::Info),
            n if n >= 0.0 => Some(Level::Debug),
            _ => None,
        }
    }
}

/// The unit of the optional request time at the end of an access-log line: nginx's
/// `$request_time` is seconds, Apache's `%D` microseconds, some set-ups log milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestTime {
    #[default]
    Seconds,
    Millis,
    Micros,
}

/// The field names of a JSON-lines source, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFields {
    pub level: Vec<String>,
    pub message: Vec<String>,
    pub time: Vec<String>,
}

impl Default for JsonFields {
    fn default() -> Self {
        let names = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
        JsonFields {
            level: names(&["level", "severity", "lvl"]),
            message: names(&["message", "msg"]),
            time: names(&["time", "timestamp", "ts", "@timestamp"]),
        }
    }
}

/// What a source's lines look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json(JsonFields),
    Syslog,
    Access(RequestTime),
}

/// One request of an access log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Access {
    pub client: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: Option<u64>,
    pub referer: Option<String>,
    pub agent: Option<String>,
    pub duration_ms: Option<f64>,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    pub at: Option<DateTime<Utc>>,
    pub level: Option<Level>,
    pub message: String,
    /// Named parts the format has besides time, level and message (syslog host, program and
    /// pid; the other scalar fields of a JSON line), at most [`MAX_FIELDS`].
    pub fields: Vec<(String, String)>,
    pub access: Option<Access>,
}

/// Fields kept per record: a JSON line with thousands of keys must not cost thousands of
/// allocations.
pub const MAX_FIELDS: usize = 16;
/// How far into a plain line a level word is looked for.
const LEVEL_WORDS: usize = 6;

impl Format {
    /// Parses `line`. `now` gives the year to formats that leave it out (syslog).
    pub fn parse(&self, line: &str, now: DateTime<Utc>) -> LogRecord {
        let parsed = match self {
            Format::Plain => Some(plain(line)),
            Format::Json(fields) => json(line, fields),
            Format::Syslog => syslog(line, now),
            Format::Access(unit) => access(line, *unit),
        };
        parsed.unwrap_or_else(|| LogRecord {
            message: line.to_owned(),
            ..LogRecord::default()
        })
    }
}

fn plain(line: &str) -> LogRecord {
    let at = leading_time(line);
    let level = level_word(line);
    LogRecord {
        at,
        level,
        message: line.to_owned(),
        ..LogRecord::default()
    }
}

/// The level named by one of the first words of free text. A word counts when it is written
/// as a level (`ERROR`, `[error]`, `error:`), not when it is prose ("an error occurred").
fn level_word(text: &str) -> Option<Level> {
    text.split_whitespace().take(LEVEL_WORDS).find_map(|word| {
        let bare = word.trim_matches(|c: char| "[]()<>:|".contains(c));
        let marked = bare.len() != word.len() || !bare.chars().any(|c| c.is_lowercase());
        marked.then(|| Level::from_word(bare)).flatten()
    })
}

/// An ISO-8601-like time at the start of a line: `2026-12-05T10:00:00Z`, `2026-12-05
/// 10:00:00,123` (local times read as UTC).
fn leading_time(line: &str) -> Option<DateTime<Utc>> {
    let mut words = line.split_whitespace();
    let first = words.next()?.trim_start_matches('[').trim_end_matches(']');
    if let Ok(at) = DateTime::parse_from_rfc3339(first) {
        return Some(at.with_timezone(&Utc));
    }
    let second = words.next()?.trim_end_matches(']').replace(',', ".");
    let joined = format!("{first} {second}");
    NaiveDateTime::parse_from_str(&joined, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|at| Utc.from_utc_datetime(&at))
}

fn json(line: &str, names: &JsonFields) -> Option<LogRecord> {
    let serde_json::Value::Object(object) = serde_json::from_str(line.trim()).ok()? else {
        return None;
    };
    let pick = |names: &[String]| names.iter().find_map(|name| object.get(name));
    let level = pick(&names.level).and_then(|value| match value {
        serde_json::Value::String(word) => Level::from_word(word),
        serde_json::Value::Number(number) => number.as_f64().and_then(Level::from_number),
        _ => None,
    });
    let message = match pick(&names.message) {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => line.to_owned(),
    };
    let at = pick(&names.time).and_then(|value| match value {
        serde_json::Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.with_timezone(&Utc)),
        serde_json::Value::Number(number) => number.as_f64().and_then(epoch),
        _ => None,
    });
    let known = |key: &str| {
        [&names.level, &names.message, &names.time]
            .iter()
            .any(|list| list.iter().any(|name| name == key))
    };
    let fields = object
        .iter()
        .filter(|(key, _)| !known(key))
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(text) => Some((key.clone(), text.clone())),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                Some((key.clone(), value.to_string()))
            }
            _ => None,
        })
        .take(MAX_FIELDS)
        .collect();
    Some(LogRecord {
        at,
        level,
        message,
        fields,
        access: None,
    })
}

/// Seconds or milliseconds since the epoch (told apart by size: 1e11 s is the year 5138).
fn epoch(number: f64) -> Option<DateTime<Utc>> {
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    let millis = if number >= 1e11 {
        number
    } else {
        number * 1000.0
    };
    DateTime::from_timestamp_millis(millis as i64)
}

/// `Dec  5 10:00:00 host prog[123]: message` (RFC 3164, as rsyslog writes files).
fn syslog(line: &str, now: DateTime<Utc>) -> Option<LogRecord> {
    let (at, rest) = match syslog_precise_time(line) {
        Some(found) => found,
        None => syslog_time(line, now)?,
    };
    let (host, rest) = rest.split_once(' ')?;
    let mut fields = vec![("host".to_owned(), host.to_owned())];
    let message = match rest.split_once(": ") {
        Some((tag, message)) if !tag.contains(' ') => {
            let (program, pid) = match tag.split_once('[') {
                Some((program, pid)) => (program, pid.strip_suffix(']')),
                None => (tag, None),
            };
            fields.push(("program".to_owned(), program.to_owned()));
            if let Some(pid) = pid {
                fields.push(("pid".to_owned(), pid.to_owned()));
            }
            message
        }
        _ => rest,
    };
    let level = level_word(message);
    Some(LogRecord {
        at: Some(at),
        level,
        message: message.to_owned(),
        fields,
        access: None,
    })
}

/// The RFC 3164 stamp (`Dec  5 10:00:00`, no year: taken from `now`) and what follows it.
fn syslog_time(line: &str, now: DateTime<Utc>) -> Option<(DateTime<Utc>, &str)> {
    let stamp = line.get(..15)?;
    let rest = line.get(15..)?.strip_prefix(' ')?;
    let partial =
        NaiveDateTime::parse_from_str(&format!("{} {stamp}", now.year()), "%Y %b %e %H:%M:%S")
            .ok()?;
    // A December line read in January is from last year.
    let at = if partial > now.naive_utc() + chrono::Duration::days(1) {
        NaiveDate::from_ymd_opt(now.year() - 1, partial.month(), partial.day())
            .map(|day| day.and_time(partial.time()))
            .unwrap_or(partial)
    } else {
        partial
    };
    Some((Utc.from_utc_datetime(&at), rest))
}

/// rsyslog's high-precision stamp (`2026-12-05T10:00:00.123456+09:00`, Debian's default since
/// 12) and what follows it.
fn syslog_precise_time(line: &str) -> Option<(DateTime<Utc>, &str)> {
    let (stamp, rest) = line.split_once(' ')?;
    let at = DateTime::parse_from_rfc3339(stamp).ok()?;
    Some((at.with_timezone(&Utc), rest))
}

/// `1.2.3.4 - user [05/Dec/2026:10:00:00 +0000] "GET /path HTTP/1.1" 200 512 "ref" "agent" 0.012`
fn access(line: &str, unit: RequestTime) -> Option<LogRecord> {
    let (client, rest) = line.split_once(' ')?;
    let rest = rest.get(rest.find('[')? + 1..)?;
    let (time, rest) = rest.split_once(']')?;
    let at = DateTime::parse_from_str(time, "%d/%b/%Y:%H:%M:%S %z")
        .ok()
        .map(|at| at.with_timezone(&Utc));
    let (request, rest) = quoted(rest.trim_start())?;
    let mut words = rest.split_whitespace();
    let status: u16 = words.next()?.parse().ok()?;
    let bytes = words.next().and_then(|bytes| bytes.parse().ok());
    let mut rest = rest.trim_start();
    // Skip the status and bytes already read.
    for _ in 0..2 {
        rest = rest
            .split_once(' ')
            .map_or("", |(_, after)| after)
            .trim_start();
    }
    let (referer, rest) = quoted(rest).unwrap_or((String::new(), rest));
    let (agent, rest) = quoted(rest.trim_start()).unwrap_or((String::new(), rest));
    let duration_ms = rest
        .split_whitespace()
        .next()
        .and_then(|value| value.parse::<f64>().ok())
        .filter(|value| value.is_finite() && *value >= 0.0)
        .map(|value| match unit {
            RequestTime::Seconds => value * 1000.0,
            RequestTime::Millis => value,
            RequestTime::Micros => value / 1000.0,
        });
    let mut parts = request.splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let level = match status {
        500.. => Level::Error,
        400..=499 => Level::Warn,
        _ => Level::Info,
    };
    let present = |text: String| (!text.is_empty() && text != "-").then_some(text);
    Some(LogRecord {
        at,
        level: Some(level),
        message: request.clone(),
        fields: Vec::new(),
        access: Some(Access {
            client: client.to_owned(),
            method,
            path,
            status,
            bytes,
            referer: present(referer),
            agent: present(agent),
            duration_ms,
        }),
    })
}

/// A `"..."` string at the start of `text` (with `\"` and `\\` escapes, as Apache writes
/// them), and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, body.get(index + 1..)?)),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            _ => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 11, 0, 0).unwrap()
    }

    #[test]
    fn plain_lines_take_the_level_word_in_its_usual_spellings() {
        let cases = [
            (
                "2026-12-05 10:00:01,250 ERROR db: connection refused",
                Some(Level::Error),
            ),
            (
                "2026/12/05 10:00:01 [error] 123#0: upstream timed out",
                Some(Level::Error),
            ),
            ("E1205 10:00:01.000 main.go:12] failed", None),
            ("I 10:00:01 started", Some(Level::Info)),
            ("[WARN] disk almost full", Some(Level::Warn)),
            ("level=debug msg=hello", None),
            ("just a sentence about an error", None),
            ("", None),
        ];
        for (line, level) in cases {
            let record = Format::Plain.parse(line, now());
            assert_eq!(record.level, level, "{line}");
            assert_eq!(record.message, line);
        }
        let record = Format::Plain.parse("2026-12-05 10:00:01,250 ERROR x", now());
        assert_eq!(
            record.at,
            Some(
                Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 1).unwrap()
                    + chrono::Duration::milliseconds(250)
            )
        );
        let record = Format::Plain.parse("2026-12-05T10:00:01+09:00 INFO x", now());
        assert_eq!(
            record.at,
            Some(Utc.with_ymd_and_hms(2026, 12, 5, 1, 0, 1).unwrap())
        );
    }

    #[test]
    fn json_lines_use_the_configured_field_names() {
        let format = Format::Json(JsonFields::default());
        let record = format.parse(
            r#"{"level":"error","msg":"payment failed","time":"2026-12-05T10:00:00Z","order":42,"nested":{"a":1}}"#,
            now(),
        );
        assert_eq!(record.level, Some(Level::Error));
        assert_eq!(record.message, "payment failed");
        assert_eq!(
            record.at,
            Some(Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap())
        );
        assert_eq!(record.fields, [("order".to_owned(), "42".to_owned())]);

        let record = format.parse(r#"{"level":50,"msg":"x","time":1764928800000}"#, now());
        assert_eq!(record.level, Some(Level::Error));
        assert_eq!(record.at, DateTime::from_timestamp(1_764_928_800, 0));

        let custom = Format::Json(JsonFields {
            level: vec!["sev".into()],
            message: vec!["text".into()],
            time: vec![],
        });
        let record = custom.parse(r#"{"sev":"WARNING","text":"slow \u001b[31m"}"#, now());
        assert_eq!(record.level, Some(Level::Warn));
        assert_eq!(record.message, "slow \u{1b}[31m");
    }

    #[test]
    fn json_that_is_not_an_object_stays_the_message() {
        let format = Format::Json(JsonFields::default());
        for line in [
            "not json",
            "[1,2]",
            "{\"level\":",
            "\u{fffd}\u{fffd}",
            "{\"msg\": 1e999}",
        ] {
            let record = format.parse(line, now());
            assert_eq!(record.level, None, "{line}");
            assert_eq!(record.at, None, "{line}");
        }
        let record = format.parse(r#"{"level":["error"],"time":-5}"#, now());
        assert_eq!((record.level, record.at), (None, None));
    }

    #[test]
    fn syslog_lines_give_host_program_pid_and_the_year_from_now() {
        let record = Format::Syslog.parse(
            "Dec  5 10:00:00 web1 sshd[4321]: Failed password for root from 10.0.0.7 port 22 ssh2",
            now(),
        );
        assert_eq!(
            record.at,
            Some(Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap())
        );
        assert_eq!(
            record.fields,
            [
                ("host".to_owned(), "web1".to_owned()),
                ("program".to_owned(), "sshd".to_owned()),
                ("pid".to_owned(), "4321".to_owned())
            ]
        );
        assert!(record.message.starts_with("Failed password"));

        let january = Utc.with_ymd_and_hms(2027, 1, 1, 0, 5, 0).unwrap();
        let record = Format::Syslog.parse("Dec 31 23:59:59 web1 kernel: oops", january);
        assert_eq!(
            record.at,
            Some(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap())
        );
        assert_eq!(
            record.fields[1],
            ("program".to_owned(), "kernel".to_owned())
        );

        let record = Format::Syslog.parse(
            "2026-12-05T10:00:00.250000+09:00 web1 CRON[77]: (root) CMD (true)",
            now(),
        );
        assert_eq!(
            record.at,
            Some(
                Utc.with_ymd_and_hms(2026, 12, 5, 1, 0, 0).unwrap()
                    + chrono::Duration::milliseconds(250)
            )
        );
        assert_eq!(record.fields[1], ("program".to_owned(), "CRON".to_owned()));
        assert_eq!(record.message, "(root) CMD (true)");

        let record = Format::Syslog.parse("Dec 5 1", now());
        assert_eq!((record.at, record.message.as_str()), (None, "Dec 5 1"));
        let record = Format::Syslog.parse("Feb 30 10:00:00 h p: x", now());
        assert_eq!(record.at, None);
        let record = Format::Syslog.parse("Dec  5 10:00:00 h ééé€€€", now());
        assert_eq!(record.message, "ééé€€€");
    }

    #[test]
    fn access_lines_give_the_request_and_its_time() {
        let line = r#"203.0.113.9 - - [05/Dec/2026:10:00:00 +0900] "GET /api/orders?id=1 HTTP/1.1" 502 157 "https://example.com/" "curl/8.5.0" 0.250"#;
        let record = Format::Access(RequestTime::Seconds).parse(line, now());
        assert_eq!(
            record.at,
            Some(Utc.with_ymd_and_hms(2026, 12, 5, 1, 0, 0).unwrap())
        );
        assert_eq!(record.level, Some(Level::Error));
        let access = record.access.unwrap();
        assert_eq!(access.client, "203.0.113.9");
        assert_eq!(access.method, "GET");
        assert_eq!(access.path, "/api/orders?id=1");
        assert_eq!(access.status, 502);
        assert_eq!(access.bytes, Some(157));
        assert_eq!(access.referer.as_deref(), Some("https://example.com/"));
        assert_eq!(access.agent.as_deref(), Some("curl/8.5.0"));
        assert_eq!(access.duration_ms, Some(250.0));

        let line = r#"::1 - bob [05/Dec/2026:10:00:00 +0000] "POST /login HTTP/1.1" 401 - "-" "a \"quoted\" agent" 1234"#;
        let access = Format::Access(RequestTime::Micros)
            .parse(line, now())
            .access
            .unwrap();
        assert_eq!(
            (access.status, access.bytes, access.referer),
            (401, None, None)
        );
        assert_eq!(access.agent.as_deref(), Some("a \"quoted\" agent"));
        assert_eq!(access.duration_ms, Some(1.234));

        // Plain common log format: no referer, agent or time.
        let line = r#"10.0.0.1 - - [05/Dec/2026:10:00:00 +0000] "GET / HTTP/1.0" 200 12"#;
        let access = Format::Access(RequestTime::Millis)
            .parse(line, now())
            .access
            .unwrap();
        assert_eq!((access.agent, access.duration_ms), (None, None));
    }

    #[test]
    fn hostile_access_lines_never_panic() {
        let format = Format::Access(RequestTime::Seconds);
        for line in [
            "",
            "[",
            "1.2.3.4 - - [",
            "1.2.3.4 - - [05/Dec/2026:10:00:00 +0000] \"GET",
            "1.2.3.4 - - [garbage] \"\\x16\\x03\\x01\" 400 0 \"-\" \"-\"",
            "1.2.3.4 - - [05/Dec/2026:10:00:00 +0000] \"\u{1b}[2J\" 999999 12 \"-\" \"-\" NaN",
            "é [é] \"é\" é",
        ] {
            let record = format.parse(line, now());
            if let Some(access) = record.access {
                assert!(access.duration_ms.is_none_or(f64::is_finite));
            }
        }
        let record = format.parse("1.2.3.4 - - [garbage] \"\\x16\\x03\" 400 0", now());
        assert_eq!(record.at, None);
        assert_eq!(record.access.unwrap().status, 400);
    }
}
