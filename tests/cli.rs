//! The command line without a terminal: `--help`, `--version`, `check`, `config default`,
//! `config check` against the fixtures in `tests/fixtures/`, and the console's refusal to start
//! without one.
//!
//! Every run gets its own XDG config, data and state directories (and HOME) inside a temporary
//! directory, so the real home is never read or written, and a failed run can be checked for
//! having left no file behind.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");
/// No run of the binary may take longer than this; `check` itself needs about half a second.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Rules that turn every built-in rule off, so that the status of `check` depends only on the
/// rules a test adds, not on how busy the machine running the tests is.
/// (`warn = 1` is only there because a disabled rule without limits is rejected; see
/// `a_disabled_rule_needs_no_limits`.)
const BUILTIN_RULES_OFF: &str = r#"
[[rule]]
metric = "cpu.used_pct"
enabled = false
warn = 1

[[rule]]
metric = "memory.used_pct"
enabled = false
warn = 1

[[rule]]
metric = "disk.used_pct"
enabled = false
warn = 1
"#;

fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(path.is_file(), "missing fixture {}", path.display());
    path
}

/// A temporary home with empty XDG directories.
struct Sandbox {
    dir: TempDir,
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn describe(&self) -> String {
        format!(
            "exit code {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("opsdeck-cli-")
            .tempdir()
            .expect("create a temporary directory");
        for sub in ["home", "config", "data", "state"] {
            std::fs::create_dir(dir.path().join(sub)).expect("create a sandbox directory");
        }
        Sandbox { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Writes `text` to a file in the sandbox (outside the XDG directories) and returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a config file");
        path
    }

    fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env_remove("NO_COLOR")
            .env_remove("OPSDECK_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs opsdeck with `args` and waits (bounded) for it to finish.
    fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = self.command();
        command.args(args);
        run_bounded(command)
    }

    /// Every file and directory under the XDG directories and HOME.
    fn touched(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for sub in ["home", "config", "data", "state"] {
            collect(&self.path(sub), &mut found);
        }
        found
    }

    fn assert_untouched(&self, what: &str) {
        let touched = self.touched();
        assert!(
            touched.is_empty(),
            "{what}: a failed run must not create files, but these appeared: {touched:?}"
        );
    }
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        found.push(path.clone());
        if path.is_dir() {
            collect(&path, found);
        }
    }
}

fn run_bounded(mut command: Command) -> Output {
    let mut child = command.spawn().expect("spawn opsdeck");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_reader = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for opsdeck") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("opsdeck {command:?} did not finish within {RUN_TIMEOUT:?}");
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    Output {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

// ---------------------------------------------------------------------------------------------
// --help, --version, argument errors
// ---------------------------------------------------------------------------------------------

#[test]
fn help_lists_the_subcommands_and_examples() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["--help"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for wanted in [
        "Usage: opsdeck",
        "check",
        "config",
        "Examples:",
        "opsdeck check --format json",
        "--config <FILE>",
        "--theme <NAME>",
        "--read-only",
        "--state <FILE>",
    ] {
        assert!(
            out.stdout.contains(wanted),
            "--help lacks {wanted:?}\n{}",
            out.describe()
        );
    }
    sandbox.assert_untouched("--help");
}

#[test]
fn version_is_the_one_in_cargo_toml() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["--version"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        format!("opsdeck {}", env!("CARGO_PKG_VERSION"))
    );
    sandbox.assert_untouched("--version");
}

#[test]
fn check_only_rejects_an_unknown_group_and_lists_the_valid_ones() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["check", "--only", "nonsense"]);
    assert_eq!(
        out.code,
        Some(2),
        "clap usage errors exit 2\n{}",
        out.describe()
    );
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(
        out.stderr.contains("invalid value 'nonsense'"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr
            .contains("[possible values: resources, services, incidents, logs, exposure, tasks]"),
        "{}",
        out.describe()
    );
    sandbox.assert_untouched("check --only nonsense");
}

#[test]
fn check_format_rejects_an_unknown_format() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["check", "--format", "yaml"]);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("text"), "{}", out.describe());
    assert!(out.stderr.contains("json"), "{}", out.describe());
}

// ---------------------------------------------------------------------------------------------
// opsdeck check
// ---------------------------------------------------------------------------------------------

fn exit_code_for(status: &str) -> i32 {
    match status {
        "ok" => 0,
        "warn" => 1,
        "crit" => 2,
        "unknown" => 3,
        other => panic!("unexpected status {other:?}"),
    }
}

/// Runs `check --format json` and checks the report's shape and that the exit code matches its
/// status.
fn check_json(sandbox: &Sandbox, extra: &[&str]) -> (Value, Output) {
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    let out = sandbox.run(&args);
    let report: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|error| {
        panic!(
            "check --format json is not JSON: {error}\n{}",
            out.describe()
        )
    });
    assert!(report["host"].is_string(), "host: {report}");
    let taken_at = report["taken_at"].as_str().expect("taken_at is a string");
    assert!(
        chrono::DateTime::parse_from_rfc3339(taken_at).is_ok(),
        "taken_at {taken_at:?} is not RFC 3339"
    );
    let status = report["status"].as_str().expect("status is a string");
    assert_eq!(
        out.code,
        Some(exit_code_for(status)),
        "exit code must follow the status\n{}",
        out.describe()
    );
    let checks = report["checks"].as_array().expect("checks is an array");
    assert!(!checks.is_empty(), "no checks: {report}");
    let mut worst = "ok";
    let rank = |status: &str| {
        ["ok", "unknown", "warn", "crit"]
            .iter()
            .position(|s| *s == status)
    };
    for check in checks {
        for field in [
            "id", "status", "value", "display", "op", "warn", "crit", "detail",
        ] {
            assert!(check.get(field).is_some(), "check lacks {field}: {check}");
        }
        assert!(check["id"].is_string(), "{check}");
        assert!(check["display"].is_string(), "{check}");
        let line_status = check["status"].as_str().expect("check status is a string");
        assert!(rank(line_status).is_some(), "bad status in {check}");
        if rank(line_status) > rank(worst) {
            worst = line_status;
        }
    }
    assert_eq!(
        status, worst,
        "overall status is the worst check's: {report}"
    );
    (report, out)
}

fn find_check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

#[test]
fn check_json_with_the_defaults_maps_status_to_exit_code() {
    let sandbox = Sandbox::new();
    let (report, _) = check_json(&sandbox, &[]);
    for id in [
        "cpu.used_pct",
        "memory.used_pct",
        "processes.count",
        "uptime.seconds",
    ] {
        find_check(&report, id);
    }
    let cpu = find_check(&report, "cpu.used_pct");
    assert_eq!(cpu["op"], ">");
    assert_eq!(cpu["warn"], 80.0);
    assert_eq!(cpu["crit"], 90.0);
    let (report, _) = check_json(&sandbox, &["--only", "resources"]);
    find_check(&report, "processes.count");
    sandbox.assert_untouched("check uses no state");
}

#[test]
fn check_text_report_matches_the_exit_code() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["check"]);
    let last = out.stdout.lines().last().unwrap_or_default().to_owned();
    let label = last
        .strip_prefix("overall: ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no overall line\n{}", out.describe()));
    assert_eq!(
        out.code,
        Some(exit_code_for(&label.to_ascii_lowercase())),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("processes.count"), "{}", out.describe());
}

#[test]
fn check_with_a_crit_rule_exits_2() {
    let sandbox = Sandbox::new();
    // processes.count is always above 1 (this test and opsdeck are two processes).
    let config = sandbox.write(
        "crit.toml",
        "[[rule]]\nmetric = \"processes.count\"\nop = \">\"\nwarn = 0\ncrit = 1\n",
    );
    let (report, out) = check_json(&sandbox, &["--config", config.to_str().unwrap()]);
    assert_eq!(report["status"], "crit", "{}", out.describe());
    assert_eq!(out.code, Some(2));
    let line = find_check(&report, "processes.count");
    assert_eq!(line["status"], "crit");
    assert_eq!(line["op"], ">");
    assert_eq!(line["warn"], 0.0);
    assert_eq!(line["crit"], 1.0);
    assert!(line["value"].as_f64().unwrap() > 1.0, "{line}");

    // The same with the built-in rules off, so nothing else can decide the status.
    let config = sandbox.write(
        "crit-only.toml",
        &format!(
            "{BUILTIN_RULES_OFF}\n[[rule]]\nmetric = \"processes.count\"\nop = \">\"\nwarn = 0\ncrit = 1\n"
        ),
    );
    let (report, _) = check_json(&sandbox, &["--config", config.to_str().unwrap()]);
    assert_eq!(report["status"], "crit");
    let text = sandbox.run(["check", "--config", config.to_str().unwrap()]);
    assert_eq!(text.code, Some(2), "{}", text.describe());
    assert!(
        text.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("overall: CRIT (1 crit, 0 warn"),
        "{}",
        text.describe()
    );
    sandbox.assert_untouched("check with --config");
}

#[test]
fn check_with_a_warn_rule_exits_1() {
    let sandbox = Sandbox::new();
    let config = sandbox.write(
        "warn.toml",
        &format!("{BUILTIN_RULES_OFF}\n[[rule]]\nmetric = \"processes.count\"\nwarn = 1\n"),
    );
    let (report, out) = check_json(&sandbox, &["--config", config.to_str().unwrap()]);
    assert_eq!(report["status"], "warn", "{}", out.describe());
    assert_eq!(out.code, Some(1));
    let line = find_check(&report, "processes.count");
    assert_eq!(line["status"], "warn");
    assert_eq!(line["crit"], Value::Null);
}

#[test]
fn check_with_all_rules_off_is_ok() {
    let sandbox = Sandbox::new();
    let config = sandbox.write("quiet.toml", BUILTIN_RULES_OFF);
    let (report, out) = check_json(&sandbox, &["--config", config.to_str().unwrap()]);
    assert_eq!(report["status"], "ok", "{}", out.describe());
    assert_eq!(out.code, Some(0));
}

/// A single pass has no history: one failed check is down (and `service.up` critical) even
/// with `down_after = 3`, where the console would wait for three failures in a row.
#[test]
fn check_counts_one_failed_service_check_as_down() {
    let sandbox = Sandbox::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = sandbox.write(
        "refused.toml",
        &format!(
            "[[service]]\nname = \"gone\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{port}\"\ndown_after = 3\n"
        ),
    );
    let (report, out) = check_json(
        &sandbox,
        &["--config", config.to_str().unwrap(), "--only", "services"],
    );
    let line = find_check(&report, "service:gone");
    assert_eq!(line["status"], "crit", "{}", out.describe());
    assert_eq!(line["metric"], "service.up", "{line}");
    assert_eq!(line["value"], 0.0, "{line}");
    assert_eq!(out.code, Some(2));
}

#[test]
fn check_reports_a_missing_filesystem_as_unknown() {
    let sandbox = Sandbox::new();
    let missing = "[resources]\nfilesystems = [\"/definitely/missing\"]\n";
    let config = sandbox.write("missing-fs.toml", &format!("{missing}{BUILTIN_RULES_OFF}"));
    let (report, out) = check_json(&sandbox, &["--config", config.to_str().unwrap()]);
    let line = find_check(&report, "disk.used_pct:/definitely/missing");
    assert_eq!(line["status"], "unknown", "{line}");
    assert_eq!(line["value"], Value::Null);
    assert!(line["detail"].is_string(), "the reason is given: {line}");
    assert_eq!(report["status"], "unknown", "{}", out.describe());
    assert_eq!(out.code, Some(3));

    // With the built-in rules the status can be worse than unknown, but never better.
    let config = sandbox.write("missing-fs-defaults.toml", missing);
    let (report, _) = check_json(&sandbox, &["--config", config.to_str().unwrap()]);
    assert_eq!(
        find_check(&report, "disk.used_pct:/definitely/missing")["status"],
        "unknown"
    );
    assert_ne!(report["status"], "ok");
}

#[test]
fn check_reads_the_config_file_in_xdg_config_home() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("config").join("opsdeck");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("{BUILTIN_RULES_OFF}\n[[rule]]\nmetric = \"processes.count\"\nwarn = 1\n"),
    )
    .unwrap();
    let (report, _) = check_json(&sandbox, &[]);
    assert_eq!(report["status"], "warn");
}

#[test]
fn check_with_a_missing_config_file_is_unknown_and_names_it() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path("nope.toml");
    let out = sandbox.run(["check", "--config", missing.to_str().unwrap()]);
    assert_eq!(
        out.code,
        Some(3),
        "config errors are Nagios unknown\n{}",
        out.describe()
    );
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("{}: cannot read the file", missing.display())),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("\n  fix: "), "{}", out.describe());
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    sandbox.assert_untouched("check --config missing");
}

// ---------------------------------------------------------------------------------------------
// opsdeck config default / config check
// ---------------------------------------------------------------------------------------------

#[test]
fn config_default_passes_config_check() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["config", "default"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for section in ["[general]", "[store]", "[resources]", "[[rule]]", "[keys]"] {
        assert!(
            out.stdout.contains(section),
            "default config lacks {section}"
        );
    }
    let saved = sandbox.write("default.toml", &out.stdout);
    let checked = sandbox.run(["config", "check", saved.to_str().unwrap()]);
    assert_eq!(checked.code, Some(0), "{}", checked.describe());
    assert_eq!(checked.stdout, format!("{}: ok\n", saved.display()));
    assert!(checked.stderr.is_empty(), "{}", checked.describe());

    // And it means the same as no file at all.
    let (with_file, _) = check_json(&sandbox, &["--config", saved.to_str().unwrap()]);
    let ids = |report: &Value| -> Vec<(String, Value, Value)> {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|check| !check["op"].is_null())
            .map(|check| {
                (
                    check["id"].as_str().unwrap().to_owned(),
                    check["warn"].clone(),
                    check["crit"].clone(),
                )
            })
            .collect()
    };
    let (without, _) = check_json(&sandbox, &[]);
    let mut a = ids(&with_file);
    let mut b = ids(&without);
    // Network interfaces or filesystems can come and go between runs; compare rule limits.
    a.retain(|(id, ..)| !id.contains(':'));
    b.retain(|(id, ..)| !id.contains(':'));
    assert_eq!(a, b);
    sandbox.assert_untouched("config default / check");
}

#[test]
fn config_check_accepts_the_valid_fixtures() {
    let sandbox = Sandbox::new();
    for name in ["valid-full.toml", "valid-minimal.toml"] {
        let file = fixture(name);
        let out = sandbox.run(["config".as_ref(), "check".as_ref(), file.as_os_str()]);
        assert_eq!(out.code, Some(0), "{name}\n{}", out.describe());
        assert_eq!(out.stdout, format!("{}: ok\n", file.display()), "{name}");
        assert!(out.stderr.is_empty(), "{name}\n{}", out.describe());
    }
    // The global --config is used when no FILE is given.
    let file = fixture("valid-minimal.toml");
    let out = sandbox.run([
        "--config".as_ref(),
        file.as_os_str(),
        "config".as_ref(),
        "check".as_ref(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, format!("{}: ok\n", file.display()));
    sandbox.assert_untouched("config check of valid files");
}

#[test]
fn the_full_fixture_is_used_by_check() {
    let sandbox = Sandbox::new();
    let file = fixture("valid-full.toml");
    let (report, _) = check_json(&sandbox, &["--config", file.to_str().unwrap()]);
    let cpu = find_check(&report, "cpu.used_pct");
    assert_eq!(
        (cpu["warn"].clone(), cpu["crit"].clone()),
        (70.0.into(), 95.0.into())
    );
    let free = find_check(&report, "disk.free_bytes:/");
    assert_eq!(free["op"], "<");
    assert_eq!(free["warn"], Value::Null);
    let disk = find_check(&report, "disk.used_pct:/");
    assert_eq!(disk["op"], ">=");
    let memory = find_check(&report, "memory.used_pct");
    assert_eq!(
        memory["op"],
        Value::Null,
        "the memory rule is disabled: {memory}"
    );
    sandbox.assert_untouched("check with valid-full.toml");
}

#[test]
fn config_check_without_a_file_reports_the_defaults() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["config", "check"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let expected = sandbox.path("config").join("opsdeck").join("config.toml");
    assert!(
        out.stdout
            .starts_with(&format!("{}: no such file", expected.display())),
        "{}",
        out.describe()
    );
    sandbox.assert_untouched("config check without a file");

    std::fs::create_dir(expected.parent().unwrap()).unwrap();
    std::fs::copy(fixture("valid-full.toml"), &expected).unwrap();
    let out = sandbox.run(["config", "check"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout, format!("{}: ok\n", expected.display()));
}

#[test]
fn config_check_warns_about_a_key_bound_twice() {
    let sandbox = Sandbox::new();
    let file = fixture("conflicting-keys.toml");
    let out = sandbox.run(["config".as_ref(), "check".as_ref(), file.as_os_str()]);
    assert_eq!(
        out.code,
        Some(0),
        "a conflict is a warning\n{}",
        out.describe()
    );
    assert_eq!(out.stdout, format!("{}: ok\n", file.display()));
    assert!(
        out.stderr.contains(&format!(
            "{}: warning: key q is bound to both `quit` and `refresh`",
            file.display()
        )),
        "{}",
        out.describe()
    );
}

#[test]
fn config_check_of_a_missing_file_names_it() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path("missing.toml");
    let out = sandbox.run(["config", "check", missing.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("{}: cannot read the file", missing.display())),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("\n  fix: "), "{}", out.describe());
    sandbox.assert_untouched("config check of a missing file");
}

/// One invalid fixture: where `config check` must point, and what it must say.
struct Invalid {
    file: &'static str,
    line: usize,
    column: usize,
    /// Part of the message on the first line.
    message: &'static str,
    /// The suggestion, on the message line or the `fix:` line.
    suggestion: Option<&'static str>,
}

/// Positions computed by hand from the fixtures (1-based; columns count characters).
const INVALID: &[Invalid] = &[
    // line 3: `environment = "PROD` is 19 characters; the closing quote is missing at column 20.
    Invalid {
        file: "bad-syntax.toml",
        line: 3,
        column: 20,
        message: "invalid basic string",
        suggestion: None,
    },
    // line 4: `read_only = ` is 12 characters; the value starts at column 13.
    Invalid {
        file: "bad-type.toml",
        line: 4,
        column: 13,
        message: "invalid type: string \"yes\", expected a boolean",
        suggestion: None,
    },
    // line 4: the misspelt key itself.
    Invalid {
        file: "unknown-key.toml",
        line: 4,
        column: 1,
        message: "unknown field `intervall`",
        suggestion: Some("did you mean `interval`?"),
    },
    // line 5: `[resorces]`, the name starts after the bracket.
    Invalid {
        file: "unknown-section.toml",
        line: 5,
        column: 2,
        message: "unknown field `resorces`",
        suggestion: Some("did you mean `resources`?"),
    },
    // line 3: `interval = ` is 11 characters.
    Invalid {
        file: "bad-duration.toml",
        line: 3,
        column: 12,
        message: "invalid duration \"fast\"",
        suggestion: Some("500ms, 30s, 5m or 1h"),
    },
    // line 7 (the second rule): `metric = ` is 9 characters.
    Invalid {
        file: "bad-metric.toml",
        line: 7,
        column: 10,
        message: "unknown metric `cpu.usedpct`",
        suggestion: Some("did you mean `cpu.used_pct`?"),
    },
    // line 4: `quit = ` is 7 characters.
    Invalid {
        file: "bad-key.toml",
        line: 4,
        column: 8,
        message: "unknown key `hyper-q`",
        suggestion: Some("ctrl-, alt- or shift-"),
    },
    // line 3: the action name.
    Invalid {
        file: "unknown-action.toml",
        line: 3,
        column: 1,
        message: "unknown variant `qiut`",
        suggestion: Some("did you mean `quit`?"),
    },
    // line 5: the `[[rule]]` header of the rule.
    Invalid {
        file: "rule-without-limits.toml",
        line: 5,
        column: 1,
        message: "rule for `load.1m` has neither `warn` nor `crit`",
        suggestion: Some("add `warn = …` and/or `crit = …`"),
    },
    // line 3: `url = ` is 6 characters.
    Invalid {
        file: "bad-store-url.toml",
        line: 3,
        column: 7,
        message: "unsupported store URL `mysql://x`",
        suggestion: Some("sqlite:///path/to/state.db or postgres://"),
    },
    // line 3: `listen = ` is 9 characters.
    Invalid {
        file: "bad-listen.toml",
        line: 3,
        column: 10,
        message: "`localhost:9464` is not an address to listen on",
        suggestion: Some("listen = \"127.0.0.1:9464\""),
    },
];

/// The theme is checked after parsing, and its error still names its place in the file.
const BAD_THEME: Invalid = Invalid {
    // line 3: `theme = ` is 8 characters.
    file: "bad-theme-name.toml",
    line: 3,
    column: 9,
    message: "unknown theme `drak`",
    suggestion: Some("did you mean `dark`?"),
};

fn assert_config_error(out: &Output, case: &Invalid, path: &Path, check_position: bool) {
    let context = format!("{}\n{}", case.file, out.describe());
    assert!(!out.stderr.contains("panicked"), "{context}");
    let first = out.stderr.lines().next().unwrap_or_default();
    if check_position {
        let prefix = format!("{}:{}:{}: ", path.display(), case.line, case.column);
        assert!(
            first.starts_with(&format!("opsdeck: {prefix}")),
            "the location starts the message\n{context}"
        );
    }
    assert!(
        first.contains(case.message),
        "message {:?}\n{context}",
        case.message
    );
    if let Some(suggestion) = case.suggestion {
        assert!(
            out.stderr.contains(suggestion),
            "suggestion {suggestion:?}\n{context}"
        );
    }
    let fix_lines = out
        .stderr
        .lines()
        .filter(|line| line.starts_with("  fix: "))
        .count();
    assert!(fix_lines <= 1, "at most one fix line\n{context}");
    assert_eq!(
        out.stderr
            .lines()
            .filter(|line| line.starts_with("opsdeck: "))
            .count(),
        1,
        "exactly one error\n{context}"
    );
}

#[test]
fn config_check_points_at_each_mistake() {
    let sandbox = Sandbox::new();
    for case in INVALID {
        let path = fixture(case.file);
        let out = sandbox.run(["config".as_ref(), "check".as_ref(), path.as_os_str()]);
        assert_eq!(out.code, Some(1), "{}\n{}", case.file, out.describe());
        assert!(out.stdout.is_empty(), "{}\n{}", case.file, out.describe());
        assert_config_error(&out, case, &path, true);
        sandbox.assert_untouched(case.file);
    }
}

#[test]
fn config_check_suggests_a_theme_for_a_misspelt_one() {
    let sandbox = Sandbox::new();
    let path = fixture(BAD_THEME.file);
    let out = sandbox.run(["config".as_ref(), "check".as_ref(), path.as_os_str()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert_config_error(&out, &BAD_THEME, &path, true);
    assert!(out.stderr.contains("\n  fix: "), "{}", out.describe());
    sandbox.assert_untouched(BAD_THEME.file);
}

/// An unknown theme is reported at FILE:LINE:COL like every other mistake in the file.
#[test]
fn config_check_points_at_a_bad_theme_name() {
    let sandbox = Sandbox::new();
    let path = fixture(BAD_THEME.file);
    let out = sandbox.run(["config".as_ref(), "check".as_ref(), path.as_os_str()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert_config_error(&out, &BAD_THEME, &path, true);
}

#[test]
fn every_config_error_ends_with_a_fix_line() {
    let sandbox = Sandbox::new();
    let mut missing = Vec::new();
    for case in INVALID.iter().chain([&BAD_THEME]) {
        let path = fixture(case.file);
        let out = sandbox.run(["config".as_ref(), "check".as_ref(), path.as_os_str()]);
        if !out.stderr.lines().any(|line| line.starts_with("  fix: ")) {
            missing.push(case.file);
        }
    }
    assert!(missing.is_empty(), "no `  fix:` line for {missing:?}");
}

/// `enabled = false` turns a rule off, as the default config's comments say: it needs no limits.
#[test]
fn a_disabled_rule_needs_no_limits() {
    let sandbox = Sandbox::new();
    let path = fixture("disabled-rule-without-limits.toml");
    let out = sandbox.run(["config".as_ref(), "check".as_ref(), path.as_os_str()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
}

#[test]
fn check_with_an_invalid_config_is_unknown_and_touches_nothing() {
    let sandbox = Sandbox::new();
    for case in INVALID {
        let path = fixture(case.file);
        let out = sandbox.run(["check".as_ref(), "--config".as_ref(), path.as_os_str()]);
        assert_eq!(out.code, Some(3), "{}\n{}", case.file, out.describe());
        assert!(out.stdout.is_empty(), "{}\n{}", case.file, out.describe());
        assert_config_error(&out, case, &path, true);
        // JSON output does not change how configuration errors are reported.
        let out = sandbox.run([
            "check".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            "--config".as_ref(),
            path.as_os_str(),
        ]);
        assert_eq!(out.code, Some(3), "{}\n{}", case.file, out.describe());
        assert!(out.stdout.is_empty(), "{}\n{}", case.file, out.describe());
        sandbox.assert_untouched(case.file);
    }
}

#[test]
fn the_console_with_an_invalid_config_fails_before_touching_anything() {
    let sandbox = Sandbox::new();
    for case in INVALID {
        let path = fixture(case.file);
        let out = sandbox.run(["--config".as_ref(), path.as_os_str()]);
        assert_eq!(out.code, Some(1), "{}\n{}", case.file, out.describe());
        assert_config_error(&out, case, &path, true);
        sandbox.assert_untouched(case.file);
    }
    let path = fixture(BAD_THEME.file);
    let out = sandbox.run(["--config".as_ref(), path.as_os_str()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert_config_error(&out, &BAD_THEME, &path, true);
    sandbox.assert_untouched(BAD_THEME.file);
}

// ---------------------------------------------------------------------------------------------
// The console without a terminal
// ---------------------------------------------------------------------------------------------

#[test]
fn the_console_needs_a_terminal() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(Vec::<&str>::new());
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stdout.is_empty(),
        "nothing on a non-terminal stdout\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("the console needs a terminal"),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("\n  fix: "), "{}", out.describe());
    assert!(out.stderr.contains("opsdeck check"), "{}", out.describe());
    sandbox.assert_untouched("console without a terminal");
}

#[test]
fn the_console_names_a_missing_config_file() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path("missing.toml");
    let out = sandbox.run(["--config", missing.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let first = out.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "opsdeck: {}: cannot read the file: No such file or directory (os error 2)",
            missing.display()
        ),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains(&format!(
            "\n  fix: check the path; `opsdeck config default > {}`",
            missing.display()
        )),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.stderr.lines().count(),
        2,
        "one message\n{}",
        out.describe()
    );
    sandbox.assert_untouched("console with a missing --config");
}

#[test]
fn the_console_names_an_unknown_theme() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(["--theme", "drak"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("unknown theme `drak`"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("\n  fix: did you mean `dark`?"),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.stderr.lines().count(),
        2,
        "one message\n{}",
        out.describe()
    );
    sandbox.assert_untouched("console with --theme drak");
}

#[test]
fn config_check_points_at_a_too_short_interval() {
    let sandbox = Sandbox::new();
    let path = fixture("too-fast-interval.toml");
    let out = sandbox.run(["config".as_ref(), "check".as_ref(), path.as_os_str()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let case = Invalid {
        // line 3: `interval = ` is 11 characters.
        file: "too-fast-interval.toml",
        line: 3,
        column: 12,
        message: "interval must be at least 100ms",
        suggestion: Some("fix: set interval = \"1s\""),
    };
    assert_config_error(&out, &case, &path, true);
}

#[test]
fn config_check_rejects_a_too_short_interval() {
    let sandbox = Sandbox::new();
    let path = fixture("too-fast-interval.toml");
    let out = sandbox.run(["config".as_ref(), "check".as_ref(), path.as_os_str()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let case = Invalid {
        file: "too-fast-interval.toml",
        line: 0,
        column: 0,
        message: "interval must be at least 100ms",
        suggestion: Some("\n  fix: set interval = \"1s\""),
    };
    assert_config_error(&out, &case, &path, false);
    assert!(
        out.stderr
            .starts_with(&format!("opsdeck: {}", path.display())),
        "the file is named\n{}",
        out.describe()
    );
    sandbox.assert_untouched(case.file);
}
