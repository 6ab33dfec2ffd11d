//! The on-screen replay: an [`eventlog::Replay`](crate::eventlog::Replay) driven as the loop's
//! [`Feed`](super::run::Feed), with the replay keys (pause, seek, speed) mapped onto its clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rookery_widgets::fmt::elapsed;

use crate::eventlog::{LOG_WARNING, LogError, MergedReader, ReadOptions, Replay, Speed};
use crate::monitor::EventRef;
use crate::monitor::LoggedEvent;
use crate::monitor::MonitorState;
use crate::telemetry::{Key, Value};

use super::app::ReplayCtl;

/// Slowest and fastest factors the speed keys reach (one more step up is `max`).
const MIN_FACTOR: f64 = 0.125;
const MAX_FACTOR: f64 = 64.0;
/// Events applied per frame at most (keeps frames short at `max` speed on huge logs).
pub const MAX_PER_FRAME: usize = 250_000;

/// The log's length, learnt by reading it once more on a thread of its own (so the first
/// frame does not wait for a big log).
struct Length {
    /// Log time of the last event, once known (`u64::MAX` until then).
    end_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const UNKNOWN: u64 = u64::MAX;

impl Length {
    fn scan(replay: &Replay) -> Length {
        let (paths, _) = replay.source();
        let paths = paths.to_vec();
        let end_us = Arc::new(AtomicU64::new(UNKNOWN));
        let stop = Arc::new(AtomicBool::new(false));
        let (end, halt) = (end_us.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("rookery-replay-length".into())
            .spawn(move || {
                // Bad lines do not matter for the length; the replay itself reports them.
                let opts = ReadOptions {
                    skip_bad_lines: true,
                };
                let Ok(mut reader) = MergedReader::open(&paths, opts) else {
                    return;
                };
                let mut ev = LoggedEvent::placeholder();
                let mut last = 0;
                let mut n = 0u64;
                while let Ok(true) = reader.next_into(&mut ev) {
                    last = ev.t_us;
                    n += 1;
                    if n.is_multiple_of(65_536) && halt.load(Ordering::Relaxed) {
                        return;
                    }
                }
                end.store(last, Ordering::Release);
            })
            .ok();
        Length {
            end_us,
            stop,
            thread,
        }
    }

    fn get(&self) -> Option<u64> {
        match self.end_us.load(Ordering::Acquire) {
            UNKNOWN => None,
            t => Some(t),
        }
    }
}

impl Drop for Length {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A replay as the monitor plays it.
pub struct ReplayFeed {
    replay: Replay,
    error: Option<String>,
    length: Length,
}

impl ReplayFeed {
    pub fn new(replay: Replay) -> ReplayFeed {
        let length = Length::scan(&replay);
        ReplayFeed {
            replay,
            error: None,
            length,
        }
    }

    /// The log's length (time of its last event), once the scan has read it.
    pub fn total_us(&self) -> Option<u64> {
        self.length.get()
    }

    /// Waits for the length scan to end (tests; the monitor never waits).
    pub fn wait_for_total(&mut self) -> Option<u64> {
        if let Some(t) = self.length.thread.take() {
            let _ = t.join();
        }
        self.total_us()
    }

    /// `0:32/1:40`: the replay's position and the log's length (`?` until known).
    pub fn position(&self) -> String {
        let total = self
            .total_us()
            .map_or_else(|| "?".to_owned(), |t| elapsed(t as f64 / 1e6));
        format!(
            "{}/{total}",
            elapsed(self.replay.position_us() as f64 / 1e6)
        )
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
                // The status bar has room for `REPLAY error` only: the reason goes to the log
                // pane, as an error line, where it can be read whole.
                let msg = match &e {
                    LogError::Trailing(_) => format!(
                        "every event was replayed, then bad input: {e} (--skip-bad-lines \
                         counts it as a bad line)"
                    ),
                    _ => format!(
                        "the replay stopped: {e} (--skip-bad-lines counts bad lines and goes on)"
                    ),
                };
                let md = [
                    (Key::new_static("log_level"), Value::atom("error")),
                    (Key::new_static("msg"), Value::from(msg.as_str())),
                ];
                let m = [(Key::new_static("error"), Value::Int(1))];
                let at = self.replay.position_us();
                state.apply(&EventRef::new(at, &LOG_WARNING.get(), &m, &md));
                self.error = Some(e.to_string());
                1
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
        let ended = self.replay.is_finished();
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
                // Once every event was applied the clock runs on past the end: seek from the
                // last event, or ← pressed a while after the end would seek past it again.
                let here = match clock.speed() {
                    Speed::Max => applied,
                    _ if ended => applied,
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
        if self.error.is_some() {
            return "REPLAY error (see the log pane)".to_owned();
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
        Some(format!("{} {}", ReplayFeed::status(self), self.position()))
    }
}
