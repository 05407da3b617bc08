//! The network service checks (`http`, `tcp`, `tls`) against servers started in the test: a
//! small hand-written HTTP server on loopback, the same behind TLS with a self-signed
//! certificate from the `openssl` command line tool, closed ports and unresolvable names; and
//! `opsdeck check` on the real binary with those servers and a throwaway Redis.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opsdeck::core::model::Status;
use opsdeck::core::services::http::HttpCheck;
use opsdeck::core::services::tcp::TcpCheck;
use opsdeck::core::services::tls::{TlsCheck, TlsTarget, expiry_status};
use opsdeck::core::services::{CheckOutcome, ServiceCheck, http, tcp, tls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Test servers

/// Serves the test routes on 127.0.0.1, over TLS when an acceptor is given.
async fn start_server(tls: Option<TlsAcceptor>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => respond(stream).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            respond(stream).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Answers requests by path on a kept-alive connection until the client closes it.
async fn respond<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = [0u8; 4096];
    loop {
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            // A TLS ClientHello on the plain port: answer like real servers do.
            if head.first() == Some(&0x16) {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                    .await;
                return;
            }
        }
        let head = String::from_utf8_lossy(&head);
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let (status, body) = match path {
            "/healthy" => ("200 OK", r#"{"status":"ok"}"#),
            "/error" => ("500 Internal Server Error", "boom"),
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                ("200 OK", r#"{"status":"ok"}"#)
            }
            "/wrong" => ("200 OK", r#"{"status":"degraded"}"#),
            _ => ("404 Not Found", ""),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n\
             {body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A port nothing listens on: bound without listening, so connections are refused and no
/// other test can take the port meanwhile (a released port could be handed out again). Keep
/// the socket alive while the port is used.
fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let port = socket.local_addr().expect("local addr").port();
    (socket, port)
}

fn tls_acceptor(cert: &Path, key: &Path) -> TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("open certificate")
        .collect::<Result<_, _>>()
        .expect("read certificate");
    let key = PrivateKeyDer::from_pem_file(key).expect("read key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    TlsAcceptor::from(Arc::new(config))
}

/// An HTTPS test server with a certificate expiring in 5 days; the directory must outlive it.
async fn start_https_server() -> (tempfile::TempDir, SocketAddr) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = support::self_signed(dir.path(), "server", 5);
    let addr = start_server(Some(tls_acceptor(&cert, &key))).await;
    (dir, addr)
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn http_check(url: String) -> HttpCheck {
    HttpCheck {
        url,
        method: "GET".into(),
        expect_status: Vec::new(),
        body_contains: None,
        json_equals: None,
        max_latency: None,
        headers: BTreeMap::new(),
        verify_tls: true,
    }
}

fn metric(outcome: &CheckOutcome, name: &str) -> Option<f64> {
    outcome
        .metrics
        .iter()
        .find(|(metric, _, _)| *metric == name)
        .map(|(_, value, _)| *value)
}

fn endpoint(addr: SocketAddr, server_name: Option<&str>) -> TlsCheck {
    TlsCheck {
        target: TlsTarget::Endpoint {
            address: addr.to_string(),
            server_name: server_name.map(str::to_owned),
        },
        warn_days: 30,
        crit_days: 7,
    }
}

// ---------------------------------------------------------------------------------------------
// http

#[tokio::test]
async fn http_healthy_is_ok_with_latency_and_status() {
    let addr = start_server(None).await;
    let mut check = http_check(format!("http://{addr}/healthy"));
    check.headers.insert("X-Probe".into(), "opsdeck".into());
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert!(outcome.latency.is_some());
    assert!(
        outcome.detail.starts_with("200 OK in "),
        "{}",
        outcome.detail
    );
    assert_eq!(metric(&outcome, "service.http_status"), Some(200.0));
    assert!(metric(&outcome, "service.latency_ms").is_some_and(|ms| ms >= 0.0));
}

#[tokio::test]
async fn http_unexpected_status_fails() {
    let addr = start_server(None).await;
    let mut check = http_check(format!("http://{addr}/error"));
    let any_2xx = http::check(&check, TIMEOUT).await;
    assert!(!any_2xx.ok);
    assert!(any_2xx.detail.contains("500"), "{}", any_2xx.detail);
    assert!(
        any_2xx.detail.contains("(expected 2xx)"),
        "{}",
        any_2xx.detail
    );
    assert_eq!(metric(&any_2xx, "service.http_status"), Some(500.0));

    check.expect_status = vec![200];
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome.detail.starts_with("500 Internal Server Error in "),
        "{}",
        outcome.detail
    );
    assert!(
        outcome.detail.ends_with("(expected 200)"),
        "{}",
        outcome.detail
    );

    check.expect_status = vec![500];
    assert!(http::check(&check, TIMEOUT).await.ok);
}

#[tokio::test]
async fn http_slower_than_the_limit_fails() {
    let addr = start_server(None).await;
    let mut check = http_check(format!("http://{addr}/slow"));
    check.max_latency = Some(Duration::from_secs(1));
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(outcome.detail.starts_with("slow: "), "{}", outcome.detail);
    assert!(
        outcome.detail.ends_with(" > 1 s limit"),
        "{}",
        outcome.detail
    );
    assert!(
        outcome
            .latency
            .is_some_and(|latency| latency >= Duration::from_millis(1400))
    );
}

#[tokio::test]
async fn http_timeout_gives_up_in_time() {
    let addr = start_server(None).await;
    let check = ServiceCheck::Http(http_check(format!("http://{addr}/slow")));
    let start = Instant::now();
    let outcome = check.run(Duration::from_millis(500)).await;
    let elapsed = start.elapsed();
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, "timed out after 500ms");
    assert!(elapsed < Duration::from_millis(1200), "took {elapsed:?}");
}

#[tokio::test]
async fn http_body_expectations() {
    let addr = start_server(None).await;
    let mut check = http_check(format!("http://{addr}/wrong"));
    check.body_contains = Some("healthy".into());
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, "body lacks \"healthy\"");

    check.body_contains = Some("degraded".into());
    assert!(http::check(&check, TIMEOUT).await.ok);

    let mut json = http_check(format!("http://{addr}/healthy"));
    json.json_equals = Some(("/status".into(), serde_json::json!("ok")));
    let outcome = http::check(&json, TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");

    json.url = format!("http://{addr}/wrong");
    let outcome = http::check(&json, TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, r#"/status is "degraded", expected "ok""#);

    json.url = format!("http://{addr}/error");
    json.expect_status = vec![500];
    let outcome = http::check(&json, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome.detail.starts_with("body is not JSON"),
        "{}",
        outcome.detail
    );
}

#[tokio::test]
async fn http_bad_configuration_is_explained() {
    let mut check = http_check("http://user:hunter2@127.0.0.1:notaport/".into());
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome.detail.starts_with("invalid URL"),
        "{}",
        outcome.detail
    );
    assert!(!outcome.detail.contains("hunter2"), "{}", outcome.detail);

    check.url = "ftp://127.0.0.1/".into();
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(outcome.detail.contains("scheme"), "{}", outcome.detail);

    check.url = "http://127.0.0.1/".into();
    check.method = "GE T".into();
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(
        outcome.detail.starts_with("invalid method"),
        "{}",
        outcome.detail
    );
}

// ---------------------------------------------------------------------------------------------
// tcp and connection failures

#[tokio::test]
async fn tcp_connects() {
    let addr = start_server(None).await;
    let outcome = tcp::check(
        &TcpCheck {
            address: addr.to_string(),
        },
        TIMEOUT,
    )
    .await;
    assert!(outcome.ok, "{outcome:?}");
    assert!(
        outcome.detail.starts_with("connected in "),
        "{}",
        outcome.detail
    );
    assert!(outcome.latency.is_some());
    assert!(metric(&outcome, "service.latency_ms").is_some());
}

#[tokio::test]
async fn closed_port_is_refused() {
    let (_socket, port) = closed_port();
    let outcome = tcp::check(
        &TcpCheck {
            address: format!("127.0.0.1:{port}"),
        },
        TIMEOUT,
    )
    .await;
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, "connection refused");

    let outcome = http::check(&http_check(format!("http://127.0.0.1:{port}/")), TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, "connection refused");

    let outcome = tls::check(
        &endpoint(SocketAddr::from(([127, 0, 0, 1], port)), None),
        TIMEOUT,
    )
    .await;
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, "connection refused");
}

#[tokio::test]
async fn unresolvable_host_is_explained() {
    let address = "no-such-host.invalid:80".to_owned();
    let outcome = tcp::check(&TcpCheck { address }, TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, "cannot resolve no-such-host.invalid");

    let outcome = http::check(&http_check("http://no-such-host.invalid/".into()), TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.detail, "cannot resolve no-such-host.invalid");

    let outcome = tcp::check(
        &TcpCheck {
            address: "no-port".into(),
        },
        TIMEOUT,
    )
    .await;
    assert!(
        outcome.detail.starts_with("invalid address"),
        "{}",
        outcome.detail
    );
}

// ---------------------------------------------------------------------------------------------
// tls

#[tokio::test]
async fn tls_endpoint_reports_days_left() {
    let (_dir, addr) = start_https_server().await;
    for server_name in [Some("localhost"), None] {
        let check = endpoint(addr, server_name);
        let outcome = tls::check(&check, TIMEOUT).await;
        assert!(outcome.ok, "{outcome:?}");
        let days = metric(&outcome, "service.tls_days_left").expect("days left");
        // Made moments ago with `-days 5`: 4.99 days left, which openssl's end date shows as
        // five days from now.
        assert_eq!(days, 5.0);
        assert_eq!(expiry_status(days as i64, 30, 7), Status::Crit);
        assert!(outcome.latency.is_some());
        assert!(metric(&outcome, "service.latency_ms").is_some());
        assert!(
            outcome.detail.starts_with("expires in 5 days ("),
            "{}",
            outcome.detail
        );
        assert!(
            outcome
                .detail
                .ends_with("CN=localhost, issuer CN=localhost"),
            "{}",
            outcome.detail
        );
    }
}

#[tokio::test]
async fn tls_on_a_plain_port_fails_clearly() {
    let addr = start_server(None).await;
    let outcome = tls::check(&endpoint(addr, None), TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(outcome.detail.contains("TLS"), "{}", outcome.detail);
}

#[tokio::test]
async fn tls_certificate_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = support::self_signed(dir.path(), "file", 20);
    let check = TlsCheck {
        target: TlsTarget::File(cert.clone()),
        warn_days: 30,
        crit_days: 7,
    };
    let outcome = tls::check(&check, TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    let days = metric(&outcome, "service.tls_days_left").expect("days left");
    assert_eq!(days, 20.0);
    assert_eq!(expiry_status(days as i64, 30, 7), Status::Warn);
    assert!(
        outcome.detail.starts_with("expires in 20 days ("),
        "{}",
        outcome.detail
    );

    // DER, and a PEM file with the key first.
    let pem = std::fs::read_to_string(&cert).expect("read cert");
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("der");
    let der_path = dir.path().join("file.der");
    std::fs::write(&der_path, der.as_ref()).expect("write der");
    let combined = dir.path().join("combined.pem");
    let key_pem = std::fs::read_to_string(&key).expect("read key");
    std::fs::write(&combined, format!("{key_pem}{pem}")).expect("write combined");
    for path in [der_path, combined] {
        let check = TlsCheck {
            target: TlsTarget::File(path),
            ..check.clone()
        };
        let other = tls::check(&check, TIMEOUT).await;
        assert_eq!(other.metrics, outcome.metrics);
    }

    let missing = TlsCheck {
        target: TlsTarget::File(dir.path().join("missing.pem")),
        ..check.clone()
    };
    let outcome = tls::check(&missing, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome.detail.starts_with("cannot read "),
        "{}",
        outcome.detail
    );
    assert!(
        outcome.detail.ends_with("no such file or directory"),
        "{}",
        outcome.detail
    );

    let not_a_cert = TlsCheck {
        target: TlsTarget::File(key),
        ..check
    };
    let outcome = tls::check(&not_a_cert, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome.detail.starts_with("no certificate in "),
        "{}",
        outcome.detail
    );
}

#[tokio::test]
async fn https_verification_can_be_turned_off() {
    let (_dir, addr) = start_https_server().await;
    let mut check = http_check(format!("https://127.0.0.1:{}/healthy", addr.port()));
    check.verify_tls = false;
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(metric(&outcome, "service.http_status"), Some(200.0));

    check.verify_tls = true;
    let outcome = http::check(&check, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome.detail.starts_with("certificate not trusted"),
        "{}",
        outcome.detail
    );
}

// ---------------------------------------------------------------------------------------------
// many services

/// 500 HTTP services on loopback, checked with bounded concurrency as the runner does: a sweep
/// (connections kept alive from the one before) stays well within the 10 s default interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_services_sweep_quickly() {
    let mut checks = Vec::new();
    for _ in 0..500 {
        let addr = start_server(None).await;
        checks.push(Arc::new(ServiceCheck::Http(http_check(format!(
            "http://{addr}/healthy"
        )))));
    }
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut sweeps = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for check in &checks {
            let check = check.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire().await.expect("semaphore");
                check.run(TIMEOUT).await
            });
        }
        let mut up = 0;
        while let Some(outcome) = tasks.join_next().await {
            let outcome = outcome.expect("check task");
            assert!(outcome.ok, "{outcome:?}");
            up += 1;
        }
        assert_eq!(up, 500);
        sweeps.push(start.elapsed());
    }
    eprintln!("sweeps of 500 http services: {sweeps:?}");
    // The best warm sweep: one hiccup on a busy machine is not the code's doing.
    let warm = sweeps[1..].iter().min().copied().unwrap_or_default();
    assert!(warm < Duration::from_secs(1), "sweeps took {sweeps:?}");
}

// ---------------------------------------------------------------------------------------------
// expiry levels

#[test]
fn expiry_levels() {
    assert_eq!(expiry_status(100, 30, 7), Status::Ok);
    assert_eq!(expiry_status(31, 30, 7), Status::Ok);
    assert_eq!(expiry_status(30, 30, 7), Status::Warn);
    assert_eq!(expiry_status(8, 30, 7), Status::Warn);
    assert_eq!(expiry_status(7, 30, 7), Status::Crit);
    assert_eq!(expiry_status(0, 30, 7), Status::Crit);
    assert_eq!(expiry_status(-3, 30, 7), Status::Crit);
    // Crit wins when the limits are set the wrong way round.
    assert_eq!(expiry_status(10, 5, 14), Status::Crit);
}

// ---------------------------------------------------------------------------------------------
// `opsdeck check`, the binary

/// Runs `opsdeck check --only services --format json` with `config` in a sandboxed home.
async fn check_json(home: &Path, config: &str) -> (Option<i32>, serde_json::Value) {
    let config_path = home.join("opsdeck.toml");
    std::fs::write(&config_path, config).expect("write config");
    let home = home.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_opsdeck"))
            .arg("--config")
            .arg(&config_path)
            .arg("--state")
            .arg(home.join("state.db"))
            .args(["check", "--only", "services", "--format", "json"])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_STATE_HOME", home.join("state"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run opsdeck check")
    })
    .await
    .expect("opsdeck check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

fn service_line<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|checks| {
            checks
                .iter()
                .find(|check| check["id"] == format!("service:{name}"))
        })
        .unwrap_or_else(|| panic!("no service {name} in {report:#}"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_check_does_not_slow_the_other_checks_down() {
    let redis = tokio::task::spawn_blocking(support::RedisServer::start)
        .await
        .expect("start Redis");
    let http = start_server(None).await;
    let (_certificates, https) = start_https_server().await;
    let home = tempfile::tempdir().expect("home");
    let plain = format!(
        r#"
[[service]]
name = "web"
kind = "http"
url = "http://{http}/healthy"

[[service]]
name = "cache"
kind = "redis"
url = "{redis}"
"#,
        redis = redis.url()
    );
    let with_tls = format!(
        r#"{plain}
[[service]]
name = "cert"
kind = "tls"
address = "{https}"
server_name = "localhost"
warn_days = 2
crit_days = 1

[[service]]
name = "secure-web"
kind = "http"
url = "https://localhost:{port}/healthy"
verify_tls = false
"#,
        port = https.port()
    );
    // Alternating runs, so that a busy moment of the machine falls on both alike.
    let mut latencies: [[Vec<f64>; 2]; 2] = Default::default();
    for _ in 0..5 {
        for (config, index) in [(&plain, 0), (&with_tls, 1)] {
            let (code, report) = check_json(home.path(), config).await;
            assert_eq!(code, Some(0), "{report:#}");
            for (service, slot) in [("web", 0), ("cache", 1)] {
                let line = service_line(&report, service);
                assert_eq!(line["metric"], "service.latency_ms", "{line:#}");
                latencies[index][slot].push(line["value"].as_f64().expect("latency"));
            }
        }
    }
    // A check's latency is its own exchange: what TLS sets up once (AWS-LC seeds its random
    // generator from CPU jitter, ~50 ms) is not counted in the others'. The handshakes
    // themselves still share the one thread, and a busy machine (other test binaries) adds its
    // own jitter, hence the 10 ms allowed: the regression this guards against was ~50 ms.
    for (slot, service) in [(0, "web"), (1, "cache")] {
        let alone = median(latencies[0][slot].clone());
        let beside_tls = median(latencies[1][slot].clone());
        assert!(
            beside_tls <= alone * 3.0 + 10.0,
            "{service}: {beside_tls:.1} ms beside TLS checks against {alone:.1} ms without \
             (runs: {:?} and {:?})",
            latencies[0][slot],
            latencies[1][slot]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_rule_on_evictions_names_its_metric_value_and_limit() {
    let redis = tokio::task::spawn_blocking(support::RedisServer::start)
        .await
        .expect("start Redis");
    let port = redis.port();
    let evicted = tokio::task::spawn_blocking(move || {
        support::resp_command(port, &["CONFIG", "SET", "maxmemory", "2mb"]).expect("maxmemory");
        support::resp_command(port, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
            .expect("policy");
        let value = "x".repeat(10_000);
        for key in 0..1_000 {
            support::resp_command(port, &["SET", &format!("key:{key}"), &value]).expect("SET");
        }
        let info = support::resp_command(port, &["INFO", "stats"]).expect("INFO");
        info.lines()
            .find_map(|line| line.strip_prefix("evicted_keys:"))
            .and_then(|count| count.trim().parse::<u64>().ok())
            .expect("evicted_keys in INFO")
    })
    .await
    .expect("fill Redis");
    assert!(evicted > 1, "Redis evicted {evicted} keys");
    let home = tempfile::tempdir().expect("home");
    let (code, report) = check_json(
        home.path(),
        &format!(
            r#"
[[service]]
name = "cache"
kind = "redis"
url = "{}"

[[rule]]
metric = "service.redis_evicted_keys"
op = ">"
warn = 1
"#,
            redis.url()
        ),
    )
    .await;
    assert_eq!(code, Some(1), "a warning: {report:#}");
    let line = service_line(&report, "cache");
    assert_eq!(line["status"], "warn", "{line:#}");
    assert_eq!(line["metric"], "service.redis_evicted_keys", "{line:#}");
    // Redis may evict a few more after the count was read.
    let value = line["value"].as_f64().expect("value");
    assert!(value >= evicted as f64, "{line:#}");
    assert_eq!(line["op"], ">", "{line:#}");
    assert_eq!(line["warn"].as_f64(), Some(1.0), "{line:#}");
    assert_eq!(
        line["reason"],
        format!("service.redis_evicted_keys {value} > 1"),
        "{line:#}"
    );
}
