//! Pending package updates on Debian and Ubuntu, through apt's own tools and changing nothing:
//! `apt-get -s upgrade` (a simulation, with locking off) lists what would be upgraded and from
//! which origins; an origin whose suite ends in `-security` makes it a security update. Also
//! `/var/run/reboot-required` (and `.pkgs`) with its age, the services `needrestart -b -r l`
//! says run deleted libraries, and whether apt is locked by another process.
//!
//! The age of a pending security update: apt records no publication date for a package (the
//! Release file's date is the suite's last change, the changelog needs the network), so opsdeck
//! keeps when it first saw each package version pending, in `updates-seen.json` in the state
//! directory. The age is therefore a lower bound: how long this host has had the update
//! available and not installed, as far as opsdeck has watched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{load_state, optional_tool, run_tool, save_state, under};
use crate::core::model::{Metric, Unit};

/// apt reading its lists takes a few seconds on a slow disk; needrestart scans every process.
const APT_TIMEOUT: Duration = Duration::from_secs(120);
const NEEDRESTART_TIMEOUT: Duration = Duration::from_secs(120);

pub const PENDING: &str = "updates.pending";
pub const SECURITY: &str = "updates.security";
pub const SECURITY_OLDEST_DAYS: &str = "updates.security_oldest_days";
pub const REBOOT_REQUIRED: &str = "updates.reboot_required";
pub const REBOOT_REQUIRED_DAYS: &str = "updates.reboot_required_days";
pub const SERVICES_NEED_RESTART: &str = "updates.services_need_restart";

const SEEN_FILE: &str = "updates-seen.json";
const REBOOT_FILE: &str = "/var/run/reboot-required";
/// dpkg's locks, the frontend one first (apt takes it for the whole run).
const LOCK_FILES: [&str; 2] = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"];

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateSettings {
    /// `apt-get`, or its full path.
    pub apt_get: String,
    /// `needrestart`; its absence only leaves that part out.
    pub needrestart: String,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings {
            apt_get: "apt-get".into(),
            needrestart: "needrestart".into(),
        }
    }
}

/// One package `apt-get -s upgrade` would upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpdate {
    pub package: String,
    /// The installed version (apt leaves it out for a package it would newly install).
    pub installed: Option<String>,
    pub candidate: String,
    /// `Debian-Security:12/oldstable-security` and the like.
    pub origins: Vec<String>,
    pub security: bool,
}

impl PendingUpdate {
    /// `libssl3 3.0.15-1~deb12u1 → 3.0.17-1~deb12u2 (security)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} → {}{}",
            self.package,
            self.installed.as_deref().unwrap_or("(new)"),
            self.candidate,
            if self.security { " (security)" } else { "" }
        )
    }
}

/// The `Inst` lines of an `apt-get -s` run, in order.
pub fn parse_simulation(text: &str) -> Vec<PendingUpdate> {
    text.lines().filter_map(parse_inst).collect()
}

/// `Inst pkg [installed] (candidate origin, origin [arch]) [broken deps]`.
fn parse_inst(line: &str) -> Option<PendingUpdate> {
    let rest = line.strip_prefix("Inst ")?;
    let (package, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start();
    let (installed, rest) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (version, rest) = bracketed.split_once(']')?;
            (Some(version.to_owned()), rest.trim_start())
        }
        None => (None, rest),
    };
    let inside = rest.strip_prefix('(')?;
    let inside = &inside[..inside.find(')')?];
    let (candidate, origins) = inside.split_once(' ')?;
    let origins = origins
        .rfind(" [")
        .map_or(origins, |architecture| &origins[..architecture]);
    let origins: Vec<String> = origins
        .split(", ")
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(str::to_owned)
        .collect();
    let security = origins.iter().any(|origin| {
        origin
            .rsplit_once('/')
            .is_some_and(|(_, suite)| suite.ends_with("-security"))
    });
    Some(PendingUpdate {
        package: package.to_owned(),
        installed,
        candidate: candidate.to_owned(),
        origins,
        security,
    })
}

/// Runs `apt-get -s upgrade` (simulation; locking off, so a running apt does not block it).
pub fn simulate(apt_get: &str) -> Result<Vec<PendingUpdate>, String> {
    let output = run_tool(
        apt_get,
        &["-s", "-o", "Debug::NoLocking=true", "upgrade"],
        APT_TIMEOUT,
    )?
    .success(apt_get)?;
    Ok(parse_simulation(&output))
}

/// `/var/run/reboot-required` and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct RebootRequired {
    pub since: DateTime<Utc>,
    /// From `reboot-required.pkgs`, in order, each once.
    pub packages: Vec<String>,
}

/// `None` when no reboot is asked for.
pub fn reboot_required(root: &Path) -> Result<Option<RebootRequired>, String> {
    let flag = under(root, Path::new(REBOOT_FILE));
    let metadata = match std::fs::metadata(&flag) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", flag.display())),
    };
    let since = metadata
        .modified()
        .map_err(|error| format!("{}: no modification time: {error}", flag.display()))?;
    let list = flag.with_extension("pkgs");
    let mut packages: Vec<String> = Vec::new();
    match std::fs::read_to_string(&list) {
        Ok(text) => {
            for package in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
                if !packages.iter().any(|known| known == package) {
                    packages.push(package.to_owned());
                }
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(format!("cannot read {}: {error}", list.display())),
    }
    Ok(Some(RebootRequired {
        since: since.into(),
        packages,
    }))
}

/// The services `needrestart` lists as running deleted (since upgraded) libraries; `None`
/// when needrestart is not installed.
pub fn services_needing_restart(needrestart: &str) -> Option<Result<Vec<String>, String>> {
    let output = optional_tool(needrestart, "needrestart")?.and_then(|program| {
        // -b: batch output; -r l: list only, so that nothing is ever restarted.
        run_tool(
            &program.to_string_lossy(),
            &["-b", "-r", "l"],
            NEEDRESTART_TIMEOUT,
        )
        .and_then(|output| output.success(needrestart))
    });
    Some(output.map(|text| {
        text.lines()
            .filter_map(|line| line.strip_prefix("NEEDRESTART-SVC:"))
            .map(|service| service.trim().to_owned())
            .collect()
    }))
}

/// Who holds dpkg's lock, as `process 1234 (apt-get) holds /var/lib/dpkg/lock-frontend`;
/// `None` when nobody does. Read from `/proc/locks`, so nothing is locked to find out.
pub fn apt_lock_holder(root: &Path) -> Option<String> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    LOCK_FILES.iter().find_map(|file| {
        let path = under(root, Path::new(file));
        let stat = rustix::fs::stat(&path).ok()?;
        let device = (
            rustix::fs::major(stat.st_dev),
            rustix::fs::minor(stat.st_dev),
        );
        let pid = locks
            .lines()
            .find_map(|line| lock_holder(line, device, stat.st_ino))?;
        let command = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|comm| comm.trim().to_owned())
            .unwrap_or_else(|_| "gone".into());
        Some(format!(
            "process {pid} ({command}) holds {}",
            path.display()
        ))
    })
}

/// The pid in a `/proc/locks` line such as `1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF`
/// when it locks the file with this device and inode (blocked waiters, `->`, do not hold it).
fn lock_holder(line: &str, device: (u32, u32), inode: u64) -> Option<i64> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(1) == Some(&"->") {
        return None;
    }
    let at = fields
        .iter()
        .position(|field| field.matches(':').count() == 2)?;
    let mut parts = fields[at].split(':');
    let major = u32::from_str_radix(parts.next()?, 16).ok()?;
    let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
    let file = parts.next()?.parse::<u64>().ok()?;
    let pid = fields.get(at.checked_sub(1)?)?.parse::<i64>().ok()?;
    ((major, minor) == device && file == inode && pid > 0).then_some(pid)
}

/// First sightings of pending security updates, `package=version` → when.
type Seen = BTreeMap<String, DateTime<Utc>>;

/// The days since the oldest pending security update was first seen pending; records new
/// sightings and forgets those no longer pending.
pub fn oldest_security_days(
    pending: &[PendingUpdate],
    state_dir: &Path,
    now: DateTime<Utc>,
) -> (Option<f64>, Option<String>) {
    let file = state_dir.join(SEEN_FILE);
    let before: Seen = load_state(&file);
    let current: BTreeSet<String> = pending
        .iter()
        .filter(|update| update.security)
        .map(|update| format!("{}={}", update.package, update.candidate))
        .collect();
    let seen: Seen = current
        .into_iter()
        .map(|key| {
            let first = before.get(&key).copied().unwrap_or(now).min(now);
            (key, first)
        })
        .collect();
    let oldest = seen
        .values()
        .min()
        .map(|first| (now - *first).num_seconds() as f64 / 86_400.0);
    let error = (seen != before)
        .then(|| save_state(&file, &seen).err())
        .flatten();
    (oldest, error)
}

/// Everything about updates at one moment; each part that could not be read says why.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateReport {
    pub pending: Result<Vec<PendingUpdate>, String>,
    pub security_oldest_days: Option<f64>,
    pub reboot: Result<Option<RebootRequired>, String>,
    pub taken_at: DateTime<Utc>,
    /// `None` without needrestart.
    pub needrestart: Option<Result<Vec<String>, String>>,
    /// The first-sightings file could not be written.
    pub state_error: Option<String>,
}

impl UpdateReport {
    pub fn errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(error) = &self.pending {
            errors.push(error.clone());
        }
        if let Err(error) = &self.reboot {
            errors.push(error.clone());
        }
        if let Some(Err(error)) = &self.needrestart {
            errors.push(error.clone());
        }
        errors.extend(self.state_error.clone());
        errors
    }

    pub fn metrics(&self) -> Vec<Metric> {
        let mut metrics = Vec::new();
        if let Ok(pending) = &self.pending {
            let security = pending.iter().filter(|update| update.security).count();
            metrics.push(Metric::new(PENDING, pending.len() as f64, Unit::Count));
            metrics.push(Metric::new(SECURITY, security as f64, Unit::Count));
            metrics.push(Metric::new(
                SECURITY_OLDEST_DAYS,
                self.security_oldest_days.unwrap_or(0.0),
                Unit::Days,
            ));
        }
        if let Ok(reboot) = &self.reboot {
            metrics.push(Metric::new(
                REBOOT_REQUIRED,
                f64::from(u8::from(reboot.is_some())),
                Unit::Count,
            ));
            let days = reboot.as_ref().map_or(0.0, |reboot| {
                (self.taken_at - reboot.since).num_seconds().max(0) as f64 / 86_400.0
            });
            metrics.push(Metric::new(REBOOT_REQUIRED_DAYS, days, Unit::Days));
        }
        if let Some(Ok(services)) = &self.needrestart {
            metrics.push(Metric::new(
                SERVICES_NEED_RESTART,
                services.len() as f64,
                Unit::Count,
            ));
        }
        metrics
    }
}

pub fn probe(
    settings: &UpdateSettings,
    root: &Path,
    state_dir: &Path,
    now: DateTime<Utc>,
) -> UpdateReport {
    let pending = simulate(&settings.apt_get);
    let (security_oldest_days, state_error) = match &pending {
        Ok(pending) => oldest_security_days(pending, state_dir, now),
        Err(_) => (None, None),
    };
    UpdateReport {
        pending,
        security_oldest_days,
        reboot: reboot_required(root),
        taken_at: now,
        needrestart: services_needing_restart(&settings.needrestart),
        state_error,
    }
}

/// The reboot flag's path under `root`, for messages.
pub fn reboot_file(root: &Path) -> PathBuf {
    under(root, Path::new(REBOOT_FILE))
}
