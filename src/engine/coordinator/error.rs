//! Errors of the coordinator API.

use super::plan::PlanError;

/// What went wrong, naming the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorError {
    #[error("coordinator {name:?} is already running")]
    AlreadyStarted { name: String },
    #[error("no coordinator named {name:?} was started")]
    Unknown { name: String },
    #[error("coordinator {name:?} is stopped")]
    Stopped { name: String },
    #[error("coordinator {name:?}: bad plan: {reason}")]
    BadPlan { name: String, reason: PlanError },
    #[error("coordinator {name:?}: the timeout must be longer than zero")]
    ZeroTimeout { name: String },
    #[error("coordinator {name:?}: a timeout needs a Tokio runtime; start it inside one")]
    NoRuntime { name: String },
}
