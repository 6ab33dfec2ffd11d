//! The pure scheduling core of one throttle: its state and rules. It reads no clock and needs
//! no runtime: every operation takes the instant `now`, hands released requests their
//! [`Grant`] through their (runtime-free) oneshot channel, and returns the events to emit as
//! [`Effects`], which the caller emits once its lock is released. `named.rs` wraps it in a
//! mutex and a scheduler task; the unit tests below drive it with synthetic instants.
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

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smallvec::SmallVec;
use tokio::sync::oneshot;

use super::config::{Mode, Rate, ThrottleConfig};
use super::error::ThrottleError;
use super::gradual::GradualPlan;
use crate::engine::events::LogLevel;

/// Largest rate whose release times are remembered for the strict window (8 bytes each).
pub const WINDOW_MAX: u64 = 1 << 20;

/// What a released request receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grant {
    /// The instant the release was due (its slot), before any lateness.
    pub scheduled: Instant,
    /// The instant the throttle released it.
    pub released: Instant,
    /// Whether it holds a parallelism place (counted in `in_flight`) until its permit drops.
    pub counted: bool,
}

/// What a queued request's channel carries.
pub(super) type Delivery = Result<Grant, ThrottleError>;

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
    Rate(Report),
    Log {
        level: LogLevel,
        msg: &'static str,
        backlog: Option<usize>,
        report: Report,
    },
}

/// The throttle's state as its events report it (the metadata keys of `rate` and `process`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Report {
    pub config: ThrottleConfig,
    pub paused: bool,
    /// The running ramp's target rate and the time until its last step, in ms.
    pub ramp: Option<(u64, u64)>,
    /// Instants owed to the next requests (catch-up throttles only).
    pub overdue: Option<u64>,
}

impl Effects {
    fn execute(&mut self) {
        if let Some(Fx::Execute(n)) = self.items.last_mut() {
            *n += 1;
        } else {
            self.items.push(Fx::Execute(1));
        }
    }

    pub fn log(&mut self, level: LogLevel, msg: &'static str, report: Report) {
        self.items.push(Fx::Log {
            level,
            msg,
            backlog: None,
            report,
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

    /// Time until the last step, in ms (saturating).
    pub fn ends_in_ms(&self, now: Instant) -> u64 {
        self.step_time(self.plan.steps).map_or(u64::MAX, |end| {
            u64::try_from(end.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
        })
    }
}

/// Owed instants `anchor + ⌈k · interval / rate⌉` for `k` in `from..to` (catch-up).
#[derive(Clone, Copy)]
struct Owed {
    anchor: Instant,
    rate: u64,
    interval_ns: u128,
    from: u64,
    to: u64,
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

    fn rebase(&mut self, at: Instant) {
        self.anchor = at;
        self.k = 0;
        self.next_slot = Some(at);
    }

    /// Restarts the paced sequence after a change: next release at `max(now, last + period)`,
    /// with an empty window (releases made before the change do not count against the new
    /// rate).
    fn reanchor(&mut self, now: Instant) {
        self.window.clear();
        if let Mode::Paced { rate, interval_ns } = self.config.mode() {
            let base = self
                .last
                .and_then(|l| slot_time(l, 1, rate, interval_ns))
                .map_or(now, |t| t.max(now));
            self.rebase(base);
        }
    }

    fn catching_up(&self) -> bool {
        self.config.catch_up > 0 && matches!(self.config.mode(), Mode::Paced { .. })
    }

    /// Catch-up: every instant due by `now` becomes owed (at most `catch_up` are kept).
    fn accrue(&mut self, now: Instant) {
        let Mode::Paced { rate, interval_ns } = self.config.mode() else {
            return;
        };
        if self.config.catch_up == 0 || !self.releasing() {
            return;
        }
        match self.next_slot {
            Some(next) if next <= now => {}
            _ => return,
        }
        // The last due index: ⌈j · I / r⌉ ≤ x  ⇔  j ≤ ⌊x · r / I⌋.
        let x = now.duration_since(self.anchor).as_nanos();
        let Some(j) = x
            .checked_mul(u128::from(rate))
            .map(|v| v / interval_ns)
            .and_then(|j| u64::try_from(j).ok())
        else {
            return;
        };
        if j < self.k {
            return;
        }
        let cap = self.config.catch_up;
        let to = j.saturating_add(1);
        let from = self.k.max(to.saturating_sub(cap));
        match self.owed.back_mut() {
            Some(b) if b.anchor == self.anchor && b.rate == rate && b.to == from => b.to = to,
            _ => self.owed.push_back(Owed {
                anchor: self.anchor,
                rate,
                interval_ns,
                from,
                to,
            }),
        }
        self.owed_total = self.owed_total.saturating_add(to - from);
        self.last = slot_time(self.anchor, j, rate, interval_ns);
        self.k = to;
        self.next_slot = slot_time(self.anchor, self.k, rate, interval_ns);
        while self.owed_total > cap {
            let Some(front) = self.owed.front_mut() else {
                break;
            };
            let drop = (self.owed_total - cap).min(front.to - front.from);
            front.from += drop;
            self.owed_total -= drop;
            if front.from == front.to {
                self.owed.pop_front();
            }
        }
    }

    /// The oldest owed instant.
    fn owed_front(&self) -> Option<Instant> {
        let o = self.owed.front()?;
        slot_time(o.anchor, o.from, o.rate, o.interval_ns)
    }

    fn pop_owed(&mut self) {
        if let Some(front) = self.owed.front_mut() {
            front.from += 1;
            self.owed_total -= 1;
            if front.from >= front.to {
                self.owed.pop_front();
            }
        }
    }

    fn drop_owed(&mut self) {
        self.owed.clear();
        self.owed_total = 0;
    }

    /// Instants owed to the next requests at `now` (catch-up throttles; 0 otherwise).
    pub fn overdue(&mut self, now: Instant) -> u64 {
        self.accrue(now);
        self.owed_total
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

    /// Starts a ramp; a running one is replaced, and returned.
    pub fn start_ramp(
        &mut self,
        plan: GradualPlan,
        now: Instant,
        fx: &mut Effects,
    ) -> Option<Ramp> {
        let first = ThrottleConfig::new(Rate::Finite(plan.from), plan.interval_ms);
        let mut ramp = Ramp {
            plan,
            idx: 0,
            started: now,
            next_at: None,
        };
        ramp.next_at = ramp.step_time(1);
        let old = self.ramp.replace(ramp);
        self.apply_config(first, now, fx, true);
        old
    }

    /// Applies every ramp step that is due.
    pub fn advance_ramp(&mut self, now: Instant, fx: &mut Effects) {
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
            if done {
                self.ramp = None;
            }
            self.apply_config(cfg, now, fx, true);
            if done {
                fx.log(
                    LogLevel::Info,
                    "gradual rate change finished",
                    self.report(now),
                );
            }
        }
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
mod tests {
    //! The core against synthetic instants: no runtime, no clock, no sleeping.

    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn per_second(rate: u64) -> ThrottleConfig {
        ThrottleConfig::new(Rate::Finite(rate), 1000)
    }

    /// A state with `users` requests always queued, driven by hand.
    struct Sim {
        st: State,
        t0: Instant,
        now: Instant,
        waiting: Vec<oneshot::Receiver<Delivery>>,
        got: Vec<Grant>,
        rates: Vec<(Instant, Report)>,
    }

    impl Sim {
        fn new(cfg: ThrottleConfig) -> Sim {
            let t0 = Instant::now();
            Sim {
                st: State::new(cfg, t0, Arc::default(), 1 << 30, Duration::from_secs(3600)),
                t0,
                now: t0,
                waiting: Vec::new(),
                got: Vec::new(),
                rates: Vec::new(),
            }
        }

        fn request(&mut self) {
            if let Some(g) = self.st.admit_now(self.now, false) {
                self.record(g);
                return;
            }
            let (tx, rx) = oneshot::channel();
            let mut fx = Effects::default();
            self.st
                .push(Waiter { tx, counted: false }, self.now, &mut fx);
            self.waiting.push(rx);
        }

        fn record(&mut self, g: Grant) {
            self.got.push(g);
        }

        fn collect(&mut self, fx: Effects) {
            for item in fx.items {
                if let Fx::Rate(r) = item {
                    self.rates.push((self.now, r));
                }
            }
            let mut still = Vec::new();
            for mut rx in std::mem::take(&mut self.waiting) {
                match rx.try_recv() {
                    Ok(Ok(g)) => self.record(g),
                    Ok(Err(e)) => panic!("unexpected {e}"),
                    Err(_) => still.push(rx),
                }
            }
            self.waiting = still;
        }

        /// Whether requests pass at once (`infinity`, running): users then stop re-requesting.
        fn open(&self) -> bool {
            self.st.config.rate == Rate::Infinity && self.st.releasing()
        }

        /// Runs the scheduler's loop until `until` (ms since `t0`), keeping `users` queued
        /// (except at `infinity`, where they would never stop).
        fn run(&mut self, users: usize, until: u64) {
            let end = self.t0 + ms(until);
            loop {
                while self.waiting.len() < users && !self.open() {
                    self.request();
                }
                let mut fx = Effects::default();
                self.st.advance_ramp(self.now, &mut fx);
                self.st.pump(self.now, &mut fx);
                self.collect(fx);
                if self.waiting.len() < users && !self.open() {
                    continue;
                }
                match self.st.deadline() {
                    Some(d) if d < end => self.now = d.max(self.now),
                    _ => break,
                }
            }
            self.now = end;
        }

        fn at(&mut self, t: u64, f: impl FnOnce(&mut State, Instant, &mut Effects)) {
            self.now = self.t0 + ms(t);
            let mut fx = Effects::default();
            f(&mut self.st, self.now, &mut fx);
            self.collect(fx);
        }

        fn released_from(&self, t: u128) -> Vec<u128> {
            self.got
                .iter()
                .map(|g| g.released.duration_since(self.t0).as_millis())
                .filter(|r| *r >= t)
                .collect()
        }
    }

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

    #[test]
    fn a_decrease_follows_the_new_rate_from_the_change_on() {
        let mut s = Sim::new(per_second(100));
        s.run(5, 995);
        s.at(995, |st, now, fx| {
            st.apply_config(per_second(50), now, fx, false);
        });
        s.run(5, 3000);
        let want: Vec<u128> = (0..100).map(|i| 1010 + 20 * i).collect();
        assert_eq!(s.released_from(995), want);
        assert_eq!(s.rates.len(), 1);
    }

    #[test]
    fn an_increase_and_a_resume_restart_from_the_last_release() {
        let mut s = Sim::new(per_second(2));
        s.run(3, 1200);
        // Releases at 0, 500, 1000; at 1200, 10/s: the next at 1000 + 100 → now (1200).
        s.at(1200, |st, now, fx| {
            st.apply_config(per_second(10), now, fx, false);
        });
        s.run(3, 1450);
        assert_eq!(s.released_from(0), [0, 500, 1000, 1200, 1300, 1400]);
        s.at(1450, |st, now, fx| {
            st.pause(now, fx);
        });
        s.run(3, 5000);
        assert_eq!(
            s.released_from(1450),
            [] as [u128; 0],
            "nothing while paused"
        );
        s.at(5000, |st, now, fx| {
            st.resume(now, fx);
        });
        s.run(3, 5250);
        assert_eq!(s.released_from(1450), [5000, 5100, 5200]);
        let paused: Vec<bool> = s.rates.iter().map(|r| r.1.paused).collect();
        assert_eq!(paused, [false, true, false]);
    }

    #[test]
    fn a_late_scheduler_never_puts_more_than_the_rate_in_an_interval() {
        let mut s = Sim::new(per_second(10));
        s.run(20, 1000);
        // The scheduler wakes 450 ms late: slots 1000..1400 fell due together.
        s.now = s.t0 + ms(1450);
        s.run(20, 3000);
        let rel = s.released_from(0);
        for (i, r) in rel.iter().enumerate() {
            let n = rel[i..].iter().take_while(|x| **x < r + 1000).count();
            assert!(n <= 10, "window from {r} ms holds {n}: {rel:?}");
        }
        // The slots that fell due (1000..=1400) go at once, as the window allows, then on time.
        assert_eq!(&rel[10..17], [1450, 1450, 1450, 1450, 1450, 1500, 1600]);
    }

    #[test]
    fn a_ramp_replaced_and_a_decreasing_ramp_step() {
        let mut s = Sim::new(per_second(100));
        s.run(5, 500);
        let plan = GradualPlan {
            from: 100,
            to: 10,
            steps: 3,
            interval_ms: 1000,
            step_interval_ms: 1000,
        };
        s.at(500, |st, now, fx| {
            assert!(st.start_ramp(plan, now, fx).is_none());
        });
        assert_eq!(s.rates.last().map(|r| r.1.ramp), Some(Some((10, 3000))));
        s.run(5, 1700);
        // The step to 70/s at 1500 ms: the next release one new period (14.29 ms) after the
        // last (1490), and so on.
        let after: Vec<u128> = s.released_from(1490);
        assert_eq!(&after[..4], [1490, 1504, 1518, 1532]);
        let replaced = s.at_ramp(1700, plan);
        assert_eq!(replaced.map(|r| r.idx), Some(1));
    }

    impl Sim {
        fn at_ramp(&mut self, t: u64, plan: GradualPlan) -> Option<Ramp> {
            let mut out = None;
            self.at(t, |st, now, fx| out = st.start_ramp(plan, now, fx));
            out
        }
    }

    #[test]
    fn catch_up_owes_what_came_due_and_drops_beyond_its_bound() {
        let mut s = Sim::new(per_second(10).catch_up(4));
        s.run(0, 1000);
        let now = s.now;
        assert_eq!(s.st.overdue(now), 4);
        s.request();
        s.request();
        let got: Vec<_> = s
            .got
            .iter()
            .map(|g| (g.released - s.t0, g.scheduled - s.t0))
            .collect();
        assert_eq!(got, [(ms(1000), ms(700)), (ms(1000), ms(800))]);
        assert_eq!(s.st.report(now).overdue, Some(2));
        // Rate 0 holds, and owes nothing.
        s.at(1000, |st, now, fx| {
            st.apply_config(per_second(0), now, fx, false);
        });
        assert_eq!(s.st.overdue(now + ms(5000)), 0);
    }

    #[test]
    fn counted_grants_hold_a_parallel_place_until_returned() {
        let in_flight = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let mut st = State::new(
            ThrottleConfig::new(Rate::Finite(2), 0),
            t0,
            in_flight.clone(),
            100,
            Duration::from_secs(60),
        );
        assert!(st.admit_now(t0, true).is_some());
        assert!(st.admit_now(t0, true).is_some());
        assert_eq!(st.admit_now(t0, true), None);
        let (tx, mut rx) = oneshot::channel();
        let mut fx = Effects::default();
        st.push(Waiter { tx, counted: true }, t0, &mut fx);
        st.pump(t0, &mut fx);
        assert!(rx.try_recv().is_err(), "both places are taken");
        in_flight.fetch_sub(1, Ordering::SeqCst);
        st.pump(t0 + ms(3), &mut fx);
        let g = rx.try_recv().ok().and_then(Result::ok);
        assert_eq!(g.map(|g| (g.counted, g.released)), Some((true, t0 + ms(3))));
        assert_eq!(in_flight.load(Ordering::SeqCst), 2);
    }

    #[derive(Clone, Copy, Debug)]
    enum Change {
        /// Per second.
        Rate(u64),
        Infinity,
        Pause,
        Resume,
        /// From the rate in force (or 100 at infinity) to `to` per second.
        Ramp {
            to: u64,
            steps: u64,
            step_ms: u64,
        },
        Cancel,
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Expect {
        Paced(u64),
        Nothing,
        AtOnce,
    }

    fn expect(r: &Report) -> Expect {
        match (r.paused, r.config.rate) {
            (true, _) | (false, Rate::Finite(0)) => Expect::Nothing,
            (false, Rate::Infinity) => Expect::AtOnce,
            (false, Rate::Finite(n)) => Expect::Paced(n),
        }
    }

    fn apply(st: &mut State, c: Change, now: Instant, fx: &mut Effects) {
        match c {
            Change::Rate(r) => {
                st.ramp = None;
                st.apply_config(per_second(r), now, fx, false);
            }
            Change::Infinity => {
                st.ramp = None;
                let cfg = ThrottleConfig::new(Rate::Infinity, 1000);
                st.apply_config(cfg, now, fx, false);
            }
            Change::Pause => {
                st.pause(now, fx);
            }
            Change::Resume => {
                st.resume(now, fx);
            }
            Change::Ramp { to, steps, step_ms } => {
                let from = match st.config.rate {
                    Rate::Finite(r) => r,
                    Rate::Infinity => 100,
                };
                let plan = GradualPlan {
                    from,
                    to,
                    steps,
                    interval_ms: 1000,
                    step_interval_ms: step_ms,
                };
                st.start_ramp(plan, now, fx);
            }
            Change::Cancel => {
                if st.ramp.take().is_some() {
                    fx.items.push(Fx::Rate(st.report(now)));
                }
            }
        }
    }

    /// Checks one stretch `[from, to)` of a paced rate: exact instants, released on time.
    fn check_paced(rate: u64, from: Instant, to: Instant, rel: &[Grant]) -> Result<(), String> {
        let second = 1_000_000_000u128;
        let (lo, hi) = (second / u128::from(rate), second.div_ceil(u128::from(rate)));
        let mut prev = from;
        for (i, g) in rel.iter().enumerate() {
            if g.released != g.scheduled {
                return Err(format!("release {i} is late: {g:?}"));
            }
            let gap = g.scheduled.saturating_duration_since(prev).as_nanos();
            if g.scheduled < from || gap > hi || (i > 0 && gap < lo) {
                return Err(format!(
                    "gap of {gap} ns before release {i} (not {lo}..={hi})"
                ));
            }
            prev = g.scheduled;
            let n = rel[i..]
                .iter()
                .take_while(|x| x.released < g.released + Duration::from_secs(1))
                .count();
            if n as u64 > rate {
                return Err(format!("{n} in the second from release {i}"));
            }
        }
        if to.duration_since(prev).as_nanos() > hi {
            return Err(format!(
                "nothing for {:?} before the stretch ends",
                to - prev
            ));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Issue 12 item 1 on the pure core, ramps included (their steps are changes too):
        /// from every change on, releases come exactly at the new rate's instants.
        #[test]
        fn every_change_and_ramp_step_restarts_the_schedule_exactly(
            start in 1u64..=400,
            changes in prop::collection::vec(
                (
                    prop_oneof![
                        4 => (0u64..=400).prop_map(Change::Rate),
                        1 => Just(Change::Infinity),
                        1 => Just(Change::Pause),
                        1 => Just(Change::Resume),
                        3 => (0u64..=400, 1u64..=12, 10u64..=400)
                            .prop_map(|(to, steps, step_ms)| Change::Ramp { to, steps, step_ms }),
                        1 => Just(Change::Cancel),
                    ],
                    1u64..=1500,
                ),
                1..8,
            ),
        ) {
            let users = 4;
            let mut s = Sim::new(per_second(start));
            let start_report = s.st.report(s.t0);
            s.rates.push((s.t0, start_report));
            let mut at = 0;
            for (c, gap) in &changes {
                at += gap;
                s.run(users, at);
                s.at(at, |st, now, fx| apply(st, *c, now, fx));
            }
            at += 2000;
            s.run(users, at);
            let end = s.now;
            // Stretches between the reports that changed what is expected.
            let mut stretches: Vec<(Instant, Expect)> = Vec::new();
            for (t, r) in &s.rates {
                let e = expect(r);
                if stretches.last().map(|x| x.1) != Some(e) {
                    stretches.push((*t, e));
                }
            }
            stretches.push((end, Expect::Nothing));
            for w in stretches.windows(2) {
                let ((from, e), (to, _)) = (w[0], w[1]);
                let inside: Vec<Grant> = s
                    .got
                    .iter()
                    .copied()
                    .filter(|g| g.released >= from && g.released < to)
                    .collect();
                let res = match e {
                    Expect::Paced(r) => check_paced(r, from, to, &inside),
                    Expect::Nothing if !inside.is_empty() => Err("released while held".into()),
                    Expect::AtOnce if inside.iter().any(|g| g.released != g.scheduled) => {
                        Err("a request waited at infinity".into())
                    }
                    _ => Ok(()),
                };
                if let Err(msg) = res {
                    prop_assert!(false, "{e:?} from {:?}: {msg}", from - s.t0);
                }
            }
        }
    }
}
