//! The composed report of a known month. A store is seeded with November 2026 (and a quieter
//! October): hourly results of two services, one of them down two hours on the 10th, three
//! alerts, an incident, two task runs, backup verifications and a restore test, and the monthly
//! checklist worked through with a skip and a note. The JSON is asserted field by field on
//! SQLite, and must be the same on PostgreSQL; the Markdown is a snapshot; the real binary writes
//! the HTML, which Debian's chromium opens headless (DOM dump and screenshot) with its charts;
//! `--send` delivers it to a webhook.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::Value;

use opsdeck::core::backups::{Verification, VerifyResult};
use opsdeck::core::checklists::{Checklist, Entry, EntryKind, Language};
use opsdeck::core::incidents::{Change, Event as IncidentEvent, Level};
use opsdeck::core::model::{Alert, RunStatus, Status, TaskRun, Unit};
use opsdeck::core::reports::{self, Format, Kind, Live, Period, ReportInputs, ServiceTarget};
use opsdeck::core::store::{ServiceResultRow, Store, StoreLocation};

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn now() -> DateTime<Utc> {
    at("2026-12-05T08:00:00Z")
}

fn november() -> Period {
    Period::containing(
        Kind::Monthly,
        NaiveDate::from_ymd_opt(2026, 11, 17).unwrap(),
        &Utc,
    )
}

fn monthly_checklist() -> Vec<Checklist> {
    let session = opsdeck::headless::checklists::Session::load(
        None,
        Vec::new(),
        Language::En,
        "tester".into(),
        "test-host".into(),
    );
    session
        .checklists
        .into_iter()
        .filter(|checklist| checklist.id == "monthly")
        .collect()
}

fn targets() -> Vec<ServiceTarget> {
    vec![
        ServiceTarget {
            name: "api".into(),
            slo_pct: 99.9,
            interval: Duration::from_secs(3600),
        },
        ServiceTarget {
            name: "db".into(),
            slo_pct: 99.5,
            interval: Duration::from_secs(3600),
        },
    ]
}

/// The host the binary reports on, whose alerts its report lists.
fn this_host() -> String {
    hostname::get().unwrap().to_string_lossy().into_owned()
}

fn alert(
    host: &str,
    id: &str,
    key: &str,
    level: Status,
    opened: &str,
    resolved: Option<&str>,
) -> Alert {
    let (metric, instance) = match key.split_once(':') {
        Some((metric, instance)) => (metric.to_owned(), Some(instance.to_owned())),
        None => (key.to_owned(), None),
    };
    Alert {
        id: id.into(),
        key: key.into(),
        metric,
        instance,
        host: Some(host.into()),
        level,
        opened_at: at(opened),
        resolved_at: resolved.map(at),
        peak: 97.0,
        threshold: 90.0,
        unit: Unit::Percent,
    }
}

fn run(id: &str, task: &str, user: &str, started: &str, status: RunStatus) -> TaskRun {
    TaskRun {
        id: id.into(),
        task_id: task.into(),
        params: Default::default(),
        plan: vec!["do it".into()],
        user: user.into(),
        client: None,
        host: "test-host".into(),
        pid: 1,
        started_at: at(started),
        ended_at: Some(at(started) + TimeDelta::seconds(90)),
        status,
        exit_code: Some(if status == RunStatus::Succeeded { 0 } else { 1 }),
        summary: Some(format!("{task} {}", status.as_str())),
        output: String::new(),
        log_path: None,
        trigger: Default::default(),
    }
}

/// November 2026 and a quieter October of `host`, as described at the top, and an alert of
/// another host's.
async fn seed(store: &Store, host: &str) {
    let mut results = Vec::new();
    let mut hour = at("2026-10-01T00:00:00Z");
    while hour < at("2026-12-01T00:00:00Z") {
        let down = hour >= at("2026-11-10T10:00:00Z") && hour < at("2026-11-10T12:00:00Z");
        for service in ["api", "db"] {
            let failed = service == "api" && down;
            results.push(ServiceResultRow {
                service: service.into(),
                checked_at: hour,
                ok: !failed,
                latency_ms: Some(12.0),
                detail: if failed {
                    "connection refused"
                } else {
                    "200 OK"
                }
                .into(),
            });
        }
        hour += TimeDelta::hours(1);
    }
    store.insert_service_results(&results).await.unwrap();

    // CPU every quarter hour of November's last two days (what one record_batch rolls up): 40 %,
    // but 95 % from 03:00 to 03:30 on the 30th.
    let mut samples = Vec::new();
    let mut quarter = at("2026-11-29T00:00:00Z");
    while quarter < at("2026-12-01T00:00:00Z") {
        let busy = quarter >= at("2026-11-30T03:00:00Z") && quarter < at("2026-11-30T03:30:00Z");
        samples.push(("cpu.used_pct", quarter, if busy { 95.0 } else { 40.0 }));
        quarter += TimeDelta::minutes(15);
    }
    opsdeck::core::history::record_batch(store, &samples)
        .await
        .unwrap();

    for alert in [
        alert(
            host,
            "a-oct",
            "cpu.used_pct",
            Status::Warn,
            "2026-10-12T08:00:00Z",
            Some("2026-10-12T08:10:00Z"),
        ),
        alert(
            host,
            "a1",
            "cpu.used_pct",
            Status::Crit,
            "2026-11-05T03:00:00Z",
            Some("2026-11-05T03:30:00Z"),
        ),
        alert(
            host,
            "a2",
            "disk.used_pct:/var",
            Status::Warn,
            "2026-11-20T12:00:00Z",
            Some("2026-11-21T12:00:00Z"),
        ),
        alert(
            host,
            "a3",
            "mem.used_pct",
            Status::Crit,
            "2026-11-30T23:00:00Z",
            None,
        ),
        // Another host's alert on a shared store belongs to that host's report.
        alert(
            "web-9",
            "elsewhere",
            "mem.used_pct",
            Status::Crit,
            "2026-11-10T12:00:00Z",
            Some("2026-11-10T13:00:00Z"),
        ),
    ] {
        store.insert_alert(&alert).await.unwrap();
    }

    let incident = |change: Change, when: &str| IncidentEvent {
        incident: "INC-20261110-api".into(),
        change,
        user: "alice".into(),
        host: "test-host".into(),
        at: at(when),
    };
    for event in [
        incident(
            Change::Opened {
                title: "api answers 502".into(),
                level: Level::P2,
                affects: vec!["api".into()],
                evidence: String::new(),
            },
            "2026-11-10T10:05:00Z",
        ),
        incident(Change::Acknowledged, "2026-11-10T10:20:00Z"),
        incident(Change::Resolved, "2026-11-10T11:55:00Z"),
    ] {
        store.append_incident_event(&event).await.unwrap();
    }

    for task_run in [
        run(
            "r1",
            "db-vacuum-analyze",
            "alice",
            "2026-11-08T02:00:00Z",
            RunStatus::Succeeded,
        ),
        run(
            "r2",
            "temp-cleanup",
            "bob",
            "2026-11-22T04:00:00Z",
            RunStatus::Failed,
        ),
    ] {
        store.insert_run(&task_run).await.unwrap();
    }

    for (day, result) in [
        ("2026-11-02T01:00:00Z", VerifyResult::Ok),
        ("2026-11-09T01:00:00Z", VerifyResult::Ok),
        ("2026-11-16T01:00:00Z", VerifyResult::Corrupt),
        ("2026-11-23T01:00:00Z", VerifyResult::Ok),
    ] {
        store
            .insert_verification(&Verification {
                set: "pg".into(),
                path: format!("/backups/pg-{}.dump", &day[..10]).into(),
                size: 1_000_000,
                modified: at(day),
                verified_at: at(day),
                result,
                message: result.as_str().into(),
                sha256: None,
                duration_ms: 1200,
            })
            .await
            .unwrap();
    }
    store
        .insert_restore_test(&opsdeck::core::backups::RestoreTest {
            set: "pg".into(),
            file: "/backups/pg-2026-11-09.dump".into(),
            started_at: at("2026-11-15T03:00:00Z"),
            duration_ms: 42_000,
            ok: true,
            message: "restored 12 tables".into(),
            counts: Vec::new(),
        })
        .await
        .unwrap();

    let entry = |item: Option<&str>, kind: EntryKind, text: &str, when: &str| Entry {
        checklist: "monthly".into(),
        period: "2026-11".into(),
        item: item.map(str::to_owned),
        kind,
        text: text.into(),
        user: "carol".into(),
        host: "test-host".into(),
        at: at(when),
    };
    let mut entries = Vec::new();
    for (index, item) in [
        "restore-test",
        "backup-policy",
        "security-patches",
        "dependencies",
        "vulnerability-scan",
        "performance",
        "capacity-plan",
        "incident-procedures",
    ]
    .iter()
    .enumerate()
    {
        entries.push(entry(
            Some(item),
            EntryKind::Tick,
            "",
            &format!("2026-11-02T10:{:02}:00Z", index),
        ));
    }
    entries.push(entry(
        Some("documentation"),
        EntryKind::Skip,
        "runbooks moved to the wiki",
        "2026-11-02T10:20:00Z",
    ));
    entries.push(entry(
        Some("monthly-report"),
        EntryKind::Note,
        "written, see the wiki page",
        "2026-11-02T10:21:00Z",
    ));
    entries.push(entry(
        Some("monthly-report"),
        EntryKind::Tick,
        "",
        "2026-11-02T10:22:00Z",
    ));
    entries.push(entry(None, EntryKind::SignOff, "", "2026-11-02T10:23:00Z"));
    for entry in entries {
        store.append_checklist_entry(&entry).await.unwrap();
    }
}

async fn november_report(store: &Store) -> reports::Report {
    let checklists = monthly_checklist();
    let rules = [opsdeck::core::checks::Rule {
        metric: "cpu.used_pct".into(),
        instance: None,
        operator: opsdeck::core::checks::rules::Operator::Above,
        warn: Some(80.0),
        crit: Some(90.0),
        hold_for: Duration::ZERO,
    }];
    let inputs = ReportInputs {
        host: "test-host".into(),
        services: targets(),
        rules: &rules,
        checklists: &checklists,
        live: Live::default(),
    };
    reports::build(store, &inputs, &november(), now(), &Utc)
        .await
        .unwrap()
}

async fn sqlite_store(dir: &std::path::Path) -> Store {
    Store::open(&StoreLocation::Sqlite(dir.join("state.db")))
        .await
        .unwrap()
}

fn close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().unwrap_or(f64::NAN);
    assert!(
        (actual - expected).abs() < 1e-6,
        "{actual} is not {expected}"
    );
}

fn assert_november(json: &Value) {
    support::assert_follows_schema("report-1.schema.json", "opsdeck.report/1", json);
    assert_eq!(json["host"], "test-host");
    assert_eq!(json["generated_at"], "2026-12-05T08:00:00Z");
    assert_eq!(json["period"]["kind"], "monthly");
    assert_eq!(json["period"]["label"], "2026-11");
    assert_eq!(json["period"]["start"], "2026-11-01T00:00:00Z");
    assert_eq!(json["period"]["end"], "2026-12-01T00:00:00Z");
    assert_eq!(json["period"]["previous_label"], "2026-10");
    assert_eq!(json["empty"], false);

    assert_eq!(json["overall"]["status"], "crit");
    let reasons: Vec<&str> = json["overall"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason.as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "api was available 99.722 %, below its objective of 99.9 %",
            "2 critical alert(s)",
            "1 incident(s)",
            "1 task run(s) failed",
            "backup set pg: 1 verification(s) failed",
        ]
    );

    let resources = json["resources"]["metrics"].as_array().unwrap();
    assert_eq!(json["resources"]["note"], Value::Null);
    assert_eq!(resources.len(), 1, "{resources:#?}");
    let cpu = &resources[0];
    assert_eq!(cpu["key"], "cpu.used_pct");
    assert_eq!(cpu["unit"], "percent");
    // The last quarter hour (23:45) is still open when its only sample is recorded: 191 points.
    close(&cpu["mean"], (189.0 * 40.0 + 2.0 * 95.0) / 191.0);
    close(&cpu["peak"], 95.0);
    let cpu_days = cpu["days"].as_array().unwrap();
    assert_eq!(cpu_days.len(), 2, "days with history only: {cpu_days:#?}");
    assert_eq!(cpu_days[0]["date"], "2026-11-29");
    close(&cpu_days[0]["peak"], 40.0);
    assert_eq!(cpu_days[1]["date"], "2026-11-30");
    close(&cpu_days[1]["peak"], 95.0);
    let above = cpu["above"].as_array().unwrap();
    assert_eq!(above.len(), 2);
    assert_eq!(above[0]["level"], "warn");
    close(&above[0]["threshold"], 80.0);
    close(&above[0]["minutes"], 30.0);
    assert_eq!(above[1]["level"], "crit");
    close(&above[1]["minutes"], 30.0);

    let services = json["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    let api = &services[0];
    assert_eq!(api["name"], "api");
    assert_eq!(api["checks"], 720);
    assert_eq!(api["failed_checks"], 2);
    close(&api["availability_pct"], 718.0 * 100.0 / 720.0);
    close(&api["downtime_minutes"], 120.0);
    close(&api["slo_pct"], 99.9);
    assert_eq!(api["slo_met"], false);
    close(&api["budget_minutes"], 43.2);
    let days = api["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[9]["date"], "2026-11-10");
    close(&days[9]["availability_pct"], 22.0 * 100.0 / 24.0);
    close(&days[10]["availability_pct"], 100.0);
    let db = &services[1];
    assert_eq!(db["name"], "db");
    close(&db["availability_pct"], 100.0);
    close(&db["downtime_minutes"], 0.0);
    close(&db["slo_pct"], 99.5);
    assert_eq!(db["slo_met"], true);

    let alerts = &json["alerts"];
    assert_eq!(alerts["total"], 3);
    assert_eq!(alerts["crit"], 2);
    assert_eq!(alerts["warn"], 1);
    assert_eq!(alerts["open_at_end"], 1);
    let items = alerts["items"].as_array().unwrap();
    let keys: Vec<&str> = items.iter().map(|a| a["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["cpu.used_pct", "disk.used_pct:/var", "mem.used_pct"]);
    close(&items[0]["minutes"], 30.0);
    close(&items[1]["minutes"], 1440.0);
    close(&items[2]["minutes"], 60.0);
    assert_eq!(items[2]["resolved_at"], Value::Null);
    let per_day = alerts["per_day"].as_array().unwrap();
    assert_eq!(per_day.len(), 30);
    assert_eq!(per_day[4]["date"], "2026-11-05");
    assert_eq!(per_day[4]["count"], 1);
    assert_eq!(
        per_day
            .iter()
            .map(|d| d["count"].as_u64().unwrap())
            .sum::<u64>(),
        3
    );

    let incidents = json["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["id"], "INC-20261110-api");
    assert_eq!(incidents[0]["level"], "P2");
    assert_eq!(incidents[0]["stage"], "resolved");
    assert_eq!(incidents[0]["commander"], "alice");
    assert_eq!(incidents[0]["affects"][0], "api");
    close(&incidents[0]["response_minutes"], 15.0);
    assert_eq!(incidents[0]["resolved_at"], "2026-11-10T11:55:00Z");

    let runs = &json["task_runs"];
    assert_eq!(runs["total"], 2);
    assert_eq!(runs["failed"], 1);
    assert_eq!(runs["runs"][0]["task"], "db-vacuum-analyze");
    assert_eq!(runs["runs"][0]["user"], "alice");
    assert_eq!(runs["runs"][0]["status"], "succeeded");
    close(&runs["runs"][0]["seconds"], 90.0);
    assert_eq!(runs["runs"][1]["task"], "temp-cleanup");
    assert_eq!(runs["runs"][1]["user"], "bob");
    assert_eq!(runs["runs"][1]["status"], "failed");

    let backups = json["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0]["set"], "pg");
    assert_eq!(backups[0]["verifications_ok"], 3);
    assert_eq!(backups[0]["verifications_failed"], 1);
    assert_eq!(backups[0]["last_verified_at"], "2026-11-23T01:00:00Z");
    assert_eq!(backups[0]["last_restore_test"]["ok"], true);
    assert_eq!(
        backups[0]["last_restore_test"]["at"],
        "2026-11-15T03:00:00Z"
    );
    assert_eq!(backups[0]["newest_age_s"], Value::Null);

    let checklists = json["checklists"].as_array().unwrap();
    assert_eq!(checklists.len(), 1);
    let monthly = &checklists[0];
    assert_eq!(monthly["checklist"], "monthly");
    assert_eq!(monthly["run"], "2026-11");
    assert_eq!(monthly["state"], "done");
    assert_eq!(monthly["done"], 9);
    assert_eq!(monthly["skipped"], 1);
    assert_eq!(monthly["open"], 0);
    assert_eq!(monthly["signed_off_by"], "carol");
    assert_eq!(monthly["skips"][0]["item"], "documentation");
    assert_eq!(monthly["skips"][0]["text"], "runbooks moved to the wiki");
    assert_eq!(monthly["notes"][0]["item"], "monthly-report");
    assert_eq!(monthly["notes"][0]["text"], "written, see the wiki page");

    assert_eq!(json["statements"]["databases"], Value::Array(Vec::new()));
    assert!(
        json["statements"]["note"]
            .as_str()
            .unwrap()
            .contains("[[database]]")
    );
    assert!(json["logs"]["note"].as_str().unwrap().contains("[[log]]"));

    let changes = &json["changes"];
    assert_eq!(changes["previous_empty"], false);
    let change = |what: &str| {
        changes["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["what"] == what)
            .unwrap_or_else(|| panic!("no change line `{what}` in {changes:#}"))
            .clone()
    };
    let alerts_change = change("alerts");
    close(&alerts_change["previous"], 1.0);
    close(&alerts_change["current"], 3.0);
    assert_eq!(alerts_change["direction"], "worse");
    let availability = change("api availability %");
    close(&availability["previous"], 100.0);
    assert_eq!(availability["direction"], "worse");
    assert_eq!(change("db availability %")["direction"], "same");
    assert_eq!(change("incidents")["direction"], "worse");
}

#[tokio::test]
async fn a_known_month_on_sqlite_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    seed(&store, "test-host").await;
    let report = november_report(&store).await;
    let json = serde_json::to_value(&report).unwrap();
    assert_november(&json);
    assert_eq!(
        serde_json::from_str::<Value>(&reports::render(&report, Format::Json)).unwrap(),
        json
    );
}

#[tokio::test]
async fn a_known_month_on_postgresql_is_the_same_report() {
    let (_server, store) = support::postgres_store().await;
    seed(&store, "test-host").await;
    let json = serde_json::to_value(november_report(&store).await).unwrap();
    assert_november(&json);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_store(dir.path()).await;
    seed(&sqlite, "test-host").await;
    assert_eq!(
        json,
        serde_json::to_value(november_report(&sqlite).await).unwrap()
    );
}

#[tokio::test]
async fn the_markdown_of_a_known_month() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    seed(&store, "test-host").await;
    let markdown = reports::render(&november_report(&store).await, Format::Markdown);
    insta::assert_snapshot!(markdown);
}

fn opsdeck(dir: &std::path::Path, args: &[&str]) -> support::run::Run {
    let mut command = std::process::Command::new(BIN);
    support::run::sandboxed(&mut command, dir, "tester");
    command.args(args);
    support::run::Run::from(command.output().unwrap())
}

/// The sandbox's store, seeded, and a config with the two services (api at 99.9 %).
async fn seeded_sandbox(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let store = sqlite_store(dir).await;
    seed(&store, &this_host()).await;
    store.close().await;
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[service]]\nname = \"api\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ninterval = \"1h\"\nslo = 99.9\n\n\
             [[service]]\nname = \"db\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ninterval = \"1h\"\n{extra}"
        ),
    )
    .unwrap();
    config
}

#[tokio::test]
async fn the_binary_reports_the_month_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = seeded_sandbox(dir.path(), "").await;
    let state = dir.path().join("state.db");
    let run = opsdeck(
        dir.path(),
        &[
            "report",
            "monthly",
            "--date",
            "2026-11-17",
            "--format",
            "json",
            "--config",
            config.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
    )
    .ok();
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["schema"], "opsdeck.report/1");
    assert_eq!(json["period"]["label"], "2026-11");
    assert_eq!(json["services"][0]["name"], "api");
    close(&json["services"][0]["slo_pct"], 99.9);
    close(&json["services"][0]["downtime_minutes"], 120.0);
    close(&json["services"][1]["slo_pct"], 99.5);
    assert_eq!(json["alerts"]["total"], 3);

    opsdeck(
        dir.path(),
        &[
            "report",
            "monthly",
            "--date",
            "30 November",
            "--state",
            state.to_str().unwrap(),
        ],
    )
    .refused("is not a day");
}

fn chromium(args: &[&str]) -> std::process::Output {
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .args(args)
        .output()
        .expect("chromium runs (apt-get install chromium)")
}

#[tokio::test]
async fn the_html_opens_in_a_headless_browser_with_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let config = seeded_sandbox(dir.path(), "").await;
    let state = dir.path().join("state.db");
    let html = dir.path().join("november.html");
    let run = opsdeck(
        dir.path(),
        &[
            "report",
            "monthly",
            "--date",
            "2026-11-01",
            "--format",
            "html",
            "--output",
            html.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
    )
    .ok();
    assert!(run.stdout.is_empty(), "{}", run.text());
    let written = std::fs::read_to_string(&html).unwrap();
    // Self-contained: nothing to fetch, nothing to run.
    for outside in [" src=", " href=", "<link", "<script", "@import", "url("] {
        assert!(!written.contains(outside), "`{outside}` in {written}");
    }

    let url = format!("file://{}", html.display());
    let dumped = chromium(&["--dump-dom", &url]);
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let dom = String::from_utf8_lossy(&dumped.stdout);
    assert!(dom.contains("<h1>Monthly report 2026-11 for "), "{dom}");
    for chart in ["alerts-per-day", "availability-per-day"] {
        assert!(
            dom.contains(&format!("<svg class=\"chart\" data-chart=\"{chart}\"")),
            "no {chart} chart in {dom}"
        );
    }
    assert!(dom.matches("<rect ").count() >= 3, "the alert bars: {dom}");
    assert!(dom.contains("<polyline"), "{dom}");

    let shot = dir.path().join("november.png");
    let screenshot = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,2400",
        &url,
    ]);
    assert!(
        screenshot.status.success(),
        "{}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a blank page is smaller: {} bytes",
        png.len()
    );
}

#[tokio::test]
async fn send_posts_the_report_to_the_webhook() {
    let receiver = support::receivers::HttpReceiver::start(support::receivers::Answer::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let config = seeded_sandbox(
        dir.path(),
        &format!("\n[notify]\nwebhooks = [\"{}/hook\"]\n", receiver.base),
    )
    .await;
    let state = dir.path().join("state.db");
    let (dir_path, config, state) = (dir.path().to_owned(), config, state);
    let run = tokio::task::spawn_blocking(move || {
        opsdeck(
            &dir_path,
            &[
                "report",
                "monthly",
                "--date",
                "2026-11-17",
                "--send",
                "--config",
                config.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
            ],
        )
    })
    .await
    .unwrap()
    .ok();
    assert!(
        run.stdout.starts_with("# Monthly report 2026-11"),
        "{}",
        run.text()
    );
    let bodies = receiver.bodies_at("/hook");
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["schema"], "opsdeck.report/1");
    assert_eq!(bodies[0]["period"]["label"], "2026-11");
    assert_eq!(bodies[0]["alerts"]["total"], 3);
}
