//! Secrets kept out of what opsdeck shows, logs, reports and stores: passwords in connection
//! URLs (`user:pw@`, `?password=`), the secret path of a Slack webhook, tokens in a webhook's
//! query, and credentials in header lines.
//!
//! Two lines of defence: what opsdeck prints about a configured URL goes through a mask
//! ([`mask_url`], [`mask_slack_url`], [`mask_webhook_url`]), and free text that might quote a
//! secret (a library's error, a server's reply) goes through [`scrub`] with the secrets known
//! for it and [`redact`] for the shapes a secret has anywhere.

use std::sync::LazyLock;

use regex_lite::Regex;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are not scrubbed from free text: replacing every "ab" in a message
/// would garble it without hiding anything worth hiding.
const MIN_SCRUBBED_LEN: usize = 3;

/// The password in `scheme://user:password@host/…` or in a `password=` query parameter.
pub fn url_password(url: &str) -> Option<&str> {
    let query_password = || {
        let (_, query) = url.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.eq_ignore_ascii_case("password").then_some(value)
        })
    };
    let Some((_, authority)) = split_authority(url) else {
        return query_password();
    };
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => match userinfo.split_once(':') {
            Some((_, password)) if !password.is_empty() => Some(password),
            _ => query_password(),
        },
        None => query_password(),
    }
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:***@host/db?password=***`.
pub fn mask_url(url: &str) -> String {
    let masked = mask_userinfo_password(url);
    let Some((base, query)) = masked.split_once('?') else {
        return masked;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// `https://hooks.slack.com/services/T0/B0/secret` → `https://hooks.slack.com/***`: the whole
/// path of a Slack webhook is its secret.
pub fn mask_slack_url(url: &str) -> String {
    match split_after_host(url) {
        Some((base, "")) => mask_url(base),
        Some((base, _)) => format!("{}/{MASK}", mask_url(base)),
        None => MASK.to_owned(),
    }
}

/// `https://user:pw@example.com/hook?token=x` → `https://user:***@example.com/hook?***`.
pub fn mask_webhook_url(url: &str) -> String {
    let masked = mask_url(url);
    match masked.split_once('?') {
        Some((base, _)) => format!("{base}?{MASK}"),
        None => masked,
    }
}

/// The secret of a Slack webhook URL (its path), for [`scrub`].
pub fn slack_url_secrets(url: &str) -> Vec<String> {
    match split_after_host(url) {
        Some((_, rest)) => vec![rest.trim_start_matches('/').to_owned()],
        None => vec![url.to_owned()],
    }
}

/// The parts of a generic webhook URL that [`mask_webhook_url`] hides (its userinfo password,
/// its query and each query value), for [`scrub`].
pub fn webhook_url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some((_, query)) = url.split_once('?') {
        secrets.push(query.to_owned());
        for pair in query.split('&') {
            if let Some((_, value)) = pair.split_once('=') {
                secrets.push(value.to_owned());
            }
        }
    }
    if let Some((_, authority)) = split_authority(url)
        && let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        secrets.push(password.to_owned());
    }
    // A query value such as `1` or `json` is not worth hiding and would garble the line.
    secrets.retain(|secret| secret.len() >= 4);
    secrets
}

/// `text` with every occurrence of each secret replaced by [`MASK`].
pub fn scrub<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let secret = secret.as_ref();
        if secret.len() >= MIN_SCRUBBED_LEN {
            text = text.replace(secret, MASK);
        }
    }
    text
}

/// `text` with the password of `url` scrubbed from it.
pub fn scrub_url_password(text: &str, url: &str) -> String {
    scrub(text, url_password(url).as_slice())
}

/// Free text with anything shaped like a secret masked: URL passwords, secret query
/// parameters, Slack webhook paths and credential headers (`Authorization: Bearer …`,
/// `X-Api-Key: …`), for text whose secrets are not known beforehand (a program's output).
pub fn redact(text: &str) -> String {
    static SHAPES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
        let shape = |pattern: &str, replacement| {
            (
                Regex::new(pattern).expect("the secret shapes are valid regular expressions"),
                replacement,
            )
        };
        [
            // scheme://user:password@host
            shape(
                r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#@:]*):[^\s/?#]+@",
                "${1}:***@",
            ),
            shape(
                r"(?i)(https?://hooks\.slack\.com)/services/[a-z0-9/_-]+",
                "${1}/***",
            ),
            // ?password=…, &token=…
            shape(
                r#"(?i)([?&](?:password|passwd|pwd|token|access_token|api_key|apikey|key|secret|signature|sig|auth)=)[^&\s#)"']+"#,
                "${1}***",
            ),
            // Authorization: Bearer xyz, X-Api-Key: xyz
            shape(
                r"(?i)\b((?:proxy-)?authorization\s*:\s*(?:(?:bearer|basic|token|digest)\s+)?|(?:x-api-key|x-auth-token|api-key|private-token)\s*:\s*)[^\s,;]+",
                "${1}***",
            ),
        ]
    });
    SHAPES
        .iter()
        .fold(text.to_owned(), |text, (shape, replacement)| {
            shape.replace_all(&text, *replacement).into_owned()
        })
}

/// A writer that passes what it is given through [`redact`] first: the log file gets every
/// line masked, whatever logged it. Each `write` is taken as whole lines (a log event is
/// written in one call), so a secret is never split across two calls.
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `(scheme://authority, authority)` of a URL, without its path, query or fragment.
fn split_authority(url: &str) -> Option<(&str, &str)> {
    let (base, _) = split_after_host(url)?;
    let (_, authority) = base.split_once("://")?;
    Some((base, authority))
}

/// Where the host part of a URL ends: `(scheme://authority, rest)`.
fn split_after_host(url: &str) -> Option<(&str, &str)> {
    let authority_start = url.find("://")? + 3;
    let end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |offset| authority_start + offset);
    Some((&url[..end], &url[end..]))
}

fn mask_userinfo_password(url: &str) -> String {
    let Some((base, authority)) = split_authority(url) else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => {
            let scheme = &base[..base.len() - authority.len()];
            format!("{scheme}{user}:{MASK}@{host}{}", &url[base.len()..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_writer_masks_every_line_it_writes() {
        use std::io::Write;
        let mut writer = RedactingWriter(Vec::new());
        let line = b"connect postgres://app:hunter22@db/x failed\n";
        assert_eq!(writer.write(line).unwrap(), line.len());
        assert_eq!(
            String::from_utf8(writer.0).unwrap(),
            "connect postgres://app:***@db/x failed\n"
        );
    }

    use super::*;

    #[test]
    fn connection_url_passwords() {
        let url = "postgres://ops:s3cr3t@db.example:5432/opsdeck";
        assert_eq!(mask_url(url), "postgres://ops:***@db.example:5432/opsdeck");
        assert_eq!(url_password(url), Some("s3cr3t"));
        assert_eq!(
            redact(&format!("cannot connect to {url}: refused")),
            "cannot connect to postgres://ops:***@db.example:5432/opsdeck: refused"
        );
        // A password may hold '@' and ':' when percent-encoding is forgotten.
        assert_eq!(
            mask_url("postgres://u:p@ss:w@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            mask_url("postgres://ops@db/opsdeck"),
            "postgres://ops@db/opsdeck"
        );
        assert_eq!(url_password("postgres://ops@db/opsdeck"), None);
        assert_eq!(url_password("postgres://h:5432/db"), None);
        assert_eq!(mask_url("postgres://h:5432/db"), "postgres://h:5432/db");
    }

    #[test]
    fn password_query_parameters() {
        let url = "postgres://db/x?user=a&password=hunter2&sslmode=require";
        assert_eq!(
            mask_url(url),
            "postgres://db/x?user=a&password=***&sslmode=require"
        );
        assert_eq!(url_password(url), Some("hunter2"));
        assert_eq!(
            url_password("postgres://u@h/db?password=pw1&x=1"),
            Some("pw1")
        );
        assert_eq!(
            redact("dsn postgres://db/x?password=hunter2&sslmode=require failed"),
            "dsn postgres://db/x?password=***&sslmode=require failed"
        );
    }

    #[test]
    fn redis_urls_with_only_a_password() {
        let url = "redis://:hunter2@cache:6379/0";
        assert_eq!(mask_url(url), "redis://:***@cache:6379/0");
        assert_eq!(url_password(url), Some("hunter2"));
        assert_eq!(redact(url), "redis://:***@cache:6379/0");
        assert_eq!(mask_url("redis://cache:6379"), "redis://cache:6379");
    }

    #[test]
    fn slack_webhooks_hide_their_path() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        assert_eq!(mask_slack_url(url), "https://hooks.slack.com/***");
        assert_eq!(
            redact(&format!("posting to {url} failed")),
            "posting to https://hooks.slack.com/*** failed"
        );
        assert_eq!(
            scrub(
                "404 for services/T000/B000/XXXXSECRET",
                &slack_url_secrets(url)
            ),
            "404 for ***"
        );
        assert_eq!(
            mask_slack_url("https://hooks.slack.com"),
            "https://hooks.slack.com"
        );
        assert_eq!(mask_slack_url("not a url"), "***");
    }

    #[test]
    fn webhook_tokens_in_path_and_query() {
        let url = "https://bot:hunter2@example.com/hook?token=abcdef&x=1";
        assert_eq!(
            mask_webhook_url(url),
            "https://bot:***@example.com/hook?***"
        );
        let secrets = webhook_url_secrets(url);
        assert_eq!(
            scrub("POST /hook?token=abcdef&x=1 as bot:hunter2: 401", &secrets),
            "POST /hook?*** as bot:***: 401"
        );
        assert_eq!(
            redact("error sending request for url (https://example.com/hook?x=1&token=abcdef)"),
            "error sending request for url (https://example.com/hook?x=1&token=***)"
        );
        assert_eq!(
            mask_webhook_url("http://127.0.0.1:9/in"),
            "http://127.0.0.1:9/in"
        );
    }

    #[test]
    fn tokens_in_headers() {
        assert_eq!(
            redact("Authorization: Bearer xyz.abc-123"),
            "Authorization: Bearer ***"
        );
        assert_eq!(
            redact("authorization: Basic dXNlcjpwdw=="),
            "authorization: Basic ***"
        );
        assert_eq!(
            redact("X-Api-Key: 0123abcd, Accept: */*"),
            "X-Api-Key: ***, Accept: */*"
        );
        assert_eq!(
            redact("Content-Type: text/plain"),
            "Content-Type: text/plain"
        );
    }

    #[test]
    fn known_secrets_are_scrubbed_from_any_text() {
        assert_eq!(
            scrub("auth hunter2 failed", &["hunter2"]),
            "auth *** failed"
        );
        assert_eq!(scrub::<&str>("nothing here", &[]), "nothing here");
        // Too short to replace without garbling the line.
        assert_eq!(scrub("a pw b", &["pw"]), "a pw b");
        assert_eq!(
            scrub_url_password(
                "password authentication failed: s3cret",
                "postgres://u:s3cret@h/db"
            ),
            "password authentication failed: ***"
        );
        assert_eq!(redact("nothing secret here"), "nothing secret here");
    }
}
