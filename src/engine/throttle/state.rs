//! One throttle's mutable state and its scheduling rules, run under the throttle's lock.
//!
//! **Paced** (`rate > 0`, `interval > 0`): releases happen at exact, evenly spaced instants
//! `anchor + ⌈k · interval / rate⌉` (k = 0, 1, …), computed in integer nanoseconds so nothing
//! drifts. A release never comes earlier than its instant, so no window of one interval holds
//! more than `rate` releases. Unused instants do not accumulate: a request that finds the queue
//! empty after the next instant has passed re-anchors the sequence at "now". On every change of
//! configuration (a `change_rate`, a ramp step, a resume) the next instant becomes
//! `max(now, last release + new period)`, so a raised rate takes effect at once and a ramp keeps
//! releasing through its steps.
//!
//! The instants alone bound the rate when the scheduler runs on time. A late wake-up (a loaded
//! machine) releases the instants that fell due together, which would put more than `rate`
//! into some window of one interval; so a paced throttle also remembers its last `rate` release
//! times (for rates up to [`WINDOW_MAX`]) and lets a release through only when the `rate`-th
//! last one is at least one interval old. No window of one interval, measured on actual release
//! times, then holds more than `rate`; a stall delays releases instead of bunching them. The
//! window survives changes: after lowering a rate, releases wait until the last interval holds
//! fewer than the new rate (releases made at `infinity` or interval 0 are not recorded).
//!
//! **Parallel** (`interval = 0`): a request is released when fewer than `rate` counted permits
//! are out; returning a permit releases the next one.
//!
//! **Open** (`infinity`) releases everything; **Closed** (`rate 0`) holds everything.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use smallvec::SmallVec;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::config::{Mode, Rate, ThrottleConfig};
use super::error::ThrottleError;
use super::gradual::GradualPlan;
use super::named::Throttle;
use super::permit::{Delivery, ThrottlePermit};
use crate::engine::events::LogLevel;

/// Largest rate whose release times are remembered for the strict window (8 bytes each).
pub const WINDOW_MAX: u64 = 1 << 20;

/// Events to emit once the lock is released, in order.
#[derive(Default)]
pub(super) struct Effects {
    pub items: SmallVec<[Fx; 4]>,
    /// Whether the scheduler task must look at the state again.
    pub wake: bool,
}

pub(super) enum Fx {
    Request,
    Execute(u64),
    Rate(ThrottleConfig),
    Log {
        level: LogLevel,
        msg: &'static str,
        backlog: Option<usize>,
        config: ThrottleConfig,
    },
}

impl Effects {
    fn execute(&mut self) {
        if let Some(Fx::Execute(n)) = self.items.last_mut() {
            *n += 1;
        } else {
            self.items.push(Fx::Execute(1));
        }
    }

    pub fn log(&mut self, level: LogLevel, msg: &'static str, st: &State) {
        self.items.push(Fx::Log {
            level,
            msg,
            backlog: None,
            config: st.config,
        });
    }
}

/// A queued request.
pub(super) struct Waiter {
    pub tx: oneshot::Sender<Delivery>,
    /// Holds a parallelism place until its permit drops (`run`, `acquire`, `send`).
    pub counted: bool,
}

/// A gradual change in progress.
pub(super) struct Ramp {
    pub plan: GradualPlan,
    /// Index of the rate in force.
    pub idx: u64,
    started: Instant,
    /// When rate `idx + 1` applies.
    pub next_at: Option<Instant>,
}

impl Ramp {
    fn step_time(&self, i: u64) -> Option<Instant> {
        let ms = self.plan.step_interval_ms.checked_mul(i)?;
        self.started.checked_add(Duration::from_millis(ms))
    }
}

pub(super) struct State {
    pub config: ThrottleConfig,
    pub paused: bool,
    pub stopped: Option<ThrottleError>,
    pub queue: VecDeque<Waiter>,
    pub ramp: Option<Ramp>,
    /// Requests and releases that went through the lock (the lock-free path counts its own).
    pub requests: u64,
    pub executes: u64,
    anchor: Instant,
    k: u64,
    next_slot: Option<Instant>,
    last: Option<Instant>,
    /// Actual times (ns since `epoch`) of the last `rate` paced releases.
    window: VecDeque<u64>,
    epoch: Instant,
    warn_base: usize,
    next_warn: usize,
    idle_after: Duration,
    idle_check_at: Option<Instant>,
    idle_seen: u64,
    idle_reported: bool,
}

/// `at + ⌈k · interval / rate⌉`, or `None` if it lies beyond any representable instant.
fn slot_time(at: Instant, k: u64, rate: u64, interval_ns: u128) -> Option<Instant> {
    let off = u128::from(k)
        .checked_mul(interval_ns)?
        .div_ceil(u128::from(rate));
    at.checked_add(Duration::from_nanos(u64::try_from(off).ok()?))
}

impl State {
    pub fn new(
        config: ThrottleConfig,
        now: Instant,
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
            anchor: now,
            k: 0,
            next_slot: Some(now),
            last: None,
            window: VecDeque::new(),
            epoch: now,
            warn_base: warn,
            next_warn: warn,
            idle_after,
            idle_check_at: now.checked_add(idle_after),
            idle_seen: 0,
            idle_reported: false,
        }
    }

    fn rebase(&mut self, at: Instant) {
        self.anchor = at;
        self.k = 0;
        self.next_slot = Some(at);
    }

    /// Re-anchors a paced sequence after a change: next release at `max(now, last + period)`.
    fn reanchor(&mut self, now: Instant) {
        if let Mode::Paced { rate, interval_ns } = self.config.mode() {
            let base = self
                .last
                .and_then(|l| slot_time(l, 1, rate, interval_ns))
                .map_or(now, |t| t.max(now));
            self.rebase(base);
        }
    }

    /// The earliest instant at which a paced release may happen: the next evenly spaced
    /// instant, and not before the `rate`-th last release is one interval old.
    fn paced_gate(&self, rate: u64, interval_ns: u128) -> Option<Instant> {
        let slot = self.next_slot?;
        if rate > WINDOW_MAX || (self.window.len() as u64) < rate {
            return Some(slot);
        }
        let front = u128::from(*self.window.front()?);
        let at = u64::try_from(front + interval_ns).ok()?;
        Some(slot.max(self.epoch.checked_add(Duration::from_nanos(at))?))
    }

    /// Books a paced release made at `now` for the instant `slot`.
    fn paced_release(&mut self, now: Instant, slot: Instant, rate: u64, interval_ns: u128) {
        self.last = Some(slot);
        self.k += 1;
        self.next_slot = slot_time(self.anchor, self.k, rate, interval_ns);
        if rate <= WINDOW_MAX {
            let ns = u64::try_from(now.duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
            self.window.push_back(ns);
            while self.window.len() as u64 > rate {
                self.window.pop_front();
            }
        }
    }

    fn releasing(&self) -> bool {
        !self.paused && self.stopped.is_none()
    }

    /// Lets a new request through at once if the queue is empty and the throttle allows it now.
    pub fn admit_now(
        &mut self,
        this: &Arc<Throttle>,
        now: Instant,
        counted: bool,
    ) -> Option<ThrottlePermit> {
        if !self.queue.is_empty() || !self.releasing() {
            return None;
        }
        match self.config.mode() {
            Mode::Closed => return None,
            Mode::Open => self.last = Some(now),
            Mode::Parallel(r) => {
                if this.in_flight.load(Ordering::SeqCst) >= r {
                    return None;
                }
                self.last = Some(now);
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
            }
        }
        self.executes += 1;
        Some(permit_for(this, counted, now))
    }

    /// Queues a request; warns when the queue keeps growing (at the warning size, then at each
    /// doubling).
    pub fn push(&mut self, w: Waiter, fx: &mut Effects) {
        if self.queue.is_empty() {
            fx.wake = true;
        }
        self.queue.push_back(w);
        if self.queue.len() >= self.next_warn {
            fx.items.push(Fx::Log {
                level: LogLevel::Warning,
                msg: "throttle queue keeps growing: requests arrive faster than the rate releases them",
                backlog: Some(self.queue.len()),
                config: self.config,
            });
            self.next_warn = self.next_warn.saturating_mul(2);
        }
    }

    /// Releases every queued request that the configuration allows at `now`.
    pub fn pump(&mut self, this: &Arc<Throttle>, now: Instant, fx: &mut Effects) {
        if !self.releasing() {
            return;
        }
        match self.config.mode() {
            Mode::Closed => {}
            Mode::Open => {
                while let Some(w) = self.queue.pop_front() {
                    if self.deliver(this, w, now, fx) {
                        self.last = Some(now);
                    }
                }
            }
            Mode::Parallel(r) => {
                while !self.queue.is_empty() && this.in_flight.load(Ordering::SeqCst) < r {
                    if let Some(w) = self.queue.pop_front()
                        && self.deliver(this, w, now, fx)
                    {
                        self.last = Some(now);
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
                    let Some(w) = self.queue.pop_front() else {
                        break;
                    };
                    if self.deliver(this, w, now, fx)
                        && let Some(slot) = self.next_slot
                    {
                        self.paced_release(now, slot, rate, interval_ns);
                    }
                }
            }
        }
        if self.queue.is_empty() {
            self.next_warn = self.warn_base;
        }
    }

    /// Hands a permit to a waiter; `false` if it had given up (nothing is used then).
    fn deliver(&mut self, this: &Arc<Throttle>, w: Waiter, now: Instant, fx: &mut Effects) -> bool {
        if w.tx.is_closed() {
            return false;
        }
        let permit = permit_for(this, w.counted, now);
        match w.tx.send(Ok(permit)) {
            Ok(()) => {
                self.executes += 1;
                fx.execute();
                true
            }
            Err(back) => {
                // The waiter left in between. Undo the count here: dropping the permit would
                // take this lock again.
                if let Ok(p) = back
                    && p.disarm().is_some()
                {
                    this.in_flight.fetch_sub(1, Ordering::SeqCst);
                }
                false
            }
        }
    }

    /// Sets a configuration; emits the rate event if it changed (or always, for a ramp step).
    pub fn apply_config(
        &mut self,
        this: &Arc<Throttle>,
        cfg: ThrottleConfig,
        now: Instant,
        fx: &mut Effects,
        always_emit: bool,
    ) -> bool {
        let changed = cfg != self.config;
        if changed {
            self.config = cfg;
            if let Rate::Finite(r) = cfg.rate {
                while self.window.len() as u64 > r {
                    self.window.pop_front();
                }
            }
            self.reanchor(now);
        }
        if changed || always_emit {
            fx.items.push(Fx::Rate(cfg));
        }
        self.pump(this, now, fx);
        this.sync_flags(self);
        fx.wake = true;
        changed
    }

    pub fn start_ramp(
        &mut self,
        this: &Arc<Throttle>,
        plan: GradualPlan,
        now: Instant,
        fx: &mut Effects,
    ) {
        let first = ThrottleConfig::new(Rate::Finite(plan.from), plan.interval_ms);
        let mut ramp = Ramp {
            plan,
            idx: 0,
            started: now,
            next_at: None,
        };
        ramp.next_at = ramp.step_time(1);
        self.ramp = Some(ramp);
        self.apply_config(this, first, now, fx, true);
    }

    /// Applies every ramp step that is due.
    pub fn advance_ramp(&mut self, this: &Arc<Throttle>, now: Instant, fx: &mut Effects) {
        loop {
            let Some(r) = self.ramp.as_mut() else { return };
            match r.next_at {
                Some(at) if at <= now => {}
                _ => return,
            }
            r.idx += 1;
            let idx = r.idx;
            let plan = r.plan;
            let done = idx >= plan.steps;
            r.next_at = if done { None } else { r.step_time(idx + 1) };
            let rate = plan.rate_at(idx).unwrap_or(plan.to);
            let cfg = ThrottleConfig::new(Rate::Finite(rate), plan.interval_ms);
            self.apply_config(this, cfg, now, fx, true);
            if done {
                self.ramp = None;
                fx.log(LogLevel::Info, "gradual rate change finished", self);
            }
        }
    }

    pub fn pause(&mut self, this: &Arc<Throttle>) -> bool {
        if self.paused {
            return false;
        }
        self.paused = true;
        this.sync_flags(self);
        true
    }

    pub fn resume(&mut self, this: &Arc<Throttle>, now: Instant, fx: &mut Effects) -> bool {
        if !self.paused {
            return false;
        }
        self.paused = false;
        self.reanchor(now);
        self.pump(this, now, fx);
        this.sync_flags(self);
        fx.wake = true;
        true
    }

    /// Fails every queued request with `err` and stops the throttle for good.
    pub fn stop(&mut self, this: &Arc<Throttle>, err: ThrottleError, fx: &mut Effects) {
        self.stopped = Some(err.clone());
        self.ramp = None;
        for w in self.queue.drain(..) {
            let _ = w.tx.send(Err(err.clone()));
        }
        this.sync_flags(self);
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
                fx.log(LogLevel::Debug, "throttle is idle", self);
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
            earliest(self.paced_gate(rate, interval_ns));
        }
        earliest(self.ramp.as_ref().and_then(|r| r.next_at));
        d
    }
}

fn permit_for(this: &Arc<Throttle>, counted: bool, now: Instant) -> ThrottlePermit {
    if counted {
        this.in_flight.fetch_add(1, Ordering::SeqCst);
        ThrottlePermit::counted(this.clone(), Some(now))
    } else {
        ThrottlePermit::uncounted(Some(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_times_are_exact_and_never_drift() {
        let t0 = Instant::now();
        let ns = |k, rate, interval_ms: u64| {
            slot_time(t0, k, rate, u128::from(interval_ms) * 1_000_000)
                .map(|t| t.duration_since(t0).as_nanos())
        };
        // 7 per second: ⌈k · 10^9 / 7⌉ ns; after 7 million releases exactly 10^6 s.
        assert_eq!(ns(1, 7, 1000), Some(142_857_143));
        assert_eq!(ns(7_000_000, 7, 1000), Some(1_000_000 * 1_000_000_000));
        // 200,000 per second: 5 µs apart.
        assert_eq!(ns(3, 200_000, 1000), Some(15_000));
        // Beyond any representable instant: never, not a panic.
        assert_eq!(ns(u64::MAX, 1, u64::MAX), None);
    }
}
