//! Hardening findings beyond file permissions: sshd's effective settings (`sshd -T`, which
//! resolves includes, defaults and Match-less overrides, so it is what the daemon would
//! really do), whether a firewall filters incoming traffic (`ufw status`, else the nftables
//! ruleset), and, where Lynis has run, its report's hardening index, warnings, suggestions
//! and the warnings that are new since the previous report (the previous set is kept in
//! `lynis-warnings.json` in the state directory).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Finding, load_state, optional_tool, run_tool, save_state, under};
use crate::core::model::{Metric, Unit};
use crate::core::sources::process::find_program;

const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
const LYNIS_STATE: &str = "lynis-warnings.json";

pub const SSH_ROOT_LOGIN: &str = "ssh.root_login";
pub const SSH_PASSWORD_AUTH: &str = "ssh.password_auth";
pub const FIREWALL_ACTIVE: &str = "firewall.active";
pub const LYNIS_INDEX: &str = "lynis.hardening_index";
pub const LYNIS_WARNINGS: &str = "lynis.warnings";
pub const LYNIS_NEW_WARNINGS: &str = "lynis.new_warnings";
pub const LYNIS_SUGGESTIONS: &str = "lynis.suggestions";

#[derive(Debug, Clone, PartialEq)]
pub struct HardeningSettings {
    /// `sshd`, or its full path; where `sshd` is not installed the sshd part is left out.
    pub sshd: String,
    /// The config `sshd -T -f` reads, as on the host (taken under the root).
    pub sshd_config: PathBuf,
    pub ufw: String,
    pub nft: String,
    /// As on the host (taken under the root); where it does not exist Lynis is left out.
    pub lynis_report: PathBuf,
}

impl Default for HardeningSettings {
    fn default() -> Self {
        HardeningSettings {
            sshd: "sshd".into(),
            sshd_config: "/etc/ssh/sshd_config".into(),
            ufw: "ufw".into(),
            nft: "nft".into(),
            lynis_report: "/var/log/lynis-report.dat".into(),
        }
    }
}

/// The two sshd settings the guides care about, as `sshd -T` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdSettings {
    pub config: PathBuf,
    /// `yes`, `no`, `prohibit-password`, `forced-commands-only`.
    pub permit_root_login: String,
    pub password_authentication: String,
}

impl SshdSettings {
    fn root_login_with_password(&self) -> bool {
        self.permit_root_login == "yes"
    }

    fn password_auth(&self) -> bool {
        self.password_authentication == "yes"
    }
}

/// Parses `sshd -T` output (lower-case `key value` lines).
pub fn parse_sshd(config: &Path, text: &str) -> Result<SshdSettings, String> {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
            .map(|value| value.trim().to_owned())
            .ok_or_else(|| format!("`sshd -T` printed no `{key}` line"))
    };
    Ok(SshdSettings {
        config: config.to_path_buf(),
        permit_root_login: value("permitrootlogin")?,
        password_authentication: value("passwordauthentication")?,
    })
}

/// `None` when sshd is not installed.
pub fn sshd(settings: &HardeningSettings, root: &Path) -> Option<Result<SshdSettings, String>> {
    let config = under(root, &settings.sshd_config);
    let config_arg = config.to_string_lossy();
    let output = optional_tool(&settings.sshd, "sshd")?.and_then(|program| {
        run_tool(
            &program.to_string_lossy(),
            &["-T", "-f", &config_arg],
            TOOL_TIMEOUT,
        )
        .and_then(|output| output.success(&settings.sshd))
    });
    Some(output.and_then(|text| parse_sshd(&config, &text)))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallState {
    /// `ufw` or `nftables`.
    pub tool: &'static str,
    pub active: bool,
}

/// ufw where installed, else nftables; neither installed is an error naming both.
pub fn firewall(settings: &HardeningSettings) -> Result<FirewallState, String> {
    if let Some(ufw) = find_program(&settings.ufw) {
        let text =
            run_tool(&ufw.to_string_lossy(), &["status"], TOOL_TIMEOUT)?.success(&settings.ufw)?;
        return Ok(FirewallState {
            tool: "ufw",
            active: text.lines().any(|line| line.trim() == "Status: active"),
        });
    }
    if let Some(nft) = find_program(&settings.nft) {
        let text = run_tool(&nft.to_string_lossy(), &["list", "ruleset"], TOOL_TIMEOUT)?
            .success(&settings.nft)?;
        return Ok(FirewallState {
            tool: "nftables",
            active: nft_filters_input(&text),
        });
    }
    Err(format!(
        "no firewall tool found: neither `{}` nor `{}` is installed (apt-get install ufw or nftables)",
        settings.ufw, settings.nft
    ))
}

/// Whether some chain hooked at `input` filters: a drop policy or at least one rule. Tables
/// that only NAT or forward (Docker's) do not protect the host itself.
pub fn nft_filters_input(ruleset: &str) -> bool {
    let mut in_input = false;
    for line in ruleset.lines().map(str::trim) {
        if line.starts_with("chain ") {
            in_input = false;
        } else if line.starts_with("type ") && line.contains(" hook input ") {
            in_input = true;
            if line.contains("policy drop") {
                return true;
            }
        } else if in_input && !line.is_empty() && line != "}" && !line.starts_with('#') {
            return true;
        }
    }
    false
}

/// The parts of a Lynis report opsdeck shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LynisReport {
    pub path: PathBuf,
    /// `report_datetime_start`, which tells one run from the next.
    pub started: String,
    pub hardening_index: Option<u32>,
    /// `TEST-ID|text`, in the report's order.
    pub warnings: Vec<String>,
    pub suggestions: Vec<String>,
}

/// Parses `lynis-report.dat` (`key=value` lines, `key[]=` for lists, `#` comments).
pub fn parse_lynis(path: &Path, text: &str) -> LynisReport {
    let mut report = LynisReport {
        path: path.to_path_buf(),
        started: String::new(),
        hardening_index: None,
        warnings: Vec::new(),
        suggestions: Vec::new(),
    };
    // `TEST-ID|text|details|solution|`: the first two fields identify a warning.
    let entry = |value: &str| value.split('|').take(2).collect::<Vec<_>>().join("|");
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "report_datetime_start" => report.started = value.to_owned(),
            "hardening_index" => report.hardening_index = value.trim().parse().ok(),
            "warning[]" => report.warnings.push(entry(value)),
            "suggestion[]" => report.suggestions.push(entry(value)),
            _ => {}
        }
    }
    report
}

/// The warnings of the last report seen and of the one before it.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct LynisState {
    started: String,
    warnings: BTreeSet<String>,
    previous: Option<BTreeSet<String>>,
}

/// The report's warnings that the previous report did not have. The first report seen is the
/// baseline (nothing is new); seeing the same report again changes nothing.
pub fn new_warnings(report: &LynisReport, state_dir: &Path) -> (Vec<String>, Option<String>) {
    let file = state_dir.join(LYNIS_STATE);
    let stored: LynisState = load_state(&file);
    let current: BTreeSet<String> = report.warnings.iter().cloned().collect();
    let unchanged = stored.started == report.started && stored.warnings == current;
    let state = if unchanged {
        stored
    } else {
        let previous = (!stored.started.is_empty()).then_some(stored.warnings);
        LynisState {
            started: report.started.clone(),
            warnings: current,
            previous,
        }
    };
    let new = state.previous.as_ref().map_or_else(Vec::new, |previous| {
        report
            .warnings
            .iter()
            .filter(|warning| !previous.contains(*warning))
            .cloned()
            .collect()
    });
    let error = (!unchanged)
        .then(|| save_state(&file, &state).err())
        .flatten();
    (new, error)
}

#[derive(Debug, Clone, PartialEq)]
pub struct LynisFindings {
    pub report: LynisReport,
    pub new_warnings: Vec<String>,
}

/// `None` when there is no report (Lynis not installed or never run).
pub fn lynis(
    settings: &HardeningSettings,
    root: &Path,
    state_dir: &Path,
) -> Option<Result<(LynisFindings, Option<String>), String>> {
    let path = under(root, &settings.lynis_report);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => return Some(Err(format!("cannot read {}: {error}", path.display()))),
    };
    let report = parse_lynis(&path, &text);
    let (new_warnings, error) = new_warnings(&report, state_dir);
    Some(Ok((
        LynisFindings {
            report,
            new_warnings,
        },
        error,
    )))
}

#[derive(Debug, Clone, PartialEq)]
pub struct HardeningReport {
    /// `None` where sshd is not installed.
    pub sshd: Option<Result<SshdSettings, String>>,
    pub firewall: Result<FirewallState, String>,
    /// `None` where there is no Lynis report.
    pub lynis: Option<Result<LynisFindings, String>>,
    pub state_error: Option<String>,
}

pub fn probe(settings: &HardeningSettings, root: &Path, state_dir: &Path) -> HardeningReport {
    let (lynis, state_error) = match lynis(settings, root, state_dir) {
        None => (None, None),
        Some(Err(error)) => (Some(Err(error)), None),
        Some(Ok((findings, error))) => (Some(Ok(findings)), error),
    };
    HardeningReport {
        sshd: sshd(settings, root),
        firewall: firewall(settings),
        lynis,
        state_error,
    }
}

impl HardeningReport {
    pub fn errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(Err(error)) = &self.sshd {
            errors.push(format!("sshd settings: {error}"));
        }
        if let Err(error) = &self.firewall {
            errors.push(format!("firewall: {error}"));
        }
        if let Some(Err(error)) = &self.lynis {
            errors.push(format!("lynis: {error}"));
        }
        errors.extend(self.state_error.clone());
        errors
    }

    pub fn metrics(&self) -> Vec<Metric> {
        let flag = |name, on: bool| Metric::new(name, f64::from(u8::from(on)), Unit::Count);
        let mut metrics = Vec::new();
        if let Some(Ok(sshd)) = &self.sshd {
            metrics.push(flag(SSH_ROOT_LOGIN, sshd.root_login_with_password()));
            metrics.push(flag(SSH_PASSWORD_AUTH, sshd.password_auth()));
        }
        if let Ok(firewall) = &self.firewall {
            metrics.push(flag(FIREWALL_ACTIVE, firewall.active));
        }
        if let Some(Ok(lynis)) = &self.lynis {
            let count = |items: usize| items as f64;
            if let Some(index) = lynis.report.hardening_index {
                metrics.push(Metric::new(LYNIS_INDEX, f64::from(index), Unit::Count));
            }
            metrics.push(Metric::new(
                LYNIS_WARNINGS,
                count(lynis.report.warnings.len()),
                Unit::Count,
            ));
            metrics.push(Metric::new(
                LYNIS_NEW_WARNINGS,
                count(lynis.new_warnings.len()),
                Unit::Count,
            ));
            metrics.push(Metric::new(
                LYNIS_SUGGESTIONS,
                count(lynis.report.suggestions.len()),
                Unit::Count,
            ));
        }
        metrics
    }

    /// The findings as the security scan prints them, each with its fix; parts that could
    /// not be read are findings too, since an unknown state is not a safe one.
    pub fn findings(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        match &self.sshd {
            Some(Ok(sshd)) => {
                let config = crate::core::text::printable_path(&sshd.config);
                if sshd.root_login_with_password() {
                    findings.push(Finding::warn(format!(
                        "sshd: PermitRootLogin yes, root may log in with a password (set PermitRootLogin no in {config})"
                    )));
                }
                if sshd.password_auth() {
                    findings.push(Finding::warn(format!(
                        "sshd: PasswordAuthentication yes (use keys: set PasswordAuthentication no in {config})"
                    )));
                }
            }
            Some(Err(error)) => findings.push(Finding::warn(format!(
                "sshd: effective settings unknown: {error}"
            ))),
            None => {}
        }
        match &self.firewall {
            Ok(firewall) if !firewall.active => findings.push(Finding::warn(format!(
                "firewall: {} does not filter incoming traffic (ufw enable, or an nftables input chain)",
                firewall.tool
            ))),
            Ok(_) => {}
            Err(error) => findings.push(Finding::warn(format!("firewall: {error}"))),
        }
        match &self.lynis {
            Some(Ok(lynis)) => {
                let path = crate::core::text::printable_path(&lynis.report.path);
                findings.push(Finding {
                    level: crate::core::model::Status::Ok,
                    text: format!(
                        "lynis: hardening index {}, {} warning(s), {} suggestion(s) in {path} ({})",
                        lynis
                            .report
                            .hardening_index
                            .map_or_else(|| "unknown".to_owned(), |index| index.to_string()),
                        lynis.report.warnings.len(),
                        lynis.report.suggestions.len(),
                        lynis.report.started
                    ),
                });
                for warning in &lynis.report.warnings {
                    let new = if lynis.new_warnings.contains(warning) {
                        " (new since the previous report)"
                    } else {
                        ""
                    };
                    findings.push(Finding::warn(format!(
                        "lynis: {}{new}",
                        crate::core::text::printable(warning)
                    )));
                }
            }
            Some(Err(error)) => findings.push(Finding::warn(format!("lynis: {error}"))),
            None => {}
        }
        findings
    }
}
