//! What reaches the master: [`MasterCommand`]s, each answered with a [`MasterAnswer`].

use std::sync::Arc;

use crate::telemetry::Key;

use super::super::config::{Config, ExplicitSettings};
use super::super::error::EngineError;
use super::super::protocol::Reply;
use super::super::scenario::DynScenario;
use super::super::services::UserRate;
use super::super::status::NodeShare;

/// A request to the master. The in-process master takes them over a channel, one at a time
/// on its thread; every one is answered, or its caller stops waiting after the master's
/// timeout ([`EngineError::MasterNoAnswer`]).
pub(crate) enum MasterCommand {
    /// Start `scenario` on every available node, with `rate` and `config`.
    StartScenario {
        scenario: Arc<dyn DynScenario>,
        rate: UserRate,
        config: Option<Config>,
    },
    /// Set `user_rate` (through the scenario's settings when it has them).
    SetUserRate(UserRate),
    /// Change settings of the running scenario (answers the names that changed).
    UpdateSettings(ExplicitSettings),
    /// Add users over the cluster (answers the shares).
    AddUsers(u64),
    /// Add users on one node (answers its share).
    AddUsersTo(Key, u64),
    /// Remove users over the cluster (answers how many were picked).
    RemoveUsers {
        count: u64,
        force: bool,
    },
    /// A node joins (answers its name).
    AddNode,
    StopNode(Key),
    KillNode(Key),
    /// Stop the scenario on every node.
    Stop,
    /// Halt every node and stop the master's services.
    Shutdown,
    /// A node's unsolicited report (`Down`, `Finished`), from the master's inbox.
    Report(Reply),
}

impl MasterCommand {
    /// The command's name, for errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            MasterCommand::StartScenario { .. } => "start_scenario",
            MasterCommand::SetUserRate(_) => "set_user_rate",
            MasterCommand::UpdateSettings(_) => "update_settings",
            MasterCommand::AddUsers(_) => "add_users",
            MasterCommand::AddUsersTo(..) => "add_users_to",
            MasterCommand::RemoveUsers { .. } => "remove_users",
            MasterCommand::AddNode => "add_node",
            MasterCommand::StopNode(_) => "stop_node",
            MasterCommand::KillNode(_) => "kill_node",
            MasterCommand::Stop => "stop",
            MasterCommand::Shutdown => "shutdown",
            MasterCommand::Report(_) => "report",
        }
    }
}

/// What a command that succeeded gives back.
#[derive(Debug)]
pub(crate) enum Done {
    Nothing,
    Shares(Vec<NodeShare>),
    Share(NodeShare),
    Removed(u64),
    Node(Key),
    Changed(Vec<String>),
}

/// The master's answer to one command.
pub(crate) type MasterAnswer = Result<Done, EngineError>;
