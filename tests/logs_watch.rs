//! The log engine on real files: a restart resumes at the position kept in the state store
//! (losing and repeating no line, across a real logrotate while stopped); a first start
//! back-scans `.1` and `.gz` rotated files for the window and no further; a new signature after
//! a quiet hour is flagged once; access-log window figures match counts computed here from the
//! generated lines; an error burst opens an alert through the real runner, whose line requests
//! answer from the watch; hostile lines keep memory bounded.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use opsdeck::core::checks::{Operator, Rule};
use opsdeck::core::execution::{Identity, TaskSettings};
use opsdeck::core::logs::findings::{LineFilter, LogsSnapshot, SourceFindings};
use opsdeck::core::logs::format::{Format, RequestTime};
use opsdeck::core::logs::signatures::normalise;
use opsdeck::core::logs::source::{Input, LogSource};
use opsdeck::core::logs::watch::{
    self, LogWatch, MAX_KEPT_LINE, Positions, RING_BYTES, RING_LINES, StorePositions,
};
use opsdeck::core::model::Status;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::runner::{self, RunnerSettings};
use opsdeck::core::store::{Store, StoreLocation};
use support::runner::next;

fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn numbered(lines: std::ops::Range<usize>) -> String {
    lines
        .map(|n| format!("line {n} of the application log\n"))
        .collect()
}

fn texts(lines: &[opsdeck::core::logs::findings::LogLine]) -> Vec<String> {
    lines.iter().map(|line| line.text.clone()).collect()
}

fn expected(lines: std::ops::Range<usize>) -> Vec<String> {
    lines
        .map(|n| format!("line {n} of the application log"))
        .collect()
}

fn plain(name: &str, path: &Path) -> LogSource {
    LogSource::new(
        name,
        Input::Files {
            pattern: path.display().to_string(),
        },
        Format::Plain,
    )
}

fn only(snapshot: &LogsSnapshot) -> &SourceFindings {
    assert_eq!(snapshot.sources.len(), 1);
    &snapshot.sources[0]
}

fn total_lines(findings: &SourceFindings) -> u64 {
    findings.minutes.iter().map(|minute| minute.lines).sum()
}

/// A plain line stamped `at`.
fn stamped(at: DateTime<Utc>, text: &str) -> String {
    format!("{} {text}\n", at.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// Polls `watch` on a blocking thread, as the runner's collector does (the store is async).
async fn poll(mut watch: LogWatch) -> (LogWatch, LogsSnapshot) {
    tokio::task::spawn_blocking(move || {
        let now = Utc::now();
        watch.poll(now);
        let snapshot = watch.snapshot(now);
        (watch, snapshot)
    })
    .await
    .unwrap()
}

fn store_positions(store: &Store) -> Option<Box<dyn Positions>> {
    Some(Box::new(StorePositions::new(
        store.clone(),
        tokio::runtime::Handle::current(),
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_at_the_stored_position_losing_and_repeating_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let location = StoreLocation::Sqlite(dir.path().join("state.db"));
    let source = plain("app", &log);

    append(&log, &numbered(0..100));
    let store = Store::open(&location).await.unwrap();
    let watch = LogWatch::new(vec![source.clone()], store_positions(&store));
    let (watch, snapshot) = poll(watch).await;
    assert_eq!(only(&snapshot).error, None);
    assert_eq!(
        texts(&watch.lines("app", &LineFilter::All)),
        expected(0..100)
    );
    append(&log, &numbered(100..120));
    let (watch, snapshot) = poll(watch).await;
    assert_eq!(total_lines(only(&snapshot)), 120);
    let stored = store
        .log_offset("app", &log.display().to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.offset, std::fs::metadata(&log).unwrap().len());
    drop(watch);
    store.close().await;

    // Stopped: more lines, a real rotation with some of them unread, then more lines.
    append(&log, &numbered(120..150));
    support::logs::logrotate(dir.path(), &log, "create");
    append(&log, &numbered(150..170));

    let store = Store::open(&location).await.unwrap();
    let watch = LogWatch::new(vec![source.clone()], store_positions(&store));
    let (watch, snapshot) = poll(watch).await;
    assert_eq!(only(&snapshot).error, None);
    assert_eq!(
        texts(&watch.lines("app", &LineFilter::All)),
        expected(120..170),
        "resumed where it stopped: nothing lost, nothing read twice"
    );
    assert_eq!(total_lines(only(&snapshot)), 50);
    drop(watch);

    // Stopped again without a rotation.
    append(&log, &numbered(170..180));
    let watch = LogWatch::new(vec![source], store_positions(&store));
    let (watch, _) = poll(watch).await;
    assert_eq!(
        texts(&watch.lines("app", &LineFilter::All)),
        expected(170..180)
    );
}

fn gzip(path: &Path, text: &str) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap();
}

fn set_mtime(path: &Path, at: DateTime<Utc>) {
    let file = OpenOptions::new().append(true).open(path).unwrap();
    file.set_modified(at.into()).unwrap();
}

#[test]
fn a_first_start_back_scans_rotated_files_within_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let now = Utc::now();
    let hours = |h: i64| now - TimeDelta::hours(h);
    // Oldest first: .3.gz entirely before the window, .2.gz straddling it, .1 and the current
    // file inside it.
    let three: String = (0..5)
        .map(|n| stamped(hours(60) + TimeDelta::minutes(n), &format!("ERROR old {n}")))
        .collect();
    let two: String = (0..10)
        .map(|n| stamped(hours(30) + TimeDelta::hours(n), &format!("INFO two {n}")))
        .collect();
    let one: String = (0..4)
        .map(|n| stamped(hours(12) + TimeDelta::hours(n), &format!("WARN one {n}")))
        .collect();
    let current: String = (0..3)
        .map(|n| stamped(hours(3) + TimeDelta::hours(n), &format!("ERROR now {n}")))
        .collect();
    gzip(&dir.path().join("app.log.3.gz"), &three);
    set_mtime(&dir.path().join("app.log.3.gz"), hours(59));
    gzip(&dir.path().join("app.log.2.gz"), &two);
    set_mtime(&dir.path().join("app.log.2.gz"), hours(21));
    std::fs::write(dir.path().join("app.log.1"), &one).unwrap();
    set_mtime(&dir.path().join("app.log.1"), hours(9));
    std::fs::write(&log, &current).unwrap();

    let kept: Vec<String> = two
        .lines()
        .skip(7)
        .chain(one.lines())
        .chain(current.lines())
        .map(str::to_owned)
        .collect();
    assert_eq!(kept.len(), 3 + 4 + 3);

    // Followed (no store): a first start.
    let source = plain("app", &dir.path().join("*.log"));
    let mut watch = LogWatch::new(vec![source.clone()], None);
    watch.poll(now);
    let snapshot = watch.snapshot(now);
    let findings = only(&snapshot);
    assert_eq!(findings.error, None);
    assert_eq!(texts(&watch.lines("app", &LineFilter::All)), kept);
    assert_eq!(total_lines(findings), 10);
    let errors: u64 = findings.minutes.iter().map(|minute| minute.errors).sum();
    let warnings: u64 = findings.minutes.iter().map(|minute| minute.warnings).sum();
    assert_eq!((errors, warnings), (3, 4));
    // Polling again reads nothing twice.
    watch.poll(now);
    assert_eq!(total_lines(only(&watch.snapshot(now))), 10);

    // The CLI's one-shot over the last 24 h reads the same; over 2 h only the current file's
    // last two lines.
    let scanned = watch::scan(
        std::slice::from_ref(&source),
        Duration::from_secs(24 * 3600),
        now,
    );
    assert_eq!(total_lines(only(&scanned)), 10);
    let scanned = watch::scan(&[source], Duration::from_secs(2 * 3600 + 60), now);
    assert_eq!(total_lines(only(&scanned)), 2);
}

#[test]
fn a_new_signature_after_a_quiet_hour_is_flagged_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let now = Utc::now();
    let start = now - TimeDelta::minutes(120);
    // Two quiet hours of the same message, one a minute.
    let history: String = (0..118)
        .map(|n| {
            stamped(
                start + TimeDelta::minutes(n),
                &format!("ERROR connection reset by peer 10.0.0.{}", n % 200),
            )
        })
        .collect();
    std::fs::write(&log, history).unwrap();
    let mut watch = LogWatch::new(vec![plain("app", &log)], None);
    watch.poll(now);
    let snapshot = watch.snapshot(now);
    let findings = only(&snapshot);
    assert_eq!(findings.window.new_signatures, 0);
    assert!(
        findings
            .signatures
            .iter()
            .all(|signature| !signature.is_new)
    );

    let first_seen = now - TimeDelta::minutes(2);
    let disk = |at: DateTime<Utc>, left: u32| {
        stamped(at, &format!("ERROR disk /dev/sda1 full: {left} bytes left"))
    };
    append(&log, &disk(first_seen, 4096));
    append(&log, &disk(first_seen + TimeDelta::seconds(30), 100));
    watch.poll(now);
    append(&log, &disk(now - TimeDelta::seconds(5), 10));
    watch.poll(now);
    let snapshot = watch.snapshot(now);
    let findings = only(&snapshot);
    assert_eq!(findings.window.new_signatures, 1, "flagged once");
    let new: Vec<_> = findings
        .signatures
        .iter()
        .filter(|signature| signature.is_new)
        .collect();
    assert_eq!(new.len(), 1);
    // A plain line's template leaves its stamp out.
    let template = normalise("ERROR disk /dev/sda1 full: 4096 bytes left");
    assert_eq!(new[0].template, template);
    assert_eq!(findings.signatures[0].template, template, "new ones first");
    assert_eq!(new[0].first_seen.timestamp(), first_seen.timestamp());
    assert_eq!(new[0].total, 3);
    assert!(new[0].sample.contains("4096 bytes left"));
    // The lines behind it, one request away.
    let lines = watch.lines("app", &LineFilter::Signature(template));
    assert_eq!(lines.len(), 3);
    assert!(lines[2].text.ends_with("10 bytes left"));
    let lines = watch.lines("app", &LineFilter::Text("SDA1 FULL: 100".into()));
    assert_eq!(lines.len(), 1);
}

#[test]
fn access_window_figures_match_counts_computed_from_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let statuses = [200, 200, 200, 201, 304, 404, 500, 502, 503];
    let mut state: u64 = 42;
    let mut text = String::new();
    // (seconds before now, status, request time in ms)
    let mut generated: Vec<(i64, u16, f64)> = Vec::new();
    for n in 0..3000_i64 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = state >> 33;
        let ago = 1200 - n * 1200 / 3000;
        let at = now - TimeDelta::seconds(ago);
        let status = statuses[(r % statuses.len() as u64) as usize];
        let ms = (r >> 8) % 2000 + 1;
        text.push_str(&format!(
            "192.0.2.{} - - [{}] \"GET /api/item/{}?page=2 HTTP/1.1\" {status} 512 \"-\" \"curl/8.5.0\" {}.{:03}\n",
            r % 250,
            at.format("%d/%b/%Y:%H:%M:%S +0000"),
            r % 17,
            ms / 1000,
            ms % 1000
        ));
        generated.push((ago, status, ms as f64));
    }
    std::fs::write(&log, text).unwrap();
    let mut source = LogSource::new(
        "web",
        Input::Files {
            pattern: log.display().to_string(),
        },
        Format::Access(RequestTime::Seconds),
    );
    source.window = Duration::from_secs(10 * 60);
    let mut watch = LogWatch::new(vec![source], None);
    watch.poll(now);
    let snapshot = watch.snapshot(now);
    let findings = only(&snapshot);

    // The window is whole minutes: the 10 minutes up to and including now's.
    let now_minute = now.timestamp().div_euclid(60);
    let in_window: Vec<&(i64, u16, f64)> = generated
        .iter()
        .filter(|(ago, _, _)| (now.timestamp() - ago).div_euclid(60) > now_minute - 10)
        .collect();
    let server_errors = in_window
        .iter()
        .filter(|(_, status, _)| (500..600).contains(status))
        .count() as u64;
    let mut times: Vec<f64> = in_window.iter().map(|(_, _, ms)| *ms).collect();
    times.sort_by(f64::total_cmp);
    let rank = (0.95 * times.len() as f64).ceil() as usize;
    let exact_p95 = times[rank - 1];

    assert_eq!(findings.window.requests, in_window.len() as u64);
    assert_eq!(findings.window.lines, in_window.len() as u64);
    assert_eq!(findings.window.server_errors, server_errors);
    let pct = findings.window.server_error_pct().unwrap();
    assert!((pct - server_errors as f64 * 100.0 / in_window.len() as f64).abs() < 1e-9);
    let p95 = findings.window.p95_ms.unwrap();
    assert!(
        p95 >= exact_p95 * 0.999_999 && p95 <= exact_p95 * 1.01,
        "p95 {p95} vs {exact_p95}"
    );
    let metrics = opsdeck::core::collectors::Sample::metrics(&snapshot);
    let metric = |name: &str| {
        metrics
            .iter()
            .find(|metric| metric.name == name)
            .unwrap()
            .value
    };
    assert_eq!(metric("log.http_5xx_pct"), pct);
    assert_eq!(metric("log.http_p95_ms"), p95);

    // The report figures cover everything read.
    let access = findings.access.as_ref().unwrap();
    assert_eq!(access.requests, 3000);
    assert_eq!(access.unparsed, 0);
    let count = |wanted: u16| generated.iter().filter(|(_, s, _)| *s == wanted).count() as u64;
    for (status, seen) in &access.statuses {
        assert_eq!(*seen, count(*status), "status {status}");
    }
    assert_eq!(access.statuses.iter().map(|(_, n)| n).sum::<u64>(), 3000);
    assert!(access.top_endpoints[0].0.starts_with("/api/item/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_burst_opens_an_alert_through_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let errors: String = (0..12)
        .map(|n| format!("ERROR payment {n} failed: upstream timed out\n"))
        .collect();
    append(&log, &format!("INFO started\n{errors}WARN slow\n"));
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let mut runner = runner::spawn(
        RunnerSettings {
            rules: vec![Rule {
                metric: "log.errors".into(),
                instance: Some("app".into()),
                operator: Operator::Above,
                warn: Some(5.0),
                crit: Some(10.0),
                hold_for: Duration::ZERO,
            }],
            logs: vec![plain("app", &log)],
            ..RunnerSettings::tasks_only(TaskSettings {
                tasks: Vec::new(),
                read_only: true,
                identity: Identity {
                    user: "tester".into(),
                    client: None,
                    host: "test-host".into(),
                    pid: std::process::id(),
                },
                runs_dir: None,
            })
        },
        Some(store),
    );
    let snapshot = next(&mut runner, |event| match event {
        Event::Logs { snapshot, .. } => Some(snapshot),
        _ => None,
    })
    .await;
    assert_eq!(only(&snapshot).window.errors, 12);
    let alert = next(&mut runner, |event| match event {
        Event::AlertChanged(alert) if alert.metric == "log.errors" => Some(alert),
        _ => None,
    })
    .await;
    assert_eq!(alert.level, Status::Crit);
    assert_eq!(alert.instance.as_deref(), Some("app"));
    assert_eq!(alert.peak, 12.0);

    runner
        .requests
        .send(Request::LoadLogLines {
            source: "app".into(),
            filter: LineFilter::Text("timed OUT".into()),
        })
        .unwrap();
    let lines = next(&mut runner, |event| match event {
        Event::LogLines { source, lines, .. } if source == "app" => Some(lines),
        _ => None,
    })
    .await;
    assert_eq!(lines.len(), 12);
    assert!(lines[0].text.starts_with("ERROR payment 0 failed"));
    runner.requests.send(Request::Shutdown).unwrap();
    runner.task.await.unwrap();
}

#[test]
fn hostile_lines_keep_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let log: PathBuf = dir.path().join("app.log");
    let mut junk = Vec::new();
    junk.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    junk.push(b'\n');
    junk.extend_from_slice(b"ERROR \x1b[2J\x1b]0;owned\x07 nul \0 bad \xff\xfe\n");
    junk.extend((0..=255u8).cycle().take(300_000));
    junk.push(b'\n');
    std::fs::write(&log, &junk).unwrap();
    let mut watch = LogWatch::new(vec![plain("app", &log)], None);
    let now = Utc::now();
    watch.poll(now);
    let lines = watch.lines("app", &LineFilter::All);
    let huge = lines
        .iter()
        .find(|line| line.text.starts_with("xxx"))
        .unwrap();
    assert!(huge.text.len() <= MAX_KEPT_LINE + 32);
    let dropped = 10 * 1024 * 1024 - MAX_KEPT_LINE;
    assert!(huge.text.ends_with(&format!("…[cut {dropped} bytes]")));
    let escape = lines
        .iter()
        .find(|line| line.text.starts_with("ERROR"))
        .unwrap();
    assert!(escape.text.contains("\u{1b}[2J") && escape.text.contains("\u{fffd}"));
    assert!(
        lines
            .iter()
            .all(|line| line.text.len() <= MAX_KEPT_LINE + 32)
    );
    let snapshot = watch.snapshot(now);
    assert!(only(&snapshot).error.is_none());
    assert!(only(&snapshot).window.errors >= 1);

    // A flood of long unique lines: the ring keeps its caps.
    let flood: String = (0..5000)
        .map(|n| format!("WARN {n} {}\n", "y".repeat(1000)))
        .collect();
    append(&log, &flood);
    watch.poll(now);
    let lines = watch.lines("app", &LineFilter::All);
    assert!(lines.len() <= RING_LINES);
    assert!(lines.iter().map(|line| line.text.len()).sum::<usize>() <= RING_BYTES);
    assert!(lines.last().unwrap().text.starts_with("WARN 4999 "));
}

/// A journal file made by the real systemd-journal-remote from export-format entries
/// (priority, identifier, message), one a second from `start`.
fn write_journal(path: &Path, start: DateTime<Utc>, entries: &[(u8, &str, &str)]) {
    let mut export = String::new();
    for (n, (priority, identifier, message)) in entries.iter().enumerate() {
        let at = start + TimeDelta::seconds(n as i64);
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n\
             _BOOT_ID=6a1b6e7bd0a54d4f9b1c1f6cf0a1d2e3\n_HOSTNAME=web1\n\
             SYSLOG_IDENTIFIER={identifier}\n_PID=42\nPRIORITY={priority}\nMESSAGE={message}\n\n",
            at.timestamp_micros(),
            1_000_000 + n * 1000
        ));
    }
    support::journal::write_export(path, export.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_source_counts_levels_from_priorities_and_resumes_at_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("remote.journal");
    let start = Utc::now() - TimeDelta::minutes(2);
    write_journal(
        &journal,
        start,
        &[
            (3, "app", "payment 1 failed"),
            (3, "app", "payment 2 failed"),
            (4, "app", "queue is slow"),
            (
                6,
                "sshd",
                "Failed password for root from 203.0.113.9 port 22 ssh2",
            ),
            (6, "app", "started"),
        ],
    );
    let source = LogSource::new(
        "journal",
        Input::Journal {
            unit: None,
            file: Some(journal.clone()),
        },
        Format::Syslog,
    );
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    let watch = LogWatch::new(vec![source.clone()], store_positions(&store));
    let (watch, snapshot) = poll(watch).await;
    let findings = only(&snapshot);
    assert_eq!(findings.error, None);
    assert_eq!(
        (
            findings.window.lines,
            findings.window.errors,
            findings.window.warnings
        ),
        (5, 2, 1),
        "levels from the priorities, not from words in the messages"
    );
    assert_eq!(findings.window.failed_logins, 1);
    let logins = findings.logins.as_ref().unwrap();
    assert_eq!(logins.top_ips, [("203.0.113.9".to_owned(), 1)]);
    let lines = watch.lines("journal", &LineFilter::All);
    assert_eq!(lines.len(), 5);
    assert!(lines[0].text.ends_with("app[42]: payment 1 failed"));
    assert_eq!(lines[0].at.timestamp(), start.timestamp());
    assert!(store.journal_cursor("journal").await.unwrap().is_some());
    drop(watch);

    // A restart resumes after the stored cursor: nothing is read twice.
    let watch = LogWatch::new(vec![source], store_positions(&store));
    let (watch, snapshot) = poll(watch).await;
    assert_eq!(only(&snapshot).error, None);
    assert!(watch.lines("journal", &LineFilter::All).is_empty());
}

#[test]
fn a_source_without_files_says_so_in_place_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("app-*.log");
    let mut watch = LogWatch::new(vec![plain("app", &pattern)], None);
    let now = Utc::now();
    watch.poll(now);
    let snapshot = watch.snapshot(now);
    let error = only(&snapshot).error.clone().unwrap();
    assert!(
        error.contains("no file matches") && error.contains("app-*.log"),
        "{error}"
    );
    assert!(error.contains("fix:"), "{error}");

    // A file appears: picked up by the next round, read from its start.
    append(&dir.path().join("app-1.log"), "ERROR first\n");
    watch.poll(now);
    let snapshot = watch.snapshot(now);
    assert_eq!(only(&snapshot).error, None);
    assert_eq!(only(&snapshot).window.errors, 1);
    // A second one too, its rotated file back-scanned with it (a first sight), but never
    // followed on its own.
    append(&dir.path().join("app-2.log.1"), "ERROR rotated\n");
    append(&dir.path().join("app-2.log"), "ERROR second\nWARN third\n");
    watch.poll(now);
    let counts = |snapshot: &LogsSnapshot| {
        let window = only(snapshot).window;
        (window.errors, window.warnings)
    };
    assert_eq!(counts(&watch.snapshot(now)), (3, 1));
    append(&dir.path().join("app-2.log.1"), "ERROR later\n");
    watch.poll(now);
    assert_eq!(counts(&watch.snapshot(now)), (3, 1));

    // An invalid glob is an error in place; nothing read before is lost.
    let mut broken = LogWatch::new(vec![plain("bad", Path::new("/var/log/[x.log"))], None);
    broken.poll(now);
    let snapshot = broken.snapshot(now);
    assert!(
        only(&snapshot)
            .error
            .as_deref()
            .unwrap()
            .contains("not a valid glob")
    );
}
