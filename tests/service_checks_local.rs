//! Service checks against real local things: throwaway PostgreSQL and Redis servers that go down
//! and come back, systemd as this host has it (or has not), processes spawned by the test and
//! commands that succeed, fail, are missing or hang.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opsdeck::core::services::command::CommandCheck;
use opsdeck::core::services::postgres::PostgresCheck;
use opsdeck::core::services::process::ProcessCheck;
use opsdeck::core::services::redis::RedisCheck;
use opsdeck::core::services::systemd::SystemdCheck;
use opsdeck::core::services::{CheckOutcome, SERVICE_METRICS, ServiceCheck};
use support::{PgServer, RedisServer};

const TIMEOUT: Duration = Duration::from_secs(5);

fn metric(outcome: &CheckOutcome, name: &str) -> Option<f64> {
    outcome
        .metrics
        .iter()
        .find(|(metric, _, _)| *metric == name)
        .map(|(_, value, _)| *value)
}

/// Every metric is one rules know, and none is reported twice.
fn assert_known_metrics(outcome: &CheckOutcome) {
    for (index, (name, value, _)) in outcome.metrics.iter().enumerate() {
        assert!(SERVICE_METRICS.contains(name), "unknown metric {name}");
        assert!(value.is_finite(), "{name} = {value}");
        assert!(
            outcome.metrics[index + 1..]
                .iter()
                .all(|(n, _, _)| n != name),
            "{name} twice in {outcome:?}"
        );
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

/// Processes whose command line is exactly `cmdline` (arguments joined by spaces), read from
/// /proc directly, zombies left out.
fn live_processes_with(cmdline: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches('\0')
            .replace('\0', " ");
        let zombie = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let close = stat.rfind(')')?;
                stat[close + 1..].trim_start().chars().next()
            })
            == Some('Z');
        if line == cmdline && !zombie {
            pids.push(pid);
        }
    }
    pids
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_up_then_down_then_up_again() {
    let server = tokio::task::spawn_blocking(PgServer::start)
        .await
        .expect("starting postgres");
    // Trust authentication ignores the password, which is only there to be masked.
    let url = format!(
        "postgres://postgres:hunter22@127.0.0.1:{}/postgres",
        server.port()
    );
    let masked = format!(
        "postgres://postgres:***@127.0.0.1:{}/postgres",
        server.port()
    );
    let check = ServiceCheck::Postgres(PostgresCheck { url: url.clone() });

    let up = check.run(TIMEOUT).await;
    assert!(up.ok, "{up:?}");
    assert!(up.detail.starts_with("PostgreSQL 1"), "{}", up.detail);
    assert!(up.detail.contains("/100 connections, "), "{}", up.detail);
    assert!(up.latency.is_some());
    assert_known_metrics(&up);
    assert!(metric(&up, "service.latency_ms").is_some_and(|ms| ms > 0.0));
    let pct = metric(&up, "service.pg_connections_pct").expect("connections metric");
    assert!(pct > 0.0 && pct <= 100.0, "{pct}");
    let bytes = metric(&up, "service.pg_database_bytes").expect("size metric");
    assert!(bytes > 1_000_000.0, "{bytes}");
    assert_eq!(
        metric(&up, "service.pg_replication_lag_s"),
        None,
        "not a standby"
    );

    let mut server = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.stop();
        server
    })
    .await
    .expect("stopping postgres");
    let started = Instant::now();
    let down = check.run(TIMEOUT).await;
    assert!(!down.ok, "{down:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        down.detail.contains("connection refused"),
        "{}",
        down.detail
    );
    assert!(
        down.detail.contains("is PostgreSQL running?"),
        "{}",
        down.detail
    );
    assert!(down.detail.contains(&masked), "{}", down.detail);
    assert!(!down.detail.contains("hunter22"), "{}", down.detail);
    assert!(down.metrics.is_empty());

    server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .expect("restarting postgres");
    let again = check.run(TIMEOUT).await;
    assert!(again.ok, "{again:?}");
    assert!(again.detail.starts_with("PostgreSQL "), "{}", again.detail);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unknown_database_says_which() {
    let server = tokio::task::spawn_blocking(PgServer::start)
        .await
        .expect("starting postgres");
    let check = ServiceCheck::Postgres(PostgresCheck {
        url: server.url_for("nosuchdb"),
    });
    let outcome = check.run(TIMEOUT).await;
    assert!(!outcome.ok, "{outcome:?}");
    assert!(
        outcome
            .detail
            .contains("database \"nosuchdb\" does not exist"),
        "{}",
        outcome.detail
    );
    assert!(
        outcome
            .detail
            .contains("check the database name in the service url"),
        "{}",
        outcome.detail
    );
    assert!(outcome.detail.contains(&server.url_for("nosuchdb")));
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_up_with_maxmemory_then_down_then_up_again() {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("starting redis-server");
    let check = ServiceCheck::Redis(RedisCheck { url: server.url() });

    let up = check.run(TIMEOUT).await;
    assert!(up.ok, "{up:?}");
    assert!(up.detail.starts_with("PONG in "), "{}", up.detail);
    assert!(up.detail.contains(" used (no maxmemory)"), "{}", up.detail);
    assert!(up.detail.contains("last save ok"), "{}", up.detail);
    assert!(up.detail.ends_with("AOF off"), "{}", up.detail);
    assert_known_metrics(&up);
    assert!(metric(&up, "service.latency_ms").is_some());
    assert!(metric(&up, "service.redis_clients").is_some_and(|n| n >= 1.0));
    assert_eq!(metric(&up, "service.redis_evicted_keys"), Some(0.0));
    assert!(metric(&up, "service.redis_rdb_age_s").is_some_and(|age| age >= 0.0));
    assert_eq!(metric(&up, "service.redis_memory_pct"), None);

    let reply = server
        .command(&["CONFIG", "SET", "maxmemory", "100mb"])
        .expect("CONFIG SET");
    assert_eq!(reply, "+OK");
    // A hit and a miss, so that there is a ratio.
    server.command(&["SET", "k", "v"]).expect("SET");
    server.command(&["GET", "k"]).expect("GET");
    server.command(&["GET", "missing"]).expect("GET");
    let limited = check.run(TIMEOUT).await;
    assert!(limited.ok, "{limited:?}");
    let pct = metric(&limited, "service.redis_memory_pct").expect("memory metric");
    assert!(pct > 0.0 && pct < 100.0, "{pct}");
    assert!(
        limited.detail.contains("% of maxmemory)"),
        "{}",
        limited.detail
    );
    assert_eq!(metric(&limited, "service.redis_hit_ratio_pct"), Some(50.0));
    assert!(
        limited.detail.contains("hit ratio 50 %"),
        "{}",
        limited.detail
    );

    let mut server = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.stop();
        server
    })
    .await
    .expect("stopping redis-server");
    let started = Instant::now();
    let down = check.run(TIMEOUT).await;
    assert!(!down.ok, "{down:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        down.detail.contains("connection refused"),
        "{}",
        down.detail
    );
    assert!(
        down.detail.contains("is redis-server running?"),
        "{}",
        down.detail
    );
    assert!(down.detail.contains(&server.url()), "{}", down.detail);

    server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .expect("restarting redis-server");
    let again = check.run(TIMEOUT).await;
    assert!(again.ok, "{again:?}");
    assert!(again.detail.starts_with("PONG in "), "{}", again.detail);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rejected_password_is_masked_and_explained() {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("starting redis-server");
    // The server has no password: AUTH with one is refused.
    let url = format!("redis://:hunter22@127.0.0.1:{}/", server.port());
    let outcome = ServiceCheck::Redis(RedisCheck { url }).run(TIMEOUT).await;
    assert!(!outcome.ok, "{outcome:?}");
    assert!(
        outcome
            .detail
            .contains("check the password in the service url"),
        "{}",
        outcome.detail
    );
    assert!(
        outcome
            .detail
            .contains(&format!("redis://:***@127.0.0.1:{}/", server.port())),
        "{}",
        outcome.detail
    );
    assert!(!outcome.detail.contains("hunter22"), "{}", outcome.detail);
}

/// A port that accepts connections (the kernel completes them) but never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_servers_time_out_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let port = listener.local_addr().expect("local address").port();
    let timeout = Duration::from_millis(300);
    for check in [
        ServiceCheck::Postgres(PostgresCheck {
            url: format!("postgres://postgres:hunter22@127.0.0.1:{port}/postgres"),
        }),
        ServiceCheck::Redis(RedisCheck {
            url: format!("redis://:hunter22@127.0.0.1:{port}/"),
        }),
    ] {
        let started = Instant::now();
        let outcome = check.run(timeout).await;
        let took = started.elapsed();
        assert!(!outcome.ok, "{outcome:?}");
        assert!(
            outcome.detail.contains("timed out after 300ms"),
            "{}",
            outcome.detail
        );
        assert!(outcome.detail.contains(":***@"), "{}", outcome.detail);
        assert!(!outcome.detail.contains("hunter22"), "{}", outcome.detail);
        assert!(took < Duration::from_millis(700), "{took:?}");
    }
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_urls_are_named_masked() {
    let postgres = ServiceCheck::Postgres(PostgresCheck {
        url: "postgres://postgres:hunter22@127.0.0.1:notaport/db".into(),
    })
    .run(TIMEOUT)
    .await;
    let redis = ServiceCheck::Redis(RedisCheck {
        url: "rediss+nonsense://:hunter22@127.0.0.1:notaport/".into(),
    })
    .run(TIMEOUT)
    .await;
    for outcome in [postgres, redis] {
        assert!(!outcome.ok, "{outcome:?}");
        assert!(outcome.detail.starts_with("invalid "), "{}", outcome.detail);
        assert!(outcome.detail.contains(":***@"), "{}", outcome.detail);
        assert!(!outcome.detail.contains("hunter22"), "{}", outcome.detail);
    }
}

// ---------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_reports_what_this_host_has() {
    let unit = "opsdeck-test-no-such-unit.service";
    let outcome = ServiceCheck::Systemd(SystemdCheck { unit: unit.into() })
        .run(TIMEOUT)
        .await;
    assert!(!outcome.ok, "{outcome:?}");
    // sd_booted(): systemd is the init system when this directory exists.
    if std::path::Path::new("/run/systemd/system").is_dir() {
        assert_eq!(outcome.detail, format!("unit {unit} not found"));
    } else {
        assert_eq!(outcome.detail, "systemd not available on this host");
    }
}

// ---------------------------------------------------------------------------
// process
// ---------------------------------------------------------------------------

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_counts_a_spawned_child_and_misses_nonsense() {
    // Unique to this test run, so that parallel runs do not count each other's child.
    let seconds = format!("31.{}", std::process::id());
    let child = Command::new("sleep")
        .arg(&seconds)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawning sleep");
    let mut child = KillOnDrop(child);

    let found = ServiceCheck::Process(ProcessCheck {
        pattern: format!("sleep {seconds}"),
        full_command_line: true,
        min_count: 1,
    })
    .run(TIMEOUT)
    .await;
    assert!(found.ok, "{found:?}");
    assert_eq!(found.detail, "1 process");
    assert_eq!(metric(&found, "service.process_count"), Some(1.0));
    assert_known_metrics(&found);

    let too_few = ServiceCheck::Process(ProcessCheck {
        pattern: format!("sleep {seconds}"),
        full_command_line: true,
        min_count: 2,
    })
    .run(TIMEOUT)
    .await;
    assert!(!too_few.ok, "{too_few:?}");
    assert_eq!(too_few.detail, "1 process, expected at least 2");

    let nonsense = ServiceCheck::Process(ProcessCheck {
        pattern: "opsdeck-no-such-process-zq7".into(),
        full_command_line: false,
        min_count: 0,
    })
    .run(TIMEOUT)
    .await;
    assert!(!nonsense.ok, "{nonsense:?}");
    assert_eq!(
        nonsense.detail,
        "no process matches \"opsdeck-no-such-process-zq7\""
    );
    assert_eq!(metric(&nonsense, "service.process_count"), Some(0.0));

    let _ = child.0.kill();
    let _ = child.0.wait();
}

// ---------------------------------------------------------------------------
// command
// ---------------------------------------------------------------------------

async fn run_command(argv: &[&str], timeout: Duration) -> CheckOutcome {
    ServiceCheck::Command(CommandCheck {
        argv: strings(argv),
    })
    .run(timeout)
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_exit_status_decides() {
    let ok = run_command(&["true"], TIMEOUT).await;
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.detail, "exit 0");
    assert!(ok.latency.is_some());
    assert_known_metrics(&ok);

    let said = run_command(&["sh", "-c", "echo; echo 'all good'; echo more"], TIMEOUT).await;
    assert!(said.ok, "{said:?}");
    assert_eq!(said.detail, "all good");

    let bad = run_command(&["sh", "-c", "echo bad; exit 3"], TIMEOUT).await;
    assert!(!bad.ok, "{bad:?}");
    assert_eq!(bad.detail, "exit 3: bad");

    let stderr = run_command(&["sh", "-c", "echo 'disk full' >&2; exit 2"], TIMEOUT).await;
    assert!(!stderr.ok, "{stderr:?}");
    assert_eq!(stderr.detail, "exit 2: disk full");

    let silent = run_command(&["false"], TIMEOUT).await;
    assert!(!silent.ok, "{silent:?}");
    assert_eq!(silent.detail, "exit 1");

    let missing = run_command(&["/no/such"], TIMEOUT).await;
    assert!(!missing.ok, "{missing:?}");
    assert_eq!(
        missing.detail,
        "`/no/such` was not found: install it or give its full path"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_kills_the_whole_process_group() {
    let unique = std::process::id();
    let direct = format!("sleep 5.{unique}");
    let started = Instant::now();
    let outcome = run_command(
        &["sleep", &format!("5.{unique}")],
        Duration::from_millis(300),
    )
    .await;
    let took = started.elapsed();
    assert!(!outcome.ok, "{outcome:?}");
    assert_eq!(outcome.detail, "timed out after 300ms");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(live_processes_with(&direct), Vec::<u32>::new());

    // A grandchild in the background goes too.
    let background = format!("sleep 7.{unique}");
    let script = format!("{background} & sleep 6.{unique}");
    let started = Instant::now();
    let outcome = run_command(&["sh", "-c", &script], Duration::from_millis(300)).await;
    assert!(!outcome.ok, "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The killed grandchild is reaped by init; give that a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !live_processes_with(&background).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(live_processes_with(&background), Vec::<u32>::new());
}
