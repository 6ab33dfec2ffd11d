//! Commands out: what the monitor asks the engine to do. The monitor never changes engine state
//! itself and never assumes a command worked; it shows the engine's events.

use std::fmt;

/// A request to the engine, sent through a [`CommandSink`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Set a throttle's rate (executions per interval). `interval_ms: None` keeps the interval.
    SetRate {
        throttle: String,
        rate: u64,
        interval_ms: Option<u64>,
    },
    /// Pause a throttle (requests queue up until it is resumed).
    Pause { throttle: String },
    /// Resume a paused throttle.
    Resume { throttle: String },
    /// Change a throttle's rate gradually to `to` over `duration_ms`, keeping its interval.
    StartRamp {
        throttle: String,
        to: u64,
        duration_ms: u64,
    },
    /// Add `count` users to the running scenario.
    AddUsers { count: u64 },
    /// Remove `count` users from the running scenario.
    RemoveUsers { count: u64 },
    /// Add a simulated node to the cluster.
    AddNode,
    /// Stop the named node.
    KillNode { node: String },
    /// The user quit the monitor; the engine should stop the run.
    Quit,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::SetRate { throttle, rate, .. } => write!(f, "set {throttle} rate to {rate}"),
            Command::Pause { throttle } => write!(f, "pause {throttle}"),
            Command::Resume { throttle } => write!(f, "resume {throttle}"),
            Command::StartRamp {
                throttle,
                to,
                duration_ms,
            } => write!(f, "ramp {throttle} to {to} over {}s", duration_ms / 1000),
            Command::AddUsers { count } => write!(f, "add {count} users"),
            Command::RemoveUsers { count } => write!(f, "remove {count} users"),
            Command::AddNode => write!(f, "add a node"),
            Command::KillNode { node } => write!(f, "kill {node}"),
            Command::Quit => write!(f, "quit"),
        }
    }
}

/// Where commands go. The engine's control handle implements it; a replay has none.
///
/// `send` must not block the UI: queue the command and return. An `Err` is shown to the user.
pub trait CommandSink: Send + Sync {
    fn send(&self, command: Command) -> Result<(), String>;
}

/// A sink that records every command, for tests and for a dry run.
#[derive(Default, Debug)]
pub struct RecordingSink {
    sent: std::sync::Mutex<Vec<Command>>,
}

impl RecordingSink {
    /// The commands sent so far, oldest first.
    pub fn sent(&self) -> Vec<Command> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl CommandSink for RecordingSink {
    fn send(&self, command: Command) -> Result<(), String> {
        self.sent
            .lock()
            .map_err(|_| "recording sink poisoned".to_owned())?
            .push(command);
        Ok(())
    }
}
