//! Service configuration mistakes through the real binary: each names the file, line and
//! column, says what is wrong and how to fix it, and exits non-zero.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/services")
        .join(name)
}

fn config_check(name: &str) -> (Option<i32>, String, String) {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_opsdeck"))
        .args(["config", "check"])
        .arg(fixture(name))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_error(name: &str, line: usize, column: usize, message: &str, fix: &str) {
    let (code, _, stderr) = config_check(name);
    assert_eq!(code, Some(1), "{stderr}");
    let place = format!("{}:{line}:{column}: ", fixture(name).display());
    assert!(stderr.contains(&place), "expected {place} in\n{stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("  fix: {fix}")),
        "expected fix {fix:?} in\n{stderr}"
    );
}

#[test]
fn an_unknown_kind_is_named_with_the_nearest_kind() {
    assert_error(
        "unknown-kind.toml",
        4,
        8,
        "unknown variant `htttp`",
        "did you mean `http`?",
    );
}

#[test]
fn a_malformed_url_points_at_the_url() {
    assert_error(
        "malformed-url.toml",
        5,
        7,
        "malformed URL `http//127.0.0.1/health`",
        "write a full URL",
    );
}

#[test]
fn a_negative_interval_is_refused() {
    assert_error(
        "negative-interval.toml",
        6,
        12,
        "invalid duration \"-30s\"",
        "write it like 500ms",
    );
}

#[test]
fn a_container_service_needs_the_container_name() {
    assert_error(
        "container-without-name.toml",
        2,
        1,
        "service `web` (container) needs `container`",
        "add container = \"web-1\"",
    );
}

#[test]
fn a_tls_service_needs_a_target() {
    assert_error(
        "tls-without-target.toml",
        2,
        1,
        "needs exactly one of `address` and `cert_file`",
        "add address =",
    );
}

#[test]
fn every_kind_with_its_fields_is_accepted() {
    let (code, stdout, stderr) = config_check("valid-all-kinds.toml");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // Only the verdict: nothing from the file (its Slack webhook token included) is echoed.
    assert_eq!(
        stdout,
        format!("{}: ok\n", fixture("valid-all-kinds.toml").display())
    );
    assert_eq!(stderr, "");
}
