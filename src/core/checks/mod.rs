//! Rules that judge metrics: a metric, an operator, warn and crit limits and a duration the
//! condition must hold before an alert opens. Rules are data from the config; `rules` evaluates
//! them and `judge` applies them to collected samples.

pub mod judge;
pub mod rules;

pub use judge::{Judge, Verdict};
pub use rules::{
    Change, Evaluation, Operator, PendingRecord, Rule, RuleEngine, levels_by_instance,
};
