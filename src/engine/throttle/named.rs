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
use super::state::{Effects, Fx, State, Waiter};
use crate::engine::events::{
    Emitter, LogLevel, THROTTLE_EXECUTE, THROTTLE_INIT, THROTTLE_PROCESS, THROTTLE_RATE,
    THROTTLE_REQUEST,
};
use crate::fields;
use crate::telemetry::Value;

pub(crate) struct Throttle {
    pub(super) name: SmolStr,
    emitter: Emitter,
    state: Mutex<State>,
    wake: Arc<Notify>,
    /// Rate infinity, not paused, not stopped: requests pass without the lock.
    open: AtomicBool,
    /// Interval 0: returning a counted permit may release the next request.
    parallel: AtomicBool,
    /// Counted permits out (`run`, `acquire`, `send`).
    pub(super) in_flight: AtomicU64,
    /// Requests released by the lock-free path.
    fast: AtomicU64,
}

impl Drop for Throttle {
    fn drop(&mut self) {
        // Lets the scheduler task notice that its throttle is gone.
        self.wake.notify_one();
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
        let now = Instant::now();
        let t = Arc::new(Throttle {
            name,
            emitter,
            state: Mutex::new(State::new(
                config,
                now,
                opts.backlog_warning,
                opts.idle_after,
            )),
            wake: Arc::new(Notify::new()),
            open: AtomicBool::new(false),
            parallel: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
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
        self.emitter.emit(
            &THROTTLE_INIT,
            &fields! {"count" => 1},
            &fields! {"name" => self.name.clone()},
        );
        let config = self.config();
        self.flush(Effects {
            items: [Fx::Rate(config)].into_iter().collect(),
            wake: false,
        });
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under this lock would be a bug in this module; the state stays consistent
        // enough to keep serving, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` under the lock, then emits its effects and wakes the scheduler if asked.
    fn with_state<R>(self: &Arc<Self>, f: impl FnOnce(&mut State, &mut Effects) -> R) -> R {
        let mut fx = Effects::default();
        let r = {
            let mut st = self.lock();
            f(&mut st, &mut fx)
        };
        self.flush(fx);
        r
    }

    pub(super) fn sync_flags(&self, st: &State) {
        let mode = st.config.mode();
        let live = !st.paused && st.stopped.is_none();
        self.open
            .store(live && mode == Mode::Open, Ordering::SeqCst);
        self.parallel
            .store(matches!(mode, Mode::Parallel(_)), Ordering::SeqCst);
    }

    /// Registers a request. Open throttles answer without the lock.
    pub(super) fn ticket(self: &Arc<Self>, counted: bool) -> Result<Ticket, ThrottleError> {
        if self.open.load(Ordering::Acquire) {
            self.fast.fetch_add(1, Ordering::Relaxed);
            let permit = if counted {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                ThrottlePermit::counted(self.clone(), None)
            } else {
                ThrottlePermit::uncounted(None)
            };
            self.emit_count(&THROTTLE_REQUEST, 1);
            self.emit_count(&THROTTLE_EXECUTE, 1);
            return Ok(Ticket::ready(Ok(permit)));
        }
        let now = Instant::now();
        self.with_state(|st, fx| {
            if let Some(e) = &st.stopped {
                return Err(e.clone());
            }
            st.requests += 1;
            fx.items.push(Fx::Request);
            if let Some(p) = st.admit_now(self, now, counted) {
                fx.items.push(Fx::Execute(1));
                return Ok(Ticket::ready(Ok(p)));
            }
            let (tx, rx) = oneshot::channel();
            st.push(Waiter { tx, counted }, fx);
            Ok(Ticket::waiting(rx, self.name.clone()))
        })
    }

    /// A counted permit was dropped: its place may go to the next request.
    pub(super) fn permit_returned(self: &Arc<Self>) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.parallel.load(Ordering::SeqCst) {
            let now = Instant::now();
            self.with_state(|st, fx| st.pump(self, now, fx));
        }
    }

    pub(super) fn config(&self) -> ThrottleConfig {
        self.lock().config
    }

    pub(super) fn change_rate(self: &Arc<Self>, cfg: ThrottleConfig) -> Result<(), ThrottleError> {
        let now = Instant::now();
        self.with_state(|st, fx| {
            if let Some(e) = &st.stopped {
                return Err(e.clone());
            }
            if st.ramp.is_some() && cfg != st.config {
                return Err(ThrottleError::CannotChangeRate(self.name.clone()));
            }
            st.apply_config(self, cfg, now, fx, false);
            Ok(())
        })
    }

    pub(super) fn change_rate_gradually(
        self: &Arc<Self>,
        plan: GradualPlan,
    ) -> Result<(), ThrottleError> {
        let now = Instant::now();
        self.with_state(|st, fx| {
            if let Some(e) = &st.stopped {
                return Err(e.clone());
            }
            if st.ramp.is_some() {
                return Err(ThrottleError::CannotChangeRate(self.name.clone()));
            }
            st.start_ramp(self, plan, now, fx);
            Ok(())
        })
    }

    pub(super) fn cancel_ramp(self: &Arc<Self>) -> Result<bool, ThrottleError> {
        self.with_state(|st, fx| {
            if let Some(e) = &st.stopped {
                return Err(e.clone());
            }
            if st.ramp.take().is_none() {
                return Ok(false);
            }
            fx.log(LogLevel::Info, "gradual rate change cancelled", st);
            fx.wake = true;
            Ok(true)
        })
    }

    pub(super) fn pause(self: &Arc<Self>) -> Result<bool, ThrottleError> {
        self.with_state(|st, fx| {
            if let Some(e) = &st.stopped {
                return Err(e.clone());
            }
            let changed = st.pause(self);
            if changed {
                fx.log(LogLevel::Info, "throttle paused", st);
            }
            Ok(changed)
        })
    }

    pub(super) fn resume(self: &Arc<Self>) -> Result<bool, ThrottleError> {
        let now = Instant::now();
        self.with_state(|st, fx| {
            if let Some(e) = &st.stopped {
                return Err(e.clone());
            }
            let changed = st.resume(self, now, fx);
            if changed {
                fx.log(LogLevel::Info, "throttle resumed", st);
            }
            Ok(changed)
        })
    }

    /// Stops the throttle; queued requests get `err`. A second stop is a no-op.
    pub(super) fn stop(self: &Arc<Self>, err: ThrottleError) {
        self.with_state(|st, fx| {
            if st.stopped.is_none() {
                st.stop(self, err, fx);
            }
        });
    }

    pub(super) fn info(&self) -> ThrottleInfo {
        let st = self.lock();
        let fast = self.fast.load(Ordering::Relaxed);
        ThrottleInfo {
            name: self.name.clone(),
            rate: st.config.rate,
            interval_ms: st.config.interval_ms,
            paused: st.paused,
            ramp: st.ramp.as_ref().map(|r| RampInfo {
                step: r.idx,
                steps: r.plan.steps,
                from: r.plan.from,
                to: r.plan.to,
                step_interval_ms: r.plan.step_interval_ms,
            }),
            backlog: st.queue.iter().filter(|w| !w.tx.is_closed()).count(),
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

    /// Emits what a locked section decided, and wakes the scheduler if it must re-plan.
    fn flush(&self, fx: Effects) {
        if fx.wake {
            self.wake.notify_one();
        }
        for item in fx.items {
            match item {
                Fx::Request => self.emit_count(&THROTTLE_REQUEST, 1),
                Fx::Execute(n) => self.emit_count(&THROTTLE_EXECUTE, n),
                Fx::Rate(cfg) => self.emitter.emit(
                    &THROTTLE_RATE,
                    &cfg.rate_measurements(),
                    &fields! {"name" => self.name.clone()},
                ),
                Fx::Log {
                    level,
                    msg,
                    backlog,
                    config,
                } => {
                    let base = fields! {
                        "name" => self.name.clone(),
                        "rate" => config.rate.to_value(),
                        "interval" => config.interval_ms
                    };
                    match backlog {
                        Some(b) => {
                            let mut md = base.to_vec();
                            md.push(("backlog".into(), Value::from(b)));
                            self.emitter.emit_log(&THROTTLE_PROCESS, level, msg, &md);
                        }
                        None => self.emitter.emit_log(&THROTTLE_PROCESS, level, msg, &base),
                    }
                }
            }
        }
    }

    fn total_requests(&self, st: &State) -> u64 {
        st.requests + self.fast.load(Ordering::Relaxed)
    }
}

/// The throttle's scheduler: applies due ramp steps, releases due requests, reports idleness,
/// then sleeps until the next deadline or until a change wakes it. It holds only a weak
/// reference while asleep and ends with the throttle.
async fn scheduler(weak: Weak<Throttle>, wake: Arc<Notify>) {
    loop {
        let deadline = {
            let Some(t) = weak.upgrade() else { return };
            let now = Instant::now();
            let mut fx = Effects::default();
            let deadline = {
                let mut st = t.lock();
                if st.stopped.is_some() {
                    return;
                }
                st.advance_ramp(&t, now, &mut fx);
                st.pump(&t, now, &mut fx);
                let total = t.total_requests(&st);
                st.check_idle(now, total, &mut fx);
                st.deadline()
            };
            fx.wake = false;
            t.flush(fx);
            deadline
        };
        match deadline {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(d) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
