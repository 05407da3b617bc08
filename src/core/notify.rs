//! Telling the team: when an alert opens, escalates or resolves, a message goes to a Slack
//! incoming webhook (the guides' shape: metric, value, threshold, severity, coloured by
//! severity), to generic JSON webhooks, and — for critical alerts — by email over SMTP. A
//! minimum interval keeps one alert from paging twice in a row. Messages worded elsewhere (an
//! incident's, see `incidents::announce`) go out the same ways, to the Slack channels and
//! mailboxes they name. Secrets in URLs never appear
//! in messages or logs.
//!
//! Every delivery is bounded by a timeout (10 s unless [`Notifier::with_delivery_timeout`] says
//! otherwise) and all deliveries of one event run at the same time, so one slow target does not
//! hold up the others. A failed delivery becomes one line in the list [`Notifier::notify`]
//! returns; nothing here panics or gives up on the other targets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::core::checks::rules::format_value;
use crate::core::model::{Alert, Status};
use crate::core::sources::secrets::{
    mask_slack_url, mask_webhook_url, redact, scrub, slack_url_secrets, webhook_url_secrets,
};

/// How long one delivery (one webhook POST, one email) may take before it counts as failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SMTPS port: a server there speaks TLS from the first byte, so STARTTLS cannot work and
/// the connection is wrapped in TLS instead.
const SMTPS_PORT: u16 = 465;

/// How much of an error response body is quoted in a failure line.
const BODY_EXCERPT_CHARS: usize = 120;

#[derive(Debug, Clone, PartialEq)]
pub struct EmailSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Upgrade the connection with STARTTLS (off only for a local relay).
    pub starttls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifySettings {
    pub slack_webhook: Option<String>,
    pub webhooks: Vec<String>,
    pub email: Option<EmailSettings>,
    /// No second message about the same alert sooner than this, except its resolution.
    pub min_interval: Duration,
    /// The host name put in every message.
    pub host: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertEvent {
    Opened,
    Escalated,
    Resolved,
}

impl AlertEvent {
    /// The name used in webhook payloads: `opened`, `escalated`, `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Opened => "opened",
            AlertEvent::Escalated => "escalated",
            AlertEvent::Resolved => "resolved",
        }
    }
}

/// Sends alert messages; keeps when each alert was last announced.
#[derive(Debug)]
pub struct Notifier {
    settings: NotifySettings,
    last_sent: HashMap<String, std::time::Instant>,
    timeout: Duration,
    /// Built on first use and kept, so connections are reused between messages.
    http: Option<reqwest::Client>,
}

impl Notifier {
    pub fn new(settings: NotifySettings) -> Notifier {
        Notifier {
            settings,
            last_sent: HashMap::new(),
            timeout: DELIVERY_TIMEOUT,
            http: None,
        }
    }

    /// The same notifier with another bound on each delivery (the default is
    /// [`DELIVERY_TIMEOUT`]).
    pub fn with_delivery_timeout(mut self, timeout: Duration) -> Notifier {
        self.timeout = timeout;
        self.http = None;
        self
    }

    /// Whether anything is configured at all.
    pub fn is_enabled(&self) -> bool {
        self.settings.slack_webhook.is_some()
            || !self.settings.webhooks.is_empty()
            || self.settings.email.is_some()
    }

    /// Sends the messages this change calls for; returns one line per delivery failure.
    pub async fn notify(&mut self, alert: &Alert, event: AlertEvent) -> Vec<String> {
        if !self.is_enabled() || !self.should_send(alert, event) {
            return Vec::new();
        }
        let now = Utc::now();
        let message = Message::new(alert, event, &self.settings.host, now);
        let email = self
            .settings
            .email
            .as_ref()
            .filter(|_| alert.level == Status::Crit)
            .map(|email| Mail {
                subject: message.title.clone(),
                body: message.text_body(),
                to: email.to.clone(),
            });
        self.deliver(Outgoing {
            slack: vec![(None, slack_payload(&message))],
            webhook: webhook_payload(alert, &message),
            email,
        })
        .await
    }

    /// Sends a message worded elsewhere (an incident's) to every configured target: Slack in
    /// each of its channels, the webhooks, and email to its recipients and `[notify.email] to`.
    /// Returns one line per delivery failure.
    pub async fn announce(&mut self, announcement: &Announcement) -> Vec<String> {
        if !self.is_enabled() {
            return Vec::new();
        }
        let host = self.settings.host.clone();
        let mut fields = announcement.fields.clone();
        if !host.is_empty() {
            fields.push(("Host", host.clone()));
        }
        let slack_payload = |channel: Option<&str>| {
            let shown: Vec<Value> = fields
                .iter()
                .map(|(title, value)| json!({"title": title, "value": value, "short": value.len() < 40}))
                .collect();
            let mut payload = json!({
                "text": format!("{}\n{}", announcement.title, announcement.addressed),
                "attachments": [{
                    "color": announcement.color,
                    "title": announcement.title,
                    "fields": shown,
                    "ts": Utc::now().timestamp(),
                }],
            });
            if let (Some(channel), Some(object)) = (channel, payload.as_object_mut()) {
                object.insert("channel".to_owned(), json!(channel));
            }
            payload
        };
        let slack = if announcement.channels.is_empty() {
            vec![(None, slack_payload(None))]
        } else {
            announcement
                .channels
                .iter()
                .map(|channel| (Some(channel.clone()), slack_payload(Some(channel))))
                .collect()
        };
        let mut webhook = announcement.webhook.clone();
        if let Some(object) = webhook.as_object_mut() {
            object.insert("host".to_owned(), json!(host));
            object.insert("message".to_owned(), json!(announcement.title));
        }
        let email = self.settings.email.as_ref().map(|email| {
            let mut to: Vec<String> = Vec::new();
            for address in announcement.emails.iter().chain(&email.to) {
                if !address.is_empty() && !to.contains(address) {
                    to.push(address.clone());
                }
            }
            let mut body = format!("{}\n{}\n\n", announcement.title, announcement.addressed);
            for (name, value) in &fields {
                body.push_str(&format!("{:<16}{value}\n", format!("{name}:")));
            }
            Mail {
                subject: announcement.title.clone(),
                body,
                to,
            }
        });
        self.deliver(Outgoing {
            slack,
            webhook,
            email,
        })
        .await
    }

    /// Delivers a whole document (a composed report) to every configured target: Slack gets
    /// the title and the text's beginning, the webhooks `json`, email the full text. Returns
    /// one line per delivery failure, or one saying nothing is configured.
    pub async fn publish(&mut self, document: &Document) -> Vec<String> {
        if !self.is_enabled() {
            return vec![
                "no notification channel is configured\n  fix: set [notify] slack_webhook, webhooks or [notify.email] in the config".to_owned(),
            ];
        }
        let excerpt: String = document.text.chars().take(SLACK_TEXT_CHARS).collect();
        let more = if excerpt.len() < document.text.len() {
            "\n…"
        } else {
            ""
        };
        let slack = json!({
            "text": format!("*{}*\n```\n{excerpt}{more}\n```", document.title),
        });
        let email = self.settings.email.as_ref().map(|email| Mail {
            subject: document.title.clone(),
            body: document.text.clone(),
            to: email.to.clone(),
        });
        self.deliver(Outgoing {
            slack: vec![(None, slack)],
            webhook: document.json.clone(),
            email,
        })
        .await
    }

    /// Sends one event's messages to every configured target at once.
    async fn deliver(&mut self, outgoing: Outgoing) -> Vec<String> {
        let mut failures = Vec::new();
        let mut deliveries: JoinSet<(usize, Result<(), String>)> = JoinSet::new();
        let mut labels = Vec::new();
        let timeout = self.timeout;

        let webhooks_wanted =
            self.settings.slack_webhook.is_some() || !self.settings.webhooks.is_empty();
        let http = if webhooks_wanted {
            match self.http_client() {
                Ok(client) => Some(client),
                Err(reason) => {
                    failures.push(format!(
                        "webhooks: could not set up the HTTP client: {reason}"
                    ));
                    None
                }
            }
        } else {
            None
        };

        if let (Some(url), Some(client)) = (&self.settings.slack_webhook, &http) {
            for (channel, payload) in outgoing.slack {
                let index = labels.len();
                let to = channel
                    .map(|channel| format!(" to {channel}"))
                    .unwrap_or_default();
                labels.push((
                    format!("slack webhook {}{to}", mask_slack_url(url)),
                    slack_url_secrets(url),
                ));
                let (client, target) = (client.clone(), url.clone());
                deliveries.spawn(async move {
                    let result = bounded(timeout, post_json(&client, &target, &payload)).await;
                    (index, result)
                });
            }
        }
        if let Some(client) = &http {
            for url in &self.settings.webhooks {
                let index = labels.len();
                labels.push((
                    format!("webhook {}", mask_webhook_url(url)),
                    webhook_url_secrets(url),
                ));
                let (client, target, payload) =
                    (client.clone(), url.clone(), outgoing.webhook.clone());
                deliveries.spawn(async move {
                    let result = bounded(timeout, post_json(&client, &target, &payload)).await;
                    (index, result)
                });
            }
        }
        if let (Some(email), Some(mail)) = (&self.settings.email, outgoing.email) {
            let index = labels.len();
            let secrets = email
                .password
                .iter()
                .filter(|password| !password.is_empty())
                .cloned()
                .collect();
            labels.push((
                format!("email via {}:{}", email.smtp_host, email.smtp_port),
                secrets,
            ));
            let email = EmailSettings {
                to: mail.to,
                ..email.clone()
            };
            deliveries.spawn(async move {
                let result = bounded(
                    timeout,
                    send_email(&email, &mail.subject, &mail.body, timeout),
                )
                .await;
                (index, result)
            });
        }

        let mut results: Vec<(usize, String)> = Vec::new();
        while let Some(joined) = deliveries.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((index, Err(reason))) => results.push((index, reason)),
                Err(error) => results.push((usize::MAX, format!("delivery task failed: {error}"))),
            }
        }
        results.sort_by_key(|(index, _)| *index);
        for (index, reason) in results {
            let line = match labels.get(index) {
                Some((label, secrets)) => scrub(&format!("{label}: {reason}"), secrets),
                None => labels
                    .iter()
                    .fold(reason, |line, (_, secrets)| scrub(&line, secrets)),
            };
            failures.push(redact(&line));
        }
        failures
    }

    /// Applies the minimum interval and remembers what is being sent.
    fn should_send(&mut self, alert: &Alert, event: AlertEvent) -> bool {
        let now = Instant::now();
        let recent = self
            .last_sent
            .get(&alert.id)
            .is_some_and(|last| now.saturating_duration_since(*last) < self.settings.min_interval);
        match event {
            AlertEvent::Opened | AlertEvent::Escalated => {
                if recent {
                    return false;
                }
                self.last_sent.insert(alert.id.clone(), now);
                true
            }
            AlertEvent::Resolved => {
                self.last_sent.remove(&alert.id);
                true
            }
        }
    }

    fn http_client(&mut self) -> Result<reqwest::Client, String> {
        if let Some(client) = &self.http {
            return Ok(client.clone());
        }
        let client = crate::core::sources::http_client_builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("opsdeck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| error_chain(&error))?;
        self.http = Some(client.clone());
        Ok(client)
    }
}

/// A message about something other than one alert (an incident), worded by whoever owns it;
/// [`Notifier::announce`] shapes it for each kind of target.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// The headline: Slack's text and title, the email's subject.
    pub title: String,
    /// The line under the headline: whom it is for.
    pub addressed: String,
    /// Labelled fields, in order (the notifier adds the host).
    pub fields: Vec<(&'static str, String)>,
    /// The Slack attachment's colour: `danger`, `warning` or `good`.
    pub color: &'static str,
    /// Slack channels to post in; none: the webhook's own.
    pub channels: Vec<String>,
    /// Email recipients besides `[notify.email] to`.
    pub emails: Vec<String>,
    /// What the generic webhooks get (the notifier adds `host` and `message`).
    pub webhook: Value,
}

/// How much of a document a Slack message quotes (Slack cuts messages near 40,000 characters and
/// a wall of text helps no one there; the full text goes by email).
const SLACK_TEXT_CHARS: usize = 3000;

/// A document delivered whole: a title, its text, and what webhooks get.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Slack's headline and the email's subject.
    pub title: String,
    /// The email body; Slack quotes its beginning.
    pub text: String,
    pub json: Value,
}

/// One event's messages, shaped for each kind of target.
struct Outgoing {
    /// Slack payloads, each with the channel it is addressed to (none: the webhook's own).
    slack: Vec<(Option<String>, Value)>,
    webhook: Value,
    /// `None`: no email for this event.
    email: Option<Mail>,
}

struct Mail {
    subject: String,
    body: String,
    to: Vec<String>,
}

/// What one event says, before it is shaped for a target.
#[derive(Debug, Clone)]
struct Message {
    event: AlertEvent,
    title: String,
    metric: String,
    value: String,
    threshold: String,
    severity: &'static str,
    started: String,
    duration: Option<String>,
    host: String,
    alert_id: String,
    timestamp: i64,
}

impl Message {
    fn new(alert: &Alert, event: AlertEvent, host: &str, now: DateTime<Utc>) -> Message {
        let metric = match alert.instance.as_deref() {
            Some(instance) if !instance.is_empty() => format!("{} {instance}", alert.metric),
            _ => alert.metric.clone(),
        };
        let subject = if host.is_empty() {
            metric.clone()
        } else {
            format!("{metric} on {host}")
        };
        let level = alert.level.label();
        let (title, severity, duration, at) = match event {
            AlertEvent::Opened => (
                format!("[{level}] {subject} opened"),
                alert.level.as_str(),
                None,
                alert.opened_at,
            ),
            AlertEvent::Escalated => (
                format!("[{level}] {subject} escalated to {}", alert.level.as_str()),
                alert.level.as_str(),
                None,
                now,
            ),
            AlertEvent::Resolved => {
                let resolved_at = alert.resolved_at.unwrap_or(now);
                let lasted = short_duration(resolved_at - alert.opened_at);
                (
                    format!("[RESOLVED] {subject} resolved after {lasted}"),
                    "resolved",
                    Some(lasted),
                    resolved_at,
                )
            }
        };
        Message {
            event,
            title,
            metric,
            value: format_value(alert.peak, alert.unit),
            threshold: format_value(alert.threshold, alert.unit),
            severity,
            started: alert.opened_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            duration,
            host: host.to_owned(),
            alert_id: alert.id.clone(),
            timestamp: at.timestamp(),
        }
    }

    /// The labelled fields, in the order every target shows them.
    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("Metric", self.metric.clone()),
            ("Value", self.value.clone()),
            ("Threshold", self.threshold.clone()),
            ("Severity", self.severity.to_owned()),
            ("Started", self.started.clone()),
        ];
        if let Some(duration) = &self.duration {
            fields.push(("Duration", duration.clone()));
        }
        if !self.host.is_empty() {
            fields.push(("Host", self.host.clone()));
        }
        fields
    }

    fn text_body(&self) -> String {
        let mut body = format!("{}\n\n", self.title);
        for (name, value) in self.fields() {
            body.push_str(&format!("{:<11}{value}\n", format!("{name}:")));
        }
        body.push_str(&format!("{:<11}{}\n", "Alert id:", self.alert_id));
        body
    }

    fn slack_color(&self) -> &'static str {
        match (self.event, self.severity) {
            (AlertEvent::Resolved, _) => "good",
            (_, "crit") => "danger",
            _ => "warning",
        }
    }
}

/// `12m`, `45s`, `3h 5m`: seconds are dropped past the first hour.
fn short_duration(duration: chrono::Duration) -> String {
    let seconds = duration.num_seconds().max(0).unsigned_abs();
    let seconds = if seconds >= 3600 {
        seconds - seconds % 60
    } else {
        seconds
    };
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

fn slack_payload(message: &Message) -> Value {
    let fields: Vec<Value> = message
        .fields()
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value, "short": true}))
        .collect();
    json!({
        "text": message.title,
        "attachments": [{
            "color": message.slack_color(),
            "title": message.title,
            "fields": fields,
            "ts": message.timestamp,
        }],
    })
}

fn webhook_payload(alert: &Alert, message: &Message) -> Value {
    json!({
        "event": message.event.as_str(),
        "alert": serde_json::to_value(alert).unwrap_or(Value::Null),
        "host": message.host,
        "message": message.title,
    })
}

/// Runs one delivery within `limit`.
async fn bounded(
    limit: Duration,
    delivery: impl Future<Output = Result<(), String>>,
) -> Result<(), String> {
    match tokio::time::timeout(limit, delivery).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "timed out after {}",
            humantime::format_duration(limit)
        )),
    }
}

async fn post_json(client: &reqwest::Client, url: &str, payload: &Value) -> Result<(), String> {
    let response = client
        .post(url)
        .json(payload)
        .send()
        .await
        .map_err(|error| error_chain(&error.without_url()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let excerpt: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .collect();
    if excerpt.is_empty() {
        Err(status.to_string())
    } else {
        Err(format!("{status}: {excerpt}"))
    }
}

async fn send_email(
    settings: &EmailSettings,
    subject: &str,
    body: &str,
    timeout: Duration,
) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    if settings.to.is_empty() {
        return Err("no recipients configured".to_owned());
    }
    let from = settings
        .from
        .parse()
        .map_err(|error| format!("invalid from address {:?}: {error}", settings.from))?;
    let mut builder = lettre::Message::builder().from(from).subject(subject);
    for to in &settings.to {
        let mailbox = to
            .parse()
            .map_err(|error| format!("invalid recipient {to:?}: {error}"))?;
        builder = builder.to(mailbox);
    }
    let email = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|error| format!("could not build the message: {error}"))?;

    let host = settings.smtp_host.as_str();
    let transport = if settings.starttls && settings.smtp_port == SMTPS_PORT {
        AsyncSmtpTransport::<Tokio1Executor>::relay(host)
    } else if settings.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
    } else {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        ))
    }
    .map_err(|error| format!("TLS setup failed: {}", error_chain(&error)))?;
    let mut transport = transport.port(settings.smtp_port).timeout(Some(timeout));
    if let Some(username) = &settings.username {
        transport = transport.credentials(Credentials::new(
            username.clone(),
            settings.password.clone().unwrap_or_default(),
        ));
    }
    transport
        .build()
        .send(email)
        .await
        .map(|_| ())
        .map_err(|error| error_chain(&error))
}

/// An error and its causes on one line, without repeating a cause its parent already printed.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(chrono::Duration::seconds(720)), "12m");
        assert_eq!(short_duration(chrono::Duration::seconds(45)), "45s");
        assert_eq!(
            short_duration(chrono::Duration::seconds(3 * 3600 + 5 * 60 + 7)),
            "3h 5m"
        );
        assert_eq!(short_duration(chrono::Duration::seconds(-5)), "0s");
    }
}
