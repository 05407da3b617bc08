//! Task schedules end to end on the real binary: `run --due` started twice at once runs a task
//! once (two processes, one SQLite store, the per-task lock), skips a destructive task that is
//! not `unattended` once per due time, and audits with the `schedule` trigger; a lock held by
//! another process keeps a task from running by hand or from the schedule; a task never run
//! is overdue and stops being so after a success, but windows before opsdeck began watching a
//! schedule are neither overdue nor missed (the instant watching began is kept once, on SQLite
//! and PostgreSQL); the printed crontab parses back (croner) and
//! wakes at every due time, the systemd timer agrees with `systemd-analyze`; due times across
//! both DST changes of Europe/Berlin (`TZ`); bad schedules are refused at their file and line
//! with nothing run.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use support::run::Run;

const BIN: &str = env!("CARGO_BIN_EXE_opsdeck");

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "config/opsdeck", "data", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let home = Home { dir };
        std::fs::write(home.config(), config).unwrap();
        home
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config/opsdeck/config.toml")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, tz: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--state")
            .arg(self.path("state/state.db"))
            .args(args);
        support::run::sandboxed(&mut command, self.dir.path(), "cron");
        command.env("TZ", tz);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command("UTC", args).output().unwrap())
    }

    /// Records through the store, as an earlier console would have, that opsdeck began
    /// watching `task`'s schedule at `since`.
    fn watched_since(&self, task: &str, since: DateTime<Utc>) {
        use opsdeck::core::store::{Store, StoreLocation};
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let location = StoreLocation::Sqlite(self.path("state/state.db"));
            let store = Store::open(&location).await.unwrap();
            let watched = store
                .watch_schedules(&this_host(), &[task.to_owned()], since)
                .await
                .unwrap();
            assert_eq!(watched[task].timestamp_millis(), since.timestamp_millis());
            store.close().await;
        });
    }

    fn json(&self, tz: &str, args: &[&str]) -> Value {
        let run = Run::from(self.command(tz, args).output().unwrap()).ok();
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.text()))
    }
}

/// The host the binary runs as: its runs and schedule watches are its own.
fn this_host() -> String {
    hostname::get().unwrap().to_string_lossy().into_owned()
}

/// A `[[task]]` that appends a line to `file` and takes `seconds`.
fn stamp_task(id: &str, file: &Path, seconds: u32, extra: &str) -> String {
    format!(
        "[[task]]\nid = \"{id}\"\nargv = [\"/bin/sh\", \"-c\", \"echo ran >> '{}'; sleep {seconds}\"]\n{extra}\n",
        file.display()
    )
}

fn lines(file: &Path) -> usize {
    std::fs::read_to_string(file).map_or(0, |text| text.lines().count())
}

fn runs_of<'a>(history: &'a Value, task: &str) -> Vec<&'a Value> {
    history
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| run["task_id"] == task)
        .collect()
}

#[test]
fn run_due_twice_at_once_runs_a_task_once() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    // Due since 1 January; destructive (the default for commands), so it needs `unattended`.
    let config = stamp_task(
        "stamp",
        &stamp,
        2,
        "schedule = \"0 0 1 1 *\"\nunattended = true",
    );
    let home = Home::new(&config);
    let started: Vec<_> = (0..2)
        .map(|_| home.command("UTC", &["run", "--due"]).spawn().unwrap())
        .collect();
    let finished: Vec<Run> = started
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().unwrap()))
        .collect();
    for run in &finished {
        assert_eq!(run.code, Some(0), "{}", run.text());
    }
    assert_eq!(lines(&stamp), 1, "the task ran once, not twice");
    let history = home.json("UTC", &["history", "--format", "json", "--limit", "100"]);
    let stamps = runs_of(&history, "stamp");
    assert_eq!(stamps.len(), 1, "{history:#}");
    assert_eq!(stamps[0]["status"], "succeeded");
    assert_eq!(stamps[0]["trigger"], "schedule");
    // The guides' schedule is on by default for cache-cleanup, which changes the system and is
    // not unattended: skipped, and recorded once for its due time, not once per process.
    let cache = runs_of(&history, "cache-cleanup");
    assert_eq!(cache.len(), 1, "{history:#}");
    assert_eq!(cache[0]["status"], "refused");
    assert_eq!(cache[0]["trigger"], "schedule");
    assert!(
        cache[0]["summary"]
            .as_str()
            .unwrap()
            .contains("unattended = true"),
        "{history:#}"
    );
    // Run again: nothing is due any more.
    let again = home.run(&["run", "--due"]).ok();
    assert!(
        again.stderr.contains("stamp is not due"),
        "{}",
        again.text()
    );
    assert_eq!(lines(&stamp), 1);
}

/// On a shared store another host's run of a task is not this host's: it neither makes the task
/// "not due" for `run --due` here nor counts as this host's last success.
#[test]
fn another_hosts_run_does_not_do_this_hosts_task() {
    use opsdeck::core::model::{RunStatus, TaskRun, Trigger};
    use opsdeck::core::store::{Store, StoreLocation};
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    let config = stamp_task(
        "stamp",
        &stamp,
        0,
        "schedule = \"0 0 1 1 *\"\nunattended = true",
    );
    let home = Home::new(&config);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(&StoreLocation::Sqlite(home.path("state/state.db")))
            .await
            .unwrap();
        let now = Utc::now();
        store
            .insert_run(&TaskRun {
                id: "elsewhere".into(),
                task_id: "stamp".into(),
                params: Default::default(),
                plan: vec!["stamp".into()],
                user: "cron".into(),
                client: None,
                host: "web-9".into(),
                pid: 1,
                started_at: now,
                ended_at: Some(now),
                status: RunStatus::Succeeded,
                exit_code: Some(0),
                summary: None,
                output: String::new(),
                log_path: None,
                trigger: Trigger::Schedule,
            })
            .await
            .unwrap();
        store.close().await;
    });
    let listing = home.json("UTC", &["tasks", "--format", "json"]);
    let task = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["id"] == "stamp")
        .unwrap();
    assert!(task["due"]["last_success"].is_null(), "{task:#}");
    assert!(task["last_run"].is_null(), "{task:#}");
    let run = home.run(&["run", "--due"]).ok();
    assert!(!run.stderr.contains("stamp is not due"), "{}", run.text());
    assert_eq!(lines(&stamp), 1, "{}", run.text());
}

#[test]
fn a_destructive_task_without_unattended_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    let home = Home::new(&stamp_task("stamp", &stamp, 0, "schedule = \"0 0 1 1 *\""));
    let run = home.run(&["run", "--due"]).ok();
    assert!(
        run.stderr
            .contains("skipped: stamp changes the system and runs from the schedule only with unattended = true"),
        "{}",
        run.text()
    );
    assert_eq!(lines(&stamp), 0);
}

#[test]
fn a_task_never_run_is_overdue_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    let config = stamp_task(
        "stamp",
        &stamp,
        0,
        "schedule = \"0 0 * * *\"\ngrace = \"1m\"\ndestructive = false",
    );
    let home = Home::new(&config);
    home.watched_since("stamp", Utc::now() - chrono::TimeDelta::days(2));
    let task = |listing: &Value| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|task| task["id"] == "stamp")
            .cloned()
            .unwrap()
    };
    // `opsdeck check` judges it the way the console does: overdue is a warning.
    let check = Run::from(
        home.command("UTC", &["check", "--only", "tasks", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(check.code, Some(1), "{}", check.text());
    let report: Value = serde_json::from_str(&check.stdout).unwrap();
    let overdue = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["id"] == "task.overdue:stamp")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(overdue["status"], "warn", "{overdue:#}");
    assert!(
        overdue["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("not succeeded since")),
        "{overdue:#}"
    );
    let listing = home.json("UTC", &["tasks", "--format", "json"]);
    let before = task(&listing);
    assert_eq!(before["schedule"]["cron"], "0 0 * * *", "{before:#}");
    assert!(!before["due"]["missed"].is_null(), "{before:#}");
    assert!(before["due"]["last_success"].is_null());
    let next: DateTime<Utc> = serde_json::from_value(before["due"]["next_run"].clone()).unwrap();
    assert_eq!(next.format("%H:%M").to_string(), "00:00");
    home.run(&["run", "stamp"]).ok();
    let after = task(&home.json("UTC", &["tasks", "--format", "json"]));
    assert!(after["due"]["missed"].is_null(), "{after:#}");
    assert!(!after["due"]["last_success"].is_null());
    let check = Run::from(
        home.command("UTC", &["check", "--only", "tasks"])
            .output()
            .unwrap(),
    );
    assert_eq!(check.code, Some(0), "{}", check.text());
}

/// A fresh install is no alarm: windows that passed before opsdeck first looked at a schedule
/// (the guides' defaults included) are neither overdue nor missed in the calendar, and the
/// instant watching began is kept. A state watched since before the last window, which nothing
/// ran for, shows that window overdue and missed.
#[test]
fn windows_before_watching_began_are_not_overdue() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    let config = stamp_task(
        "stamp",
        &stamp,
        0,
        "schedule = \"0 0 * * *\"\ngrace = \"1m\"\ndestructive = false",
    );
    let missed_in_calendar = |home: &Home| -> usize {
        home.json("UTC", &["schedule", "--format", "json"])["past"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["kind"] == "task" && entry["outcome"] == "missed")
            .count()
    };

    let fresh = Home::new(&config);
    let looked = Utc::now();
    let listing = fresh.json("UTC", &["tasks", "--format", "json"]);
    let scheduled: Vec<&Value> = listing
        .as_array()
        .unwrap()
        .iter()
        .filter(|task| !task["schedule"].is_null())
        .collect();
    assert!(
        scheduled.iter().any(|task| task["id"] == "cache-cleanup"),
        "{listing:#}"
    );
    for task in &scheduled {
        assert!(task["due"]["missed"].is_null(), "{task:#}");
        assert!(!task["due"]["last_due"].is_null(), "{task:#}");
    }
    let stamp_due = |listing: &Value| {
        listing
            .as_array()
            .unwrap()
            .iter()
            .find(|task| task["id"] == "stamp")
            .unwrap()["due"]
            .clone()
    };
    let since: DateTime<Utc> =
        serde_json::from_value(stamp_due(&listing)["watched_since"].clone()).unwrap();
    assert!(since >= looked - chrono::TimeDelta::seconds(1), "{since}");
    assert_eq!(missed_in_calendar(&fresh), 0);
    let again = fresh.json("UTC", &["tasks", "--format", "json"]);
    assert_eq!(
        stamp_due(&again)["watched_since"],
        stamp_due(&listing)["watched_since"]
    );

    let watched_before = Home::new(&config);
    watched_before.watched_since("stamp", Utc::now() - chrono::TimeDelta::days(2));
    let due = stamp_due(&watched_before.json("UTC", &["tasks", "--format", "json"]));
    assert!(!due["missed"].is_null(), "{due:#}");
    assert!(missed_in_calendar(&watched_before) >= 2);
}

const SCHEDULES: [&str; 4] = [
    "0 3 * * *",
    "*/15 9-17 * * 1-5",
    "0 2 * * TUE#2",
    "30 4 1,15 * 0",
];

fn scheduled_home(dir: &Path) -> Home {
    let config: String = SCHEDULES
        .iter()
        .enumerate()
        .map(|(index, cron)| {
            stamp_task(
                &format!("job-{index}"),
                &dir.join("unused"),
                0,
                &format!("schedule = \"{cron}\""),
            )
        })
        .collect();
    Home::new(&config)
}

#[test]
fn the_printed_crontab_parses_back_and_wakes_at_every_due_time() {
    let dir = tempfile::tempdir().unwrap();
    let home = scheduled_home(dir.path());
    let run = home.run(&["schedule", "print", "--cron"]).ok();
    let mut printed = Vec::new();
    for line in run.stdout.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let cron = croner::Cron::from_str(&fields[..5].join(" "))
            .unwrap_or_else(|error| panic!("`{line}` does not parse: {error}"));
        let command = shell_words::split(&fields[5..].join(" ")).unwrap();
        assert_eq!(command[0], BIN, "{line}");
        assert_eq!(
            command[1..],
            [
                "--config",
                &std::fs::canonicalize(home.config())
                    .unwrap()
                    .display()
                    .to_string(),
                "--state",
                &home.path("state/state.db").display().to_string(),
                "run",
                "--due"
            ],
            "{line}"
        );
        printed.push(cron);
    }
    // The four above and the guides' db-vacuum-analyze schedule (cache-cleanup shares 03:00):
    // one line each.
    assert_eq!(printed.len(), 5, "{}", run.stdout);
    let start: DateTime<Utc> = "2026-12-05T00:00:00Z".parse().unwrap();
    for text in SCHEDULES {
        let cron = croner::Cron::from_str(text).unwrap();
        for due in cron.iter_after(start).take(300) {
            assert!(
                printed
                    .iter()
                    .any(|line| line.is_time_matching(&due).unwrap()),
                "no crontab line wakes `{text}` at {due}:\n{}",
                run.stdout
            );
        }
    }
}

#[test]
fn the_systemd_timer_elapses_when_the_tasks_are_due() {
    let dir = tempfile::tempdir().unwrap();
    let home = scheduled_home(dir.path());
    let run = home.run(&["schedule", "print", "--systemd"]).ok();
    assert!(
        run.stdout
            .contains("# /etc/systemd/system/opsdeck-due.service\n[Unit]")
    );
    assert!(run.stdout.contains("ExecStart="), "{}", run.stdout);
    assert!(run.stdout.contains("run --due"), "{}", run.stdout);
    let values: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("OnCalendar="))
        .collect();
    assert!(!values.is_empty(), "{}", run.stdout);
    // systemd's next elapses of all the timer's values, merged, against croner's due times of
    // every schedule (which the timer wakes on a superset of, for `TUE#2`).
    let now = Utc::now();
    let mut elapses: Vec<DateTime<Utc>> = Vec::new();
    for value in &values {
        let output = Command::new("systemd-analyze")
            .args(["calendar", "--iterations=20", value])
            .env("TZ", "UTC")
            .output()
            .expect("systemd-analyze (Debian's systemd package) runs");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{value}: {text}");
        for line in text.lines() {
            let Some((_, at)) = line.split_once(": ") else {
                continue;
            };
            if let Ok(at) = chrono::NaiveDateTime::parse_from_str(
                at.trim().trim_end_matches(" UTC"),
                "%a %Y-%m-%d %H:%M:%S",
            ) {
                elapses.push(at.and_utc());
            }
        }
    }
    elapses.sort();
    elapses.dedup();
    let horizon = elapses[19];
    for text in SCHEDULES {
        let cron = croner::Cron::from_str(text).unwrap();
        for due in cron.iter_after(now).take_while(|due| *due <= horizon) {
            assert!(
                elapses.contains(&due),
                "the timer does not elapse at {due} for `{text}`:\n{}",
                run.stdout
            );
        }
    }
}

fn upcoming(calendar: &Value, id: &str) -> Vec<DateTime<Utc>> {
    calendar["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["id"] == id)
        .map(|entry| serde_json::from_value(entry["at"].clone()).unwrap())
        .collect()
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[test]
fn due_times_across_the_berlin_dst_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = [
        stamp_task(
            "half-past-two",
            &dir.path().join("a"),
            0,
            "schedule = \"30 2 * * *\"",
        ),
        stamp_task(
            "three",
            &dir.path().join("b"),
            0,
            "schedule = \"0 3 * * *\"",
        ),
    ]
    .concat();
    let home = Home::new(&config);
    let berlin = "Europe/Berlin";

    // Spring: on Sunday 28 March 2027 the clocks jump from 02:00 to 03:00, so 02:30 does not
    // exist that day: the run comes at the first instant after the gap.
    let spring = home.json(
        berlin,
        &["schedule", "--date", "2027-03-25", "--format", "json"],
    );
    assert_eq!(
        upcoming(&spring, "half-past-two"),
        vec![
            utc("2027-03-25T01:30:00Z"),
            utc("2027-03-26T01:30:00Z"),
            utc("2027-03-27T01:30:00Z"),
            utc("2027-03-28T01:00:00Z"),
            utc("2027-03-29T00:30:00Z"),
            utc("2027-03-30T00:30:00Z"),
            utc("2027-03-31T00:30:00Z"),
        ],
        "{spring:#}"
    );
    assert_eq!(
        upcoming(&spring, "three")[2..5],
        [
            utc("2027-03-27T02:00:00Z"),
            utc("2027-03-28T01:00:00Z"),
            utc("2027-03-29T01:00:00Z"),
        ]
    );

    // Autumn: on Sunday 25 October 2026 02:00–03:00 happens twice; the task runs once.
    let autumn = home.json(
        berlin,
        &["schedule", "--date", "2026-10-22", "--format", "json"],
    );
    let half_past_two = upcoming(&autumn, "half-past-two");
    assert_eq!(half_past_two.len(), 7, "{autumn:#}");
    let on_the_day: Vec<_> = half_past_two
        .iter()
        .filter(|at| at.date_naive() == chrono::NaiveDate::from_ymd_opt(2026, 10, 25).unwrap())
        .collect();
    assert_eq!(on_the_day.len(), 1, "{half_past_two:?}");
    assert_eq!(half_past_two[2], utc("2026-10-24T00:30:00Z"));
    assert_eq!(half_past_two[4], utc("2026-10-26T01:30:00Z"));
    assert_eq!(
        upcoming(&autumn, "three")[2..5],
        [
            utc("2026-10-24T01:00:00Z"),
            utc("2026-10-25T02:00:00Z"),
            utc("2026-10-26T02:00:00Z"),
        ]
    );
    // The past week of a fresh store: every due time missed.
    let past = autumn["past"].as_array().unwrap();
    assert!(
        past.iter()
            .filter(|entry| entry["id"] == "three")
            .all(|entry| entry["outcome"] == "missed"),
        "{autumn:#}"
    );
}

#[test]
fn bad_schedules_are_refused_at_their_line_with_nothing_run() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    let good = stamp_task(
        "good",
        &stamp,
        0,
        "schedule = \"0 0 1 1 *\"\nunattended = true",
    );
    let cases = [
        (
            format!(
                "{good}\n[[task]]\nid = \"bad\"\nargv = [\"true\"]\nschedule = \"61 3 * * *\"\n"
            ),
            "task `bad`: `61 3 * * *` is not a valid cron expression",
        ),
        (
            format!(
                "{good}\n[[task]]\nid = \"six\"\nargv = [\"true\"]\nschedule = \"0 0 3 * * *\"\n"
            ),
            "task `six`: `0 0 3 * * *` is not a 5-field cron expression",
        ),
        (
            format!("{good}\n[tasks.db-reindex]\nschedule = \"0 1 * * 0\"\n"),
            "task `db-reindex` has a schedule but cannot run without parameters: set [tasks.db-reindex] indexes",
        ),
    ];
    for (config, message) in cases {
        let home = Home::new(&config);
        let line = config
            .lines()
            .position(|line| line.starts_with("schedule") && !line.contains("0 0 1 1 *"))
            .unwrap()
            + 1;
        let run = home.run(&["run", "--due"]);
        assert_eq!(run.code, Some(1), "{}", run.text());
        let expected = format!("{}:{line}:", home.config().display());
        assert!(
            run.stderr.contains(&expected),
            "wants {expected}:\n{}",
            run.text()
        );
        assert!(
            run.stderr.contains(message),
            "wants {message}:\n{}",
            run.text()
        );
        assert!(run.stderr.contains("fix: "), "{}", run.text());
        assert_eq!(lines(&stamp), 0, "nothing runs");
    }
}

/// The console's runner watches the schedules: a scheduled task that never ran is judged by
/// the default `task.overdue` rule (warn) and shown overdue; after a run that succeeds, the
/// watch looks again at once and both clear.
#[test]
fn the_runner_feeds_overdue_tasks_to_the_rules() {
    use opsdeck::config::Config;
    use opsdeck::core::model::Status;
    use opsdeck::core::protocol::{Event, Request};
    use opsdeck::core::runner::{self, RunnerSettings};
    use opsdeck::core::store::{Store, StoreLocation};

    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    let text = stamp_task(
        "stamp",
        &stamp,
        0,
        "schedule = \"0 0 * * *\"\ngrace = \"1m\"\ndestructive = false",
    ) + "[tasks.cache-cleanup]\nschedule = \"\"\n[tasks.db-vacuum-analyze]\nschedule = \"\"\n";
    let config = Config::parse("test.toml", &text).unwrap();
    let tasks = config
        .tasks(dir.path())
        .into_iter()
        .map(|(task, _)| task)
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
            .await
            .unwrap();
        // Watched since before last midnight's window, which nothing ran for.
        store
            .watch_schedules(
                "test-host",
                &["stamp".to_owned()],
                Utc::now() - chrono::TimeDelta::days(2),
            )
            .await
            .unwrap();
        let settings = RunnerSettings {
            rules: config.effective_rules(),
            watch_schedules: true,
            ..RunnerSettings::tasks_only(opsdeck::core::execution::TaskSettings {
                tasks,
                ..support::runner::no_tasks()
            })
        };
        let mut runner = runner::spawn(settings, Some(store));
        let overdue = |wanted: Status| {
            move |event: Event| match event {
                Event::Judged(evaluations) => evaluations.into_iter().find(|evaluation| {
                    evaluation.metric.name == "task.overdue"
                        && evaluation.metric.instance.as_deref() == Some("stamp")
                        && evaluation.status == wanted
                }),
                _ => None,
            }
        };
        support::runner::next(&mut runner, overdue(Status::Warn)).await;
        runner
            .requests
            .send(Request::StartTask {
                task_id: "stamp".into(),
                params: Default::default(),
                confirmed: opsdeck::core::tasks::Confirmed::No,
            })
            .unwrap();
        let cleared = support::runner::next(&mut runner, overdue(Status::Ok)).await;
        assert_eq!(cleared.metric.value, 0.0);
        let sample = support::runner::next(&mut runner, |event| match event {
            Event::Schedules(sample) => Some(sample),
            _ => None,
        })
        .await;
        let (_, status) = &sample.tasks[0];
        assert!(
            !status.overdue() && status.last_success.is_some(),
            "{status:?}"
        );
        let _ = runner.requests.send(Request::Shutdown);
    });
}

/// The lock is a real flock on `<state>/opsdeck/runs/<task>.lock`: while another process holds
/// it, the task is refused by hand and left for later by `run --due`, and nothing runs.
#[test]
fn a_task_locked_by_another_process_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp.log");
    let config = stamp_task(
        "stamp",
        &stamp,
        0,
        "schedule = \"0 0 1 1 *\"\nunattended = true\ndestructive = false",
    );
    let home = Home::new(&config);
    let runs = home.path("state/opsdeck/runs");
    std::fs::create_dir_all(&runs).unwrap();
    let lock = std::fs::File::create(runs.join("stamp.lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    home.run(&["run", "stamp"])
        .refused("stamp is already running in another opsdeck process");
    let due = home.run(&["run", "--due"]).ok();
    assert!(
        due.stderr
            .contains("stamp is already running in another opsdeck process"),
        "{}",
        due.text()
    );
    assert_eq!(lines(&stamp), 0);
    drop(lock);
    home.run(&["run", "--due"]).ok();
    assert_eq!(lines(&stamp), 1);
}

/// Watching begins once: the first look's instant stays, later looks (from any process, on
/// either store) read it back; only the tasks asked about are returned.
async fn watching_begins_once(store: opsdeck::core::store::Store) {
    let first = utc("2026-12-01T08:00:00Z");
    let later = utc("2026-12-05T08:00:00Z");
    let ids = |names: &[&str]| {
        names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>()
    };
    let watched = store
        .watch_schedules("web-1", &ids(&["a"]), first)
        .await
        .unwrap();
    assert_eq!(watched, [("a".to_owned(), first)].into());
    let watched = store
        .watch_schedules("web-1", &ids(&["a", "b"]), later)
        .await
        .unwrap();
    assert_eq!(
        watched,
        [("a".to_owned(), first), ("b".to_owned(), later)].into()
    );
    let watched = store
        .watch_schedules("web-1", &ids(&["b"]), utc("2026-12-06T08:00:00Z"))
        .await
        .unwrap();
    assert_eq!(watched, [("b".to_owned(), later)].into());
    // Another host sharing the store begins watching when it first looks, not when web-1 did.
    let joined = utc("2026-12-07T08:00:00Z");
    let watched = store
        .watch_schedules("web-2", &ids(&["a"]), joined)
        .await
        .unwrap();
    assert_eq!(watched, [("a".to_owned(), joined)].into());
}

#[tokio::test]
async fn watching_begins_once_on_sqlite() {
    use opsdeck::core::store::{Store, StoreLocation};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreLocation::Sqlite(dir.path().join("state.db")))
        .await
        .unwrap();
    watching_begins_once(store).await;
}

#[tokio::test]
async fn watching_begins_once_on_postgres() {
    let (_server, store) = support::postgres_store().await;
    watching_begins_once(store).await;
}
