//! Replay pacing: which log time is due at which wall time, and a [`Replay`] that feeds a
//! [`MonitorState`] from logs at that pace. The TUI drives it once per frame; headless replay
//! does not pace at all.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::merge::MergedReader;
use super::reader::{ReadOptions, ReadStats};
use super::{LogError, LoggedEvent};
use crate::monitor::{EventRef, MonitorState};
use crate::telemetry::{Key, StaticName, Value};

/// Playback speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Log time runs this many times as fast as wall time (1 = recorded pace).
    Factor(f64),
    /// As fast as possible.
    Max,
}

/// A `--speed` value that is neither `max` nor a positive number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid speed {0:?}: expected a positive number such as 2 or 0.5, or `max`")]
pub struct SpeedParseError(pub String);

impl FromStr for Speed {
    type Err = SpeedParseError;
    fn from_str(s: &str) -> Result<Speed, SpeedParseError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let t = t.strip_suffix(['x', 'X']).unwrap_or(t);
        match t.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
            _ => Err(SpeedParseError(s.to_owned())),
        }
    }
}

/// Maps wall time to log time: a speed factor, pause, and seek. Pure arithmetic on the
/// `Instant`s it is given, so it is testable without sleeping.
#[derive(Clone, Debug)]
pub struct ReplayClock {
    speed: Speed,
    paused: bool,
    /// Wall time and log time of the last (re)anchoring.
    anchor_wall: Instant,
    anchor_log_us: u64,
}

impl ReplayClock {
    /// Log time 0 at `now`.
    pub fn new(speed: Speed, now: Instant) -> ReplayClock {
        ReplayClock {
            speed,
            paused: false,
            anchor_wall: now,
            anchor_log_us: 0,
        }
    }

    pub fn speed(&self) -> Speed {
        self.speed
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The log time (µs) due at `now`: everything up to it should have been applied.
    /// `u64::MAX` at [`Speed::Max`] (unless paused).
    pub fn log_time(&self, now: Instant) -> u64 {
        if self.paused {
            return self.anchor_log_us;
        }
        match self.speed {
            Speed::Max => u64::MAX,
            Speed::Factor(f) => {
                let wall = now
                    .saturating_duration_since(self.anchor_wall)
                    .as_secs_f64();
                self.anchor_log_us
                    .saturating_add((wall * f * 1e6).min(u64::MAX as f64 / 2.0) as u64)
            }
        }
    }

    fn reanchor(&mut self, now: Instant, log_us: u64) {
        self.anchor_wall = now;
        self.anchor_log_us = log_us;
    }

    /// The position to re-anchor at: the due time, but never "infinity".
    fn position(&self, now: Instant, applied_us: u64) -> u64 {
        match self.log_time(now) {
            u64::MAX => applied_us,
            t => t,
        }
    }

    /// Changes the speed; the log time due now is unchanged. `applied_us` is the time of the
    /// last event applied (used when leaving [`Speed::Max`]).
    pub fn set_speed(&mut self, speed: Speed, now: Instant, applied_us: u64) {
        let pos = self.position(now, applied_us);
        self.reanchor(now, pos);
        self.speed = speed;
    }

    /// Freezes log time.
    pub fn pause(&mut self, now: Instant, applied_us: u64) {
        if !self.paused {
            let pos = self.position(now, applied_us);
            self.reanchor(now, pos);
            self.paused = true;
        }
    }

    /// Lets log time run again from where it was paused.
    pub fn resume(&mut self, now: Instant) {
        if self.paused {
            self.anchor_wall = now;
            self.paused = false;
        }
    }

    /// Pause or resume.
    pub fn toggle_pause(&mut self, now: Instant, applied_us: u64) {
        if self.paused {
            self.resume(now)
        } else {
            self.pause(now, applied_us)
        }
    }

    /// Makes `t_us` the log time due at `now`.
    pub fn seek(&mut self, t_us: u64, now: Instant) {
        self.reanchor(now, t_us);
    }

    /// How long after `now` an event at `next_t_us` is due (`None` while paused; zero when
    /// already due).
    pub fn until(&self, next_t_us: u64, now: Instant) -> Option<Duration> {
        if self.paused {
            return None;
        }
        match self.speed {
            Speed::Max => Some(Duration::ZERO),
            Speed::Factor(f) => {
                let due = self.log_time(now);
                if next_t_us <= due {
                    Some(Duration::ZERO)
                } else {
                    Some(Duration::from_secs_f64((next_t_us - due) as f64 / 1e6 / f))
                }
            }
        }
    }
}

/// What one [`Replay::advance`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Events applied by this call.
    pub applied: usize,
    /// Every event of every file has been applied.
    pub finished: bool,
    /// Log time of the last applied event.
    pub position_us: u64,
}

/// A replay of one or more logs into a [`MonitorState`], paced by a [`ReplayClock`].
#[derive(Debug)]
pub struct Replay {
    paths: Vec<PathBuf>,
    options: ReadOptions,
    reader: MergedReader,
    /// The next event, read ahead, when `has_peeked`.
    peeked: LoggedEvent,
    has_peeked: bool,
    finished: bool,
    position_us: u64,
    /// Apply each read warning to the state as a `[rookery, log, warning]` event.
    warning_events: bool,
    /// Read warnings applied so far.
    warnings_applied: u64,
    /// The end of the logs was told: [`LogError::Trailing`] once, if a file had it.
    end_told: bool,
    /// The pacing; the TUI changes speed, pauses and resumes through it.
    pub clock: ReplayClock,
    /// Thresholds for the state this replay first applies to (`--threshold`).
    thresholds: Option<crate::report::threshold::ThresholdSet>,
}

/// `[rookery, log, warning]`: a reader's warning (skipped line, truncated tail, clamped time,
/// names past the budget), metadata `log_level` = `warning` and `msg`, so the monitor lists it.
pub static LOG_WARNING: StaticName = StaticName::new(&["rookery", "log", "warning"]);

impl Replay {
    /// Opens the logs (headers are checked now) with log time 0 due at `now`.
    pub fn open(
        paths: &[PathBuf],
        options: ReadOptions,
        speed: Speed,
        now: Instant,
    ) -> Result<Replay, LogError> {
        Ok(Replay {
            paths: paths.to_vec(),
            options,
            reader: MergedReader::open(paths, options)?,
            peeked: LoggedEvent::placeholder(),
            has_peeked: false,
            finished: false,
            position_us: 0,
            warning_events: false,
            warnings_applied: 0,
            end_told: false,
            clock: ReplayClock::new(speed, now),
            thresholds: None,
        })
    }

    /// The state this replay first applies events to checks `thresholds` (kept across a
    /// backward seek).
    pub fn set_thresholds(&mut self, thresholds: crate::report::threshold::ThresholdSet) {
        self.thresholds = Some(thresholds);
    }

    /// The files replayed and how they are read (the monitor scans them once more, on a
    /// thread of its own, to learn the log's length).
    pub fn source(&self) -> (&[PathBuf], ReadOptions) {
        (&self.paths, self.options)
    }

    /// Also applies every read warning to the state, as a `[rookery, log, warning]` event at
    /// the position it was found (the TUI replay lists them with the other warnings; the
    /// headless replay prints them on stderr instead).
    pub fn with_warning_events(mut self) -> Replay {
        self.warning_events = true;
        self
    }

    fn apply_warnings(&mut self, state: &mut MonitorState) {
        if !self.warning_events || self.reader.warning_count() <= self.warnings_applied {
            return;
        }
        let stats = self.reader.stats();
        let kept = stats.warnings.len() as u64;
        for w in stats.warnings.iter().skip(self.warnings_applied as usize) {
            let md = [
                (Key::new_static("log_level"), Value::atom("warning")),
                (Key::new_static("msg"), Value::from(w.as_str())),
            ];
            let m = [(Key::new_static("warning"), Value::Int(1))];
            state.apply(&EventRef::new(
                self.position_us,
                &LOG_WARNING.get(),
                &m,
                &md,
            ));
        }
        let total = stats.warning_count();
        if total > kept.max(self.warnings_applied) {
            let md = [
                (Key::new_static("log_level"), Value::atom("warning")),
                (
                    Key::new_static("msg"),
                    Value::from(format!(
                        "... and {} more warnings",
                        total - kept.max(self.warnings_applied)
                    )),
                ),
            ];
            let m = [(Key::new_static("warning"), Value::Int(1))];
            state.apply(&EventRef::new(
                self.position_us,
                &LOG_WARNING.get(),
                &m,
                &md,
            ));
        }
        self.warnings_applied = total;
    }

    /// The merged reader (headers, `started_at`).
    pub fn reader(&self) -> &MergedReader {
        &self.reader
    }

    /// Warnings and counts of the reading so far.
    pub fn stats(&self) -> ReadStats {
        self.reader.stats()
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Log time of the last applied event.
    pub fn position_us(&self) -> u64 {
        self.position_us
    }

    /// Applies to `state` every event due at `now`, at most `budget` of them (so one frame
    /// stays short).
    pub fn advance(
        &mut self,
        state: &mut MonitorState,
        now: Instant,
        budget: usize,
    ) -> Result<ReplayProgress, LogError> {
        let due = self.clock.log_time(now);
        self.apply_until(state, due, budget)
    }

    fn apply_until(
        &mut self,
        state: &mut MonitorState,
        due: u64,
        budget: usize,
    ) -> Result<ReplayProgress, LogError> {
        if let Some(t) = self.thresholds.take()
            && state.thresholds().is_none()
        {
            state.set_thresholds(t);
        }
        let mut applied = 0;
        self.apply_warnings(state);
        while applied < budget && !self.finished {
            if !self.has_peeked {
                self.has_peeked = self.reader.next_into(&mut self.peeked)?;
                self.apply_warnings(state);
                if !self.has_peeked {
                    self.finished = true;
                    break;
                }
            }
            if self.peeked.t_us > due {
                break;
            }
            state.apply(&self.peeked.as_ref());
            self.position_us = self.peeked.t_us;
            self.has_peeked = false;
            applied += 1;
        }
        // Bad data after a `.gz` log's stream is told once every event was applied, as the
        // error a bad line is (the state keeps what was applied).
        if self.finished && !self.end_told {
            self.end_told = true;
            if let Some(t) = self.reader.trailing() {
                return Err(LogError::Trailing(t.clone()));
            }
        }
        Ok(ReplayProgress {
            applied,
            finished: self.finished,
            position_us: self.position_us,
        })
    }

    /// Time of the next event, if any is left (reads ahead one event).
    pub fn next_t_us(&mut self) -> Result<Option<u64>, LogError> {
        if !self.has_peeked && !self.finished {
            self.has_peeked = self.reader.next_into(&mut self.peeked)?;
            if !self.has_peeked {
                self.finished = true;
            }
        }
        Ok(self.has_peeked.then_some(self.peeked.t_us))
    }

    /// Jumps to log time `t_us`: forward by applying events as fast as possible, backward by
    /// resetting `state` and re-reading the files from the start. The clock is re-anchored so
    /// that `t_us` is due at `now`.
    pub fn seek(
        &mut self,
        t_us: u64,
        state: &mut MonitorState,
        now: Instant,
    ) -> Result<(), LogError> {
        if t_us < self.position_us {
            self.reader = MergedReader::open(&self.paths, self.options)?;
            self.has_peeked = false;
            self.finished = false;
            self.position_us = 0;
            self.warnings_applied = 0;
            self.end_told = false;
            state.reset();
        }
        self.apply_until(state, t_us, usize::MAX)?;
        self.clock.seek(t_us, now);
        Ok(())
    }

    /// Applies everything left, ignoring the clock (headless replay). On
    /// [`LogError::Trailing`] every event was applied all the same.
    pub fn run_to_end(&mut self, state: &mut MonitorState) -> Result<(), LogError> {
        self.apply_until(state, u64::MAX, usize::MAX).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parses() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("2".parse::<Speed>(), Ok(Speed::Factor(2.0)));
        assert_eq!("0.5x".parse::<Speed>(), Ok(Speed::Factor(0.5)));
        assert!("0".parse::<Speed>().is_err());
        assert!("-1".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
        assert!("inf".parse::<Speed>().is_err());
    }

    #[test]
    fn clock_scales_pauses_and_seeks() {
        let t0 = Instant::now();
        let mut c = ReplayClock::new(Speed::Factor(2.0), t0);
        let s1 = t0 + Duration::from_secs(1);
        assert_eq!(c.log_time(s1), 2_000_000);
        c.pause(s1, 0);
        assert_eq!(c.log_time(s1 + Duration::from_secs(5)), 2_000_000);
        assert_eq!(c.until(3_000_000, s1), None);
        let s6 = s1 + Duration::from_secs(5);
        c.resume(s6);
        assert_eq!(c.log_time(s6 + Duration::from_millis(500)), 3_000_000);
        assert_eq!(
            c.until(4_000_000, s6 + Duration::from_millis(500)),
            Some(Duration::from_millis(500))
        );
        c.seek(10_000_000, s6);
        assert_eq!(c.log_time(s6), 10_000_000);
        c.set_speed(Speed::Max, s6, 10_000_000);
        assert_eq!(c.log_time(s6), u64::MAX);
        c.set_speed(Speed::Factor(1.0), s6, 12_000_000);
        assert_eq!(c.log_time(s6 + Duration::from_secs(1)), 13_000_000);
    }
}
