//! `http` checks: a request with an expected status, optional body substring or JSON pointer
//! equality, a latency limit, headers, and TLS verification that can be turned off.
//!
//! Two shared clients (verifying and not verifying certificates) keep connections alive
//! between rounds, so hundreds of services checked every few seconds cost little. The latency
//! is the time to the whole (bounded) body; redirects follow reqwest's default policy.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use super::CheckOutcome;
use super::tcp::{format_latency, millis};
use super::tls::describe_rustls_error;
use crate::core::model::Unit;
use crate::core::sources::failure::{describe_io_error, timed_out, without_os_code};
use crate::core::sources::secrets::mask_url;
use crate::core::text::printable;

#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    pub url: String,
    pub method: String,
    /// Acceptable status codes; empty means any 2xx.
    pub expect_status: Vec<u16>,
    pub body_contains: Option<String>,
    /// A JSON pointer (`/status`) and the value it must equal.
    pub json_equals: Option<(String, serde_json::Value)>,
    pub max_latency: Option<Duration>,
    pub headers: BTreeMap<String, String>,
    pub verify_tls: bool,
}

/// The part of a body that is read and searched; the rest is left unread.
const MAX_BODY_BYTES: usize = 1 << 20;

/// How much of a value from the network a detail shows.
const MAX_SHOWN_CHARS: usize = 60;

pub async fn check(check: &HttpCheck, timeout: Duration) -> CheckOutcome {
    let request = match build_request(check, timeout) {
        Ok(request) => request,
        Err(detail) => return CheckOutcome::failed(detail),
    };
    let start = Instant::now();
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return CheckOutcome::failed(describe_error(&error, timeout)),
    };
    let status = response.status();
    let needs_body = check.body_contains.is_some() || check.json_equals.is_some();
    let mut body = Vec::new();
    let mut read = 0;
    let mut truncated = false;
    // Read the body even when not judged (bounded), so the connection can be reused.
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let taken = chunk.len().min(MAX_BODY_BYTES - read);
                read += taken;
                if needs_body {
                    body.extend_from_slice(&chunk[..taken]);
                }
                if taken < chunk.len() {
                    truncated = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                return CheckOutcome::failed(format!(
                    "{} then {} reading the body",
                    status_text(status),
                    describe_error(&error, timeout)
                ));
            }
        }
    }
    let latency = start.elapsed();
    let verdict = judge(check, status, &body, truncated, latency);
    CheckOutcome {
        ok: verdict.is_ok(),
        latency: Some(latency),
        detail: verdict.unwrap_or_else(|problem| problem),
        metrics: vec![
            ("service.latency_ms", millis(latency), Unit::Count),
            (
                "service.http_status",
                f64::from(status.as_u16()),
                Unit::Count,
            ),
        ],
    }
}

/// `Ok(detail)` when every expectation holds, else `Err(what failed)`.
fn judge(
    check: &HttpCheck,
    status: StatusCode,
    body: &[u8],
    truncated: bool,
    latency: Duration,
) -> Result<String, String> {
    let answered = format!("{} in {}", status_text(status), format_latency(latency));
    let status_ok = if check.expect_status.is_empty() {
        status.is_success()
    } else {
        check.expect_status.contains(&status.as_u16())
    };
    if !status_ok {
        let expected = if check.expect_status.is_empty() {
            "2xx".to_owned()
        } else {
            let codes: Vec<String> = check.expect_status.iter().map(u16::to_string).collect();
            codes.join(", ")
        };
        return Err(format!("{answered} (expected {expected})"));
    }
    if let Some(needle) = &check.body_contains {
        let text = String::from_utf8_lossy(body);
        if !text.contains(needle.as_str()) {
            let read = if truncated { " (first 1 MiB)" } else { "" };
            return Err(format!("body{read} lacks \"{}\"", shorten(needle)));
        }
    }
    if let Some((pointer, expected)) = &check.json_equals {
        json_matches(body, truncated, pointer, expected)?;
    }
    if let Some(limit) = check.max_latency
        && latency > limit
    {
        return Err(format!(
            "slow: {} > {} limit",
            format_latency(latency),
            format_latency(limit)
        ));
    }
    Ok(answered)
}

fn json_matches(
    body: &[u8],
    truncated: bool,
    pointer: &str,
    expected: &serde_json::Value,
) -> Result<(), String> {
    let expected_text = shorten(&expected.to_string());
    let pointer = if pointer.is_empty() || pointer.starts_with('/') {
        pointer.to_owned()
    } else {
        format!("/{pointer}")
    };
    let shown_pointer = if pointer.is_empty() {
        "the body".to_owned()
    } else {
        shorten(&pointer)
    };
    if truncated {
        return Err(format!(
            "body over 1 MiB, not read as JSON (expected {shown_pointer} = {expected_text})"
        ));
    }
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(format!(
            "body is not JSON (expected {shown_pointer} = {expected_text})"
        ));
    };
    match document.pointer(&pointer) {
        None => Err(format!(
            "{shown_pointer} is missing, expected {expected_text}"
        )),
        Some(actual) if json_equal(actual, expected) => Ok(()),
        Some(actual) => Err(format!(
            "{shown_pointer} is {}, expected {expected_text}",
            shorten(&actual.to_string())
        )),
    }
}

/// Equality with numbers compared by value (`1` equals `1.0`).
fn json_equal(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    match (actual.as_f64(), expected.as_f64()) {
        (Some(a), Some(b)) if actual.is_number() && expected.is_number() => a == b,
        _ => actual == expected,
    }
}

/// Printable and at most [`MAX_SHOWN_CHARS`] characters.
fn shorten(text: &str) -> String {
    let text = printable(text);
    if text.chars().count() <= MAX_SHOWN_CHARS {
        return text;
    }
    text.chars()
        .take(MAX_SHOWN_CHARS - 1)
        .chain(['…'])
        .collect()
}

/// `200 OK`, `599` (no reason phrase known).
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

fn build_request(check: &HttpCheck, timeout: Duration) -> Result<reqwest::RequestBuilder, String> {
    let shown_url = || printable(&mask_url(&check.url));
    let url = Url::parse(check.url.trim())
        .map_err(|error| format!("invalid URL {}: {error}", shown_url()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported URL scheme \"{}\" (use http or https)",
            printable(url.scheme())
        ));
    }
    let method = match check.method.trim() {
        "" => Method::GET,
        method => Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid method \"{}\"", printable(method)))?,
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &check.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name \"{}\"", printable(name)))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for header {}", printable(name)))?;
        headers.append(header, value);
    }
    Ok(client(check.verify_tls)?
        .request(method, url)
        .headers(headers)
        .timeout(timeout))
}

/// The shared client for `verify_tls` built ahead of the checks (see [`super::prepare`]); a
/// failure shows again, with its reason, in the first check.
pub(super) fn prepare(verify_tls: bool) {
    let _ = client(verify_tls);
}

/// The shared client for `verify_tls`, built on first use.
fn client(verify_tls: bool) -> Result<&'static reqwest::Client, String> {
    static CLIENTS: [OnceLock<reqwest::Client>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = &CLIENTS[usize::from(verify_tls)];
    if let Some(client) = slot.get() {
        return Ok(client);
    }
    let client = crate::core::sources::http_client_builder()
        .user_agent(concat!("opsdeck/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(!verify_tls)
        .tcp_nodelay(true)
        // Services usually have a host:port each; a check at a time needs one connection.
        .pool_max_idle_per_host(2)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|error| format!("HTTP client setup failed: {}", innermost(&error)))?;
    Ok(slot.get_or_init(|| client))
}

/// `error` and its causes, looking inside `io::Error`s (whose `source` skips their payload).
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| {
        match cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(payload) => Some(payload as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        }
    })
    .take(16)
}

/// The deepest cause, for texts nothing better describes.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    causes(error)
        .last()
        .map_or_else(String::new, |cause| without_os_code(&cause.to_string()))
}

/// A request failure as a short line: `connection refused`, `cannot resolve host.invalid`,
/// `timed out after 5s`, `certificate not trusted (unknown issuer)`…
fn describe_error(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return timed_out(timeout);
    }
    for cause in causes(error) {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return describe_rustls_error(tls);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return timed_out(timeout);
            }
            if is_socket_error(io.kind()) {
                return describe_io_error(io);
            }
        }
        if cause.to_string().starts_with("dns error") {
            let host = error
                .url()
                .and_then(Url::host_str)
                .unwrap_or("the host name");
            return format!("cannot resolve {}", printable(host));
        }
    }
    if error.is_redirect() {
        return "too many redirects".to_owned();
    }
    let inner = innermost(error);
    if error.is_connect() {
        format!("cannot connect: {inner}")
    } else {
        format!("request failed: {inner}")
    }
}

fn is_socket_error(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
            | AddrNotAvailable
            | PermissionDenied
            | UnexpectedEof
            | BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HttpCheck {
        HttpCheck {
            url: "http://localhost/".into(),
            method: "GET".into(),
            expect_status: Vec::new(),
            body_contains: None,
            json_equals: None,
            max_latency: None,
            headers: BTreeMap::new(),
            verify_tls: true,
        }
    }

    #[test]
    fn verdicts() {
        let fast = Duration::from_millis(12);
        assert_eq!(
            judge(&spec(), StatusCode::OK, b"", false, fast),
            Ok("200 OK in 12 ms".into())
        );
        let mut expect = spec();
        expect.expect_status = vec![200];
        assert_eq!(
            judge(&expect, StatusCode::INTERNAL_SERVER_ERROR, b"", false, fast),
            Err("500 Internal Server Error in 12 ms (expected 200)".into())
        );
        let mut json = spec();
        json.json_equals = Some(("/status".into(), serde_json::json!("ok")));
        assert_eq!(
            judge(
                &json,
                StatusCode::OK,
                br#"{"status":"degraded"}"#,
                false,
                fast
            ),
            Err(r#"/status is "degraded", expected "ok""#.into())
        );
        assert!(
            judge(&json, StatusCode::OK, b"<html>", false, fast)
                .is_err_and(|detail| detail.starts_with("body is not JSON"))
        );
        let mut slow = spec();
        slow.max_latency = Some(Duration::from_secs(1));
        assert_eq!(
            judge(
                &slow,
                StatusCode::OK,
                b"",
                false,
                Duration::from_millis(1200)
            ),
            Err("slow: 1.2 s > 1 s limit".into())
        );
    }
}
