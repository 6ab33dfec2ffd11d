//! Replay pacing and controls over any source of recorded events: the event-log reader
//! implements [`ReplaySource`]; [`VecSource`] serves tests and small fixtures.

use std::time::Duration;

use crate::monitor::{LoggedEvent, MonitorState};

use super::app::ReplayCtl;

/// Recorded events in time order.
pub trait ReplaySource: Send {
    /// The next event, `None` at the end, or an error naming the file and line.
    fn next_event(&mut self) -> Option<Result<LoggedEvent, String>>;
    /// Starts again from the first event (seeking backwards replays from the start).
    fn rewind(&mut self) -> Result<(), String>;
}

/// Events held in memory.
#[derive(Clone, Debug, Default)]
pub struct VecSource {
    events: Vec<LoggedEvent>,
    pos: usize,
}

impl VecSource {
    pub fn new(events: Vec<LoggedEvent>) -> VecSource {
        VecSource { events, pos: 0 }
    }
}

impl ReplaySource for VecSource {
    fn next_event(&mut self) -> Option<Result<LoggedEvent, String>> {
        let ev = self.events.get(self.pos)?.clone();
        self.pos += 1;
        Some(Ok(ev))
    }

    fn rewind(&mut self) -> Result<(), String> {
        self.pos = 0;
        Ok(())
    }
}

/// Playback speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Event time runs this many times faster than wall time.
    Factor(f64),
    /// As fast as the monitor can apply events.
    Max,
}

impl Speed {
    /// Parses `--speed`: a positive factor or `max`.
    pub fn parse(s: &str) -> Result<Speed, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(format!("bad speed `{s}`: a positive number or `max`")),
        }
    }
}

/// Slowest and fastest factors the speed keys reach.
const MIN_FACTOR: f64 = 0.125;
const MAX_FACTOR: f64 = 64.0;
/// Events applied per frame at `max` speed (keeps frames short on huge logs).
pub const MAX_PER_FRAME: usize = 250_000;

/// Plays a source into a state at a speed, with pause and seek.
pub struct ReplayDriver<S: ReplaySource> {
    source: S,
    peeked: Option<LoggedEvent>,
    /// The replay clock: events up to this time are applied.
    pos_us: u64,
    speed: Speed,
    paused: bool,
    done: bool,
    error: Option<String>,
}

impl<S: ReplaySource> ReplayDriver<S> {
    pub fn new(source: S, speed: Speed) -> Self {
        ReplayDriver {
            source,
            peeked: None,
            pos_us: 0,
            speed,
            paused: false,
            done: false,
            error: None,
        }
    }

    /// The replay clock in µs.
    pub fn position_us(&self) -> u64 {
        self.pos_us
    }

    /// True once every event was applied (or reading failed).
    pub fn finished(&self) -> bool {
        self.done
    }

    /// The reading error that stopped the replay, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The status-bar mode text.
    pub fn status(&self) -> String {
        let speed = match self.speed {
            Speed::Max => "max".to_owned(),
            Speed::Factor(f) if f >= 1.0 => format!("{f}x"),
            Speed::Factor(f) => format!("1/{}x", (1.0 / f).round()),
        };
        match (self.done, self.paused) {
            (true, _) if self.error.is_some() => "REPLAY error".to_owned(),
            (true, _) => "REPLAY end".to_owned(),
            (false, true) => format!("REPLAY {speed} paused"),
            (false, false) => format!("REPLAY {speed}"),
        }
    }

    fn next(&mut self) -> Option<LoggedEvent> {
        if let Some(ev) = self.peeked.take() {
            return Some(ev);
        }
        match self.source.next_event() {
            Some(Ok(ev)) => Some(ev),
            Some(Err(e)) => {
                self.error = Some(e);
                self.done = true;
                None
            }
            None => {
                self.done = true;
                None
            }
        }
    }

    /// Applies events up to the clock, at most `budget` of them.
    fn apply_until(&mut self, state: &mut MonitorState, until_us: u64, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(ev) = self.next() else { break };
            if ev.t_us > until_us {
                self.peeked = Some(ev);
                break;
            }
            state.apply(&ev.as_ref());
            n += 1;
        }
        n
    }

    /// Advances the clock by `wall` (scaled by the speed) unless paused, and applies the events
    /// it passed. Returns how many were applied.
    pub fn pump(&mut self, state: &mut MonitorState, wall: Duration) -> usize {
        if self.done {
            return 0;
        }
        if self.paused {
            // A seek while paused still shows its target.
            return self.apply_until(state, self.pos_us, MAX_PER_FRAME);
        }
        match self.speed {
            Speed::Factor(f) => {
                let step = (wall.as_secs_f64() * f * 1e6) as u64;
                self.pos_us = self.pos_us.saturating_add(step);
                self.apply_until(state, self.pos_us, MAX_PER_FRAME)
            }
            Speed::Max => {
                let n = self.apply_until(state, u64::MAX, MAX_PER_FRAME);
                self.pos_us = self.pos_us.max(state.last_t_us());
                n
            }
        }
    }

    /// Applies a replay key. Seeking back rebuilds `state` from the start of the source.
    pub fn control(&mut self, ctl: ReplayCtl, state: &mut MonitorState) -> Result<(), String> {
        match ctl {
            ReplayCtl::TogglePause => self.paused = !self.paused,
            ReplayCtl::SpeedUp => {
                self.speed = match self.speed {
                    Speed::Factor(f) if f * 2.0 > MAX_FACTOR => Speed::Max,
                    Speed::Factor(f) => Speed::Factor(f * 2.0),
                    Speed::Max => Speed::Max,
                }
            }
            ReplayCtl::SpeedDown => {
                self.speed = match self.speed {
                    Speed::Factor(f) => Speed::Factor((f / 2.0).max(MIN_FACTOR)),
                    Speed::Max => Speed::Factor(MAX_FACTOR),
                }
            }
            ReplayCtl::Seek(s) if s >= 0 => {
                self.pos_us = self
                    .pos_us
                    .max(state.last_t_us())
                    .saturating_add(s as u64 * 1_000_000);
                self.apply_until(state, self.pos_us, usize::MAX);
            }
            ReplayCtl::Seek(s) => {
                let target = self
                    .pos_us
                    .min(state.last_t_us().max(self.pos_us))
                    .saturating_sub(s.unsigned_abs() * 1_000_000);
                self.source.rewind()?;
                self.peeked = None;
                self.done = false;
                self.error = None;
                let dropped = state.dropped();
                *state = MonitorState::new();
                state.set_dropped(dropped);
                self.pos_us = target;
                self.apply_until(state, target, usize::MAX);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{EventName, Key, Value};

    fn events(n: u64, every_ms: u64) -> Vec<LoggedEvent> {
        (0..n)
            .map(|i| LoggedEvent {
                t_us: i * every_ms * 1000,
                node: Some(Key::new("n1")),
                name: EventName::new(&["test", "tick"]).expect("name"),
                measurements: vec![(Key::new("count"), Value::Int(1))],
                metadata: vec![],
            })
            .collect()
    }

    #[test]
    fn paces_by_speed_and_pauses() {
        let mut d = ReplayDriver::new(VecSource::new(events(100, 100)), Speed::Factor(2.0));
        let mut s = MonitorState::new();
        assert_eq!(d.pump(&mut s, Duration::from_millis(500)), 11); // 0..=1000 ms
        d.control(ReplayCtl::TogglePause, &mut s).expect("pause");
        assert_eq!(d.pump(&mut s, Duration::from_secs(5)), 0);
        assert_eq!(d.status(), "REPLAY 2x paused");
        d.control(ReplayCtl::TogglePause, &mut s).expect("resume");
        d.control(ReplayCtl::SpeedDown, &mut s).expect("slower");
        assert_eq!(d.pump(&mut s, Duration::from_millis(500)), 5);
        assert_eq!(s.events(), 16);
    }

    #[test]
    fn seeks_both_ways_and_ends() {
        let mut d = ReplayDriver::new(VecSource::new(events(300, 100)), Speed::Factor(1.0));
        let mut s = MonitorState::new();
        d.pump(&mut s, Duration::from_secs(1));
        d.control(ReplayCtl::Seek(10), &mut s).expect("forward");
        assert_eq!(s.events(), 111, "events up to 11 s");
        d.control(ReplayCtl::Seek(-5), &mut s).expect("back");
        assert_eq!(s.events(), 61, "rebuilt up to 6 s");
        d.control(ReplayCtl::SpeedUp, &mut s).expect("faster");
        d.pump(&mut s, Duration::from_secs(60));
        assert!(d.finished());
        assert_eq!(s.events(), 300);
        assert_eq!(d.status(), "REPLAY end");
    }

    #[test]
    fn max_speed_and_parse() {
        let mut d = ReplayDriver::new(VecSource::new(events(50, 1000)), Speed::Max);
        let mut s = MonitorState::new();
        assert_eq!(d.pump(&mut s, Duration::ZERO), 50);
        assert_eq!(Speed::parse("max"), Ok(Speed::Max));
        assert_eq!(Speed::parse("0.5"), Ok(Speed::Factor(0.5)));
        assert!(Speed::parse("-1").is_err());
        assert!(Speed::parse("fast").is_err());
    }
}
