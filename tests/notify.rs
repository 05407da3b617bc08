//! Alert notifications against local receivers (tests/support/receivers.rs): a hand-written HTTP
//! server standing in for Slack and generic webhooks, and a hand-written SMTP server standing in
//! for a mail relay.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use opsdeck::core::model::{Alert, Status, Unit};
use opsdeck::core::notify::{AlertEvent, EmailSettings, Notifier, NotifySettings};
use serde_json::Value;
use support::receivers::{Answer, HttpReceiver, SmtpReceiver};

fn alert(id: &str, level: Status) -> Alert {
    Alert {
        id: id.to_owned(),
        key: "disk.used_pct:/var".to_owned(),
        metric: "disk.used_pct".to_owned(),
        instance: Some("/var".to_owned()),
        host: None,
        level,
        opened_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        resolved_at: None,
        peak: 93.44,
        threshold: if level == Status::Crit { 90.0 } else { 80.0 },
        unit: Unit::Percent,
    }
}

fn resolved(mut alert: Alert) -> Alert {
    alert.resolved_at = Some(alert.opened_at + chrono::Duration::minutes(12));
    alert
}

fn settings() -> NotifySettings {
    NotifySettings {
        min_interval: Duration::from_secs(60),
        host: "db-01".to_owned(),
        ..NotifySettings::default()
    }
}

fn email_settings(port: u16) -> EmailSettings {
    EmailSettings {
        smtp_host: "127.0.0.1".to_owned(),
        smtp_port: port,
        starttls: false,
        username: None,
        password: None,
        from: "opsdeck <opsdeck@db-01.example>".to_owned(),
        to: vec!["oncall@example.com".to_owned()],
    }
}

fn field<'a>(slack: &'a Value, title: &str) -> &'a str {
    slack["attachments"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|field| field["title"] == title)
        .unwrap_or_else(|| panic!("no field {title} in {slack}"))["value"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn one_incident_sends_opened_and_resolved_to_every_target() {
    let receiver = HttpReceiver::start(Answer::Ok).await;
    let slack_path = "/services/T000/B000/SLACKSECRET";
    let mut notifier = Notifier::new(NotifySettings {
        slack_webhook: Some(format!("{}{slack_path}", receiver.base)),
        webhooks: vec![format!("{}/generic", receiver.base)],
        ..settings()
    });
    assert!(notifier.is_enabled());

    let open = alert("a1", Status::Crit);
    assert_eq!(
        notifier.notify(&open, AlertEvent::Opened).await,
        Vec::<String>::new()
    );
    // Within min_interval: neither an escalation nor a repeated opening pages again.
    assert!(
        notifier
            .notify(&open, AlertEvent::Escalated)
            .await
            .is_empty()
    );
    assert!(notifier.notify(&open, AlertEvent::Opened).await.is_empty());
    assert!(
        notifier
            .notify(&resolved(open.clone()), AlertEvent::Resolved)
            .await
            .is_empty()
    );

    let slack = receiver.bodies_at(slack_path);
    assert_eq!(slack.len(), 2, "{slack:#?}");
    let (opened, closed) = (&slack[0], &slack[1]);
    assert_eq!(opened["text"], "[CRIT] disk.used_pct /var on db-01 opened");
    assert_eq!(opened["attachments"][0]["color"], "danger");
    assert_eq!(
        opened["attachments"][0]["title"],
        "[CRIT] disk.used_pct /var on db-01 opened"
    );
    assert_eq!(
        opened["attachments"][0]["ts"],
        open.opened_at.timestamp(),
        "{opened}"
    );
    let titles: Vec<&str> = opened["attachments"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles[..4], ["Metric", "Value", "Threshold", "Severity"]);
    for field in opened["attachments"][0]["fields"].as_array().unwrap() {
        assert_eq!(field["short"], true);
    }
    assert_eq!(field(opened, "Metric"), "disk.used_pct /var");
    assert_eq!(field(opened, "Value"), "93.4 %");
    assert_eq!(field(opened, "Threshold"), "90.0 %");
    assert_eq!(field(opened, "Severity"), "crit");
    assert_eq!(field(opened, "Started"), "2024-05-01 12:00:00 UTC");
    assert_eq!(field(opened, "Host"), "db-01");

    assert_eq!(
        closed["text"],
        "[RESOLVED] disk.used_pct /var on db-01 resolved after 12m"
    );
    assert_eq!(closed["attachments"][0]["color"], "good");
    assert_eq!(field(closed, "Severity"), "resolved");
    assert_eq!(field(closed, "Duration"), "12m");
    assert_eq!(
        closed["attachments"][0]["ts"],
        (open.opened_at + chrono::Duration::minutes(12)).timestamp()
    );

    let generic = receiver.bodies_at("/generic");
    assert_eq!(generic.len(), 2, "{generic:#?}");
    assert_eq!(generic[0]["event"], "opened");
    assert_eq!(generic[1]["event"], "resolved");
    for body in &generic {
        assert_eq!(body["host"], "db-01");
        assert_eq!(body["alert"]["id"], "a1");
        assert_eq!(body["alert"]["level"], "crit");
        assert_eq!(body["alert"]["metric"], "disk.used_pct");
        assert_eq!(body["alert"]["instance"], "/var");
        assert_eq!(body["alert"]["peak"], 93.44);
    }
    assert_eq!(
        generic[0]["message"],
        "[CRIT] disk.used_pct /var on db-01 opened"
    );
    assert_eq!(generic[0]["alert"]["resolved_at"], Value::Null);
    assert_eq!(
        generic[1]["message"],
        "[RESOLVED] disk.used_pct /var on db-01 resolved after 12m"
    );
    assert!(generic[1]["alert"]["resolved_at"].is_string());

    // Resolution forgot the alert: the same id may open again at once.
    assert!(notifier.notify(&open, AlertEvent::Opened).await.is_empty());
    assert_eq!(receiver.bodies_at("/generic").len(), 3);
}

#[tokio::test]
async fn escalation_after_the_interval_is_sent() {
    let receiver = HttpReceiver::start(Answer::Ok).await;
    let mut notifier = Notifier::new(NotifySettings {
        webhooks: vec![format!("{}/generic", receiver.base)],
        min_interval: Duration::ZERO,
        ..settings()
    });
    let warn = alert("a2", Status::Warn);
    assert!(notifier.notify(&warn, AlertEvent::Opened).await.is_empty());
    let crit = Alert {
        level: Status::Crit,
        ..warn
    };
    assert!(
        notifier
            .notify(&crit, AlertEvent::Escalated)
            .await
            .is_empty()
    );
    let events: Vec<Value> = receiver
        .bodies_at("/generic")
        .into_iter()
        .map(|body| body["event"].clone())
        .collect();
    assert_eq!(events, ["opened", "escalated"]);
    assert_eq!(
        receiver.bodies_at("/generic")[1]["message"],
        "[CRIT] disk.used_pct /var on db-01 escalated to crit"
    );
}

#[tokio::test]
async fn warnings_are_yellow_on_slack() {
    let receiver = HttpReceiver::start(Answer::Ok).await;
    let mut notifier = Notifier::new(NotifySettings {
        slack_webhook: Some(format!("{}/services/x", receiver.base)),
        ..settings()
    });
    assert!(
        notifier
            .notify(&alert("a3", Status::Warn), AlertEvent::Opened)
            .await
            .is_empty()
    );
    let slack = receiver.bodies_at("/services/x");
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0]["attachments"][0]["color"], "warning");
    assert_eq!(field(&slack[0], "Severity"), "warn");
    assert_eq!(field(&slack[0], "Threshold"), "80.0 %");
}

#[tokio::test]
async fn failures_name_masked_urls_only() {
    let receiver = HttpReceiver::start(Answer::ServerError).await;
    let mut notifier = Notifier::new(NotifySettings {
        slack_webhook: Some(format!("{}/services/T000/B000/SLACKSECRET", receiver.base)),
        webhooks: vec![format!("{}/hook?token=TOKENSECRET", receiver.base)],
        ..settings()
    });
    let failures = notifier
        .notify(&alert("a4", Status::Crit), AlertEvent::Opened)
        .await;
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(
        failures[0],
        format!(
            "slack webhook {}/***: 500 Internal Server Error: boom",
            receiver.base
        )
    );
    assert_eq!(
        failures[1],
        format!(
            "webhook {}/hook?***: 500 Internal Server Error: boom",
            receiver.base
        )
    );
    for line in &failures {
        assert!(!line.contains("SECRET"), "{line}");
        assert!(!line.contains("services"), "{line}");
    }
}

#[tokio::test]
async fn a_slow_target_does_not_delay_the_others() {
    let slow = HttpReceiver::start(Answer::Hang).await;
    let fast = HttpReceiver::start(Answer::Ok).await;
    let mut notifier = Notifier::new(NotifySettings {
        slack_webhook: Some(format!("{}/services/T/B/SLOWSECRET", slow.base)),
        webhooks: vec![format!("{}/generic", fast.base)],
        ..settings()
    })
    .with_delivery_timeout(Duration::from_millis(800));
    let started = Instant::now();
    let failures = notifier
        .notify(&alert("a5", Status::Crit), AlertEvent::Opened)
        .await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_eq!(fast.bodies_at("/generic").len(), 1);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].starts_with(&format!("slack webhook {}/***: ", slow.base)),
        "{}",
        failures[0]
    );
    assert!(!failures[0].contains("SLOWSECRET"), "{}", failures[0]);
}

#[tokio::test]
async fn critical_alerts_are_emailed() {
    let smtp = SmtpReceiver::start().await;
    let mut notifier = Notifier::new(NotifySettings {
        email: Some(email_settings(smtp.port)),
        ..settings()
    });

    let warn = alert("w1", Status::Warn);
    assert!(notifier.notify(&warn, AlertEvent::Opened).await.is_empty());
    assert!(
        notifier
            .notify(&resolved(warn), AlertEvent::Resolved)
            .await
            .is_empty()
    );
    assert!(smtp.messages().is_empty(), "{:#?}", smtp.messages());

    let crit = alert("c1", Status::Crit);
    assert_eq!(
        notifier.notify(&crit, AlertEvent::Opened).await,
        Vec::<String>::new()
    );
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let message = messages[0].replace("\r\n ", " ");
    assert!(
        message.contains("Subject: [CRIT] disk.used_pct /var on db-01 opened\r\n"),
        "{message}"
    );
    assert!(message.contains("To: oncall@example.com"), "{message}");
    assert!(message.contains("Value:     93.4 %"), "{message}");
    assert!(message.contains("Threshold: 90.0 %"), "{message}");
    assert!(message.contains("Severity:  crit"), "{message}");
    assert!(
        message.contains("Started:   2024-05-01 12:00:00 UTC"),
        "{message}"
    );
    assert!(message.contains("Host:      db-01"), "{message}");

    assert!(
        notifier
            .notify(&resolved(crit), AlertEvent::Resolved)
            .await
            .is_empty()
    );
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[1].contains("Subject: [RESOLVED] disk.used_pct /var on db-01 resolved after 12m"),
        "{}",
        messages[1]
    );
    assert!(messages[1].contains("Duration:  12m"), "{}", messages[1]);
}

#[tokio::test]
async fn an_unreachable_mail_server_is_a_failure_line() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut notifier = Notifier::new(NotifySettings {
        email: Some(email_settings(port)),
        ..settings()
    });
    let started = Instant::now();
    let failures = notifier
        .notify(&alert("c2", Status::Crit), AlertEvent::Opened)
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].starts_with(&format!("email via 127.0.0.1:{port}: ")),
        "{}",
        failures[0]
    );
}

#[tokio::test]
async fn nothing_configured_sends_nothing() {
    let mut notifier = Notifier::new(NotifySettings::default());
    assert!(!notifier.is_enabled());
    assert!(
        notifier
            .notify(&alert("n1", Status::Crit), AlertEvent::Opened)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn starttls_is_never_skipped() {
    let smtp = SmtpReceiver::start().await;
    let mut notifier = Notifier::new(NotifySettings {
        email: Some(EmailSettings {
            starttls: true,
            username: Some("opsdeck".to_owned()),
            password: Some("MAILSECRET".to_owned()),
            ..email_settings(smtp.port)
        }),
        ..settings()
    });
    let failures = notifier
        .notify(&alert("c3", Status::Crit), AlertEvent::Opened)
        .await;
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].starts_with(&format!("email via 127.0.0.1:{}: ", smtp.port)),
        "{}",
        failures[0]
    );
    assert!(!failures[0].contains("MAILSECRET"), "{}", failures[0]);
    assert!(smtp.messages().is_empty(), "{:#?}", smtp.messages());
}
