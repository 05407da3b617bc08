//! The fleet: many hosts' figures read from Prometheus (node_exporter on every host). One
//! refresh is a handful of instant queries over every target of the configured jobs at once
//! (never one query per host), so 500 hosts cost one round of eight small answers; the result
//! is a [`FleetSnapshot`] whose metrics have instance = host, judged by the one judge like any
//! other sample. `[[rule]] promql` expressions are evaluated in the same round, each result
//! series becoming an instance of the rule's metric. [`history`] reads one host's recent
//! figures with range queries, for the host view.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::collectors::{Collector, Sample};
use crate::core::model::{Metric, Unit};
use crate::core::sources::prometheus::{Answer, PromError, Prometheus, PrometheusSpec, Series};

pub const HOST_UP: &str = "host.up";
pub const HOST_CPU: &str = "host.cpu_used_pct";
pub const HOST_MEM: &str = "host.mem_used_pct";
pub const HOST_DISK: &str = "host.disk_used_pct";
pub const HOST_LOAD: &str = "host.load1";
pub const HOST_RX: &str = "host.net_rx_bytes_per_s";
pub const HOST_TX: &str = "host.net_tx_bytes_per_s";
pub const HOST_SCRAPE_AGE: &str = "host.scrape_age_seconds";
/// From opsdeck's own exporter on the host: the age of its oldest set's newest good backup.
pub const HOST_BACKUP_AGE: &str = "host.backup_age_seconds";
/// From opsdeck's own exporter on the host: its checklists past their grace time.
pub const HOST_CHECKLISTS_OVERDUE: &str = "host.checklists_overdue";
/// From opsdeck's own exporter on the host: its open alerts, every level.
pub const HOST_ALERTS_OPEN: &str = "host.alerts_open";
/// 1 while the Prometheus server answers, 0 when it cannot be read (instance = its name).
pub const PROMETHEUS_UP: &str = "prometheus.up";

/// The metrics rules can name for the fleet.
pub const FLEET_METRICS: &[&str] = &[
    HOST_UP,
    HOST_CPU,
    HOST_MEM,
    HOST_DISK,
    HOST_LOAD,
    HOST_RX,
    HOST_TX,
    HOST_SCRAPE_AGE,
    HOST_BACKUP_AGE,
    HOST_CHECKLISTS_OVERDUE,
    HOST_ALERTS_OPEN,
    PROMETHEUS_UP,
];

/// The window of the rates (CPU, network): four scrapes at Prometheus' default 15 s.
const RATE_WINDOW: &str = "1m";

/// A `[[rule]] promql = "…"`: the expression and the metric its series are judged as.
#[derive(Debug, Clone, PartialEq)]
pub struct PromqlRule {
    /// `promql.NAME`, the rule's metric.
    pub metric: &'static str,
    pub expr: String,
}

/// One `[[prometheus]]` source.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSpec {
    pub name: String,
    pub server: PrometheusSpec,
    pub jobs: Vec<String>,
    pub interval: Duration,
    pub rules: Vec<PromqlRule>,
}

/// One target of the jobs, as the last refresh saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRow {
    /// The `instance` label: the host.
    pub instance: String,
    pub job: String,
    /// Every label of its `up` series (shown escaped: labels are anyone's text).
    pub labels: BTreeMap<String, String>,
    pub up: bool,
    pub cpu_used_pct: Option<f64>,
    pub mem_used_pct: Option<f64>,
    /// The fullest filesystem.
    pub disk_used_pct: Option<f64>,
    pub load1: Option<f64>,
    pub net_rx_bytes_per_s: Option<f64>,
    pub net_tx_bytes_per_s: Option<f64>,
    /// Seconds since its last scrape.
    pub scrape_age_seconds: Option<f64>,
    /// The oldest of its backup sets' newest good backups, in seconds; this and the next two
    /// come from opsdeck's own exporter on the same host, `None` without one (or without sets,
    /// or checklists).
    pub backup_age_seconds: Option<f64>,
    pub checklists_overdue: Option<f64>,
    pub alerts_open: Option<f64>,
}

impl HostRow {
    fn metrics(&self, into: &mut Vec<Metric>) {
        let host = self.instance.as_str();
        into.push(Metric::of(
            HOST_UP,
            host,
            if self.up { 1.0 } else { 0.0 },
            Unit::Count,
        ));
        let figures = [
            (HOST_CPU, self.cpu_used_pct, Unit::Percent),
            (HOST_MEM, self.mem_used_pct, Unit::Percent),
            (HOST_DISK, self.disk_used_pct, Unit::Percent),
            (HOST_LOAD, self.load1, Unit::Load),
            (HOST_RX, self.net_rx_bytes_per_s, Unit::BytesPerSecond),
            (HOST_TX, self.net_tx_bytes_per_s, Unit::BytesPerSecond),
            (HOST_SCRAPE_AGE, self.scrape_age_seconds, Unit::Seconds),
            (HOST_BACKUP_AGE, self.backup_age_seconds, Unit::Seconds),
            (
                HOST_CHECKLISTS_OVERDUE,
                self.checklists_overdue,
                Unit::Count,
            ),
            (HOST_ALERTS_OPEN, self.alerts_open, Unit::Count),
        ];
        for (name, value, unit) in figures {
            if let Some(value) = value.filter(|value| value.is_finite()) {
                into.push(Metric::of(name, host, value, unit));
            }
        }
    }
}

/// What one `[[rule]] promql` gave this round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    pub metric: &'static str,
    pub expr: String,
    /// Each series as (instance, value): its labels, or `None` without labels.
    pub series: Vec<(Option<String>, f64)>,
    /// Prometheus' error for the expression (a syntax error is shown where the rule is).
    pub error: Option<String>,
}

/// One refresh of a `[[prometheus]]` source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetSnapshot {
    pub source: String,
    /// Its URL, password masked.
    pub url: String,
    pub taken_at: DateTime<Utc>,
    /// Worst first is the pane's business; here in instance order.
    pub hosts: Vec<HostRow>,
    /// The server could not be read at all: the whole reason.
    pub error: Option<String>,
    /// Some figures are missing (a query failed, or Prometheus warned of partial data).
    pub warnings: Vec<String>,
    pub rules: Vec<RuleResult>,
    /// Wall time of the refresh, in milliseconds.
    pub collect_ms: f64,
    /// Bytes of Prometheus' answers on the wire.
    pub response_bytes: u64,
}

impl Sample for FleetSnapshot {
    fn metrics(&self) -> Vec<Metric> {
        let mut metrics = vec![Metric::of(
            PROMETHEUS_UP,
            &self.source,
            if self.error.is_none() { 1.0 } else { 0.0 },
            Unit::Count,
        )];
        // Hosts are judged only from a fresh answer: an unreachable server says nothing of them.
        for host in &self.hosts {
            host.metrics(&mut metrics);
        }
        for rule in &self.rules {
            for (instance, value) in &rule.series {
                if value.is_finite() {
                    metrics.push(Metric {
                        name: rule.metric,
                        instance: instance.clone(),
                        value: *value,
                        unit: Unit::Count,
                    });
                }
            }
        }
        metrics
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// Each host's level: the worst verdict on its metrics (instance = host).
pub fn host_levels(
    evaluations: &[crate::core::checks::Evaluation],
) -> HashMap<String, crate::core::model::Status> {
    crate::core::checks::levels_by_instance(evaluations, "host.")
}

/// Indexes of `hosts` worst first: down, then by level, then the busiest CPU, then by name.
pub fn worst_first(
    hosts: &[HostRow],
    levels: &HashMap<String, crate::core::model::Status>,
) -> Vec<usize> {
    let level = |host: &HostRow| {
        levels
            .get(&host.instance)
            .copied()
            .unwrap_or(crate::core::model::Status::Ok)
    };
    let mut order: Vec<usize> = (0..hosts.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&hosts[a], &hosts[b]);
        a.up.cmp(&b.up)
            .then(level(b).cmp(&level(a)))
            .then(
                b.cpu_used_pct
                    .unwrap_or(-1.0)
                    .total_cmp(&a.cpu_used_pct.unwrap_or(-1.0)),
            )
            .then(a.instance.cmp(&b.instance))
    });
    order
}

/// `job=~"node|edge"`, each job matched literally.
fn job_matcher(jobs: &[String]) -> String {
    let alternatives: Vec<String> = jobs
        .iter()
        .map(|job| {
            job.chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' || ch == ':' {
                        ch.to_string()
                    } else if ch == '"' {
                        "\\\"".to_owned()
                    } else {
                        // A regex escape inside a PromQL string: the backslash is doubled.
                        format!("\\\\{ch}")
                    }
                })
                .collect()
        })
        .collect();
    format!("job=~\"{}\"", alternatives.join("|"))
}

/// What each host query fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    Up,
    Age,
    Cpu,
    Mem,
    Disk,
    Load,
    Rx,
    Tx,
    /// opsdeck's own exporters: three figures in one answer, told apart by a `figure` label.
    Opsdeck,
}

/// The host part of an `instance` (`web-1:9100` → `web-1`, `[::1]:9464` → `[::1]`, `web-1` as
/// it is): node_exporter and opsdeck's exporter on one host are two targets with two ports, so
/// this is what joins them. [`HOST_PART`] is the same cut in PromQL.
pub fn host_part(instance: &str) -> &str {
    match instance.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => instance,
    }
}

/// [`host_part`] as a `label_replace` regex (anchored by Prometheus; `.+?` leaves the port out).
const HOST_PART: &str = "(.+?)(:[0-9]+)?";

/// The figures read from opsdeck's exporters: (the `figure` label, aggregation, metric). Each
/// is aggregated by host in Prometheus, so the answer is at most three short series per host
/// whatever the number of backup sets, checklists or alert levels.
const OPSDECK_FIGURES: [(&str, &str, &str); 3] = [
    ("backup_age", "max", "opsdeck_backup_age_seconds"),
    ("checklists_overdue", "sum", "opsdeck_checklist_overdue"),
    ("alerts_open", "sum", "opsdeck_alerts_open"),
];

/// One query for every opsdeck exporter Prometheus scrapes, whatever its job: the metric names
/// are opsdeck's own, and the join to the node targets is by host part, not by job.
fn opsdeck_query() -> String {
    OPSDECK_FIGURES
        .iter()
        .map(|(figure, aggregation, metric)| {
            format!(
                "label_replace({aggregation} by (host) (label_replace({metric}, \"host\", \"$1\", \"instance\", \"{HOST_PART}\")), \"figure\", \"{figure}\", \"\", \"\")"
            )
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The round's instant queries, each over every host of the jobs at once; all but `up` keep the
/// instance label alone, which keeps 500 hosts' answers small.
fn host_queries(jobs: &[String]) -> Vec<(Figure, String)> {
    let j = job_matcher(jobs);
    let fs = "fstype!~\"tmpfs|ramfs\"";
    vec![
        (Figure::Up, format!("up{{{j}}}")),
        (
            Figure::Age,
            format!("time() - max by (instance) (timestamp(up{{{j}}}))"),
        ),
        (
            Figure::Cpu,
            format!(
                "100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{{j},mode=\"idle\"}}[{RATE_WINDOW}])))"
            ),
        ),
        (
            Figure::Mem,
            format!(
                "max by (instance) (100 * (1 - node_memory_MemAvailable_bytes{{{j}}} / node_memory_MemTotal_bytes{{{j}}}))"
            ),
        ),
        (
            Figure::Disk,
            format!(
                "max by (instance) (100 * (1 - node_filesystem_avail_bytes{{{j},{fs}}} / node_filesystem_size_bytes{{{j},{fs}}}))"
            ),
        ),
        (
            Figure::Load,
            format!("max by (instance) (node_load1{{{j}}})"),
        ),
        (
            Figure::Rx,
            format!(
                "sum by (instance) (rate(node_network_receive_bytes_total{{{j},device!=\"lo\"}}[{RATE_WINDOW}]))"
            ),
        ),
        (
            Figure::Tx,
            format!(
                "sum by (instance) (rate(node_network_transmit_bytes_total{{{j},device!=\"lo\"}}[{RATE_WINDOW}]))"
            ),
        ),
        (Figure::Opsdeck, opsdeck_query()),
    ]
}

/// A series' labels as a rule instance: the bare `instance` when that is its only label,
/// `k="v", …` otherwise, `None` without labels.
pub fn series_instance(labels: &BTreeMap<String, String>) -> Option<String> {
    let shown: Vec<(&String, &String)> = labels
        .iter()
        .filter(|(key, _)| key.as_str() != "__name__")
        .collect();
    match shown.as_slice() {
        [] => None,
        [(key, value)] if key.as_str() == "instance" => Some((*value).clone()),
        pairs => Some(
            pairs
                .iter()
                .map(|(key, value)| format!("{key}=\"{value}\""))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

/// Samples one `[[prometheus]]` source.
pub struct FleetCollector {
    spec: FleetSpec,
    server: Result<Prometheus, PromError>,
}

impl FleetCollector {
    pub fn new(spec: FleetSpec) -> FleetCollector {
        let server = Prometheus::new(spec.server.clone());
        FleetCollector { spec, server }
    }

    /// The server, for the host view's range queries.
    pub fn server(&self) -> Option<Prometheus> {
        self.server.as_ref().ok().cloned()
    }

    /// One refresh: every host query and every PromQL rule at once.
    pub async fn refresh(&self) -> FleetSnapshot {
        let started = Instant::now();
        let taken_at = crate::core::model::now();
        let mut snapshot = FleetSnapshot {
            source: self.spec.name.clone(),
            url: crate::core::sources::secrets::mask_url(&self.spec.server.url),
            taken_at,
            hosts: Vec::new(),
            error: None,
            warnings: Vec::new(),
            rules: Vec::new(),
            collect_ms: 0.0,
            response_bytes: 0,
        };
        let server = match &self.server {
            Ok(server) => server.clone(),
            Err(error) => {
                snapshot.error = Some(error.to_string());
                return snapshot;
            }
        };
        let mut running = tokio::task::JoinSet::new();
        let queries = host_queries(&self.spec.jobs);
        for (index, (_, promql)) in queries.iter().enumerate() {
            let (server, promql) = (server.clone(), promql.clone());
            running.spawn(async move { (index, server.query(&promql).await) });
        }
        let first_rule = queries.len();
        for (index, rule) in self.spec.rules.iter().enumerate() {
            let (server, promql) = (server.clone(), rule.expr.clone());
            running.spawn(async move { (first_rule + index, server.query(&promql).await) });
        }
        let mut answers: HashMap<usize, Result<Answer<Vec<Series>>, PromError>> = HashMap::new();
        while let Some(joined) = running.join_next().await {
            if let Ok((index, answer)) = joined {
                answers.insert(index, answer);
            }
        }
        snapshot.response_bytes = server.take_received();
        self.fold(&mut snapshot, &queries, answers);
        snapshot.collect_ms = started.elapsed().as_secs_f64() * 1000.0;
        snapshot
    }

    fn fold(
        &self,
        snapshot: &mut FleetSnapshot,
        queries: &[(Figure, String)],
        mut answers: HashMap<usize, Result<Answer<Vec<Series>>, PromError>>,
    ) {
        // The up query lists the hosts: without it there is no fleet to show.
        match answers.remove(&0) {
            Some(Ok(answer)) => {
                snapshot.warnings.extend(answer.warnings);
                snapshot.hosts = answer
                    .data
                    .into_iter()
                    .map(|series| HostRow {
                        instance: series.labels.get("instance").cloned().unwrap_or_default(),
                        job: series.labels.get("job").cloned().unwrap_or_default(),
                        up: series.value >= 1.0,
                        labels: series.labels,
                        cpu_used_pct: None,
                        mem_used_pct: None,
                        disk_used_pct: None,
                        load1: None,
                        net_rx_bytes_per_s: None,
                        net_tx_bytes_per_s: None,
                        scrape_age_seconds: None,
                        backup_age_seconds: None,
                        checklists_overdue: None,
                        alerts_open: None,
                    })
                    .collect();
                snapshot
                    .hosts
                    .sort_by(|a, b| a.instance.cmp(&b.instance).then(a.job.cmp(&b.job)));
            }
            Some(Err(error)) => {
                snapshot.error = Some(error.to_string());
                return;
            }
            None => {
                snapshot.error = Some(format!("{}: the up query did not finish", snapshot.url));
                return;
            }
        }
        let by_instance: HashMap<String, usize> = snapshot
            .hosts
            .iter()
            .enumerate()
            .map(|(index, host)| (host.instance.clone(), index))
            .collect();
        for (index, (figure, _)) in queries.iter().enumerate().skip(1) {
            let answer = match answers.remove(&index) {
                Some(Ok(answer)) => answer,
                Some(Err(error)) => {
                    snapshot
                        .warnings
                        .push(format!("{} missing: {error}", figure_name(*figure)));
                    continue;
                }
                None => continue,
            };
            snapshot.warnings.extend(answer.warnings);
            if *figure == Figure::Opsdeck {
                fold_opsdeck(&mut snapshot.hosts, answer.data);
                continue;
            }
            for series in answer.data {
                let Some(host) = series
                    .labels
                    .get("instance")
                    .and_then(|instance| by_instance.get(instance))
                    .and_then(|index| snapshot.hosts.get_mut(*index))
                else {
                    continue;
                };
                let value = Some(series.value);
                match figure {
                    Figure::Up | Figure::Opsdeck => {}
                    Figure::Age => host.scrape_age_seconds = value,
                    Figure::Cpu => host.cpu_used_pct = value,
                    Figure::Mem => host.mem_used_pct = value,
                    Figure::Disk => host.disk_used_pct = value,
                    Figure::Load => host.load1 = value,
                    Figure::Rx => host.net_rx_bytes_per_s = value,
                    Figure::Tx => host.net_tx_bytes_per_s = value,
                }
            }
        }
        for (offset, rule) in self.spec.rules.iter().enumerate() {
            let mut result = RuleResult {
                metric: rule.metric,
                expr: rule.expr.clone(),
                series: Vec::new(),
                error: None,
            };
            match answers.remove(&(queries.len() + offset)) {
                Some(Ok(answer)) => {
                    snapshot.warnings.extend(answer.warnings);
                    result.series = answer
                        .data
                        .into_iter()
                        .map(|series| (series_instance(&series.labels), series.value))
                        .collect();
                }
                Some(Err(error)) => result.error = Some(error.to_string()),
                None => result.error = Some("the query did not finish".into()),
            }
            snapshot.rules.push(result);
        }
    }
}

fn figure_name(figure: Figure) -> &'static str {
    match figure {
        Figure::Up => "up",
        Figure::Age => "scrape age",
        Figure::Cpu => "CPU",
        Figure::Mem => "memory",
        Figure::Disk => "disk",
        Figure::Load => "load",
        Figure::Rx => "network in",
        Figure::Tx => "network out",
        Figure::Opsdeck => "opsdeck exporters",
    }
}

/// Gives each host the figures of the opsdeck exporter on its host part; every row of that host
/// part gets them (two node jobs on one machine are one machine).
fn fold_opsdeck(hosts: &mut [HostRow], data: Vec<Series>) {
    let mut by_host: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, host) in hosts.iter().enumerate() {
        by_host
            .entry(host_part(&host.instance))
            .or_default()
            .push(index);
    }
    let mut found: Vec<(usize, &str, f64)> = Vec::new();
    for series in &data {
        let (Some(host), Some(figure)) = (series.labels.get("host"), series.labels.get("figure"))
        else {
            continue;
        };
        for index in by_host.get(host.as_str()).into_iter().flatten() {
            found.push((*index, figure.as_str(), series.value));
        }
    }
    for (index, figure, value) in found {
        let host = &mut hosts[index];
        let slot = match figure {
            "backup_age" => &mut host.backup_age_seconds,
            "checklists_overdue" => &mut host.checklists_overdue,
            "alerts_open" => &mut host.alerts_open,
            _ => continue,
        };
        *slot = Some(value);
    }
}

impl Collector for FleetCollector {
    type Sample = Box<FleetSnapshot>;

    fn id(&self) -> &str {
        &self.spec.name
    }

    fn interval(&self) -> Duration {
        self.spec.interval
    }

    async fn collect(&mut self) -> Option<Box<FleetSnapshot>> {
        Some(Box::new(self.refresh().await))
    }
}

/// Checks each PromQL rule against the server: `(index, Prometheus' error)` for each it refuses
/// (a syntax error); an unreachable server is the `Err`.
pub async fn check_rules(
    server: &Prometheus,
    rules: &[PromqlRule],
) -> Result<Vec<(usize, String)>, PromError> {
    let mut refused = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        match server.query(&rule.expr).await {
            Ok(_) => {}
            Err(PromError::Query(message)) => refused.push((index, message)),
            Err(error @ PromError::Unreachable(_)) => return Err(error),
        }
    }
    Ok(refused)
}

/// One host's recent figures, oldest first, for the host view.
#[derive(Debug, Clone, PartialEq)]
pub struct HostHistory {
    pub instance: String,
    /// (what, unit, values) for CPU, memory, disk, load, network in and out.
    pub series: Vec<(&'static str, Unit, Vec<f64>)>,
    pub error: Option<String>,
}

/// How far back the host view looks, and its resolution.
pub const HISTORY_WINDOW: Duration = Duration::from_secs(30 * 60);
const HISTORY_STEP: Duration = Duration::from_secs(15);

/// The host view's range queries over the last [`HISTORY_WINDOW`].
pub async fn history(server: &Prometheus, jobs: &[String], instance: &str) -> HostHistory {
    let j = job_matcher(jobs);
    let host = format!(
        "{j},instance=\"{}\"",
        instance.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let queries: Vec<(&'static str, Unit, String)> = vec![
        (
            "CPU",
            Unit::Percent,
            format!(
                "100 * (1 - avg(rate(node_cpu_seconds_total{{{host},mode=\"idle\"}}[{RATE_WINDOW}])))"
            ),
        ),
        (
            "memory",
            Unit::Percent,
            format!(
                "max(100 * (1 - node_memory_MemAvailable_bytes{{{host}}} / node_memory_MemTotal_bytes{{{host}}}))"
            ),
        ),
        (
            "disk",
            Unit::Percent,
            format!(
                "max(100 * (1 - node_filesystem_avail_bytes{{{host},fstype!~\"tmpfs|ramfs\"}} / node_filesystem_size_bytes{{{host},fstype!~\"tmpfs|ramfs\"}}))"
            ),
        ),
        ("load", Unit::Load, format!("max(node_load1{{{host}}})")),
        (
            "net in",
            Unit::BytesPerSecond,
            format!(
                "sum(rate(node_network_receive_bytes_total{{{host},device!=\"lo\"}}[{RATE_WINDOW}]))"
            ),
        ),
        (
            "net out",
            Unit::BytesPerSecond,
            format!(
                "sum(rate(node_network_transmit_bytes_total{{{host},device!=\"lo\"}}[{RATE_WINDOW}]))"
            ),
        ),
    ];
    let end = crate::core::model::now().timestamp_millis() as f64 / 1000.0;
    let start = end - HISTORY_WINDOW.as_secs_f64();
    let mut running = tokio::task::JoinSet::new();
    for (index, (_, _, promql)) in queries.iter().enumerate() {
        let (server, promql) = (server.clone(), promql.clone());
        running.spawn(async move {
            (
                index,
                server.query_range(&promql, start, end, HISTORY_STEP).await,
            )
        });
    }
    let mut answers = HashMap::new();
    while let Some(joined) = running.join_next().await {
        if let Ok((index, answer)) = joined {
            answers.insert(index, answer);
        }
    }
    let mut history = HostHistory {
        instance: instance.to_owned(),
        series: Vec::new(),
        error: None,
    };
    for (index, (what, unit, _)) in queries.into_iter().enumerate() {
        let values = match answers.remove(&index) {
            Some(Ok(answer)) => answer
                .data
                .into_iter()
                .next()
                .map(|series| series.points.into_iter().map(|(_, value)| value).collect())
                .unwrap_or_default(),
            Some(Err(error)) => {
                history.error.get_or_insert_with(|| error.to_string());
                Vec::new()
            }
            None => Vec::new(),
        };
        history.series.push((what, unit, values));
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_matched_literally() {
        assert_eq!(
            job_matcher(&["node".into(), "edge.v2".into()]),
            "job=~\"node|edge\\\\.v2\""
        );
    }

    #[test]
    fn a_series_with_only_an_instance_is_named_by_it() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            series_instance(&labels(&[("instance", "h1:9100")])),
            Some("h1:9100".into())
        );
        assert_eq!(
            series_instance(&labels(&[
                ("__name__", "up"),
                ("instance", "h1"),
                ("job", "n")
            ])),
            Some("instance=\"h1\", job=\"n\"".into())
        );
        assert_eq!(series_instance(&labels(&[])), None);
    }

    #[test]
    fn the_host_part_drops_only_a_port() {
        assert_eq!(host_part("web-1:9100"), "web-1");
        assert_eq!(host_part("[::1]:9464"), "[::1]");
        assert_eq!(host_part("host-0001"), "host-0001");
        assert_eq!(host_part("web-1:metrics"), "web-1:metrics");
        assert_eq!(host_part(":9100"), ":9100");
    }
}
