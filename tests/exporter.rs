//! opsdeck's own exporter, served for real: the headless `opsdeck exporter` answers `/metrics`
//! with output `promtool check metrics` accepts and no configured secret in it, 404 elsewhere,
//! refuses an oversized request and keeps serving, and stops cleanly on SIGTERM (and says why
//! when it cannot listen: no address, or a port taken); a throwaway
//! Prometheus (tests/support/prometheus.rs) scraping it beside three node_exporters answers a
//! query for an opsdeck_ metric; and in the console's place the exporter passes every runner
//! event on while it serves, or says in place that it cannot listen.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opsdeck::config::Config;
use opsdeck::core::exporter::ExporterSettings;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::shared::Kind;
use support::prometheus::{Fleet, http_get};
use support::runner::next;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");
/// Configured secrets that must never be served.
const SECRETS: [&str; 3] = ["DsnSecret42", "HeaderSecret77", "BearerSecret99"];
const WITHIN: Duration = Duration::from_secs(60);

/// A port nothing listens on.
fn closed_port() -> u16 {
    support::free_port()
}

/// The sandbox's directories and a config file with `body`.
fn configure(dir: &Path, body: &str) -> PathBuf {
    for sub in ["home", "config", "data", "state"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let path = dir.join("opsdeck.toml");
    std::fs::write(&path, body).unwrap();
    path
}

/// Services and a backup set carrying every kind of secret a config holds: a DSN password, an
/// Authorization header, a Prometheus bearer token.
fn config_with_secrets(
    port: u16,
    web: u16,
    backups: &Path,
    cert: &Path,
    prometheus: &str,
) -> String {
    let closed = closed_port();
    format!(
        r#"[exporter]
listen = "127.0.0.1:{port}"

[[service]]
name = "web \"edge\""
kind = "tcp"
address = "127.0.0.1:{web}"
interval = "1s"

[[service]]
name = "cert"
kind = "tls"
cert_file = "{cert}"
interval = "1s"

[[service]]
name = "db"
kind = "postgres"
url = "postgres://app:DsnSecret42@127.0.0.1:{closed}/app"
interval = "1s"

[[service]]
name = "api"
kind = "http"
url = "http://127.0.0.1:{closed}/health"
headers = {{ Authorization = "Bearer HeaderSecret77" }}
interval = "1s"

[[backup]]
name = "db"
directory = "{backups}"
patterns = ["*.bak"]
kind = "other"
[backup.create]
source = "postgres"
url = "postgres://app:DsnSecret42@127.0.0.1:{closed}/app"

[[prometheus]]
url = "{prometheus}"
bearer_token = "BearerSecret99"
interval = "1s"
timeout = "1s"
"#,
        backups = backups.display(),
        cert = cert.display(),
    )
}

/// A sandbox configured with [`config_with_secrets`]: a service that is up (`web`), a
/// certificate valid for ten days (`cert`), one backup file in set `db`.
struct Prepared {
    dir: tempfile::TempDir,
    config: PathBuf,
    /// Held open so the `web` service is up.
    _web: TcpListener,
}

fn prepare(port: u16, prometheus: &str) -> Prepared {
    let dir = tempfile::tempdir().unwrap();
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(backups.join("db.bak"), vec![7u8; 4096]).unwrap();
    let (cert, _) = support::self_signed(dir.path(), "cert", 10);
    let config = configure(
        dir.path(),
        &config_with_secrets(
            port,
            web.local_addr().unwrap().port(),
            &backups,
            &cert,
            prometheus,
        ),
    );
    Prepared {
        dir,
        config,
        _web: web,
    }
}

/// `opsdeck exporter` running in a sandbox; killed on drop if a test failed before stopping it.
struct Headless {
    child: Option<Child>,
    stderr: PathBuf,
}

impl Headless {
    fn start(dir: &Path, config: &Path) -> Headless {
        let stderr = dir.join("exporter.err");
        let mut command = Command::new(BIN);
        command.arg("--config").arg(config).arg("exporter");
        support::run::sandboxed(&mut command, dir, "oncall");
        command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        Headless {
            child: Some(command.spawn().unwrap()),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then its exit code once it has stopped.
    fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running 30 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `/metrics` once every line of `wanted` is in it.
fn metrics_with(port: u16, wanted: &[&str], headless: &Headless) -> String {
    let deadline = Instant::now() + WITHIN;
    loop {
        let answer = http_get(port, "/metrics");
        if let Some((200, body)) = &answer
            && wanted.iter().all(|line| body.contains(line))
        {
            return body.clone();
        }
        assert!(
            Instant::now() < deadline,
            "/metrics never had all of {wanted:?}; last answer {answer:?}\nstderr:\n{}",
            headless.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_headless_exporter_serves_promtool_clean_metrics_without_secrets() {
    let port = support::free_port();
    let prepared = prepare(port, &format!("http://127.0.0.1:{}", closed_port()));
    let dir = prepared.dir.path();
    let mut headless = Headless::start(dir, &prepared.config);
    let body = metrics_with(
        port,
        &[
            "opsdeck_service_up{service=\"web \\\"edge\\\"\"} 1\n",
            "opsdeck_service_up{service=\"db\"} 0\n",
            "opsdeck_service_latency_seconds{service=\"web \\\"edge\\\"\"} ",
            "opsdeck_backup_age_seconds{set=\"db\"} ",
            "opsdeck_backup_files{set=\"db\"} 1\n",
            "opsdeck_checklist_due{checklist=\"daily\"} ",
            "opsdeck_incidents_open{level=\"P1\"} 0\n",
            "opsdeck_alerts_open{level=\"crit\"} ",
            "opsdeck_service_tls_remaining_seconds{service=\"cert\"} ",
        ],
        &headless,
    );
    let remaining: f64 = body
        .lines()
        .find_map(|line| {
            line.strip_prefix("opsdeck_service_tls_remaining_seconds{service=\"cert\"} ")
        })
        .unwrap()
        .parse()
        .unwrap();
    let days = remaining / 86_400.0;
    assert!(
        (9.9..=10.0).contains(&days),
        "ten days, counted down: {days}"
    );
    assert!(
        headless
            .stderr()
            .contains(&format!("serving http://127.0.0.1:{port}/metrics")),
        "{}",
        headless.stderr()
    );

    // Prometheus' own parser and linter accept it.
    let file = dir.join("metrics.txt");
    std::fs::write(&file, &body).unwrap();
    let checked = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{body}"
    );
    for secret in SECRETS {
        assert!(!body.contains(secret), "{secret} served:\n{body}");
    }

    // Elsewhere 404; a request head over 8 KiB is refused, and the next scrape is served.
    assert_eq!(http_get(port, "/").map(|(status, _)| status), Some(404));
    assert_eq!(
        http_get(port, "/metrics/x").map(|(status, _)| status),
        Some(404)
    );
    let mut stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let padding = "a".repeat(16 * 1024);
    let _ = write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: {padding}\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert_eq!(
        http_get(port, "/metrics").map(|(status, _)| status),
        Some(200)
    );

    assert_eq!(headless.terminate(), Some(0), "{}", headless.stderr());
    assert!(http_get(port, "/metrics").is_none(), "nothing serves after");
}

fn run_headless(dir: &Path, config: &Path) -> support::run::Run {
    let mut command = Command::new(BIN);
    command.arg("--config").arg(config).arg("exporter");
    support::run::sandboxed(&mut command, dir, "oncall");
    support::run::Run::from(command.output().unwrap())
}

#[test]
fn the_headless_exporter_says_why_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), "[general]\n");
    let run = run_headless(dir.path(), &config);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        run.stderr.contains(&config.display().to_string())
            && run.stderr.contains("no [exporter] listen address")
            && run
                .stderr
                .contains("fix: add [exporter] listen = \"127.0.0.1:9464\""),
        "{}",
        run.text()
    );
    // The port is taken: said at once, naming the address and the file to change.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let config = configure(dir.path(), &format!("[exporter]\nlisten = \"{address}\"\n"));
    let run = run_headless(dir.path(), &config);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        run.stderr
            .contains(&format!("the exporter cannot listen on {address}"))
            && run.stderr.contains(&format!(
                "fix: set [exporter] listen in {} to a free address",
                config.display()
            )),
        "{}",
        run.text()
    );
}

#[test]
fn prometheus_scrapes_the_exporter_beside_the_fleet() {
    let port = support::free_port();
    let target = format!("127.0.0.1:{port}");
    let fleet = Fleet::start_with(3, &[("opsdeck", &target)]);
    let prepared = prepare(port, &fleet.url());
    let mut headless = Headless::start(prepared.dir.path(), &prepared.config);
    let deadline = Instant::now() + WITHIN;
    let query = "opsdeck_service_up{job=\"opsdeck\",service=\"web \\\"edge\\\"\"}";
    loop {
        let answer = fleet.query(query).unwrap_or_default();
        // An instant vector of one series whose value is "1".
        if answer.contains(&format!("\"instance\":\"{target}\"")) && answer.ends_with(",\"1\"]}]}}")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had {query} = 1; last answer {answer}\nstderr:\n{}",
            headless.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Every opsdeck series Prometheus stored, labels included, is free of secrets.
    let stored = fleet.query("{job=\"opsdeck\"}").unwrap();
    assert!(stored.contains("opsdeck_backup_files"), "{stored}");
    for secret in SECRETS {
        assert!(!stored.contains(secret), "{secret} stored:\n{stored}");
    }
    assert_eq!(headless.terminate(), Some(0), "{}", headless.stderr());
}

fn tcp_runner(web: u16) -> RunnerHandle {
    let config = Config::parse(
        "test",
        &format!(
            "[[service]]\nname = \"web\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{web}\"\ninterval = \"1s\"\n"
        ),
    )
    .unwrap();
    runner::spawn(
        RunnerSettings {
            services: config.service_specs,
            ..RunnerSettings::tasks_only(support::runner::no_tasks())
        },
        None,
    )
}

fn exporter_at(port: u16) -> ExporterSettings {
    ExporterSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        host: "test-host".into(),
        checklists: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_console_every_event_passes_on_while_it_serves() {
    let web = TcpListener::bind("127.0.0.1:0").unwrap();
    let web_port = web.local_addr().unwrap().port();
    let port = support::free_port();
    let mut console =
        runner::exporter::attach_or_warn(exporter_at(port), tcp_runner(web_port), None).await;
    let checked = next(&mut console, |event| match event {
        Event::ServiceChecked { name, .. } => Some(name),
        _ => None,
    })
    .await;
    assert_eq!(checked, "web");
    let body = scrape(port).await;
    assert!(
        body.contains("opsdeck_service_check_success{service=\"web\"} 1\n"),
        "{body}"
    );

    // A second console on the same address: told in place, and its events still flow.
    let mut second =
        runner::exporter::attach_or_warn(exporter_at(port), tcp_runner(web_port), None).await;
    let first = tokio::time::timeout(WITHIN, second.events.recv())
        .await
        .unwrap()
        .unwrap();
    match first {
        Event::Warning { source, message } => {
            assert_eq!(source, "exporter");
            assert!(
                message.contains(&format!("127.0.0.1:{port}")) && message.contains("listen"),
                "{message}"
            );
        }
        other => panic!("expected the exporter's warning first, got {other:?}"),
    }
    next(&mut second, |event| {
        matches!(event, Event::ServiceChecked { .. }).then_some(())
    })
    .await;
    second.requests.send(Request::Shutdown).unwrap();

    // When the console's runner stops, so does its endpoint.
    console.requests.send(Request::Shutdown).unwrap();
    while console.events.recv().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "still serving after the runner stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(web);
}

/// `/metrics` on `port`, from a blocking thread.
async fn scrape(port: u16) -> String {
    let (status, body) = tokio::task::spawn_blocking(move || http_get(port, "/metrics"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    body
}

/// Runs made by other opsdeck processes of this host (cron's `opsdeck run`) count from the store,
/// however many runs came after them; runs of other hosts sharing the store do not.
#[tokio::test(flavor = "multi_thread")]
async fn the_stores_last_success_of_this_host_is_served_and_another_hosts_is_not() {
    use opsdeck::core::model::{RunStatus, TaskRun, Trigger};
    use opsdeck::core::store::{Store, StoreLocation};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let ended = chrono::Utc::now() - chrono::TimeDelta::days(1);
    let run = |id: String, task: &str, host: &str, at: chrono::DateTime<chrono::Utc>| TaskRun {
        id,
        task_id: task.into(),
        params: Default::default(),
        plan: vec![task.into()],
        user: "cron".into(),
        client: None,
        host: host.into(),
        pid: 1,
        started_at: at,
        ended_at: Some(at),
        status: RunStatus::Succeeded,
        exit_code: Some(0),
        summary: None,
        output: "x".repeat(1000),
        log_path: None,
        trigger: Trigger::Schedule,
    };
    store
        .insert_run(&run("nightly".into(), "nightly", "test-host", ended))
        .await
        .unwrap();
    // More newer runs of another host than the console's history holds.
    for minute in 0..210 {
        let at = ended + chrono::TimeDelta::minutes(minute + 1);
        store
            .insert_run(&run(format!("theirs-{minute}"), "theirs", "web-9", at))
            .await
            .unwrap();
    }
    let runner = runner::spawn(
        RunnerSettings::tasks_only(support::runner::no_tasks()),
        Some(store.clone()),
    );
    let port = support::free_port();
    let console = runner::exporter::attach_or_warn(exporter_at(port), runner, Some(store)).await;
    let wanted = format!(
        "opsdeck_task_last_success_timestamp_seconds{{task=\"nightly\"}} {}\n",
        ended.timestamp_millis() as f64 / 1000.0
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let body = scrape(port).await;
        if body.contains(&wanted) || Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body.contains(&wanted), "no {wanted} in:\n{body}");
    assert!(!body.contains("task=\"theirs\""), "{body}");
    console.requests.send(Request::Shutdown).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_task_run_here_is_its_last_success_and_a_failed_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        "test",
        "[[task]]\nid = \"ok\"\nargv = [\"true\"]\ndestructive = false\n\
         [[task]]\nid = \"broken\"\nargv = [\"false\"]\ndestructive = false\n",
    )
    .unwrap();
    let tasks = support::runner::no_tasks();
    let runner = runner::spawn(
        RunnerSettings::tasks_only(opsdeck::core::execution::TaskSettings {
            tasks: config
                .tasks(dir.path())
                .into_iter()
                .map(|(task, _)| task)
                .collect(),
            ..tasks
        }),
        None,
    );
    let port = support::free_port();
    let mut console = runner::exporter::attach_or_warn(exporter_at(port), runner, None).await;
    for task in ["ok", "broken"] {
        console
            .requests
            .send(Request::StartTask {
                task_id: task.into(),
                params: Default::default(),
                confirmed: opsdeck::core::tasks::Confirmed::No,
            })
            .unwrap();
        next(&mut console, |event| match event {
            Event::TaskFinished(run) if run.task_id == task => Some(()),
            _ => None,
        })
        .await;
    }
    let body = scrape(port).await;
    let line = body
        .lines()
        .find(|line| line.starts_with("opsdeck_task_last_success_timestamp_seconds{task=\"ok\"} "))
        .unwrap_or_else(|| panic!("no last success of `ok`:\n{body}"));
    let at: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - 60.0..=now + 1.0).contains(&at), "{line} at {now}");
    assert!(!body.contains("task=\"broken\""), "{body}");
    console.requests.send(Request::Shutdown).unwrap();
}

/// On a shared store the headless exporter beats as an exporter, so a dead-man rule on
/// `heartbeat.exporter_age` can tell a host whose exporter stopped.
#[tokio::test(flavor = "multi_thread")]
async fn the_headless_exporter_beats_as_an_exporter_on_a_shared_store() {
    let (server, store) = support::postgres_store().await;
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let config = configure(
        dir.path(),
        &format!(
            "[exporter]\nlisten = \"127.0.0.1:{port}\"\n\n[store]\nurl = \"{}\"\n",
            server.url_for("opsdeck")
        ),
    );
    let mut headless = Headless::start(dir.path(), &config);
    let deadline = Instant::now() + WITHIN;
    let beat = loop {
        let beats = store.last_beats().await.unwrap();
        if let Some(beat) = beats.into_iter().find(|beat| beat.kind == Kind::Exporter) {
            break beat;
        }
        assert!(
            Instant::now() < deadline,
            "no exporter heartbeat; stderr:\n{}",
            headless.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let host = hostname::get().unwrap().to_string_lossy().into_owned();
    assert_eq!(beat.host, host);
    assert!(
        store
            .last_beats()
            .await
            .unwrap()
            .iter()
            .all(|beat| beat.kind != Kind::Console),
        "the exporter is not a console"
    );
    assert_eq!(headless.terminate(), Some(0), "{}", headless.stderr());
}

/// The fleet's hosts read opsdeck's exporters: host `alpha` runs one beside its node_exporter
/// (another job, another port, the same host part), host `beta` does not. `opsdeck hosts
/// --format json` gives alpha its backup set's age, its overdue checklists and its open alerts,
/// and beta none of them (null, not 0); the text table says `-` for beta.
#[test]
fn the_hosts_table_shows_the_backups_of_hosts_running_opsdecks_exporter() {
    let port = support::free_port();
    let target = format!("127.0.0.1:{port}");
    let fleet = Fleet::start_named(&["alpha", "beta"], &[("opsdeck", &target, "alpha:9464")]);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    std::fs::write(backups.join("db.bak"), vec![7u8; 4096]).unwrap();
    let config = configure(
        dir.path(),
        &format!(
            "[exporter]\nlisten = \"{target}\"\n\n[[backup]]\nname = \"db\"\ndirectory = \"{}\"\npatterns = [\"*.bak\"]\nkind = \"other\"\n",
            backups.display()
        ),
    );
    let mut headless = Headless::start(dir.path(), &config);
    metrics_with(
        port,
        &["opsdeck_backup_age_seconds{set=\"db\"} "],
        &headless,
    );

    let console = tempfile::tempdir().unwrap();
    let hosts_config = configure(
        console.path(),
        &format!(
            "[[prometheus]]\nurl = \"{}\"\njob = \"node\"\ninterval = \"1s\"\ntimeout = \"2s\"\n",
            fleet.url()
        ),
    );
    let deadline = Instant::now() + WITHIN;
    let (alpha, beta) = loop {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(&hosts_config)
            .args(["hosts", "--format", "json"]);
        support::run::sandboxed(&mut command, console.path(), "oncall");
        let run = support::run::Run::from(command.output().unwrap());
        let report: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.text()));
        let host = |instance: &str| {
            report["sources"][0]["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|host| host["instance"] == instance)
                .cloned()
                .unwrap_or_else(|| panic!("no {instance}:\n{report:#}"))
        };
        let (alpha, beta) = (host("alpha:9100"), host("beta:9100"));
        if alpha["backup_age_seconds"].is_number() {
            break (alpha, beta);
        }
        assert!(
            Instant::now() < deadline,
            "alpha never had a backup age:\n{report:#}\nstderr:\n{}",
            headless.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let age = alpha["backup_age_seconds"].as_f64().unwrap();
    assert!(
        (0.0..120.0).contains(&age),
        "a file just written: {alpha:#}"
    );
    // Whatever the default rules opened on this busy machine, and the default checklists'
    // state at this time of day: counts, where beta has nothing.
    for figure in ["alerts_open", "checklists_overdue"] {
        assert!(
            alpha[figure].as_f64().is_some_and(|count| count >= 0.0),
            "{figure} of {alpha:#}"
        );
    }
    for figure in ["backup_age_seconds", "checklists_overdue", "alerts_open"] {
        assert!(beta[figure].is_null(), "{figure} of {beta:#}");
    }
    let mut command = Command::new(BIN);
    command.arg("--config").arg(&hosts_config).arg("hosts");
    support::run::sandboxed(&mut command, console.path(), "oncall");
    let text = support::run::Run::from(command.output().unwrap());
    let row = |host: &str| {
        text.stdout
            .lines()
            .find(|line| line.contains(host))
            .unwrap_or_else(|| panic!("no row for {host}:\n{}", text.text()))
            .split_whitespace()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
    };
    assert!(
        text.stdout.contains("BACKUP OVERDUE ALERTS"),
        "{}",
        text.text()
    );
    assert_eq!(row("beta:9100"), ["-", "-", "-"], "{}", text.text());
    assert!(
        row("alpha:9100")[2].ends_with(['s', 'm']),
        "an age: {}",
        text.text()
    );
    assert_eq!(headless.terminate(), Some(0), "{}", headless.stderr());
}
