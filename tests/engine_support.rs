//! Scenarios and helpers shared by the `engine_*` tests (included with `#[path]`).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rookery::engine::events::Emitter;
use rookery::engine::{Controller, ControllerOptions, Services};
use rookery::engine::{
    DynScenario, EngineHandle, EngineOptions, InitContext, Scenario, ScenarioError, UserContext,
    UserRate, UserResult, boxed,
};
use rookery::telemetry::{Telemetry, Value};
use tokio::runtime::Handle;

/// What a test user does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    /// Runs until asked to leave, then returns `ok`.
    ObeyRemoval,
    /// Never returns on its own (ignores the removal signal).
    IgnoreRemoval,
    /// Returns at once.
    Quick,
    /// Panics.
    Panic,
    /// Returns an error.
    Fail,
}

pub struct TestScenario {
    pub name: &'static str,
    pub behaviour: Behaviour,
    pub fail_init: bool,
    pub panic_in_terminate: bool,
    pub terminated: Arc<AtomicU64>,
}

impl TestScenario {
    pub fn new(name: &'static str, behaviour: Behaviour) -> TestScenario {
        TestScenario {
            name,
            behaviour,
            fail_init: false,
            panic_in_terminate: false,
            terminated: Arc::default(),
        }
    }
}

impl Scenario for TestScenario {
    type State = i64;

    fn name(&self) -> &str {
        self.name
    }

    fn init(&self, _ctx: &InitContext<'_>) -> Result<i64, ScenarioError> {
        if self.fail_init {
            Err(ScenarioError::new("init says no"))
        } else {
            Ok(42)
        }
    }

    async fn start(&self, user: UserContext, _state: Arc<i64>) -> UserResult {
        match self.behaviour {
            Behaviour::ObeyRemoval => {
                user.removed().await;
                Ok(Value::atom("ok"))
            }
            Behaviour::IgnoreRemoval => {
                std::future::pending::<()>().await;
                Ok(Value::Null)
            }
            Behaviour::Quick => Ok(Value::from(format!("done {}", user.user_id()))),
            Behaviour::Panic => panic!("user {} crashed", user.user_id()),
            Behaviour::Fail => Err(ScenarioError::new("failed on purpose")),
        }
    }

    fn terminate(&self, _state: &i64) -> UserResult {
        self.terminated.fetch_add(1, Ordering::SeqCst);
        if self.panic_in_terminate {
            panic!("terminate crashed");
        }
        Ok(Value::atom("ok"))
    }

    fn describe_state(&self, state: &i64) -> Value {
        Value::Int(*state)
    }
}

pub fn scenario(name: &'static str, behaviour: Behaviour) -> Arc<dyn DynScenario> {
    boxed(TestScenario::new(name, behaviour))
}

/// A lone controller `node1` on `t` with its own `user_rate` throttle at `rate`.
pub fn controller(t: &Telemetry, rate: UserRate) -> Controller {
    let emitter = Emitter::new(t.clone(), "node1");
    let services = Services::new(&emitter);
    services
        .set_user_rate(rate)
        .expect("the user_rate throttle starts inside a runtime");
    Controller::new(
        Handle::current(),
        emitter,
        services,
        ControllerOptions::default(),
    )
}

/// An engine of `nodes` nodes on `t` with `user_rate` infinity.
pub fn engine(t: &Telemetry, nodes: usize) -> EngineHandle {
    EngineHandle::start(EngineOptions {
        nodes,
        telemetry: t.clone(),
        user_rate: UserRate::Infinity,
        ..EngineOptions::default()
    })
    .expect("inside a runtime")
}

/// Starts scenario `s` (users that run until removed) on `e`, adds `users` and waits (10 s at
/// most) until they all run.
pub async fn run_users(e: &EngineHandle, users: u64) {
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .expect("the scenario starts");
    e.add_users(users).expect("users are added");
    e.wait_for("the users to run", Duration::from_secs(10), |h| {
        h.user_counts().running == users
    })
    .await
    .expect("the users run");
}

/// Lets spawned tasks run (virtual time).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// `(currently_running_users, highest_user_id)` of a running controller.
pub fn running(c: &Controller) -> (u64, u64) {
    let s = c.status();
    let info = s.running().unwrap_or_else(|| panic!("not running: {s}"));
    (info.currently_running_users, info.highest_user_id)
}

/// Counts the users that started, then waits to be removed.
pub struct Counted(pub Arc<AtomicU64>);

impl Scenario for Counted {
    type State = ();
    fn name(&self) -> &str {
        "counted"
    }
    fn init(&self, _ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        Ok(())
    }
    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        user.removed().await;
        Ok(Value::Null)
    }
}
