//! A report of a store with nothing in it says so instead of failing: the model is marked empty,
//! its status is unknown, every renderer says nothing was recorded, and the real binary prints
//! it and exits 3 with a fresh state file.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::{NaiveDate, Utc};

use opsdeck::core::reports::{self, Format, Kind, Live, Period, ReportInputs};
use opsdeck::core::store::{Store, StoreLocation};

#[tokio::test]
async fn an_empty_store_gives_a_report_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let inputs = ReportInputs {
        host: "quiet-host".into(),
        services: Vec::new(),
        rules: &[],
        checklists: &[],
        live: Live::default(),
    };
    let period = Period::containing(
        Kind::Weekly,
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        &Utc,
    );
    let now = "2026-12-05T08:00:00Z".parse().unwrap();
    let report = reports::build(&store, &inputs, &period, now, &Utc)
        .await
        .unwrap();
    assert!(report.empty);
    assert_eq!(report.period.label, "2026-W48");
    // Nothing recorded is no verdict: not ok, not warn.
    assert_eq!(report.overall.status, opsdeck::core::model::Status::Unknown);
    assert_eq!(
        report.overall.reasons,
        vec!["nothing was recorded for 2026-W48 in this state store".to_owned()]
    );
    assert!(report.changes.previous_empty);

    let markdown = reports::render(&report, Format::Markdown);
    assert!(
        markdown.contains("Status: UNKNOWN\nNothing was recorded for 2026-W48"),
        "{markdown}"
    );
    let html = reports::render(&report, Format::Html);
    assert!(html.contains("Nothing was recorded for 2026-W48"), "{html}");
    assert!(html.contains("data-chart=\"alerts-per-day\""), "{html}");
    let json: serde_json::Value =
        serde_json::from_str(&reports::render(&report, Format::Json)).unwrap();
    support::assert_follows_schema("report-1.schema.json", "opsdeck.report/1", &json);
    assert_eq!(json["empty"], true);
    assert_eq!(json["overall"]["status"], "unknown");
    assert_eq!(json["alerts"]["total"], 0);
    assert_eq!(json["services"], serde_json::json!([]));
}

#[test]
fn the_binary_reports_on_a_new_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("new.db");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_opsdeck"));
    support::run::sandboxed(&mut command, dir.path(), "tester");
    command.args(["report", "daily", "--state", state.to_str().unwrap()]);
    let run = support::run::Run::from(command.output().unwrap());
    // Exit 3, as `opsdeck check` says unknown: a cron job on the wrong store must not pass for
    // a quiet day. The report is still printed, and stderr names the store and the fix.
    assert_eq!(run.code, Some(3), "{}", run.text());
    assert!(run.stdout.starts_with("# Daily report "), "{}", run.text());
    assert!(run.stdout.contains("Status: UNKNOWN"), "{}", run.text());
    assert!(
        run.stdout.contains("Nothing was recorded for "),
        "{}",
        run.text()
    );
    assert!(
        run.stderr.contains(state.to_str().unwrap()) && run.stderr.contains("fix: "),
        "{}",
        run.text()
    );
}
