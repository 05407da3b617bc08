//! The one way opsdeck reads Prometheus: its documented HTTP API (`/api/v1/query`,
//! `/api/v1/query_range`), with an optional bearer token or basic auth that never appears in
//! what is said about the server, a timeout on every request, and gzip on the wire (flate2
//! decodes it) so a refresh over hundreds of hosts stays small. Errors are whole lines: the
//! server (its URL masked), what failed, and Prometheus' own text for a bad query.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::secrets;

/// How to reach one Prometheus server.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSpec {
    pub url: String,
    pub auth: Auth,
    pub timeout: Duration,
}

#[derive(Clone, PartialEq, Default)]
pub enum Auth {
    #[default]
    None,
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
}

/// Written without the secret, so a debug print or a log line never carries it.
impl std::fmt::Debug for Auth {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => formatter.write_str("None"),
            Auth::Bearer(_) => write!(formatter, "Bearer({})", secrets::MASK),
            Auth::Basic { username, .. } => {
                write!(formatter, "Basic({username}:{})", secrets::MASK)
            }
        }
    }
}

impl Auth {
    fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(token) => vec![token.as_str()],
            Auth::Basic { password, .. } => vec![password.as_str()],
        }
    }
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PromError {
    /// The server could not be reached, timed out, or answered something that is not its API.
    #[error("{0}")]
    Unreachable(String),
    /// The server refused the query: `bad_data` for a PromQL syntax error, with its own text.
    #[error("{0}")]
    Query(String),
}

/// One series of an instant query: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One series of a range query: its labels and (unix seconds, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

/// An answer and the warnings Prometheus gave with it (partial data).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub data: T,
    pub warnings: Vec<String>,
}

/// A Prometheus server; cloning shares the connection pool and the byte count.
#[derive(Debug, Clone)]
pub struct Prometheus {
    spec: PrometheusSpec,
    client: reqwest::Client,
    received: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixItem {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

impl Prometheus {
    pub fn new(spec: PrometheusSpec) -> Result<Prometheus, PromError> {
        let client = crate::core::sources::http_client_builder()
            .user_agent(concat!("opsdeck/", env!("CARGO_PKG_VERSION")))
            .timeout(spec.timeout)
            .connect_timeout(spec.timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|error| {
                PromError::Unreachable(format!("HTTP client setup failed: {error}"))
            })?;
        Ok(Prometheus {
            spec,
            client,
            received: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The server's URL with any password masked, for messages.
    pub fn shown_url(&self) -> String {
        secrets::mask_url(&self.spec.url)
    }

    /// Bytes received on the wire (compressed) since the last call.
    pub fn take_received(&self) -> u64 {
        self.received.swap(0, Ordering::Relaxed)
    }

    /// An instant query at the server's now.
    pub async fn query(&self, promql: &str) -> Result<Answer<Vec<Series>>, PromError> {
        let data = self.get("/api/v1/query", &[("query", promql)]).await?;
        let vector = match data.data.result_type.as_str() {
            "vector" => serde_json::from_value::<Vec<VectorItem>>(data.data.result)
                .map_err(|error| self.malformed(&error))?,
            // A scalar (`time()`, `1 + 1`) is one series without labels.
            "scalar" => {
                let (stamp, value) = serde_json::from_value::<(f64, String)>(data.data.result)
                    .map_err(|error| self.malformed(&error))?;
                vec![VectorItem {
                    metric: BTreeMap::new(),
                    value: (stamp, value),
                }]
            }
            other => {
                return Err(PromError::Query(format!(
                    "{}: the query answered a {other}, not an instant vector",
                    self.shown_url()
                )));
            }
        };
        Ok(Answer {
            data: vector
                .into_iter()
                .map(|item| Series {
                    labels: item.metric,
                    value: parse_value(&item.value.1),
                })
                .collect(),
            warnings: data.warnings,
        })
    }

    /// A range query from `start` to `end` (unix seconds) every `step`.
    pub async fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<Answer<Vec<RangeSeries>>, PromError> {
        let (start, end, step) = (
            format!("{start:.3}"),
            format!("{end:.3}"),
            format!("{}", step.as_secs_f64()),
        );
        let data = self
            .get(
                "/api/v1/query_range",
                &[
                    ("query", promql),
                    ("start", &start),
                    ("end", &end),
                    ("step", &step),
                ],
            )
            .await?;
        let matrix = serde_json::from_value::<Vec<MatrixItem>>(data.data.result)
            .map_err(|error| self.malformed(&error))?;
        Ok(Answer {
            data: matrix
                .into_iter()
                .map(|item| RangeSeries {
                    labels: item.metric,
                    points: item
                        .values
                        .into_iter()
                        .map(|(stamp, value)| (stamp, parse_value(&value)))
                        .collect(),
                })
                .collect(),
            warnings: data.warnings,
        })
    }

    fn malformed(&self, error: &serde_json::Error) -> PromError {
        PromError::Unreachable(format!(
            "{}: the answer is not Prometheus' API ({error})",
            self.shown_url()
        ))
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Parsed, PromError> {
        let mut url =
            reqwest::Url::parse(&format!("{}{path}", self.spec.url.trim_end_matches('/')))
                .map_err(|error| {
                    PromError::Unreachable(format!("{}: not a URL: {error}", self.shown_url()))
                })?;
        url.query_pairs_mut().extend_pairs(params);
        let mut request = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip");
        request = match &self.spec.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
        };
        let response = request.send().await.map_err(|error| self.failed(&error))?;
        let status = response.status();
        let gzipped = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = response
            .bytes()
            .await
            .map_err(|error| self.failed(&error))?;
        self.received.fetch_add(
            u64::try_from(body.len()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let text = if gzipped {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(body.as_ref())
                .read_to_end(&mut text)
                .map_err(|error| {
                    PromError::Unreachable(format!(
                        "{}: a compressed answer could not be read: {error}",
                        self.shown_url()
                    ))
                })?;
            text
        } else {
            body.to_vec()
        };
        let envelope: Envelope = serde_json::from_slice(&text).map_err(|_| {
            let start = String::from_utf8_lossy(&text[..text.len().min(120)]).into_owned();
            PromError::Unreachable(format!(
                "{}: HTTP {status}, not Prometheus' API: {}",
                self.shown_url(),
                self.scrub(&crate::core::text::printable(start.trim()))
            ))
        })?;
        if envelope.status != "success" {
            let kind = envelope.error_type.unwrap_or_default();
            let message = self.scrub(&envelope.error.unwrap_or_default());
            return Err(if kind == "bad_data" {
                PromError::Query(message)
            } else {
                PromError::Unreachable(format!(
                    "{}: HTTP {status} {kind}: {message}",
                    self.shown_url()
                ))
            });
        }
        let data = envelope.data.ok_or_else(|| {
            PromError::Unreachable(format!("{}: an answer without data", self.shown_url()))
        })?;
        Ok(Parsed {
            data,
            warnings: envelope.warnings,
        })
    }

    fn failed(&self, error: &reqwest::Error) -> PromError {
        let what = if error.is_timeout() {
            format!("no answer within {} s", self.spec.timeout.as_secs_f64())
        } else if error.is_connect() {
            "cannot connect (is Prometheus running, and is the url right?)".to_owned()
        } else {
            error.to_string()
        };
        PromError::Unreachable(self.scrub(&format!("{}: {what}", self.shown_url())))
    }

    fn scrub(&self, text: &str) -> String {
        let mut known = self.spec.auth.secrets();
        known.extend(secrets::url_password(&self.spec.url));
        secrets::scrub(text, &known)
    }
}

struct Parsed {
    data: Data,
    warnings: Vec<String>,
}

/// Prometheus writes values as strings, `NaN` and `+Inf` included.
fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_is_never_printed() {
        let shown = format!(
            "{:?} {:?}",
            Auth::Bearer("s3cret-token".into()),
            Auth::Basic {
                username: "ops".into(),
                password: "hunter22".into()
            }
        );
        assert!(
            !shown.contains("s3cret-token") && !shown.contains("hunter22"),
            "{shown}"
        );
        assert!(shown.contains("ops"));
    }

    #[test]
    fn values_are_read_as_prometheus_writes_them() {
        assert_eq!(parse_value("1.5"), 1.5);
        assert_eq!(parse_value("+Inf"), f64::INFINITY);
        assert!(parse_value("NaN").is_nan());
    }
}
