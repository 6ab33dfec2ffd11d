//! Errors of the engine's commands. Every command reports failure as one of these values.

use crate::telemetry::Key;

use super::status::ControllerStatus;

/// Why a controller (one node's users) refused an operation (Amoc's `{error, _}` results).
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ControllerError {
    /// The operation is not allowed in the current status (`{error, {invalid_status, S}}`).
    #[error("operation not allowed while the controller is {0}")]
    InvalidStatus(ControllerStatus),
    /// `add_users(start, end)` with `start > end` or `start <= highest_user_id`
    /// (`{error, invalid_range}`).
    #[error("invalid user id range {start}..={end} (highest id so far: {highest})")]
    InvalidRange { start: u64, end: u64, highest: u64 },
    /// The scenario's `init` failed (returned an error or panicked); the status is now `error`.
    #[error("scenario {scenario} failed to initialise: {reason}")]
    InitFailed { scenario: Key, reason: String },
    /// The node does not know a scenario of that name (it was not built with it).
    #[error("this node has no scenario named {0}")]
    UnknownScenario(Key),
    /// The command belongs to another run of the scenario than the one on this node.
    #[error("the command is for another run than the one on this node")]
    OtherRun,
    /// The node's mailbox is full (its worker is behind by `capacity` messages); nothing was
    /// done, the command may be sent again later.
    #[error("node {node} is busy: its mailbox is full ({capacity} commands waiting); try again")]
    Busy {
        /// On the wire `of_node`: a reply's envelope has a `node` of its own.
        #[serde(rename = "of_node")]
        node: Key,
        capacity: usize,
    },
    /// The node did not answer `command` within `waited_ms` milliseconds (it is busy running
    /// scenario code, or stuck); what it does with the request later is not reported.
    #[error("node {node} did not answer {command} within {waited_ms} ms")]
    NoAnswer {
        /// On the wire `of_node`, as for `Busy`.
        #[serde(rename = "of_node")]
        node: Key,
        command: String,
        waited_ms: u64,
    },
}

/// Why an engine command (through the cluster or the [`EngineHandle`](super::EngineHandle))
/// failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// A controller refused the operation on `node`.
    #[error("on node {node}: {error}")]
    Controller { node: Key, error: ControllerError },
    /// Several nodes refused (cluster-wide start or stop).
    #[error("{} node(s) failed: {}", .0.len(), describe(.0))]
    Nodes(Vec<(Key, ControllerError)>),
    /// No node with that name.
    #[error("no node named {0}")]
    NoSuchNode(Key),
    /// The node is down.
    #[error("node {0} is down")]
    NodeDown(Key),
    /// The master node is down: the cluster cannot take commands any more.
    #[error("the master node {0} is down")]
    MasterDown(Key),
    /// A scenario is already running in the cluster (`{error, {scenario_is_running, S}}`).
    #[error("scenario {0} is already running")]
    ScenarioIsRunning(Key),
    /// No scenario has been started in the cluster.
    #[error("no scenario is running")]
    NoScenario,
    /// No scenario is registered under this name.
    #[error("no scenario named {0} is registered")]
    NoSuchScenario(Key),
    /// No up node is running the scenario to take users.
    #[error("no node is available to run users")]
    NoNodes,
    /// The engine was started outside a tokio runtime.
    #[error("the engine needs a tokio runtime")]
    NoRuntime,
    /// The engine's runtime is gone.
    #[error("the engine has shut down")]
    ShutDown,
    /// A throttle refused (for `user_rate`: e.g. a change during a gradual ramp).
    #[error("throttle: {0}")]
    Throttle(#[from] super::throttle::ThrottleError),
    /// Settings could not be resolved or updated; every problem is listed.
    #[error("settings: {0}")]
    Settings(super::config::ConfigErrors),
    /// The master did not answer `command` within `waited_ms` milliseconds (it is busy
    /// waiting for nodes, or stuck); it may still carry the command out later.
    #[error("the master did not answer {command} within {waited_ms} ms")]
    MasterNoAnswer {
        command: &'static str,
        waited_ms: u64,
    },
    /// A wait for a condition ran out of time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

fn describe(errors: &[(Key, ControllerError)]) -> String {
    errors
        .iter()
        .map(|(n, e)| format!("{n}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}
