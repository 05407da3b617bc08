//! Rules that judge metrics: a metric, an operator, warn and crit limits and a duration the
//! condition must hold before an alert opens. Rules are data from the config; this module only
//! evaluates them.

pub mod rules;

pub use rules::{Change, Evaluation, Operator, PendingRecord, Rule, RuleEngine};
