//! Rendering of the whole console with ratatui's TestBackend: fixed data, fixed clock, snapshots
//! at 80×24 and 120×40, a tiny terminal, NO_COLOR (mono), ASCII glyphs and Korean text.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use opsdeck::config::Glyphs;
use opsdeck::config::keymap::{KeyChord, Keymap};
use opsdeck::config::theme::load_theme;
use opsdeck::core::checks::{Evaluation, Operator};
use opsdeck::core::collectors::resources::{
    FilesystemUsage, LoadAverage, NetworkRate, ResourceSample, Usage,
};
use opsdeck::core::model::{Alert, Metric, Status, Unit};
use opsdeck::core::protocol::Event;
use opsdeck::tui::app::{AppState, HostInfo, Msg};
use opsdeck::tui::layout::view;
use opsdeck::tui::style::Look;
use opsdeck::tui::style::{Palette, glyphs_for};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use unicode_width::UnicodeWidthStr;

const GIB: u64 = 1024 * 1024 * 1024;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap() + chrono::TimeDelta::seconds(seconds)
}

fn sample(taken_at: DateTime<Utc>, cpu: f64) -> ResourceSample {
    ResourceSample {
        taken_at,
        cpu_total_pct: Some(cpu),
        cpu_since_boot: false,
        cpu_per_core_pct: vec![cpu + 10.0, cpu - 10.0, 97.0, 3.0],
        memory: Usage {
            total_bytes: 16 * GIB,
            used_bytes: 10 * GIB,
        },
        swap: Usage {
            total_bytes: 2 * GIB,
            used_bytes: GIB / 4,
        },
        filesystems: vec![
            FilesystemUsage {
                path: "/".into(),
                total_bytes: 100 * GIB,
                used_bytes: 71 * GIB,
                available_bytes: 24 * GIB,
                error: None,
            },
            FilesystemUsage {
                path: "/data/백업".into(),
                total_bytes: 500 * GIB,
                used_bytes: 460 * GIB,
                available_bytes: 40 * GIB,
                error: None,
            },
            FilesystemUsage {
                path: "/var/lib/docker".into(),
                total_bytes: 0,
                used_bytes: 0,
                available_bytes: 0,
                error: Some("No such file or directory (os error 2)".into()),
            },
        ],
        networks: vec![NetworkRate {
            interface: "eth0".into(),
            rx_bytes_per_s: Some(125_000.0),
            tx_bytes_per_s: Some(2_300.0),
        }],
        load: LoadAverage {
            one: 1.52,
            five: 1.20,
            fifteen: 0.98,
        },
        process_count: 213,
        uptime_secs: 3 * 86_400 + 4 * 3600 + 12 * 60,
    }
}

fn evaluations(sample: &ResourceSample) -> Vec<Evaluation> {
    let statuses: HashMap<&str, Status> = [
        ("disk.used_pct:/data/백업", Status::Crit),
        ("memory.used_pct", Status::Ok),
    ]
    .into();
    sample
        .metrics()
        .into_iter()
        .map(|metric: Metric| Evaluation {
            status: statuses
                .get(metric.key().as_str())
                .copied()
                .unwrap_or(Status::Ok),
            metric,
            operator: Some(Operator::Above),
            warn: Some(80.0),
            crit: Some(90.0),
        })
        .collect()
}

fn alerts() -> Vec<Alert> {
    vec![
        Alert {
            id: "1".into(),
            key: "disk.used_pct:/data/백업".into(),
            metric: "disk.used_pct".into(),
            instance: Some("/data/백업".into()),
            host: None,
            level: Status::Crit,
            opened_at: at(-3700),
            resolved_at: None,
            peak: 92.1,
            threshold: 90.0,
            unit: Unit::Percent,
        },
        Alert {
            id: "2".into(),
            key: "cpu.used_pct".into(),
            metric: "cpu.used_pct".into(),
            instance: None,
            host: None,
            level: Status::Warn,
            opened_at: at(-7200),
            resolved_at: Some(at(-6000)),
            peak: 88.4,
            threshold: 80.0,
            unit: Unit::Percent,
        },
    ]
}

fn state(environment: &str) -> AppState {
    let host = HostInfo {
        hostname: "db-01".into(),
        user: "oncall".into(),
        environment: environment.into(),
        read_only: true,
    };
    let rules = vec!["cpu.used_pct: warn > 80, crit > 90 for 5m".to_owned()];
    let mut state = AppState::new(
        host,
        Keymap::default(),
        Duration::from_secs(1),
        rules,
        at(-600),
    );
    // Ten minutes of history, a rising CPU load.
    for second in (0..=600).step_by(5) {
        let cpu = 20.0 + (second as f64 / 600.0) * 40.0;
        let sample = sample(at(second - 600), cpu);
        let evaluations = evaluations(&sample);
        state.update(Msg::Runner(Event::Resources {
            sample: Box::new(sample),
            evaluations,
        }));
    }
    state.update(Msg::Runner(Event::AlertsLoaded(alerts())));
    add_services(&mut state);
    state.update(Msg::Tick(at(0)));
    state
}

fn add_services(state: &mut AppState) {
    use opsdeck::core::services::CheckOutcome;
    use opsdeck::core::services::flap::ServiceState;
    state.set_services(vec![
        ("api".into(), "http", Duration::from_secs(30)),
        ("orders-db".into(), "postgres", Duration::from_secs(30)),
        ("인증서".into(), "tls", Duration::from_secs(3600)),
    ]);
    let outcome = |ok: bool, ms: u64, detail: &str| CheckOutcome {
        ok,
        latency: Some(Duration::from_millis(ms)),
        detail: detail.into(),
        metrics: Vec::new(),
    };
    let checks = [
        (
            "api",
            ServiceState::Up,
            Status::Ok,
            outcome(true, 12, "200 OK in 12 ms"),
        ),
        (
            "orders-db",
            ServiceState::Down,
            Status::Crit,
            outcome(
                false,
                0,
                "connection refused (postgres://ops:***@10.0.0.5:5432/orders): is PostgreSQL running?",
            ),
        ),
        (
            "인증서",
            ServiceState::Up,
            Status::Warn,
            outcome(true, 40, "expires in 20 days (2026-12-12), CN=example.com"),
        ),
    ];
    for (name, state_now, level, outcome) in checks {
        state.update(Msg::Runner(Event::ServiceChecked {
            name: name.into(),
            state: state_now,
            level,
            checked_at: at(-12),
            outcome,
        }));
    }
    state.update(Msg::Runner(Event::ServiceAvailability(vec![
        ("api".into(), Some(100.0), Some(99.95)),
        ("orders-db".into(), Some(97.5), Some(99.6)),
    ])));
}

fn look(theme: &str, glyphs: Glyphs) -> Look {
    Look {
        palette: Palette::new(&load_theme(theme, None).unwrap()),
        glyphs: glyphs_for(glyphs, &|_: &str| None),
        utc_offset: FixedOffset::east_opt(0).unwrap(),
    }
}

fn render(state: &AppState, look: &Look, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view(state, look, frame)).unwrap();
    terminal.backend().buffer().clone()
}

/// The screen as text, one line per row; a double-width character occupies two columns.
fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut x = 0;
        while x < area.width {
            let symbol = buffer[(x, y)].symbol();
            out.push_str(symbol);
            x += symbol.width().max(1) as u16;
        }
        out.push('\n');
    }
    out
}

#[test]
fn console_at_80x24() {
    let screen = text(&render(
        &state("PROD"),
        &look("dark", Glyphs::Unicode),
        80,
        24,
    ));
    insta::assert_snapshot!(screen);
}

#[test]
fn console_at_120x40() {
    let screen = text(&render(
        &state("PROD"),
        &look("dark", Glyphs::Unicode),
        120,
        40,
    ));
    insta::assert_snapshot!(screen);
}

/// A selection move changes a few cells, so the reply to a key over SSH is a few hundred bytes:
/// `j` on the gauges (the first focus) moves the alerts' selection, drawn there, and nothing else.
#[test]
fn j_on_the_gauges_moves_the_alert_selection_and_changes_only_those_rows() {
    let mut state = state("PROD");
    let look = look("dark", Glyphs::Unicode);
    let before = render(&state, &look, 120, 40);
    state.update(Msg::Key(KeyChord::parse("j").unwrap()));
    let after = render(&state, &look, 120, 40);
    let changed_rows: Vec<u16> = (0..40)
        .filter(|&y| (0..120).any(|x| before[(x, y)] != after[(x, y)]))
        .collect();
    let text = text(&after);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(changed_rows.len(), 2, "{changed_rows:?}\n{text}");
    assert!(lines[usize::from(changed_rows[0])].contains("disk.used_pct"));
    assert!(lines[usize::from(changed_rows[1])].contains("cpu.used_pct"));
    let selection = look.palette.get(opsdeck::config::theme::Slot::Selection);
    let row = changed_rows[1];
    let selected = (0..120).any(|x| Some(after[(x, row)].bg) == selection.bg);
    assert!(selected, "the second alert is drawn selected\n{text}");
}

#[test]
fn console_at_200x60_uses_the_space() {
    let screen = text(&render(
        &state("PROD"),
        &look("dark", Glyphs::Unicode),
        200,
        60,
    ));
    assert!(screen.contains("eth0"));
    assert!(screen.lines().all(|line| line.width() == 200));
}

#[test]
fn help_overlay_lists_every_binding() {
    let mut state = state("");
    state.update(Msg::Key(KeyChord::parse("?").unwrap()));
    let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 100, 40));
    insta::assert_snapshot!(screen);
    // Grouped by pane it is longer than a screen: every binding is there on a tall one.
    let tall = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 100));
    for action in opsdeck::config::action::Action::ALL {
        assert!(
            tall.contains(&format!(" {} ", action.name())),
            "help lacks {}",
            action.name()
        );
    }
    for section in [
        "Everywhere",
        "Services",
        "Queries",
        "Backups",
        "Checklist run",
        "Tasks",
    ] {
        assert!(
            tall.contains(section),
            "help lacks the {section} section:\n{tall}"
        );
    }
    // Pane prose is gone from the general descriptions.
    assert!(!tall.contains("queries pane:"), "{tall}");
    // It scrolls.
    state.update(Msg::Key(KeyChord::parse("pagedown").unwrap()));
    let scrolled = text(&render(&state, &look("dark", Glyphs::Unicode), 100, 40));
    assert_ne!(scrolled, screen);
}

#[test]
fn no_color_draws_without_any_colour_and_ascii_glyphs() {
    let buffer = render(&state("STAGING"), &look("mono", Glyphs::Ascii), 80, 24);
    for cell in buffer.content() {
        assert!(matches!(cell.fg, Color::Reset), "coloured cell {cell:?}");
        assert!(matches!(cell.bg, Color::Reset), "coloured cell {cell:?}");
    }
    let screen = text(&buffer);
    insta::assert_snapshot!(screen);
    // Status must still be readable without colour.
    assert!(screen.contains("CRIT"));
    assert!(!screen.contains('█') && !screen.contains('▁'));
}

#[test]
fn korean_text_keeps_columns_aligned() {
    let screen = text(&render(
        &state("운영"),
        &look("dark", Glyphs::Unicode),
        80,
        24,
    ));
    for line in screen.lines() {
        assert_eq!(line.width(), 80, "misaligned row: {line}");
    }
    let backup = screen
        .lines()
        .find(|line| line.contains("/data/백업") && line.contains('%'))
        .unwrap();
    let root = screen.lines().find(|line| line.starts_with("│/ ")).unwrap();
    let percent_column = |line: &str| line.find('%').map(|byte| line[..byte].width());
    assert_eq!(
        percent_column(backup),
        percent_column(root),
        "\n{backup}\n{root}"
    );
}

#[test]
fn tiny_terminals_get_a_summary_not_a_refusal() {
    let screen = text(&render(
        &state("PROD"),
        &look("dark", Glyphs::Unicode),
        40,
        7,
    ));
    insta::assert_snapshot!(screen);
    assert!(screen.contains("CPU") && screen.contains("MEM"));
}

#[test]
fn stale_data_is_marked_in_the_pane_title() {
    let mut state = state("");
    state.update(Msg::Tick(at(45)));
    let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
    assert!(screen.contains("STALE 45s"), "{screen}");
}

#[test]
fn store_problems_show_in_place() {
    let mut state = state("");
    state.update(Msg::Runner(Event::Warning {
        source: "store",
        message: "database is locked\x1b[2J".into(),
    }));
    let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 100, 30));
    assert!(screen.contains("database is locked\\x1b[2J"), "{screen}");
}

/// Other consoles on the shared store are named in the header after this console's own user and
/// host, each user and host once with a count for several consoles, escapes shown escaped; where
/// the names do not fit (80 columns) a count of the others takes their place.
#[test]
fn the_header_names_the_other_consoles_on_the_shared_store() {
    use opsdeck::core::shared::{Heartbeat, Kind};
    let peer = |session: &str, user: &str, host: &str| Heartbeat {
        session: session.into(),
        kind: Kind::Console,
        host: host.into(),
        user: user.into(),
        pid: 4242,
        started_at: at(-3600),
        beat_at: at(-2),
    };
    let mut state = state("PROD");
    state.update(Msg::Runner(Event::Presence {
        peers: vec![
            peer("a", "bob", "web-02"),
            peer("b", "carol", "db-02"),
            peer("c", "carol", "db-02"),
            peer("d", "eve\x1b[2J", "jump"),
        ],
        evaluations: Vec::new(),
    }));
    let look = look("dark", Glyphs::Unicode);
    let header = |state: &AppState, width: u16| -> String {
        text(&render(state, &look, width, 24))
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    insta::assert_snapshot!(format!("{}\n{}", header(&state, 120), header(&state, 80)));
    state.update(Msg::Runner(Event::Presence {
        peers: Vec::new(),
        evaluations: Vec::new(),
    }));
    let alone = header(&state, 120);
    assert!(!alone.contains("also on"), "{alone}");
}

/// The capacity job's figures take the filesystem rows' empty sparkline column, coloured by the
/// days-to-full rule; too narrow for it, they lead the free/total detail.
#[test]
fn filesystem_rows_show_their_capacity_projection() {
    use opsdeck::core::capacity::job::{CapacityReport, SeriesProjection};
    use opsdeck::core::capacity::{Sample, Settings, project};

    let mut state = state("");
    let days = |value: &dyn Fn(f64) -> f64| -> Vec<Sample> {
        (0..=30 * 24)
            .map(|hour| {
                let day = f64::from(hour - 30 * 24) / 24.0;
                Sample::new(
                    at(0) + chrono::TimeDelta::hours(i64::from(hour - 30 * 24)),
                    value(day),
                )
            })
            .collect()
    };
    let projected = |instance: &str, samples: Vec<Sample>| SeriesProjection {
        metric: "disk.used_pct",
        instance: Some(instance.to_owned()),
        projection: project(&samples, Some(100.0), &Settings::default()).unwrap(),
    };
    let report = CapacityReport {
        taken_at: at(0),
        series: vec![
            projected("/", days(&|day| 71.0 + 1.45 * day)),
            projected("/data/백업", days(&|day| 60.0 + 30.0 * (day - day.floor()))),
        ],
        error: None,
    };
    state.update(Msg::Runner(Event::Judged(vec![Evaluation {
        metric: Metric::of("disk.days_to_full", "/", 20.0, Unit::Days),
        status: Status::Warn,
        operator: Some(Operator::Below),
        warn: Some(30.0),
        crit: Some(7.0),
    }])));
    state.update(Msg::Runner(Event::Capacity(Box::new(report))));
    let look = look("dark", Glyphs::Unicode);
    let screen = text(&render(&state, &look, 120, 40));
    let row = |screen: &str, free: &str| {
        screen
            .lines()
            .find(|line| line.contains(free))
            .unwrap_or_else(|| panic!("no row with {free}\n{screen}"))
            .to_owned()
    };
    assert!(
        row(&screen, "24.0 GiB free").contains("full in 20 d"),
        "{screen}"
    );
    assert!(
        row(&screen, "40.0 GiB free").contains("saw-tooth"),
        "{screen}"
    );

    let narrow = text(&render(&state, &look, 60, 30));
    let root = row(&narrow, "full in 20 d");
    assert!(
        root.contains("full in 20 d · 24.0"),
        "the figure leads the detail\n{narrow}"
    );
}

mod tasks {
    use super::*;
    use opsdeck::core::model::{RunStatus, TaskRun};
    use opsdeck::core::tasks::{Plan, PlanStep, PlannedFile, TaskInfo};

    fn info(id: &str, title: &str, destructive: bool) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            title: title.into(),
            description: format!("{title} (description)"),
            destructive,
            timeout: Duration::from_secs(600),
            concurrent: false,
            params: Vec::new(),
            schedule: None,
        }
    }

    fn run(id: &str, task: &str, status: RunStatus, started: i64, ended: Option<i64>) -> TaskRun {
        TaskRun {
            id: id.into(),
            task_id: task.into(),
            params: Default::default(),
            plan: vec!["run: logrotate -v /etc/logrotate.d/app".into()],
            user: "oncall".into(),
            client: Some("10.1.2.3".into()),
            host: "db-01".into(),
            pid: 42,
            started_at: at(started),
            ended_at: ended.map(at),
            status,
            exit_code: ended.map(|_| 0),
            summary: ended.map(|_| "rotated 2 logs".into()),
            output: "rotating log /var/log/app.log\n".into(),
            log_path: None,
            trigger: Default::default(),
        }
    }

    fn state_with_tasks() -> AppState {
        let mut state = state("PROD");
        add_tasks(&mut state);
        for _ in 0..4 {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        state.update(Msg::Key(KeyChord::parse("j").unwrap()));
        state.update(Msg::Tick(at(0)));
        state
    }

    /// Three tasks, one succeeded an hour ago, one running with output.
    pub(super) fn add_tasks(state: &mut AppState) {
        state.set_tasks(vec![
            (
                info("log-rotation", "Rotate logs", true),
                Some(KeyChord::parse("L").unwrap()),
            ),
            (
                info("security-scan", "Permission scan", false),
                Some(KeyChord::parse("S").unwrap()),
            ),
            (info("백업-점검", "백업 파일 점검", false), None),
        ]);
        state.update(Msg::Runner(Event::TaskHistory {
            task_id: None,
            runs: vec![run(
                "r1",
                "log-rotation",
                RunStatus::Succeeded,
                -3600,
                Some(-3595),
            )],
        }));
        let running = run("r2", "security-scan", RunStatus::Running, -12, None);
        state.update(Msg::Runner(Event::TaskStarted(running)));
        for line in [
            "scanning /srv/app",
            "WARN /srv/app/.env mode 644, expected 600",
            "디렉터리 /srv/app/data 확인",
        ] {
            state.update(Msg::Runner(Event::TaskOutput {
                run_id: "r2".into(),
                line: line.into(),
            }));
        }
    }

    /// Two scheduled tasks, one overdue: the pane's schedule column, then the calendar popup
    /// opened from the palette with a week of ran, skipped, failed and missed due times.
    #[test]
    fn schedules_in_the_pane_and_the_calendar_popup() {
        use opsdeck::core::calendar::{Sources, build};
        use opsdeck::core::checklists::{Checklist, Language, Period, Text};
        use opsdeck::core::model::Trigger;
        use opsdeck::core::tasks::schedule::{CronExpr, ScheduleSample, TaskSchedule};
        let schedule = |cron: &str, unattended| TaskSchedule {
            cron: CronExpr::parse(cron).unwrap(),
            grace: Duration::from_secs(3600),
            unattended,
        };
        let mut rotate = info("log-rotation", "Rotate logs", true);
        rotate.schedule = Some(schedule("0 3 * * *", true));
        let mut vacuum = info("db-vacuum-analyze", "VACUUM ANALYZE", true);
        vacuum.schedule = Some(schedule("0 1 * * 0", false));
        let mut state = state("PROD");
        state.set_tasks(vec![
            (rotate.clone(), Some(KeyChord::parse("L").unwrap())),
            (vacuum.clone(), Some(KeyChord::parse("V").unwrap())),
        ]);
        let now = at(3600);
        let mut ran = run(
            "r1",
            "log-rotation",
            RunStatus::Succeeded,
            -3 * 86_400,
            Some(-3 * 86_400 + 5),
        );
        ran.trigger = Trigger::Schedule;
        let mut failed = run(
            "r2",
            "log-rotation",
            RunStatus::Failed,
            -2 * 86_400,
            Some(-2 * 86_400 + 9),
        );
        failed.trigger = Trigger::Schedule;
        failed.summary = Some("exited with status 1".into());
        let mut skipped = run(
            "r3",
            "db-vacuum-analyze",
            RunStatus::Refused,
            -86_400 * 7 + 7200,
            Some(-86_400 * 7 + 7200),
        );
        skipped.trigger = Trigger::Schedule;
        skipped.summary = Some("skipped: unattended = false".into());
        let runs = vec![ran.clone(), failed, skipped];
        let tasks = [rotate, vacuum];
        let schedules: Vec<(String, TaskSchedule)> = tasks
            .iter()
            .map(|task| (task.id.clone(), task.schedule.clone().unwrap()))
            .collect();
        let successes = [("log-rotation".to_owned(), ran.ended_at.unwrap())].into();
        // Watched for a month: every window of the week counts.
        let watched_since: std::collections::HashMap<String, DateTime<Utc>> = tasks
            .iter()
            .map(|task| (task.id.clone(), now - chrono::TimeDelta::days(30)))
            .collect();
        state.update(Msg::Runner(Event::Schedules(ScheduleSample::new(
            &schedules,
            &watched_since,
            &successes,
            now,
            &Utc,
        ))));
        for _ in 0..4 {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        state.update(Msg::Tick(now));
        let pane = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        insta::assert_snapshot!("schedules_in_the_tasks_pane", pane);
        assert!(pane.contains("OVERDUE since"), "{pane}");

        state.update(Msg::Key(KeyChord::parse(":").unwrap()));
        for ch in "calendar".chars() {
            state.update(Msg::Key(KeyChord::parse(&ch.to_string()).unwrap()));
        }
        let requests = state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        assert!(
            matches!(
                &requests[..],
                [opsdeck::core::protocol::Request::LoadCalendar { .. }]
            ),
            "{requests:?}"
        );
        let checklist = Checklist {
            id: "weekly".into(),
            title: Text {
                en: "Weekly check".into(),
                ko: None,
            },
            period: Period::Week,
            schedule: "0 10 * * 1".into(),
            overdue_after: Duration::from_secs(86_400),
            items: Vec::new(),
            source: "test".into(),
        };
        let calendar = build(
            &Sources {
                tasks: &tasks,
                checklists: &[checklist],
                language: Language::En,
                runs: &runs,
                checklist_runs: &[],
                watched_since: &watched_since,
            },
            now,
            &Utc,
        );
        state.update(Msg::Runner(Event::Calendar(Ok(Box::new(calendar)))));
        let popup = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        insta::assert_snapshot!("the_calendar_popup", popup);
        for expected in ["ran", "failed", "skipped", "missed", "due"] {
            assert!(popup.contains(expected), "{expected}: {popup}");
        }
    }

    #[test]
    fn tasks_pane_side_by_side_at_120x40() {
        let screen = text(&render(
            &state_with_tasks(),
            &look("dark", Glyphs::Unicode),
            120,
            40,
        ));
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn output_is_visible_while_the_task_still_runs_at_80x24() {
        let state = state_with_tasks();
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        insta::assert_snapshot!(screen);
        assert!(screen.contains("running 12s"), "{screen}");
        assert!(screen.contains("WARN /srv/app/.env mode 644"), "{screen}");
        for line in screen.lines() {
            assert_eq!(line.width(), 80, "misaligned: {line}");
        }
    }

    #[test]
    fn a_destructive_task_asks_with_its_exact_plan() {
        let mut state = state_with_tasks();
        state.host.read_only = false;
        state.update(Msg::Key(KeyChord::parse("k").unwrap()));
        let requests = state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        assert!(
            matches!(&requests[..], [opsdeck::core::protocol::Request::PlanTask { task_id, .. }] if task_id == "log-rotation")
        );
        let plan = Plan {
            steps: vec![
                PlanStep::Command {
                    argv: vec![
                        "logrotate".into(),
                        "-v".into(),
                        "/etc/logrotate.d/app".into(),
                    ],
                    cwd: None,
                },
                PlanStep::Files {
                    action: "delete".into(),
                    files: vec![PlannedFile {
                        path: "/tmp/old file.tmp".into(),
                        bytes: 2048,
                    }],
                    total_bytes: 2048,
                },
            ],
            warnings: vec!["logrotate state file is new".into()],
            refusal: None,
        };
        state.update(Msg::Runner(Event::TaskPlanned {
            task_id: "log-rotation".into(),
            params: Default::default(),
            plan: Ok(plan),
        }));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 100, 30));
        insta::assert_snapshot!(screen);
        assert!(screen.contains("run: logrotate -v /etc/logrotate.d/app"));
        // One file a line, as it is (no quotes), its size apart: a space in a name is plain.
        assert!(
            screen.contains("  /tmp/old file.tmp  (2.00 KiB)"),
            "{screen}"
        );
        let requests = state.update(Msg::Key(KeyChord::parse("y").unwrap()));
        // What is confirmed is what was shown: the command and the file, not the words.
        let shown = opsdeck::core::tasks::Confirmed::Plan(vec![
            "run: logrotate -v /etc/logrotate.d/app".into(),
            "delete /tmp/old file.tmp".into(),
        ]);
        assert!(
            matches!(&requests[..], [opsdeck::core::protocol::Request::StartTask { task_id, confirmed, .. }] if task_id == "log-rotation" && *confirmed == shown),
            "{requests:?}"
        );
        assert!(state.modal.is_none());
    }

    #[test]
    fn read_only_blocks_destructive_tasks_in_the_console_too() {
        let mut state = state_with_tasks();
        assert!(state.host.read_only);
        state.update(Msg::Key(KeyChord::parse("k").unwrap()));
        let requests = state.update(Msg::Key(KeyChord::parse("L").unwrap()));
        assert!(requests.is_empty());
        assert!(state.notice.as_ref().unwrap().text.contains("read-only"));
    }
}

mod services {
    use super::*;

    #[test]
    fn filter_sort_and_detail() {
        let mut state = state("");
        state.host.read_only = false;
        state.update(Msg::Key(KeyChord::parse("/").unwrap()));
        for ch in "db".chars() {
            state.update(Msg::Key(KeyChord::parse(&ch.to_string()).unwrap()));
        }
        state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        let names: Vec<&str> = state
            .visible_services()
            .iter()
            .map(|row| row.name.as_str())
            .collect();
        assert_eq!(names, ["orders-db"]);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 100, 30));
        assert!(screen.contains("filter: db"), "{screen}");
        // Enter opens the detail view of the selected service.
        state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 100, 30));
        insta::assert_snapshot!(screen);
        assert!(screen.contains("last error"), "{screen}");
        let requests = state.update(Msg::Key(KeyChord::parse("e").unwrap()));
        assert_eq!(
            requests,
            vec![opsdeck::core::protocol::Request::CheckService {
                name: "orders-db".into()
            }]
        );
        state.update(Msg::Key(KeyChord::parse("esc").unwrap()));
        // Clear the filter, sort worst first: the down service leads.
        state.update(Msg::Key(KeyChord::parse("/").unwrap()));
        state.update(Msg::Key(KeyChord::parse("backspace").unwrap()));
        state.update(Msg::Key(KeyChord::parse("backspace").unwrap()));
        state.update(Msg::Key(KeyChord::parse("esc").unwrap()));
        state.update(Msg::Key(KeyChord::parse("s").unwrap()));
        let names: Vec<&str> = state
            .visible_services()
            .iter()
            .map(|row| row.name.as_str())
            .collect();
        assert_eq!(names, ["orders-db", "인증서", "api"]);
    }

    #[test]
    fn the_detail_shows_every_figure_the_rules_judge_with_the_limit_broken() {
        use opsdeck::core::checks::{Evaluation, Operator};
        use opsdeck::core::services::CheckOutcome;
        use opsdeck::core::services::flap::ServiceState;
        let mut state = state("");
        state.set_services(vec![("cache".into(), "redis", Duration::from_secs(30))]);
        let metrics = vec![
            ("service.latency_ms", 0.4, Unit::Count),
            ("service.redis_memory_pct", 99.6, Unit::Percent),
            ("service.redis_hit_ratio_pct", 71.0, Unit::Percent),
            ("service.redis_evicted_keys", 3448.0, Unit::Count),
        ];
        let judged: Vec<Evaluation> = metrics
            .iter()
            .map(|(name, value, unit)| {
                let breaks = *name == "service.redis_evicted_keys";
                Evaluation {
                    metric: Metric::of(name, "cache", *value, *unit),
                    status: if breaks { Status::Warn } else { Status::Ok },
                    operator: breaks.then_some(Operator::Above),
                    warn: breaks.then_some(1.0),
                    crit: None,
                }
            })
            .collect();
        state.update(Msg::Runner(Event::Judged(judged)));
        state.update(Msg::Runner(Event::ServiceChecked {
            name: "cache".into(),
            state: ServiceState::Up,
            level: Status::Warn,
            checked_at: at(-5),
            outcome: CheckOutcome {
                ok: true,
                latency: Some(Duration::from_micros(400)),
                detail: "PONG in 0 ms, 99.6 % of maxmemory".into(),
                metrics,
            },
        }));
        state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 100, 30));
        insta::assert_snapshot!(screen);
        assert!(screen.contains("redis_evicted_keys 3448 > 1"), "{screen}");
        assert!(screen.contains("redis_memory_pct 99.6 %"), "{screen}");
        assert!(screen.contains("redis_hit_ratio_pct 71.0 %"), "{screen}");
    }
}

mod queries {
    use super::*;
    use opsdeck::core::protocol::Request;
    use opsdeck::core::queries::{
        IndexRow, QuerySnapshot, SessionRow, StatementRow, StatementsView, TableHealth, TableRow,
    };

    fn statement(queryid: i64, query: &str, mean_ms: f64, calls: i64) -> StatementRow {
        StatementRow {
            queryid,
            user: "app".into(),
            toplevel: Some(true),
            query: query.into(),
            calls,
            total_ms: mean_ms * calls as f64,
            mean_ms,
            max_ms: mean_ms * 1.5,
            rows: calls,
            hit_ratio_pct: Some(99.2),
            calls_delta: 1,
            total_ms_delta: mean_ms,
            calls_since_start: 2,
            total_ms_since_start: mean_ms * 2.0,
            recent_mean_ms: Some(mean_ms),
            slow: mean_ms > 1000.0,
        }
    }

    fn session(pid: i32, state: &str, blocked_by: Vec<i32>, query: &str) -> SessionRow {
        SessionRow {
            pid,
            database: "app".into(),
            user: "alice".into(),
            application: "psql".into(),
            opsdeck_task: false,
            client: "10.0.0.9".into(),
            state: state.into(),
            wait_event: (!blocked_by.is_empty()).then(|| "Lock: relation".into()),
            query_seconds: Some(61.0),
            transaction_seconds: Some(75.0),
            state_seconds: Some(58.0),
            query: query.into(),
            idle_in_transaction: state == "idle in transaction",
            long_running: state == "active",
            blocking: pid == 4141,
            waiting_on_it: 0,
            depth: 0,
            blocked_by,
        }
    }

    pub(super) fn snapshot() -> QuerySnapshot {
        QuerySnapshot {
            database: "app".into(),
            taken_at: at(-1),
            took: Duration::from_millis(14),
            server_version: Some("15.19".into()),
            statements: StatementsView::Rows {
                rows: vec![
                    statement(1, "SELECT pg_sleep($1)", 1201.4, 3),
                    statement(2, "SELECT '\x1b[2J' AS x", 0.4, 120),
                    statement(
                        3,
                        "UPDATE pgbench_accounts SET abalance = abalance + $1\n  WHERE aid = $2",
                        2.3,
                        5400,
                    ),
                ],
            },
            sessions: Ok(opsdeck::core::queries::lock_tree(vec![
                session(
                    4242,
                    "active",
                    vec![4141],
                    "SELECT count(*) FROM pgbench_accounts",
                ),
                session(
                    4141,
                    "idle in transaction",
                    Vec::new(),
                    "LOCK TABLE pgbench_accounts IN ACCESS EXCLUSIVE MODE",
                ),
                SessionRow {
                    application: "opsdeck-task".into(),
                    opsdeck_task: true,
                    long_running: false,
                    ..session(
                        4343,
                        "active",
                        vec![4141],
                        "VACUUM (ANALYZE) public.pgbench_accounts",
                    )
                },
            ])),
            health: Ok(TableHealth {
                database_bytes: 23 * 1024 * 1024,
                largest_tables: vec![TableRow {
                    name: "public.pgbench_accounts".into(),
                    total_bytes: 15 * 1024 * 1024,
                    live_tuples: 100_000,
                    dead_tuples: 40_000,
                    last_vacuum: None,
                    last_autovacuum: Some(at(-7200)),
                    last_analyze: None,
                    last_autoanalyze: Some(at(-7200)),
                }],
                largest_indexes: Vec::new(),
                unused_indexes: vec![IndexRow {
                    name: "public.idx_unused".into(),
                    table: "public.pgbench_accounts".into(),
                    bytes: 2 * 1024 * 1024,
                    scans: 0,
                }],
                progress: Vec::new(),
            }),
            error: None,
        }
    }

    fn with_queries() -> AppState {
        let mut state = state("");
        state.host.read_only = false;
        state.set_databases(vec!["app".into()], Duration::from_secs(5));
        state.update(Msg::Runner(Event::Queries(Box::new(snapshot()))));
        state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        state
    }

    #[test]
    fn slow_statements_lead_and_escapes_are_shown_escaped() {
        let state = with_queries();
        let buffer = render(&state, &look("dark", Glyphs::Unicode), 120, 40);
        let screen = text(&buffer);
        insta::assert_snapshot!(screen);
        assert!(screen.contains("SELECT pg_sleep($1)"));
        assert!(screen.contains("\\x1b[2J"), "{screen}");
        assert!(
            buffer
                .content()
                .iter()
                .all(|cell| !cell.symbol().contains('\x1b'))
        );
    }

    #[test]
    fn sessions_show_blockers_and_cancel_asks_with_the_exact_pids() {
        let mut state = with_queries();
        state.update(Msg::Key(KeyChord::parse("v").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        insta::assert_snapshot!(screen);
        assert!(screen.contains("by 4141"), "{screen}");
        // The root blocker leads, with how many wait on it; opsdeck's own VACUUM is marked.
        let row = |pid: &str| {
            screen
                .lines()
                .position(|line| line.contains(pid))
                .unwrap_or_else(|| panic!("{pid} missing:\n{screen}"))
        };
        assert!(
            row("4141") < row("4242") && row("4141") < row("4343"),
            "{screen}"
        );
        assert!(screen.contains("BLOCKS 2"), "{screen}");
        assert!(screen.contains("[opsdeck] V"), "{screen}");
        state.update(Msg::Key(KeyChord::parse("space").unwrap()));
        state.update(Msg::Key(KeyChord::parse("j").unwrap()));
        state.update(Msg::Key(KeyChord::parse("space").unwrap()));
        let requests = state.update(Msg::Key(KeyChord::parse("x").unwrap()));
        match &requests[..] {
            [Request::PlanTask { task_id, params }] => {
                assert_eq!(task_id, "pg-cancel-query");
                assert_eq!(params.get("pids").map(String::as_str), Some("4141,4242"));
                assert_eq!(params.get("database").map(String::as_str), Some("app"));
            }
            other => panic!("{other:?}"),
        }
        let requests = state.update(Msg::Key(KeyChord::parse("X").unwrap()));
        assert!(
            matches!(&requests[..], [Request::PlanTask { task_id, .. }] if task_id == "pg-terminate-session")
        );
        state.host.read_only = true;
        assert!(
            state
                .update(Msg::Key(KeyChord::parse("x").unwrap()))
                .is_empty()
        );
        assert!(state.notice.as_ref().unwrap().text.contains("read-only"));
    }

    #[test]
    fn health_offers_vacuum_for_a_table_and_reindex_for_an_index() {
        let mut state = with_queries();
        state.update(Msg::Key(KeyChord::parse("v").unwrap()));
        state.update(Msg::Key(KeyChord::parse("v").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("UNUSED"), "{screen}");
        let requests = state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        assert!(
            matches!(&requests[..], [Request::PlanTask { task_id, params }]
            if task_id == "db-vacuum-analyze" && params.get("table").map(String::as_str) == Some("public.pgbench_accounts"))
        );
        state.update(Msg::Key(KeyChord::parse("j").unwrap()));
        let requests = state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        assert!(
            matches!(&requests[..], [Request::PlanTask { task_id, params }]
            if task_id == "db-reindex" && params.get("index").map(String::as_str) == Some("public.idx_unused"))
        );
    }

    #[test]
    fn slow_statements_and_stuck_sessions_become_metrics_for_rules() {
        let metrics = snapshot().metrics();
        let value = |key: &str| metrics.iter().find(|m| m.key() == key).map(|m| m.value);
        assert_eq!(value("db.slow_statements:app"), Some(1.0));
        assert_eq!(value("db.waiting_sessions:app"), Some(2.0));
        assert_eq!(value("db.idle_in_transaction_sessions:app"), Some(1.0));
        assert_eq!(value("db.long_running_sessions:app"), Some(1.0));
        let config = opsdeck::config::Config::parse(
            "t",
            "[[rule]]\nmetric = \"db.slow_statements\"\ninstance = \"app\"\nop = \">=\"\nwarn = 1\n",
        )
        .expect("a rule on slow statements");
        let engine = opsdeck::core::checks::RuleEngine::new(config.effective_rules());
        let slow = metrics
            .iter()
            .find(|m| m.name == "db.slow_statements")
            .unwrap();
        assert_eq!(engine.evaluate(slow).status, Status::Warn);
    }

    #[test]
    fn a_missing_extension_shows_how_to_enable_it_and_stale_data_is_marked() {
        let mut state = with_queries();
        let mut missing = snapshot();
        missing.statements = StatementsView::Unavailable {
            guidance: "pg_stat_statements is not enabled in app.\n1. shared_preload_libraries = 'pg_stat_statements'".into(),
        };
        missing.taken_at = at(-60);
        state.update(Msg::Runner(Event::Queries(Box::new(missing))));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("shared_preload_libraries"), "{screen}");
        assert!(screen.contains("STALE"), "{screen}");
    }
}

mod backups {
    use super::*;
    use opsdeck::core::backups::inventory::Inventory;
    use opsdeck::core::backups::status::{Known, evaluate_in};
    use opsdeck::core::backups::{
        BackupFile, BackupSet, DetectedKind, ExpectedKind, Freshness, Retention, Verification,
        VerifyResult,
    };
    use opsdeck::core::checks::RuleEngine;
    use opsdeck::core::protocol::Request;
    use opsdeck::tui::app::Pane;

    const KIB: u64 = 1024;

    fn set(name: &str, directory: &str) -> BackupSet {
        BackupSet {
            name: name.into(),
            directory: directory.into(),
            patterns: Vec::new(),
            kind: ExpectedKind::PgDumpGzip,
            freshness: Freshness::MaxAge(Duration::from_secs(24 * 3600)),
            retention: Retention::Days(30),
            min_size: 1,
            encryption_required: false,
            create: None,
            prefix: name.into(),
            restore: None,
        }
    }

    fn file(name: &str, hours_ago: i64, size: u64, kind: DetectedKind) -> BackupFile {
        let time = at(-hours_ago * 3600);
        BackupFile {
            path: format!("/backups/pg/{name}").into(),
            time,
            time_from_name: true,
            modified: time,
            size,
            kind,
            problem: None,
            sidecar: None,
        }
    }

    /// Two sets: `pg` with a stale newest dump that shrank, a corrupt file and expired ones,
    /// and `설정` (Korean name) that is fine.
    fn backup_state() -> AppState {
        let mut state = state("PROD");
        add_backups(&mut state);
        state
    }

    /// Two sets: `pg` with a stale newest dump, a corrupt file and a stray kind; `설정` fine.
    pub(super) fn add_backups(state: &mut AppState) {
        let pg = set("pg", "/backups/pg");
        let files = vec![
            file(
                "db_20261120_210000.sql.gz",
                30,
                40 * KIB,
                DetectedKind::PgDumpPlainGzip,
            ),
            file(
                "db_20261119_210000.sql.gz",
                54,
                900 * KIB,
                DetectedKind::PgDumpPlainGzip,
            ),
            file(
                "db_20261118_210000 \u{1b}[31m.sql.gz",
                78,
                7,
                DetectedKind::Unknown,
            ),
            file(
                "db_20261117_210000.sql.gz",
                102,
                880 * KIB,
                DetectedKind::PgDumpPlainGzip,
            ),
            file(
                "db_20261001_210000.sql.gz",
                52 * 24,
                850 * KIB,
                DetectedKind::PgDumpPlainGzip,
            ),
        ];
        let corrupt = Verification {
            set: "pg".into(),
            path: files[2].path.clone(),
            size: files[2].size,
            modified: files[2].modified,
            verified_at: at(-3600),
            result: VerifyResult::Corrupt,
            message: "not gzip data".into(),
            sha256: None,
            duration_ms: 3,
        };
        let pg_report = evaluate_in(
            &pg,
            Inventory {
                set: "pg".into(),
                files,
                problem: None,
                in_progress: Vec::new(),
                scanned_at: at(-60),
                took: Duration::from_millis(4),
            },
            &Known {
                verifications: vec![corrupt],
                last_good_restore: None,
            },
            at(0),
            &Utc,
        );
        let config = set("설정", "/backups/설정");
        let config_report = evaluate_in(
            &config,
            Inventory {
                set: "설정".into(),
                files: vec![file(
                    "설정_20261121.tar.gz",
                    6,
                    12 * KIB,
                    DetectedKind::PgDumpPlainGzip,
                )],
                problem: None,
                in_progress: Vec::new(),
                scanned_at: at(-60),
                took: Duration::from_millis(1),
            },
            &Known::default(),
            at(0),
            &Utc,
        );
        let engine = RuleEngine::new(opsdeck::config::default_rules());
        let reports = vec![pg_report, config_report];
        let evaluations = reports
            .iter()
            .flat_map(|report| report.metrics())
            .map(|metric| engine.evaluate(&metric))
            .collect();
        state.set_backup_sets(vec!["pg".into(), "설정".into()]);
        state.update(Msg::Runner(Event::Backups {
            reports,
            evaluations,
        }));
    }

    #[test]
    fn sets_with_their_problems_and_the_selected_sets_files() {
        let mut state = backup_state();
        while state.focus != Pane::Backups {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("CRIT"), "{screen}");
        assert!(
            screen.contains("newest good backup is 1d 6h old (limit 24h)"),
            "{screen}"
        );
        assert!(
            screen.contains("% of the median"),
            "the size drop is named: {screen}"
        );
        assert!(
            screen.contains("\\x1b[31m"),
            "escapes in names are shown escaped: {screen}"
        );
        assert!(!screen.contains('\u{1b}'));
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn fits_80x24_with_korean_names_and_opens_the_detail() {
        let mut state = backup_state();
        while state.focus != Pane::Backups {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        state.update(Msg::Key(KeyChord::parse("down").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        for line in screen.lines() {
            assert_eq!(line.width(), 80, "every row is 80 columns: {line:?}");
        }
        assert!(screen.contains("설정"), "{screen}");
        state.update(Msg::Key(KeyChord::parse("up").unwrap()));
        state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        let detail = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            detail.contains("52d 0h   850 KiB        pg_dump sql.gz -        expired"),
            "{detail}"
        );
        for line in detail.lines() {
            assert_eq!(line.width(), 80, "the popup over Korean text: {line:?}");
        }
        insta::assert_snapshot!(detail);
    }

    #[test]
    fn prune_asks_for_a_plan_of_its_set_and_verify_starts_at_once() {
        let mut state = backup_state();
        let requests = state.update(Msg::Key(KeyChord::parse("p").unwrap()));
        // The console is read-only in these tests: prune is refused before any plan.
        assert!(requests.is_empty(), "{requests:?}");
        state.host.read_only = false;
        let requests = state.update(Msg::Key(KeyChord::parse("p").unwrap()));
        match &requests[..] {
            [Request::PlanTask { task_id, params }] => {
                assert_eq!(task_id, "backup-prune");
                // The runner fixes the reference time when it plans (tests/runner_backups.rs).
                assert_eq!(
                    params,
                    &opsdeck::core::tasks::Params::from([("set".to_owned(), "pg".to_owned())])
                );
            }
            other => panic!("expected a plan request, got {other:?}"),
        }
        let requests = state.update(Msg::Key(KeyChord::parse("i").unwrap()));
        assert!(
            matches!(&requests[..], [Request::StartTask { task_id, confirmed: opsdeck::core::tasks::Confirmed::No, .. }] if task_id == "backup-verify"),
            "{requests:?}"
        );
    }
}

mod checklists {
    use super::*;
    use opsdeck::core::checklists::{KnownNames, Language, definition};
    use opsdeck::core::protocol::Request;
    use opsdeck::tui::app::Pane;

    fn checklist_state(language: Language) -> AppState {
        let mut state = state("PROD");
        let (checklists, problems) = definition::load_all(None, &KnownNames::default());
        assert!(problems.is_empty(), "{problems:?}");
        state.set_checklists(checklists, language, Vec::new());
        state.host.read_only = false;
        while state.focus != Pane::Checklists {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        state
    }

    #[test]
    fn korean_items_stay_aligned_at_80_columns_with_the_live_cpu_value() {
        let mut state = checklist_state(Language::Ko);
        let pane = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(pane.contains("일일 점검"), "{pane}");
        state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        state.update(Msg::Key(KeyChord::parse("v").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        for line in screen.lines() {
            assert_eq!(line.width(), 80, "every row is 80 columns: {line:?}");
        }
        // The resources sample in `state` has CPU at 60 %, under the 80 % rule.
        let cpu = screen
            .lines()
            .find(|line| line.contains("cpu.used_pct"))
            .unwrap_or_else(|| panic!("no CPU line: {screen}"));
        assert!(cpu.contains("60.0 % < 80.0 % ✓"), "{cpu}");
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn space_ticks_through_the_runner_and_notes_open_an_editor() {
        let mut state = checklist_state(Language::En);
        state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        let requests = state.update(Msg::Key(KeyChord::parse("space").unwrap()));
        match &requests[..] {
            [Request::ChecklistEntry(entry)] => {
                assert_eq!(entry.checklist, "daily");
                assert_eq!(entry.kind, opsdeck::core::checklists::EntryKind::Tick);
                assert_eq!(entry.period, None, "the current period");
            }
            other => panic!("expected one entry, got {other:?}"),
        }
        state.update(Msg::Key(KeyChord::parse("m").unwrap()));
        assert!(matches!(
            state.modal,
            Some(opsdeck::tui::modal::Modal::Note { .. })
        ));
        for key in ["a", "enter", "b"] {
            state.update(Msg::Key(KeyChord::parse(key).unwrap()));
        }
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(screen.contains("Esc saves"), "{screen}");
        let requests = state.update(Msg::Key(KeyChord::parse("esc").unwrap()));
        match &requests[..] {
            [Request::ChecklistEntry(entry)] => assert_eq!(entry.text, "a\nb"),
            other => panic!("expected the note, got {other:?}"),
        }
        assert!(!matches!(
            state.modal,
            Some(opsdeck::tui::modal::Modal::Note { .. })
        ));
    }
}

mod checklist_incident_review {
    use super::*;
    use opsdeck::core::checklists::{KnownNames, Language, definition};
    use opsdeck::core::incidents::{Change, Event as LogEvent, Level, fold};
    use opsdeck::tui::app::Pane;

    fn action(text: &str, owner: &str, due: (i32, u32, u32), minute: i64) -> LogEvent {
        LogEvent {
            incident: "INC-20261101-0a0b0c".into(),
            change: Change::ActionAdded {
                text: text.into(),
                owner: owner.into(),
                due: chrono::NaiveDate::from_ymd_opt(due.0, due.1, due.2).unwrap(),
            },
            user: "alice".into(),
            host: "web-1".into(),
            at: at(-30 * 86_400 + minute * 60),
        }
    }

    #[test]
    fn the_monthly_incident_review_item_shows_the_overdue_action_items() {
        let mut state = state("PROD");
        let (checklists, problems) = definition::load_all(None, &KnownNames::default());
        assert!(problems.is_empty(), "{problems:?}");
        state.set_checklists(checklists, Language::En, Vec::new());
        while state.focus != Pane::Checklists {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        // The monthly checklist, its run at the incident procedure review.
        for name in ["j", "j", "enter"] {
            state.update(Msg::Key(KeyChord::parse(name).unwrap()));
        }
        // The item's live line and the ones under it.
        let review = |state: &AppState| {
            let screen = text(&render(state, &look("dark", Glyphs::Unicode), 80, 24));
            for line in screen.lines() {
                assert_eq!(line.width(), 80, "misaligned: {line}");
            }
            screen
                .lines()
                .skip_while(|line| !line.contains("incident response procedure reviewed"))
                .skip(1)
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        };
        for _ in 0..7 {
            state.update(Msg::Key(KeyChord::parse("j").unwrap()));
        }
        assert!(
            review(&state).contains("incident.overdue_actions not measured yet"),
            "before the incidents are read: {}",
            review(&state)
        );

        let log = vec![
            LogEvent {
                incident: "INC-20261101-0a0b0c".into(),
                change: Change::Opened {
                    title: "checkout down".into(),
                    level: Level::P1,
                    affects: Vec::new(),
                    evidence: String::new(),
                },
                user: "alice".into(),
                host: "web-1".into(),
                at: at(-30 * 86_400),
            },
            LogEvent {
                change: Change::Resolved,
                ..action("x", "x", (2026, 11, 1), 30)
            },
            action("raise pool\u{1b}[2J", "dba", (2026, 11, 10), 40),
            action("write runbook", "sre", (2026, 11, 2), 41),
            action("later", "sre", (2026, 12, 30), 42),
        ];
        let incident = fold("INC-20261101-0a0b0c", &log).unwrap();
        state.update(Msg::Runner(Event::Incidents(vec![incident])));
        let lines = review(&state);
        assert!(
            lines.contains("2 incident action item(s) overdue ! WARN"),
            "{lines}"
        );
        assert!(
            lines.contains("due 2026-11-02 sre: write runbook (INC-20261101-0a0b0c) "),
            "the longest overdue first: {lines}"
        );
        assert!(
            lines.contains("due 2026-11-10 dba: raise pool\\x1b[2J (INC-"),
            "escaped: {lines}"
        );
        assert!(!lines.contains("later"), "not due yet: {lines}");
        assert!(
            lines.find("write runbook") < lines.find("raise pool"),
            "{lines}"
        );

        state.update(Msg::Runner(Event::Incidents(Vec::new())));
        assert!(review(&state).contains("no incident action item overdue ✓"));
    }
}

/// At 80×24 with every pane configured, each pane in turn has the focus: it shows its real rows,
/// and the others fold to their one-line summaries.
mod every_pane_at_80x24 {
    use super::*;
    use opsdeck::core::checklists::{KnownNames, Language, definition};
    use opsdeck::tui::app::Pane;

    fn full_state() -> AppState {
        let mut state = state("PROD");
        tasks::add_tasks(&mut state);
        state.set_databases(vec!["app".into()], Duration::from_secs(5));
        state.update(Msg::Runner(Event::Queries(Box::new(queries::snapshot()))));
        backups::add_backups(&mut state);
        let (checklists, problems) = definition::load_all(None, &KnownNames::default());
        assert!(problems.is_empty(), "{problems:?}");
        state.set_checklists(checklists, Language::En, Vec::new());
        state.update(Msg::Tick(at(0)));
        state
    }

    fn focused(pane: Pane) -> String {
        let mut state = full_state();
        while state.focus != pane {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        for line in screen.lines() {
            assert_eq!(line.width(), 80, "misaligned: {line}");
        }
        screen
    }

    /// The one-line summaries of every pane but `except`; the open alert stays in sight.
    fn assert_folded(screen: &str, except: &str) {
        for summary in [
            "─ CPU 60%  MEM 62%",
            "─ Services 1 down/3",
            "─ Queries app · 1 slow · 3 sessions · 2 waiting",
            "─ Backups 1 need a look",
            "─ Checklists",
            "─ Tasks 1 running",
        ] {
            if !summary.contains(except) {
                assert!(screen.contains(summary), "no `{summary}`:\n{screen}");
            }
        }
        assert!(
            screen.contains("CRIT disk.used_pct /data/백업  since 01:58"),
            "the open alert is in sight:\n{screen}"
        );
    }

    #[test]
    fn resources() {
        let screen = focused(Pane::Resources);
        insta::assert_snapshot!(screen);
        assert!(screen.contains("SWAP"), "{screen}");
        assert!(screen.contains("eth0"), "{screen}");
        assert_folded(&screen, "CPU");
    }

    #[test]
    fn services() {
        let screen = focused(Pane::Services);
        insta::assert_snapshot!(screen);
        assert!(screen.contains("orders-db postgres DOWN"), "{screen}");
        assert!(screen.contains("인증서"), "{screen}");
        assert_folded(&screen, "Services");
        assert!(
            screen.contains("Enter detail"),
            "the footer has its keys:\n{screen}"
        );
    }

    #[test]
    fn queries() {
        let screen = focused(Pane::Queries);
        insta::assert_snapshot!(screen);
        assert!(screen.contains("SELECT pg_sleep($1)"), "{screen}");
        assert!(screen.contains("UPDATE pgbench_acco"), "{screen}");
        assert_folded(&screen, "Queries");
        assert!(screen.contains("v view"), "{screen}");
    }

    #[test]
    fn backups() {
        let screen = focused(Pane::Backups);
        insta::assert_snapshot!(screen);
        assert!(
            screen.contains("newest good backup is 1d 6h old"),
            "{screen}"
        );
        assert!(screen.contains("db_20261120_210"), "{screen}");
        assert_folded(&screen, "Backups");
    }

    #[test]
    fn checklists() {
        let screen = focused(Pane::Checklists);
        insta::assert_snapshot!(screen);
        assert!(screen.contains("Daily checks"), "{screen}");
        assert!(screen.contains("Weekly"), "{screen}");
        assert_folded(&screen, "Checklists");
    }

    #[test]
    fn alerts() {
        let screen = focused(Pane::Alerts);
        insta::assert_snapshot!(screen);
        assert!(
            screen.contains("ok   cpu.used_pct  01:00, lasted 20m"),
            "{screen}"
        );
        assert_folded(&screen, "Alerts");
    }

    #[test]
    fn tasks() {
        let screen = focused(Pane::Tasks);
        insta::assert_snapshot!(screen);
        assert!(screen.contains("log-rotation"), "{screen}");
        assert!(screen.contains("rotating log /var/log/app.log"), "{screen}");
        assert_folded(&screen, "Tasks");
    }

    #[test]
    fn zoom_gives_the_focused_pane_the_whole_screen() {
        let mut state = full_state();
        while state.focus != Pane::Queries {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        state.update(Msg::Key(KeyChord::parse("z").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        insta::assert_snapshot!(screen);
        assert!(!screen.contains("─ Services"), "{screen}");
        assert!(
            screen
                .lines()
                .nth(1)
                .is_some_and(|line| line.contains("Queries")),
            "{screen}"
        );
    }

    #[test]
    fn the_palette_lists_what_it_can_jump_to_and_filters_as_you_type() {
        let mut state = full_state();
        state.host.read_only = false;
        state.update(Msg::Key(KeyChord::parse(":").unwrap()));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        for kind in [
            "pane",
            "service",
            "database",
            "backup set",
            "checklist",
            "task",
        ] {
            assert!(
                state
                    .palette_entries()
                    .iter()
                    .any(|entry| entry.kind == kind),
                "{kind}"
            );
        }
        assert!(screen.contains("Go to"), "{screen}");
        for ch in "logrot".chars() {
            state.update(Msg::Key(KeyChord::parse(&ch.to_string()).unwrap()));
        }
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        insta::assert_snapshot!(screen);
        // A destructive task goes through its plan and confirmation, as from the tasks pane.
        let requests = state.update(Msg::Key(KeyChord::parse("enter").unwrap()));
        assert_eq!(state.focus, Pane::Tasks);
        assert!(
            matches!(&requests[..], [opsdeck::core::protocol::Request::PlanTask { task_id, .. }] if task_id == "log-rotation"),
            "{requests:?}"
        );
    }
}

/// The incidents pane: shown once there is an incident, open ones with their response time
/// against the level's target, and keys that become changes for the runner to record.
mod incidents {
    use super::*;
    use opsdeck::core::incidents::{Change, Event as LogEvent, Incident, Level, Source, fold};
    use opsdeck::core::protocol::Request;
    use opsdeck::tui::app::Pane;
    use opsdeck::tui::modal::{Modal, Popup};

    /// A P1 with a Korean title, detected 70 minutes ago and never acknowledged: the P1
    /// target is an hour, so it is overdue.
    fn overdue_p1() -> Incident {
        let opened = LogEvent {
            incident: "INC-20261205-00a1b2".into(),
            change: Change::Opened {
                title: "결제 API 응답 지연\u{1b}[31m".into(),
                level: Level::P1,
                affects: vec!["api".into(), "결제-db".into()],
                evidence: String::new(),
            },
            user: "alice".into(),
            host: "web-1".into(),
            at: at(-70 * 60),
        };
        fold(&opened.incident, std::slice::from_ref(&opened)).expect("an incident")
    }

    fn incident_state() -> AppState {
        let mut state = state("PROD");
        assert!(
            !state.pane_shown(Pane::Incidents),
            "no incident, no pane: 80×24 keeps its rows"
        );
        state.update(Msg::Runner(Event::Incidents(vec![overdue_p1()])));
        assert!(state.pane_shown(Pane::Incidents));
        state
    }

    /// A console that may keep records (the shared `state` is read-only).
    fn writable(mut state: AppState) -> AppState {
        state.host.read_only = false;
        state
    }

    fn focus(state: &mut AppState, pane: Pane) {
        while state.focus != pane {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
    }

    fn key(state: &mut AppState, name: &str) -> Vec<Request> {
        state.update(Msg::Key(KeyChord::parse(name).unwrap()))
    }

    #[test]
    fn an_overdue_p1_with_a_korean_title_at_120x40() {
        let mut state = incident_state();
        focus(&mut state, Pane::Incidents);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        for line in screen.lines() {
            assert_eq!(line.width(), 120, "misaligned: {line}");
        }
        let row = screen
            .lines()
            .find(|line| line.contains("결제 API 응답 지연"))
            .unwrap_or_else(|| panic!("no incident row:\n{screen}"));
        assert!(row.contains("P1"), "{row}");
        assert!(row.contains("\\x1b[31m"), "the title is escaped: {row}");
        assert!(row.contains("detected"), "{row}");
        assert!(row.contains("1h 10m / 1h 00m OVERDUE"), "{row}");
        assert!(row.contains("api, 결제-db"), "{row}");
        assert!(
            screen.contains("a ack"),
            "the footer has its keys:\n{screen}"
        );
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn at_80x24_it_shows_its_row_when_focused_and_folds_to_a_summary_otherwise() {
        let mut state = incident_state();
        focus(&mut state, Pane::Incidents);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        for line in screen.lines() {
            assert_eq!(line.width(), 80, "misaligned: {line}");
        }
        assert!(screen.contains("OVERDUE"), "{screen}");
        assert!(screen.contains("결제 API"), "{screen}");
        insta::assert_snapshot!(screen);

        focus(&mut state, Pane::Services);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            screen.contains("─ Incidents 1 open · 1 overdue"),
            "folded to its summary:\n{screen}"
        );
    }

    #[test]
    fn the_keys_ask_the_runner_for_each_change_and_note_and_enter_shows_the_timeline() {
        let mut state = writable(incident_state());
        focus(&mut state, Pane::Incidents);
        let id = "INC-20261205-00a1b2".to_owned();
        for (name, change) in [
            ("a", Change::Acknowledged),
            ("w", Change::Mitigated),
            ("f", Change::Resolved),
            ("+", Change::LevelChanged { level: Level::P0 }),
            ("_", Change::LevelChanged { level: Level::P2 }),
        ] {
            assert_eq!(
                key(&mut state, name),
                vec![Request::IncidentEntry {
                    id: id.clone(),
                    change
                }],
                "key {name}"
            );
        }
        assert!(key(&mut state, "enter").is_empty());
        match &state.modal {
            Some(Modal::Popup(Popup::Text { title, lines })) => {
                assert_eq!(title, "incident INC-20261205-00a1b2");
                assert!(
                    lines.iter().any(|line| line.contains("alice")
                        && line.contains("opened as P1: 결제 API 응답 지연\\x1b[31m")),
                    "{lines:?}"
                );
            }
            other => panic!("expected the timeline, got {other:?}"),
        }
        key(&mut state, "esc");

        // The help lists the pane's keys with what they do here.
        key(&mut state, "?");
        let help = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 100));
        assert!(
            help.contains("acknowledge: you take the response on"),
            "{help}"
        );
        assert!(help.contains("one level more severe"), "{help}");
        key(&mut state, "esc");

        // `m` writes a note over the timeline; Esc stores it.
        key(&mut state, "m");
        assert!(matches!(state.modal, Some(Modal::Note { .. })));
        for ch in ["f", "a", "i", "l", "o", "v", "e", "r", "enter", "o", "k"] {
            key(&mut state, ch);
        }
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(screen.contains("Incident note"), "{screen}");
        assert_eq!(
            key(&mut state, "esc"),
            vec![Request::IncidentEntry {
                id: id.clone(),
                change: Change::Note {
                    text: "failover\nok".into(),
                    evidence: String::new()
                }
            }]
        );
        assert!(matches!(
            state.modal,
            Some(Modal::Popup(Popup::Text { .. }))
        ));
        key(&mut state, "esc");

        // A P0 cannot go higher: nothing is asked, and the footer says why.
        let mut p0 = overdue_p1();
        p0.level = Level::P0;
        state.update(Msg::Runner(Event::Incidents(vec![p0])));
        assert!(key(&mut state, "+").is_empty());
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(screen.contains("already P0"), "{screen}");

        // The palette lists each open incident.
        assert!(
            state
                .palette_entries()
                .iter()
                .any(|entry| entry.kind == "incident" && entry.key == id),
            "{:?}",
            state.palette_entries()
        );
    }

    #[test]
    fn an_incident_declared_from_an_alert_shows_the_alert_as_the_first_entrys_evidence() {
        let mut state = writable(state("PROD"));
        let alert = Alert {
            id: "alert-7".into(),
            key: "disk.used_pct:/data".into(),
            metric: "disk.used_pct".into(),
            instance: Some("/data\u{1b}[2J".into()),
            host: None,
            level: Status::Crit,
            opened_at: at(-600),
            resolved_at: None,
            peak: 92.1,
            threshold: 90.0,
            unit: Unit::Percent,
        };
        state.update(Msg::Runner(Event::AlertsLoaded(vec![alert.clone()])));
        focus(&mut state, Pane::Alerts);

        // The help names the key where it works.
        key(&mut state, "?");
        let help = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 100));
        assert!(
            help.contains("declare an incident from the selected alert"),
            "{help}"
        );
        key(&mut state, "esc");

        key(&mut state, "o");
        let requests = key(&mut state, "enter");
        let [Request::OpenIncident(opening)] = requests.as_slice() else {
            panic!("one opening asked for: {requests:?}");
        };
        // What the runner stores for it, read back as the console receives it.
        let opened = LogEvent {
            incident: "INC-20261205-0d0d0d".into(),
            change: Change::Opened {
                title: opening.title.clone(),
                level: opening.level,
                affects: opening.affects.clone(),
                evidence: opening.evidence.clone(),
            },
            user: "tester".into(),
            host: "web-1".into(),
            at: at(-60),
        };
        // And what the runner's timeline added since: a task run, its output frozen.
        let observed = LogEvent {
            change: Change::Observed {
                source: Source::Task,
                text: "diag failed (exit 3) after 0.2 s".into(),
                evidence: "checking the pool\nactive=100/100\u{1b}[2J".into(),
                link: Some("run-42".into()),
            },
            at: at(-30),
            ..opened.clone()
        };
        let incident = fold(&opened.incident, &[opened.clone(), observed]).expect("opened");
        state.update(Msg::Runner(Event::IncidentOpened {
            id: incident.id.clone(),
            level: incident.level,
        }));
        state.update(Msg::Runner(Event::Incidents(vec![incident])));
        assert_eq!(state.focus, Pane::Alerts, "nothing takes the focus");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(
            screen.contains("opened INC-20261205-0d0d0d as P1"),
            "{screen}"
        );
        assert!(state.pane_shown(Pane::Incidents));
        focus(&mut state, Pane::Alerts);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(
            screen.contains("disk.used_pct /data\\x1b[2J -> INC-20261205-0d0d0d"),
            "the alert names the incident it belongs to:\n{screen}"
        );

        focus(&mut state, Pane::Incidents);
        key(&mut state, "enter");
        match &state.modal {
            Some(Modal::Popup(Popup::Text { lines, .. })) => {
                assert!(
                    lines.iter().any(|line| line.contains(
                        "opened as P1: disk.used_pct /data\\x1b[2J 92.1 % (limit 90.0 %)"
                    )),
                    "{lines:?}"
                );
                assert!(
                    lines
                        .iter()
                        .any(|line| line.contains("evidence: alert alert-7")
                            && line.contains("CRIT")
                            && !line.contains('\u{1b}')),
                    "{lines:?}"
                );
                // Observed entries name their source and what they link to, output line by line.
                let at = |text: &str| {
                    lines
                        .iter()
                        .position(|line| line.contains(text))
                        .unwrap_or_else(|| panic!("no `{text}` in {lines:?}"))
                };
                let ran = at("tester  task: diag failed (exit 3) after 0.2 s");
                assert!(lines[ran + 1].ends_with("evidence: checking the pool"));
                assert!(lines[ran + 2].ends_with("active=100/100\\x1b[2J"));
                assert!(lines[ran + 3].ends_with("see: run-42"));
            }
            other => panic!("expected the timeline, got {other:?}"),
        }
    }

    fn alert_on(instance: &str) -> Alert {
        Alert {
            id: "alert-7".into(),
            key: format!("disk.used_pct:{instance}"),
            host: None,
            metric: "disk.used_pct".into(),
            instance: Some(instance.into()),
            level: Status::Crit,
            opened_at: at(-600),
            resolved_at: None,
            peak: 92.1,
            threshold: 90.0,
            unit: Unit::Percent,
        }
    }

    fn typed(state: &mut AppState, text: &str) {
        for ch in text.chars() {
            let name = if ch == ' ' {
                "space".to_owned()
            } else {
                ch.to_string()
            };
            key(state, &name);
        }
    }

    fn assert_aligned(screen: &str, width: usize) {
        for line in screen.lines() {
            assert_eq!(line.width(), width, "misaligned: {line}");
        }
    }

    #[test]
    fn declaring_from_an_alert_opens_a_prefilled_form_and_sends_what_was_edited() {
        let mut state = writable(state("PROD"));
        state.update(Msg::Runner(Event::AlertsLoaded(vec![alert_on(
            "/data/백업\u{1b}[2J",
        )])));
        focus(&mut state, Pane::Alerts);
        assert!(key(&mut state, "o").is_empty(), "nothing is declared yet");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert_aligned(&screen, 80);
        assert!(
            screen.contains("Declare an incident from the alert"),
            "{screen}"
        );
        let title = screen
            .lines()
            .find(|line| line.contains("Title"))
            .unwrap_or_else(|| panic!("no title row:\n{screen}"));
        assert!(
            title.contains("disk.used_pct /data/백업\\x1b[2J 92.1 % (limit 90.0 %)"),
            "prefilled, escaped: {title}"
        );
        assert!(screen.contains("P1  core feature down"), "{screen}");
        assert!(
            screen.contains("acknowledge within 1h 00m · escalate to dev lead, DevOps lead"),
            "{screen}"
        );
        assert!(
            screen.contains("no [[escalation]] contact for P1; add one in config.toml"),
            "whom declaring notifies: {screen}"
        );
        insta::assert_snapshot!(screen);

        // The title is edited, the level raised to P0, and a system added.
        typed(&mut state, " 결제");
        key(&mut state, "tab");
        key(&mut state, "0");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert_aligned(&screen, 80);
        assert!(screen.contains("P0  full service outage"), "{screen}");
        assert!(screen.contains("acknowledge within 15m"), "{screen}");
        key(&mut state, "tab");
        typed(&mut state, ", api");
        let requests = key(&mut state, "enter");
        let [Request::OpenIncident(opening)] = requests.as_slice() else {
            panic!("one opening asked for: {requests:?}");
        };
        assert_eq!(
            opening.title,
            "disk.used_pct /data/백업\u{1b}[2J 92.1 % (limit 90.0 %) 결제"
        );
        assert_eq!(opening.level, Level::P0);
        assert_eq!(opening.affects, ["/data/백업\u{1b}[2J", "api"]);
        assert_eq!(opening.alert.as_deref(), Some("alert-7"));
        assert!(
            opening.evidence.starts_with("alert alert-7: "),
            "{}",
            opening.evidence
        );
        assert!(state.modal.is_none(), "the form closes");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(screen.contains("declaring P0"), "{screen}");
    }

    #[test]
    fn esc_cancels_a_declaration_and_read_only_refuses_every_incident_key() {
        let mut state = writable(state("PROD"));
        state.update(Msg::Runner(Event::AlertsLoaded(vec![alert_on("/data")])));
        focus(&mut state, Pane::Alerts);
        key(&mut state, "o");
        assert!(key(&mut state, "esc").is_empty());
        assert!(state.modal.is_none());

        let mut state = state_with_incident_read_only();
        focus(&mut state, Pane::Incidents);
        for name in ["a", "w", "f", "+", "_", "l", "m", "u", "o"] {
            assert!(key(&mut state, name).is_empty(), "key {name}");
            assert!(state.modal.is_none(), "key {name} opened {:?}", state.modal);
            let notice = state.notice.clone().expect("a refusal");
            assert!(notice.text.starts_with("read-only:"), "{}", notice.text);
        }
        focus(&mut state, Pane::Alerts);
        key(&mut state, "o");
        assert!(state.modal.is_none());
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            screen.contains("read-only: declaring an incident is refused"),
            "{screen}"
        );
    }

    #[test]
    fn an_alert_that_already_belongs_to_an_open_incident_opens_no_form() {
        let mut state = writable(state("PROD"));
        let alert = alert_on("/data");
        let opening = opsdeck::core::incidents::Opening::from_alert(&alert);
        let opened = LogEvent {
            incident: "INC-20261122-0d0d0d".into(),
            change: Change::Opened {
                title: opening.title,
                level: opening.level,
                affects: opening.affects,
                evidence: opening.evidence,
            },
            user: "alice".into(),
            host: "web-1".into(),
            at: at(-60),
        };
        let incident = fold(&opened.incident, std::slice::from_ref(&opened)).unwrap();
        state.update(Msg::Runner(Event::AlertsLoaded(vec![alert])));
        state.update(Msg::Runner(Event::Incidents(vec![incident])));
        focus(&mut state, Pane::Alerts);
        assert!(key(&mut state, "o").is_empty());
        assert!(state.modal.is_none(), "{:?}", state.modal);
        let notice = state.notice.clone().expect("a hint");
        assert!(
            notice
                .text
                .contains("this alert belongs to INC-20261122-0d0d0d (P1) already"),
            "{}",
            notice.text
        );
    }

    fn state_with_incident_read_only() -> AppState {
        let state = incident_state();
        assert!(state.host.read_only);
        state
    }

    #[test]
    fn declaring_by_hand_from_the_palette_works_before_any_incident_and_refuses_an_empty_title() {
        let mut state = writable(state("PROD"));
        assert!(!state.pane_shown(Pane::Incidents));
        key(&mut state, ":");
        typed(&mut state, "declare incident");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(screen.contains("declare incident (by hand)"), "{screen}");
        assert!(key(&mut state, "enter").is_empty());
        assert!(
            matches!(state.modal, Some(Modal::Form(_))),
            "{:?}",
            state.modal
        );

        // An empty title is refused in the form, which stays open; without colour too.
        assert!(key(&mut state, "enter").is_empty());
        let buffer = render(&state, &look("mono", Glyphs::Ascii), 80, 24);
        for cell in buffer.content() {
            assert!(matches!(cell.fg, Color::Reset), "coloured cell {cell:?}");
        }
        let screen = text(&buffer);
        assert_aligned(&screen, 80);
        assert!(
            screen.contains("the title is empty: write what is broken, as users see it"),
            "{screen}"
        );
        assert!(screen.contains("P2  partial feature failure"), "{screen}");
        insta::assert_snapshot!(screen);

        typed(&mut state, "결제 지연");
        key(&mut state, "tab");
        key(&mut state, "right");
        let requests = key(&mut state, "enter");
        assert_eq!(
            requests,
            vec![Request::OpenIncident(opsdeck::core::incidents::Opening {
                title: "결제 지연".into(),
                level: Level::P3,
                affects: Vec::new(),
                evidence: String::new(),
                alert: None,
            })]
        );
    }

    #[test]
    fn an_action_item_is_marked_done_from_the_palette_and_read_only_refuses_it() {
        let with_item = |read_only: bool| {
            let mut incident = overdue_p1();
            let added = LogEvent {
                incident: incident.id.clone(),
                change: Change::ActionAdded {
                    text: "풀 크기 조정\u{1b}[2J".into(),
                    owner: "dba".into(),
                    due: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                },
                user: "alice".into(),
                host: "web-1".into(),
                at: at(-60 * 60),
            };
            let opened = LogEvent {
                incident: incident.id.clone(),
                change: Change::Opened {
                    title: incident.title.clone(),
                    level: incident.level,
                    affects: incident.affects.clone(),
                    evidence: String::new(),
                },
                user: "alice".into(),
                host: "web-1".into(),
                at: incident.detected.at,
            };
            incident = fold(&incident.id, &[opened, added]).expect("an incident");
            let mut state = state("PROD");
            state.host.read_only = read_only;
            state.update(Msg::Runner(Event::Incidents(vec![incident])));
            key(&mut state, ":");
            typed(&mut state, "mark done");
            state
        };

        let mut state = with_item(false);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            screen.contains("mark done: 풀 크기 조정\\x1b[2J (dba, due 2026-12-01;"),
            "{screen}"
        );
        assert_eq!(
            key(&mut state, "enter"),
            vec![Request::IncidentEntry {
                id: "INC-20261205-00a1b2".into(),
                change: Change::ActionDone { item: 1 },
            }]
        );

        let mut state = with_item(true);
        assert!(key(&mut state, "enter").is_empty());
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            screen.contains("read-only: marking an action item done is refused"),
            "{screen}"
        );
    }

    #[test]
    fn in_korean_the_stages_and_the_levels_in_the_declare_form_are_korean() {
        let mut state = writable(incident_state());
        state.language = opsdeck::core::checklists::Language::Ko;
        focus(&mut state, Pane::Incidents);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert_aligned(&screen, 80);
        assert!(screen.contains("감지"), "{screen}");
        key(&mut state, "o");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert_aligned(&screen, 80);
        assert!(screen.contains("P2  부분 기능 장애"), "{screen}");
        assert!(screen.contains("담당 개발자"), "{screen}");
    }

    #[test]
    fn the_action_item_form_refuses_a_past_date_in_place_then_adds_it() {
        let mut state = writable(incident_state());
        focus(&mut state, Pane::Incidents);
        key(&mut state, "u");
        typed(&mut state, "풀 크기 조정");
        key(&mut state, "tab");
        typed(&mut state, "dba");
        key(&mut state, "tab");
        typed(&mut state, "2026-01-01");
        assert!(key(&mut state, "enter").is_empty(), "refused");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert_aligned(&screen, 80);
        assert!(
            screen.contains("Action item for INC-20261205-00a1b2"),
            "{screen}"
        );
        assert!(
            screen.contains("the action item is due 2026-01-01, which is in the past"),
            "{screen}"
        );
        insta::assert_snapshot!(screen);

        for _ in 0..5 {
            key(&mut state, "backspace");
        }
        typed(&mut state, "12-31");
        assert_eq!(
            key(&mut state, "enter"),
            vec![Request::IncidentEntry {
                id: "INC-20261205-00a1b2".into(),
                change: Change::ActionAdded {
                    text: "풀 크기 조정".into(),
                    owner: "dba".into(),
                    due: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
                },
            }]
        );
        assert!(state.modal.is_none());
    }

    #[test]
    fn take_command_asks_the_runner_and_the_commander_and_overdue_action_items_show() {
        let mut state = writable(incident_state());
        focus(&mut state, Pane::Incidents);
        assert_eq!(
            key(&mut state, "l"),
            vec![Request::IncidentEntry {
                id: "INC-20261205-00a1b2".into(),
                change: Change::CommandTaken,
            }]
        );
        // As the runner reads it back: bob took command, and an action item went past its date.
        let opened = overdue_p1();
        let event = |change, minutes: i64| LogEvent {
            incident: opened.id.clone(),
            change,
            user: "bob".into(),
            host: "web-2".into(),
            at: at(minutes * 60),
        };
        let mut log = vec![LogEvent {
            incident: opened.id.clone(),
            change: Change::Opened {
                title: opened.title.clone(),
                level: Level::P1,
                affects: opened.affects.clone(),
                evidence: String::new(),
            },
            user: "alice".into(),
            host: "web-1".into(),
            at: opened.detected.at,
        }];
        log.push(event(Change::CommandTaken, -30));
        log.push(event(
            Change::ActionAdded {
                text: "raise pool\u{1b}[2J".into(),
                owner: "dba".into(),
                due: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            },
            -20,
        ));
        let incident = fold(&opened.id, &log).unwrap();
        state.update(Msg::Runner(Event::Incidents(vec![incident])));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert_aligned(&screen, 120);
        let row = screen
            .lines()
            .find(|line| line.contains("결제 API"))
            .unwrap_or_else(|| panic!("no incident row:\n{screen}"));
        assert!(row.contains("bob"), "the commander: {row}");
        assert!(
            row.contains("!1 결제 API"),
            "the overdue item's mark: {row}"
        );
        assert!(
            screen.contains("Incidents · 1 open · 1 overdue · 1 action item overdue"),
            "in the title:\n{screen}"
        );
        key(&mut state, "enter");
        match &state.modal {
            Some(Modal::Popup(Popup::Text { lines, .. })) => {
                assert!(
                    lines
                        .iter()
                        .any(|line| line.contains("bob") && line.contains("took command")),
                    "{lines:?}"
                );
                assert!(
                    lines.iter().any(
                        |line| line.contains("due 2026-11-01 OVERDUE  dba: raise pool\\x1b[2J")
                    ),
                    "{lines:?}"
                );
            }
            other => panic!("expected the timeline, got {other:?}"),
        }
        key(&mut state, "esc");

        // The help lists the new keys where they work.
        key(&mut state, "?");
        let help = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 100));
        for line in [
            "l              take_command      take command: you become its commander",
            "u              add_action_item   add a follow-up action item: what, owner, due date",
            "o              declare_incident  declare a new incident by hand",
        ] {
            assert!(help.contains(line), "{line}\n{help}");
        }
        key(&mut state, "esc");

        focus(&mut state, Pane::Services);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            screen.contains("Incidents 1 open · 1 overdue · 1 action item overdue"),
            "folded:\n{screen}"
        );
    }
}

mod logs {
    use super::*;
    use opsdeck::core::incidents::{
        Change, Event as LogEvent, Incident, Level as IncidentLevel, fold,
    };
    use opsdeck::core::logs::findings::{
        AccessFindings, LineFilter, LogLine, LoginFindings, LogsSnapshot, MatchCount, MinuteCounts,
        SignatureFinding, SourceFindings, WindowTotals,
    };
    use opsdeck::core::logs::format::Level;
    use opsdeck::core::protocol::Request;
    use opsdeck::tui::app::Pane;
    use opsdeck::tui::modal::{Modal, Popup};

    /// Every way a log line can try to drive the terminal or break the layout.
    const HOSTILE: &str = "사용자 root 로그인 실패 \u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7} nul\0 cr\r \u{fffd}\u{fffd} end";

    fn signature(
        template: &str,
        level: Level,
        first: i64,
        last_hour: u64,
        yesterday: Option<f64>,
        new: bool,
    ) -> SignatureFinding {
        SignatureFinding {
            template: template.into(),
            sample: format!("sample of {template}"),
            level: Some(level),
            first_seen: at(first * 60),
            last_seen: at(-60),
            total: last_hour * 3,
            last_hour,
            same_hour_yesterday: yesterday,
            is_new: new,
        }
    }

    /// A day of minutes: a steady trickle with a burst of errors in the last quarter hour.
    fn minutes() -> Vec<MinuteCounts> {
        (0..1440)
            .rev()
            .filter(|ago| ago % 7 != 3)
            .map(|ago: i64| MinuteCounts {
                minute: at(-ago * 60),
                lines: 20 + (ago % 13) as u64,
                errors: if ago < 15 {
                    (15 - ago) as u64
                } else {
                    u64::from(ago % 97 == 0)
                },
                warnings: u64::from(ago % 5 == 0),
            })
            .collect()
    }

    fn source(name: &str, origin: &str) -> SourceFindings {
        SourceFindings {
            name: name.into(),
            origin: origin.into(),
            error: None,
            window_secs: 300,
            window: WindowTotals::default(),
            minutes: Vec::new(),
            signatures: Vec::new(),
            matches: Vec::new(),
            access: None,
            logins: None,
            last_line_at: Some(at(-20)),
        }
    }

    pub fn snapshot() -> LogsSnapshot {
        let mut app = source("app", "/var/log/app/*.log");
        app.window = WindowTotals {
            lines: 612,
            errors: 14,
            warnings: 3,
            new_signatures: 1,
            ..WindowTotals::default()
        };
        app.minutes = minutes();
        // Not in the runner's order on purpose: the new one must still lead.
        app.signatures = vec![
            signature(
                "GET <path> took <num> ms",
                Level::Info,
                -1400,
                140,
                Some(200.0),
                false,
            ),
            signature(HOSTILE, Level::Warn, -300, 7, Some(7.0), false),
            signature(
                "connection refused to <ip>:<num>",
                Level::Error,
                -19,
                12,
                Some(3.0),
                true,
            ),
            signature(&"x".repeat(100_000), Level::Error, -600, 2, None, false),
        ];
        app.matches = vec![MatchCount {
            name: "oom".into(),
            in_window: 2,
            total: 5,
        }];
        let mut nginx = source("nginx", "/var/log/nginx/access.log");
        nginx.window = WindowTotals {
            lines: 6020,
            requests: 6020,
            server_errors: 126,
            p95_ms: Some(340.0),
            ..WindowTotals::default()
        };
        nginx.access = Some(AccessFindings {
            requests: 120_400,
            unparsed: 3,
            server_error_pct: Some(2.1),
            statuses: vec![(200, 117_000), (500, 2_528)],
            top_endpoints: vec![("/api/orders".into(), 40_000), ("/login".into(), 12_000)],
            hourly: vec![5_000; 24],
            mean_ms: Some(120.0),
            p95_ms: Some(340.0),
        });
        let mut auth = source("auth", "journal sshd.service");
        auth.error = Some("journalctl: No journal files were found.\u{1b}[31m".into());
        auth.window = WindowTotals {
            lines: 40,
            errors: 0,
            failed_logins: 23,
            ..WindowTotals::default()
        };
        auth.logins = Some(LoginFindings {
            failed: 23,
            top_ips: vec![("203.0.113.9".into(), 15), ("198.51.100.2".into(), 8)],
            suspicious: vec![("203.0.113.9".into(), 15)],
            top_users: vec![("root".into(), 12), ("관리자".into(), 3)],
        });
        LogsSnapshot {
            taken_at: at(0),
            sources: vec![app, nginx, auth],
        }
    }

    fn logs_event() -> Event {
        Event::Logs {
            snapshot: Box::new(snapshot()),
            evaluations: Vec::new(),
        }
    }

    fn with_logs() -> AppState {
        let mut state = state("PROD");
        state.host.read_only = false;
        assert!(
            !state.pane_shown(Pane::Logs),
            "no log source, no pane: the default screen keeps its rows"
        );
        state.update(Msg::Runner(logs_event()));
        assert!(state.pane_shown(Pane::Logs));
        while state.focus != Pane::Logs {
            state.update(Msg::Key(KeyChord::parse("tab").unwrap()));
        }
        state
    }

    fn key(state: &mut AppState, name: &str) -> Vec<Request> {
        state.update(Msg::Key(KeyChord::parse(name).unwrap()))
    }

    fn incident(id: &str, level: IncidentLevel, resolved: bool) -> Incident {
        let event = |change, seconds| LogEvent {
            incident: id.into(),
            change,
            user: "alice".into(),
            host: "web-1".into(),
            at: at(seconds),
        };
        let mut events = vec![event(
            Change::Opened {
                title: format!("{id} title"),
                level,
                affects: Vec::new(),
                evidence: String::new(),
            },
            -600,
        )];
        if resolved {
            events.push(event(Change::Resolved, -60));
        }
        fold(id, &events).expect("an incident")
    }

    fn hostile_lines() -> Vec<LogLine> {
        let line = |second: i64, level, text: &str| LogLine {
            at: at(-second),
            level,
            text: text.into(),
        };
        vec![
            line(
                50,
                Some(Level::Error),
                "connection refused to 10.0.0.5:5432",
            ),
            line(40, Some(Level::Warn), HOSTILE),
            line(30, None, &format!("{}TAIL", "y".repeat(100 * 1024))),
            line(20, Some(Level::Info), "결제 요청 처리 완료 order=42 \u{7}"),
        ]
    }

    /// No escape byte reaches the screen, and no line is wider than the screen.
    fn assert_clean(buffer: &Buffer, width: usize) {
        for cell in buffer.content() {
            assert!(
                !cell.symbol().chars().any(char::is_control),
                "control character drawn: {cell:?}"
            );
        }
        for line in text(buffer).lines() {
            assert_eq!(line.width(), width, "misaligned: {line}");
        }
    }

    #[test]
    fn sources_signatures_and_the_day_histogram_at_120x40() {
        let mut state = with_logs();
        key(&mut state, "j");
        key(&mut state, "w");
        key(&mut state, "w");
        let buffer = render(&state, &look("dark", Glyphs::Unicode), 120, 40);
        assert_clean(&buffer, 120);
        let screen = text(&buffer);
        insta::assert_snapshot!(screen);
        let lines: Vec<&str> = screen.lines().collect();
        let new = lines
            .iter()
            .position(|l| l.contains("NEW"))
            .expect("a NEW row");
        let old = lines
            .iter()
            .position(|l| l.contains("GET <path>"))
            .expect("the old one");
        assert!(new < old, "new signatures first:\n{screen}");
        assert!(lines[new].contains("connection refused to <ip>:<num>"));
        assert!(lines[new].contains("↑3"), "{}", lines[new]);
        assert!(
            screen.contains("\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07"),
            "{screen}"
        );
        assert!(screen.contains("last 24 h · a column = "), "{screen}");
        assert!(screen.contains("journalctl: No journal files were found.\\x1b[31m"));
    }

    #[test]
    fn at_80x24_the_focused_pane_fits_and_folds_to_a_line_otherwise() {
        let mut state = with_logs();
        let look = look("mono", Glyphs::Ascii);
        let buffer = render(&state, &look, 80, 24);
        assert_clean(&buffer, 80);
        let screen = text(&buffer);
        insta::assert_snapshot!(screen);
        assert!(screen.contains("NEW"), "{screen}");
        assert!(
            screen.contains("journalctl: No journal files were fo…"),
            "the problem in place, cut with a marker:\n{screen}"
        );
        assert!(
            !screen.contains('↑') && !screen.contains('▁'),
            "ASCII only:\n{screen}"
        );
        key(&mut state, "tab");
        let screen = text(&render(&state, &look, 80, 24));
        assert!(
            screen.contains("─ Logs 3 sources · 14 errors · 1 new signature · 1 unreadable"),
            "{screen}"
        );
    }

    /// A selection move redraws the two rows it moves between (issue 13: a key's reply over SSH
    /// stays a few hundred bytes).
    #[test]
    fn j_between_signatures_changes_only_those_rows() {
        let mut state = with_logs();
        let look = look("dark", Glyphs::Unicode);
        key(&mut state, "j");
        let before = render(&state, &look, 120, 40);
        key(&mut state, "j");
        let after = render(&state, &look, 120, 40);
        let changed: Vec<u16> = (0..40)
            .filter(|&y| (0..120).any(|x| before[(x, y)] != after[(x, y)]))
            .collect();
        assert_eq!(changed.len(), 2, "{changed:?}\n{}", text(&after));
        let bytes = bytes_for_j(state, &look);
        assert!(bytes <= 400, "{bytes} bytes for one j");
    }

    /// What the console writes to the terminal for one `j` at 120×40, as it would over SSH.
    fn bytes_for_j(mut state: AppState, look: &Look) -> usize {
        use std::cell::RefCell;
        use std::io::Write;
        use std::rc::Rc;

        #[derive(Clone, Default)]
        struct Shared(Rc<RefCell<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.borrow_mut().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Shared::default();
        let backend = opsdeck::tui::terminal::SyncBackend::new(out.clone());
        let options = ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 120, 40)),
        };
        let mut terminal = Terminal::with_options(backend, options).unwrap();
        terminal.draw(|frame| view(&state, look, frame)).unwrap();
        let first = out.0.borrow().len();
        state.update(Msg::Key(KeyChord::parse("j").unwrap()));
        terminal.draw(|frame| view(&state, look, frame)).unwrap();
        let bytes = out.0.borrow().len() - first;
        assert!(bytes > 0, "the move is drawn");
        bytes
    }

    #[test]
    fn enter_shows_the_signatures_lines_escaped_and_cut() {
        let mut state = with_logs();
        key(&mut state, "j");
        let requests = key(&mut state, "enter");
        let filter = LineFilter::Signature("connection refused to <ip>:<num>".into());
        assert_eq!(
            requests,
            vec![Request::LoadLogLines {
                source: "app".into(),
                filter: filter.clone(),
            }]
        );
        state.update(Msg::Runner(Event::LogLines {
            source: "app".into(),
            filter,
            lines: hostile_lines(),
        }));
        let buffer = render(&state, &look("dark", Glyphs::Unicode), 120, 40);
        assert_clean(&buffer, 120);
        let screen = text(&buffer);
        insta::assert_snapshot!(screen);
        assert!(
            screen.contains("\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07 nul\\x00 cr\\r"),
            "{screen}"
        );
        assert!(
            screen.contains("yyyy…"),
            "the long line is cut with a marker:\n{screen}"
        );
        assert!(!screen.contains("TAIL"));
        let small = render(&state, &look("mono", Glyphs::Ascii), 80, 24);
        assert_clean(&small, 80);
        let screen = text(&small);
        assert!(
            screen.contains("결제 요청 처리 완료 order=42 \\x07"),
            "{screen}"
        );
        // Enter on a source asks for all its lines.
        key(&mut state, "esc");
        key(&mut state, "g");
        assert_eq!(
            key(&mut state, "enter"),
            vec![Request::LoadLogLines {
                source: "app".into(),
                filter: LineFilter::All,
            }]
        );
    }

    #[test]
    fn slash_searches_and_f_follows_each_new_read() {
        let mut state = with_logs();
        key(&mut state, "enter");
        assert!(key(&mut state, "/").is_empty());
        for ch in "timeout".chars() {
            assert!(
                key(&mut state, &ch.to_string()).is_empty(),
                "typing, not keys"
            );
        }
        let search = LineFilter::Text("timeout".into());
        assert_eq!(
            key(&mut state, "enter"),
            vec![Request::LoadLogLines {
                source: "app".into(),
                filter: search.clone(),
            }]
        );
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("lines containing \"timeout\""), "{screen}");
        // Not following: a new read asks for nothing.
        assert!(state.update(Msg::Runner(logs_event())).is_empty());
        let follow = key(&mut state, "f");
        let again = Request::LoadLogLines {
            source: "app".into(),
            filter: search,
        };
        assert_eq!(follow, vec![again.clone()]);
        assert_eq!(state.update(Msg::Runner(logs_event())), vec![again]);
        let Some(Modal::Popup(Popup::LogLines(view))) = &state.modal else {
            panic!("the line view stays open");
        };
        assert!(view.follow);
        key(&mut state, "f");
        assert!(state.update(Msg::Runner(logs_event())).is_empty());
    }

    #[test]
    fn the_line_view_scrolls_and_scrolling_up_stops_following() {
        let mut state = with_logs();
        key(&mut state, "enter");
        let lines: Vec<LogLine> = (0..100)
            .map(|n| LogLine {
                at: at(n - 100),
                level: Some(Level::Info),
                text: format!("line number {n}"),
            })
            .collect();
        state.update(Msg::Runner(Event::LogLines {
            source: "app".into(),
            filter: LineFilter::All,
            lines,
        }));
        let look = look("dark", Glyphs::Unicode);
        let screen = text(&render(&state, &look, 80, 24));
        assert!(screen.contains("line number 0 ") && !screen.contains("line number 99"));
        key(&mut state, "f");
        let screen = text(&render(&state, &look, 80, 24));
        assert!(
            screen.contains("line number 99"),
            "stuck to the bottom:\n{screen}"
        );
        assert!(!screen.contains("line number 0 "), "{screen}");
        key(&mut state, "k");
        let screen = text(&render(&state, &look, 80, 24));
        assert!(!screen.contains("line number 99") && screen.contains("line number 98"));
        assert!(
            !screen.contains("following"),
            "scrolling up stops following:\n{screen}"
        );
        assert!(state.update(Msg::Runner(logs_event())).is_empty());
        key(&mut state, "pagedown");
        key(&mut state, "G");
        let screen = text(&render(&state, &look, 80, 24));
        assert!(screen.contains("line number 99"), "{screen}");
        key(&mut state, "g");
        let screen = text(&render(&state, &look, 80, 24));
        assert!(screen.contains("line number 0 "), "{screen}");
    }

    #[test]
    fn a_attaches_the_frozen_lines_to_the_open_incident_or_says_there_is_none() {
        let mut state = with_logs();
        key(&mut state, "j");
        key(&mut state, "enter");
        let filter = LineFilter::Signature("connection refused to <ip>:<num>".into());
        let lines = hostile_lines();
        assert!(
            key(&mut state, "a").is_empty(),
            "nothing shown yet, nothing sent"
        );
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("the lines are still loading"), "{screen}");
        state.update(Msg::Runner(Event::LogLines {
            source: "app".into(),
            filter: filter.clone(),
            lines: lines.clone(),
        }));
        assert!(key(&mut state, "a").is_empty(), "no incident, nothing sent");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("no open incident to attach to"), "{screen}");

        state.update(Msg::Runner(Event::Incidents(vec![
            incident("INC-1", IncidentLevel::P2, false),
            incident("INC-old", IncidentLevel::P1, true),
        ])));
        let summary = "new signature \"connection refused to <ip>:<num>\" first seen 02:41 UTC, 12 in the last hour (3 same hour yesterday)";
        let expected = Request::AttachLogFinding {
            incident: "INC-1".into(),
            source: "app".into(),
            summary: summary.into(),
            lines: lines.clone(),
        };
        assert_eq!(key(&mut state, "a"), vec![expected]);
        // The lines sent were those shown; later lines do not change what was sent.
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("attaching 4 lines to INC-1…"), "{screen}");

        // Two open incidents: a choice, the most severe first.
        state.update(Msg::Runner(Event::Incidents(vec![
            incident("INC-1", IncidentLevel::P2, false),
            incident("INC-2", IncidentLevel::P1, false),
        ])));
        assert!(key(&mut state, "a").is_empty());
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(
            screen.contains("Attach to which open incident?"),
            "{screen}"
        );
        state.update(Msg::Runner(Event::LogLines {
            source: "app".into(),
            filter,
            lines: Vec::new(),
        }));
        key(&mut state, "j");
        let sent = key(&mut state, "enter");
        assert_eq!(
            sent,
            vec![Request::AttachLogFinding {
                incident: "INC-1".into(),
                source: "app".into(),
                summary: summary.into(),
                lines,
            }],
            "the second choice, with the lines frozen when `a` was pressed"
        );
        assert!(matches!(
            state.modal,
            Some(Modal::Popup(Popup::LogLines(_)))
        ));
    }

    #[test]
    fn a_on_a_signature_attaches_its_sample_and_read_only_refuses() {
        let mut state = with_logs();
        state.update(Msg::Runner(Event::Incidents(vec![incident(
            "INC-7",
            IncidentLevel::P3,
            false,
        )])));
        key(&mut state, "j");
        key(&mut state, "j");
        key(&mut state, "j");
        let sent = key(&mut state, "a");
        let Some(Request::AttachLogFinding {
            incident,
            source,
            summary,
            lines,
        }) = sent.first()
        else {
            panic!("nothing sent: {sent:?}");
        };
        assert_eq!((incident.as_str(), source.as_str()), ("INC-7", "app"));
        assert!(
            summary.starts_with("signature \"사용자 root 로그인 실패 \\x1b[2J"),
            "{summary}"
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, format!("sample of {HOSTILE}"));
        assert_eq!(lines[0].at, at(-300 * 60));

        state.host.read_only = true;
        assert!(key(&mut state, "a").is_empty());
        let notice = state.notice.clone().expect("a notice");
        assert!(notice.text.contains("read-only"), "{}", notice.text);
        state.host.read_only = false;
        // Bound to a key of its own, attaching still works only with the logs pane focused.
        let mut overrides = std::collections::BTreeMap::new();
        overrides.insert(
            opsdeck::config::action::Action::AttachFinding,
            opsdeck::config::keymap::KeyList(vec![KeyChord::parse("A").unwrap()]),
        );
        state.keymap = Keymap::new(&overrides);
        key(&mut state, "tab");
        assert_ne!(state.focus, Pane::Logs);
        assert!(key(&mut state, "A").is_empty());
        let notice = state.notice.clone().expect("a notice");
        assert!(
            notice.text.contains("works in the logs pane"),
            "{}",
            notice.text
        );
        key(&mut state, "shift-tab");
        assert_eq!(state.focus, Pane::Logs);
        assert_eq!(key(&mut state, "A").len(), 1);
    }

    /// Configured sources show (and take the focus `--pane logs` gives) before their first read.
    #[test]
    fn configured_sources_read_as_reading_until_the_first_snapshot() {
        let mut state = state("PROD");
        state.set_log_sources(vec!["app".into(), "인증".into()]);
        state.focus_on(Pane::Logs);
        assert_eq!(state.focus, Pane::Logs);
        let look = look("dark", Glyphs::Unicode);
        let screen = text(&render(&state, &look, 80, 24));
        assert!(screen.contains("Logs · reading…"), "{screen}");
        assert!(screen.contains("인증   reading…"), "{screen}");
        key(&mut state, "tab");
        let screen = text(&render(&state, &look, 80, 24));
        assert!(screen.contains("─ Logs reading…"), "{screen}");
        state.update(Msg::Runner(logs_event()));
        let screen = text(&render(&state, &look, 80, 24));
        assert!(screen.contains("─ Logs 3 sources · 14 errors"), "{screen}");
    }

    #[test]
    fn a_read_minutes_old_is_marked_in_the_title() {
        let mut state = with_logs();
        let look = look("dark", Glyphs::Unicode);
        let warn = look.palette.status(Status::Warn);
        let age_style = |state: &AppState, age: &str| {
            let buffer = render(state, &look, 120, 40);
            let screen = text(&buffer);
            let y = screen
                .lines()
                .position(|line| line.contains(age))
                .unwrap_or_else(|| panic!("no `{age}`:\n{screen}"));
            let line = screen.lines().nth(y).unwrap();
            let column = line[..line.find(age).unwrap()].width() + 3;
            buffer[(u16::try_from(column).unwrap(), u16::try_from(y).unwrap())].fg
        };
        assert_ne!(age_style(&state, "read <1m ago"), warn.fg.unwrap());
        state.update(Msg::Tick(at(10 * 60)));
        assert_eq!(age_style(&state, "read 10m ago"), warn.fg.unwrap());
    }

    #[test]
    fn w_cycles_the_histogram_window() {
        let mut state = with_logs();
        let look = look("dark", Glyphs::Unicode);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let screen = text(&render(&state, &look, 120, 40));
            let title = screen
                .lines()
                .find_map(|line| {
                    line.split("app · last ")
                        .nth(1)
                        .map(|rest| rest.trim_end_matches(['│', ' ']).to_owned())
                })
                .expect("the histogram's title");
            seen.push(title);
            key(&mut state, "w");
        }
        assert_eq!(
            seen,
            [
                "15 min · 4 columns a minute",
                "1 h · a column a minute",
                "24 h · a column = 15 min",
                "15 min · 4 columns a minute"
            ]
        );
    }

    #[test]
    fn the_palette_jumps_to_a_source_and_help_lists_the_log_keys() {
        let mut state = with_logs();
        key(&mut state, ":");
        for ch in "nginx".chars() {
            key(&mut state, &ch.to_string());
        }
        key(&mut state, "enter");
        assert_eq!(state.focus, Pane::Logs);
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(screen.contains("nginx · last 15 min"), "{screen}");
        assert!(screen.contains("5xx 2.1 %"), "{screen}");
        assert!(screen.contains("/api/orders 40000"), "{screen}");
        assert!(
            screen.contains("Enter lines") && screen.contains("f follow"),
            "{screen}"
        );
        let help: String =
            opsdeck::tui::popups::help::lines(&state, &look("dark", Glyphs::Unicode))
                .iter()
                .map(|line| format!("{line}\n"))
                .collect();
        assert!(help.contains("attach_finding"), "{help}");
        assert!(help.contains("Log lines"), "{help}");
    }
}

/// The hosts pane from a `[[prometheus]]` source: worst first, a Korean host name aligned, a
/// label with an escape sequence shown escaped, the host view's sparklines, and Prometheus
/// down said in place over the last rows, marked stale.
mod hosts {
    use std::collections::BTreeMap;

    use opsdeck::config::Glyphs;
    use opsdeck::core::fleet::{FleetSnapshot, HostHistory, HostRow};
    use opsdeck::core::model::{Metric, Status, Unit};
    use opsdeck::core::protocol::{Event, Request};
    use opsdeck::tui::app::{AppState, Msg};
    use opsdeck::tui::panes::Pane;

    use super::{at, look, render, state, text};
    use opsdeck::config::keymap::KeyChord;
    use opsdeck::core::checks::Evaluation;

    fn host(instance: &str, up: bool, cpu: f64) -> HostRow {
        let mut labels = BTreeMap::from([
            ("instance".to_owned(), instance.to_owned()),
            ("job".to_owned(), "node".to_owned()),
        ]);
        labels.insert("rack".into(), "r1\u{1b}[31mred".into());
        HostRow {
            instance: instance.into(),
            job: "node".into(),
            labels,
            up,
            cpu_used_pct: up.then_some(cpu),
            mem_used_pct: up.then_some(41.0),
            disk_used_pct: up.then_some(63.0),
            load1: up.then_some(0.42),
            net_rx_bytes_per_s: up.then_some(12_500.0),
            net_tx_bytes_per_s: up.then_some(800.0),
            scrape_age_seconds: Some(if up { 1.0 } else { 31.0 }),
            backup_age_seconds: None,
            checklists_overdue: None,
            alerts_open: None,
        }
    }

    fn snapshot(error: Option<&str>) -> FleetSnapshot {
        FleetSnapshot {
            source: "prometheus".into(),
            url: "http://prom:9090".into(),
            taken_at: at(-2),
            hosts: vec![
                host("web-01:9100", true, 12.0),
                host("db-서울:9100", false, 0.0),
                host("evil\u{1b}[2J:9100", true, 95.0),
            ],
            error: error.map(str::to_owned),
            warnings: Vec::new(),
            rules: Vec::new(),
            collect_ms: 8.0,
            response_bytes: 2048,
        }
    }

    fn judged(snapshot: &FleetSnapshot) -> Vec<Evaluation> {
        snapshot
            .hosts
            .iter()
            .map(|host| Evaluation {
                metric: Metric::of(
                    "host.up",
                    &host.instance,
                    f64::from(u8::from(host.up)),
                    Unit::Count,
                ),
                status: if host.up { Status::Ok } else { Status::Crit },
                operator: None,
                warn: None,
                crit: None,
            })
            .collect()
    }

    fn fleet_state() -> AppState {
        fleet_state_of(snapshot(None))
    }

    fn fleet_state_of(snapshot: FleetSnapshot) -> AppState {
        let mut state = state("PROD");
        state.set_fleet_sources(vec!["prometheus".into()]);
        let evaluations = judged(&snapshot);
        state.update(Msg::Runner(Event::Fleet {
            snapshot: Box::new(snapshot),
            evaluations,
        }));
        state.focus_on(Pane::Hosts);
        state.update(Msg::Tick(at(0)));
        state
    }

    fn key(state: &mut AppState, name: &str) -> Vec<Request> {
        state.update(Msg::Key(KeyChord::parse(name).unwrap()))
    }

    #[test]
    fn the_hosts_pane_lists_worst_first_with_escapes_shown_at_80x24() {
        let state = fleet_state();
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            !screen.contains('\u{1b}'),
            "no raw escape reaches the terminal:\n{screen}"
        );
        let rows: Vec<&str> = screen
            .lines()
            .filter(|line| line.contains(":9100"))
            .collect();
        assert_eq!(rows.len(), 3, "{screen}");
        assert!(
            rows[0].contains("db-서울") && rows[0].contains("CRIT") && rows[0].contains("down"),
            "down first:\n{screen}"
        );
        assert!(
            rows[1].contains("evil\\x1b[2J"),
            "busiest next, escaped:\n{screen}"
        );
        // The UP column lines up whatever the host name's width.
        let column = |row: &str, word: &str| {
            let before = &row[..row.find(word).unwrap()];
            unicode_width::UnicodeWidthStr::width(before)
        };
        assert_eq!(column(rows[0], " down "), column(rows[2], " up "));
        assert!(screen.contains("1 down"), "{screen}");
    }

    /// Two hosts run opsdeck's exporter (one with an overdue checklist and open alerts), the
    /// down one does not: its figures are `-`, not 0. At 120 columns the pane shares the screen
    /// and is too narrow for them (the host view still says them); zoomed, every column shows.
    /// At 80 columns the pane is full width: the opsdeck columns stay and the network's go.
    #[test]
    fn opsdeck_figures_are_columns_at_120_and_80_and_a_line_in_the_host_view() {
        let mut snapshot = snapshot(None);
        snapshot.hosts[0].backup_age_seconds = Some(26.0 * 3600.0);
        snapshot.hosts[0].checklists_overdue = Some(0.0);
        snapshot.hosts[0].alerts_open = Some(0.0);
        snapshot.hosts[2].backup_age_seconds = Some(5.0 * 86_400.0);
        snapshot.hosts[2].checklists_overdue = Some(1.0);
        snapshot.hosts[2].alerts_open = Some(3.0);
        let mut state = fleet_state_of(snapshot);
        let shared = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 24));
        assert!(!shared.contains("BKUP"), "{shared}");
        key(&mut state, "z");
        let wide = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 24));
        assert!(wide.contains("BKUP") && wide.contains(" OUT "), "{wide}");
        insta::assert_snapshot!("hosts_with_opsdeck_figures_zoomed_at_120x24", wide);
        key(&mut state, "z");
        let narrow = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            narrow.contains("BKUP") && !narrow.contains(" OUT "),
            "{narrow}"
        );
        let row = |screen: &str, host: &str| {
            screen
                .lines()
                .find(|line| line.contains(host))
                .unwrap_or_else(|| panic!("no row for {host}:\n{screen}"))
                .to_owned()
        };
        assert!(row(&narrow, "web-01").contains("26h    0    0"), "{narrow}");
        assert!(row(&narrow, "evil").contains("5d    1    3"), "{narrow}");
        assert!(row(&narrow, "db-서울").contains("-    -    -"), "{narrow}");
        insta::assert_snapshot!("hosts_with_opsdeck_figures_at_80x24", narrow);
        // The busiest host (evil) is second; the host view of it, then of the down one.
        key(&mut state, "Down");
        key(&mut state, "Enter");
        let view = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(
            view.contains("oldest backup 5d 0h · checklists overdue 1 · alerts open 3"),
            "{view}"
        );
        key(&mut state, "Esc");
        key(&mut state, "Up");
        key(&mut state, "Enter");
        let view = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(view.contains("no opsdeck exporter on this host"), "{view}");
    }

    #[test]
    fn enter_opens_the_host_view_with_sparklines_and_escape_returns() {
        let mut state = fleet_state();
        let requests = key(&mut state, "Enter");
        let Some(Request::LoadHostHistory { source, instance }) = requests.first() else {
            panic!("Enter asks for the host's history: {requests:?}");
        };
        assert_eq!(
            (source.as_str(), instance.as_str()),
            ("prometheus", "db-서울:9100")
        );
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(screen.contains("reading the last 30 minutes"), "{screen}");
        let ramp: Vec<f64> = (0..60).map(f64::from).collect();
        state.update(Msg::Runner(Event::HostHistory(Box::new(HostHistory {
            instance: "db-서울:9100".into(),
            series: vec![
                ("CPU", Unit::Percent, ramp.iter().map(|v| v / 1.2).collect()),
                ("load", Unit::Load, ramp.iter().map(|v| v / 100.0).collect()),
            ],
            error: None,
        }))));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        let cpu = screen
            .lines()
            .find(|line| line.contains("│CPU "))
            .unwrap_or_else(|| panic!("{screen}"));
        assert!(
            cpu.contains('▁') && cpu.contains('▄'),
            "a rising sparkline:\n{screen}"
        );
        assert!(
            screen.contains("rack=r1\\x1b[31mred"),
            "labels escaped:\n{screen}"
        );
        key(&mut state, "Esc");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert_eq!(
            screen.lines().filter(|line| line.contains(":9100")).count(),
            3,
            "{screen}"
        );
    }

    #[test]
    fn the_filter_narrows_the_rows_and_prometheus_down_is_said_in_place() {
        let mut state = fleet_state();
        key(&mut state, "/");
        for ch in ["w", "e", "b"] {
            key(&mut state, ch);
        }
        key(&mut state, "Enter");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        let rows: Vec<&str> = screen
            .lines()
            .filter(|line| line.contains(":9100"))
            .collect();
        assert_eq!(rows.len(), 1, "{screen}");
        assert!(rows[0].contains("web-01"));
        let failed = snapshot(Some(
            "http://prom:9090: cannot connect (is Prometheus running, and is the url right?)",
        ));
        state.update(Msg::Runner(Event::Fleet {
            snapshot: Box::new(failed),
            evaluations: Vec::new(),
        }));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert!(screen.contains("cannot read Prometheus"), "{screen}");
        assert!(
            screen.contains("stale"),
            "the last rows stay, marked stale:\n{screen}"
        );
    }
}

/// The containers pane: worst first (a crash loop, an OOM kill, an unhealthy container with its
/// last check's output), hostile names, labels, health output and log lines shown escaped, the
/// log tail on Enter, a restart asking for its plan, and Docker unreadable said with its fix.
mod containers {
    use opsdeck::config::Glyphs;
    use opsdeck::config::keymap::KeyChord;
    use opsdeck::core::checks::Evaluation;
    use opsdeck::core::collectors::Sample;
    use opsdeck::core::containers::{ContainerRow, ContainersSnapshot, Unavailable};
    use opsdeck::core::protocol::{Event, Request};
    use opsdeck::tui::app::{AppState, Msg};
    use opsdeck::tui::panes::Pane;

    use super::{at, look, render, state, text};

    const MIB: u64 = 1024 * 1024;

    fn row(name: &str, state: &str) -> ContainerRow {
        ContainerRow {
            id: format!("id-{name}"),
            name: name.into(),
            project: Some("shop".into()),
            service: Some(name.into()),
            state: state.into(),
            health: None,
            health_output: None,
            unhealthy_since: None,
            restart_count: 0,
            restarts_1h: 0,
            restart_policy: "always".into(),
            started_at: Some(at(-7200)),
            finished_at: None,
            exit_code: None,
            oom_killed: false,
            cpu_pct: (state == "running").then_some(3.5),
            memory_bytes: (state == "running").then_some(48 * MIB),
            memory_limit: (state == "running").then_some(512 * MIB),
            image: "nginx:1.27".into(),
            image_created: Some(at(-90 * 86_400)),
        }
    }

    fn snapshot() -> ContainersSnapshot {
        let web = row("web", "running");
        let worker = ContainerRow {
            restarts_1h: 7,
            restart_count: 31,
            exit_code: Some(1),
            ..row("worker", "restarting")
        };
        let cache = ContainerRow {
            oom_killed: true,
            exit_code: Some(137),
            project: Some("shop\u{1b}[31m".into()),
            ..row("cache", "exited")
        };
        let evil = ContainerRow {
            health: Some("unhealthy".into()),
            health_output: Some("db \u{1b}[2J gone\r\nfake".into()),
            unhealthy_since: Some(at(-400)),
            image: "evil\u{1b}]0;owned\u{7}:latest".into(),
            ..row("evil\u{1b}[2Jname", "running")
        };
        ContainersSnapshot {
            taken_at: at(0),
            endpoint: "unix:///var/run/docker.sock".into(),
            unavailable: None,
            containers: vec![web, worker, cache, evil],
        }
    }

    /// The built-in rules' verdicts, as the runner sends them.
    fn judged(snapshot: &ContainersSnapshot) -> Vec<Evaluation> {
        opsdeck::core::checks::Judge::new(opsdeck::config::default_rules()).evaluate(snapshot)
    }

    fn containers_state(snapshot: ContainersSnapshot) -> AppState {
        let mut state = state("PROD");
        assert!(!snapshot.metrics().is_empty() || snapshot.unavailable.is_some());
        let evaluations = judged(&snapshot);
        state.update(Msg::Runner(Event::Containers {
            snapshot: Box::new(snapshot),
            evaluations,
        }));
        state.focus_on(Pane::Containers);
        state.update(Msg::Tick(at(0)));
        state
    }

    fn key(state: &mut AppState, name: &str) -> Vec<Request> {
        state.update(Msg::Key(KeyChord::parse(name).unwrap()))
    }

    fn assert_clean(screen: &str, width: usize) {
        assert!(
            !screen.chars().any(|ch| ch.is_control() && ch != '\n'),
            "a control character reached the screen:\n{screen}"
        );
        for line in screen.lines() {
            assert_eq!(
                unicode_width::UnicodeWidthStr::width(line),
                width,
                "misaligned: {line}"
            );
        }
    }

    #[test]
    fn containers_worst_first_with_hostile_text_escaped_at_120x40() {
        let mut state = containers_state(snapshot());
        // Zoomed, every column is on screen.
        key(&mut state, "z");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert_clean(&screen, 120);
        insta::assert_snapshot!(screen);
        let at = |needle: &str| {
            screen
                .find(needle)
                .unwrap_or_else(|| panic!("no `{needle}`:\n{screen}"))
        };
        assert!(at("crash loop: 7 restarts") < at("web "));
        assert!(at("OOM-killed") < at("web "));
        assert!(at("last check: db \\x1b[2J gone\\r\\nfake") > 0);
        assert!(at("evil\\x1b[2Jname") > 0);
        assert!(at("evil\\x1b]0;owned") > 0);
        assert!(at("shop\\x1b[31m/") > 0);
    }

    #[test]
    fn enter_shows_the_escaped_log_tail_and_a_restart_is_refused_read_only() {
        let mut state = containers_state(snapshot());
        let asked = key(&mut state, "enter");
        let Some(Request::LoadContainerLogs { name }) = asked.first() else {
            panic!("{asked:?}");
        };
        state.update(Msg::Runner(Event::ContainerLogs {
            name: name.clone(),
            lines: Ok(vec![
                "GET /health 200".into(),
                opsdeck::core::text::printable("boom \u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7} end"),
            ]),
        }));
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert_clean(&screen, 120);
        assert!(
            screen.contains("boom \\x1b[2J\\x1b]52;c;ZXZpbA==\\x07 end"),
            "{screen}"
        );
        assert!(screen.contains("log tail, following"), "{screen}");
        // It follows: each refresh of the containers asks for the tail again, until closed.
        let refresh = || Event::Containers {
            snapshot: Box::new(snapshot()),
            evaluations: Vec::new(),
        };
        let asked = state.update(Msg::Runner(refresh()));
        assert!(
            matches!(&asked[..], [Request::LoadContainerLogs { name: again }] if again == name),
            "{asked:?}"
        );
        key(&mut state, "esc");
        let asked = state.update(Msg::Runner(refresh()));
        assert!(asked.is_empty(), "{asked:?}");
        // The console in these tests is read-only: no plan is even asked for.
        let asked = key(&mut state, "E");
        assert!(asked.is_empty(), "{asked:?}");
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
        assert!(
            screen.contains("read-only: container-restart is refused"),
            "{screen}"
        );
    }

    #[test]
    fn a_restart_asks_for_the_plan_of_the_selected_container() {
        let mut state = containers_state(snapshot());
        state.host.read_only = false;
        key(&mut state, "j");
        let asked = key(&mut state, "E");
        let Some(Request::PlanTask { task_id, params }) = asked.first() else {
            panic!("{asked:?}");
        };
        assert_eq!(task_id, "container-restart");
        assert_eq!(params.get("name").map(String::as_str), Some("cache"));
    }

    #[test]
    fn docker_unreadable_is_said_with_its_fix_at_80x24() {
        let state = containers_state(ContainersSnapshot {
            taken_at: at(0),
            endpoint: "unix:///var/run/docker.sock".into(),
            unavailable: Some(Unavailable {
                message: "cannot read Docker at unix:///var/run/docker.sock: Permission denied (os error 13)".into(),
                fix: "add your user to the docker group (sudo usermod -aG docker $USER) and log in again".into(),
            }),
            containers: Vec::new(),
        });
        let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 80, 24));
        assert_clean(&screen, 80);
        insta::assert_snapshot!(screen);
        assert!(
            screen.contains("fix: add your user to the docker group"),
            "{screen}"
        );
        assert!(screen.contains("Permission denied"), "{screen}");
    }
}

/// The report view: the palette opens a report, the runner's report desk composes it from a
/// real store, the view scrolls through it, and saving writes the format picked in the view.
mod report_view {
    use super::*;
    use opsdeck::core::protocol::Request;
    use opsdeck::core::queries::QuerySettings;
    use opsdeck::core::reports::compose::ReportSettings;
    use opsdeck::core::reports::{Format, Kind};
    use opsdeck::core::runner::report_desk::ReportDesk;
    use opsdeck::core::store::{Store, StoreLocation};
    use opsdeck::tui::modal::{Modal, Popup};
    use tokio::sync::mpsc;

    fn key(state: &mut AppState, name: &str) -> Vec<Request> {
        state.update(Msg::Key(KeyChord::parse(name).unwrap()))
    }

    fn screen(state: &AppState) -> String {
        text(&render(state, &look("dark", Glyphs::Unicode), 100, 30))
    }

    /// A store with two days of 30 filesystems' use, one sample every five minutes: yesterday's
    /// report, in any time zone, has a resources section longer than the screen.
    async fn store_with_history(dir: &std::path::Path) -> Store {
        let store = Store::open(&StoreLocation::Sqlite(dir.join("state.db")))
            .await
            .unwrap();
        let keys: Vec<String> = (0..30)
            .map(|index| format!("disk.used_pct:/srv/volume{index:02}"))
            .collect();
        let now = opsdeck::core::model::now();
        let mut samples = Vec::new();
        for step in (1..=48 * 12).rev() {
            let at = now - chrono::TimeDelta::minutes(5 * step);
            for (index, key) in keys.iter().enumerate() {
                samples.push((key.as_str(), at, 40.0 + index as f64));
            }
        }
        opsdeck::core::history::record_batch(&store, &samples)
            .await
            .unwrap();
        store
    }

    #[test]
    fn the_palette_opens_a_report_that_scrolls_and_saves() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut state = state("PROD");
        key(&mut state, ":");
        for ch in "daily report".chars() {
            key(
                &mut state,
                &if ch == ' ' {
                    "space".into()
                } else {
                    ch.to_string()
                },
            );
        }
        assert_eq!(
            key(&mut state, "enter"),
            vec![Request::ComposeReport { kind: Kind::Daily }]
        );
        assert!(
            matches!(&state.modal, Some(Modal::Popup(Popup::Report(_)))),
            "{:?}",
            state.modal
        );
        assert!(screen(&state).contains("composing…"));

        let store = runtime.block_on(store_with_history(dir.path()));
        let reports = dir.path().join("reports");
        let desk = ReportDesk::new(
            Some(store),
            ReportSettings {
                host: "db-01".into(),
                services: Vec::new(),
                rules: opsdeck::config::default_rules(),
                checklists: Vec::new(),
                databases: Vec::new(),
                queries: QuerySettings::default(),
                backups: Vec::new(),
                logs: Vec::new(),
                reports_dir: Some(reports.clone()),
            },
        );
        let (events, mut received) = mpsc::channel(4);
        let composed = runtime.block_on(async {
            desk.compose(Kind::Daily, events.clone());
            received.recv().await.unwrap()
        });
        assert!(
            matches!(&composed, Event::ReportComposed { report: Ok(_), .. }),
            "{composed:?}"
        );
        state.update(Msg::Runner(composed));
        let first = screen(&state);
        assert!(first.contains("Daily report"), "{first}");
        assert!(first.contains("Overall status"), "{first}");
        assert!(first.contains("y saves as md"), "{first}");
        assert!(!first.contains("/srv/volume29"), "{first}");

        // Scrolling down brings the last filesystem into view, the top out of it.
        let mut scrolled = first;
        for _ in 0..200 {
            if scrolled.contains("/srv/volume29") {
                break;
            }
            key(&mut state, "j");
            scrolled = screen(&state);
        }
        assert!(scrolled.contains("/srv/volume29"), "{scrolled}");
        assert!(!scrolled.contains("Overall status"), "{scrolled}");

        // `v` picks HTML and `y` asks the runner to save it; the desk writes it and the view
        // says where.
        key(&mut state, "v");
        assert!(screen(&state).contains("y saves as html"));
        let requests = key(&mut state, "y");
        assert_eq!(
            requests,
            vec![Request::SaveReport {
                kind: Kind::Daily,
                format: Format::Html
            }]
        );
        let saved = runtime.block_on(async {
            desk.save(Kind::Daily, Format::Html, events);
            received.recv().await.unwrap()
        });
        let Event::ReportSaved(Ok(path)) = &saved else {
            panic!("{saved:?}");
        };
        let html = std::fs::read_to_string(path).unwrap();
        assert!(path.starts_with(reports.to_str().unwrap()), "{path}");
        assert!(path.ends_with(".html") && html.contains("<svg"), "{path}");
        state.update(Msg::Runner(saved.clone()));
        // Where it went shows at the top of what is in view, scrolled as it was.
        let done = screen(&state);
        assert!(done.contains(&format!("saved {path}")), "{done}");
        assert!(
            done.contains("/srv/volume28") && !done.contains("Overall status"),
            "{done}"
        );
        assert!(
            matches!(&state.modal, Some(Modal::Popup(Popup::Report(_)))),
            "saving keeps the view open"
        );
    }
}

/// On a shared store the alerts of every host are listed: another host's say whose they are,
/// this host's and the fleet's (a Prometheus host's, named by its instance) do not need to.
#[test]
fn another_hosts_alert_names_its_host_and_this_hosts_does_not() {
    let mut state = state("prod");
    let on = |id: &str, metric: &str, instance: Option<&str>, host: Option<&str>| Alert {
        id: id.into(),
        key: opsdeck::core::model::series_key(metric, instance),
        metric: metric.into(),
        instance: instance.map(Into::into),
        host: host.map(Into::into),
        level: Status::Warn,
        opened_at: at(-60),
        resolved_at: None,
        peak: 91.0,
        threshold: 85.0,
        unit: Unit::Percent,
    };
    state.update(Msg::Runner(Event::AlertsLoaded(vec![
        on("own", "memory.used_pct", None, Some("db-01")),
        on("theirs", "swap.used_pct", None, Some("web-2")),
        on("fleet", "host.cpu_used_pct", Some("db-7"), None),
    ])));
    state.update(Msg::Tick(at(0)));
    let screen = text(&render(&state, &look("dark", Glyphs::Unicode), 120, 40));
    assert!(screen.contains("web-2: swap.used_pct"), "{screen}");
    assert!(screen.contains("host.cpu_used_pct db-7"), "{screen}");
    assert!(screen.contains("memory.used_pct"), "{screen}");
    assert!(!screen.contains("db-01: memory"), "{screen}");
}
