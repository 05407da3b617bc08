//! `opsdeck logs` and `opsdeck check --only logs` end to end on the real binary and real files:
//! a plain log's errors against a `[[rule]]` (exit 2 naming the source, 1, 0), the JSON's counts
//! against counts made here, an access log's requests, 5xx share, statuses, top endpoint, hourly
//! distribution and mean response time computed here from the lines written, a real-format
//! auth.log's failed logins and suspicious addresses, hostile lines (escape sequences, NUL,
//! invalid UTF-8, a 10 MB line) never reaching stdout raw, a glob matching no file yet, an
//! unknown `--source`, and configuration mistakes reported with the file, the line and the fix.
//!
//! Every run gets its own HOME and XDG directories, `TZ=UTC`, and a config file in its temp dir.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::Value;
use support::journal;
use support::run::Run;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "config", "data", "state", "logs"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Sandbox { dir }
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("opsdeck.toml")
    }

    fn configure(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    fn write_log(&self, name: &str, content: &[u8]) {
        std::fs::write(self.logs().join(name), content).unwrap();
    }

    fn output(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(self.config_path())
            .arg("--state")
            .arg(self.dir.path().join("state/state.db"))
            .args(args);
        support::run::sandboxed(&mut command, self.dir.path(), "oncall");
        command.output().unwrap()
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.output(args))
    }

    fn json(&self, args: &[&str]) -> (Option<i32>, Value) {
        let run = self.run(args);
        let value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.text()));
        (run.code, value)
    }
}

/// An ISO stamp as applications write them at the start of a line.
fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A plain application log: `errors` ERROR lines (two signatures), `warnings` WARN lines and
/// `infos` INFO lines, stamped within the last minute.
fn app_log(errors: usize, warnings: usize, infos: usize) -> String {
    let now = Utc::now();
    let mut log = String::new();
    for i in 0..errors {
        let at = iso(now - Duration::seconds(50 - (i % 40) as i64));
        if i % 3 == 0 {
            log.push_str(&format!("{at} ERROR upstream timed out after {i} ms\n"));
        } else {
            log.push_str(&format!("{at} ERROR payment failed for order {i}\n"));
        }
    }
    for i in 0..warnings {
        log.push_str(&format!(
            "{} WARN slow query took {} ms\n",
            iso(now),
            1000 + i
        ));
    }
    for i in 0..infos {
        log.push_str(&format!("{} INFO request {i} served\n", iso(now)));
    }
    log
}

fn app_config(sandbox: &Sandbox) -> String {
    format!(
        r#"
[[log]]
name = "app"
path = "{}/app*.log"
[[log.match]]
name = "timeouts"
regex = 'timed out after \d+'

[[rule]]
metric = "log.errors"
instance = "app"
warn = 20
crit = 50
"#,
        sandbox.logs().display()
    )
}

#[test]
fn errors_above_the_rule_exit_by_its_level_and_name_the_source() {
    let sandbox = Sandbox::new();
    sandbox.configure(&app_config(&sandbox));
    for (errors, code, label) in [(60, 2, "CRIT"), (30, 1, "WARN"), (5, 0, "OK")] {
        sandbox.write_log("app.log", app_log(errors, 2, 10).as_bytes());
        let run = sandbox.run(&["logs"]);
        assert_eq!(run.code, Some(code), "{errors} errors:\n{}", run.text());
        assert!(
            run.stdout.contains(&format!("{label:<5} app  ")),
            "the source is named with its status:\n{}",
            run.text()
        );
        assert!(
            run.stdout.contains(&format!(
                "{label:<5} log.errors {errors} (warn > 20, crit > 50)"
            )),
            "the rule's verdict is shown:\n{}",
            run.text()
        );
        assert!(
            run.stdout.contains(&format!("overall: {label}")),
            "{}",
            run.text()
        );
        let check = sandbox.run(&["check", "--only", "logs"]);
        assert_eq!(check.code, Some(code), "{}", check.text());
        assert!(check.stdout.contains("log:app"), "{}", check.text());
    }
    let run = sandbox.run(&["logs"]);
    assert!(
        run.stdout.contains("ERROR payment failed for order <num>"),
        "{}",
        run.text()
    );
    assert!(
        run.stdout.contains("matches: timeouts 2 in the window"),
        "{}",
        run.text()
    );
}

#[test]
fn json_holds_the_counts_of_the_lines_written() {
    let sandbox = Sandbox::new();
    sandbox.configure(&app_config(&sandbox));
    let now = Utc::now();
    let mut log = String::new();
    let (mut errors, mut warnings, mut timeouts) = (0, 0, 0);
    for i in 0..500u32 {
        let at = iso(now - Duration::seconds(i64::from(i % 100)));
        let line = match i % 7 {
            0 => {
                errors += 1;
                if i % 2 == 0 {
                    timeouts += 1;
                    format!("{at} ERROR upstream timed out after {i} ms")
                } else {
                    format!("{at} [error] cannot connect to 10.0.0.{}", i % 250)
                }
            }
            1 | 2 => {
                warnings += 1;
                format!("{at} WARN cache miss for key user:{i}")
            }
            _ => format!("{at} INFO GET /items/{i} took {} ms", i % 90),
        };
        log.push_str(&line);
        log.push('\n');
    }
    sandbox.write_log("app.log", log.as_bytes());
    let (code, report) = sandbox.json(&["logs", "--format", "json", "--source", "app"]);
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["status"], "crit");
    let app = &report["sources"][0];
    assert_eq!(app["name"], "app");
    assert_eq!(app["window"]["lines"], 500);
    assert_eq!(app["window"]["errors"], errors);
    assert_eq!(app["window"]["warnings"], warnings);
    assert_eq!(app["matches"][0]["name"], "timeouts");
    assert_eq!(app["matches"][0]["in_window"], timeouts);
    assert_eq!(app["matches"][0]["total"], timeouts);
    let minutes: u64 = app["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|minute| minute["lines"].as_u64().unwrap())
        .sum();
    assert_eq!(minutes, 500);
    let evaluation = |name: &str, instance: &str| {
        report["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["metric"]["name"] == name && e["metric"]["instance"] == instance)
            .unwrap_or_else(|| panic!("no evaluation of {name} {instance}: {report:#}"))
            .clone()
    };
    let judged = evaluation("log.errors", "app");
    assert_eq!(judged["metric"]["value"], f64::from(errors));
    assert_eq!(judged["status"], "crit");
    assert_eq!(
        evaluation("log.matches", "app/timeouts")["metric"]["value"],
        f64::from(timeouts)
    );
    assert_eq!(report["statuses"][0]["status"], "crit");
}

#[test]
fn a_signature_first_seen_after_quiet_hours_is_marked_new() {
    let sandbox = Sandbox::new();
    sandbox.configure(&format!(
        "[[log]]\nname = \"app\"\npath = \"{}/app.log\"\n\n[[rule]]\nmetric = \"log.new_signatures\"\ninstance = \"app\"\nop = \">=\"\nwarn = 1\n",
        sandbox.logs().display()
    ));
    let now = Utc::now();
    let mut log = String::new();
    for minutes_ago in (5..=180).rev().step_by(5) {
        let at = iso(now - Duration::minutes(minutes_ago));
        log.push_str(&format!("{at} INFO heartbeat {minutes_ago} ok\n"));
    }
    let first_seen = now - Duration::seconds(30);
    log.push_str(&format!(
        "{} ERROR disk quota exceeded for volume 7\n",
        iso(first_seen)
    ));
    sandbox.write_log("app.log", log.as_bytes());

    let (code, report) = sandbox.json(&["logs", "--format", "json"]);
    assert_eq!(code, Some(1), "{report:#}");
    let app = &report["sources"][0];
    assert_eq!(app["window"]["new_signatures"], 1, "{report:#}");
    let newest = &app["signatures"][0];
    assert_eq!(newest["is_new"], true, "{report:#}");
    // A plain line's template leaves its stamp out.
    assert_eq!(
        newest["template"],
        "ERROR disk quota exceeded for volume <num>"
    );
    assert_eq!(newest["first_seen"], iso(first_seen));
    assert_eq!(app["signatures"][1]["is_new"], false, "{report:#}");
    assert_eq!(app["signatures"][1]["total"], 36, "{report:#}");

    let text = sandbox.run(&["logs"]);
    let marked = text
        .stdout
        .lines()
        .find(|line| line.contains("disk quota exceeded"))
        .unwrap_or_else(|| panic!("{}", text.text()));
    assert!(marked.trim_start().starts_with("NEW "), "{}", text.text());
    assert!(
        marked.contains(&format!("first seen {}", first_seen.format("%m-%d %H:%M"))),
        "{}",
        text.text()
    );
}

/// A combined access-log line with nginx's `$request_time` (seconds) at the end.
fn access_line(at: DateTime<Utc>, path: &str, status: u16, seconds: f64) -> String {
    format!(
        "203.0.113.{} - - [{}] \"GET {path}?page=2 HTTP/1.1\" {status} 512 \"-\" \"curl/8.5.0\" {seconds:.3}\n",
        status % 200,
        at.format("%d/%b/%Y:%H:%M:%S +0000")
    )
}

#[test]
fn access_log_figures_match_the_lines_written() {
    let sandbox = Sandbox::new();
    sandbox.configure(&format!(
        r#"
[[log]]
name = "web"
path = "{}/access.log"
format = "access"
request_time = "s"

[[rule]]
metric = "log.http_5xx_pct"
instance = "web"
warn = 2
"#,
        sandbox.logs().display()
    ));
    let now = Utc::now();
    let paths = ["/api/orders", "/api/users", "/health", "/static/app.js"];
    let mut log = String::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut endpoints: BTreeMap<&str, u64> = BTreeMap::new();
    let mut hourly = [0u64; 24];
    let mut total_ms = 0.0;
    let requests = 1200u32;
    for i in 0..requests {
        // Within the last three minutes, so every request is also in the 5-minute window.
        let at = now - Duration::seconds(i64::from(i % 170));
        let path = paths[(i as usize % 7).min(paths.len() - 1)];
        let status = match i % 50 {
            0..=2 => 500 + (i % 4) as u16,
            3..=6 => 404,
            7 => 301,
            _ => 200,
        };
        let ms = f64::from(i % 400 + 1);
        log.push_str(&access_line(at, path, status, ms / 1000.0));
        *statuses.entry(status).or_default() += 1;
        *endpoints.entry(path).or_default() += 1;
        hourly[at.hour() as usize] += 1;
        total_ms += ms;
    }
    log.push_str("not an access line at all\n");
    sandbox.write_log("access.log", log.as_bytes());

    let server_errors: u64 = statuses.range(500..600).map(|(_, count)| count).sum();
    let pct = server_errors as f64 * 100.0 / f64::from(requests);
    assert!(
        pct > 2.0,
        "the test's own 5xx share must break the rule: {pct}"
    );
    let (top_path, top_count) = endpoints
        .iter()
        .max_by_key(|(path, count)| (**count, std::cmp::Reverse(**path)))
        .map(|(path, count)| (*path, *count))
        .unwrap();

    let (code, report) = sandbox.json(&["logs", "--format", "json"]);
    assert_eq!(code, Some(1), "5xx above 2 % is a warning: {report:#}");
    let access = &report["sources"][0]["access"];
    assert_eq!(access["requests"], requests);
    assert_eq!(access["unparsed"], 1);
    let reported_pct = access["server_error_pct"].as_f64().unwrap();
    assert!((reported_pct - pct).abs() < 1e-9, "{reported_pct} vs {pct}");
    let reported_statuses: BTreeMap<u16, u64> = access["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                u16::try_from(pair[0].as_u64().unwrap()).unwrap(),
                pair[1].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reported_statuses, statuses);
    assert_eq!(access["top_endpoints"][0][0], top_path);
    assert_eq!(access["top_endpoints"][0][1], top_count);
    let reported_hourly: Vec<u64> = access["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|count| count.as_u64().unwrap())
        .collect();
    assert_eq!(reported_hourly, hourly);
    let mean = access["mean_ms"].as_f64().unwrap();
    let expected_mean = total_ms / f64::from(requests);
    assert!(
        (mean - expected_mean).abs() < 0.01,
        "{mean} vs {expected_mean}"
    );
    let window = &report["sources"][0]["window"];
    assert_eq!(window["requests"], requests);
    assert_eq!(window["server_errors"], server_errors);
    let judged = report["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"]["name"] == "log.http_5xx_pct")
        .unwrap();
    assert_eq!(judged["status"], "warn");

    let text = sandbox.run(&["logs"]);
    assert_eq!(text.code, Some(1), "{}", text.text());
    assert!(
        text.stdout.contains(&format!(
            "access: {requests} requests (1 lines not in the access format), 5xx {pct:.1} %"
        )),
        "{}",
        text.text()
    );
    assert!(
        text.stdout
            .contains(&format!("top endpoints: {top_path} {top_count}")),
        "{}",
        text.text()
    );
}

#[test]
fn auth_log_gives_failed_logins_and_suspicious_addresses() {
    let sandbox = Sandbox::new();
    sandbox.configure(&format!(
        r#"
[[log]]
name = "auth"
path = "{}/auth.log"
format = "syslog"
suspicious_after = 5

[[rule]]
metric = "log.failed_logins"
instance = "auth"
warn = 10
"#,
        sandbox.logs().display()
    ));
    let now = Utc::now();
    // Debian's auth.log: RFC 3164 stamps without the year, the day padded with a space.
    let stamp = |minutes_ago: i64| {
        (now - Duration::minutes(minutes_ago))
            .format("%b %e %H:%M:%S")
            .to_string()
    };
    let mut log = String::new();
    let mut failed: BTreeMap<&str, u64> = BTreeMap::new();
    let attackers = [("198.51.100.23", 9), ("203.0.113.77", 5), ("192.0.2.4", 2)];
    let mut minute = 120;
    for (ip, attempts) in attackers {
        for attempt in 0..attempts {
            minute -= 1;
            let at = stamp(minute);
            if attempt % 2 == 0 {
                log.push_str(&format!(
                    "{at} web1 sshd[{}]: Invalid user admin{attempt} from {ip} port {}\n",
                    4000 + attempt,
                    50000 + attempt
                ));
                log.push_str(&format!(
                    "{at} web1 sshd[{}]: Failed password for invalid user admin{attempt} from {ip} port {} ssh2\n",
                    4000 + attempt,
                    50000 + attempt
                ));
            } else {
                log.push_str(&format!(
                    "{at} web1 sshd[{}]: Failed password for root from {ip} port {} ssh2\n",
                    4000 + attempt,
                    50000 + attempt
                ));
            }
            *failed.entry(ip).or_default() += 1;
        }
    }
    log.push_str(&format!(
        "{} web1 sshd[5000]: Accepted publickey for deploy from 192.0.2.10 port 40000 ssh2: ED25519 SHA256:abc\n",
        stamp(3)
    ));
    log.push_str(&format!(
        "{} web1 CRON[5001]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n",
        stamp(2)
    ));
    sandbox.write_log("auth.log", log.as_bytes());
    let total: u64 = failed.values().sum();
    assert!(total > 10);

    let (code, report) = sandbox.json(&["logs", "--format", "json", "--since", "3h"]);
    let logins = &report["sources"][0]["logins"];
    assert_eq!(logins["failed"], total, "{report:#}");
    let top: Vec<(String, u64)> = logins["top_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_owned(),
                pair[1].as_u64().unwrap(),
            )
        })
        .collect();
    let mut expected: Vec<(String, u64)> = failed
        .iter()
        .map(|(ip, count)| ((*ip).to_owned(), *count))
        .collect();
    expected.sort_by_key(|pair| std::cmp::Reverse(pair.1));
    assert_eq!(top, expected);
    let suspicious: Vec<&str> = logins["suspicious"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    assert_eq!(suspicious, ["198.51.100.23", "203.0.113.77"]);
    assert_eq!(logins["top_users"][0][0], "root");
    // The rule judges the window (the last 5 minutes), where no login failed.
    assert_eq!(code, Some(0), "{report:#}");

    let text = sandbox.run(&["logs", "--since", "3h"]);
    assert!(
        text.stdout.contains(&format!("failed logins: {total}")),
        "{}",
        text.text()
    );
    assert!(
        text.stdout
            .contains("suspicious: 198.51.100.23 9 · 203.0.113.77 5"),
        "{}",
        text.text()
    );
}

#[test]
fn a_journal_source_reports_failed_logins_and_levels_and_exits_by_its_rule() {
    let sandbox = Sandbox::new();
    let journal = sandbox.logs().join("export.journal");
    sandbox.configure(&format!(
        r#"
[[log]]
name = "ssh"
journal = true
journal_file = "{}"

[[rule]]
metric = "log.failed_logins"
instance = "ssh"
warn = 2
"#,
        journal.display()
    ));
    let base = Utc::now() - Duration::seconds(90);
    let second = Duration::seconds;
    let records = vec![
        journal::sshd(base, 812, "Invalid user admin from 203.0.113.7 port 4242"),
        journal::sshd(
            base + second(1),
            812,
            "Failed password for invalid user admin from 203.0.113.7 port 4242 ssh2",
        ),
        journal::sshd(
            base + second(2),
            813,
            "Failed password for root from 198.51.100.9 port 5555 ssh2",
        ),
        journal::app(base + second(3), 3, b"database connection refused"),
        journal::app(base + second(4), 4, b"slow query took 2300 ms"),
        journal::app(base + second(5), 6, b"request served"),
        journal::sshd(
            base + second(6),
            814,
            "Failed password for invalid user admin from 203.0.113.7 port 4243 ssh2",
        ),
    ];
    journal::write_journal(&journal, &records, 1_000_000);

    let (code, report) = sandbox.json(&["logs", "--format", "json", "--since", "1h"]);
    let ssh = &report["sources"][0];
    assert_eq!(ssh["name"], "ssh", "{report:#}");
    assert_eq!(ssh["window"]["lines"], 7, "{report:#}");
    assert_eq!(ssh["window"]["errors"], 1, "{report:#}");
    assert_eq!(ssh["window"]["warnings"], 1, "{report:#}");
    assert_eq!(ssh["logins"]["failed"], 3, "{report:#}");
    assert_eq!(ssh["logins"]["top_ips"][0][0], "203.0.113.7", "{report:#}");
    assert_eq!(ssh["logins"]["top_ips"][0][1], 2, "{report:#}");
    assert_eq!(
        code,
        Some(1),
        "three failed logins pass the warn level: {report:#}"
    );

    let text = sandbox.run(&["logs", "--since", "1h"]);
    assert!(text.stdout.contains("failed logins: 3"), "{}", text.text());
}

#[test]
fn hostile_lines_never_reach_the_terminal_raw() {
    let sandbox = Sandbox::new();
    sandbox.configure(&format!(
        "[[log]]\nname = \"hostile\"\npath = \"{}/hostile.log\"\n",
        sandbox.logs().display()
    ));
    let now = iso(Utc::now());
    let mut log: Vec<u8> = Vec::new();
    log.extend(format!("{now} ERROR title \x1b]0;pwned\x07 and \x1b[2J cleared\n").as_bytes());
    log.extend(format!("{now} ERROR nul \0 byte and bell \x07 and CR \r here\n").as_bytes());
    log.extend(format!("{now} ERROR bad utf8 ").as_bytes());
    log.extend([0xff, 0xfe, 0xc3, 0x28, 0x1b, b'[', b'3', b'1', b'm', b'\n']);
    log.extend(format!("{now} ERROR huge ").as_bytes());
    log.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
    log.extend(b"\x1b[0m end of the huge line\n");
    log.extend(format!("{now} INFO fine\n").as_bytes());
    sandbox.write_log("hostile.log", &log);

    for format in ["text", "json"] {
        let output = sandbox.output(&["logs", "--format", format]);
        let stdout = &output.stdout;
        assert!(
            !stdout
                .iter()
                .any(|byte| matches!(byte, 0x1b | 0x00 | 0x07 | b'\r')),
            "{format}: a raw control byte reached stdout"
        );
        let text = String::from_utf8(stdout.clone()).expect("stdout is UTF-8");
        assert!(
            stdout.len() < 256 * 1024,
            "{format}: the 10 MB line is not copied to stdout ({} bytes)",
            stdout.len()
        );
        assert_eq!(output.status.code(), Some(0), "{format}:\n{text}");
        if format == "json" {
            let report: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(report["sources"][0]["window"]["errors"], 4, "{report:#}");
            assert_eq!(report["sources"][0]["window"]["lines"], 5, "{report:#}");
        } else {
            assert!(
                text.contains("\\x1b]0;pwned\\x07"),
                "escaped, visible:\n{text}"
            );
            assert!(text.contains("4 errors"), "{text}");
        }
    }
}

#[test]
fn a_glob_matching_no_file_is_no_files_yet() {
    let sandbox = Sandbox::new();
    sandbox.configure(&format!(
        "[[log]]\nname = \"later\"\npath = \"{}/not-yet/*.log\"\n",
        sandbox.logs().display()
    ));
    let run = sandbox.run(&["logs"]);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(run.stdout.contains("OK    later  "), "{}", run.text());
    assert!(run.stdout.contains("no files yet"), "{}", run.text());
    let check = sandbox.run(&["check", "--only", "logs"]);
    assert_eq!(check.code, Some(0), "{}", check.text());
    assert!(check.stdout.contains("no files yet"), "{}", check.text());
}

#[test]
fn an_unknown_source_is_refused_naming_the_configured_ones() {
    let sandbox = Sandbox::new();
    sandbox.configure(&format!(
        "[[log]]\nname = \"app\"\npath = \"{0}/app.log\"\n[[log]]\nname = \"nginx\"\npath = \"{0}/access.log\"\nformat = \"access\"\n",
        sandbox.logs().display()
    ));
    let run = sandbox
        .run(&["logs", "--source", "ngnix"])
        .refused("no [[log]] source named `ngnix`; configured: app, nginx");
    assert!(
        run.stderr.contains("did you mean `nginx`?"),
        "{}",
        run.text()
    );
    assert!(run.stdout.is_empty(), "{}", run.text());

    let empty = Sandbox::new();
    empty.configure("");
    empty.run(&["logs"]).refused("no log sources configured");
}

#[test]
fn config_mistakes_name_the_file_the_line_and_the_fix() {
    let sandbox = Sandbox::new();
    let file = sandbox.config_path().display().to_string();
    let cases = [
        (
            "[[log]]\nname = \"app\"\npath = \"/var/log/app.log\"\n[[log.match]]\nname = \"broken\"\nregex = \"timed out (\"\n",
            6,
            "match `broken` regex `timed out (` is invalid",
        ),
        (
            "\n[[log]]\nname = \"app\"\npath = \"/var/log/app.log\"\njournal = true\n",
            2,
            "log source `app` has both path and journal = true",
        ),
        (
            "[[log]]\nname = \"app\"\npath = \"/var/log/app.log\"\nformat = \"nginx\"\n",
            4,
            "unknown variant `nginx`",
        ),
    ];
    for (config, line, message) in cases {
        sandbox.configure(config);
        for args in [&["logs"][..], &["check", "--only", "logs"][..]] {
            let run = sandbox.run(args);
            assert_eq!(run.code, Some(3), "{args:?}:\n{}", run.text());
            assert!(
                run.stderr.contains(&format!("{file}:{line}:")),
                "{args:?} names the file and line:\n{}",
                run.text()
            );
            assert!(run.stderr.contains(message), "{}", run.text());
            assert!(run.stderr.contains("\n  fix: "), "{}", run.text());
        }
        let check = sandbox.run(&["config", "check"]);
        assert_eq!(check.code, Some(1), "{}", check.text());
        assert!(check.stderr.contains(message), "{}", check.text());
    }
}
