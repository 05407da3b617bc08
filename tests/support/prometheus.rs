//! A throwaway fleet: node_exporter processes on free loopback ports (one per "host") and a
//! Prometheus scraping them every second, from Debian's `prometheus` and
//! `prometheus-node-exporter` binaries, in a private temporary directory. Exporters can be
//! stopped and started again on the same port (a host going down and coming back), Prometheus
//! too. Everything is stopped on drop, during a panic unwind included.
//!
//! [`Fleet::start_with`] adds scrape jobs of other targets (opsdeck's own exporter);
//! [`Fleet::start_named`] also gives every target the `instance` label a real fleet would have
//! (`alpha:9100`, `alpha:9464`), since on loopback every target's host part is `127.0.0.1`.
//!
//! [`Fleet::many`] makes a large fleet for the benchmark: `targets` scrape targets spread over
//! a few exporters, each with its own `instance` label (relabelled from a file_sd label), which
//! Prometheus keeps as distinct series just as it would for distinct hosts.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{free_port, log_tail, open_log, stop_child};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

struct Exporter {
    port: u16,
    child: Option<Child>,
}

pub struct Fleet {
    prometheus_port: u16,
    prometheus: Option<Child>,
    exporters: Vec<Exporter>,
    /// Each host's `instance` label, when [`Fleet::start_named`] set them.
    names: Vec<String>,
    dir: PathBuf,
    scrape_interval: &'static str,
    // Declared last so it is removed after the processes have been stopped.
    tmp: tempfile::TempDir,
}

impl Fleet {
    /// `hosts` node_exporters and a Prometheus scraping them every second, every target up and
    /// scraped twice (so rates have two points) before it returns.
    pub fn start(hosts: usize) -> Fleet {
        Fleet::start_with(hosts, &[])
    }

    /// [`Fleet::start`], Prometheus also scraping each (job name, target address) of `jobs`
    /// every second (opsdeck's own exporter, say); it does not wait for those.
    pub fn start_with(hosts: usize, jobs: &[(&str, &str)]) -> Fleet {
        let mut fleet = Fleet::new(hosts, "1s");
        let targets: Vec<String> = (0..hosts).map(|index| fleet.instance(index)).collect();
        let quoted: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let mut config = format!(
            "  - job_name: node\n    static_configs:\n      - targets: [{}]\n",
            quoted.join(", ")
        );
        for (job, target) in jobs {
            let _ = write!(
                config,
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            );
        }
        fleet.write_config(&config);
        fleet.start_prometheus();
        fleet.wait_for_rates(hosts);
        fleet
    }

    /// [`Fleet::start_with`], node_exporter `index` labelled `instance="{names[index]}:9100"`,
    /// and each extra (job, target address, instance label) labelled as given.
    pub fn start_named(names: &[&str], jobs: &[(&str, &str, &str)]) -> Fleet {
        let mut fleet = Fleet::new(names.len(), "1s");
        let mut config = String::from("  - job_name: node\n    static_configs:\n");
        for (index, name) in names.iter().enumerate() {
            let _ = write!(
                config,
                "      - targets: ['{}']\n        labels: {{instance: '{name}:9100'}}\n",
                fleet.instance(index)
            );
        }
        for (job, target, instance) in jobs {
            let _ = write!(
                config,
                "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n        labels: {{instance: '{instance}'}}\n"
            );
        }
        fleet.names = names.iter().map(|name| format!("{name}:9100")).collect();
        fleet.write_config(&config);
        fleet.start_prometheus();
        fleet.wait_for_rates(names.len());
        fleet
    }

    /// `targets` scrape targets over `exporters` node_exporters, every 15 s, with instance
    /// labels `host-0001`…; returns once every target was scraped twice.
    pub fn many(targets: usize, exporters: usize) -> Fleet {
        let mut fleet = Fleet::new(exporters, "15s");
        let mut sd = String::from("[\n");
        for index in 0..targets {
            let address = fleet.instance(index % exporters);
            let _ = write!(
                sd,
                "{}  {{\"targets\": [\"{address}\"], \"labels\": {{\"host\": \"host-{:04}\"}}}}",
                if index == 0 { "" } else { ",\n" },
                index + 1
            );
        }
        sd.push_str("\n]\n");
        let file = fleet.dir.join("targets.json");
        fs::write(&file, sd).unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        fleet.write_config(&format!(
            "  - job_name: node\n    file_sd_configs:\n      - files: ['{}']\n    relabel_configs:\n      - source_labels: [host]\n        target_label: instance\n",
            file.display()
        ));
        fleet.start_prometheus();
        fleet.wait_for_rates(targets);
        fleet
    }

    fn new(hosts: usize, scrape_interval: &'static str) -> Fleet {
        for binary in [PROMETHEUS, NODE_EXPORTER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: apt-get install prometheus prometheus-node-exporter (.ci/run does)"
            );
        }
        let tmp = tempfile::Builder::new()
            .prefix("opsdeck-prometheus-")
            .tempdir()
            .unwrap_or_else(|e| panic!("Fleet: cannot create a temp dir: {e}"));
        let mut fleet = Fleet {
            prometheus_port: free_port(),
            prometheus: None,
            exporters: Vec::new(),
            names: Vec::new(),
            dir: tmp.path().to_path_buf(),
            scrape_interval,
            tmp,
        };
        for _ in 0..hosts {
            fleet.exporters.push(Exporter {
                port: free_port(),
                child: None,
            });
        }
        for index in 0..hosts {
            fleet.start_exporter(index);
        }
        fleet
    }

    fn write_config(&self, jobs: &str) {
        let config = format!(
            "global:\n  scrape_interval: {0}\n  scrape_timeout: {0}\n  evaluation_interval: {0}\nscrape_configs:\n{jobs}",
            self.scrape_interval
        );
        let path = self.dir.join("prometheus.yml");
        fs::write(&path, config).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Prometheus' base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.prometheus_port)
    }

    pub fn prometheus_port(&self) -> u16 {
        self.prometheus_port
    }

    /// The `instance` label of host `index`: its name from [`Fleet::start_named`], or else its
    /// exporter's address.
    pub fn instance(&self, index: usize) -> String {
        self.names
            .get(index)
            .cloned()
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.exporters[index].port))
    }

    /// Starts host `index`'s node_exporter (again, on its port) and waits until it serves.
    pub fn start_exporter(&mut self, index: usize) {
        let port = self.exporters[index].port;
        let log = self.dir.join(format!("exporter-{index}.log"));
        let child = Command::new(NODE_EXPORTER)
            .args([
                &format!("--web.listen-address=127.0.0.1:{port}"),
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
                "--collector.filesystem",
                "--collector.loadavg",
                "--collector.netdev",
            ])
            .stdin(Stdio::null())
            .stdout(open_log(&log))
            .stderr(open_log(&log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {NODE_EXPORTER}: {e}"));
        self.exporters[index].child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while http_get(port, "/metrics").is_none_or(|(status, _)| status != 200) {
            assert!(
                Instant::now() < deadline,
                "node_exporter on {port} did not serve within {READY_TIMEOUT:?}:\n{}",
                log_tail(&log)
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops host `index`'s node_exporter: the host goes down at Prometheus' next scrape.
    pub fn stop_exporter(&mut self, index: usize) {
        if let Some(child) = self.exporters[index].child.take() {
            stop_child(child, "TERM");
        }
    }

    fn start_prometheus(&mut self) {
        let log = self.dir.join("prometheus.log");
        let child = Command::new(PROMETHEUS)
            .args([
                &format!(
                    "--config.file={}",
                    self.dir.join("prometheus.yml").display()
                ),
                &format!("--storage.tsdb.path={}", self.dir.join("data").display()),
                &format!("--web.listen-address=127.0.0.1:{}", self.prometheus_port),
                "--log.level=warn",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(open_log(&log))
            .stderr(open_log(&log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PROMETHEUS}: {e}"));
        self.prometheus = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while http_get(self.prometheus_port, "/-/ready").is_none_or(|(status, _)| status != 200) {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not become ready within {READY_TIMEOUT:?}:\n{}",
                log_tail(&log)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops Prometheus (its port then refuses connections).
    pub fn stop_prometheus(&mut self) {
        if let Some(child) = self.prometheus.take() {
            stop_child(child, "TERM");
        }
    }

    /// Waits until `targets` targets are up with a CPU rate each (two scrapes).
    fn wait_for_rates(&self, targets: usize) {
        let query = "count(rate(node_cpu_seconds_total{mode=\"idle\",cpu=\"0\"}[1m]))";
        let deadline = Instant::now() + READY_TIMEOUT * 2;
        loop {
            let answered = self.query(query);
            if answered
                .as_deref()
                .is_some_and(|body| body.contains(&format!("\"{targets}\"")))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not scrape {targets} targets twice in time; last answer {answered:?}:\n{}",
                log_tail(&self.dir.join("prometheus.log"))
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// An instant query's raw JSON answer.
    pub fn query(&self, promql: &str) -> Option<String> {
        let path = format!("/api/v1/query?query={}", percent_encode(promql));
        http_get(self.prometheus_port, &path).map(|(_, body)| body)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop_prometheus();
        for index in 0..self.exporters.len() {
            self.stop_exporter(index);
        }
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// A plain HTTP/1.0 GET on 127.0.0.1: (status, body), `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())?;
    Some((status, body))
}
