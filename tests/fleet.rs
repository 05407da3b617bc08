//! The fleet against a real Prometheus scraping three real node_exporters (tests/support/
//! prometheus.rs): the hosts table lists the three hosts with their figures; a stopped exporter
//! makes its host critical within one scrape plus one refresh and the alert resolves once it is
//! back; a `[[rule]] promql` opens an alert per series; a PromQL syntax error is reported by
//! `opsdeck config check` at the rule's line with Prometheus' own text; Prometheus down or mute
//! is a clear error within the timeout, never a hang; `opsdeck hosts --format json` exits 0, 2
//! and 3 by the rules; and the host view's range queries give every figure's history.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use opsdeck::config::default_rules;
use opsdeck::core::checks::{Operator, Rule};
use opsdeck::core::fleet::{FleetSpec, HOST_UP, PromqlRule};
use opsdeck::core::model::Status;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerHandle, RunnerSettings};
use opsdeck::core::sources::prometheus::{Auth, PrometheusSpec};
use serde_json::Value;
use support::prometheus::Fleet;
use support::run::Run;
use support::runner::next;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");

fn spec(url: &str, rules: Vec<PromqlRule>) -> FleetSpec {
    FleetSpec {
        name: "prometheus".into(),
        server: PrometheusSpec {
            url: url.into(),
            auth: Auth::None,
            timeout: Duration::from_secs(2),
        },
        jobs: vec!["node".into()],
        interval: Duration::from_secs(1),
        rules,
    }
}

fn fleet_runner(fleet: FleetSpec, rules: Vec<Rule>) -> RunnerHandle {
    runner::spawn(
        RunnerSettings {
            rules,
            fleet: vec![fleet],
            ..RunnerSettings::tasks_only(support::runner::no_tasks())
        },
        None,
    )
}

async fn start_fleet(hosts: usize) -> Fleet {
    tokio::task::spawn_blocking(move || Fleet::start(hosts))
        .await
        .unwrap()
}

/// A config file for the CLI in `dir`, pointing at `url`, with `extra` appended.
fn configure(dir: &Path, url: &str, extra: &str) -> PathBuf {
    for sub in ["home", "config", "data", "state"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let path = dir.join("opsdeck.toml");
    std::fs::write(
        &path,
        format!("[[prometheus]]\nurl = \"{url}\"\njob = \"node\"\ninterval = \"1s\"\ntimeout = \"1s\"\n{extra}"),
    )
    .unwrap();
    path
}

fn opsdeck(dir: &Path, config: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(BIN);
    command.arg("--config").arg(config).args(args);
    support::run::sandboxed(&mut command, dir, "oncall");
    Run::from(command.output().unwrap())
}

/// Rules that only judge whether hosts are up, so a busy test machine's CPU or memory cannot
/// change an exit code.
const ONLY_UP: &str = "[[rule]]\nmetric = \"host.cpu_used_pct\"\nenabled = false\nwarn = 1\n\
[[rule]]\nmetric = \"host.mem_used_pct\"\nenabled = false\nwarn = 1\n\
[[rule]]\nmetric = \"host.disk_used_pct\"\nenabled = false\nwarn = 1\n";

fn hosts_json(dir: &Path, config: &Path) -> (Option<i32>, Value, Duration) {
    let started = Instant::now();
    let run = opsdeck(dir, config, &["hosts", "--format", "json"]);
    let took = started.elapsed();
    let value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.text()));
    (run.code, value, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_table_lists_every_host_with_its_figures() {
    let fleet = start_fleet(3).await;
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), &fleet.url(), ONLY_UP);
    let (code, report, _) = hosts_json(dir.path(), &config);
    assert_eq!(code, Some(0), "{report:#}");
    let hosts = report["sources"][0]["hosts"].as_array().unwrap();
    let mut instances: Vec<&str> = hosts
        .iter()
        .map(|host| host["instance"].as_str().unwrap())
        .collect();
    instances.sort_unstable();
    let mut expected: Vec<String> = (0..3).map(|index| fleet.instance(index)).collect();
    expected.sort();
    assert_eq!(instances, expected);
    for host in hosts {
        assert_eq!(host["up"], true, "{host:#}");
        for figure in ["cpu_used_pct", "mem_used_pct"] {
            let value = host[figure].as_f64().unwrap_or(-1.0);
            assert!((0.0..=100.0).contains(&value), "{figure} of {host:#}");
        }
        assert!(
            host["load1"].as_f64().is_some_and(|load| load >= 0.0),
            "{host:#}"
        );
        assert!(host["net_rx_bytes_per_s"].as_f64().is_some(), "{host:#}");
        let age = host["scrape_age_seconds"].as_f64().unwrap();
        assert!((0.0..5.0).contains(&age), "a 1 s scrape is fresh: {host:#}");
    }
    // The text table says the same, one row per host.
    let text = opsdeck(dir.path(), &config, &["hosts"]).ok();
    for instance in &expected {
        let row = text
            .stdout
            .lines()
            .find(|line| line.contains(instance.as_str()))
            .unwrap_or_else(|| panic!("no row for {instance}:\n{}", text.stdout));
        assert!(row.contains(" up ") && row.contains('%'), "{row}");
    }
    assert!(text.stdout.contains("3 hosts, 0 down"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_exporter_makes_its_host_critical_and_back() {
    let mut fleet = start_fleet(3).await;
    let mut runner = fleet_runner(spec(&fleet.url(), Vec::new()), default_rules());
    let down = fleet.instance(1);
    next(&mut runner, |event| match event {
        Event::Fleet { snapshot, .. } => {
            (snapshot.hosts.len() == 3 && snapshot.hosts.iter().all(|host| host.up)).then_some(())
        }
        _ => None,
    })
    .await;
    let stopped = Instant::now();
    fleet.stop_exporter(1);
    let alert = next(&mut runner, |event| match event {
        Event::AlertChanged(alert)
            if alert.metric == HOST_UP && alert.instance.as_deref() == Some(down.as_str()) =>
        {
            Some(alert)
        }
        _ => None,
    })
    .await;
    let took = stopped.elapsed();
    assert_eq!(alert.level, Status::Crit);
    assert!(alert.is_open());
    // One scrape (1 s) plus one refresh (1 s), with room for a loaded machine.
    assert!(
        took < Duration::from_secs(5),
        "critical {took:?} after the exporter stopped"
    );
    eprintln!("host critical {took:?} after its exporter stopped");
    tokio::task::block_in_place(|| fleet.start_exporter(1));
    let resolved = next(&mut runner, |event| match event {
        Event::AlertChanged(alert)
            if alert.metric == HOST_UP && alert.instance.as_deref() == Some(down.as_str()) =>
        {
            Some(alert)
        }
        _ => None,
    })
    .await;
    assert!(!resolved.is_open(), "{resolved:?}");
    runner.requests.send(Request::Shutdown).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promql_rule_opens_an_alert_per_series() {
    let fleet = start_fleet(3).await;
    let metric: &'static str = "promql.exporter_alive";
    let rules = vec![PromqlRule {
        metric,
        expr: "sum by (instance) (up{job=\"node\"})".into(),
    }];
    let mut judged = default_rules();
    judged.push(Rule {
        metric: metric.into(),
        instance: None,
        operator: Operator::AtLeast,
        warn: Some(1.0),
        crit: None,
        hold_for: Duration::ZERO,
    });
    let mut runner = fleet_runner(spec(&fleet.url(), rules), judged);
    let mut opened = Vec::new();
    while opened.len() < 3 {
        let alert = next(&mut runner, |event| match event {
            Event::AlertChanged(alert) if alert.metric == metric => Some(alert),
            _ => None,
        })
        .await;
        assert_eq!(alert.level, Status::Warn);
        opened.push(alert.instance.unwrap());
    }
    opened.sort();
    let mut expected: Vec<String> = (0..3).map(|index| fleet.instance(index)).collect();
    expected.sort();
    assert_eq!(
        opened, expected,
        "one alert per series, named by its instance"
    );
    runner.requests.send(Request::Shutdown).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promql_syntax_error_is_reported_at_its_rule_with_prometheus_text() {
    let fleet = start_fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = configure(
        dir.path(),
        &fleet.url(),
        "\n[[rule]]\nname = \"fine\"\npromql = \"up\"\nwarn = 1\n\n[[rule]]\nname = \"broken\"\npromql = \"rate(up[1m]\"\nwarn = 1\n",
    );
    let run = opsdeck(dir.path(), &config, &["config", "check"]);
    assert_ne!(run.code, Some(0), "{}", run.text());
    let at = format!("{}:12:1:", config.display());
    assert!(
        run.stderr.contains(&at),
        "names the file and line:\n{}",
        run.text()
    );
    assert!(run.stderr.contains("broken"), "{}", run.text());
    assert!(
        run.stderr.contains("parse error"),
        "Prometheus' own text:\n{}",
        run.text()
    );
    // The console and `opsdeck hosts` show the same error where the rule's result would be.
    let shown = opsdeck(dir.path(), &config, &["hosts"]);
    assert_eq!(shown.code, Some(3), "{}", shown.text());
    assert!(
        shown.stdout.contains("promql.broken") && shown.stdout.contains("parse error"),
        "{}",
        shown.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_down_or_mute_is_a_clear_error_without_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on a port just freed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = configure(dir.path(), &format!("http://127.0.0.1:{closed}"), "");
    let started = Instant::now();
    let run = opsdeck(dir.path(), &config, &["hosts"]);
    assert_eq!(run.code, Some(3), "{}", run.text());
    assert!(run.stdout.contains("cannot connect"), "{}", run.text());
    assert!(started.elapsed() < Duration::from_secs(10));
    // A server that accepts and never answers: the 1 s timeout, said as such.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mute.local_addr().unwrap().port();
    let config = configure(dir.path(), &format!("http://127.0.0.1:{port}"), "");
    let started = Instant::now();
    let run = opsdeck(dir.path(), &config, &["hosts", "--format", "json"]);
    let took = started.elapsed();
    assert_eq!(run.code, Some(3), "{}", run.text());
    assert!(
        run.stdout.contains("no answer within 1 s"),
        "{}",
        run.text()
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    drop(mute);
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_json_exits_by_the_rules() {
    let mut fleet = start_fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = configure(dir.path(), &fleet.url(), ONLY_UP);
    let (code, report, _) = hosts_json(dir.path(), &config);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["status"], "ok");
    tokio::task::block_in_place(|| fleet.stop_exporter(0));
    let down = fleet.instance(0);
    // Prometheus notices at its next scrape (1 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, report, _) = hosts_json(dir.path(), &config);
        if code == Some(2) {
            assert_eq!(report["status"], "crit");
            assert_eq!(report["hosts"][0]["instance"], down.as_str(), "worst first");
            assert_eq!(report["hosts"][0]["status"], "crit");
            break;
        }
        assert_eq!(code, Some(0), "{report:#}");
        assert!(Instant::now() < deadline, "the host never went down");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::task::block_in_place(|| fleet.stop_prometheus());
    let (code, report, took) = hosts_json(dir.path(), &config);
    assert_eq!(code, Some(3), "{report:#}");
    assert_eq!(report["status"], "unknown");
    assert!(
        report["sources"][0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("cannot connect")),
        "{report:#}"
    );
    assert!(took < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_view_reads_each_figures_history() {
    let fleet = start_fleet(1).await;
    let mut runner = fleet_runner(spec(&fleet.url(), Vec::new()), default_rules());
    runner
        .requests
        .send(Request::LoadHostHistory {
            source: "prometheus".into(),
            instance: fleet.instance(0),
        })
        .unwrap();
    let history = next(&mut runner, |event| match event {
        Event::HostHistory(history) => Some(history),
        _ => None,
    })
    .await;
    assert_eq!(history.error, None);
    let names: Vec<&str> = history.series.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(
        names,
        ["CPU", "memory", "disk", "load", "net in", "net out"]
    );
    for (name, _, values) in &history.series {
        if *name != "disk" {
            assert!(!values.is_empty(), "{name} has points");
        }
    }
    runner.requests.send(Request::Shutdown).unwrap();
}
