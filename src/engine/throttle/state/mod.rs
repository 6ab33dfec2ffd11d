//! The pure scheduling core of one throttle: its state and rules. It reads no clock and needs
//! no runtime: every operation takes the instant `now`, hands released requests their
//! [`Grant`] through their (runtime-free) oneshot channel, and returns the events to emit as
//! [`Effects`], which the caller emits once its lock is released. `named.rs` wraps it in a
//! mutex and a scheduler task; the unit tests (`tests`) drive it with synthetic instants.
//!
//! **Paced** (`rate > 0`, `interval > 0`): releases happen at exact, evenly spaced instants
//! `anchor + ⌈k · interval / rate⌉` (k = 0, 1, …), computed in integer nanoseconds so nothing
//! drifts. A release never comes earlier than its instant, so no window of one interval holds
//! more than `rate` releases. Unused instants do not accumulate: a request that finds the queue
//! empty after the next instant has passed re-anchors the sequence at "now" (unless the
//! throttle catches up, below). On every change (a `change_rate`, a ramp step, a resume) the
//! sequence restarts at the new rate: the next instant becomes `max(now, last release's instant
//! + new period)`, so releases follow the new rate from the change on, in both directions.
//!
//! The instants alone bound the rate when the scheduler runs on time. A late wake-up (a loaded
//! machine) releases the instants that fell due together, which would put more than `rate`
//! into some window of one interval; so a paced throttle also remembers the actual times of its
//! last `rate` releases *since the last change* (for rates up to [`WINDOW_MAX`]) and lets a
//! release through only when the `rate`-th last one is at least one interval old. No window of
//! one interval that starts after a change then holds more than the new rate; a stall delays
//! releases instead of bunching them. The memory starts empty at each change: releases made at
//! an earlier rate do not count against the new one (counting them was issue 12's bug: after a
//! decrease they filled the new, smaller window, which held every release until they were one
//! interval old and then let them out at the pace the old ones aged, i.e. at the old rate).
//!
//! **Catch-up** (opt-in, [`ThrottleConfig::catch_up`], paced only): instants that came due
//! while nobody waited are owed rather than lost, up to `catch_up` of them (older ones are
//! dropped); a request that finds owed instants is released at once, its grant carrying the
//! owed instant as `scheduled` (so it is late). Owed instants are released as fast as requests
//! come, without the window rule; the total released over any span from the start stays
//! within the instants' count. A change keeps what is owed (with the instants it was owed
//! at); a change to rate 0, infinity or interval 0 drops it; a pause keeps it and owes nothing
//! while paused.
//!
//! **Parallel** (`interval = 0`): a request is released when fewer than `rate` counted permits
//! are out; returning a permit releases the next one.
//!
//! **Open** (`infinity`) releases everything; **Closed** (`rate 0`) holds everything.

//!
//! Modules: `effects` (grants and the events handed back), `pacing` (the evenly spaced
//! instants and the window), `catch_up` (owed instants), `ramp` (gradual changes); the unit
//! tests (`tests`) drive the core with synthetic instants.

mod catch_up;
mod effects;
mod pacing;
mod ramp;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::config::{Mode, ThrottleConfig};
use super::error::ThrottleError;
use crate::engine::events::LogLevel;

use catch_up::Owed;
pub(super) use effects::{Delivery, Effects, Fx, Grant, Report, Waiter};
use pacing::slot_time;
pub(super) use ramp::Ramp;

/// Largest rate whose release times are remembered for the strict window (8 bytes each).
pub const WINDOW_MAX: u64 = 1 << 20;

pub(super) struct State {
    pub config: ThrottleConfig,
    pub paused: bool,
    pub stopped: Option<ThrottleError>,
    pub queue: VecDeque<Waiter>,
    pub ramp: Option<Ramp>,
    /// Requests and releases that went through the lock (the lock-free path counts its own).
    pub requests: u64,
    pub executes: u64,
    /// Counted permits out, shared with the permits (which return their place without the
    /// lock) and with the lock-free path.
    in_flight: Arc<AtomicU64>,
    anchor: Instant,
    k: u64,
    next_slot: Option<Instant>,
    /// The instant (slot) of the last release, or of the last instant owed.
    last: Option<Instant>,
    /// Actual times (ns since `epoch`) of the last `rate` paced releases since the last change.
    window: VecDeque<u64>,
    epoch: Instant,
    owed: VecDeque<Owed>,
    owed_total: u64,
    warn_base: usize,
    next_warn: usize,
    idle_after: Duration,
    idle_check_at: Option<Instant>,
    idle_seen: u64,
    idle_reported: bool,
}

impl State {
    pub fn new(
        config: ThrottleConfig,
        now: Instant,
        in_flight: Arc<AtomicU64>,
        backlog_warning: usize,
        idle_after: Duration,
    ) -> State {
        let warn = backlog_warning.max(1);
        State {
            config,
            paused: false,
            stopped: None,
            queue: VecDeque::new(),
            ramp: None,
            requests: 0,
            executes: 0,
            in_flight,
            anchor: now,
            k: 0,
            next_slot: Some(now),
            last: None,
            window: VecDeque::new(),
            epoch: now,
            owed: VecDeque::new(),
            owed_total: 0,
            warn_base: warn,
            next_warn: warn,
            idle_after,
            idle_check_at: now.checked_add(idle_after),
            idle_seen: 0,
            idle_reported: false,
        }
    }

    /// What the events report about this throttle at `now`.
    pub fn report(&self, now: Instant) -> Report {
        Report {
            config: self.config,
            paused: self.paused,
            ramp: self.ramp.as_ref().map(|r| (r.plan.to, r.ends_in_ms(now))),
            overdue: (self.config.catch_up > 0).then_some(self.owed_total),
        }
    }

    fn releasing(&self) -> bool {
        !self.paused && self.stopped.is_none()
    }

    /// Lets a new request through at once if the queue is empty and the throttle allows it now.
    pub fn admit_now(&mut self, now: Instant, counted: bool) -> Option<Grant> {
        if !self.queue.is_empty() || !self.releasing() {
            return None;
        }
        let scheduled = match self.config.mode() {
            Mode::Closed => return None,
            Mode::Open => now,
            Mode::Parallel(r) => {
                if self.in_flight.load(Ordering::SeqCst) >= r {
                    return None;
                }
                now
            }
            Mode::Paced { .. } if self.config.catch_up > 0 => {
                self.accrue(now);
                let at = self.owed_front()?;
                self.pop_owed();
                at
            }
            Mode::Paced { rate, interval_ns } => {
                if self.next_slot? < now {
                    // Unused instants passed while nobody waited: do not hand them out now.
                    self.rebase(now);
                }
                if self.paced_gate(rate, interval_ns)? > now {
                    return None;
                }
                let slot = self.next_slot?;
                self.paced_release(now, slot, rate, interval_ns);
                slot
            }
        };
        if !matches!(self.config.mode(), Mode::Paced { .. }) {
            self.last = Some(now);
        }
        if counted {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
        }
        self.executes += 1;
        Some(Grant {
            scheduled,
            released: now,
            counted,
        })
    }

    /// Queues a request; warns when the queue keeps growing (at the warning size, then at each
    /// doubling).
    pub fn push(&mut self, w: Waiter, now: Instant, fx: &mut Effects) {
        if self.queue.is_empty() {
            fx.wake = true;
        }
        self.queue.push_back(w);
        if self.queue.len() >= self.next_warn {
            fx.items.push(Fx::Log {
                level: LogLevel::Warning,
                msg: "throttle queue keeps growing: requests arrive faster than the rate releases them",
                backlog: Some(self.queue.len()),
                report: self.report(now),
            });
            self.next_warn = self.next_warn.saturating_mul(2);
        }
    }

    /// Releases every queued request that the configuration allows at `now`.
    pub fn pump(&mut self, now: Instant, fx: &mut Effects) {
        if !self.releasing() {
            return;
        }
        match self.config.mode() {
            Mode::Closed => {}
            Mode::Open => {
                while let Some(w) = self.queue.pop_front() {
                    if self.deliver(w, now, now, fx) {
                        self.last = Some(now);
                    }
                }
            }
            Mode::Parallel(r) => {
                while !self.queue.is_empty() && self.in_flight.load(Ordering::SeqCst) < r {
                    if let Some(w) = self.queue.pop_front()
                        && self.deliver(w, now, now, fx)
                    {
                        self.last = Some(now);
                    }
                }
            }
            Mode::Paced { .. } if self.config.catch_up > 0 => {
                self.accrue(now);
                while let Some(at) = self.owed_front() {
                    let Some(w) = self.queue.pop_front() else {
                        break;
                    };
                    if self.deliver(w, at, now, fx) {
                        self.pop_owed();
                    }
                }
            }
            Mode::Paced { rate, interval_ns } => {
                if let Some(next) = self.next_slot
                    && now.saturating_duration_since(next)
                        > Duration::from_millis(self.config.interval_ms)
                {
                    // More than a whole interval late (a starved runtime): do not catch up.
                    self.rebase(now);
                }
                while let Some(gate) = self.paced_gate(rate, interval_ns) {
                    if gate > now {
                        break;
                    }
                    let (Some(w), Some(slot)) = (self.queue.pop_front(), self.next_slot) else {
                        break;
                    };
                    if self.deliver(w, slot, now, fx) {
                        self.paced_release(now, slot, rate, interval_ns);
                    }
                }
            }
        }
        if self.queue.is_empty() {
            self.next_warn = self.warn_base;
        }
    }

    /// Hands a grant to a waiter; `false` if it had given up (nothing is used then).
    fn deliver(&mut self, w: Waiter, scheduled: Instant, now: Instant, fx: &mut Effects) -> bool {
        if w.tx.is_closed() {
            return false;
        }
        if w.counted {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
        }
        let grant = Grant {
            scheduled,
            released: now,
            counted: w.counted,
        };
        if w.tx.send(Ok(grant)).is_err() {
            // The waiter left in between: its place was never handed out.
            if w.counted {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            return false;
        }
        self.executes += 1;
        fx.execute();
        true
    }

    /// `cfg` with this throttle's catch-up setting when `cfg` sets none (a rate change keeps
    /// the open model the throttle was started with).
    pub fn keep_catch_up(&self, mut cfg: ThrottleConfig) -> ThrottleConfig {
        if cfg.catch_up == 0 {
            cfg.catch_up = self.config.catch_up;
        }
        cfg
    }

    /// Sets a configuration; emits the rate event if it changed (or always, for a ramp step).
    pub fn apply_config(
        &mut self,
        cfg: ThrottleConfig,
        now: Instant,
        fx: &mut Effects,
        always_emit: bool,
    ) -> bool {
        let cfg = self.keep_catch_up(cfg);
        let changed = cfg != self.config;
        if changed {
            // What came due under the old configuration stays owed.
            self.accrue(now);
            self.config = cfg;
            if !self.catching_up() {
                self.drop_owed();
            }
            self.reanchor(now);
        }
        if changed || always_emit {
            fx.items.push(Fx::Rate(self.report(now)));
        }
        self.pump(now, fx);
        fx.wake = true;
        changed
    }

    pub fn pause(&mut self, now: Instant, fx: &mut Effects) -> bool {
        if self.paused {
            return false;
        }
        self.accrue(now);
        self.paused = true;
        fx.items.push(Fx::Rate(self.report(now)));
        true
    }

    pub fn resume(&mut self, now: Instant, fx: &mut Effects) -> bool {
        if !self.paused {
            return false;
        }
        self.paused = false;
        self.reanchor(now);
        fx.items.push(Fx::Rate(self.report(now)));
        self.pump(now, fx);
        fx.wake = true;
        true
    }

    /// Fails every queued request with `err` and stops the throttle for good.
    pub fn stop(&mut self, err: ThrottleError, fx: &mut Effects) {
        self.stopped = Some(err.clone());
        self.ramp = None;
        self.drop_owed();
        for w in self.queue.drain(..) {
            let _ = w.tx.send(Err(err.clone()));
        }
        fx.wake = true;
    }

    /// Emits the idle debug event once per idle stretch; `total` counts every request so far.
    pub fn check_idle(&mut self, now: Instant, total: u64, fx: &mut Effects) {
        let Some(at) = self.idle_check_at else { return };
        if at > now {
            return;
        }
        if total == self.idle_seen && self.queue.is_empty() {
            if !self.idle_reported {
                self.idle_reported = true;
                fx.log(LogLevel::Debug, "throttle is idle", self.report(now));
            }
        } else {
            self.idle_reported = false;
        }
        self.idle_seen = total;
        self.idle_check_at = now.checked_add(self.idle_after);
    }

    /// When the scheduler must look again, if nothing else happens.
    pub fn deadline(&self) -> Option<Instant> {
        let mut d = self.idle_check_at;
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        if self.releasing()
            && !self.queue.is_empty()
            && let Mode::Paced { rate, interval_ns } = self.config.mode()
        {
            if self.config.catch_up > 0 {
                earliest(self.next_slot);
            } else {
                earliest(self.paced_gate(rate, interval_ns));
            }
        }
        earliest(self.ramp.as_ref().and_then(|r| r.next_at));
        d
    }
}

#[cfg(test)]
mod tests;
