//! What [`info`](super::Throttles::info) and [`list`](super::Throttles::list) report, for the
//! monitor and for tests.

use smol_str::SmolStr;

use super::config::{Rate, ThrottleConfig};

/// A snapshot of one throttle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleInfo {
    pub name: SmolStr,
    /// The rate in force (during a ramp: the current step's).
    pub rate: Rate,
    pub interval_ms: u64,
    /// The catch-up bound ([`ThrottleConfig::catch_up`]); 0 = Amoc's model.
    pub catch_up: u64,
    pub paused: bool,
    /// The gradual change in progress, if any.
    pub ramp: Option<RampInfo>,
    /// Requests waiting in the queue (the backlog), not counting withdrawn ones.
    pub backlog: usize,
    /// Instants that came due while nobody waited and are owed to the next requests
    /// (catch-up throttles; 0 otherwise).
    pub overdue: u64,
    /// Counted permits out (`run`, `acquire`, `send` not yet finished).
    pub in_flight: u64,
    /// Requests received and released since the start.
    pub requests: u64,
    pub executes: u64,
}

impl ThrottleInfo {
    /// Whether a gradual change is running.
    pub fn ramping(&self) -> bool {
        self.ramp.is_some()
    }

    /// The configuration in force.
    pub fn config(&self) -> ThrottleConfig {
        ThrottleConfig::new(self.rate, self.interval_ms).catch_up(self.catch_up)
    }
}

/// Progress of a gradual change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RampInfo {
    /// Index of the rate in force (0 = `from`).
    pub step: u64,
    pub steps: u64,
    pub from: u64,
    pub to: u64,
    pub step_interval_ms: u64,
    /// Time until the last step applies, in ms.
    pub ends_in_ms: u64,
}
