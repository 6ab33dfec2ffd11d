//! Errors and outcomes of the throttle API.

use smol_str::SmolStr;

use super::config::ThrottleConfig;

/// What [`start`](super::Throttles::start) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new throttle was created (Amoc `{ok, started}`).
    Started,
    /// A throttle of that name already runs with the same rate and interval
    /// (Amoc `{ok, already_started}`).
    AlreadyStarted,
}

/// Every way a throttle call can fail. Unknown names and bad configurations are values of this
/// type, never panics.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ThrottleError {
    /// No throttle of this name is running (Amoc `{error, {no_throttle_by_name, N}}`).
    #[error("no throttle named `{0}` is running")]
    NoThrottle(SmolStr),
    /// `start` of a running name with another rate or interval
    /// (Amoc `{error, wrong_reconfiguration}`).
    #[error(
        "throttle `{name}` already runs at {current}; it cannot be started again at {requested}"
    )]
    WrongReconfiguration {
        name: SmolStr,
        current: ThrottleConfig,
        requested: ThrottleConfig,
    },
    /// A configuration or gradual plan that Amoc's verification refuses
    /// (Amoc `{error, invalid_throttle}`, `badarith`, `function_clause`).
    #[error("invalid throttle configuration: {0}")]
    InvalidConfig(String),
    /// The throttle was stopped while the request waited, or a handle outlived it.
    #[error("throttle `{0}` was stopped")]
    Stopped(SmolStr),
    /// The master node that owns every throttle is gone
    /// ([`shutdown_all`](super::Throttles::shutdown_all)).
    #[error("the master node that owns the throttles is down")]
    MasterDown,
    /// [`send`](super::Throttles::send) was released but the channel's receiver was gone.
    #[error("throttle `{0}` released a message but its channel is closed")]
    ChannelClosed(SmolStr),
    /// `start` was called outside a tokio runtime, so the throttle's scheduler cannot run.
    #[error("throttle `{0}` needs a tokio runtime to start its scheduler")]
    NoRuntime(SmolStr),
}
