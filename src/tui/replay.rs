//! The on-screen replay: an [`eventlog::Replay`](crate::eventlog::Replay) driven as the loop's
//! [`Feed`](super::run::Feed), with the replay keys (pause, seek, speed) mapped onto its clock.

use std::time::{Duration, Instant};

use crate::eventlog::{Replay, Speed};
use crate::monitor::MonitorState;

use super::app::ReplayCtl;

/// Slowest and fastest factors the speed keys reach (one more step up is `max`).
const MIN_FACTOR: f64 = 0.125;
const MAX_FACTOR: f64 = 64.0;
/// Events applied per frame at most (keeps frames short at `max` speed on huge logs).
pub const MAX_PER_FRAME: usize = 250_000;

/// A replay as the monitor plays it.
pub struct ReplayFeed {
    replay: Replay,
    error: Option<String>,
}

impl ReplayFeed {
    pub fn new(replay: Replay) -> ReplayFeed {
        ReplayFeed {
            replay,
            error: None,
        }
    }

    /// The reading error that stopped the replay, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// True once every event was applied (or reading failed).
    pub fn finished(&self) -> bool {
        self.replay.is_finished() || self.error.is_some()
    }

    /// The replay inside.
    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    /// Applies the events due now.
    pub fn pump_at(&mut self, state: &mut MonitorState, now: Instant) -> usize {
        if self.finished() {
            return 0;
        }
        match self.replay.advance(state, now, MAX_PER_FRAME) {
            Ok(p) => p.applied,
            Err(e) => {
                self.error = Some(e.to_string());
                0
            }
        }
    }

    /// Applies a replay key at wall time `now`. Seeking back re-reads the logs from the start.
    pub fn control_at(
        &mut self,
        ctl: ReplayCtl,
        state: &mut MonitorState,
        now: Instant,
    ) -> Result<(), String> {
        let applied = self.replay.position_us();
        let clock = &mut self.replay.clock;
        match ctl {
            ReplayCtl::TogglePause => clock.toggle_pause(now, applied),
            ReplayCtl::SpeedUp => {
                let speed = match clock.speed() {
                    Speed::Factor(f) if f * 2.0 > MAX_FACTOR => Speed::Max,
                    Speed::Factor(f) => Speed::Factor(f * 2.0),
                    Speed::Max => Speed::Max,
                };
                clock.set_speed(speed, now, applied);
            }
            ReplayCtl::SpeedDown => {
                let speed = match clock.speed() {
                    Speed::Factor(f) => Speed::Factor((f / 2.0).max(MIN_FACTOR)),
                    Speed::Max => Speed::Factor(MAX_FACTOR),
                };
                clock.set_speed(speed, now, applied);
            }
            ReplayCtl::Seek(secs) => {
                let here = match clock.speed() {
                    Speed::Max => applied,
                    Speed::Factor(_) => clock.log_time(now).max(applied),
                };
                let delta = secs.unsigned_abs() * 1_000_000;
                let target = if secs >= 0 {
                    here.saturating_add(delta)
                } else {
                    here.saturating_sub(delta)
                };
                let dropped = state.dropped();
                self.replay
                    .seek(target, state, now)
                    .map_err(|e| e.to_string())?;
                state.set_dropped(dropped);
                self.error = None;
            }
        }
        Ok(())
    }

    /// The status-bar mode text: `REPLAY 2x`, `REPLAY 1/4x paused`, `REPLAY max`, `REPLAY end`.
    pub fn status(&self) -> String {
        if let Some(e) = &self.error {
            return format!("REPLAY error: {e}");
        }
        if self.replay.is_finished() {
            return "REPLAY end".to_owned();
        }
        let speed = match self.replay.clock.speed() {
            Speed::Max => "max".to_owned(),
            Speed::Factor(f) if f >= 1.0 => format!("{f}x"),
            Speed::Factor(f) => format!("1/{}x", (1.0 / f).round()),
        };
        if self.replay.clock.is_paused() {
            format!("REPLAY {speed} paused")
        } else {
            format!("REPLAY {speed}")
        }
    }
}

impl super::run::Feed for ReplayFeed {
    fn pump(&mut self, state: &mut MonitorState, _wall: Duration) -> usize {
        self.pump_at(state, Instant::now())
    }
    fn control(&mut self, ctl: ReplayCtl, state: &mut MonitorState) -> Result<(), String> {
        self.control_at(ctl, state, Instant::now())
    }
    fn status(&self) -> Option<String> {
        Some(ReplayFeed::status(self))
    }
}
