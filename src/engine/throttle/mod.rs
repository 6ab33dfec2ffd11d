//! Named, cluster-wide throttles (Amoc's `amoc_throttle`), precise where Amoc is not.
//!
//! One [`Throttles`] registry belongs to the master node; every simulated node's users share it,
//! so rates are cluster-wide. Each throttle is a single FIFO queue and one scheduler task (see
//! `state.rs` for the exact rules), instead of Amoc's pool of randomly chosen processes:
//!
//! * `rate` per `interval` releases at evenly spaced instants (`interval / rate` apart, exact
//!   in nanoseconds, never early), and no window of one interval, measured on actual release
//!   times, holds more than `rate`: a late scheduler delays releases instead of bunching them
//!   (rates up to 2^20 per interval; above that the instants alone bound the rate);
//! * a release comes at once when its instant has come: the first request after a start, or
//!   after a quiet spell, passes without waiting (Amoc's Q4 made it wait one process delay);
//! * rate `0` holds every request until the rate changes; `infinity` releases at once, without
//!   taking a lock;
//! * interval `0` limits *parallelism*: at most `rate` counted permits ([`Throttles::run`],
//!   [`Throttles::acquire`], [`Throttles::send`]) are out at once (Amoc's Q1 released one and
//!   stalled);
//! * a change applies at once, in both directions: the next release comes at
//!   `max(now, last + new period)` and releases follow the new rate from there, evenly spaced
//!   (Amoc's Q2/Q4 left raised capacity idle; issue 12 saw a decrease stall, then burst at the
//!   old rate, because releases made before the change counted against the new rate); ramp
//!   steps are changes too, so a gradual change releases during the ramp (Amoc's Q3 released
//!   nothing);
//! * opt-in catch-up ([`ThrottleConfig::catch_up`]): instants that came due while nobody
//!   waited are owed to the next requests, which are released at once with the owed instant
//!   as their [`scheduled`](TimedPermit::scheduled) instant ([`Throttles::wait_permit`]);
//! * waiting costs no CPU: waiters park on a oneshot channel; the scheduler sleeps until the
//!   next release instant or ramp step, or until a change wakes it.
//!
//! Precision and speed are measured by `cargo bench --bench throttle` (a table of releases per
//! interval at 1/s to 200,000/s, the CPU used by parked waiters, and `wait` at `infinity`).
//!
//! Clean no-ops and errors (Amoc's Q5 crashed its controller on these):
//! * [`pause`](Throttles::pause) of a paused throttle and [`resume`](Throttles::resume) of a
//!   running one are no-ops that return `Ok(false)`;
//! * [`stop`](Throttles::stop) during a ramp cancels the ramp with the throttle; waiting
//!   requests get [`ThrottleError::Stopped`]; the name can be started again;
//! * [`change_rate`](Throttles::change_rate) during a ramp replaces the ramp (Amoc refused
//!   with `cannot_change_rate`, which left an operator no way out), unless it asks for the
//!   configuration in force (a no-op); so does a new ramp; [`set_rate`](Throttles::set_rate)
//!   and [`start_ramp`](Throttles::start_ramp) say which ramp they replaced, and an info
//!   `process` event says so; [`cancel_ramp`](Throttles::cancel_ramp) ends a ramp at its
//!   current step;
//! * while paused (Amoc's Q6), `change_rate` and ramp steps change the stored configuration and
//!   emit `rate` events, but nothing is released until `resume`, which applies the configuration
//!   then in force.
//!
//! Events (through the master's [`Emitter`]): `[amoc, throttle, init]` on the first start;
//! `[amoc, throttle, rate]` (measurements `rate`, `"infinity"` for infinity, and `interval`,
//! as in Amoc) on start, on every effective change, on every ramp step, when a ramp is
//! cancelled, and on pause and resume; `request` and `execute` (`count` 1 each); `process`
//! log events: a warning when the queue reaches the backlog warning size (and each doubling
//! after), info when a ramp finishes, is cancelled or replaced and on pause/resume, debug when
//! a throttle has seen no request for [`ThrottleOptions::idle_after`].
//!
//! Besides Amoc's `name` (and `rate`, `interval` on `process`), the metadata of `init`,
//! `rate` and `process` events says what state the throttle is in, so a monitor need not read
//! log messages:
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `paused` | bool | held by [`pause`](Throttles::pause) |
//! | `ramping` | bool | a gradual change runs |
//! | `ramp_target` | integer | its final rate (only while ramping) |
//! | `ramp_ends_in_ms` | integer | time until its last step, in ms (only while ramping) |
//! | `catch_up` | integer | the catch-up bound (only on catch-up throttles) |
//! | `overdue` | integer | instants owed to the next requests (only on catch-up throttles) |
//!
//! The last `rate` event of a ramp (its final step) already says `ramping: false`.

mod config;
mod error;
mod gradual;
mod info;
mod named;
mod permit;
mod state;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;
use smol_str::SmolStr;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use config::{DEFAULT_INTERVAL_MS, Rate, ThrottleConfig};
pub use error::{StartOutcome, ThrottleError};
pub use gradual::{DURATION_STEP_MS, GradualConfig, GradualPlan, GradualRates, RampPlan};
pub use info::{RampInfo, ThrottleInfo};
pub use named::RateChange;
pub use permit::{ThrottlePermit, Ticket, TimedPermit};

use crate::engine::events::Emitter;
use named::Throttle;

/// Tunables of the internal-condition events.
#[derive(Clone, Debug)]
pub struct ThrottleOptions {
    /// Queue length that triggers the "queue keeps growing" warning (then each doubling).
    pub backlog_warning: usize,
    /// A throttle with no request for this long reports itself idle (debug), once per stretch.
    pub idle_after: Duration,
}

impl Default for ThrottleOptions {
    fn default() -> Self {
        ThrottleOptions {
            backlog_warning: 10_000,
            idle_after: Duration::from_secs(60),
        }
    }
}

type Map = FxHashMap<SmolStr, Arc<Throttle>>;

struct Registry {
    emitter: Emitter,
    options: ThrottleOptions,
    map: ArcSwap<Map>,
    /// Serialises changes of `map`.
    write: Mutex<()>,
    down: AtomicBool,
}

/// The registry of named throttles of the whole simulated cluster, owned by the master.
/// Cloning gives another handle on the same registry.
#[derive(Clone)]
pub struct Throttles {
    inner: Arc<Registry>,
}

impl std::fmt::Debug for Throttles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttles")
            .field("names", &self.inner.map.load().keys().collect::<Vec<_>>())
            .field("down", &self.is_down())
            .finish()
    }
}

impl Throttles {
    /// A registry that reports through the master's `emitter`.
    pub fn new(emitter: Emitter) -> Throttles {
        Throttles::with_options(emitter, ThrottleOptions::default())
    }

    /// [`new`](Self::new) with explicit tunables.
    pub fn with_options(emitter: Emitter, options: ThrottleOptions) -> Throttles {
        Throttles {
            inner: Arc::new(Registry {
                emitter,
                options,
                map: ArcSwap::from_pointee(Map::default()),
                write: Mutex::new(()),
                down: AtomicBool::new(false),
            }),
        }
    }

    /// The emitter the throttles report through.
    pub fn emitter(&self) -> &Emitter {
        &self.inner.emitter
    }

    /// Whether [`shutdown_all`](Self::shutdown_all) ran (the master is gone).
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::SeqCst)
    }

    fn missing(&self, name: &str) -> ThrottleError {
        if self.is_down() {
            ThrottleError::MasterDown
        } else {
            ThrottleError::NoThrottle(name.into())
        }
    }

    fn get(&self, name: &str) -> Result<Arc<Throttle>, ThrottleError> {
        self.inner
            .map
            .load()
            .get(name)
            .cloned()
            .ok_or_else(|| self.missing(name))
    }

    /// Starts throttle `name`. Starting a running name again is
    /// [`StartOutcome::AlreadyStarted`] with the configuration in force, and
    /// [`ThrottleError::WrongReconfiguration`] with another. Needs a tokio runtime.
    pub fn start(&self, name: &str, cfg: ThrottleConfig) -> Result<StartOutcome, ThrottleError> {
        let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_down() {
            return Err(ThrottleError::MasterDown);
        }
        if let Some(t) = self.inner.map.load().get(name) {
            let current = t.config();
            return if current == cfg {
                Ok(StartOutcome::AlreadyStarted)
            } else {
                Err(ThrottleError::WrongReconfiguration {
                    name: name.into(),
                    current,
                    requested: cfg,
                })
            };
        }
        let t = Throttle::start(
            name.into(),
            cfg,
            self.inner.emitter.clone(),
            &self.inner.options,
        )?;
        let mut map = Map::clone(&self.inner.map.load());
        map.insert(name.into(), t.clone());
        self.inner.map.store(Arc::new(map));
        drop(_w);
        t.announce();
        Ok(StartOutcome::Started)
    }

    /// A handle on one throttle that skips the name lookup; it reports
    /// [`ThrottleError::Stopped`] once the throttle is stopped.
    pub fn handle(&self, name: &str) -> Result<ThrottleHandle, ThrottleError> {
        self.get(name).map(|throttle| ThrottleHandle { throttle })
    }

    /// Registers a request now (counted: it holds an interval-0 place until its permit drops);
    /// the returned ticket resolves when the throttle releases it.
    pub fn ticket(&self, name: &str, counted: bool) -> Result<Ticket, ThrottleError> {
        self.ticket_with(name, counted, false)
    }

    fn ticket_with(&self, name: &str, counted: bool, clock: bool) -> Result<Ticket, ThrottleError> {
        match self.inner.map.load().get(name) {
            Some(t) => t.ticket(counted, clock),
            None => Err(self.missing(name)),
        }
    }

    /// Waits until the throttle allows one more (Amoc `wait/1`). On an interval-0 throttle this
    /// waits for a free place but does not keep it.
    pub async fn wait(&self, name: &str) -> Result<(), ThrottleError> {
        self.ticket(name, false)?.await.map(drop)
    }

    /// [`wait`](Self::wait) that says when the release was due and when it came: its
    /// [`scheduled`](TimedPermit::scheduled) instant is the slot in the rate's schedule,
    /// before any lateness (on a [catch-up](ThrottleConfig::catch_up) throttle, an owed slot
    /// can be well in the past). Measure latency from it to count the time a request waited
    /// for a busy client. Like `wait`, it keeps no interval-0 place.
    pub async fn wait_permit(&self, name: &str) -> Result<TimedPermit, ThrottleError> {
        let p = self.ticket_with(name, false, true)?.await?;
        Ok(TimedPermit::from_permit(&p))
    }

    /// Instants owed to the next requests of a [catch-up](ThrottleConfig::catch_up) throttle
    /// (0 for any other).
    pub fn overdue(&self, name: &str) -> Result<u64, ThrottleError> {
        Ok(self.get(name)?.overdue())
    }

    /// Waits until allowed and returns a permit (the guard form): on an interval-0 throttle it
    /// keeps one of the `rate` places until dropped.
    pub async fn acquire(&self, name: &str) -> Result<ThrottlePermit, ThrottleError> {
        self.ticket(name, true)?.await
    }

    /// Runs `f` when allowed, holding a permit while it runs (Amoc `run/2`, awaited).
    pub async fn run<T>(&self, name: &str, f: impl FnOnce() -> T) -> Result<T, ThrottleError> {
        let _permit = self.acquire(name).await?;
        Ok(f())
    }

    /// Awaits `fut` when allowed, holding a permit until it completes. `fut` is not polled
    /// before the release.
    pub async fn run_async<F: Future>(
        &self,
        name: &str,
        fut: F,
    ) -> Result<F::Output, ThrottleError> {
        let _permit = self.acquire(name).await?;
        Ok(fut.await)
    }

    /// Amoc's fire-and-forget `run/2`: queues the request now (in FIFO order) and spawns a task
    /// that runs `fut` when allowed, holding a permit until it completes.
    pub fn spawn<F>(
        &self,
        name: &str,
        fut: F,
    ) -> Result<JoinHandle<Result<F::Output, ThrottleError>>, ThrottleError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| ThrottleError::NoRuntime(name.into()))?;
        let ticket = self.ticket(name, true)?;
        Ok(rt.spawn(async move {
            let _permit = ticket.await?;
            Ok(fut.await)
        }))
    }

    /// Amoc's `send/3`: queues the request now and delivers `msg` into `tx` when allowed,
    /// holding a permit until the channel accepts it. The task's result is
    /// [`ThrottleError::ChannelClosed`] if the receiver is gone by then.
    pub fn send<T: Send + 'static>(
        &self,
        name: &str,
        tx: mpsc::Sender<T>,
        msg: T,
    ) -> Result<JoinHandle<Result<(), ThrottleError>>, ThrottleError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| ThrottleError::NoRuntime(name.into()))?;
        let ticket = self.ticket(name, true)?;
        let owned: SmolStr = name.into();
        Ok(rt.spawn(async move {
            let _permit = ticket.await?;
            tx.send(msg)
                .await
                .map_err(|_| ThrottleError::ChannelClosed(owned))
        }))
    }

    /// Sets a new configuration (Amoc `change_rate/2`). The same configuration is a no-op;
    /// anything else replaces a running ramp ([`set_rate`](Self::set_rate) says whether).
    /// A configuration without [`catch_up`](ThrottleConfig::catch_up) keeps the throttle's.
    pub fn change_rate(&self, name: &str, cfg: ThrottleConfig) -> Result<(), ThrottleError> {
        self.set_rate(name, cfg).map(drop)
    }

    /// [`change_rate`](Self::change_rate), saying whether the configuration changed and which
    /// ramp it replaced (for a monitor to say "ramp replaced").
    pub fn set_rate(&self, name: &str, cfg: ThrottleConfig) -> Result<RateChange, ThrottleError> {
        self.get(name)?.set_rate(cfg)
    }

    /// Starts a gradual change (Amoc `change_rate_gradually/2`): rate 0 of the plan applies at
    /// once, then one more every `step_interval_ms`; a `rate` event each time. Returns the
    /// verified plan. A ramp already running is replaced ([`start_ramp`](Self::start_ramp)
    /// says whether).
    pub fn change_rate_gradually(
        &self,
        name: &str,
        cfg: GradualConfig,
    ) -> Result<GradualPlan, ThrottleError> {
        self.start_ramp(name, cfg).map(|(plan, _)| plan)
    }

    /// [`change_rate_gradually`](Self::change_rate_gradually), also returning the ramp it
    /// replaced, as it stood.
    pub fn start_ramp(
        &self,
        name: &str,
        cfg: GradualConfig,
    ) -> Result<(GradualPlan, Option<RampInfo>), ThrottleError> {
        let t = self.get(name)?;
        let plan = cfg.plan()?;
        let replaced = t.start_ramp(plan)?;
        Ok((plan, replaced))
    }

    /// Ends a running ramp, keeping the rate of its current step (a `rate` event says
    /// `ramping: false`). `Ok(false)` if none ran.
    pub fn cancel_ramp(&self, name: &str) -> Result<bool, ThrottleError> {
        Ok(self.get(name)?.cancel_ramp()?.is_some())
    }

    /// Holds every request until [`resume`](Self::resume). `Ok(false)` (a no-op) if paused.
    pub fn pause(&self, name: &str) -> Result<bool, ThrottleError> {
        self.get(name)?.pause()
    }

    /// Releases again at the configuration in force. `Ok(false)` (a no-op) if not paused.
    pub fn resume(&self, name: &str) -> Result<bool, ThrottleError> {
        self.get(name)?.resume()
    }

    /// `change_rate(name, infinity / interval 0)` (Amoc `unlock/1`); like `change_rate`, it
    /// replaces a running ramp.
    pub fn unlock(&self, name: &str) -> Result<(), ThrottleError> {
        self.change_rate(name, ThrottleConfig::unlocked())
    }

    /// Stops and removes the throttle; its waiting requests get [`ThrottleError::Stopped`]
    /// and a running ramp ends with it. The name can be started again.
    pub fn stop(&self, name: &str) -> Result<(), ThrottleError> {
        let t = {
            let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
            let t = self.get(name)?;
            let mut map = Map::clone(&self.inner.map.load());
            map.remove(name);
            self.inner.map.store(Arc::new(map));
            t
        };
        t.stop(ThrottleError::Stopped(name.into()));
        Ok(())
    }

    /// A snapshot of one throttle.
    pub fn info(&self, name: &str) -> Result<ThrottleInfo, ThrottleError> {
        Ok(self.get(name)?.info())
    }

    /// Snapshots of every throttle, by name.
    pub fn list(&self) -> Vec<ThrottleInfo> {
        let mut all: Vec<_> = self.inner.map.load().values().map(|t| t.info()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The master is lost: every throttle stops, every waiting request gets
    /// [`ThrottleError::MasterDown`], and every later call on this registry fails with it.
    /// A new master starts from a new registry.
    pub fn shutdown_all(&self) {
        let old = {
            let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.down.store(true, Ordering::SeqCst);
            self.inner.map.swap(Arc::new(Map::default()))
        };
        for t in old.values() {
            t.stop(ThrottleError::MasterDown);
        }
    }
}

/// A handle on one throttle, for hot loops: no name lookup per request.
#[derive(Clone)]
pub struct ThrottleHandle {
    throttle: Arc<Throttle>,
}

impl ThrottleHandle {
    /// The throttle's name.
    pub fn name(&self) -> &str {
        &self.throttle.name
    }

    /// See [`Throttles::wait`].
    pub async fn wait(&self) -> Result<(), ThrottleError> {
        self.throttle.ticket(false, false)?.await.map(drop)
    }

    /// See [`Throttles::wait_permit`].
    pub async fn wait_permit(&self) -> Result<TimedPermit, ThrottleError> {
        let p = self.throttle.ticket(false, true)?.await?;
        Ok(TimedPermit::from_permit(&p))
    }

    /// See [`Throttles::acquire`].
    pub async fn acquire(&self) -> Result<ThrottlePermit, ThrottleError> {
        self.throttle.ticket(true, false)?.await
    }

    /// True while the throttle is open (rate infinity, not paused, not stopped): a request
    /// would pass at once. A hot loop may then go on without [`wait`](Self::wait) and report
    /// what it let pass, in batches, with [`passed_open`](Self::passed_open).
    pub fn is_open(&self) -> bool {
        self.throttle.is_open()
    }

    /// Counts `n` requests that passed while [`is_open`](Self::is_open) said so, as `wait`
    /// would have (in [`info`](Self::info)'s `requests` and `executes`), and emits one
    /// `[amoc, throttle, request]` and one `[amoc, throttle, execute]` of `count = n` instead
    /// of `n` of `count = 1`.
    pub fn passed_open(&self, n: u64) {
        self.throttle.passed_open(n);
    }

    /// See [`Throttles::info`].
    pub fn info(&self) -> ThrottleInfo {
        self.throttle.info()
    }
}
