//! `opsdeck incident` end to end on the real binary: the whole life cycle with its times and
//! stages, on SQLite and on PostgreSQL; the postmortem export (Markdown and JSON) field by field;
//! refusals that write nothing; titles and notes with terminal escapes shown escaped; and two
//! consoles' worth of processes noting one incident at the same moment without losing a note;
//! configured levels and `[[escalation]]` contacts in `show` and the export, and opening, level
//! changes and resolutions announced to the contacts through local webhook and SMTP receivers.
//!
//! Every run gets its own HOME and XDG directories; the opsdeck processes run with `TZ=UTC` and
//! an English locale so times and texts are predictable. (Overdue acknowledgement is judged
//! against the clock, which the binary does not let a test move: it is covered by the unit tests
//! of `Incident::overdue` and of the list's text, and through the runner with a 2-s target in
//! tests/incidents_overdue.rs.)

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Child, Command};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use support::PgServer;
use support::receivers::{Answer, HttpReceiver, SmtpReceiver};
use support::run::Run;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");

struct Home {
    dir: tempfile::TempDir,
    /// `false`: the SQLite file in the sandbox (`--state`); `true`: the config names the store.
    on_postgres: bool,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "config/opsdeck", "data", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("sandbox dir");
        }
        Home {
            dir,
            on_postgres: false,
        }
    }

    fn on_postgres(url: String) -> Home {
        let home = Home::new();
        std::fs::write(
            home.dir.path().join("config/opsdeck/config.toml"),
            format!("[store]\nurl = \"{url}\"\n"),
        )
        .expect("write config");
        Home {
            on_postgres: true,
            ..home
        }
    }

    fn command(&self, user: &str, args: &[&str]) -> Command {
        let mut command = self.opsdeck(user);
        command.arg("incident").args(args);
        command
    }

    /// `opsdeck` in the sandbox, on its store, as `user`, before any subcommand.
    fn opsdeck(&self, user: &str) -> Command {
        let mut command = Command::new(BIN);
        if !self.on_postgres {
            command
                .arg("--state")
                .arg(self.dir.path().join("state/state.db"));
        }
        support::run::sandboxed(&mut command, self.dir.path(), user);
        command
    }

    fn run(&self, user: &str, args: &[&str]) -> Run {
        Run::from(
            self.command(user, args)
                .output()
                .expect("run opsdeck incident"),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let run = self.run("reader", args).ok();
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.text()))
    }

    /// Opens an incident and returns its id (printed alone on stdout).
    fn open(&self, user: &str, args: &[&str]) -> String {
        let mut all = vec!["open"];
        all.extend_from_slice(args);
        let run = self.run(user, &all).ok();
        let id = run.stdout.trim().to_owned();
        assert!(
            id.starts_with("INC-") && !id.contains(char::is_whitespace),
            "open prints the id alone:\n{}",
            run.text()
        );
        id
    }

    /// Adds `text` to the configuration file (after the store, on PostgreSQL).
    fn configure(&self, text: &str) {
        let path = self.dir.path().join("config/opsdeck/config.toml");
        let before = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, format!("{before}\n{text}")).expect("write config");
    }
}

fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|error| panic!("not a time ({error}): {value}"))
}

/// Declared, acknowledged, raised, noted, mitigated, resolved, recovered, postmortem written,
/// with an action item: each step by the user who did it, at a time between the test's start
/// and end, in order; then the export shows exactly that.
fn life_cycle(home: &Home) {
    let started = Utc::now() - Duration::seconds(1);
    let id = home.open(
        "alice",
        &[
            "--level",
            "P2",
            "--title",
            "checkout 500s",
            "--affects",
            "checkout",
            "--affects",
            "db-1",
        ],
    );
    let due = (Utc::now() + Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    home.run("bob", &["ack", &id]).ok();
    home.run("bob", &["level", &id, "p1"]).ok();
    home.run(
        "carol",
        &[
            "note",
            &id,
            "pool exhausted",
            "--evidence",
            "active=100/100 on postgres://app:hunter2@db-1/app",
        ],
    )
    .ok();
    home.run("bob", &["mitigate", &id]).ok();
    let resolved = home.run("bob", &["resolve", &id]).ok();
    assert!(
        resolved
            .stdout
            .contains(&format!("{id} [P1] checkout 500s: resolved (")),
        "{}",
        resolved.text()
    );
    home.run("bob", &["recover", &id]).ok();
    home.run(
        "alice",
        &[
            "action",
            &id,
            "--owner",
            "dba",
            "--due",
            &due,
            "raise the pool",
        ],
    )
    .ok();
    home.run("alice", &["postmortem-done", &id]).ok();
    let ended = Utc::now() + Duration::seconds(1);

    let shown = home.json(&["show", &id, "--format", "json"]);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["level"], "P1");
    assert_eq!(shown["stage"], "postmortem_done");
    assert_eq!(shown["overdue"], false);
    assert_eq!(shown["commander"], "bob");
    assert_eq!(shown["affects"], serde_json::json!(["checkout", "db-1"]));
    let stages = [
        ("detected", "alice"),
        ("acknowledged", "bob"),
        ("mitigated", "bob"),
        ("resolved", "bob"),
        ("recovered", "bob"),
        ("postmortem_done", "alice"),
    ];
    let mut previous = started;
    for (stage, user) in stages {
        assert_eq!(shown[stage]["by"], user, "{stage}: {shown:#}");
        let at = time(&shown[stage]["at"]);
        assert!(
            previous <= at && at <= ended,
            "{stage} at {at} should be after {previous} and before {ended}"
        );
        previous = at;
    }
    assert_eq!(shown["level_changes"][0]["from"], "P2");
    assert_eq!(shown["level_changes"][0]["to"], "P1");
    assert_eq!(shown["level_changes"][0]["by"], "bob");

    let report = home.json(&["export", &id, "--format", "json"]);
    support::assert_follows_the_incident_report_schema(&report);
    assert_eq!(report["schema"], "opsdeck.incident-report/1");
    let basic = &report["basic_info"];
    assert_eq!(basic["incident_id"], id.as_str());
    assert_eq!(basic["title"], "checkout 500s");
    assert_eq!(basic["severity_level"], "P1");
    assert_eq!(basic["severity"]["definition"]["en"], "core feature down");
    assert_eq!(basic["severity"]["definition"]["ko"], "핵심 기능 장애");
    assert_eq!(basic["severity"]["response_target_seconds"], 3600);
    assert_eq!(
        basic["severity"]["escalation"]["ko"],
        "개발팀장, DevOps 팀장"
    );
    assert_eq!(
        basic["affected_systems"],
        serde_json::json!(["checkout", "db-1"])
    );
    assert_eq!(basic["status"], "postmortem_done");
    assert_eq!(basic["commander"], "bob");
    assert_eq!(time(&basic["date_time"]), time(&shown["detected"]["at"]));
    let timeline = &report["timeline"];
    for (field, stage) in [
        ("detection_time", "detected"),
        ("response_time", "acknowledged"),
        ("mitigation_time", "mitigated"),
        ("resolution_time", "resolved"),
        ("recovery_time", "recovered"),
        ("postmortem_done_time", "postmortem_done"),
    ] {
        let at = time(&timeline[field]["at"]);
        assert_eq!(at, time(&shown[stage]["at"]), "{field}");
        assert_eq!(timeline[field]["by"], shown[stage]["by"], "{field}");
        assert_eq!(
            timeline[field]["after_detection_seconds"],
            (at - time(&basic["date_time"])).num_seconds(),
            "{field}"
        );
    }
    let entries: Vec<(&str, &str)> = timeline["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            (
                entry["by"].as_str().expect("by"),
                entry["text"].as_str().expect("text"),
            )
        })
        .collect();
    let action_text = format!("action item for dba, due {due}: raise the pool");
    assert_eq!(
        entries,
        vec![
            ("alice", "opened as P2: checkout 500s"),
            ("bob", "acknowledged"),
            ("bob", "level changed P2 -> P1"),
            ("carol", "note: pool exhausted"),
            ("bob", "mitigated"),
            ("bob", "resolved"),
            ("bob", "recovered"),
            ("alice", action_text.as_str()),
            ("alice", "postmortem done"),
        ]
    );
    let evidence = timeline["entries"][3]["evidence"]
        .as_str()
        .expect("evidence");
    assert!(
        evidence.starts_with("active=100/100 on postgres://app:"),
        "{evidence}"
    );
    assert!(
        !evidence.contains("hunter2"),
        "secrets are redacted: {evidence}"
    );
    for field in [
        "root_cause",
        "impact_assessment",
        "resolution_steps",
        "prevention_measures",
    ] {
        assert_eq!(report["analysis"][field], Value::Null, "{field}");
    }
    let action = &report["follow_up"]["action_items"][0];
    assert_eq!(action["text"], "raise the pool");
    assert_eq!(action["owner"], "dba");
    assert_eq!(action["due"], due.as_str());
    assert_eq!(action["overdue"], false);
    assert_eq!(action["added_by"], "alice");

    let markdown = home.run("reader", &["export", &id]).ok().stdout;
    let when = |stage: &str| {
        time(&shown[stage]["at"])
            .format("%Y-%m-%d %H:%M +00:00")
            .to_string()
    };
    for expected in [
        format!("# Incident {id}: checkout 500s\n\n## 1. Basic info\n"),
        format!("- Incident ID: {id}\n- Date/time: {}\n", when("detected")),
        "- Severity: P1 — core feature down (respond within 1h 00m; escalate to dev lead, DevOps lead)\n".to_owned(),
        "- Affected systems: checkout, db-1\n- Status: postmortem done\n- Commander: bob\n".to_owned(),
        format!("## 2. Timeline\n\n- Detection time: {} (alice)\n", when("detected")),
        format!("- Response time: {} (bob), ", when("acknowledged")),
        format!("- Resolution time: {} (bob), ", when("resolved")),
        format!("- Recovery time: {} (bob), ", when("recovered")),
        "— carol — note: pool exhausted\n  - evidence: active=100/100 on postgres://app:".to_owned(),
        "## 3. Analysis\n\n### Root cause\n\n_To be filled in._\n".to_owned(),
        "### Impact assessment\n".to_owned(),
        "### Resolution steps\n".to_owned(),
        "### Prevention measures\n".to_owned(),
        format!("## 4. Follow-up\n\n### Action items\n\n- [ ] raise the pool — owner: dba — due: {due}\n"),
        "### Monitoring plans\n".to_owned(),
    ] {
        assert!(markdown.contains(&expected), "missing {expected:?} in:\n{markdown}");
    }
    assert!(!markdown.contains("hunter2"), "{markdown}");

    // Resolved: out of the default list, still in --all.
    let open = home.json(&["list", "--format", "json"]);
    assert_eq!(open["incidents"], Value::Array(Vec::new()));
    let all = home.json(&["list", "--all", "--format", "json"]);
    assert_eq!(all["incidents"][0]["id"], id.as_str());
}

#[test]
fn the_life_cycle_and_its_export_on_sqlite() {
    life_cycle(&Home::new());
}

/// What a `SELECT count(*)` says, asked with psql in the test's database.
fn count(server: &PgServer, sql: &str) -> String {
    let output = server
        .client_command("psql")
        .args(["-d", "incidents", "-Atc", sql])
        .output()
        .expect("psql");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn the_life_cycle_and_its_export_on_postgres() {
    let server = PgServer::start();
    server.create_database("incidents");
    life_cycle(&Home::on_postgres(server.url_for("incidents")));
    // The events are really in PostgreSQL, not in a SQLite file next to the config.
    assert_eq!(count(&server, "SELECT count(*) FROM incident_events"), "9");
}

#[test]
fn open_incidents_list_first_most_severe_first_with_escapes_shown_escaped() {
    let home = Home::new();
    let minor = home.open("alice", &["--level", "P4", "--title", "slow report"]);
    let major = home.open(
        "alice",
        &["--level", "P0", "--title", "site down \u{1b}[2J\u{7}now"],
    );
    let done = home.open("alice", &["--level", "P0", "--title", "old outage"]);
    home.run("bob", &["resolve", &done]).ok();
    home.run("bob", &["note", &major, "line1\n\u{1b}]0;owned\u{7}"])
        .ok();

    let listed = home.run("reader", &["list", "--all"]).ok().stdout;
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 4, "{listed}");
    assert!(lines[0].starts_with("ID "), "{listed}");
    assert!(lines[1].starts_with(&major), "{listed}");
    assert!(lines[1].contains(" P0 "), "{listed}");
    assert!(lines[1].contains(" detected "), "{listed}");
    assert!(lines[1].ends_with("site down \\x1b[2J\\x07now"), "{listed}");
    assert!(lines[2].starts_with(&minor), "{listed}");
    assert!(lines[3].starts_with(&done), "{listed}");
    assert!(lines[3].contains(" resolved "), "{listed}");
    assert!(!listed.contains('\u{1b}'), "{listed}");

    let shown = home.run("reader", &["show", &major]).ok().stdout;
    assert!(
        shown.contains("bob: note: line1\\n\\x1b]0;owned\\x07"),
        "{shown}"
    );
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown}"
    );
    let markdown = home.run("reader", &["export", &major]).ok().stdout;
    assert!(!markdown.contains('\u{1b}'), "{markdown}");
    // JSON keeps the text exactly (JSON itself escapes it).
    let json = home.json(&["show", &major, "--format", "json"]);
    assert_eq!(json["title"], "site down \u{1b}[2J\u{7}now");
}

#[test]
fn an_action_item_marked_done_is_shown_done_and_cannot_be_done_twice() {
    let home = Home::new();
    let id = home.open("alice", &["--level", "P2", "--title", "slow checkout"]);
    home.run("bob", &["action-done", &id, "1"])
        .refused(&format!("{id} has no action items"));
    let due = (Utc::now() + Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    for text in ["raise the pool", "alert on pool use"] {
        home.run(
            "alice",
            &["action", &id, "--owner", "dba", "--due", &due, text],
        )
        .ok();
    }
    let done = home.run("bob", &["action-done", &id, "2"]).ok();
    assert!(
        done.stdout.contains(&format!(
            "{id} [P2] slow checkout: action item 2 done by bob"
        )),
        "{}",
        done.text()
    );
    home.run("carol", &["action-done", &id, "2"])
        .refused(&format!("action item 2 of {id} was already done by bob"));
    home.run("carol", &["action-done", &id, "3"])
        .refused("its items are numbered 1 to 2")
        .refused(&format!("fix: opsdeck incident show {id} lists them"));

    let shown = home.json(&["show", &id, "--format", "json"]);
    assert_eq!(shown["actions"][0]["done"], Value::Null);
    assert_eq!(shown["actions"][1]["done"]["by"], "bob");
    let text = home.run("reader", &["show", &id]).ok().stdout;
    assert!(
        text.contains(&format!("  1. [ ] raise the pool — owner dba — due {due}")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  2. [x] alert on pool use — owner dba — due {due}"
        )),
        "{text}"
    );
    let markdown = home.run("reader", &["export", &id]).ok().stdout;
    assert!(
        markdown.contains(&format!(
            "- [ ] raise the pool — owner: dba — due: {due}\n- [x] alert on pool use — owner: dba — due: {due}\n"
        )),
        "{markdown}"
    );
    let report = home.json(&["export", &id, "--format", "json"]);
    support::assert_follows_the_incident_report_schema(&report);
    assert_eq!(report["follow_up"]["action_items"][1]["done"]["by"], "bob");
}

/// `opsdeck check --only incidents` as cron runs it: its exit status and its one line.
fn check_incidents(home: &Home) -> (Option<i32>, Value) {
    let output = home
        .opsdeck("cron")
        .args(["check", "--only", "incidents", "--format", "json"])
        .output()
        .unwrap();
    let run = Run::from(output);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.text()));
    (run.code, report)
}

#[test]
fn check_reports_an_incident_nobody_acknowledged_in_time_as_critical_until_acknowledged() {
    let home = Home::new();
    let (code, report) = check_incidents(&home);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        report["checks"],
        Value::Array(Vec::new()),
        "no store, no incident"
    );
    assert!(
        !home.dir.path().join("state/state.db").exists(),
        "check does not create the state file"
    );

    std::fs::write(
        home.dir.path().join("config/opsdeck/config.toml"),
        "[incidents.levels.P2]\nrespond_within = \"2s\"\n",
    )
    .unwrap();
    let id = home.open(
        "alice",
        &["--level", "P2", "--title", "orders \u{1b}[2J stuck"],
    );
    let (code, report) = check_incidents(&home);
    assert_eq!(code, Some(0), "within its target: {report:#}");
    assert_eq!(report["checks"][0]["id"], "incident.unacknowledged_overdue");
    assert_eq!(report["checks"][0]["value"], 0.0);

    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let (code, report) = check_incidents(&home);
    assert_eq!(
        code,
        Some(2),
        "overdue is critical by the default rule: {report:#}"
    );
    let line = &report["checks"][0];
    assert_eq!(line["status"], "crit");
    assert_eq!(line["value"], 1.0);
    let detail = line["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{id} P2 orders \\x1b[2J stuck (respond by ")),
        "{detail}"
    );

    home.run("bob", &["ack", &id]).ok();
    let (code, report) = check_incidents(&home);
    assert_eq!(code, Some(0), "acknowledged: {report:#}");
    assert_eq!(report["checks"][0]["detail"], Value::Null);
}

#[test]
fn bad_input_is_refused_with_the_fix_and_writes_nothing() {
    let home = Home::new();
    let id = home.open("alice", &["--level", "P1", "--title", "api errors"]);
    let before = home.json(&["show", &id, "--format", "json"]);

    home.run("alice", &["open", "--level", "P5", "--title", "x"])
        .refused("unknown level `P5`")
        .refused("fix: give one of P0 (full service outage, respond within 15m)");
    home.run("alice", &["open", "--level", "P1", "--title", "  "])
        .refused("the title is empty")
        .refused("fix: --title");
    home.run("alice", &["ack", "INC-19990101-000000"])
        .refused("no incident `INC-19990101-000000`")
        .refused("fix: pass an id that `opsdeck incident list --all` shows");
    home.run("alice", &["level", &id, "urgent"])
        .refused("unknown level `urgent`");
    home.run("alice", &["level", &id, "P1"])
        .refused("already P1");
    home.run("alice", &["note", &id, ""])
        .refused("the note is empty");
    let yesterday = (Utc::now() - Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    home.run(
        "alice",
        &["action", &id, "--owner", "dba", "--due", &yesterday, "x"],
    )
    .refused("in the past")
    .refused("fix: --due ");
    home.run(
        "alice",
        &["action", &id, "--owner", "dba", "--due", "next week", "x"],
    )
    .refused("--due `next week` is not a date")
    .refused("fix: give it as YYYY-MM-DD");
    home.run("alice", &["recover", &id])
        .refused(&format!("fix: opsdeck incident resolve {id} first"));
    home.run("bob", &["ack", &id]).ok();
    home.run("carol", &["ack", &id])
        .refused("already acknowledged by bob");
    home.run("alice", &["export", "INC-nope", "--format", "json"])
        .refused("no incident `INC-nope`");

    let after = home.json(&["show", &id, "--format", "json"]);
    assert_eq!(
        after["timeline"].as_array().expect("timeline").len(),
        before["timeline"].as_array().expect("timeline").len() + 1,
        "only the one accepted ack was written: {after:#}"
    );
    assert_eq!(after["actions"], Value::Array(Vec::new()));
    assert_eq!(after["notes"], Value::Array(Vec::new()));
    assert_eq!(after["level"], "P1");
    let listed = home.json(&["list", "--all", "--format", "json"]);
    assert_eq!(listed["incidents"].as_array().expect("list").len(), 1);
}

/// Per round, 20 opsdeck processes started at once, ten per "console", each adding its own note
/// to the same incident; afterwards every note must be in the log, once, by the right user.
fn concurrent_notes_all_count(home: &Home) {
    let id = home.open("setup", &["--level", "P1", "--title", "burst"]);
    for round in 1..=2 {
        let children: Vec<(String, Child)> = (1..=10)
            .flat_map(|number| [("a", "alice"), ("b", "bob")].map(|side| (number, side)))
            .map(|(number, (side, user))| {
                let text = format!("round {round} {side}-{number:02}");
                let child = home
                    .command(user, &["note", &id, &text])
                    .spawn()
                    .expect("spawn opsdeck");
                (text, child)
            })
            .collect();
        for (text, child) in children {
            let run = Run::from(child.wait_with_output().expect("wait for opsdeck"));
            assert_eq!(run.code, Some(0), "{text}:\n{}", run.text());
        }
        let shown = home.json(&["show", &id, "--format", "json"]);
        let mut notes: Vec<(String, String)> = shown["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .map(|note| {
                (
                    note["text"].as_str().expect("text").to_owned(),
                    note["by"].as_str().expect("by").to_owned(),
                )
            })
            .collect();
        notes.sort();
        let mut expected: Vec<(String, String)> = (1..=round)
            .flat_map(|round| {
                (1..=10).flat_map(move |number| {
                    [("a", "alice"), ("b", "bob")].map(|(side, user)| {
                        (format!("round {round} {side}-{number:02}"), user.to_owned())
                    })
                })
            })
            .collect();
        expected.sort();
        assert_eq!(notes, expected, "round {round}");
    }
}

#[test]
fn two_consoles_noting_one_incident_at_once_lose_nothing_on_sqlite() {
    concurrent_notes_all_count(&Home::new());
}

#[test]
fn two_consoles_noting_one_incident_at_once_lose_nothing_on_postgres() {
    let server = PgServer::start();
    server.create_database("incidents");
    concurrent_notes_all_count(&Home::on_postgres(server.url_for("incidents")));
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM incident_events WHERE kind = 'note'"
        ),
        "40"
    );
}

/// P1 with a configured target and definition and a contact reachable every way; P0 with a
/// contact reachable by phone only; nobody for the other levels.
const ESCALATION: &str = r##"
[incidents.levels.P1]
respond_within = "30m"
definition = "checkout or login down"

[[escalation]]
level = "P1"
name = "Kim Minsu"
role = "dev lead"
phone = "+82-10-1234-5678"
slack = "#inc-p1"
email = "kim@example.com"

[[escalation]]
level = "P0"
name = "Lee Jiwon"
role = "CTO"
phone = "+82-10-8765-4321"
"##;

fn notify_to(http: &HttpReceiver, smtp: &SmtpReceiver) -> String {
    format!(
        r#"
[notify]
slack_webhook = "{base}/services/T1/B1/SECRET"
webhooks = ["{base}/hook"]

[notify.email]
smtp_host = "127.0.0.1"
smtp_port = {port}
starttls = false
from = "opsdeck@example.com"
to = ["oncall@example.com"]
"#,
        base = http.base,
        port = smtp.port
    )
}

fn timeline_texts(shown: &Value) -> Vec<String> {
    shown["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|entry| entry["text"].as_str().expect("text").to_owned())
        .collect()
}

/// Opening, raising and resolving from the CLI each reach the webhook, Slack (in the contact's
/// channel when they have one) and email, addressed to the level's contacts, and are logged;
/// acknowledging is not announced. `show` and the export list the contacts, and the configured
/// target is the one the response clock runs against.
async fn announced_to_the_contacts(home: &Home) {
    let http = HttpReceiver::start(Answer::Ok).await;
    let smtp = SmtpReceiver::start().await;
    home.configure(&notify_to(&http, &smtp));
    home.configure(ESCALATION);

    let id = home.open(
        "alice",
        &[
            "--level",
            "P1",
            "--title",
            "checkout errors",
            "--affects",
            "checkout",
        ],
    );
    let hooks = http.bodies_at("/hook");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let opened = &hooks[0];
    assert_eq!(opened["event"], "incident_opened");
    assert_eq!(opened["notice"], "opened");
    assert_eq!(opened["incident"]["id"], id.as_str());
    assert_eq!(opened["incident"]["level"], "P1");
    assert_eq!(opened["incident"]["title"], "checkout errors");
    assert_eq!(
        opened["incident"]["affects"],
        serde_json::json!(["checkout"])
    );
    assert_eq!(
        opened["contacts"],
        serde_json::json!([{
            "level": "P1",
            "name": "Kim Minsu",
            "role": "dev lead",
            "phone": "+82-10-1234-5678",
            "slack": "#inc-p1",
            "email": "kim@example.com",
        }])
    );
    let slack = http.bodies_at("/services/T1/B1/SECRET");
    assert_eq!(slack.len(), 1, "{slack:?}");
    assert_eq!(slack[0]["channel"], "#inc-p1");
    let text = slack[0]["text"].as_str().expect("text");
    assert!(
        text.contains(&format!("[P1] {id} opened: checkout errors")),
        "{text}"
    );
    assert!(
        text.contains("Kim Minsu (dev lead): phone +82-10-1234-5678"),
        "{text}"
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("kim@example.com"), "{}", mails[0]);
    assert!(mails[0].contains("oncall@example.com"), "{}", mails[0]);
    assert!(mails[0].contains(&id), "{}", mails[0]);

    let shown = home.json(&["show", &id, "--format", "json"]);
    assert_eq!(shown["contacts"][0]["name"], "Kim Minsu");
    assert_eq!(
        time(&shown["respond_by"]) - time(&shown["detected"]["at"]),
        Duration::minutes(30),
        "the configured target: {shown:#}"
    );
    let text = home.run("reader", &["show", &id]).ok().stdout;
    assert!(text.contains("P1 — checkout or login down"), "{text}");
    assert!(
        text.contains(
            "Contacts:\n  Kim Minsu (dev lead): phone +82-10-1234-5678, slack #inc-p1, email kim@example.com\n"
        ),
        "{text}"
    );

    home.run("bob", &["ack", &id]).ok();
    assert_eq!(http.bodies_at("/hook").len(), 1, "an ack is not announced");
    home.run("bob", &["level", &id, "P0"]).ok();
    home.run("bob", &["resolve", &id]).ok();
    let hooks = http.bodies_at("/hook");
    let notices: Vec<&str> = hooks
        .iter()
        .map(|body| body["notice"].as_str().expect("notice"))
        .collect();
    assert_eq!(notices, ["opened", "level_changed", "resolved"]);
    assert_eq!(hooks[1]["incident"]["level"], "P0");
    assert_eq!(hooks[1]["contacts"][0]["name"], "Lee Jiwon");
    assert_eq!(hooks[2]["contacts"][0]["name"], "Lee Jiwon");
    let slack = http.bodies_at("/services/T1/B1/SECRET");
    assert_eq!(slack.len(), 3);
    assert_eq!(
        slack[1].get("channel"),
        None,
        "Lee has no channel: the webhook's own"
    );
    assert!(
        slack[1]["text"]
            .as_str()
            .expect("text")
            .contains("level changed P1 -> P0"),
        "{}",
        slack[1]
    );
    assert_eq!(smtp.messages().len(), 3);

    let shown = home.json(&["show", &id, "--format", "json"]);
    let texts = timeline_texts(&shown);
    for expected in [
        "notified opened to Kim Minsu (dev lead)",
        "notified level_changed to Lee Jiwon (CTO)",
        "notified resolved to Lee Jiwon (CTO)",
    ] {
        assert!(texts.iter().any(|text| text == expected), "{texts:?}");
    }
    assert_eq!(shown["contacts"][0]["name"], "Lee Jiwon");
    let exported = home.json(&["export", &id, "--format", "json"]);
    assert_eq!(
        exported["basic_info"]["severity"]["contacts"][0]["phone"],
        "+82-10-8765-4321"
    );
    let markdown = home
        .run("reader", &["export", &id, "--format", "md"])
        .ok()
        .stdout;
    assert!(
        markdown.contains("- Escalation contacts:\n  - Lee Jiwon (CTO): phone +82-10-8765-4321\n"),
        "{markdown}"
    );

    // A level without a contact is announced to whoever [notify] reaches, and says so.
    let minor = home.open("alice", &["--level", "P3", "--title", "reports slow"]);
    let text = home.run("reader", &["show", &minor]).ok().stdout;
    assert!(
        text.contains("no [[escalation]] contact for P3; add one in config.toml"),
        "{text}"
    );
    let hooks = http.bodies_at("/hook");
    assert_eq!(hooks.len(), 4);
    assert_eq!(hooks[3]["contacts"], serde_json::json!([]));
    let texts = timeline_texts(&home.json(&["show", &minor, "--format", "json"]));
    assert!(
        texts.contains(
            &"notified opened to everyone on [notify] (no [[escalation]] contact for P3)"
                .to_owned()
        ),
        "{texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_announced_to_the_escalation_contacts_on_sqlite() {
    announced_to_the_contacts(&Home::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_announced_to_the_escalation_contacts_on_postgres() {
    let server = PgServer::start();
    server.create_database("incidents");
    announced_to_the_contacts(&Home::on_postgres(server.url_for("incidents"))).await;
}

#[test]
fn an_undelivered_notification_is_reported_and_logged_but_the_change_stands() {
    let home = Home::new();
    // Nothing listens on port 9 of the loopback.
    home.configure("[notify]\nwebhooks = [\"http://127.0.0.1:9/hook\"]\n");
    let run = home
        .run("alice", &["open", "--level", "P2", "--title", "api slow"])
        .ok();
    assert!(
        run.stderr
            .contains("warning: notification not delivered: webhook"),
        "{}",
        run.text()
    );
    let id = run.stdout.trim();
    let texts = timeline_texts(&home.json(&["show", id, "--format", "json"]));
    assert!(
        texts
            .iter()
            .any(|text| text.starts_with("notified opened to ") && text.ends_with("(1 failed)")),
        "{texts:?}"
    );
}

#[test]
fn bad_levels_and_escalation_entries_name_the_file_line_and_fix() {
    let cases = [
        (
            "[[escalation]]\nlevel = \"P7\"\nname = \"Kim\"\nphone = \"1\"\n",
            ":2:1: [[escalation]] level `P7` is not a level",
            "fix: write level = \"P1\"",
        ),
        (
            "[[escalation]]\nlevel = \"P1\"\nphone = \"1\"\n",
            ":2:1: [[escalation]] for P1 has no name",
            "fix: write name = ",
        ),
        (
            "[[escalation]]\nlevel = \"P1\"\nname = \"Kim\"\nrole = \"CTO\"\n",
            ":2:1: [[escalation]] `Kim` (P1) has no way to reach them",
            "fix: add phone = ",
        ),
        (
            "[incidents.levels.P0]\nrespond_within = \"soon\"\n",
            ":3:18: invalid duration \"soon\"",
            "fix: write it like 500ms",
        ),
    ];
    for (text, message, fix) in cases {
        let home = Home::new();
        home.configure(text);
        let run = home.run("alice", &["list"]);
        assert_ne!(run.code, Some(0), "{}", run.text());
        let file = home.dir.path().join("config/opsdeck/config.toml");
        assert!(
            run.stderr.contains(&format!("{}{message}", file.display())),
            "{text}\n{}",
            run.text()
        );
        assert!(run.stderr.contains(fix), "{}", run.text());
    }
}
