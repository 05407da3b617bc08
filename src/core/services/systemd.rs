//! `systemd` checks: a unit's active and sub state through `systemctl show`; where systemd is
//! not running, the check says so.
//!
//! `systemctl show --property=ActiveState,SubState,LoadState --no-pager -- UNIT` runs like any
//! `command` check (no shell, bounded by the timeout, its process group killed after it). The
//! unit is up when its ActiveState is `active`; the detail is `active (running)`,
//! `failed (failed)`, `inactive (dead), masked`… A unit systemd does not know is
//! `unit X not found`. No `systemctl`, or one that cannot reach systemd (a container, a host
//! booted with another init), is `systemd not available on this host`.

use std::time::Duration;

use super::CheckOutcome;
use super::command::{self, RunFailure};
use crate::core::text::printable;

#[derive(Debug, Clone, PartialEq)]
pub struct SystemdCheck {
    pub unit: String,
}

/// The detail when there is no systemd to ask.
pub const NOT_AVAILABLE: &str = "systemd not available on this host";

/// What `systemctl` prints when there is no systemd (or no bus to reach it).
const NO_SYSTEMD_MARKERS: &[&str] = &[
    "System has not been booted with systemd",
    "Failed to connect to bus",
    "Failed to connect to system scope bus",
];

pub async fn check(check: &SystemdCheck, timeout: Duration) -> CheckOutcome {
    let unit = check.unit.trim();
    if unit.is_empty() {
        return CheckOutcome::failed("no unit given");
    }
    let argv: Vec<String> = [
        "systemctl",
        "show",
        "--property=ActiveState,SubState,LoadState",
        "--no-pager",
        "--",
        unit,
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect();
    match command::run(&argv, timeout).await {
        Ok(finished) => judge(unit, &finished.output, finished.status.success()),
        Err(RunFailure::NotFound(_)) => CheckOutcome::failed(NOT_AVAILABLE),
        Err(failure) => CheckOutcome::failed(format!("systemctl: {}", failure.describe(timeout))),
    }
}

/// The unit's states as `systemctl show` prints them (`Key=value` lines).
#[derive(Debug, Default, PartialEq)]
struct UnitState {
    load: Option<String>,
    active: Option<String>,
    sub: Option<String>,
}

impl UnitState {
    fn parse(output: &str) -> UnitState {
        let mut state = UnitState::default();
        for line in output.lines() {
            let Some((key, value)) = line.trim_end().split_once('=') else {
                continue;
            };
            let value = Some(value.trim().to_owned()).filter(|value| !value.is_empty());
            match key.trim() {
                "LoadState" => state.load = value,
                "ActiveState" => state.active = value,
                "SubState" => state.sub = value,
                _ => {}
            }
        }
        state
    }
}

/// The outcome for what `systemctl show` printed (stdout and stderr together) and whether it
/// exited with 0.
fn judge(unit: &str, output: &str, success: bool) -> CheckOutcome {
    if NO_SYSTEMD_MARKERS
        .iter()
        .any(|marker| output.contains(marker))
    {
        return CheckOutcome::failed(NOT_AVAILABLE);
    }
    let state = UnitState::parse(output);
    let Some(active) = state.active.as_deref().filter(|_| success) else {
        let reason = output
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.contains('='))
            .map(printable)
            .unwrap_or_else(|| "no ActiveState in its answer".to_owned());
        return CheckOutcome::failed(format!("systemctl show {}: {reason}", printable(unit)));
    };
    let load = state.load.as_deref().unwrap_or("loaded");
    if load == "not-found" {
        return CheckOutcome::failed(format!("unit {} not found", printable(unit)));
    }
    let mut detail = printable(active);
    if let Some(sub) = &state.sub {
        detail.push_str(&format!(" ({})", printable(sub)));
    }
    if load != "loaded" {
        // masked, error, bad-setting: worth seeing next to the state.
        detail.push_str(&format!(", {}", printable(load)));
    }
    CheckOutcome {
        ok: active == "active",
        latency: None,
        detail,
        metrics: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_unit_is_up() {
        let outcome = judge(
            "nginx",
            "ActiveState=active\nSubState=running\nLoadState=loaded\n",
            true,
        );
        assert!(outcome.ok);
        assert_eq!(outcome.detail, "active (running)");
        assert!(outcome.metrics.is_empty());
    }

    #[test]
    fn properties_come_in_any_order() {
        let outcome = judge(
            "backup.timer",
            "LoadState=loaded\nSubState=waiting\nActiveState=active\n",
            true,
        );
        assert!(outcome.ok);
        assert_eq!(outcome.detail, "active (waiting)");
    }

    #[test]
    fn failed_unit_is_down() {
        let outcome = judge(
            "nginx.service",
            "ActiveState=failed\nSubState=failed\nLoadState=loaded\n",
            true,
        );
        assert!(!outcome.ok);
        assert_eq!(outcome.detail, "failed (failed)");
    }

    #[test]
    fn activating_and_inactive_units_are_down() {
        let outcome = judge(
            "app",
            "ActiveState=activating\nSubState=auto-restart\nLoadState=loaded\n",
            true,
        );
        assert!(!outcome.ok);
        assert_eq!(outcome.detail, "activating (auto-restart)");
        let outcome = judge(
            "app",
            "ActiveState=inactive\nSubState=dead\nLoadState=loaded\n",
            true,
        );
        assert!(!outcome.ok);
        assert_eq!(outcome.detail, "inactive (dead)");
    }

    #[test]
    fn unknown_unit_is_not_found() {
        // What systemctl show prints (with exit status 0) for a unit it does not know.
        let outcome = judge(
            "nosuch.service",
            "ActiveState=inactive\nSubState=dead\nLoadState=not-found\n",
            true,
        );
        assert!(!outcome.ok);
        assert_eq!(outcome.detail, "unit nosuch.service not found");
    }

    #[test]
    fn masked_unit_says_so() {
        let outcome = judge(
            "apache2",
            "ActiveState=inactive\nSubState=dead\nLoadState=masked\n",
            true,
        );
        assert!(!outcome.ok);
        assert_eq!(outcome.detail, "inactive (dead), masked");
    }

    #[test]
    fn no_systemd_is_reported_as_such() {
        for output in [
            "System has not been booted with systemd as init system (PID 1). Can't operate.\n\
             Failed to connect to bus: Host is down\n",
            "Failed to connect to bus: No such file or directory\n",
            "Failed to connect to system scope bus via local transport: No such file or directory\n",
        ] {
            let outcome = judge("nginx", output, false);
            assert!(!outcome.ok);
            assert_eq!(outcome.detail, NOT_AVAILABLE);
        }
    }

    #[test]
    fn other_errors_are_quoted() {
        let outcome = judge(
            "bad\x1bname",
            "Failed to get properties: Unit name bad\x1bname is not valid.\n",
            false,
        );
        assert!(!outcome.ok);
        assert_eq!(
            outcome.detail,
            "systemctl show bad\\x1bname: Failed to get properties: Unit name bad\\x1bname is not valid."
        );
        let outcome = judge("x", "", true);
        assert_eq!(
            outcome.detail,
            "systemctl show x: no ActiveState in its answer"
        );
    }
}
