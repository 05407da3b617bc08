//! `[containers]`: whether the console watches Docker (the containers pane, its rules and
//! actions) and how often CPU and memory are refreshed.

use std::time::Duration;

use serde::Deserialize;

use super::DurationValue;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainersConfig {
    /// On by default: without Docker the pane says so and nothing else changes.
    pub enabled: bool,
    pub interval: DurationValue,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig {
            enabled: true,
            interval: DurationValue(crate::core::containers::docker::INTERVAL),
        }
    }
}

impl ContainersConfig {
    /// The refresh interval when enabled (at least a second).
    pub fn watch(&self) -> Option<Duration> {
        self.enabled
            .then(|| self.interval.0.max(Duration::from_secs(1)))
    }
}
