//! Rule evaluation and the alert life cycle (pending → open → escalated → resolved).
//!
//! [`RuleEngine::observe`] is pure bookkeeping over owned metrics and a clock value; the runner
//! persists the [`Change`]s it returns before anyone is shown them.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::model::{Alert, Metric, Status, Unit, fleet_wide, new_id};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
}

impl Operator {
    pub fn parse(text: &str) -> Option<Operator> {
        match text {
            ">" => Some(Operator::Above),
            ">=" => Some(Operator::AtLeast),
            "<" => Some(Operator::Below),
            "<=" => Some(Operator::AtMost),
            _ => None,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Above => ">",
            Operator::AtLeast => ">=",
            Operator::Below => "<",
            Operator::AtMost => "<=",
        }
    }

    /// True when `value` is on the bad side of `limit`.
    pub fn breaches(self, value: f64, limit: f64) -> bool {
        match self {
            Operator::Above => value > limit,
            Operator::AtLeast => value >= limit,
            Operator::Below => value < limit,
            Operator::AtMost => value <= limit,
        }
    }

    /// True when `candidate` is a worse value than `current` (further into the bad side).
    fn worse(self, candidate: f64, current: f64) -> bool {
        match self {
            Operator::Above | Operator::AtLeast => candidate > current,
            Operator::Below | Operator::AtMost => candidate < current,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub metric: String,
    /// `None` applies the rule to every instance of the metric (every filesystem, say).
    pub instance: Option<String>,
    pub operator: Operator,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
    pub hold_for: Duration,
}

impl Rule {
    fn applies_to(&self, metric: &Metric) -> bool {
        self.metric == metric.name
            && match &self.instance {
                None => true,
                Some(instance) => metric.instance.as_deref() == Some(instance.as_str()),
            }
    }

    /// The level of `value` right now, ignoring the hold duration.
    pub fn instant_status(&self, value: f64) -> Status {
        if self
            .crit
            .is_some_and(|limit| self.operator.breaches(value, limit))
        {
            Status::Crit
        } else if self
            .warn
            .is_some_and(|limit| self.operator.breaches(value, limit))
        {
            Status::Warn
        } else {
            Status::Ok
        }
    }

    fn limit_for(&self, level: Status) -> f64 {
        let limit = match level {
            Status::Crit => self.crit.or(self.warn),
            _ => self.warn.or(self.crit),
        };
        limit.unwrap_or(f64::NAN)
    }
}

/// How a metric stands against its rule at this instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub metric: Metric,
    pub status: Status,
    pub operator: Option<Operator>,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
}

/// The worst verdict per instance over the metrics named `prefix…` (a host's, a container's).
pub fn levels_by_instance(
    evaluations: &[Evaluation],
    prefix: &str,
) -> std::collections::HashMap<String, Status> {
    let mut levels = std::collections::HashMap::new();
    for evaluation in evaluations {
        if !evaluation.metric.name.starts_with(prefix) {
            continue;
        }
        if let Some(instance) = &evaluation.metric.instance {
            let level = levels.entry(instance.clone()).or_insert(evaluation.status);
            *level = (*level).max(evaluation.status);
        }
    }
    levels
}

impl Evaluation {
    /// What made a non-ok status, in one line: `service.redis_evicted_keys 3448 > 1`. `None`
    /// while the value is within its limits.
    pub fn reason(&self) -> Option<String> {
        let operator = self.operator?;
        let limit = match self.status {
            Status::Crit => self.crit.or(self.warn),
            Status::Warn => self.warn,
            Status::Ok | Status::Unknown => None,
        }?;
        Some(format!(
            "{} {} {} {}",
            self.metric.name,
            format_value(self.metric.value, self.metric.unit),
            operator.symbol(),
            format_value(limit, self.metric.unit)
        ))
    }
}

/// What the store keeps about a condition that holds but has not yet opened an alert, so that a
/// restart does not reset the clock of a `for` duration.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRecord {
    /// Whose condition it is: the judging host's, or '' for a fleet-wide series.
    pub host: String,
    pub key: String,
    pub warn_since: Option<DateTime<Utc>>,
    pub crit_since: Option<DateTime<Utc>>,
    pub last_seen: DateTime<Utc>,
}

/// What changed in one observation; the runner persists these.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Pending(PendingRecord),
    PendingCleared { host: String, key: String },
    Opened(Alert),
    Updated(Alert),
    Resolved(Alert),
}

#[derive(Debug, Default)]
struct SeriesState {
    warn_since: Option<DateTime<Utc>>,
    crit_since: Option<DateTime<Utc>>,
    persisted_at: Option<DateTime<Utc>>,
    alert: Option<Alert>,
}

/// A pending condition is re-persisted at least this often, so that after a restart we can
/// tell whether it was still being watched shortly before.
const PENDING_REFRESH: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// A pending condition older than this at restart was not observed continuously: start over.
const PENDING_RESTORE_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::seconds(90);

#[derive(Debug)]
pub struct RuleEngine {
    rules: Vec<Rule>,
    series: HashMap<String, SeriesState>,
    /// The host whose metrics these are ('' when unnamed): its alerts carry it.
    host: String,
}

impl RuleEngine {
    pub fn new(rules: Vec<Rule>) -> Self {
        RuleEngine {
            rules,
            series: HashMap::new(),
            host: String::new(),
        }
    }

    /// This engine, judging the metrics of `host`.
    pub fn on_host(mut self, host: &str) -> Self {
        self.host = host.to_owned();
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Takes the store's word on an alert of this host or the fleet that another console or
    /// process changed: an open one on a series stands for this engine's (so it is updated and
    /// resolved here, not opened twice); a resolved one that this engine holds open is let go,
    /// and the series starts its hold over (so a console a scrape behind does not at once open
    /// it again).
    pub fn take_stored(&mut self, stored: &Alert) {
        if stored.host.as_deref() != owner(&self.host, &stored.key) {
            return;
        }
        if stored.is_open() {
            let state = self.series.entry(stored.key.clone()).or_default();
            state.warn_since.get_or_insert(stored.opened_at);
            if stored.level == Status::Crit {
                state.crit_since.get_or_insert(stored.opened_at);
            }
            state.alert = Some(stored.clone());
        } else if let Some(state) = self.series.get_mut(&stored.key)
            && state
                .alert
                .as_ref()
                .is_some_and(|alert| alert.id == stored.id)
        {
            state.alert = None;
            state.warn_since = None;
            state.crit_since = None;
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule for a metric: one naming the instance wins over one for every instance.
    pub fn rule_for(&self, metric: &Metric) -> Option<&Rule> {
        let mut matching = self.rules.iter().filter(|rule| rule.applies_to(metric));
        let first = matching.next()?;
        if first.instance.is_some() {
            return Some(first);
        }
        Some(
            matching
                .find(|rule| rule.instance.is_some())
                .unwrap_or(first),
        )
    }

    pub fn evaluate(&self, metric: &Metric) -> Evaluation {
        let rule = self.rule_for(metric);
        Evaluation {
            metric: metric.clone(),
            status: rule.map_or(Status::Ok, |rule| rule.instant_status(metric.value)),
            operator: rule.map(|rule| rule.operator),
            warn: rule.and_then(|rule| rule.warn),
            crit: rule.and_then(|rule| rule.crit),
        }
    }

    /// Re-attach what the store remembered from the previous process.
    pub fn restore(&mut self, pending: Vec<PendingRecord>, open: Vec<Alert>, now: DateTime<Utc>) {
        for record in pending {
            if now - record.last_seen > PENDING_RESTORE_TOLERANCE {
                continue;
            }
            let state = self.series.entry(record.key).or_default();
            state.warn_since = record.warn_since;
            state.crit_since = record.crit_since;
            state.persisted_at = Some(record.last_seen);
        }
        for alert in open {
            self.take_stored(&alert);
        }
    }

    /// Hears of an alert another console changed. A resolved one this engine holds is let go,
    /// as by [`RuleEngine::take_stored`]; an open one is taken only while this engine sees its
    /// series past a limit too, so consoles that judge a series differently (other limits, a
    /// scrape apart) do not resolve and reopen each other's alert in turn.
    pub fn hear_of(&mut self, stored: &Alert) {
        let breaching = self
            .series
            .get(&stored.key)
            .is_some_and(|state| state.warn_since.is_some());
        if stored.is_open() && !breaching {
            return;
        }
        self.take_stored(stored);
    }

    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.series
            .values()
            .filter_map(|state| state.alert.as_ref())
    }

    pub fn observe(&mut self, metrics: &[Metric], now: DateTime<Utc>) -> Vec<Change> {
        let mut changes = Vec::new();
        for metric in metrics {
            let Some(rule) = self.rule_for(metric).cloned() else {
                continue;
            };
            let key = metric.key();
            let host = owner(&self.host, &key);
            let state = self.series.entry(key.clone()).or_default();
            observe_series(&rule, metric, (host, key), state, now, &mut changes);
        }
        changes
    }
}

/// The host an alert or pending condition on series `key` of an engine on `host` belongs to:
/// `None` for the fleet (and for an engine that names no host, as the store reads both from '').
/// Borrowed: it is asked for every metric of every sample.
fn owner<'a>(host: &'a str, key: &str) -> Option<&'a str> {
    (!fleet_wide(key) && !host.is_empty()).then_some(host)
}

fn observe_series(
    rule: &Rule,
    metric: &Metric,
    (host, key): (Option<&str>, String),
    state: &mut SeriesState,
    now: DateTime<Utc>,
    changes: &mut Vec<Change>,
) {
    let value = metric.value;
    let instant = rule.instant_status(value);
    let previous = (state.warn_since, state.crit_since);
    state.warn_since = (instant >= Status::Warn).then(|| state.warn_since.unwrap_or(now));
    state.crit_since = (instant == Status::Crit).then(|| state.crit_since.unwrap_or(now));
    let hold = chrono::TimeDelta::from_std(rule.hold_for).unwrap_or(chrono::TimeDelta::MAX);
    let held = |since: Option<DateTime<Utc>>| since.is_some_and(|since| now - since >= hold);
    let level = if held(state.crit_since) {
        Status::Crit
    } else if held(state.warn_since) {
        Status::Warn
    } else {
        Status::Ok
    };

    match state.alert.as_mut() {
        None if level >= Status::Warn => {
            let alert = Alert {
                id: new_id(now),
                key: key.clone(),
                metric: metric.name.to_owned(),
                instance: metric.instance.clone(),
                host: host.map(str::to_owned),
                level,
                opened_at: now,
                resolved_at: None,
                peak: value,
                threshold: rule.limit_for(level),
                unit: metric.unit,
            };
            state.alert = Some(alert.clone());
            changes.push(Change::Opened(alert));
        }
        None => {}
        Some(alert) if state.warn_since.is_none() => {
            alert.resolved_at = Some(now);
            changes.push(Change::Resolved(alert.clone()));
            state.alert = None;
        }
        Some(alert) => {
            let mut changed = false;
            if level > alert.level {
                alert.level = level;
                alert.threshold = rule.limit_for(level);
                changed = true;
            }
            if rule.operator.worse(value, alert.peak) {
                alert.peak = value;
                changed = true;
            }
            if changed {
                changes.push(Change::Updated(alert.clone()));
            }
        }
    }

    let now_pending = (state.warn_since, state.crit_since);
    if now_pending.0.is_none() {
        if previous.0.is_some() || state.persisted_at.is_some() {
            state.persisted_at = None;
            changes.push(Change::PendingCleared {
                host: host.unwrap_or_default().to_owned(),
                key,
            });
        }
    } else if now_pending != previous
        || state
            .persisted_at
            .is_none_or(|at| now - at >= PENDING_REFRESH)
    {
        state.persisted_at = Some(now);
        changes.push(Change::Pending(PendingRecord {
            host: host.unwrap_or_default().to_owned(),
            key,
            warn_since: state.warn_since,
            crit_since: state.crit_since,
            last_seen: now,
        }));
    }
}

/// Formats a metric value with its unit for people.
pub fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Percent => format!("{value:.1} %"),
        Unit::Bytes => format_bytes(value),
        Unit::BytesPerSecond => format!("{}/s", format_bytes(value)),
        Unit::Count => format!("{value:.0}"),
        Unit::Seconds => format!("{value:.0} s"),
        Unit::Milliseconds => format!("{value:.0} ms"),
        Unit::Load => format!("{value:.2}"),
        Unit::Days => format!("{value:.0} d"),
        // A shrinking size has a negative growth, which format_bytes alone would show as 0.
        Unit::BytesPerDay if value < 0.0 => format!("-{}/d", format_bytes(-value)),
        Unit::BytesPerDay => format!("+{}/d", format_bytes(value)),
        Unit::PercentPerDay => format!("{value:+.2} %/d"),
    }
}

/// Binary units with three significant digits: `0 B`, `512 B`, `1.21 KiB`, `74.2 GiB`.
pub fn format_bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut scaled = value.max(0.0);
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{scaled:.0} B")
    } else if scaled < 10.0 {
        format!("{scaled:.2} {}", UNITS[unit])
    } else if scaled < 100.0 {
        format!("{scaled:.1} {}", UNITS[unit])
    } else {
        format!("{scaled:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cpu_rule() -> Rule {
        Rule {
            metric: "cpu.used_pct".into(),
            instance: None,
            operator: Operator::Above,
            warn: Some(80.0),
            crit: Some(90.0),
            hold_for: Duration::from_secs(300),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn cpu(value: f64) -> Vec<Metric> {
        vec![Metric::new("cpu.used_pct", value, Unit::Percent)]
    }

    fn opened(changes: &[Change]) -> Option<&Alert> {
        changes.iter().find_map(|change| match change {
            Change::Opened(alert) => Some(alert),
            _ => None,
        })
    }

    #[test]
    fn alert_opens_only_after_the_rule_held_for_its_duration() {
        let mut engine = RuleEngine::new(vec![cpu_rule()]);
        for second in 0..300 {
            let changes = engine.observe(&cpu(85.0), at(second));
            assert!(opened(&changes).is_none(), "opened early at {second}s");
        }
        let changes = engine.observe(&cpu(86.0), at(300));
        let alert = opened(&changes).expect("opens at 5 min");
        assert_eq!(alert.level, Status::Warn);
        assert_eq!(alert.threshold, 80.0);
    }

    #[test]
    fn a_dip_below_the_limit_restarts_the_clock() {
        let mut engine = RuleEngine::new(vec![cpu_rule()]);
        engine.observe(&cpu(85.0), at(0));
        engine.observe(&cpu(50.0), at(200));
        let changes = engine.observe(&cpu(85.0), at(301));
        assert!(opened(&changes).is_none());
        let changes = engine.observe(&cpu(85.0), at(600));
        assert!(opened(&changes).is_none(), "held only 299 s since the dip");
        let changes = engine.observe(&cpu(85.0), at(601));
        assert!(opened(&changes).is_some());
    }

    #[test]
    fn alert_escalates_records_peak_and_resolves() {
        let mut engine = RuleEngine::new(vec![cpu_rule()]);
        engine.observe(&cpu(85.0), at(0));
        engine.observe(&cpu(85.0), at(300));
        engine.observe(&cpu(97.0), at(310));
        let changes = engine.observe(&cpu(93.0), at(610));
        let updated = changes
            .iter()
            .find_map(|c| match c {
                Change::Updated(a) => Some(a),
                _ => None,
            })
            .expect("escalation");
        assert_eq!(updated.level, Status::Crit);
        assert_eq!(updated.peak, 97.0);
        let changes = engine.observe(&cpu(40.0), at(700));
        let resolved = changes
            .iter()
            .find_map(|c| match c {
                Change::Resolved(a) => Some(a),
                _ => None,
            })
            .expect("resolves");
        assert_eq!(resolved.resolved_at, Some(at(700)));
        assert_eq!(resolved.level, Status::Crit);
        assert!(changes.contains(&Change::PendingCleared {
            host: String::new(),
            key: "cpu.used_pct".into(),
        }));
        assert_eq!(engine.open_alerts().count(), 0);
    }

    #[test]
    fn a_stored_alert_of_this_host_stands_for_its_own_and_another_hosts_is_ignored() {
        let mut engine = RuleEngine::new(vec![cpu_rule()]).on_host("web-1");
        engine.observe(&cpu(85.0), at(0));
        let mine = opened(&engine.observe(&cpu(85.0), at(300)))
            .cloned()
            .expect("opened after 5 minutes");
        assert_eq!(mine.host.as_deref(), Some("web-1"));
        // The exporter of the same host opened it first: its alert is the one updated.
        let first = Alert {
            id: "the-exporters".into(),
            ..mine.clone()
        };
        engine.take_stored(&first);
        let escalated = engine.observe(&cpu(95.0), at(310));
        let held: Vec<&str> = engine
            .open_alerts()
            .map(|alert| alert.id.as_str())
            .collect();
        assert_eq!(held, ["the-exporters"]);
        assert!(
            escalated
                .iter()
                .all(|change| !matches!(change, Change::Opened(_))),
            "{escalated:?}"
        );
        // Another host's alert on the same series is not this engine's to hold.
        engine.take_stored(&Alert {
            id: "web-2s".into(),
            host: Some("web-2".into()),
            ..mine.clone()
        });
        let held: Vec<&str> = engine
            .open_alerts()
            .map(|alert| alert.id.as_str())
            .collect();
        assert_eq!(held, ["the-exporters"]);
        // Resolved elsewhere: let go, and the condition must hold its 5 minutes again.
        engine.take_stored(&Alert {
            resolved_at: Some(at(320)),
            ..first
        });
        assert_eq!(engine.open_alerts().count(), 0);
        assert!(opened(&engine.observe(&cpu(85.0), at(330))).is_none());
        assert!(opened(&engine.observe(&cpu(85.0), at(630))).is_some());
    }

    #[test]
    fn another_consoles_open_alert_is_taken_only_while_this_one_sees_the_breach_too() {
        let mut engine = RuleEngine::new(vec![cpu_rule()]);
        let theirs = Alert {
            id: "theirs".into(),
            key: "cpu.used_pct".into(),
            metric: "cpu.used_pct".into(),
            instance: None,
            host: None,
            level: Status::Warn,
            opened_at: at(0),
            resolved_at: None,
            peak: 85.0,
            threshold: 80.0,
            unit: Unit::Percent,
        };
        // Within limits here: heard, not taken, so not resolved here either.
        engine.observe(&cpu(50.0), at(0));
        engine.hear_of(&theirs);
        assert_eq!(engine.open_alerts().count(), 0);
        assert!(engine.observe(&cpu(50.0), at(10)).is_empty());
        // Past the limit here too: taken, and this engine updates it instead of opening one.
        engine.observe(&cpu(85.0), at(20));
        engine.hear_of(&theirs);
        assert_eq!(engine.open_alerts().count(), 1);
        let changes = engine.observe(&cpu(95.0), at(400));
        assert!(opened(&changes).is_none(), "{changes:?}");
        assert!(
            changes
                .iter()
                .any(|change| matches!(change, Change::Updated(alert) if alert.id == "theirs")),
            "{changes:?}"
        );
    }

    #[test]
    fn restored_pending_state_keeps_the_clock_running() {
        let mut engine = RuleEngine::new(vec![cpu_rule()]);
        engine.restore(
            vec![PendingRecord {
                host: String::new(),
                key: "cpu.used_pct".into(),
                warn_since: Some(at(0)),
                crit_since: None,
                last_seen: at(240),
            }],
            vec![],
            at(250),
        );
        let changes = engine.observe(&cpu(85.0), at(300));
        assert!(opened(&changes).is_some());
    }

    #[test]
    fn stale_pending_state_is_not_trusted() {
        let mut engine = RuleEngine::new(vec![cpu_rule()]);
        engine.restore(
            vec![PendingRecord {
                host: String::new(),
                key: "cpu.used_pct".into(),
                warn_since: Some(at(0)),
                crit_since: None,
                last_seen: at(10),
            }],
            vec![],
            at(290),
        );
        assert!(opened(&engine.observe(&cpu(85.0), at(300))).is_none());
    }

    #[test]
    fn instance_rule_wins_over_the_general_one() {
        let general = Rule {
            metric: "disk.used_pct".into(),
            instance: None,
            operator: Operator::Above,
            warn: Some(80.0),
            crit: Some(90.0),
            hold_for: Duration::ZERO,
        };
        let var = Rule {
            instance: Some("/var".into()),
            warn: Some(95.0),
            crit: Some(98.0),
            ..general.clone()
        };
        let engine = RuleEngine::new(vec![general, var]);
        let metric = Metric::of("disk.used_pct", "/var", 91.0, Unit::Percent);
        assert_eq!(engine.evaluate(&metric).status, Status::Ok);
        let root = Metric::of("disk.used_pct", "/", 91.0, Unit::Percent);
        assert_eq!(engine.evaluate(&root).status, Status::Crit);
    }

    #[test]
    fn below_rules_track_the_lowest_peak() {
        let rule = Rule {
            metric: "disk.free_bytes".into(),
            instance: None,
            operator: Operator::Below,
            warn: Some(10.0),
            crit: Some(5.0),
            hold_for: Duration::ZERO,
        };
        let mut engine = RuleEngine::new(vec![rule]);
        let free = |v| vec![Metric::of("disk.free_bytes", "/", v, Unit::Bytes)];
        assert!(opened(&engine.observe(&free(8.0), at(0))).is_some());
        let changes = engine.observe(&free(3.0), at(1));
        assert!(
            matches!(&changes[0], Change::Updated(a) if a.peak == 3.0 && a.level == Status::Crit)
        );
    }

    #[test]
    fn bytes_are_formatted_with_three_significant_digits() {
        assert_eq!(format_bytes(0.0), "0 B");
        assert_eq!(format_bytes(1240.0), "1.21 KiB");
        assert_eq!(format_bytes(74.2 * 1024.0 * 1024.0 * 1024.0), "74.2 GiB");
    }
}
