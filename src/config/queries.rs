//! `[queries]` (how the slow-query pane refreshes) and `[[database]]` (the databases it watches).

use std::time::Duration;

use serde::Deserialize;

use super::DurationValue;
use crate::core::queries::{QuerySettings, StatementSort};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueriesConfig {
    pub interval: DurationValue,
    pub top: usize,
    /// Statements slower than this on average are highlighted (the guides: 1000 ms).
    pub slow_mean_ms: f64,
    pub long_query_after: DurationValue,
    pub statement_timeout: DurationValue,
}

impl Default for QueriesConfig {
    fn default() -> Self {
        QueriesConfig {
            interval: DurationValue(Duration::from_secs(5)),
            top: 20,
            slow_mean_ms: 1000.0,
            long_query_after: DurationValue(Duration::from_secs(30)),
            statement_timeout: DurationValue(Duration::from_secs(5)),
        }
    }
}

impl QueriesConfig {
    pub fn settings(&self) -> QuerySettings {
        QuerySettings {
            top: self.top.max(1),
            sort: StatementSort::MeanTime,
            slow_mean_ms: self.slow_mean_ms,
            long_query_after: self.long_query_after.0,
            statement_timeout: self.statement_timeout.0.max(Duration::from_millis(100)),
        }
    }
}

/// `[[database]] name = "app" url = "postgres://…"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub name: String,
    pub url: String,
}
