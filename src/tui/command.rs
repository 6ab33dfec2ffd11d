//! Commands out: what the monitor asks the engine to do. The monitor never changes engine state
//! itself and never assumes a command worked; it shows the engine's events.

use std::fmt;

/// A request to the engine, sent through a [`CommandSink`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Set a throttle's rate (executions per interval). `interval_ms: None` keeps the interval.
    SetRate {
        throttle: String,
        rate: u64,
        interval_ms: Option<u64>,
    },
    /// Lift a throttle's limit (rate `infinity`), keeping its interval.
    SetUnlimited { throttle: String },
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
    /// Kill the named node at once: its users are cancelled and it goes down (killing the master
    /// ends the whole test; the monitor asks before sending either).
    KillNode { node: String },
    /// End the gradual rate change running on a throttle; it keeps the rate it reached.
    CancelRamp { throttle: String },
    /// Ask for the declared settings (answered by [`Outcome::Settings`]).
    ListSettings,
    /// Change a setting of the running scenario; the engine's verification decides.
    SetSetting { name: String, value: String },
    /// The user quit the monitor; the engine should stop the run.
    Quit,
}

impl fmt::Display for OperatorCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatorCommand::SetRate { throttle, rate, .. } => {
                write!(f, "set {throttle} rate to {rate}")
            }
            OperatorCommand::SetUnlimited { throttle } => {
                write!(f, "set {throttle} rate to infinity")
            }
            OperatorCommand::Pause { throttle } => write!(f, "pause {throttle}"),
            OperatorCommand::Resume { throttle } => write!(f, "resume {throttle}"),
            OperatorCommand::StartRamp {
                throttle,
                to,
                duration_ms,
            } => write!(f, "ramp {throttle} to {to} over {}s", duration_ms / 1000),
            OperatorCommand::AddUsers { count } => write!(f, "add {count} users"),
            OperatorCommand::RemoveUsers { count } => write!(f, "remove {count} users"),
            OperatorCommand::AddNode => write!(f, "add a node"),
            OperatorCommand::KillNode { node } => write!(f, "kill {node}"),
            OperatorCommand::CancelRamp { throttle } => write!(f, "cancel the ramp of {throttle}"),
            OperatorCommand::ListSettings => write!(f, "list the settings"),
            OperatorCommand::SetSetting { name, value } => write!(f, "set {name} = {value}"),
            OperatorCommand::Quit => write!(f, "quit"),
        }
    }
}

/// One declared setting as the settings overlay shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingRow {
    pub name: String,
    /// The current value as text (`-` for none), or why it has none.
    pub value: String,
    /// Where the value comes from (`default`, `--set`, an environment variable, a file).
    pub source: String,
    /// True when the running scenario accepts a new value.
    pub updatable: bool,
    pub description: String,
}

/// What came of a command, reported back to the monitor by the engine driver
/// ([`driver`](super::driver)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The engine accepted the command (its events show what it did).
    Done(OperatorCommand),
    /// The engine refused it; the reason is shown.
    Failed(OperatorCommand, String),
    /// The answer to [`OperatorCommand::ListSettings`].
    Settings(Vec<SettingRow>),
    /// The run ended (the scenario finished or was stopped).
    Finished,
}

/// Where commands go. The engine's control handle implements it (`crate::cli::sink`); a
/// replay has none.
///
/// The monitor never calls a sink from its loop: commands go through the bounded queue of a
/// [`driver`](super::driver), whose task calls the sink on a blocking thread, so a sink may
/// take its time. An `Err` is shown to the user.
pub trait CommandSink: Send + Sync {
    fn send(&self, command: OperatorCommand) -> Result<(), String>;

    /// The declared settings, for [`OperatorCommand::ListSettings`].
    fn settings(&self) -> Result<Vec<SettingRow>, String> {
        Err("no settings here".to_owned())
    }

    /// True once the run has ended (every node finished or stopped). Polled by the driver.
    fn run_finished(&self) -> bool {
        false
    }
}

/// A sink that records every command, for tests and for a dry run.
#[derive(Default, Debug)]
pub struct RecordingSink {
    sent: std::sync::Mutex<Vec<OperatorCommand>>,
}

impl RecordingSink {
    /// The commands sent so far, oldest first.
    pub fn sent(&self) -> Vec<OperatorCommand> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl CommandSink for RecordingSink {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        self.sent
            .lock()
            .map_err(|_| "recording sink poisoned".to_owned())?
            .push(command);
        Ok(())
    }
}
