//! A user's task: wait for `user_rate`, run `start` in its span, report the end.

use std::future::Future;
use std::sync::{Arc, Weak};

use futures::FutureExt;
use futures::future::Either;

use crate::telemetry::{ActiveSpan, Field, Key, Value};

use super::super::controller::ControllerCore;
use super::super::events::{Emitter, SCENARIO_START};
use super::super::scenario::{Scenario, UserResult, start_caught};
use super::super::services::{Services, USER_RATE};
use super::super::throttle::ThrottleError;
use super::context::UserContext;
use super::slot::UserSlot;

/// What all users of one scenario run on one node share: the node's emitter, the scenario's
/// name and `state` metadata, the cluster's services, and the way back to the controller.
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
            .any(|n| t.has_handlers(n.clone()))
    }

    /// A user's turn on `user_rate`, as [`Throttles::wait`](super::super::Throttles::wait)
    /// gives it but as one small future: the user's task holds the ticket once while it waits.
    fn turn(&self) -> impl Future<Output = Result<(), ThrottleError>> + use<> {
        match self.services.throttles().ticket(USER_RATE, false) {
            Ok(ticket) => Either::Left(ticket.map(|r| r.map(drop))),
            Err(e) => Either::Right(std::future::ready(Err(e))),
        }
    }

    /// The context and the end-of-life guard of user `id`.
    pub(crate) fn user(self: &Arc<Self>, slot: Arc<UserSlot>) -> (UserContext, UserGuard) {
        let ctx = UserContext {
            env: self.clone(),
            slot: slot.clone(),
        };
        let guard = UserGuard {
            env: self.clone(),
            slot,
            span: None,
            outcome: Outcome::Cancelled,
        };
        (ctx, guard)
    }
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

/// Lives inside a user's task and reports its end however it ends (returned, failed,
/// cancelled before or after starting). Its `drop` only closes the span and counts the user
/// out: when the last user of a stopping node is out, the controller's stop task (which
/// awaits that signal) runs `terminate`, never this destructor.
#[doc(hidden)]
pub struct UserGuard {
    env: Arc<RunEnv>,
    slot: Arc<UserSlot>,
    span: Option<ActiveSpan>,
    outcome: Outcome,
}

impl UserGuard {
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
///
/// Its future is most of an idle user's memory, so it is kept small: not an `async fn` (which
/// keeps its arguments twice, as passed and as moved into its body; the block captures them
/// once), and its turn on `user_rate` is one small future ([`RunEnv::turn`]) rather than
/// `Throttles::wait` (216 bytes, and a ticket held twice more around it). An idle user's future
/// went from 424 to 224 bytes (release build) and its tokio task, rounded up to 128 bytes, from
/// 640 to 384.
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub(crate) fn run_user<S: Scenario>(
    scenario: Arc<S>,
    state: Arc<S::State>,
    ctx: UserContext,
    mut guard: UserGuard,
) -> impl Future<Output = ()> {
    async move {
        // Users start through the cluster-wide `user_rate` throttle. As in Amoc, a missing
        // throttle does not hold users back; a stopped one (or a lost master) ends them
        // unstarted.
        match ctx.env.turn().await {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scenario::{InitContext, ScenarioError};
    use crate::telemetry::Telemetry;

    struct Idle;
    impl Scenario for Idle {
        type State = ();
        fn name(&self) -> &str {
            "idle"
        }
        fn init(&self, _ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
            Ok(())
        }
        async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
            user.removed().await;
            Ok(Value::Null)
        }
    }

    /// A user's memory is mostly its task, which tokio rounds up to 128 bytes: an idle user's
    /// future was 424 bytes (a 640-byte task), and is 224 (384) since its arguments are kept
    /// once and it waits on one small future. Kept under 256 so the task stays at 384.
    #[test]
    fn an_idle_users_task_stays_small() {
        let emitter = Emitter::new(Telemetry::new(), "n1");
        let env = Arc::new(RunEnv {
            services: Services::new(&emitter),
            emitter,
            scenario: Key::new("idle"),
            state: Value::Null,
            controller: Weak::new(),
        });
        let (ctx, guard) = env.user(Arc::new(UserSlot::new(1)));
        let task = run_user(Arc::new(Idle), Arc::new(()), ctx, guard);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 256, "an idle user's future is {size} bytes");
    }
}
