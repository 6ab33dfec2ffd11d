//! The load-testing engine: scenarios, virtual users, throttles, coordinators, configuration
//! and a simulated cluster. It reports everything through [`crate::telemetry`] and knows nothing
//! of terminals.
pub mod config;
pub mod coordinator;
pub mod events;

pub mod cluster;
pub mod controller;
pub mod error;
pub mod handle;
mod node;
pub mod scenario;
pub mod services;
pub mod status;
pub mod throttle;
pub mod user;
mod users;

pub use controller::{Controller, ControllerOptions};
pub use error::{ControllerError, EngineError};
pub use handle::{EngineHandle, EngineOptions};
pub use scenario::{DynScenario, InitContext, Scenario, ScenarioError, UserResult, boxed};
pub use services::{Services, USER_RATE, UserRate};
pub use status::{ControllerStatus, NodeInfo, NodeShare, RunningInfo, UserCounts};
pub use user::UserContext;
