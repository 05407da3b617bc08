//! `opsdeck checklist` end to end on the real binary: ticking, skipping, noting, signing off and
//! the handover export round trip; user text kept exactly and shown escaped; refusals; broken
//! user checklist files; and two consoles' worth of processes writing the same run at the same
//! moment, on SQLite and on PostgreSQL, without losing a tick.
//!
//! Every run gets its own HOME and XDG directories; the opsdeck processes run with `TZ=UTC` and
//! an English locale so the export's times and texts are predictable.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::{Child, Command};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;
use support::PgServer;
use support::run::Run;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");

/// A user checklist with many items, for the concurrency tests: `a-01`…`a-10` for one console,
/// `b-01`…`b-10` for the other.
fn burst_checklist() -> String {
    let mut text = String::from(
        "id = \"burst\"\ntitle = { en = \"Burst\" }\nperiod = \"day\"\nschedule = \"0 9 * * *\"\n",
    );
    for side in ["a", "b"] {
        for number in 1..=10 {
            text.push_str(&format!(
                "\n[[item]]\nid = \"{side}-{number:02}\"\ntext = {{ en = \"Item {side}{number}\" }}\n"
            ));
        }
    }
    text
}

struct Home {
    dir: tempfile::TempDir,
    /// `None`: the SQLite file in the sandbox (`--state`); `Some`: the config names the store.
    store_url: Option<String>,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "config/opsdeck/checklists", "data", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("sandbox dir");
        }
        Home {
            dir,
            store_url: None,
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
            store_url: Some(url),
            ..home
        }
    }

    fn checklist_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join("config/opsdeck/checklists").join(name);
        std::fs::write(&path, text).expect("write checklist file");
        path
    }

    fn command(&self, user: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        if self.store_url.is_none() {
            command
                .arg("--state")
                .arg(self.dir.path().join("state/state.db"));
        }
        command.arg("checklist").args(args);
        support::run::sandboxed(&mut command, self.dir.path(), user);
        command
    }

    fn run(&self, user: &str, args: &[&str]) -> Run {
        Run::from(
            self.command(user, args)
                .output()
                .expect("run opsdeck checklist"),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let run = self.run("reader", args).ok();
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.text()))
    }
}

/// How the export writes a time under `TZ=UTC`.
fn local(at: &Value) -> String {
    let at: DateTime<Utc> = serde_json::from_value(at.clone()).expect("a time");
    at.with_timezone(&FixedOffset::east_opt(0).expect("offset"))
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn item_text(export: &Value, id: &str) -> String {
    export["checklist"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["id"] == id)
        .and_then(|item| item["text"]["en"].as_str())
        .unwrap_or_else(|| panic!("no item {id}"))
        .to_owned()
}

#[test]
fn tick_skip_note_sign_off_and_the_export_shows_exactly_that() {
    let home = Home::new();
    home.run("alice", &["tick", "daily", "cpu"]).ok();
    home.run(
        "alice",
        &["tick", "daily", "memory", "--note", "swap unused"],
    )
    .ok();
    home.run(
        "bob",
        &["tick", "daily", "disk", "--skip", "df hangs on /nfs"],
    )
    .ok();
    home.run("bob", &["note", "daily", "handover: quiet night"])
        .ok();
    home.run("alice", &["tick", "daily", "handover"])
        .refused("add a note first");
    home.run(
        "alice",
        &[
            "tick",
            "daily",
            "handover",
            "--note",
            "nothing to hand over",
        ],
    )
    .ok();
    let open = home
        .run("carol", &["sign-off", "daily"])
        .refused("still open");
    assert!(open.stderr.contains("services"), "{}", open.text());
    assert!(!open.stderr.contains("cpu"), "{}", open.text());
    for item in [
        "services",
        "databases",
        "load",
        "api-performance",
        "error-logs",
        "backups",
        "nightly-maintenance",
        "alerts-and-access",
    ] {
        home.run("alice", &["tick", "daily", item]).ok();
    }
    home.run("bob", &["tick", "daily", "cpu", "--reopen"]).ok();
    home.run("bob", &["tick", "daily", "cpu"]).ok();
    let signed = home
        .run("carol", &["sign-off", "daily", "--note", "all green"])
        .ok();
    assert!(
        signed.stdout.contains("signed off by carol (12/12 done)"),
        "{}",
        signed.text()
    );

    let export = home.json(&["export", "daily", "--format", "json"]);
    let entries = export["run"]["entries"].as_array().expect("entries");
    let at = |item: &str, kind: &str| {
        let entry = entries
            .iter()
            .rev()
            .find(|entry| entry["item"] == item && entry["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} of {item}"));
        local(&entry["at"])
    };
    let note_at = |item: Option<&str>| {
        let entry = entries
            .iter()
            .find(|entry| entry["kind"] == "note" && entry["item"].as_str() == item)
            .expect("note");
        local(&entry["at"])
    };
    let mut expected = String::from("## Items\n\n");
    for id in [
        "services",
        "databases",
        "cpu",
        "memory",
        "disk",
        "load",
        "api-performance",
        "error-logs",
        "backups",
        "nightly-maintenance",
        "alerts-and-access",
        "handover",
    ] {
        let text = item_text(&export, id);
        let line = match id {
            "disk" => format!(
                "- [~] {text} — skipped by bob {}: df hangs on /nfs\n",
                at(id, "skip")
            ),
            "cpu" => format!("- [x] {text} — by bob {}\n", at(id, "tick")),
            _ => format!("- [x] {text} — by alice {}\n", at(id, "tick")),
        };
        expected.push_str(&line);
        match id {
            "memory" => expected.push_str(&format!(
                "  - alice {}: swap unused\n",
                note_at(Some("memory"))
            )),
            "handover" => expected.push_str(&format!(
                "  - alice {}: nothing to hand over\n",
                note_at(Some("handover"))
            )),
            _ => {}
        }
    }
    let sign_off = entries
        .iter()
        .find(|entry| entry["kind"] == "sign_off")
        .expect("sign-off entry");
    expected.push_str(&format!(
        "\n## Notes\n\n- bob {}: handover: quiet night\n- carol {}: all green\n\nSigned off by carol {}.\n",
        note_at(None),
        local(&sign_off["at"]),
        local(&sign_off["at"]),
    ));

    let markdown = home.run("reader", &["export", "daily"]).ok().stdout;
    assert!(markdown.starts_with("# Daily checks\n"), "{markdown}");
    assert!(markdown.contains("- Progress: 12/12\n"), "{markdown}");
    assert!(markdown.contains("- State: done\n"), "{markdown}");
    let items = &markdown[markdown.find("## Items").expect("items section")..];
    assert_eq!(items, expected);

    // 1 + 2 + 1 + 1 + 2 + 8 + 2 + 1 entries, in the order they were made.
    assert_eq!(entries.len(), 18, "{entries:#?}");
    assert_eq!(export["progress"]["resolved"], 12);
    assert_eq!(export["run"]["signed_off"][0], "carol");

    let listed = home.json(&["list", "--format", "json"]);
    let daily = listed["checklists"]
        .as_array()
        .expect("checklists")
        .iter()
        .find(|checklist| checklist["id"] == "daily")
        .expect("daily listed")
        .clone();
    assert_eq!(daily["resolved"], 12);
    assert_eq!(daily["state"], "done");

    // Reopening an item takes the sign-off back.
    home.run("dave", &["tick", "daily", "load", "--reopen"])
        .ok();
    let shown = home.run("reader", &["show", "daily"]).ok().stdout;
    assert!(shown.contains("Not signed off."), "{shown}");
    assert!(shown.contains("11/12 done"), "{shown}");
}

#[test]
fn user_text_is_stored_exactly_and_shown_escaped() {
    let home = Home::new();
    let raw = "line1\nline2\u{1b}[31m";
    home.run("alice", &["tick", "daily", "cpu", "--note", raw])
        .ok();
    home.run("alice", &["tick", "daily", "disk", "--skip", raw])
        .ok();

    let export = home.json(&["export", "daily", "--format", "json"]);
    let texts: Vec<&str> = export["run"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["text"].as_str())
        .filter(|text| !text.is_empty())
        .collect();
    assert_eq!(texts, [raw, raw], "JSON carries the text as typed");

    let escaped = "line1\\nline2\\x1b[31m";
    for args in [&["show", "daily"][..], &["export", "daily"][..]] {
        let run = home.run("reader", args).ok();
        assert!(!run.stdout.contains('\u{1b}'), "{}", run.text());
        assert_eq!(run.stdout.matches(escaped).count(), 2, "{}", run.text());
    }
}

#[test]
fn a_password_pasted_into_a_note_is_masked_before_it_is_stored() {
    let home = Home::new();
    let note = "restored from postgres://app:hunter22@db/shop with Authorization: Bearer abc123xyz";
    home.run("alice", &["tick", "daily", "cpu", "--note", note])
        .ok();
    let export = home.json(&["export", "daily", "--format", "json"]);
    let texts: Vec<&str> = export["run"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|entry| entry["text"].as_str())
        .filter(|text| !text.is_empty())
        .collect();
    assert_eq!(
        texts,
        ["restored from postgres://app:***@db/shop with Authorization: Bearer ***"]
    );
}

#[test]
fn refused_entries_exit_2_with_the_reason_and_write_nothing() {
    let home = Home::new();
    let unknown = home
        .run("alice", &["tick", "daily", "cpuu"])
        .refused("has no item `cpuu`");
    assert!(
        unknown.stderr.contains("cpu, memory, disk"),
        "{}",
        unknown.text()
    );
    home.run("alice", &["tick", "daily", "disk", "--skip", " "])
        .refused("needs a reason");
    home.run("alice", &["note", "daily", ""])
        .refused("note is empty");
    home.run("alice", &["tick", "daily", "handover"])
        .refused("add a note first")
        .refused("fix: opsdeck checklist tick daily handover --note TEXT");
    home.run("alice", &["tick", "daily", "cpu", "--reopen"])
        .refused("nothing to reopen");
    home.run("alice", &["sign-off", "daily"])
        .refused("12 items still open");
    home.run("alice", &["sign-off", "daily", "--note", ""])
        .refused("--note");
    home.run("alice", &["tick", "nightly", "cpu"])
        .refused("no checklist `nightly`");
    home.run(
        "alice",
        &["tick", "daily", "cpu", "--date", "yesterday-ish"],
    )
    .refused("--date `yesterday-ish`");

    let export = home.json(&["export", "daily", "--format", "json"]);
    assert_eq!(export["run"]["entries"], Value::Array(Vec::new()));
}

#[test]
fn a_broken_user_checklist_is_reported_with_its_line_and_the_others_still_list() {
    let home = Home::new();
    let broken = home.checklist_file(
        "broken.toml",
        "id = \"broken\"\ntitle = { en = \"Broken\" }\nperiod = \"fortnight\"\nschedule = \"0 9 * * *\"\n",
    );
    home.checklist_file("burst.toml", &burst_checklist());

    let listed = home.run("alice", &["list"]);
    assert_eq!(listed.code, Some(1), "{}", listed.text());
    let location = format!("{}:3:", broken.display());
    assert!(listed.stderr.contains(&location), "{}", listed.text());
    assert!(listed.stderr.contains("fix:"), "{}", listed.text());
    for id in ["daily", "weekly", "monthly", "quarterly", "burst"] {
        assert!(
            listed
                .stdout
                .lines()
                .any(|line| line.starts_with(&format!("{id} "))),
            "{id} should still be listed:\n{}",
            listed.text()
        );
    }
    // The other commands still work, and still point at the broken file.
    let ticked = home.run("alice", &["tick", "burst", "a-01"]).ok();
    assert!(ticked.stderr.contains(&location), "{}", ticked.text());
    home.run("alice", &["show", "broken"])
        .refused("could not be read");
}

/// A checklist item may name any metric a rule may: those of the fleet, containers, host
/// exposure, logs and heartbeats too, not only the first parts'.
#[test]
fn a_checklist_may_check_every_metric_a_rule_may() {
    let home = Home::new();
    let mut text = String::from(
        "id = \"newer\"\ntitle = { en = \"Newer\" }\nperiod = \"day\"\nschedule = \"0 9 * * *\"\n",
    );
    for (number, metric) in [
        "updates.security",
        "container.up",
        "host.up",
        "log.errors",
        "heartbeat.console_age",
        "task.overdue",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!(
            "\n[[item]]\nid = \"c-{number}\"\ntext = {{ en = \"{metric}\" }}\ncheck = \"{metric}\"\n"
        ));
    }
    home.checklist_file("newer.toml", &text);
    let listed = home.run("alice", &["list"]);
    assert_eq!(listed.code, Some(0), "{}", listed.text());
    assert!(
        listed.stdout.lines().any(|line| line.starts_with("newer ")),
        "{}",
        listed.text()
    );
}

/// Per round, 20 opsdeck processes started at once, ten per "console", each ticking its own
/// item of the same run; afterwards every tick must be in the log, once.
fn concurrent_ticks_all_count(home: &Home) {
    home.checklist_file("burst.toml", &burst_checklist());
    // The store exists before the race, as it does for consoles already running.
    home.run("setup", &["list"]).ok();
    for round in 1..=3 {
        let period = format!("2026-01-0{round}");
        let children: Vec<(String, Child)> = (1..=10)
            .flat_map(|number| [("a", "alice"), ("b", "bob")].map(|side| (number, side)))
            .map(|(number, (side, user))| {
                let item = format!("{side}-{number:02}");
                let child = home
                    .command(user, &["tick", "burst", &item, "--period", &period])
                    .spawn()
                    .expect("spawn opsdeck");
                (item, child)
            })
            .collect();
        for (item, child) in children {
            let run = Run::from(child.wait_with_output().expect("wait for opsdeck"));
            assert_eq!(run.code, Some(0), "round {round}, {item}:\n{}", run.text());
        }
        let export = home.json(&["export", "burst", "--period", &period, "--format", "json"]);
        let entries = export["run"]["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 20, "round {round}: {entries:#?}");
        assert_eq!(export["progress"]["resolved"], 20, "round {round}");
        for state in export["run"]["items"].as_array().expect("items") {
            let expected_user = if state["item"].as_str().is_some_and(|id| id.starts_with('a')) {
                "alice"
            } else {
                "bob"
            };
            assert_eq!(state["status"]["state"], "done", "round {round}: {state}");
            assert_eq!(
                state["status"]["by"], expected_user,
                "round {round}: {state}"
            );
        }
    }
}

#[test]
fn two_consoles_ticking_the_same_run_at_once_lose_nothing_on_sqlite() {
    concurrent_ticks_all_count(&Home::new());
}

#[test]
fn two_consoles_ticking_the_same_run_at_once_lose_nothing_on_postgres() {
    let server = PgServer::start();
    server.create_database("checklists");
    concurrent_ticks_all_count(&Home::on_postgres(server.url_for("checklists")));
    // The rows are really in PostgreSQL, not in a SQLite file next to the config.
    let counted = server
        .client_command("psql")
        .args([
            "-d",
            "checklists",
            "-Atc",
            "SELECT count(*) FROM checklist_entries",
        ])
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&counted.stdout).trim(), "60");
}

/// The monthly incident procedure review lists the incidents' action items past their due date,
/// the longest overdue first, escaped. The command line refuses such dates, so the log rows are
/// written through the store as they would have been when the items were still due later.
#[tokio::test]
async fn the_monthly_incident_review_shows_the_overdue_action_items() {
    use opsdeck::core::incidents::{Change, Event, Level};
    use opsdeck::core::store::{Store, StoreLocation};

    let home = Home::new();
    let clean = home.run("oncall", &["show", "monthly"]).ok();
    assert!(
        clean.stdout.contains("no incident action item overdue"),
        "{}",
        clean.text()
    );

    let store = Store::open(&StoreLocation::Sqlite(
        home.dir.path().join("state/state.db"),
    ))
    .await
    .expect("open the store");
    let at = Utc::now() - chrono::Duration::days(60);
    let event = |change| Event {
        incident: "INC-20261001-0a0b0c".into(),
        change,
        user: "alice".into(),
        host: "web-1".into(),
        at,
    };
    let action = |text: &str, owner: &str, days_ago: i64| Change::ActionAdded {
        text: text.into(),
        owner: owner.into(),
        due: (Utc::now() - chrono::Duration::days(days_ago)).date_naive(),
    };
    for change in [
        Change::Opened {
            title: "checkout down".into(),
            level: Level::P1,
            affects: Vec::new(),
            evidence: String::new(),
        },
        Change::Resolved,
        action("raise pool\u{1b}[2J", "dba", 3),
        action("write the runbook", "sre", 20),
        action("not yet", "sre", -5),
    ] {
        store
            .append_incident_event(&event(change))
            .await
            .expect("append");
    }

    let shown = home.run("oncall", &["show", "monthly"]).ok();
    let review: Vec<&str> = shown
        .stdout
        .lines()
        .skip_while(|line| !line.contains("incident-procedures"))
        .skip(1)
        .take(3)
        .map(str::trim)
        .collect();
    assert_eq!(
        review[0],
        "2 incident action item(s) overdue:",
        "{}",
        shown.text()
    );
    assert!(
        review[1].starts_with("due ")
            && review[1].ends_with("sre: write the runbook (INC-20261001-0a0b0c)"),
        "the longest overdue first: {review:?}"
    );
    assert!(
        review[2].ends_with("dba: raise pool\\x1b[2J (INC-20261001-0a0b0c)"),
        "escaped: {review:?}"
    );
    assert!(!shown.stdout.contains("not yet"), "{}", shown.text());
}
