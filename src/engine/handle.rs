//! [`EngineHandle`]: the one interface through which the front end, tests and examples drive
//! the engine. Cloneable, `Send + Sync`; every command is a plain (non-async) method that
//! returns a `Result`: it posts a message to the master's thread and waits for the answer (at
//! most [`EngineOptions::master_timeout`]), from any thread. Read methods (`nodes`,
//! `user_counts`, `master`, ...) never wait for the master.
//! Only the waiting helpers are async. Users and timers run on the tokio runtime the engine was
//! built on.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rookery::engine::{
//!     EngineHandle, EngineOptions, InitContext, Scenario, ScenarioError, UserContext, UserRate,
//!     UserResult,
//!     boxed,
//! };
//! use rookery::telemetry::{Telemetry, Value};
//!
//! struct Ping;
//!
//! impl Scenario for Ping {
//!     type State = String;
//!     fn name(&self) -> &str {
//!         "ping"
//!     }
//!     fn init(&self, _ctx: &InitContext<'_>) -> Result<String, ScenarioError> {
//!         Ok("127.0.0.1".to_owned())
//!     }
//!     async fn start(&self, user: UserContext, host: Arc<String>) -> UserResult {
//!         // Work until asked to leave.
//!         user.removed().await;
//!         Ok(Value::from(format!("user {} pinged {host}", user.user_id())))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rookery::engine::EngineError> {
//! let engine = EngineHandle::start(EngineOptions {
//!     telemetry: Telemetry::new(),
//!     ..EngineOptions::default() // 3 nodes: node1 (master), node2, node3
//! })?;
//! engine.start_scenario(boxed(Ping), UserRate::Infinity)?;
//! engine.add_users(10)?; // ids 1-5 on node2, 6-10 on node3
//! engine
//!     .wait_for("10 users", Duration::from_secs(5), |e| e.user_counts().running == 10)
//!     .await?;
//! assert_eq!(engine.remove_users(4, false)?, 4);
//! engine.stop()?;
//! engine.wait_finished(Duration::from_secs(5)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Scenario callbacks (`init`, `terminate`) and telemetry handlers run without any engine lock
//! held, so they may call the handle (read methods and commands alike). Handlers run in the
//! emitting thread: keep them short, and queue heavy work elsewhere, as the monitor and the
//! recorder do.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::telemetry::{Key, Telemetry};

use super::cluster::{Cluster, Setup};
use super::config::{Config, EnvLookup, ExplicitSettings, UpdateRule, engine_declarations};
use super::controller::{Controller, ControllerOptions};
use super::error::EngineError;
use super::events::Emitter;
use super::scenario::DynScenario;
use super::services::{Services, USER_RATE, UserRate};
use super::status::{ControllerStatus, NodeInfo, NodeShare, UserCounts};

/// The longest [`EngineHandle::wait_for`] goes without checking its condition.
pub const WAIT_RECHECK: Duration = Duration::from_millis(50);

/// The default of [`EngineOptions::master_timeout`].
pub const DEFAULT_MASTER_TIMEOUT: Duration = Duration::from_secs(30);

/// How to build an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Nodes in the simulated cluster: a master and `nodes - 1` workers (default 3; 0 counts
    /// as 1, a master that then runs the users itself).
    pub nodes: usize,
    /// Where events go. Use `Telemetry::new()` in tests.
    pub telemetry: Telemetry,
    /// The initial `user_rate` (default 1200 users per minute).
    pub user_rate: UserRate,
    /// Grace period of forced removals and stops (default 2 s).
    pub grace: Duration,
    /// How long the master waits for a node's answer before the command fails with
    /// [`ControllerError::NoAnswer`](super::ControllerError::NoAnswer) (default 5 s). A node
    /// answers at once unless it is running scenario code (`init`, `terminate`) or a telemetry
    /// handler that takes that long.
    pub node_timeout: Duration,
    /// How long a command waits for the master's answer before it fails with
    /// [`EngineError::MasterNoAnswer`] (default 30 s: longer than a node's timeout, so that a
    /// node that does not answer is reported as such). The master answers at once unless it
    /// is waiting for nodes (a scenario's `init` on each of them, say).
    pub master_timeout: Duration,
    /// Users run on this many threads of their own, each with a single-threaded runtime
    /// (see [`UserThreads`](super::UserThreads)); 0 (the default) runs them on the engine's
    /// runtime, which tests under virtual time need.
    pub user_threads: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            nodes: 3,
            telemetry: Telemetry::global().clone(),
            user_rate: UserRate::default(),
            grace: ControllerOptions::default().grace,
            node_timeout: super::protocol::DEFAULT_TIMEOUT,
            master_timeout: DEFAULT_MASTER_TIMEOUT,
            user_threads: 0,
        }
    }
}

/// Drives the engine. See the module docs.
#[derive(Clone)]
pub struct EngineHandle {
    cluster: Arc<Cluster>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("nodes", &self.nodes())
            .finish()
    }
}

impl EngineHandle {
    /// Builds the cluster on the current tokio runtime.
    pub fn start(options: EngineOptions) -> Result<EngineHandle, EngineError> {
        let rt = Handle::try_current().map_err(|_| EngineError::NoRuntime)?;
        Ok(EngineHandle::on_runtime(rt, options))
    }

    /// Builds the cluster on `rt` (users and timers run there; commands may come from any
    /// thread).
    pub fn on_runtime(rt: Handle, options: EngineOptions) -> EngineHandle {
        let setup = Setup {
            nodes: options.nodes,
            rate: options.user_rate,
            options: ControllerOptions {
                threads: super::UserThreads::optional(options.user_threads).unwrap_or_else(|e| {
                    log::error!(
                        target: "engine",
                        "cannot start {} user threads, users run on the engine's runtime: {e}",
                        options.user_threads
                    );
                    None
                }),
                ..ControllerOptions::with_grace(options.grace)
            },
            node_timeout: options.node_timeout,
            master_timeout: options.master_timeout,
        };
        EngineHandle {
            cluster: Cluster::new(rt, options.telemetry, setup),
        }
    }

    /// The registry events go to.
    pub fn telemetry(&self) -> &Telemetry {
        &self.cluster.telemetry
    }

    /// Adds a scenario to the catalogue the nodes start scenarios from (by name, as a node of a
    /// real cluster knows the scenarios it was built with), for
    /// [`start_named`](Self::start_named).
    pub fn register(&self, scenario: Arc<dyn DynScenario>) {
        let mut map = self
            .cluster
            .catalogue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.insert(scenario.name().clone(), scenario);
    }

    /// The names in the scenario catalogue.
    pub fn scenarios(&self) -> Vec<Key> {
        let map = self
            .cluster
            .catalogue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    /// Starts a scenario of the catalogue by name.
    pub fn start_named(&self, name: &str, user_rate: UserRate) -> Result<(), EngineError> {
        let scenario = super::node::lookup(&self.cluster.catalogue, name)
            .ok_or_else(|| EngineError::NoSuchScenario(Key::new(name)))?;
        self.start_scenario(scenario, user_rate)
    }

    /// Starts `scenario` on every up node (each runs `init`) with `user_rate` and the
    /// defaults of every other setting (the environment is not read).
    pub fn start_scenario(
        &self,
        scenario: Arc<dyn DynScenario>,
        user_rate: UserRate,
    ) -> Result<(), EngineError> {
        let explicit = ExplicitSettings::new().set_value(USER_RATE, user_rate.to_setting());
        self.start_scenario_with(scenario, &explicit, &|_| None)
    }

    /// Starts `scenario` with settings: `explicit` ones (`--set`, `--settings FILE`) over the
    /// environment (`env`, e.g. [`process_env`](super::config::process_env) for
    /// `ROOKERY_<NAME>`) over the declared defaults. Every bad setting is reported at once in
    /// [`EngineError::Settings`], and nothing starts.
    pub fn start_scenario_with(
        &self,
        scenario: Arc<dyn DynScenario>,
        explicit: &ExplicitSettings,
        env: EnvLookup<'_>,
    ) -> Result<(), EngineError> {
        let config = self.resolve_settings(&scenario, explicit, env)?;
        let rate = config
            .get(USER_RATE)
            .ok()
            .flatten()
            .and_then(|v| UserRate::from_setting(&v))
            .unwrap_or_default();
        self.cluster.start_scenario(scenario, rate, Some(config))
    }

    /// Resolves the engine's and `scenario`'s settings without starting anything.
    pub fn resolve_settings(
        &self,
        scenario: &Arc<dyn DynScenario>,
        explicit: &ExplicitSettings,
        env: EnvLookup<'_>,
    ) -> Result<Config, EngineError> {
        let decls = self.declarations(scenario)?;
        let master = Emitter::new(self.cluster.telemetry.clone(), self.master());
        Config::resolve(decls, explicit, env, master).map_err(EngineError::Settings)
    }

    /// The engine's settings (`user_rate`) and `scenario`'s, for resolution or listing.
    pub fn declarations(
        &self,
        scenario: &Arc<dyn DynScenario>,
    ) -> Result<super::config::Declarations, EngineError> {
        let mut decls = engine_declarations(UpdateRule::throttle_rate(USER_RATE, 60_000));
        for setting in scenario.declarations() {
            decls
                .declare(scenario.name(), setting)
                .map_err(|e| EngineError::Settings(e.into()))?;
        }
        Ok(decls)
    }

    /// Changes settings of the running scenario (Amoc's `update_settings`): unchanged values
    /// are dropped, read-only ones refused, the rest verified now; their update functions run
    /// in the background. Returns the names that changed.
    ///
    /// Settings whose rule is [`UpdateRule::ThrottleRate`] are applied here, in order, before
    /// this returns — also when the stored value is unchanged but the throttle was changed
    /// directly since (from the monitor, say), so the throttle always ends at the value asked.
    pub fn update_settings(&self, settings: &ExplicitSettings) -> Result<Vec<String>, EngineError> {
        self.cluster.update_settings(settings)
    }

    /// The cluster's throttles, coordinators and settings (driven by the master).
    pub fn services(&self) -> &Services {
        &self.cluster.services
    }

    /// Adds `count` users over the cluster in contiguous id blocks; says who got which.
    pub fn add_users(&self, count: u64) -> Result<Vec<NodeShare>, EngineError> {
        self.cluster.add_users(count)
    }

    /// Adds `count` users on one node (the next `count` ids).
    pub fn add_users_to(&self, node: &str, count: u64) -> Result<NodeShare, EngineError> {
        self.cluster.add_users_to(node, count)
    }

    /// Removes up to `count` users over the cluster; returns how many were picked.
    pub fn remove_users(&self, count: u64, force: bool) -> Result<u64, EngineError> {
        self.cluster.remove_users(count, force)
    }

    /// Stops the scenario on every node.
    pub fn stop(&self) -> Result<(), EngineError> {
        self.cluster.stop()
    }

    /// Changes `user_rate` (cluster-wide); users already waiting follow the new rate. While a
    /// scenario runs this goes through its settings, so `user_rate` reads back the new value.
    pub fn set_user_rate(&self, rate: UserRate) -> Result<(), EngineError> {
        self.cluster.set_user_rate(rate)
    }

    /// The current `user_rate`.
    pub fn user_rate(&self) -> UserRate {
        self.cluster.services.user_rate().unwrap_or_default()
    }

    /// A new node joins; it starts the running scenario with 0 users.
    pub fn add_node(&self) -> Result<Key, EngineError> {
        self.cluster.add_node()
    }

    /// Stops a node gracefully (its scenario stops, then it goes down).
    pub fn stop_node(&self, node: &str) -> Result<(), EngineError> {
        self.cluster.stop_node(node)
    }

    /// Kills a node: its users are cancelled and it goes down at once.
    pub fn kill_node(&self, node: &str) -> Result<(), EngineError> {
        self.cluster.kill_node(node)
    }

    /// Every node, up or down.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.cluster.nodes()
    }

    /// The master node's name.
    pub fn master(&self) -> Key {
        self.cluster.master()
    }

    /// One node's controller status.
    pub fn node_status(&self, node: &str) -> Result<ControllerStatus, EngineError> {
        Ok(self.cluster.controller(node)?.status())
    }

    /// One node's controller, for Amoc's per-node API (`add_users(start, end)` ...).
    pub fn controller(&self, node: &str) -> Result<Controller, EngineError> {
        self.cluster.controller(node)
    }

    /// User counts summed over the up nodes (highest id: the cluster's last id). Users of
    /// nodes that went down are not included.
    pub fn user_counts(&self) -> UserCounts {
        self.cluster.user_counts()
    }

    /// Cancels every user everywhere and stops `user_rate`; the engine takes no more users.
    pub fn shutdown(&self) {
        self.cluster.shutdown();
    }

    /// Waits (in tokio time), at most `timeout`, until `cond` holds. `cond` is checked now and
    /// after changes of the nodes, their status or their user counts (the engine's change signal;
    /// changes are gathered for a millisecond, so a million users starting cost no more than a
    /// check a millisecond), and at least every [`WAIT_RECHECK`] for conditions on anything else.
    pub async fn wait_for(
        &self,
        what: &'static str,
        timeout: Duration,
        cond: impl Fn(&EngineHandle) -> bool,
    ) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let changes = &self.cluster.changed;
        loop {
            let seen = changes.version();
            if cond(self) {
                return Ok(());
            }
            let next = deadline.min(tokio::time::Instant::now() + WAIT_RECHECK);
            let woke = tokio::time::timeout_at(next, changes.changed_since(seen)).await;
            if tokio::time::Instant::now() >= deadline {
                return if cond(self) {
                    Ok(())
                } else {
                    Err(EngineError::Timeout(what))
                };
            }
            if woke.is_ok() {
                // Gather the changes that follow this one.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Waits until every up node that ran the scenario is `finished` (or `error`/`idle`).
    pub async fn wait_finished(&self, timeout: Duration) -> Result<(), EngineError> {
        self.wait_for("the scenario to finish", timeout, |h| {
            h.nodes().iter().filter(|n| n.up).all(|n| {
                !matches!(
                    n.status,
                    ControllerStatus::Running(_) | ControllerStatus::Terminating(_)
                )
            })
        })
        .await
    }
}
