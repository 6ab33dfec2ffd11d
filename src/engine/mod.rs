//! The load-testing engine: scenarios, virtual users, throttles, coordinators, configuration
//! and a simulated cluster. It reports everything through [`crate::telemetry`] and knows nothing
//! of terminals.
//!
//! Writing a scenario of your own: start with the crate docs ([`crate`], "Writing your own
//! load test"). What a scenario uses:
//!
//! | item | what |
//! |---|---|
//! | [`Scenario`], [`boxed`] | the scenario trait (`settings`, `init`, `start`, `terminate`) |
//! | [`UserContext`] | a user's id, node, throttles, coordinators, settings, emitter, removal signal |
//! | [`throttle`] | named cluster-wide throttles: rates, parallelism limits, live changes, ramps |
//! | [`coordinator`] | groups of users (pairs, rooms) and what to do with each group |
//! | [`config`] | declared settings, and how `--set`, `--settings` and `ROOKERY_<NAME>` resolve |
//! | [`events`] | Amoc's event names and the [`Emitter`](events::Emitter) for events of your own |
//! | [`EngineHandle`] | start a scenario, add and remove users, stop (tests use it directly) |
//! | [`protocol`] | the messages between the master and its nodes (for transports) |
//!
//! How it is built: a master (the cluster: ids, node table, throttles, coordinators,
//! settings) reaches its nodes only by [`protocol`] messages, and the master and each node
//! are actors. The master is a thread of its own (named `master`) that owns the cluster's
//! state and serves its mailbox one command at a time; an [`EngineHandle`] command waits for
//! its answer at most [`EngineOptions::master_timeout`] (then it fails with
//! [`EngineError::MasterNoAnswer`]), and the handle's reads come from a snapshot the master
//! publishes, without waiting for its thread. Each node is a thread of its own (named after
//! the node, `node2`) that owns the node's state and serves its mailbox one request at a
//! time; the master waits for a node's answer at most [`EngineOptions::node_timeout`] (then
//! the command fails with [`ControllerError::NoAnswer`]). The node owns its controller
//! ([`Controller`], Amoc's status machine) and its users, whose whole life is in one module
//! (`user`). A node's long work (spawning an add's users in chunks, a stop's walk over every
//! user) is done by one worker task per node fed by a bounded mailbox ([`MAILBOX`] messages;
//! full: [`ControllerError::Busy`]). No engine lock is held while an event is emitted or
//! scenario code runs, and an actor's thread that waits for an answer keeps serving its own
//! mailbox (`actor`), so a telemetry handler may call the [`EngineHandle`] on any thread (the
//! master's and the nodes' included).
//!
//! ```text
//!  EngineHandle (any thread)
//!    │ MasterCommand ─► mailbox ─►  reads: published snapshot + nodes' published status
//!    ▼
//!  master thread `master` (cluster/): ids, node table, run; drives throttles, coordinators,
//!    │                                settings; serves its mailbox while it waits for a node
//!    │ Request{NodeCommand} ─► mailbox ─► node thread `nodeN` (node/): NodeActor
//!    │◄──────────── Reply{NodeReport} ◄──┘   │ view of the cluster, id blocks, reply cache
//!    │                                       ▼ emits [amoc, cluster, _], runs init
//!    │ Status: read from the node's       controller ──Work: Add, Stop──► worker task
//!    │ published status, no wait          (status, counters)  (bounded)  (tokio runtime):
//!    │                                                                   users in chunks,
//!    │◄──────── inbox: unsolicited Finished, Down ──────────────────────  a stop's walk
//! ```
//!
//! Threads: the master's thread runs the master's decisions (callers of the [`EngineHandle`]
//! post commands and wait); each node's thread runs its commands, the events they emit and
//! the scenario's `init` (and `terminate` when a stop finds no user left; otherwise the task
//! that saw the last user out runs it); users, timers, throttles and the node workers run on
//! the tokio runtime.
pub mod config;
pub mod coordinator;
pub mod events;
#[doc(hidden)]
pub mod protocol;
pub mod throttle;

mod actor;
mod changes;
mod cluster;
mod controller;
mod error;
mod handle;
mod node;
mod scenario;
mod services;
mod status;
mod transport;
mod user;

pub use controller::{Controller, ControllerOptions, MAILBOX};
pub use error::{ControllerError, EngineError};
pub use handle::{DEFAULT_MASTER_TIMEOUT, EngineHandle, EngineOptions, WAIT_RECHECK};
pub(crate) use node::Catalogue;
#[doc(hidden)]
pub use scenario::ScenarioRun;
pub use scenario::{
    DynScenario, InitContext, Scenario, ScenarioBox, ScenarioError, UserResult, boxed,
};
pub use services::{Services, USER_RATE, UserRate, rate_config};
pub use status::{ControllerStatus, NodeInfo, NodeShare, RunningInfo, UserCounts};
pub(crate) use transport::NodeLink;
#[doc(hidden)]
pub use user::UserGuard;
pub use user::{Removed, UserContext, UserThreads};
