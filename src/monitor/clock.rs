//! How "now" moves for a live screen. [`MonitorState::apply`] takes time from events only, so
//! a replay is deterministic; a live monitor also calls [`MonitorState::tick`] with the wall
//! clock (microseconds since the run's start, as the feed measures it), so that rates,
//! sparklines and the elapsed time keep moving when no event arrives: a quiet or paused
//! throttle falls to 0 instead of freezing at its last figure.
//!
//! The state still reads no clock itself: the caller decides what "now" is, so a test can feed
//! synthetic ticks.

use super::MonitorState;

impl MonitorState {
    /// Moves the state's "now" forward to `now_us` without an event. Never moves it back (an
    /// earlier `now_us` is ignored), never counts an event, never touches the first event's
    /// time. Per-second windows read up to the new "now", so quiet seconds read as 0 (a
    /// counter) or keep their level (a gauge).
    pub fn tick(&mut self, now_us: u64) {
        if now_us > self.last_t_us {
            self.last_t_us = now_us;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::monitor::{EventRef, MonitorState};
    use crate::telemetry::{EventName, Key, Value};

    fn request(s: &mut MonitorState, t_us: u64) {
        let m = vec![(Key::new("count"), Value::Int(1))];
        let md = vec![(Key::new("name"), Value::from("t"))];
        s.apply(&EventRef {
            t_us,
            node: None,
            name: &EventName::new(&["amoc", "throttle", "request"]).expect("name"),
            measurements: &m,
            metadata: &md,
        });
    }

    #[test]
    fn ticks_move_now_forward_only_and_quiet_seconds_read_zero() {
        let mut s = MonitorState::new();
        for i in 0..10 {
            request(&mut s, 2_000_000 + i * 50_000);
        }
        let window =
            |s: &MonitorState, end, n| s.throttle("t").expect("throttle").request_window(end, n);
        assert_eq!(window(&s, 2, 1), vec![10]);
        s.tick(5_500_000);
        assert_eq!(s.last_t_us(), 5_500_000);
        assert_eq!(s.duration_s(), 5.5);
        assert_eq!(s.events(), 10, "a tick is not an event");
        assert_eq!(window(&s, 5, 4), vec![10, 0, 0, 0]);
        s.tick(1_000_000);
        assert_eq!(s.last_t_us(), 5_500_000, "never back");
        assert_eq!(s.first_t_us(), Some(2_000_000));
    }
}
