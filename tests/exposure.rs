//! Host exposure against the real tools: pending updates from this machine's `apt-get -s
//! upgrade` checked against apt's own counts, exact counts from a fixture captured from it,
//! reboot-required under a temporary root, secret ages at the rule edges (79/80/90 days),
//! sshd findings from the real `sshd -T` on a config written here, a Lynis report and its new
//! warnings, apt locked by another process, missing tools, and `updates-apply`'s plan and
//! read-only refusal through the CLI.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use opsdeck::config::Config;
use opsdeck::core::checks::RuleEngine;
use opsdeck::core::exposure::hardening::{self, HardeningSettings};
use opsdeck::core::exposure::updates::{self, UpdateSettings};
use opsdeck::core::exposure::{ExposureSettings, probe};
use opsdeck::core::model::{Metric, Status};
use opsdeck::core::tasks::security_scan::{self, SecurityScanSettings};
use opsdeck::core::tasks::updates_apply::{self, UpdatesApplySettings};
use opsdeck::core::tasks::{Output, TaskContext};
use support::run::Run;
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DAY: Duration = Duration::from_secs(86_400);
const SSHD: &str = "/usr/sbin/sshd";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exposure")
        .join(name)
}

fn settings(root: &Path, state: &Path) -> ExposureSettings {
    ExposureSettings {
        root: root.to_path_buf(),
        state_dir: state.to_path_buf(),
        interval: Duration::from_secs(3600),
        updates: None,
        secrets: Vec::new(),
        hardening: None,
    }
}

fn value(metrics: &[Metric], name: &str, instance: Option<&str>) -> f64 {
    metrics
        .iter()
        .find(|metric| metric.name == name && metric.instance.as_deref() == instance)
        .unwrap_or_else(|| panic!("no metric {name} {instance:?} in {metrics:#?}"))
        .value
}

fn status(engine: &RuleEngine, metrics: &[Metric], name: &str, instance: Option<&str>) -> Status {
    let metric = metrics
        .iter()
        .find(|metric| metric.name == name && metric.instance.as_deref() == instance)
        .unwrap_or_else(|| panic!("no metric {name} {instance:?}"));
    engine.evaluate(metric).status
}

/// Whole milliseconds, the precision of opsdeck's clock, so that an age set here is never
/// measured a fraction short.
fn set_mtime(path: &Path, age: Duration) {
    let when = SystemTime::now() - age;
    let since_epoch = when.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let stamp = rustix::fs::Timespec {
        tv_sec: since_epoch.as_secs() as i64,
        tv_nsec: i64::from(since_epoch.subsec_millis()) * 1_000_000,
    };
    let times = rustix::fs::Timestamps {
        last_access: stamp,
        last_modification: stamp,
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::empty()).unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Pending updates
// ---------------------------------------------------------------------------------------------

/// The number in apt's own `N upgraded, …` line.
fn apts_upgraded_count(text: &str) -> usize {
    let line = text
        .lines()
        .find(|line| line.contains(" upgraded, "))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn pending_updates_on_this_machine_agree_with_apts_own_counts() {
    let pending = updates::simulate("apt-get").expect("apt-get -s upgrade");

    let simulated = Command::new("apt-get")
        .args(["-s", "upgrade"])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(simulated.status.success());
    let simulated = String::from_utf8(simulated.stdout).unwrap();
    assert_eq!(pending.len(), apts_upgraded_count(&simulated));

    // `apt list --upgradable`: `name/suite[,suite…] version arch [upgradable from: …]`, the
    // guides' own way to see security updates.
    let listed = Command::new("apt")
        .args(["list", "--upgradable"])
        .env("LC_ALL", "C")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    let upgradable: Vec<(&str, bool)> = listed
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once('/')?;
            let suites = rest.split_whitespace().next()?;
            Some((
                name,
                suites.split(',').any(|suite| suite.ends_with("-security")),
            ))
        })
        .collect();
    assert_eq!(pending.len(), upgradable.len(), "{listed}");
    for update in &pending {
        let (_, security) = upgradable
            .iter()
            .find(|(name, _)| *name == update.package)
            .unwrap_or_else(|| panic!("{} is not in apt list --upgradable", update.package));
        assert_eq!(update.security, *security, "{update:?}");
    }
}

#[test]
fn a_captured_simulation_gives_exact_counts_and_origins() {
    let text = std::fs::read_to_string(fixture("apt-get-s-upgrade.txt")).unwrap();
    let pending = updates::parse_simulation(&text);
    assert_eq!(pending.len(), 116);
    assert_eq!(pending.len(), apts_upgraded_count(&text));
    assert_eq!(pending.iter().filter(|update| update.security).count(), 78);

    let find = |name: &str| {
        pending
            .iter()
            .find(|update| update.package == name)
            .unwrap()
    };
    let ssl = find("libssl3");
    assert_eq!(ssl.installed.as_deref(), Some("3.0.19-1~deb12u2"));
    assert_eq!(ssl.candidate, "3.0.22-1~deb12u2");
    assert_eq!(ssl.origins, ["Debian-Security:12/oldstable-security"]);
    assert!(ssl.security);
    // In both the point release and the security suite: still a security update.
    let gcrypt = find("libgcrypt20");
    assert_eq!(
        gcrypt.origins,
        [
            "Debian:12.15/oldstable",
            "Debian-Security:12/oldstable-security"
        ]
    );
    assert!(gcrypt.security);
    let base = find("base-files");
    assert_eq!(base.candidate, "12.4+deb12u15");
    assert!(!base.security);
    assert_eq!(
        ssl.describe(),
        "libssl3 3.0.19-1~deb12u2 → 3.0.22-1~deb12u2 (security)"
    );
}

#[test]
fn a_security_update_ages_from_when_it_was_first_seen_pending() {
    let text = std::fs::read_to_string(fixture("apt-get-s-upgrade.txt")).unwrap();
    let pending = updates::parse_simulation(&text);
    let state = TempDir::new().unwrap();
    let now = Utc::now();

    let (first, error) = updates::oldest_security_days(&pending, state.path(), now);
    assert_eq!(error, None);
    assert_eq!(first, Some(0.0));

    // Ten days on, the same updates are ten days old; one installed meanwhile is forgotten.
    let later = now + chrono::TimeDelta::days(10);
    let (aged, _) = updates::oldest_security_days(&pending, state.path(), later);
    assert_eq!(aged, Some(10.0));
    let rest: Vec<_> = pending
        .iter()
        .filter(|update| update.package != "libssl3")
        .cloned()
        .collect();
    updates::oldest_security_days(&rest, state.path(), later);
    let seen = std::fs::read_to_string(state.path().join("updates-seen.json")).unwrap();
    assert!(!seen.contains("libssl3="), "{seen}");
    assert!(seen.contains("libgcrypt20=1.10.1-3+deb12u1"), "{seen}");
    // With nothing pending there is no age.
    let (restarted, _) = updates::oldest_security_days(
        &pending[..0],
        state.path(),
        later + chrono::TimeDelta::days(1),
    );
    assert_eq!(restarted, None);
}

#[test]
fn reboot_required_is_read_under_the_root_with_its_age_and_packages() {
    let root = TempDir::new().unwrap();
    let state = TempDir::new().unwrap();
    let mut settings = settings(root.path(), state.path());
    settings.updates = Some(UpdateSettings {
        apt_get: "apt-get".into(),
        needrestart: "needrestart-not-installed".into(),
    });
    let engine = RuleEngine::new(Config::default().effective_rules());

    let sample = probe(&settings);
    let metrics = opsdeck::core::collectors::Sample::metrics(&sample);
    assert_eq!(value(&metrics, updates::REBOOT_REQUIRED, None), 0.0);
    assert_eq!(value(&metrics, updates::REBOOT_REQUIRED_DAYS, None), 0.0);
    assert!(
        !metrics
            .iter()
            .any(|metric| metric.name == updates::SERVICES_NEED_RESTART),
        "needrestart is not installed there, so it is left out"
    );

    let flag = root.path().join("var/run/reboot-required");
    write(&flag, "*** System restart required ***\n");
    write(
        &root.path().join("var/run/reboot-required.pkgs"),
        "linux-image-6.1.0-28-amd64\nlibc6\nlinux-image-6.1.0-28-amd64\n",
    );
    set_mtime(&flag, 8 * DAY);
    let sample = probe(&settings);
    assert_eq!(sample.errors(), Vec::<String>::new());
    let metrics = opsdeck::core::collectors::Sample::metrics(&sample);
    assert_eq!(value(&metrics, updates::REBOOT_REQUIRED, None), 1.0);
    let days = value(&metrics, updates::REBOOT_REQUIRED_DAYS, None);
    assert!((8.0..8.01).contains(&days), "{days}");
    assert_eq!(
        status(&engine, &metrics, updates::REBOOT_REQUIRED_DAYS, None),
        Status::Warn
    );
    let reboot = updates::reboot_required(root.path()).unwrap().unwrap();
    assert_eq!(reboot.packages, ["linux-image-6.1.0-28-amd64", "libc6"]);
}

#[test]
fn needrestart_lists_services_running_deleted_libraries_without_restarting_them() {
    let services = updates::services_needing_restart("needrestart")
        .expect("needrestart is installed")
        .expect("needrestart -b -r l");
    let own = Command::new("needrestart")
        .args(["-b", "-r", "l"])
        .output()
        .unwrap();
    let own = String::from_utf8_lossy(&own.stdout);
    assert_eq!(
        services.len(),
        own.lines()
            .filter(|line| line.starts_with("NEEDRESTART-SVC:"))
            .count(),
        "{own}"
    );
    assert_eq!(
        updates::services_needing_restart("needrestart-not-installed"),
        None
    );
    assert_eq!(
        updates::services_needing_restart("/nonexistent/needrestart"),
        Some(Err(
            "`/nonexistent/needrestart` was not found: install it with `apt-get install \
                  needrestart` or fix [exposure] needrestart"
                .into()
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// Bad input: apt locked, missing tools
// ---------------------------------------------------------------------------------------------

/// Another process holding dpkg's frontend lock the way apt does (a POSIX record lock).
struct LockHolder {
    child: std::process::Child,
}

impl LockHolder {
    fn hold(lock: &Path) -> LockHolder {
        write(lock, "");
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import fcntl, sys, time\n\
                 f = open(sys.argv[1], 'w')\n\
                 fcntl.lockf(f, fcntl.LOCK_EX)\n\
                 print('locked', flush=True)\n\
                 time.sleep(60)",
            ])
            .arg(lock)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        LockHolder { child }
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn apt_locked_by_another_process_refuses_updates_apply_naming_the_holder() {
    let root = TempDir::new().unwrap();
    let settings = UpdatesApplySettings {
        updates: UpdateSettings::default(),
        root: root.path().to_path_buf(),
    };
    assert_eq!(updates::apt_lock_holder(root.path()), None);

    let holder = LockHolder::hold(&root.path().join("var/lib/dpkg/lock-frontend"));
    let pid = holder.child.id();
    let held = updates::apt_lock_holder(root.path()).expect("the lock is seen");
    assert!(held.contains(&format!("process {pid} (python3)")), "{held}");
    assert!(held.contains("var/lib/dpkg/lock-frontend"), "{held}");

    let plan = updates_apply::plan(&settings, &BTreeMap::new())
        .await
        .unwrap();
    let refusal = plan.refusal.expect("refused while locked");
    assert!(refusal.starts_with("apt is locked: "), "{refusal}");
    assert!(refusal.contains(&pid.to_string()), "{refusal}");

    let (context, mut output) = context();
    let error = updates_apply::run(&settings, &context).await.unwrap_err();
    assert!(error.to_string().contains("apt is locked"), "{error}");
    drop(context);
    assert_eq!(output.recv().await, None, "nothing ran");

    drop(holder);
    assert_eq!(updates::apt_lock_holder(root.path()), None);
}

fn context() -> (TaskContext, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        TaskContext {
            params: BTreeMap::new(),
            output: Output::new(tx),
            cancel: CancellationToken::new(),
            store: None,
        },
        rx,
    )
}

#[tokio::test]
async fn a_missing_apt_get_is_named_with_its_package_and_nothing_runs() {
    let root = TempDir::new().unwrap();
    let settings = UpdatesApplySettings {
        updates: UpdateSettings {
            apt_get: "/nonexistent/apt-get".into(),
            needrestart: "needrestart".into(),
        },
        root: root.path().to_path_buf(),
    };
    let error = updates_apply::plan(&settings, &BTreeMap::new())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "`/nonexistent/apt-get` was not found: install it with `apt-get install apt` or give its full path"
    );
    let (context, mut output) = context();
    assert!(updates_apply::run(&settings, &context).await.is_err());
    drop(context);
    assert_eq!(output.recv().await, None);
}

#[test]
fn no_firewall_tool_names_both_tools() {
    let error = hardening::firewall(&HardeningSettings {
        ufw: "/nonexistent/ufw".into(),
        nft: "/nonexistent/nft".into(),
        ..HardeningSettings::default()
    })
    .unwrap_err();
    assert_eq!(
        error,
        "no firewall tool found: neither `/nonexistent/ufw` nor `/nonexistent/nft` is installed (apt-get install ufw or nftables)"
    );
}

// ---------------------------------------------------------------------------------------------
// Secret ages
// ---------------------------------------------------------------------------------------------

#[test]
fn secrets_warn_at_80_days_and_are_critical_at_90_from_metadata_alone() {
    let root = TempDir::new().unwrap();
    let state = TempDir::new().unwrap();
    let keys = root.path().join("etc/app");
    std::fs::create_dir_all(&keys).unwrap();
    for (name, days) in [("fresh", 79), ("due", 80), ("expired", 90)] {
        let path = keys.join(format!("{name}.key"));
        if name == "due" {
            // A named pipe: reading it would block, so only its metadata can have been used.
            let made = Command::new("mkfifo").arg(&path).status().unwrap();
            assert!(made.success());
        } else {
            write(&path, "sk_live_not_to_be_read");
        }
        set_mtime(&path, days * DAY);
    }
    let created = (Utc::now() - chrono::TimeDelta::days(85)).date_naive();
    let source = format!(
        r#"
[[secret]]
name = "fresh"
file = "/etc/app/fresh.key"

[[secret]]
name = "due"
file = "/etc/app/due.key"
max_age = "90d"

[[secret]]
name = "expired"
file = "/etc/app/expired.key"

[[secret]]
name = "anthropic"
created = {created}

[[secret]]
name = "short"
created = "{created}"
max_age = "30d"
"#
    );
    let config = Config::parse("secrets.toml", &source).unwrap();
    let engine = RuleEngine::new(config.effective_rules());
    let mut settings = settings(root.path(), state.path());
    settings.secrets = config.secret_specs.clone();
    let sample = probe(&settings);
    assert_eq!(sample.errors(), Vec::<String>::new());
    let metrics = opsdeck::core::collectors::Sample::metrics(&sample);
    let age = "secret.age_days";
    for (name, days, expected) in [
        ("fresh", 79.0, Status::Ok),
        ("due", 80.0, Status::Warn),
        ("expired", 90.0, Status::Crit),
    ] {
        let found = value(&metrics, age, Some(name));
        assert!((days..days + 0.01).contains(&found), "{name}: {found}");
        assert_eq!(
            status(&engine, &metrics, age, Some(name)),
            expected,
            "{name}"
        );
    }
    assert_eq!(
        status(&engine, &metrics, age, Some("anthropic")),
        Status::Warn
    );
    assert_eq!(status(&engine, &metrics, age, Some("short")), Status::Crit);
}

#[test]
fn a_secret_with_both_sources_or_a_missing_file_is_reported() {
    let error = Config::parse(
        "secrets.toml",
        "[[secret]]\nname = \"x\"\nfile = \"/k\"\ncreated = 2026-01-01\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("secrets.toml:1"), "{error}");
    assert!(
        error.contains("secret `x` has both `file` and `created`"),
        "{error}"
    );

    let root = TempDir::new().unwrap();
    let config = Config::parse(
        "secrets.toml",
        "[[secret]]\nname = \"gone\"\nfile = \"/etc/gone.key\"\n",
    )
    .unwrap();
    let mut settings = settings(root.path(), root.path());
    settings.secrets = config.secret_specs;
    let errors = probe(&settings).errors();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("secret `gone`"), "{errors:?}");
    assert!(errors[0].contains("etc/gone.key"), "{errors:?}");
}

// ---------------------------------------------------------------------------------------------
// Hardening: sshd, firewall, Lynis
// ---------------------------------------------------------------------------------------------

/// `sshd` run through a wrapper: `sshd -T` insists on its privilege separation directory
/// (`/run/sshd`, made by the service when it starts), so the wrapper gives it a private /run
/// in user and mount namespaces of its own (no privilege needed) instead of creating it on
/// this machine.
fn sshd_wrapper(dir: &Path) -> PathBuf {
    let wrapper = dir.join("sshd");
    write(
        &wrapper,
        &format!(
            "#!/bin/sh\nexec unshare --map-root-user --mount sh -c 'mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec {SSHD} \"$@\"' sshd \"$@\"\n"
        ),
    );
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

fn sshd_config(root: &Path, settings: &str) {
    let key = root.join("host_key");
    if !key.exists() {
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
    }
    write(
        &root.join("etc/ssh/sshd_config"),
        &format!("HostKey {}\n{settings}", key.display()),
    );
}

fn hardening_settings(root: &Path) -> HardeningSettings {
    HardeningSettings {
        sshd: sshd_wrapper(root).display().to_string(),
        ..HardeningSettings::default()
    }
}

#[tokio::test]
async fn sshd_effective_settings_become_findings_and_metrics() {
    let root = TempDir::new().unwrap();
    let state = TempDir::new().unwrap();
    let hardening = hardening_settings(root.path());
    sshd_config(
        root.path(),
        "PermitRootLogin yes\nPasswordAuthentication yes\n",
    );
    let sshd = hardening::sshd(&hardening, root.path()).unwrap().unwrap();
    assert_eq!(sshd.permit_root_login, "yes");
    assert_eq!(sshd.password_authentication, "yes");

    let mut settings = settings(root.path(), state.path());
    settings.hardening = Some(hardening.clone());
    let metrics = opsdeck::core::collectors::Sample::metrics(&probe(&settings));
    assert_eq!(value(&metrics, hardening::SSH_ROOT_LOGIN, None), 1.0);
    assert_eq!(value(&metrics, hardening::SSH_PASSWORD_AUTH, None), 1.0);
    let engine = RuleEngine::new(Config::default().effective_rules());
    assert_eq!(
        status(&engine, &metrics, hardening::SSH_ROOT_LOGIN, None),
        Status::Crit
    );

    // The same findings in the security scan's output.
    let scan = SecurityScanSettings {
        paths: Vec::new(),
        hardening: Some(security_scan::Hardening {
            settings: hardening.clone(),
            root: root.path().to_path_buf(),
            state_dir: state.path().to_path_buf(),
        }),
    };
    let (context, mut output) = context();
    let summary = security_scan::run(&scan, &context).await.unwrap();
    drop(context);
    let mut lines = Vec::new();
    while let Some(line) = output.recv().await {
        lines.push(line);
    }
    let config = root.path().join("etc/ssh/sshd_config");
    assert!(
        lines.contains(&format!(
            "WARN sshd: PermitRootLogin yes, root may log in with a password (set PermitRootLogin no in {})",
            config.display()
        )),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("WARN sshd: PasswordAuthentication yes")),
        "{lines:#?}"
    );
    assert!(
        summary.summary.ends_with(" from the hardening checks"),
        "{}",
        summary.summary
    );

    // Hardened: the settings sshd would really use, defaults included.
    sshd_config(
        root.path(),
        "PermitRootLogin no\nPasswordAuthentication no\n",
    );
    let report = hardening::probe(&hardening, root.path(), state.path());
    assert!(
        !report
            .findings()
            .iter()
            .any(|finding| finding.text.starts_with("sshd")),
        "{:#?}",
        report.findings()
    );
    let metrics = report.metrics();
    assert_eq!(value(&metrics, hardening::SSH_ROOT_LOGIN, None), 0.0);
    assert_eq!(value(&metrics, hardening::SSH_PASSWORD_AUTH, None), 0.0);

    // A config sshd rejects is a finding naming what it said, not a pass.
    sshd_config(root.path(), "PermitRootLogin sometimes\n");
    let error = hardening::sshd(&hardening, root.path())
        .unwrap()
        .unwrap_err();
    assert!(
        error.ends_with("sshd_config line 2: unsupported option \"sometimes\"."),
        "{error}"
    );
}

#[test]
fn an_nftables_ruleset_protects_the_host_only_with_an_input_filter() {
    let docker_only = "table ip nat {\n\tchain POSTROUTING {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tmasquerade\n\t}\n}\n\
table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n\
\tchain INPUT {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n";
    assert!(!hardening::nft_filters_input(docker_only));
    let dropping = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t}\n}\n";
    assert!(hardening::nft_filters_input(dropping));
    let with_rule = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 5432 drop\n\t}\n}\n";
    assert!(hardening::nft_filters_input(with_rule));
    assert!(!hardening::nft_filters_input(""));
}

#[test]
fn a_lynis_report_gives_its_index_and_the_warnings_new_since_the_previous_report() {
    let root = TempDir::new().unwrap();
    let state = TempDir::new().unwrap();
    let settings = HardeningSettings::default();
    let report_path = root.path().join("var/log/lynis-report.dat");
    assert_eq!(hardening::lynis(&settings, root.path(), state.path()), None);

    write(
        &report_path,
        &std::fs::read_to_string(fixture("lynis-report.dat")).unwrap(),
    );
    let (first, error) = hardening::lynis(&settings, root.path(), state.path())
        .unwrap()
        .unwrap();
    assert_eq!(error, None);
    assert_eq!(first.report.hardening_index, Some(64));
    assert_eq!(first.report.started, "2026-11-28 03:00:01");
    assert_eq!(
        first.report.warnings,
        [
            "AUTH-9286|No password set for single mode",
            "PKGS-7392|Found one or more vulnerable packages.",
            "FIRE-4512|iptables module(s) loaded, but no rules active"
        ]
    );
    assert_eq!(first.report.suggestions.len(), 5);
    assert_eq!(
        first.new_warnings,
        Vec::<String>::new(),
        "the first report is the baseline"
    );

    write(
        &report_path,
        &std::fs::read_to_string(fixture("lynis-report-next.dat")).unwrap(),
    );
    for _ in 0..2 {
        let (next, _) = hardening::lynis(&settings, root.path(), state.path())
            .unwrap()
            .unwrap();
        assert_eq!(next.report.hardening_index, Some(61));
        assert_eq!(
            next.new_warnings,
            ["SSH-7408|sshd option PermitRootLogin is not disabled"]
        );
    }
    let report = hardening::probe(&settings, root.path(), state.path());
    let metrics = report.metrics();
    assert_eq!(value(&metrics, hardening::LYNIS_INDEX, None), 61.0);
    assert_eq!(value(&metrics, hardening::LYNIS_WARNINGS, None), 4.0);
    assert_eq!(value(&metrics, hardening::LYNIS_NEW_WARNINGS, None), 1.0);
    assert_eq!(value(&metrics, hardening::LYNIS_SUGGESTIONS, None), 5.0);
    let lines: Vec<String> = report
        .findings()
        .iter()
        .map(|finding| finding.line())
        .collect();
    assert!(
        lines.contains(
            &"WARN lynis: SSH-7408|sshd option PermitRootLogin is not disabled (new since the previous report)"
                .to_owned()
        ),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"WARN lynis: AUTH-9286|No password set for single mode".to_owned()),
        "{lines:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// updates-apply through the CLI
// ---------------------------------------------------------------------------------------------

fn opsdeck(dir: &Path, args: &[&str]) -> Run {
    for sub in ["home", "config", "data", "state"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let config = dir.join("opsdeck.toml");
    std::fs::write(&config, "[exposure]\nupdates = true\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_opsdeck"));
    command.arg("--config").arg(&config).args(args);
    support::run::sandboxed(&mut command, dir, "oncall");
    Run::from(command.output().unwrap())
}

#[test]
fn updates_apply_plans_the_pending_packages_and_is_refused_read_only() {
    let dir = TempDir::new().unwrap();
    let pending = updates::simulate("apt-get").unwrap();

    let listed = opsdeck(dir.path(), &["tasks"]).ok();
    assert!(listed.stdout.contains("updates-apply"), "{}", listed.text());

    let plan = opsdeck(dir.path(), &["run", "updates-apply", "--dry-run"]).ok();
    let security = pending.iter().filter(|update| update.security).count();
    assert!(
        plan.stdout.contains(&format!(
            "{} package(s) to upgrade, {security} of them security updates",
            pending.len()
        )),
        "{}",
        plan.text()
    );
    for update in &pending {
        assert!(
            plan.stdout.contains(&format!("  {}", update.describe())),
            "{}",
            plan.text()
        );
    }

    let refused = opsdeck(
        dir.path(),
        &["--read-only", "run", "updates-apply", "--yes"],
    );
    refused.refused("read-only");
    let unconfirmed = opsdeck(dir.path(), &["run", "updates-apply"]);
    assert_eq!(unconfirmed.code, Some(2), "{}", unconfirmed.text());
    assert_eq!(
        updates::simulate("apt-get").unwrap(),
        pending,
        "nothing was upgraded"
    );
}

// ---------------------------------------------------------------------------------------------
// The console's runner
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_runner_judges_exposure_and_warns_about_what_it_cannot_read() {
    let root = TempDir::new().unwrap();
    let state = TempDir::new().unwrap();
    let key = root.path().join("etc/app/api.key");
    write(&key, "not to be read");
    set_mtime(&key, 85 * DAY);
    let config = Config::parse(
        "runner.toml",
        "[[secret]]\nname = \"api\"\nfile = \"/etc/app/api.key\"\n\n\
         [[secret]]\nname = \"lost\"\nfile = \"/etc/app/lost.key\"\n",
    )
    .unwrap();
    let mut exposure = settings(root.path(), state.path());
    exposure.secrets = config.secret_specs.clone();
    let mut runner = opsdeck::core::runner::spawn(
        opsdeck::core::runner::RunnerSettings {
            rules: config.effective_rules(),
            exposure: Some(exposure),
            ..opsdeck::core::runner::RunnerSettings::tasks_only(support::runner::no_tasks())
        },
        None,
    );
    let judged = support::runner::next(&mut runner, |event| match event {
        opsdeck::core::protocol::Event::Judged(evaluations)
            if evaluations
                .iter()
                .any(|evaluation| evaluation.metric.name == "secret.age_days") =>
        {
            Some(evaluations)
        }
        _ => None,
    })
    .await;
    assert_eq!(judged.len(), 1, "{judged:#?}");
    assert_eq!(judged[0].metric.instance.as_deref(), Some("api"));
    assert_eq!(judged[0].status, Status::Warn);
    let warning = support::runner::next(&mut runner, |event| match event {
        opsdeck::core::protocol::Event::Warning {
            source: "exposure",
            message,
        } => Some(message),
        _ => None,
    })
    .await;
    assert!(
        warning.starts_with("secret `lost`: cannot read the metadata of "),
        "{warning}"
    );
}

#[test]
fn a_configured_sshd_that_is_missing_is_named_and_an_absent_one_left_out() {
    let root = TempDir::new().unwrap();
    let missing = HardeningSettings {
        sshd: "/nonexistent/sshd".into(),
        ..HardeningSettings::default()
    };
    assert_eq!(
        hardening::sshd(&missing, root.path()),
        Some(Err(
            "`/nonexistent/sshd` was not found: install it with `apt-get install openssh-server` \
             or fix [exposure] sshd"
                .into()
        ))
    );
    let absent = HardeningSettings {
        sshd: "sshd-not-installed".into(),
        ..HardeningSettings::default()
    };
    assert_eq!(hardening::sshd(&absent, root.path()), None);
}
