//! Status values reported by controllers, nodes and the cluster.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::telemetry::Key;

/// A controller's status: Amoc's `get_status/0` results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "info", rename_all = "snake_case")]
pub enum ControllerStatus {
    /// No scenario has run yet.
    Idle,
    /// A scenario is running.
    Running(RunningInfo),
    /// `stop` was called; users are being ended.
    Terminating(Key),
    /// The scenario stopped and `terminate` ran.
    Finished(Key),
    /// The scenario failed to start (its `init` failed).
    Error(String),
    /// The controller takes no scenario (Amoc's `disable/0`, used on a cluster master).
    Disabled,
}

impl ControllerStatus {
    /// The status name as Amoc spells it (`idle`, `running`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ControllerStatus::Idle => "idle",
            ControllerStatus::Running(_) => "running",
            ControllerStatus::Terminating(_) => "terminating",
            ControllerStatus::Finished(_) => "finished",
            ControllerStatus::Error(_) => "error",
            ControllerStatus::Disabled => "disabled",
        }
    }

    /// The running info, if running.
    pub fn running(&self) -> Option<&RunningInfo> {
        match self {
            ControllerStatus::Running(info) => Some(info),
            _ => None,
        }
    }
}

impl fmt::Display for ControllerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControllerStatus::Running(info) => write!(
                f,
                "running {} ({} users, highest id {})",
                info.scenario, info.currently_running_users, info.highest_user_id
            ),
            ControllerStatus::Terminating(s) => write!(f, "terminating {s}"),
            ControllerStatus::Finished(s) => write!(f, "finished {s}"),
            ControllerStatus::Error(r) => write!(f, "error ({r})"),
            other => f.write_str(other.name()),
        }
    }
}

/// `{running, #{scenario, currently_running_users, highest_user_id}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningInfo {
    pub scenario: Key,
    /// Users that passed `user_rate` and run the scenario.
    pub currently_running_users: u64,
    /// The highest id ever given to a user on this controller.
    pub highest_user_id: u64,
}

/// User counters of one controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserCounts {
    /// Users added but still waiting on `user_rate`.
    pub waiting: u64,
    /// Users running the scenario.
    pub running: u64,
    /// The highest id ever given to a user.
    pub highest_user_id: u64,
    /// Users whose `start` returned `Ok`.
    pub returned: u64,
    /// Users whose `start` returned `Err` or panicked.
    pub failed: u64,
    /// Users cancelled after they started (forced removal, stop, node down).
    pub cancelled: u64,
}

/// One node as the cluster sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub name: Key,
    pub up: bool,
    pub master: bool,
    /// The controller's status (meaningless once the node is down).
    pub status: ControllerStatus,
    pub users: UserCounts,
}

/// Which users a cluster-wide add gave to a node: a contiguous id block, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeShare {
    /// Users `first..=last` were added on the node.
    Added { node: Key, first: u64, last: u64 },
    /// The node's share was 0 (Amoc's `{Node, node_skipped}`).
    Skipped { node: Key },
}
