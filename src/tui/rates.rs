//! Events per second per event name, from event time (never the wall clock): the app keeps a
//! few snapshots of the counts, one per second of event time, and divides the differences.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::monitor::MonitorState;
use crate::telemetry::EventName;

/// Seconds of event time the rates are averaged over.
pub const WINDOW_S: u64 = 5;

#[derive(Clone, Debug, Default)]
pub struct EventRates {
    /// (event second, counts by event-name id), oldest first.
    snaps: VecDeque<(u64, FxHashMap<u32, u64>)>,
}

impl EventRates {
    /// Takes a snapshot when the state's event time entered a new second.
    pub fn observe(&mut self, state: &MonitorState) {
        let sec = state.last_t_us() / 1_000_000;
        if state.events() == 0 || self.snaps.back().is_some_and(|(s, _)| *s >= sec) {
            return;
        }
        let counts: FxHashMap<u32, u64> = state
            .counts()
            .into_iter()
            .map(|(name, n)| (name.id(), n))
            .collect();
        self.snaps.push_back((sec, counts));
        while self.snaps.len() > WINDOW_S as usize + 1 {
            self.snaps.pop_front();
        }
    }

    /// Forgets all snapshots (a replay seeked backwards).
    pub fn reset(&mut self) {
        self.snaps.clear();
    }

    /// Rate of `name` given its current `count`: over the snapshot window when there is one,
    /// else the average over the whole run.
    pub fn rate(&self, state: &MonitorState, name: &EventName, count: u64) -> f64 {
        let now_s = state.last_t_us() as f64 / 1e6;
        match self.snaps.front() {
            Some((sec, old)) if (*sec as f64) < now_s && self.snaps.len() > 1 => {
                let then = old.get(&name.id()).copied().unwrap_or(0);
                count.saturating_sub(then) as f64 / (now_s - *sec as f64)
            }
            _ => count as f64 / now_s.max(1.0),
        }
    }
}

/// The second of event time the screen is at: the latest event's.
pub fn now_sec(state: &MonitorState) -> u64 {
    state.last_t_us() / 1_000_000
}

/// Seconds of per-second values the rate columns need: the window plus the filling second.
pub const RATE_SPAN: usize = WINDOW_S as usize + 1;

/// The recent per-second rate from `window`, the [`RATE_SPAN`] seconds ending at `now_sec`
/// (oldest first, as `Series::window` gives them): the mean of the complete seconds (all but
/// the newest, which is still filling), never counting seconds before the run began; at the
/// very start, the filling second alone. A series that went quiet decays to 0.
pub fn recent_rate(window: &[u64], now_sec: u64) -> f64 {
    let Some((&filling, before)) = window.split_last() else {
        return 0.0;
    };
    let complete = (now_sec as usize).min(before.len());
    if complete == 0 {
        return filling as f64;
    }
    let slice = &before[before.len() - complete..];
    slice.iter().sum::<u64>() as f64 / complete as f64
}

#[cfg(test)]
mod tests {
    use super::recent_rate;

    #[test]
    fn recent_rate_skips_the_filling_second_and_the_time_before_the_run() {
        assert_eq!(recent_rate(&[], 9), 0.0);
        assert_eq!(recent_rate(&[0, 0, 0, 0, 0, 7], 0), 7.0);
        assert_eq!(recent_rate(&[0, 0, 0, 10, 20, 1], 2), 15.0);
        assert_eq!(recent_rate(&[1, 2, 3, 4, 5, 0], 60), 3.0);
        assert_eq!(recent_rate(&[0, 0, 0, 0, 0, 0], 60), 0.0, "went quiet");
    }
}
