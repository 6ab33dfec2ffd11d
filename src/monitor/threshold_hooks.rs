//! The state's side of thresholds: it holds a run's [`ThresholdSet`] so that windowed ones are
//! checked each time a second ends, in a live run and a replay alike (event time).

use super::MonitorState;
use super::span_window::RECENT_SECONDS;
use crate::report::threshold::{Threshold, ThresholdResult, ThresholdSet};

impl MonitorState {
    /// A fresh state that checks `thresholds`.
    pub fn with_thresholds(thresholds: ThresholdSet) -> MonitorState {
        let mut s = MonitorState::new();
        s.set_thresholds(thresholds);
        s
    }

    /// Checks `thresholds` from now on (replacing any; windows that already ended are not
    /// looked at again).
    pub fn set_thresholds(&mut self, thresholds: ThresholdSet) {
        self.thresholds = (!thresholds.is_empty()).then(|| Box::new(thresholds));
    }

    /// An empty state that keeps this one's thresholds, their windows' record cleared (a replay
    /// seeking backwards starts over).
    pub fn reset(&mut self) {
        let thresholds = self
            .thresholds
            .take()
            .map(|t| ThresholdSet::new(t.thresholds().cloned().collect()));
        *self = MonitorState::new();
        if let Some(t) = thresholds {
            self.set_thresholds(t);
        }
    }

    /// The thresholds checked, if any.
    pub fn thresholds(&self) -> Option<&ThresholdSet> {
        self.thresholds.as_deref()
    }

    /// Every threshold's outcome as of now (empty without thresholds).
    pub fn threshold_results(&self) -> Vec<ThresholdResult> {
        self.thresholds
            .as_deref()
            .map_or_else(Vec::new, |t| t.results(self))
    }

    /// The first windowed threshold that broke, and the last second of its window: what
    /// `--abort-on-fail` stops a run on.
    pub fn threshold_breach(&self) -> Option<(&Threshold, u64)> {
        self.thresholds.as_deref().and_then(|t| t.first_breach())
    }

    /// Second `sec` ended.
    pub(super) fn close_threshold_windows(&mut self, sec: u64) {
        if let Some(mut t) = self.thresholds.take() {
            t.close_second(self, sec, true);
            self.thresholds = Some(t);
        }
    }

    /// The idle seconds `from..=to` ended. Once a window lies wholly in them, every later
    /// one reads the same, so at most [`RECENT_SECONDS`] + 1 windows are checked.
    pub(super) fn close_idle_threshold_windows(&mut self, from: u64, to: u64) {
        if let Some(mut t) = self.thresholds.take() {
            for s in from..=to.min(from + RECENT_SECONDS) {
                t.close_second(self, s, true);
            }
            self.thresholds = Some(t);
        }
    }
}
