//! The load-testing engine: scenarios, virtual users, throttles, coordinators, configuration
//! and a simulated cluster. It reports everything through [`crate::telemetry`] and knows nothing
//! of terminals.
//!
//! Writing a scenario of your own: start with the crate docs ([`crate`], "Writing your own
//! load test"). What a scenario uses, by module:
//!
//! | module | what |
//! |---|---|
//! | [`scenario`] | the [`Scenario`] trait (`settings`, `init`, `start`, `terminate`) and [`boxed`] |
//! | [`user`] | [`UserContext`]: a user's id, node, throttles, coordinators, settings, emitter, removal signal |
//! | [`throttle`] | named cluster-wide throttles: rates, parallelism limits, live changes, ramps |
//! | [`coordinator`] | groups of users (pairs, rooms) and what to do with each group |
//! | [`config`] | declared settings, and how `--set`, `--settings` and `ROOKERY_<NAME>` resolve |
//! | [`events`] | Amoc's event names and the [`Emitter`](events::Emitter) for events of your own |
//! | [`handle`] | [`EngineHandle`]: start a scenario, add and remove users, stop (tests use it directly) |
pub mod config;
pub mod coordinator;
pub mod events;

mod cluster;
pub mod controller;
pub mod error;
pub mod handle;
mod node;
pub mod protocol;
pub mod scenario;
pub mod services;
pub mod status;
pub mod throttle;
mod transport;
pub mod user;

pub use controller::{Controller, ControllerOptions};
pub use error::{ControllerError, EngineError};
pub use handle::{EngineHandle, EngineOptions};
pub use scenario::{DynScenario, InitContext, Scenario, ScenarioError, UserResult, boxed};
pub use services::{Services, USER_RATE, UserRate, rate_config};
pub use status::{ControllerStatus, NodeInfo, NodeShare, RunningInfo, UserCounts};
pub use user::UserContext;
