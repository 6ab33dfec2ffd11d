//! The master's node table (owned by its thread), and the snapshot of it the master
//! publishes for readers.

use super::super::error::EngineError;
use super::super::protocol::{NodeCommand, RequestId, RunId};
use super::super::transport::NodeLink;
use crate::telemetry::Key;

/// One row of the node table.
pub(super) struct Entry {
    pub(super) name: Key,
    pub(super) link: NodeLink,
    pub(super) up: bool,
    /// Being stopped: takes no new users, goes down when its users have ended.
    pub(super) stopping: bool,
    pub(super) master: bool,
}

impl Entry {
    /// Up and not being stopped.
    pub(super) fn available(&self) -> bool {
        self.up && !self.stopping
    }
}

/// What the master owns: ids, the node table, the run. Only the master's thread touches it.
pub(super) struct ClusterState {
    pub(super) nodes: Vec<Entry>,
    pub(super) master: Key,
    pub(super) master_down: bool,
    pub(super) last_id: u64,
    /// The scenario of the current (or last) run.
    pub(super) scenario: Option<Key>,
    pub(super) run: RunId,
    pub(super) running: bool,
    pub(super) next_index: usize,
    pub(super) next_request: u64,
}

impl ClusterState {
    pub(super) fn request(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    pub(super) fn check_master(&self) -> Result<(), EngineError> {
        if self.master_down {
            Err(EngineError::MasterDown(self.master.clone()))
        } else {
            Ok(())
        }
    }

    pub(super) fn find(&self, node: &str) -> Result<usize, EngineError> {
        let i = self
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| EngineError::NoSuchNode(Key::new(node)))?;
        if self.nodes[i].up {
            Ok(i)
        } else {
            Err(EngineError::NodeDown(self.nodes[i].name.clone()))
        }
    }

    /// What readers see of this state (see [`Snapshot`]).
    pub(super) fn snapshot(&self) -> Snapshot {
        Snapshot {
            nodes: self
                .nodes
                .iter()
                .map(|n| Row {
                    name: n.name.clone(),
                    up: n.up,
                    master: n.master,
                    link: n.link.clone(),
                })
                .collect(),
            last_id: self.last_id,
            master: self.master.clone(),
        }
    }

    pub(super) fn names(&self, up: bool) -> Vec<Key> {
        self.nodes
            .iter()
            .filter(|n| n.up == up)
            .map(|n| n.name.clone())
            .collect()
    }
}

/// The master's state as readers see it: published by the master after every change, read
/// without waiting for its thread (`nodes()`, `user_counts()`, `master()`, `wait_for`).
pub(crate) struct Snapshot {
    pub(super) nodes: Vec<Row>,
    pub(super) last_id: u64,
    pub(super) master: Key,
}

/// One node in a [`Snapshot`]; its status and counts are read from its link (published by
/// the node).
pub(super) struct Row {
    pub(super) name: Key,
    pub(super) up: bool,
    pub(super) master: bool,
    pub(super) link: NodeLink,
}

/// A node that runs the scenario and may take users.
pub(super) struct Target {
    pub(super) index: usize,
    pub(super) link: NodeLink,
    pub(super) master: bool,
}

/// A message decided while the master's state is borrowed, sent after it is released.
pub(super) enum Step {
    Send(NodeLink, RequestId, NodeCommand),
    /// The master's throttles and coordinators stop (the master went down).
    ShutDownServices,
}
