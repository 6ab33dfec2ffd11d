//! What the cluster answers about itself (nodes, user counts, the master), read from the
//! snapshot the master publishes and the nodes' published statuses: a read never waits for
//! the master's thread or a node's.

use super::super::controller::Controller;
use super::super::error::EngineError;
use super::super::protocol::{NodeCommand, NodeReport, RequestId};
use super::super::status::{ControllerStatus, NodeInfo, UserCounts};
use super::super::transport::NodeLink;
use super::Cluster;
use crate::telemetry::Key;

/// A node's status and counts, from its published status (`Status` is answered at once).
pub(super) fn status_of(link: &NodeLink) -> Option<(ControllerStatus, UserCounts)> {
    match link.ask(RequestId(0), NodeCommand::Status) {
        NodeReport::Status(s) => Some((s.status, s.users)),
        _ => None,
    }
}

impl Cluster {
    pub(crate) fn nodes(&self) -> Vec<NodeInfo> {
        let snapshot = self.published.load();
        snapshot
            .nodes
            .iter()
            .map(|n| {
                let (status, users) =
                    status_of(&n.link).unwrap_or((ControllerStatus::Idle, UserCounts::default()));
                NodeInfo {
                    name: n.name.clone(),
                    up: n.up,
                    master: n.master,
                    status,
                    users,
                }
            })
            .collect()
    }

    /// User counts summed over the up nodes (see [`EngineHandle::user_counts`]).
    ///
    /// [`EngineHandle::user_counts`]: super::EngineHandle::user_counts
    pub(crate) fn user_counts(&self) -> UserCounts {
        let snapshot = self.published.load();
        let mut total = UserCounts {
            highest_user_id: snapshot.last_id,
            ..UserCounts::default()
        };
        for n in snapshot.nodes.iter().filter(|n| n.up) {
            let Some((_, c)) = status_of(&n.link) else {
                continue;
            };
            total.waiting += c.waiting;
            total.running += c.running;
            total.returned += c.returned;
            total.failed += c.failed;
            total.cancelled += c.cancelled;
            total.highest_user_id = total.highest_user_id.max(c.highest_user_id);
        }
        total
    }

    pub(crate) fn master(&self) -> Key {
        self.published.load().master.clone()
    }

    pub(crate) fn controller(&self, node: &str) -> Result<Controller, EngineError> {
        let snapshot = self.published.load();
        let n = snapshot
            .nodes
            .iter()
            .find(|n| n.name == node)
            .ok_or_else(|| EngineError::NoSuchNode(Key::new(node)))?;
        if !n.up {
            return Err(EngineError::NodeDown(n.name.clone()));
        }
        n.link.controller().ok_or(EngineError::ShutDown)
    }
}
