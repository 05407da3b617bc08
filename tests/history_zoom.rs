//! Zoom in time on the console, drawn with ratatui's TestBackend: the sparklines start from the
//! stored history the runner sends, one key steps them through 10 min, 6 h, 7 d and 30 d, each
//! read at its own resolution, the titles say which, and a late answer to an older question is
//! dropped.

// Test code: a failed unwrap is a failed test that names its line.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta, TimeZone, Utc};
use opsdeck::config::Glyphs;
use opsdeck::config::action::Action;
use opsdeck::config::keymap::{KeyChord, KeyList, Keymap};
use opsdeck::config::theme::load_theme;
use opsdeck::core::collectors::resources::{LoadAverage, NetworkRate, ResourceSample, Usage};
use opsdeck::core::history::{Point, Resolution};
use opsdeck::core::model::Status;
use opsdeck::core::protocol::{Event, Request};
use opsdeck::core::services::CheckOutcome;
use opsdeck::core::services::flap::ServiceState;
use opsdeck::tui::app::{AppState, HostInfo, Msg, Pane};
use opsdeck::tui::layout::view;
use opsdeck::tui::style::{Look, Palette, glyphs_for};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const GIB: u64 = 1024 * 1024 * 1024;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
}

fn gauges(taken_at: DateTime<Utc>) -> ResourceSample {
    ResourceSample {
        taken_at,
        cpu_total_pct: Some(35.0),
        cpu_since_boot: false,
        cpu_per_core_pct: vec![35.0, 35.0],
        memory: Usage {
            total_bytes: 8 * GIB,
            used_bytes: 4 * GIB,
        },
        swap: Usage {
            total_bytes: 0,
            used_bytes: 0,
        },
        filesystems: Vec::new(),
        networks: vec![NetworkRate {
            interface: "eth0".into(),
            rx_bytes_per_s: Some(1000.0),
            tx_bytes_per_s: Some(500.0),
        }],
        load: LoadAverage {
            one: 0.5,
            five: 0.4,
            fifteen: 0.3,
        },
        process_count: 120,
        uptime_secs: 86_400,
    }
}

fn console(keymap: Keymap) -> AppState {
    let host = HostInfo {
        hostname: "db-01".into(),
        user: "oncall".into(),
        environment: "PROD".into(),
        read_only: true,
    };
    let mut state = AppState::new(host, keymap, Duration::from_secs(1), Vec::new(), now());
    state.set_services(vec![("api".into(), "http", Duration::from_secs(30))]);
    state.update(Msg::Runner(Event::Resources {
        sample: Box::new(gauges(now())),
        evaluations: Vec::new(),
    }));
    state.update(Msg::Runner(Event::ServiceChecked {
        name: "api".into(),
        state: ServiceState::Up,
        level: Status::Ok,
        checked_at: now(),
        outcome: CheckOutcome {
            ok: true,
            latency: Some(Duration::from_millis(12)),
            detail: "200 OK in 12 ms".into(),
            metrics: Vec::new(),
        },
    }));
    state
}

fn screen(state: &AppState, width: u16, height: u16) -> String {
    let look = Look {
        palette: Palette::new(&load_theme("dark", None).unwrap()),
        glyphs: glyphs_for(Glyphs::Unicode, &|_: &str| None),
        utc_offset: FixedOffset::east_opt(0).unwrap(),
    };
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view(state, &look, frame)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The line of the screen that starts (after the frame) with `label`.
fn row<'a>(screen: &'a str, label: &str) -> &'a str {
    screen
        .lines()
        .find(|line| line.trim_start_matches(['│', '┌', ' ']).starts_with(label))
        .unwrap_or_else(|| panic!("no {label} row in\n{screen}"))
}

/// Points every `every` from `since` to now, stepping through eight levels about 32 times over
/// the span, so a sparkline of any width shows steps.
fn points(since: DateTime<Utc>, every: TimeDelta, scale: f64) -> Vec<Point> {
    let count = (now() - since).num_seconds() / every.num_seconds();
    let group = (count / 32).max(1);
    (0..count)
        .map(|index| {
            let value = scale * (1 + (index / group) % 8) as f64;
            Point {
                at: since + every * i32::try_from(index).unwrap(),
                min: value / 2.0,
                max: value,
                mean: value * 0.75,
                last: value,
            }
        })
        .collect()
}

fn asked(request: &Request) -> (Vec<String>, Resolution, DateTime<Utc>) {
    match request {
        Request::LoadMetricHistory {
            keys,
            resolution,
            since,
        } => (keys.clone(), *resolution, *since),
        other => panic!("asked for {other:?}"),
    }
}

fn answer(state: &mut AppState, resolution: Resolution, since: DateTime<Utc>, every: TimeDelta) {
    let series = vec![
        ("cpu.used_pct".to_owned(), points(since, every, 10.0)),
        (
            "net.rx_bytes_per_s:eth0".to_owned(),
            points(since, every, 100.0),
        ),
        (
            "service.latency_ms:api".to_owned(),
            points(since, every, 5.0),
        ),
    ];
    state.update(Msg::Runner(Event::MetricHistory {
        resolution,
        since,
        series,
    }));
}

fn press(state: &mut AppState, key: &str) -> Vec<Request> {
    state.update(Msg::Key(KeyChord::parse(key).unwrap()))
}

#[test]
fn the_sparklines_start_from_the_stored_history_and_zoom_through_four_spans() {
    let mut state = console(Keymap::default());
    let before = screen(&state, 100, 30);
    assert!(
        row(&before, "Resources").contains("Resources · 10 min"),
        "{before}"
    );
    let live_cpu = row(&before, "CPU").to_owned();

    // At start the console asks for the last ten minutes of every series it draws.
    let (keys, resolution, since) = asked(&state.history_request());
    assert_eq!(
        keys,
        vec![
            "cpu.used_pct",
            "memory.used_pct",
            "net.rx_bytes_per_s:eth0",
            "net.tx_bytes_per_s:eth0",
            "service.latency_ms:api",
        ]
    );
    assert_eq!(
        (resolution, since),
        (Resolution::Minute, now() - TimeDelta::minutes(10))
    );
    answer(&mut state, resolution, since, TimeDelta::minutes(1));
    let restored = screen(&state, 100, 30);
    let restored_cpu = row(&restored, "CPU");
    assert_ne!(
        restored_cpu, live_cpu,
        "the stored minutes fill the CPU sparkline"
    );
    assert!(
        restored_cpu
            .chars()
            .filter(|ch| "▁▂▃▄▅▆▇█".contains(*ch))
            .count()
            > 20,
        "{restored}"
    );

    // Z steps the span; each asks for its own resolution and the title follows.
    let expected = [
        ("6 h", Resolution::Minute, TimeDelta::hours(6)),
        ("7 d", Resolution::QuarterHour, TimeDelta::days(7)),
        ("30 d", Resolution::QuarterHour, TimeDelta::days(30)),
        ("10 min", Resolution::Minute, TimeDelta::minutes(10)),
    ];
    for (label, resolution, span) in expected {
        let requests = press(&mut state, "Z");
        let [request] = &requests[..] else {
            panic!("one request, not {requests:?}");
        };
        let (_, asked_resolution, since) = asked(request);
        assert_eq!(
            (asked_resolution, since),
            (resolution, now() - span),
            "{label}"
        );
        let drawn = screen(&state, 100, 30);
        assert!(
            row(&drawn, "Resources").contains(&format!("Resources · {label}")),
            "{drawn}"
        );
    }

    // A week of quarter hours, with the answer to an older question arriving late and dropped.
    let (_, _, six_hours) = asked(&press(&mut state, "Z")[0]);
    let (_, resolution, since) = asked(&press(&mut state, "Z")[0]);
    assert_eq!(resolution, Resolution::QuarterHour);
    answer(&mut state, resolution, since, TimeDelta::minutes(15));
    let week = screen(&state, 100, 30);
    answer(
        &mut state,
        Resolution::Minute,
        six_hours,
        TimeDelta::minutes(1),
    );
    assert_eq!(
        screen(&state, 100, 30),
        week,
        "a stale answer changed the screen"
    );
    insta::assert_snapshot!(week);

    // The services' detail draws its latency over the same span.
    state.focus_on(Pane::Services);
    press(&mut state, "enter");
    let detail = screen(&state, 100, 30);
    assert!(
        detail.contains("max 40 ms over 7 d · Z changes the span"),
        "{detail}"
    );
}

#[test]
fn the_span_key_is_remappable_and_in_the_help() {
    let overrides = BTreeMap::from([(
        Action::TimeSpan,
        KeyList(vec![KeyChord::parse("alt-z").unwrap()]),
    )]);
    let mut state = console(Keymap::new(&overrides));
    assert!(
        press(&mut state, "Z").is_empty(),
        "Z no longer changes the span"
    );
    let requests = press(&mut state, "alt-z");
    assert!(matches!(
        &requests[..],
        [Request::LoadMetricHistory {
            resolution: Resolution::Minute,
            ..
        }]
    ));
    assert!(row(&screen(&state, 100, 30), "Resources").contains("Resources · 6 h"));
    press(&mut state, "?");
    let help = screen(&state, 100, 40);
    assert!(
        help.contains("Alt-z") && help.contains("the time the gauges' and services' sparklines"),
        "{help}"
    );
}
