//! One named throttle: its lock-protected [`State`], a lock-free path for open throttles, and
//! its scheduler task, which sleeps until the next release instant or ramp step and otherwise
//! waits on a [`Notify`] (no polling).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use smol_str::SmolStr;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::ThrottleOptions;
use super::config::{Mode, ThrottleConfig};
use super::error::ThrottleError;
use super::gradual::GradualPlan;
use super::info::{RampInfo, ThrottleInfo};
use super::permit::{ThrottlePermit, Ticket};
use super::state::{Effects, Fx, Ramp, Report, State, Waiter};
use crate::engine::events::{
    Emitter, LogLevel, THROTTLE_EXECUTE, THROTTLE_INIT, THROTTLE_PROCESS, THROTTLE_RATE,
    THROTTLE_REQUEST,
};
use crate::fields;
use crate::telemetry::{Field, Key, Value};

pub(crate) struct Throttle {
    pub(super) name: SmolStr,
    emitter: Emitter,
    state: Mutex<State>,
    wake: Arc<Notify>,
    /// Rate infinity, not paused, not stopped: requests pass without the lock.
    open: AtomicBool,
    /// Interval 0: returning a counted permit may release the next request.
    parallel: AtomicBool,
    /// Counted permits out (`run`, `acquire`, `send`), shared with the state.
    in_flight: Arc<AtomicU64>,
    /// Requests released by the lock-free path.
    fast: AtomicU64,
}

impl Drop for Throttle {
    fn drop(&mut self) {
        // Lets the scheduler task notice that its throttle is gone.
        self.wake.notify_one();
    }
}

/// The scheduler's clock as the pure core takes it.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Where a ramp stands at `now`.
fn ramp_info(r: &Ramp, now: std::time::Instant) -> RampInfo {
    RampInfo {
        step: r.idx,
        steps: r.plan.steps,
        from: r.plan.from,
        to: r.plan.to,
        step_interval_ms: r.plan.step_interval_ms,
        ends_in_ms: r.ends_in_ms(now),
    }
}

impl Throttle {
    /// Creates the throttle and spawns its scheduler; [`announce`](Self::announce) reports it.
    pub(super) fn start(
        name: SmolStr,
        config: ThrottleConfig,
        emitter: Emitter,
        opts: &ThrottleOptions,
    ) -> Result<Arc<Throttle>, ThrottleError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| ThrottleError::NoRuntime(name.clone()))?;
        let in_flight = Arc::new(AtomicU64::new(0));
        let t = Arc::new(Throttle {
            name,
            emitter,
            state: Mutex::new(State::new(
                config,
                now(),
                in_flight.clone(),
                opts.backlog_warning,
                opts.idle_after,
            )),
            wake: Arc::new(Notify::new()),
            open: AtomicBool::new(false),
            parallel: AtomicBool::new(false),
            in_flight,
            fast: AtomicU64::new(0),
        });
        {
            let st = t.lock();
            t.sync_flags(&st);
        }
        rt.spawn(scheduler(Arc::downgrade(&t), t.wake.clone()));
        Ok(t)
    }

    /// Emits `init` and the first `rate` (once the registry lists the throttle).
    pub(super) fn announce(&self) {
        let report = self.lock().report(now());
        self.emitter.emit(
            &THROTTLE_INIT,
            &fields! {"count" => 1},
            &self.report_fields(&report, false),
        );
        self.flush(Effects {
            items: [Fx::Rate(report)].into_iter().collect(),
            wake: false,
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under this lock would be a bug in this module; the state stays consistent
        // enough to keep serving, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` under the lock with the current instant, refreshes the lock-free flags, then
    /// emits its effects and wakes the scheduler if asked.
    fn with_state<R>(
        &self,
        f: impl FnOnce(&mut State, std::time::Instant, &mut Effects) -> R,
    ) -> R {
        let mut fx = Effects::default();
        let r = {
            let mut st = self.lock();
            let r = f(&mut st, now(), &mut fx);
            self.sync_flags(&st);
            r
        };
        self.flush(fx);
        r
    }

    /// [`with_state`](Self::with_state) for an operation on a throttle that must be running.
    fn with_running<R>(
        &self,
        f: impl FnOnce(&mut State, std::time::Instant, &mut Effects) -> R,
    ) -> Result<R, ThrottleError> {
        self.with_state(|st, now, fx| match &st.stopped {
            Some(e) => Err(e.clone()),
            None => Ok(f(st, now, fx)),
        })
    }

    fn sync_flags(&self, st: &State) {
        let mode = st.config.mode();
        let live = !st.paused && st.stopped.is_none();
        self.open
            .store(live && mode == Mode::Open, Ordering::SeqCst);
        self.parallel
            .store(matches!(mode, Mode::Parallel(_)), Ordering::SeqCst);
    }

    /// Registers a request. Open throttles answer without the lock (reading the clock only
    /// when `clock` asks for the permit's instants).
    pub(super) fn ticket(
        self: &Arc<Self>,
        counted: bool,
        clock: bool,
    ) -> Result<Ticket, ThrottleError> {
        if self.open.load(Ordering::Acquire) {
            self.fast.fetch_add(1, Ordering::Relaxed);
            let holder = counted.then(|| {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                self.clone()
            });
            let permit = ThrottlePermit::lock_free(holder, clock.then(Instant::now));
            self.emit_count(&THROTTLE_REQUEST, 1);
            self.emit_count(&THROTTLE_EXECUTE, 1);
            return Ok(Ticket::ready(Ok(permit)));
        }
        self.with_running(|st, now, fx| {
            st.requests += 1;
            fx.items.push(Fx::Request);
            if let Some(g) = st.admit_now(now, counted) {
                fx.items.push(Fx::Execute(1));
                return Ticket::ready(Ok(ThrottlePermit::granted(self, g)));
            }
            let (tx, rx) = oneshot::channel();
            st.push(Waiter { tx, counted }, now, fx);
            Ticket::waiting(rx, self.clone())
        })
    }

    /// Rate infinity, not paused, not stopped: a request would pass at once.
    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// `n` requests the caller let pass on its own while [`is_open`](Self::is_open) said so:
    /// counted as requests and releases, and reported as one `request` and one `execute`
    /// event of `count = n` each.
    pub(super) fn passed_open(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.fast.fetch_add(n, Ordering::Relaxed);
        for event in [&THROTTLE_REQUEST, &THROTTLE_EXECUTE] {
            if self.emitter.telemetry().has_handlers(event.get()) {
                let count = i64::try_from(n).unwrap_or(i64::MAX);
                let md = fields! {"name" => self.name.clone()};
                self.emitter.emit(event, &fields! {"count" => count}, &md);
            }
        }
    }

    /// A counted permit was dropped: its place may go to the next request.
    pub(super) fn permit_returned(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.parallel.load(Ordering::SeqCst) {
            self.with_state(|st, now, fx| st.pump(now, fx));
        }
    }

    pub(super) fn config(&self) -> ThrottleConfig {
        self.lock().config
    }

    /// Sets a configuration; a running ramp ends (replaced by the new rate) unless `cfg` is
    /// the configuration in force.
    pub(super) fn set_rate(&self, cfg: ThrottleConfig) -> Result<RateChange, ThrottleError> {
        self.with_running(|st, now, fx| {
            let cfg = st.keep_catch_up(cfg);
            if cfg == st.config {
                return RateChange {
                    changed: false,
                    replaced_ramp: None,
                };
            }
            let replaced = st.ramp.take().map(|r| ramp_info(&r, now));
            if replaced.is_some() {
                fx.log(
                    LogLevel::Info,
                    "gradual rate change replaced by a new rate",
                    st.report(now),
                );
            }
            st.apply_config(cfg, now, fx, false);
            RateChange {
                changed: true,
                replaced_ramp: replaced,
            }
        })
    }

    /// Starts a ramp; one already running is replaced (and returned).
    pub(super) fn start_ramp(&self, plan: GradualPlan) -> Result<Option<RampInfo>, ThrottleError> {
        self.with_running(|st, now, fx| {
            let old = st.start_ramp(plan, now, fx).map(|r| ramp_info(&r, now));
            if old.is_some() {
                fx.log(
                    LogLevel::Info,
                    "gradual rate change replaced by a new one",
                    st.report(now),
                );
            }
            old
        })
    }

    pub(super) fn cancel_ramp(&self) -> Result<Option<RampInfo>, ThrottleError> {
        self.with_running(|st, now, fx| {
            let old = st.ramp.take()?;
            fx.items.push(Fx::Rate(st.report(now)));
            fx.log(
                LogLevel::Info,
                "gradual rate change cancelled",
                st.report(now),
            );
            fx.wake = true;
            Some(ramp_info(&old, now))
        })
    }

    pub(super) fn pause(&self) -> Result<bool, ThrottleError> {
        self.with_running(|st, now, fx| {
            let changed = st.pause(now, fx);
            if changed {
                fx.log(LogLevel::Info, "throttle paused", st.report(now));
            }
            changed
        })
    }

    pub(super) fn resume(&self) -> Result<bool, ThrottleError> {
        self.with_running(|st, now, fx| {
            let changed = st.resume(now, fx);
            if changed {
                fx.log(LogLevel::Info, "throttle resumed", st.report(now));
            }
            changed
        })
    }

    /// Stops the throttle; queued requests get `err`. A second stop is a no-op.
    pub(super) fn stop(&self, err: ThrottleError) {
        self.with_state(|st, _, fx| {
            if st.stopped.is_none() {
                st.stop(err, fx);
            }
        });
    }

    /// Instants owed to the next requests (catch-up throttles; 0 otherwise).
    pub(super) fn overdue(&self) -> u64 {
        self.lock().overdue(now())
    }

    pub(super) fn info(&self) -> ThrottleInfo {
        let now = now();
        let mut st = self.lock();
        let fast = self.fast.load(Ordering::Relaxed);
        let overdue = st.overdue(now);
        ThrottleInfo {
            name: self.name.clone(),
            rate: st.config.rate,
            interval_ms: st.config.interval_ms,
            catch_up: st.config.catch_up,
            paused: st.paused,
            ramp: st.ramp.as_ref().map(|r| ramp_info(r, now)),
            backlog: st.queue.iter().filter(|w| !w.tx.is_closed()).count(),
            overdue,
            in_flight: self.in_flight.load(Ordering::SeqCst),
            requests: st.requests + fast,
            executes: st.executes + fast,
        }
    }

    /// `n` events of `count` 1 (the seed's shape: one per request or release).
    fn emit_count(&self, event: &crate::telemetry::StaticName, n: u64) {
        // Nobody listens: skip building the metadata too.
        if n == 0 || !self.emitter.telemetry().has_handlers(event.get()) {
            return;
        }
        let md = fields! {"name" => self.name.clone()};
        for _ in 0..n {
            self.emitter.emit(event, &fields! {"count" => 1}, &md);
        }
    }

    /// The metadata of `rate`, `init` and `process` events (see the module docs for the keys);
    /// `with_config` adds Amoc's `rate` and `interval` (on `process` events).
    fn report_fields(&self, r: &Report, with_config: bool) -> Vec<Field> {
        let mut md: Vec<Field> = Vec::with_capacity(8);
        md.push((Key::new_static("name"), Value::from(self.name.clone())));
        if with_config {
            md.push((Key::new_static("rate"), r.config.rate.to_value()));
            md.push((
                Key::new_static("interval"),
                Value::from(r.config.interval_ms),
            ));
        }
        md.push((Key::new_static("paused"), Value::from(r.paused)));
        md.push((Key::new_static("ramping"), Value::from(r.ramp.is_some())));
        if let Some((target, ends_in_ms)) = r.ramp {
            md.push((Key::new_static("ramp_target"), Value::from(target)));
            md.push((Key::new_static("ramp_ends_in_ms"), Value::from(ends_in_ms)));
        }
        if let Some(o) = r.overdue {
            md.push((Key::new_static("catch_up"), Value::from(r.config.catch_up)));
            md.push((Key::new_static("overdue"), Value::from(o)));
        }
        md
    }

    /// Emits what a locked section decided, and wakes the scheduler if it must re-plan.
    fn flush(&self, fx: Effects) {
        if fx.wake {
            self.wake.notify_one();
        }
        for item in fx.items {
            match item {
                Fx::Request => self.emit_count(&THROTTLE_REQUEST, 1),
                Fx::Execute(n) => self.emit_count(&THROTTLE_EXECUTE, n),
                Fx::Rate(report) => self.emitter.emit(
                    &THROTTLE_RATE,
                    &report.config.rate_measurements(),
                    &self.report_fields(&report, false),
                ),
                Fx::Log {
                    level,
                    msg,
                    backlog,
                    report,
                } => {
                    let mut md = self.report_fields(&report, true);
                    if let Some(b) = backlog {
                        md.push((Key::new_static("backlog"), Value::from(b)));
                    }
                    self.emitter.emit_log(&THROTTLE_PROCESS, level, msg, &md);
                }
            }
        }
    }

    fn total_requests(&self, st: &State) -> u64 {
        st.requests + self.fast.load(Ordering::Relaxed)
    }
}

/// What [`set_rate`](super::Throttles::set_rate) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateChange {
    /// Whether the configuration changed (`false`: it was the one in force, a no-op).
    pub changed: bool,
    /// The ramp the new rate replaced, as it stood when replaced.
    pub replaced_ramp: Option<RampInfo>,
}

/// The throttle's scheduler: applies due ramp steps, releases due requests, reports idleness,
/// then sleeps until the next deadline or until a change wakes it. It holds only a weak
/// reference while asleep and ends with the throttle.
async fn scheduler(weak: Weak<Throttle>, wake: Arc<Notify>) {
    loop {
        let deadline = {
            let Some(t) = weak.upgrade() else { return };
            let now = now();
            let mut fx = Effects::default();
            let deadline = {
                let mut st = t.lock();
                if st.stopped.is_some() {
                    return;
                }
                st.advance_ramp(now, &mut fx);
                st.pump(now, &mut fx);
                let total = t.total_requests(&st);
                st.check_idle(now, total, &mut fx);
                t.sync_flags(&st);
                st.deadline()
            };
            fx.wake = false;
            t.flush(fx);
            deadline
        };
        match deadline {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(Instant::from_std(d)) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
