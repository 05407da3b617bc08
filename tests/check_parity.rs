//! `opsdeck check` and the console judge alike: one config (a real Redis that is up, a port that
//! refuses, a local HTTP server with a healthy and a missing page, and resource rules) is fed to
//! the runner, read through its events once flap control has settled, and to the `opsdeck check`
//! binary; every service and the ruled resource get the same status from both.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use opsdeck::config::Config;
use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::model::Status;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, Resources, RunnerSettings};
use opsdeck::core::services::flap::ServiceState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers `/healthy` with 200 and anything else with 404, on loopback.
async fn http_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&chunk[..read]),
                    }
                }
                let reply: &[u8] = if request.starts_with(b"GET /healthy ") {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                } else {
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = stream.write_all(reply).await;
            });
        }
    });
    address
}

/// A loopback port nothing listens on (bound, then released).
fn refusing_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs `opsdeck check --format json` on `config` in a sandboxed home.
fn check_binary(home: &Path, config: &Path) -> (Option<i32>, serde_json::Value) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_opsdeck"))
        .arg("--config")
        .arg(config)
        .args(["check", "--format", "json"])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

fn check_status(report: &serde_json::Value, id: &str) -> Status {
    let line = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"));
    Status::parse(line["status"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_and_opsdeck_check_give_every_service_the_same_status() {
    let redis = tokio::task::spawn_blocking(support::RedisServer::start)
        .await
        .unwrap();
    let web = http_server().await;
    let refused = refusing_port();
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("opsdeck.toml");
    let text = format!(
        r#"
[[service]]
name = "cache"
kind = "redis"
url = "{redis}"
interval = "1s"

[[service]]
name = "refused"
kind = "tcp"
address = "127.0.0.1:{refused}"
interval = "1s"

[[service]]
name = "web"
kind = "http"
url = "http://{web}/healthy"
interval = "1s"

[[service]]
name = "missing-page"
kind = "http"
url = "http://{web}/missing"
interval = "1s"

# The check's own connection is a client: a warning from both.
[[rule]]
metric = "service.redis_clients"
op = ">"
warn = 0

# opsdeck and this test are two processes at least: critical from both.
[[rule]]
metric = "processes.count"
op = ">"
warn = 0
crit = 1
"#,
        redis = redis.url()
    );
    std::fs::write(&config_path, &text).unwrap();
    let config = Config::parse(&config_path.display().to_string(), &text).unwrap();
    let services: Vec<String> = config
        .service_specs
        .iter()
        .map(|spec| spec.name.clone())
        .collect();
    let mut runner = runner::spawn(
        RunnerSettings {
            resources: Some(Resources::Settings(config.resource_settings())),
            rules: config.effective_rules(),
            services: config.service_specs.clone(),
            backups_interval: Duration::from_secs(3600),
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
        },
        None,
    );

    // The console: each service's level once flap control has settled (up at the first good
    // check, down after `down_after` failures), and the ruled resource's status.
    let mut console: BTreeMap<String, (ServiceState, Status)> = BTreeMap::new();
    let mut processes = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while processes.is_none()
        || services.iter().any(|name| {
            console
                .get(name)
                .is_none_or(|(state, _)| *state == ServiceState::Unknown)
        })
    {
        let event = tokio::time::timeout_at(deadline, runner.events.recv())
            .await
            .unwrap_or_else(|_| panic!("not settled within 30 s: {console:?} {processes:?}"))
            .unwrap();
        match event {
            Event::ServiceChecked {
                name, state, level, ..
            } => {
                console.insert(name, (state, level));
            }
            Event::Resources { evaluations, .. } => {
                processes = evaluations
                    .iter()
                    .find(|evaluation| evaluation.metric.name == "processes.count")
                    .map(|evaluation| evaluation.status);
            }
            _ => {}
        }
    }
    runner.requests.send(Request::Shutdown).unwrap();

    let (code, report) = tokio::task::spawn_blocking({
        let home = home.path().to_path_buf();
        move || check_binary(&home, &config_path)
    })
    .await
    .unwrap();
    for name in &services {
        let (state, level) = console[name];
        assert_eq!(
            check_status(&report, &format!("service:{name}")),
            level,
            "{name}: the console shows it {state:?} at {level:?}; check says otherwise: {report:#}"
        );
    }
    assert_eq!(check_status(&report, "processes.count"), processes.unwrap());
    // What the statuses are, so that agreeing on nothing useful cannot pass.
    let level = |name: &str| console[name];
    assert_eq!(level("cache"), (ServiceState::Up, Status::Warn));
    assert_eq!(level("web"), (ServiceState::Up, Status::Ok));
    assert_eq!(level("refused"), (ServiceState::Down, Status::Crit));
    assert_eq!(level("missing-page"), (ServiceState::Down, Status::Crit));
    assert_eq!(processes, Some(Status::Crit));
    assert_eq!(code, Some(2), "{report:#}");
}
