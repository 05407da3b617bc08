//! The resources collector: CPU, memory, swap, filesystems, network rates, load, processes and
//! uptime of this host, read through sysinfo and statvfs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, System};

use super::{BlockingCollector, CollectError, Sample};
use crate::core::model::{Metric, Unit};

/// What to watch; built from the `[resources]` config section.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSettings {
    pub interval: Duration,
    /// Paths whose filesystems are watched; empty means every real filesystem.
    pub filesystems: Vec<PathBuf>,
    /// Interfaces to show; empty means every interface except loopback.
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSample {
    pub taken_at: DateTime<Utc>,
    /// `None` only when the kernel's counters cannot be read.
    pub cpu_total_pct: Option<f64>,
    /// The CPU figures are the averages since boot: the first sample of a console, taken
    /// before there is a previous reading to compare with, so its first frame holds real
    /// values; the next sample, one interval later, measures that interval.
    #[serde(default)]
    pub cpu_since_boot: bool,
    pub cpu_per_core_pct: Vec<f64>,
    pub memory: Usage,
    pub swap: Usage,
    pub filesystems: Vec<FilesystemUsage>,
    /// `None` rates on the first sample for the same reason as CPU.
    pub networks: Vec<NetworkRate>,
    pub load: LoadAverage,
    pub process_count: u64,
    pub uptime_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub total_bytes: u64,
    pub used_bytes: u64,
}

impl Usage {
    pub fn used_pct(&self) -> f64 {
        percent(self.used_bytes, self.total_bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilesystemUsage {
    /// The configured path, or the mount point in automatic mode.
    pub path: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
    /// Why the filesystem could not be read (missing path, permission, stale mount).
    pub error: Option<String>,
}

impl FilesystemUsage {
    /// `df` semantics: blocks reserved for root count as neither used nor available.
    pub fn used_pct(&self) -> f64 {
        percent(self.used_bytes, self.used_bytes + self.available_bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRate {
    pub interface: String,
    pub rx_bytes_per_s: Option<f64>,
    pub tx_bytes_per_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

impl ResourceSample {
    /// Every measurement as a named metric, for rules and for `opsdeck check`.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut metrics = Vec::new();
        if let Some(cpu) = self.cpu_total_pct {
            metrics.push(Metric::new("cpu.used_pct", cpu, Unit::Percent));
        }
        metrics.push(Metric::new(
            "memory.used_pct",
            self.memory.used_pct(),
            Unit::Percent,
        ));
        if self.swap.total_bytes > 0 {
            metrics.push(Metric::new(
                "swap.used_pct",
                self.swap.used_pct(),
                Unit::Percent,
            ));
        }
        for fs in self.filesystems.iter().filter(|fs| fs.error.is_none()) {
            metrics.push(Metric::of(
                "disk.used_pct",
                &fs.path,
                fs.used_pct(),
                Unit::Percent,
            ));
            metrics.push(Metric::of(
                "disk.free_bytes",
                &fs.path,
                fs.available_bytes as f64,
                Unit::Bytes,
            ));
        }
        for net in &self.networks {
            if let (Some(rx), Some(tx)) = (net.rx_bytes_per_s, net.tx_bytes_per_s) {
                metrics.push(Metric::of(
                    "net.rx_bytes_per_s",
                    &net.interface,
                    rx,
                    Unit::BytesPerSecond,
                ));
                metrics.push(Metric::of(
                    "net.tx_bytes_per_s",
                    &net.interface,
                    tx,
                    Unit::BytesPerSecond,
                ));
            }
        }
        metrics.push(Metric::new("load.1m", self.load.one, Unit::Load));
        metrics.push(Metric::new("load.5m", self.load.five, Unit::Load));
        metrics.push(Metric::new("load.15m", self.load.fifteen, Unit::Load));
        let cores = self.cpu_per_core_pct.len().max(1) as f64;
        metrics.push(Metric::new(
            "load.per_core",
            self.load.one / cores,
            Unit::Load,
        ));
        metrics.push(Metric::new(
            "processes.count",
            self.process_count as f64,
            Unit::Count,
        ));
        metrics.push(Metric::new(
            "uptime.seconds",
            self.uptime_secs as f64,
            Unit::Seconds,
        ));
        metrics
    }

    /// Filesystems that could not be read: reported as unknown by `check`.
    pub fn unreadable_filesystems(&self) -> impl Iterator<Item = &FilesystemUsage> {
        self.filesystems.iter().filter(|fs| fs.error.is_some())
    }
}

impl Sample for ResourceSample {
    fn metrics(&self) -> Vec<Metric> {
        ResourceSample::metrics(self)
    }

    fn taken_at(&self) -> DateTime<Utc> {
        self.taken_at
    }
}

/// Every metric name a rule may refer to.
pub const METRIC_NAMES: &[&str] = &[
    "cpu.used_pct",
    "memory.used_pct",
    "swap.used_pct",
    "disk.used_pct",
    "disk.free_bytes",
    "net.rx_bytes_per_s",
    "net.tx_bytes_per_s",
    "load.1m",
    "load.5m",
    "load.15m",
    "load.per_core",
    "processes.count",
    "uptime.seconds",
];

/// Re-reading the mount table every sample would cost more than the rest of the sample; new
/// mounts are rare, so it is re-read every this many samples.
const MOUNT_LIST_REFRESH_EVERY: u32 = 60;

pub struct ResourceCollector {
    settings: ResourceSettings,
    system: System,
    networks: Networks,
    last_network_refresh: Instant,
    first_network_refresh: bool,
    /// Readings taken so far (counted up to 2: CPU usage needs two).
    readings: u8,
    /// Whether the first sample waits for a second reading (one-shot checks measure now)
    /// instead of taking the since-boot averages (the console's first frame).
    second_reading_first: bool,
    mount_points: Vec<PathBuf>,
    samples_since_mount_refresh: u32,
}

impl ResourceCollector {
    pub fn new(settings: ResourceSettings) -> Result<Self, CollectError> {
        let mut system = System::new().map_err(|error| CollectError::System(error.to_string()))?;
        system.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        let networks = Networks::new_with_refreshed_list()
            .map_err(|error| CollectError::System(error.to_string()))?;
        Ok(ResourceCollector {
            settings,
            system,
            networks,
            last_network_refresh: Instant::now(),
            first_network_refresh: true,
            readings: 0,
            second_reading_first: false,
            mount_points: Vec::new(),
            samples_since_mount_refresh: MOUNT_LIST_REFRESH_EVERY,
        })
    }

    /// A collector whose first complete sample measures the moment (a second reading after
    /// [`PRIMING_DELAY`]) rather than the averages since boot: for one-shot checks.
    pub fn measuring_now(mut self) -> Self {
        self.second_reading_first = true;
        self
    }

    fn filesystems(&mut self) -> Vec<FilesystemUsage> {
        if !self.settings.filesystems.is_empty() {
            return usage_once_per_filesystem(&self.settings.filesystems);
        }
        if self.samples_since_mount_refresh >= MOUNT_LIST_REFRESH_EVERY {
            self.mount_points = real_mount_points();
            self.samples_since_mount_refresh = 0;
        }
        self.samples_since_mount_refresh += 1;
        usage_once_per_filesystem(&self.mount_points)
    }

    fn network_rates(&mut self) -> Vec<NetworkRate> {
        self.networks.refresh(true);
        let elapsed = self.last_network_refresh.elapsed().as_secs_f64();
        self.last_network_refresh = Instant::now();
        let first = std::mem::take(&mut self.first_network_refresh);
        let wanted = &self.settings.interfaces;
        let mut rates: BTreeMap<String, NetworkRate> = BTreeMap::new();
        for (name, data) in self.networks.iter() {
            let name = name.to_string_lossy().into_owned();
            let selected = if wanted.is_empty() {
                name != "lo"
            } else {
                wanted.contains(&name)
            };
            if !selected {
                continue;
            }
            let rate = |bytes: u64| (!first && elapsed > 0.0).then(|| bytes as f64 / elapsed);
            rates.insert(
                name.clone(),
                NetworkRate {
                    interface: name,
                    rx_bytes_per_s: rate(data.received()),
                    tx_bytes_per_s: rate(data.transmitted()),
                },
            );
        }
        rates.into_values().collect()
    }
}

/// How long a one-shot check waits between its two CPU readings.
pub const PRIMING_DELAY: Duration = Duration::from_millis(250);

impl BlockingCollector for ResourceCollector {
    type Sample = Result<ResourceSample, CollectError>;

    fn interval(&self) -> Duration {
        self.settings.interval
    }

    fn warm_up(&self) -> Option<Duration> {
        (self.second_reading_first && self.readings == 1)
            .then(|| PRIMING_DELAY.min(self.settings.interval))
    }

    fn collect(&mut self) -> Result<ResourceSample, CollectError> {
        self.system
            .refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram().with_swap());
        let primed = self.readings > 0;
        self.readings = self.readings.saturating_add(1).min(2);
        let since_boot = (!primed && !self.second_reading_first)
            .then(|| std::fs::read_to_string("/proc/stat").ok())
            .flatten()
            .map(|text| cpu_since_boot(&text));
        let (cpu_total_pct, cpu_per_core_pct) = match &since_boot {
            Some((total, cores)) => (*total, cores.clone()),
            None if primed => (
                Some(f64::from(self.system.global_cpu_usage())),
                self.system
                    .cpus()
                    .iter()
                    .map(|cpu| f64::from(cpu.usage()))
                    .collect(),
            ),
            None => (None, vec![0.0; self.system.cpus().len()]),
        };
        let load = System::load_average()
            .map(|load| LoadAverage {
                one: load.one,
                five: load.five,
                fifteen: load.fifteen,
            })
            .map_err(|error| CollectError::System(error.to_string()))?;
        Ok(ResourceSample {
            taken_at: crate::core::model::now(),
            cpu_total_pct,
            cpu_since_boot: since_boot.is_some(),
            cpu_per_core_pct,
            memory: Usage {
                total_bytes: self.system.total_memory(),
                used_bytes: self.system.used_memory(),
            },
            swap: Usage {
                total_bytes: self.system.total_swap(),
                used_bytes: self.system.used_swap(),
            },
            filesystems: self.filesystems(),
            networks: self.network_rates(),
            load,
            process_count: count_processes(),
            uptime_secs: System::uptime().unwrap_or(0),
        })
    }
}

/// CPU busy percentages since boot from `/proc/stat`, overall and per core: busy is every
/// field but idle and iowait (guest time is already inside user and nice).
fn cpu_since_boot(stat: &str) -> (Option<f64>, Vec<f64>) {
    let busy_pct = |fields: &[u64]| -> Option<f64> {
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        (total > 0).then(|| (total - idle.min(total)) as f64 * 100.0 / total as f64)
    };
    let mut total = None;
    let mut cores = Vec::new();
    for line in stat.lines() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next().filter(|name| name.starts_with("cpu")) else {
            continue;
        };
        let fields: Vec<u64> = words.filter_map(|word| word.parse().ok()).collect();
        if name == "cpu" {
            total = busy_pct(&fields);
        } else {
            cores.push(busy_pct(&fields).unwrap_or(0.0));
        }
    }
    (total, cores)
}

/// Mount points of real filesystems (sysinfo leaves out proc, sysfs, tmpfs, cgroup and friends),
/// each listed once.
fn real_mount_points() -> Vec<PathBuf> {
    let Ok(disks) = Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing()) else {
        return Vec::new();
    };
    let mut mounts: Vec<PathBuf> = disks
        .iter()
        .map(|disk| disk.mount_point().to_path_buf())
        .collect();
    mounts.sort();
    mounts.dedup();
    mounts
}

/// The usage of each path's filesystem, listed once under the first path on it: `/var` and
/// `/var/log` on one disk are one gauge and one alert, not two that move together. Paths that
/// cannot be read are all kept, each with its error.
fn usage_once_per_filesystem(paths: &[PathBuf]) -> Vec<FilesystemUsage> {
    let mut seen = std::collections::HashSet::new();
    paths
        .iter()
        .filter(|path| match rustix::fs::stat(path.as_path()) {
            Ok(stat) => seen.insert(stat.st_dev),
            Err(_) => true,
        })
        .map(|path| filesystem_usage(path))
        .collect()
}

fn filesystem_usage(path: &Path) -> FilesystemUsage {
    let display = path.display().to_string();
    match rustix::fs::statvfs(path) {
        Ok(stat) => {
            let block = stat.f_frsize.max(1);
            let total = stat.f_blocks * block;
            let free = stat.f_bfree * block;
            FilesystemUsage {
                path: display,
                total_bytes: total,
                used_bytes: total.saturating_sub(free),
                available_bytes: stat.f_bavail * block,
                error: None,
            }
        }
        Err(error) => FilesystemUsage {
            path: display,
            total_bytes: 0,
            used_bytes: 0,
            available_bytes: 0,
            error: Some(std::io::Error::from(error).to_string()),
        },
    }
}

/// Counting /proc entries is far cheaper than a full sysinfo process refresh, which reads
/// several files per process.
fn count_processes() -> u64 {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| {
                    entry
                        .file_name()
                        .to_str()
                        .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()))
                })
                .count() as u64
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_paths_on_one_filesystem_are_listed_once() {
        let directory = tempfile::tempdir().unwrap();
        let inner = directory.path().join("logs");
        std::fs::create_dir(&inner).unwrap();
        let listed = usage_once_per_filesystem(&[
            directory.path().to_path_buf(),
            inner,
            PathBuf::from("/proc"),
            PathBuf::from("/nonexistent/a"),
            PathBuf::from("/nonexistent/b"),
        ]);
        let paths: Vec<&str> = listed.iter().map(|fs| fs.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                directory.path().to_str().unwrap(),
                "/proc",
                "/nonexistent/a",
                "/nonexistent/b"
            ]
        );
    }

    #[test]
    fn a_missing_configured_path_is_reported_not_fatal() {
        let usage = filesystem_usage(Path::new("/definitely/not/here"));
        assert!(usage.error.is_some());
        assert_eq!(usage.total_bytes, 0);
    }

    #[test]
    fn cpu_since_boot_counts_everything_but_idle_and_iowait() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 60 0 20 100 20 0 0 0 0 0\ncpu1 40 0 30 700 30 0 0 0 0 0\nintr 5\n";
        let (total, cores) = cpu_since_boot(stat);
        assert_eq!(total, Some(15.0));
        assert_eq!(cores, vec![40.0, 8.75]);
        assert_eq!(cpu_since_boot("intr 5\n"), (None, Vec::new()));
    }

    #[test]
    fn the_first_sample_holds_cpu_since_boot_and_the_next_measures_the_interval() {
        let mut collector = ResourceCollector::new(ResourceSettings {
            interval: Duration::from_secs(60),
            filesystems: vec![PathBuf::from("/")],
            interfaces: Vec::new(),
        })
        .expect("collector");
        assert_eq!(collector.warm_up(), None, "no second reading to wait for");
        let first = collector.collect().expect("first sample");
        assert!(first.cpu_since_boot);
        let cpu = first.cpu_total_pct.expect("cpu in the first sample");
        assert!((0.0..=100.0).contains(&cpu));
        assert_eq!(first.cpu_per_core_pct.len(), collector.system.cpus().len());
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let second = collector.collect().expect("second sample");
        assert!(!second.cpu_since_boot);
        assert!(second.cpu_total_pct.is_some());
    }

    #[test]
    fn a_one_shot_check_waits_for_a_second_reading() {
        let mut collector = ResourceCollector::new(ResourceSettings {
            interval: Duration::from_secs(60),
            filesystems: vec![PathBuf::from("/")],
            interfaces: Vec::new(),
        })
        .expect("collector")
        .measuring_now();
        let first = collector.collect().expect("first sample");
        assert!(first.cpu_total_pct.is_none() && !first.cpu_since_boot);
        assert_eq!(collector.warm_up(), Some(PRIMING_DELAY));
    }

    #[test]
    fn second_sample_has_cpu_and_network_rates() {
        let mut collector = ResourceCollector::new(ResourceSettings {
            interval: Duration::from_secs(1),
            filesystems: vec![PathBuf::from("/")],
            interfaces: Vec::new(),
        })
        .expect("collector");
        let first = collector.collect().expect("first sample");
        assert!(
            first
                .networks
                .iter()
                .all(|net| net.rx_bytes_per_s.is_none())
        );
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let second = collector.collect().expect("second sample");
        let cpu = second.cpu_total_pct.expect("cpu after two readings");
        assert!((0.0..=100.0).contains(&cpu));
        assert!(second.memory.total_bytes > 0);
        assert!(second.process_count > 0);
        let root = &second.filesystems[0];
        assert!(root.error.is_none() && root.total_bytes > 0);
        assert!(
            second
                .networks
                .iter()
                .all(|net| net.rx_bytes_per_s.is_some())
        );
        assert!(
            second
                .metrics()
                .iter()
                .any(|m| m.key() == "disk.used_pct:/")
        );
    }
}
