//! Services end to end through the runner, against real servers: a throwaway PostgreSQL and
//! Redis go down mid-test and come back; flap control marks them down only after three failed
//! checks and up after two good ones; the alert opens and resolves once, and a local webhook
//! receiver gets exactly one "opened" and one "resolved" message; results land in the store.
//! The scheduler never runs more than its 64 checks at once, against a slow local server.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::notify::NotifySettings;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::services::flap::ServiceState;
use opsdeck::core::services::http::HttpCheck;
use opsdeck::core::services::postgres::PostgresCheck;
use opsdeck::core::services::redis::RedisCheck;
use opsdeck::core::services::scheduler::CONCURRENT_CHECKS;
use opsdeck::core::services::{ServiceCheck, ServiceSpec};
use opsdeck::core::store::{Store, StoreLocation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A webhook receiver on loopback that records every JSON body it is sent.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let read = stream.read(&mut chunk).await.unwrap_or(0);
                    if read == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..read]);
                    let text = String::from_utf8_lossy(&buffer).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|line| {
                                let lower = line.to_ascii_lowercase();
                                lower
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buffer.len() >= head_end + 4 + length {
                            let body = &buffer[head_end + 4..head_end + 4 + length];
                            if let Ok(json) = serde_json::from_slice(body) {
                                recorded.lock().unwrap().push(json);
                            }
                            break;
                        }
                    }
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (url, bodies)
}

fn spec(name: &str, check: ServiceCheck) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        interval: Duration::from_millis(300),
        timeout: Duration::from_secs(2),
        down_after: 3,
        up_after: 2,
        check,
    }
}

/// A read-only runner watching `services` with the built-in rules.
fn settings(services: Vec<ServiceSpec>, notify: NotifySettings) -> RunnerSettings {
    RunnerSettings {
        rules: opsdeck::config::default_rules(),
        services,
        notify,
        ..RunnerSettings::tasks_only(TaskSettings {
            tasks: Vec::new(),
            read_only: true,
            identity: Identity {
                user: "tester".into(),
                client: None,
                host: "test-host".into(),
                pid: std::process::id(),
            },
            runs_dir: None,
        })
    }
}

async fn next_state(
    runner: &mut RunnerHandle,
    service: &str,
    wanted: ServiceState,
    limit: Duration,
) -> Vec<bool> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let event = tokio::time::timeout_at(deadline, runner.events.recv())
            .await
            .unwrap_or_else(|_| panic!("{service} did not become {wanted:?}; results {seen:?}"))
            .expect("runner alive");
        if let Event::ServiceChecked {
            name,
            state,
            outcome,
            ..
        } = event
            && name == service
        {
            seen.push(outcome.ok);
            if state == wanted {
                return seen;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_go_down_and_up_with_flap_control_and_notify_once_per_incident() {
    let (mut pg, mut redis) =
        tokio::task::spawn_blocking(|| (support::PgServer::start(), support::RedisServer::start()))
            .await
            .unwrap();
    let (hook, received) = webhook_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let services = vec![
        spec(
            "db",
            ServiceCheck::Postgres(PostgresCheck { url: pg.url() }),
        ),
        spec(
            "cache",
            ServiceCheck::Redis(RedisCheck { url: redis.url() }),
        ),
    ];
    let notify = NotifySettings {
        webhooks: vec![hook],
        min_interval: Duration::from_secs(600),
        host: "test-host".into(),
        ..NotifySettings::default()
    };
    let mut runner = runner::spawn(settings(services, notify), Some(store.clone()));

    next_state(&mut runner, "db", ServiceState::Up, Duration::from_secs(20)).await;
    next_state(
        &mut runner,
        "cache",
        ServiceState::Up,
        Duration::from_secs(20),
    )
    .await;

    pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    // Down only after three failed checks in a row, not at the first.
    let seen = next_state(
        &mut runner,
        "db",
        ServiceState::Down,
        Duration::from_secs(30),
    )
    .await;
    let failures = seen.iter().rev().take_while(|ok| !**ok).count();
    assert!(
        failures >= 3,
        "went down after {failures} failures: {seen:?}"
    );

    pg = tokio::task::spawn_blocking(move || {
        pg.restart();
        pg
    })
    .await
    .unwrap();
    let seen = next_state(&mut runner, "db", ServiceState::Up, Duration::from_secs(30)).await;
    let successes = seen.iter().rev().take_while(|ok| **ok).count();
    assert!(
        successes >= 2,
        "came up after {successes} successes: {seen:?}"
    );

    // Redis too: down, then up again.
    redis = tokio::task::spawn_blocking(move || {
        redis.stop();
        redis
    })
    .await
    .unwrap();
    next_state(
        &mut runner,
        "cache",
        ServiceState::Down,
        Duration::from_secs(30),
    )
    .await;
    redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    next_state(
        &mut runner,
        "cache",
        ServiceState::Up,
        Duration::from_secs(30),
    )
    .await;

    // The alert for db opened and resolved exactly once, and the webhook heard both once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let alerts = store
        .recent_alerts(chrono::Utc::now() - chrono::TimeDelta::hours(1), 50)
        .await
        .unwrap();
    let db_alerts: Vec<_> = alerts.iter().filter(|a| a.key == "service.up:db").collect();
    assert_eq!(db_alerts.len(), 1, "{alerts:#?}");
    assert!(!db_alerts[0].is_open());
    let messages = received.lock().unwrap().clone();
    let for_db: Vec<&str> = messages
        .iter()
        .filter(|m| m["alert"]["key"] == "service.up:db")
        .filter_map(|m| m["event"].as_str())
        .collect();
    assert_eq!(for_db, ["opened", "resolved"], "{messages:#?}");

    // Results were stored; availability reflects the outage.
    runner.requests.send(Request::Shutdown).unwrap();
    let _ = runner.task.await;
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let availability = store
        .availability(chrono::Utc::now() - chrono::TimeDelta::hours(1))
        .await
        .unwrap();
    let db = availability
        .iter()
        .find(|(name, _)| name == "db")
        .expect("db results stored")
        .1;
    assert!(db > 0.0 && db < 100.0, "db availability {db}");
    let results = store.service_results("db", 100).await.unwrap();
    assert!(
        results
            .iter()
            .any(|row| !row.ok && row.detail.contains("refused")),
        "{results:#?}"
    );
    drop(pg);
    drop(redis);
}

/// An HTTP server on loopback that holds every request for `hold` before answering, and
/// records the most requests it ever held at once.
async fn slow_server(hold: Duration) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let seen = most.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (in_flight, most) = (in_flight.clone(), most.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&chunk[..read]),
                    }
                }
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(hold).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (address, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_64_checks_run_at_once_and_every_service_is_checked() {
    const SERVICES: usize = 100;
    let hold = Duration::from_millis(1500);
    let (address, most) = slow_server(hold).await;
    let services = (0..SERVICES)
        .map(|index| ServiceSpec {
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(20),
            ..spec(
                &format!("slow-{index}"),
                ServiceCheck::Http(HttpCheck {
                    url: format!("http://{address}/health/{index}"),
                    method: "GET".into(),
                    expect_status: vec![200],
                    body_contains: None,
                    json_equals: None,
                    max_latency: None,
                    headers: BTreeMap::new(),
                    verify_tls: true,
                }),
            )
        })
        .collect();
    let started = tokio::time::Instant::now();
    let mut runner = runner::spawn(settings(services, NotifySettings::default()), None);
    let mut checked = std::collections::HashMap::new();
    while checked.len() < SERVICES {
        let event =
            tokio::time::timeout_at(started + Duration::from_secs(30), runner.events.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {SERVICES} checked in 30 s", checked.len()))
                .unwrap();
        if let Event::ServiceChecked { name, outcome, .. } = event {
            checked.insert(name, outcome);
        }
    }
    let elapsed = started.elapsed();
    runner.requests.send(Request::Shutdown).unwrap();
    let failed: Vec<_> = checked.iter().filter(|(_, outcome)| !outcome.ok).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // The limit is reached (the checks do run side by side) and never passed.
    assert_eq!(most.load(Ordering::SeqCst), CONCURRENT_CHECKS);
    // 100 checks of 1.5 s with 64 at a time take two rounds.
    assert!(elapsed >= hold * 2, "all checked in {elapsed:?}");
}
