//! The console's pure state machine driven by keys and runner events, no terminal.

use std::collections::BTreeMap;

use chrono::TimeZone;

use super::*;
use crate::config::keymap::KeyList;
use crate::core::incidents::Level;
use crate::core::model::{Alert, Unit};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn host() -> HostInfo {
    HostInfo {
        hostname: "h".into(),
        user: "u".into(),
        environment: String::new(),
        read_only: false,
    }
}

fn app(keymap: Keymap) -> AppState {
    AppState::new(host(), keymap, Duration::from_secs(1), Vec::new(), at(0))
}

fn key(name: &str) -> Msg {
    Msg::Key(KeyChord::parse(name).unwrap())
}

fn alert(id: &str, opened: i64, resolved: Option<i64>) -> Alert {
    Alert {
        id: id.into(),
        key: "cpu.used_pct".into(),
        metric: "cpu.used_pct".into(),
        instance: None,
        host: None,
        level: Status::Warn,
        opened_at: at(opened),
        resolved_at: resolved.map(at),
        peak: 85.0,
        threshold: 80.0,
        unit: Unit::Percent,
    }
}

fn alerts(state: &AppState) -> &AlertsPane {
    state.pane::<AlertsPane>().unwrap()
}

#[test]
fn help_opens_and_closes_and_q_quits_from_it() {
    let mut state = app(Keymap::default());
    state.update(key("?"));
    assert!(matches!(state.modal, Some(Modal::Help { .. })));
    state.update(key("esc"));
    assert!(state.modal.is_none());
    state.update(key("f1"));
    assert!(matches!(state.modal, Some(Modal::Help { .. })));
    state.update(key("q"));
    assert!(state.should_quit);
}

#[test]
fn ctrl_c_does_not_quit_by_default_but_says_how() {
    let mut state = app(Keymap::default());
    state.update(key("ctrl-c"));
    assert!(!state.should_quit);
    let notice = state.notice.clone().expect("a hint");
    assert!(notice.text.contains("press q"), "{}", notice.text);
    state.update(Msg::Tick(at(10)));
    assert!(state.notice.is_none(), "the hint expires");
}

#[test]
fn remapped_keys_are_honoured() {
    let mut overrides = BTreeMap::new();
    overrides.insert(
        Action::Quit,
        KeyList(vec![KeyChord::parse("ctrl-c").unwrap()]),
    );
    let mut state = app(Keymap::new(&overrides));
    state.update(key("q"));
    assert!(!state.should_quit);
    state.update(key("ctrl-c"));
    assert!(state.should_quit);
}

#[test]
fn refresh_asks_the_runner() {
    let mut state = app(Keymap::default());
    assert_eq!(state.update(key("r")), vec![Request::RefreshNow]);
    assert!(state.update(key("x")).is_empty());
}

#[test]
fn alert_changes_replace_by_id_and_open_alerts_sort_first() {
    let mut state = app(Keymap::default());
    state.update(Msg::Runner(Event::AlertsLoaded(vec![
        alert("old", -500, Some(-400)),
        alert("a", -100, None),
    ])));
    state.update(Msg::Runner(Event::AlertChanged(alert("b", -50, None))));
    let ids: Vec<&str> = alerts(&state)
        .alerts
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(ids, ["b", "a", "old"]);
    state.update(Msg::Runner(Event::AlertChanged(alert("b", -50, Some(-10)))));
    let ids: Vec<&str> = alerts(&state)
        .alerts
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b", "old"]);
    assert_eq!(state.open_alert_count(), 1);
}

#[test]
fn selection_keys_on_the_gauges_scroll_the_alerts_and_keep_the_focus() {
    let mut state = app(Keymap::default());
    state.update(Msg::Runner(Event::AlertsLoaded(vec![
        alert("a", -1, None),
        alert("b", -2, None),
    ])));
    state.update(key("G"));
    assert_eq!(state.focus, Pane::Resources);
    assert_eq!(alerts(&state).selected, 1);
    state.update(key("j"));
    assert_eq!(alerts(&state).selected, 1);
    state.update(key("g"));
    assert_eq!(alerts(&state).selected, 0);
    assert_eq!(state.focus, Pane::Resources);
    state.update(key("shift-tab"));
    assert_eq!(state.focus, Pane::Tasks);
    state.update(key("shift-tab"));
    assert_eq!(state.focus, Pane::Alerts);
    state.update(key("j"));
    assert_eq!(alerts(&state).selected, 1);
    assert_eq!(state.focus, Pane::Alerts);
}

#[test]
fn an_action_the_focused_pane_lacks_goes_to_the_pane_that_lists_it() {
    let mut state = app(Keymap::default());
    state.set_databases(vec!["app".into()], Duration::from_secs(5));
    state.focus = Pane::Services;
    state.update(key("v"));
    assert_eq!(state.focus, Pane::Queries, "`v` is the queries pane's");
    let queries = state.pane::<QueriesPane>().unwrap();
    assert_eq!(
        queries.view,
        crate::tui::panes::queries::QueryView::Sessions
    );
    // Enter means something in many panes: it does not move the focus.
    state.focus = Pane::Resources;
    assert!(state.update(key("enter")).is_empty());
    assert_eq!(state.focus, Pane::Resources);
}

#[test]
fn zoom_toggles_and_esc_leaves_it() {
    let mut state = app(Keymap::default());
    state.update(key("z"));
    assert!(state.zoomed);
    state.update(key("z"));
    assert!(!state.zoomed);
    state.update(key("z"));
    state.update(key("esc"));
    assert!(!state.zoomed);
}

#[test]
fn the_palette_types_every_key_and_jumps_to_the_choice() {
    let mut state = app(Keymap::default());
    state.set_services(vec![(
        "orders-db".into(),
        "postgres",
        Duration::from_secs(30),
    )]);
    state.update(key(":"));
    // `q` and `j` are bound, but in the palette they are letters.
    for ch in "ordq".chars() {
        state.update(Msg::Key(KeyChord::parse(&ch.to_string()).unwrap()));
    }
    assert!(!state.should_quit);
    state.update(key("backspace"));
    assert!(matches!(&state.modal, Some(Modal::Palette(input)) if input.query == "ord"));
    let matches = state.palette_matches("ord");
    assert_eq!(matches[0].key, "orders-db", "{matches:?}");
    state.update(key("enter"));
    assert_eq!(state.focus, Pane::Services);
    assert!(
        matches!(&state.modal, Some(Modal::Popup(Popup::Service { name })) if name == "orders-db")
    );
}

#[test]
fn a_quiet_tick_does_not_ask_for_a_redraw() {
    let mut state = app(Keymap::default());
    state.dirty = false;
    state.update(Msg::Tick(at(1)));
    assert!(!state.dirty, "nothing visible changed within the minute");
    state.update(Msg::Tick(at(61)));
    assert!(state.dirty, "the clock's minute changed");
}

#[test]
fn an_incident_key_pressed_in_another_pane_changes_nothing_and_says_where_it_works() {
    let mut state = app(Keymap::default());
    assert_eq!(state.focus, Pane::Resources);
    let requests = state.update(key("f"));
    assert!(requests.is_empty(), "{requests:?}");
    assert_eq!(state.focus, Pane::Resources);
    let notice = state.notice.clone().expect("a hint");
    assert!(notice.text.contains("incidents pane"), "{}", notice.text);
}

#[test]
fn the_declare_key_on_a_selected_alert_asks_the_runner_to_open_a_prefilled_incident() {
    let mut state = app(Keymap::default());
    let disk = Alert {
        id: "disk-1".into(),
        key: "disk.used_pct:/data".into(),
        metric: "disk.used_pct".into(),
        instance: Some("/data".into()),
        host: None,
        level: Status::Crit,
        peak: 92.1,
        threshold: 90.0,
        ..alert("disk-1", -60, None)
    };
    state.update(Msg::Runner(Event::AlertsLoaded(vec![
        disk,
        alert("cpu-1", -120, None),
    ])));

    // From the gauges' focus the key declares nothing and says where it works.
    assert!(state.update(key("o")).is_empty());
    let notice = state.notice.clone().expect("a hint");
    assert!(notice.text.contains("alerts pane"), "{}", notice.text);

    state.focus = Pane::Alerts;
    assert!(state.update(key("o")).is_empty(), "a form opens first");
    assert!(matches!(state.modal, Some(Modal::Form(_))));
    let requests = state.update(key("enter"));
    let [Request::OpenIncident(opening)] = requests.as_slice() else {
        panic!("one opening asked for: {requests:?}");
    };
    assert_eq!(opening.title, "disk.used_pct /data 92.1 % (limit 90.0 %)");
    assert_eq!(opening.level, Level::P1, "a critical alert suggests P1");
    assert_eq!(opening.affects, ["/data"]);
    assert_eq!(opening.alert.as_deref(), Some("disk-1"));
    assert!(
        opening.evidence.contains("alert disk-1")
            && opening.evidence.contains("CRIT")
            && opening.evidence.contains("peak 92.1 %"),
        "{}",
        opening.evidence
    );
    assert_eq!(state.focus, Pane::Alerts);

    // A warning without an instance: P3, and the metric is what is affected.
    state.update(key("j"));
    state.update(key("o"));
    let requests = state.update(key("enter"));
    let [Request::OpenIncident(opening)] = requests.as_slice() else {
        panic!("one opening asked for: {requests:?}");
    };
    assert_eq!(
        (
            opening.title.as_str(),
            opening.level,
            opening.affects.as_slice()
        ),
        (
            "cpu.used_pct 85.0 % (limit 80.0 %)",
            Level::P3,
            ["cpu.used_pct".to_owned()].as_slice()
        )
    );

    state.update(Msg::Runner(Event::IncidentOpened {
        id: "INC-20261205-abcdef".into(),
        level: Level::P1,
    }));
    let notice = state.notice.clone().expect("the opening is reported");
    assert_eq!(notice.text, "opened INC-20261205-abcdef as P1");
    assert_eq!(state.focus, Pane::Alerts, "nothing takes the focus");
}

#[test]
fn the_declare_key_with_no_alerts_asks_for_nothing() {
    let mut state = app(Keymap::default());
    state.focus = Pane::Alerts;
    assert!(state.update(key("o")).is_empty());
    let notice = state.notice.clone().expect("a hint");
    assert!(notice.text.contains("no alert"), "{}", notice.text);
}
