//! One virtual user: its context (what a scenario's `start` gets) and its task.
//!
//! A user task waits for its turn on `user_rate`, then runs the scenario's `start` inside the
//! `[amoc, scenario, start, _]` span. The span ends with `stop` (metadata `return`) when
//! `start` returns `Ok`, and with `exception` when it returns `Err` (`kind` `error`), panics
//! (`kind` `panic`) or is cancelled by a forced removal, a stop or a node going down (`kind`
//! `exit`, `reason` `killed`; Erlang emits nothing for a killed process, Rookery does so the
//! monitor's running count stays right).
//!
//! Memory: a user is one tokio task plus a small shared slot (id, flags, one waker) and a
//! registry entry. Nothing per user is allocated until a handler listens to the span.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

use crate::telemetry::{ActiveSpan, Field, Key, Telemetry, Value};

use super::controller::ControllerCore;
use super::events::{Emitter, SCENARIO_START};
use super::scenario::{Scenario, UserResult, start_caught};
use super::services::{Services, USER_RATE};
use super::throttle::ThrottleError;

pub(crate) const STARTED: u8 = 1;
/// Picked for removal (soft or forced); never picked twice.
pub(crate) const SELECTED: u8 = 2;
/// The removal signal has been sent.
pub(crate) const REMOVE: u8 = 4;
/// The task has ended (or was dropped).
pub(crate) const ENDED: u8 = 8;

/// The part of a user the controller shares with its task.
#[derive(Debug)]
pub(crate) struct UserSlot {
    pub(crate) id: u64,
    pub(crate) flags: AtomicU8,
    waker: AtomicWaker,
}

impl UserSlot {
    pub(crate) fn new(id: u64) -> UserSlot {
        UserSlot {
            id,
            flags: AtomicU8::new(0),
            waker: AtomicWaker::new(),
        }
    }

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// Sends the soft-removal signal.
    pub(crate) fn signal_removal(&self) {
        self.flags.fetch_or(REMOVE, Ordering::AcqRel);
        self.waker.wake();
    }
}

/// What all users of one scenario run on one node share. The integrator adds the throttle,
/// coordinator and settings handles here (and accessors on [`UserContext`]).
pub(crate) struct RunEnv {
    pub(crate) emitter: Emitter,
    pub(crate) scenario: Key,
    pub(crate) state: Value,
    pub(crate) services: Services,
    pub(crate) controller: Weak<ControllerCore>,
}

impl RunEnv {
    fn start_metadata(&self, user_id: u64) -> [Field; 3] {
        [
            (
                Key::new_static("scenario"),
                Value::Str(self.scenario.clone()),
            ),
            (Key::new_static("state"), self.state.clone()),
            (
                Key::new_static("user_id"),
                Value::Int(i64::try_from(user_id).unwrap_or(i64::MAX)),
            ),
        ]
    }

    fn span_wanted(&self) -> bool {
        let t = self.emitter.telemetry();
        SCENARIO_START
            .get()
            .span_names()
            .iter()
            .any(|n| t.has_handlers(*n))
    }
}

/// What a scenario's `start` gets: who this user is, and what it may use.
#[derive(Clone)]
pub struct UserContext {
    env: Arc<RunEnv>,
    slot: Arc<UserSlot>,
}

impl UserContext {
    pub(crate) fn new(env: Arc<RunEnv>, slot: Arc<UserSlot>) -> UserContext {
        UserContext { env, slot }
    }

    /// This user's id (from 1, unique in the cluster, never reused).
    pub fn user_id(&self) -> u64 {
        self.slot.id
    }

    /// The node running this user.
    pub fn node(&self) -> &str {
        self.env.emitter.node()
    }

    /// The running scenario's name.
    pub fn scenario(&self) -> &str {
        &self.env.scenario
    }

    /// Emits events on behalf of this user's node (adds `node` and `monotonic_time`).
    pub fn emitter(&self) -> &Emitter {
        &self.env.emitter
    }

    /// The telemetry registry the engine reports to.
    pub fn telemetry(&self) -> &Telemetry {
        self.env.emitter.telemetry()
    }

    /// The cluster's throttles, coordinators and settings.
    pub fn services(&self) -> &Services {
        &self.env.services
    }

    /// The cluster's named throttles: `user.throttles().wait("messages").await`.
    pub fn throttles(&self) -> &super::throttle::Throttles {
        self.env.services.throttles()
    }

    /// The cluster's coordinators: `user.coordinators().add("pairs", user.user_id(), data)`.
    pub fn coordinators(&self) -> &super::coordinator::Coordinators<Value> {
        self.env.services.coordinators()
    }

    /// The value of a declared setting (`None` when it has no value). Reading an undeclared
    /// setting is an error and emits `[amoc, config, get]`.
    pub fn setting(
        &self,
        name: &str,
    ) -> Result<Option<super::config::ConfigValue>, super::config::ConfigError> {
        match self.env.services.config() {
            Some(config) => config.get(name),
            None => Err(super::config::ConfigError::Undeclared {
                name: name.to_owned(),
            }),
        }
    }

    /// True once this user has been asked to leave (a soft or forced removal, or a stop).
    pub fn removal_requested(&self) -> bool {
        self.slot.has(REMOVE)
    }

    /// Completes when this user is asked to leave. A user that ignores it keeps running after a
    /// soft removal; after a forced one it is cancelled when the grace period ends.
    pub fn removed(&self) -> Removed<'_> {
        Removed { slot: &self.slot }
    }
}

impl std::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContext")
            .field("user_id", &self.slot.id)
            .field("node", &self.node())
            .finish()
    }
}

/// The future of [`UserContext::removed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Removed<'a> {
    slot: &'a UserSlot,
}

impl Future for Removed<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.slot.has(REMOVE) {
            return Poll::Ready(());
        }
        self.slot.waker.register(cx.waker());
        if self.slot.has(REMOVE) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Lives inside a user's task: reports the end of the user however it ends (returned,
/// failed, cancelled before or after starting).
pub struct UserGuard {
    env: Arc<RunEnv>,
    slot: Arc<UserSlot>,
    span: Option<ActiveSpan>,
    outcome: Outcome,
}

/// How a user's `start` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Returned `Ok`.
    Returned,
    /// Returned `Err` or panicked.
    Failed,
    /// Cancelled (forced removal, stop, node down), or never started.
    Cancelled,
}

impl UserGuard {
    pub(crate) fn new(env: Arc<RunEnv>, slot: Arc<UserSlot>) -> UserGuard {
        UserGuard {
            env,
            slot,
            span: None,
            outcome: Outcome::Cancelled,
        }
    }

    fn finish(&mut self, outcome: Result<UserResult, String>) {
        self.outcome = match outcome {
            Ok(Ok(_)) => Outcome::Returned,
            _ => Outcome::Failed,
        };
        let Some(span) = self.span.take() else {
            return;
        };
        let em = &self.env.emitter;
        let md = self.env.start_metadata(self.slot.id);
        match outcome {
            Ok(Ok(v)) => {
                let mut stop = md.to_vec();
                stop.push((Key::new_static("return"), v));
                span.stop(em.telemetry(), &[], &em.with_node(&stop));
            }
            Ok(Err(e)) => span.exception(
                em.telemetry(),
                &em.with_node(&md),
                "error",
                e.0,
                Value::list([]),
            ),
            Err(panic) => span.exception(
                em.telemetry(),
                &em.with_node(&md),
                "panic",
                panic,
                crate::telemetry::guard::take_last_panic_trace(),
            ),
        }
    }
}

impl Drop for UserGuard {
    fn drop(&mut self) {
        if let Some(span) = self.span.take() {
            let em = &self.env.emitter;
            let md = self.env.start_metadata(self.slot.id);
            span.exception(
                em.telemetry(),
                &em.with_node(&md),
                "exit",
                "killed",
                Value::list([]),
            );
        }
        if let Some(core) = self.env.controller.upgrade() {
            core.user_ended(&self.slot, self.outcome);
        }
    }
}

/// A user's task.
pub(crate) async fn run_user<S: Scenario>(
    scenario: Arc<S>,
    state: Arc<S::State>,
    ctx: UserContext,
    mut guard: UserGuard,
) {
    // Users start through the cluster-wide `user_rate` throttle. As in Amoc, a missing
    // throttle does not hold users back; a stopped one (or a lost master) ends them unstarted.
    match ctx.env.services.throttles().wait(USER_RATE).await {
        Ok(()) | Err(ThrottleError::NoThrottle(_)) => {}
        Err(_) => return,
    }
    let Some(core) = ctx.env.controller.upgrade() else {
        return;
    };
    if !core.user_started(&ctx.slot) {
        return;
    }
    drop(core);
    if ctx.env.span_wanted() {
        let md = ctx.env.start_metadata(ctx.slot.id);
        guard.span = Some(ctx.env.emitter.span_start(&SCENARIO_START, &md));
    }
    let outcome = start_caught(&*scenario, ctx, state).await;
    guard.finish(outcome);
}
