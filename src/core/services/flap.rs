//! Flap control, as in Gatus: a service is shown down only after N consecutive failures, and up
//! again only after M consecutive successes.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Not checked yet.
    Unknown,
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flap {
    pub state: ServiceState,
    failures: u32,
    successes: u32,
}

impl Flap {
    pub fn new() -> Flap {
        Flap {
            state: ServiceState::Unknown,
            failures: 0,
            successes: 0,
        }
    }

    /// Records one result and returns the (possibly new) state.
    pub fn record(&mut self, ok: bool, down_after: u32, up_after: u32) -> ServiceState {
        if ok {
            self.successes += 1;
            self.failures = 0;
            let needed = if self.state == ServiceState::Down {
                up_after.max(1)
            } else {
                1
            };
            if self.successes >= needed {
                self.state = ServiceState::Up;
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= down_after.max(1) {
                self.state = ServiceState::Down;
            }
        }
        self.state
    }
}

impl Default for Flap {
    fn default() -> Self {
        Flap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_three_failures_and_up_after_two_successes() {
        let mut flap = Flap::new();
        assert_eq!(flap.record(true, 3, 2), ServiceState::Up);
        assert_eq!(flap.record(false, 3, 2), ServiceState::Up);
        assert_eq!(flap.record(false, 3, 2), ServiceState::Up);
        assert_eq!(flap.record(false, 3, 2), ServiceState::Down);
        assert_eq!(flap.record(true, 3, 2), ServiceState::Down);
        assert_eq!(flap.record(false, 3, 2), ServiceState::Down);
        assert_eq!(flap.record(true, 3, 2), ServiceState::Down);
        assert_eq!(flap.record(true, 3, 2), ServiceState::Up);
    }

    #[test]
    fn a_first_failure_before_any_success_stays_unknown_until_the_limit() {
        let mut flap = Flap::new();
        assert_eq!(flap.record(false, 3, 2), ServiceState::Unknown);
        assert_eq!(flap.record(false, 3, 2), ServiceState::Unknown);
        assert_eq!(flap.record(false, 3, 2), ServiceState::Down);
    }
}
