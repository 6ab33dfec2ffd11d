//! Scenarios: what every virtual user runs.
//!
//! A [`Scenario`] has Amoc's callbacks: [`init`](Scenario::init) once per node when the
//! scenario starts there (its state is shared by that node's users), [`start`](Scenario::start)
//! once per user as its own tokio task, and an optional [`terminate`](Scenario::terminate) when
//! the scenario is stopped. Each runs inside the seed's span (`[amoc, scenario, init | start |
//! terminate, _]`) with metadata `scenario` (plus `state` and `user_id` where the seed has them);
//! the stop event's metadata carries `return`.
//!
//! Differences from Amoc: `init` returns `Result` (Amoc treats any non-`{error, _}` return as
//! the state); `start` returning `Err` is a failure and ends the user with the `exception` event
//! (`kind` `error`), like a panic does (`kind` `panic`). The `state` metadata is what
//! [`describe_state`](Scenario::describe_state) makes of the state (`null` by default), computed
//! once per node.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::telemetry::guard::{self, Guarded};
use crate::telemetry::{Field, Key, Value};

use super::config::{ConfigError, ConfigValue, Setting};
use super::coordinator::Coordinators;
use super::events::{Emitter, SCENARIO_INIT, SCENARIO_TERMINATE};
use super::services::Services;
use super::throttle::Throttles;
use super::user::task::run_user;
use super::user::{UserContext, UserGuard};

/// A failure of a scenario callback, as text for the events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

impl ScenarioError {
    pub fn new(msg: impl Into<String>) -> ScenarioError {
        ScenarioError(msg.into())
    }
}

impl From<&str> for ScenarioError {
    fn from(s: &str) -> Self {
        ScenarioError(s.to_owned())
    }
}

impl From<String> for ScenarioError {
    fn from(s: String) -> Self {
        ScenarioError(s)
    }
}

/// What a user's `start` returns: the value for the stop event's `return`, or a failure.
pub type UserResult = Result<Value, ScenarioError>;

/// A load-test scenario. See the module docs.
pub trait Scenario: Send + Sync + 'static {
    /// Shared by all users of a node (behind an `Arc`).
    type State: Send + Sync + 'static;

    /// The scenario's name: `scenario` in every event's metadata.
    fn name(&self) -> &str;

    /// The settings this scenario declares (name, type, default, verification, update rule).
    /// They are resolved, with the engine's own (`user_rate`), when the scenario starts; read
    /// them with [`UserContext::setting`] or [`InitContext::setting`]. None by default.
    fn settings(&self) -> Vec<Setting> {
        Vec::new()
    }

    /// Prepares the state; runs once on each node where the scenario starts. `ctx` gives the
    /// node, the settings and the cluster's throttles and coordinators (start the ones the
    /// users need here; on the second node they already exist).
    fn init(&self, ctx: &InitContext<'_>) -> Result<Self::State, ScenarioError>;

    /// One virtual user's whole life. `user` gives its id, node, removal signal and emitter.
    fn start(
        &self,
        user: UserContext,
        state: Arc<Self::State>,
    ) -> impl Future<Output = UserResult> + Send;

    /// Runs once on each node when the scenario is stopped there. Failures are reported in
    /// the span and otherwise ignored (the stop still finishes).
    fn terminate(&self, _state: &Self::State) -> UserResult {
        Ok(Value::atom("ok"))
    }

    /// The `state` metadata of the start and terminate spans. `null` by default.
    fn describe_state(&self, _state: &Self::State) -> Value {
        Value::Null
    }
}

/// A scenario with its type erased, as the controller and the cluster hold it.
pub trait DynScenario: Send + Sync + 'static {
    /// The scenario's name.
    fn name(&self) -> &Key;
    /// The scenario's declared settings.
    fn declarations(&self) -> Vec<Setting>;
    /// Runs `init` inside its span on `emitter`'s node.
    #[doc(hidden)]
    fn init_on(
        &self,
        emitter: &Emitter,
        services: &Services,
    ) -> Result<Arc<dyn ScenarioRun>, String>;
}

/// What a scenario's `init` gets.
pub struct InitContext<'a> {
    emitter: &'a Emitter,
    services: &'a Services,
}

impl InitContext<'_> {
    /// The node `init` runs on.
    pub fn node(&self) -> &str {
        self.emitter.node()
    }

    /// Emits events on behalf of this node.
    pub fn emitter(&self) -> &Emitter {
        self.emitter
    }

    /// The cluster's throttles, coordinators and settings.
    pub fn services(&self) -> &Services {
        self.services
    }

    /// The cluster's named throttles.
    pub fn throttles(&self) -> &Throttles {
        self.services.throttles()
    }

    /// The cluster's coordinators.
    pub fn coordinators(&self) -> &Coordinators<Value> {
        self.services.coordinators()
    }

    /// The value of a declared setting (see [`UserContext::setting`]).
    pub fn setting(&self, name: &str) -> Result<Option<ConfigValue>, ConfigError> {
        match self.services.config() {
            Some(config) => config.get(name),
            None => Err(ConfigError::Undeclared {
                name: name.to_owned(),
            }),
        }
    }
}

/// A scenario initialised on one node: its state and how to spawn its users.
#[doc(hidden)]
pub trait ScenarioRun: Send + Sync + 'static {
    /// The `state` metadata.
    fn state_value(&self) -> &Value;
    /// Spawns one user task.
    fn spawn_user(&self, rt: &Handle, ctx: UserContext, guard: UserGuard) -> AbortHandle;
    /// Runs `terminate` inside its span.
    fn terminate_on(&self, emitter: &Emitter);
}

/// Wraps a [`Scenario`] for the engine: `Arc::new(ScenarioBox::new(MyScenario))`, or use
/// [`boxed`].
pub struct ScenarioBox<S: Scenario> {
    scenario: Arc<S>,
    name: Key,
}

impl<S: Scenario> ScenarioBox<S> {
    pub fn new(scenario: S) -> ScenarioBox<S> {
        let name = Key::new(scenario.name());
        ScenarioBox {
            scenario: Arc::new(scenario),
            name,
        }
    }
}

/// A scenario ready for the engine.
pub fn boxed<S: Scenario>(scenario: S) -> Arc<dyn DynScenario> {
    Arc::new(ScenarioBox::new(scenario))
}

pub(crate) struct Run<S: Scenario> {
    pub(crate) scenario: Arc<S>,
    pub(crate) state: Arc<S::State>,
    state_value: Value,
    name: Key,
}

fn scenario_md(name: &Key) -> [Field; 1] {
    [(Key::new_static("scenario"), Value::Str(name.clone()))]
}

/// Runs `f` as a guarded section, catching a panic as `Err(message)`.
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    guard::guarded(|| std::panic::catch_unwind(AssertUnwindSafe(f)))
        .map_err(|p| guard::panic_message(&*p))
}

fn error_return(msg: &str) -> Value {
    Value::map([(Key::new_static("error"), Value::from(msg))])
}

impl<S: Scenario> DynScenario for ScenarioBox<S> {
    fn name(&self) -> &Key {
        &self.name
    }

    fn declarations(&self) -> Vec<Setting> {
        self.scenario.settings()
    }

    fn init_on(
        &self,
        emitter: &Emitter,
        services: &Services,
    ) -> Result<Arc<dyn ScenarioRun>, String> {
        let md = scenario_md(&self.name);
        let span = emitter.span_start(&SCENARIO_INIT, &md);
        let t = emitter.telemetry();
        let ctx = InitContext { emitter, services };
        match catch(|| self.scenario.init(&ctx)) {
            Ok(Ok(state)) => {
                let state_value = self.scenario.describe_state(&state);
                let mut stop = md.to_vec();
                stop.push((Key::new_static("return"), state_value.clone()));
                span.stop(t, &[], &emitter.with_node(&stop));
                Ok(Arc::new(Run {
                    scenario: self.scenario.clone(),
                    state: Arc::new(state),
                    state_value,
                    name: self.name.clone(),
                }))
            }
            Ok(Err(e)) => {
                let mut stop = md.to_vec();
                stop.push((Key::new_static("return"), error_return(&e.0)));
                stop.push((Key::new_static("error"), Value::from(e.0.as_str())));
                span.stop(t, &[], &emitter.with_node(&stop));
                Err(e.0)
            }
            Err(panic) => {
                span.exception(
                    t,
                    &emitter.with_node(&md),
                    "panic",
                    panic.as_str(),
                    guard::take_last_panic_trace(),
                );
                Err(panic)
            }
        }
    }
}

impl<S: Scenario> ScenarioRun for Run<S> {
    fn state_value(&self) -> &Value {
        &self.state_value
    }

    fn spawn_user(&self, rt: &Handle, ctx: UserContext, guard: UserGuard) -> AbortHandle {
        let scenario = self.scenario.clone();
        let state = self.state.clone();
        rt.spawn(Guarded(run_user(scenario, state, ctx, guard)))
            .abort_handle()
    }

    fn terminate_on(&self, emitter: &Emitter) {
        let md = [
            (Key::new_static("scenario"), Value::Str(self.name.clone())),
            (Key::new_static("state"), self.state_value.clone()),
        ];
        let span = emitter.span_start(&SCENARIO_TERMINATE, &md);
        let t = emitter.telemetry();
        match catch(|| self.scenario.terminate(&self.state)) {
            Ok(result) => {
                let mut stop = md.to_vec();
                match result {
                    Ok(v) => stop.push((Key::new_static("return"), v)),
                    Err(e) => {
                        stop.push((Key::new_static("return"), error_return(&e.0)));
                        stop.push((Key::new_static("error"), Value::from(e.0)));
                    }
                }
                span.stop(t, &[], &emitter.with_node(&stop));
            }
            Err(panic) => span.exception(
                t,
                &emitter.with_node(&md),
                "panic",
                panic,
                guard::take_last_panic_trace(),
            ),
        }
    }
}

/// Runs a user's `start` future, catching its panic as `Err(message)`.
pub(crate) async fn start_caught<S: Scenario>(
    scenario: &S,
    ctx: UserContext,
    state: Arc<S::State>,
) -> Result<UserResult, String> {
    AssertUnwindSafe(scenario.start(ctx, state))
        .catch_unwind()
        .await
        .map_err(|p| guard::panic_message(&*p))
}
