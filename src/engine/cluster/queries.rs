//! What the cluster answers about itself: nodes, user counts, the master.

use super::super::controller::Controller;
use super::super::error::EngineError;
use super::super::protocol::{NodeCommand, NodeReport};
use super::super::status::{ControllerStatus, NodeInfo, UserCounts};
use super::super::transport::NodeLink;
use super::Cluster;
use crate::telemetry::Key;

impl Cluster {
    pub(super) fn counts(&self, link: &NodeLink) -> Option<(ControllerStatus, UserCounts)> {
        let id = self.lock().request();
        match link.ask(id, NodeCommand::Status) {
            NodeReport::Status(s) => Some((s.status, s.users)),
            _ => None,
        }
    }

    pub(crate) fn nodes(&self) -> Vec<NodeInfo> {
        let rows: Vec<(Key, bool, bool, NodeLink)> = self
            .lock()
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.up, n.master, n.link.clone()))
            .collect();
        rows.into_iter()
            .map(|(name, up, master, link)| {
                let (status, users) = self
                    .counts(&link)
                    .unwrap_or((ControllerStatus::Idle, UserCounts::default()));
                NodeInfo {
                    name,
                    up,
                    master,
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
        let (last_id, links) = {
            let st = self.lock();
            let links: Vec<NodeLink> = st
                .nodes
                .iter()
                .filter(|n| n.up)
                .map(|n| n.link.clone())
                .collect();
            (st.last_id, links)
        };
        let mut total = UserCounts {
            highest_user_id: last_id,
            ..UserCounts::default()
        };
        for link in links {
            let Some((_, c)) = self.counts(&link) else {
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
        self.lock().master.clone()
    }

    pub(crate) fn master_down(&self) -> Option<Key> {
        let st = self.lock();
        st.master_down.then(|| st.master.clone())
    }

    pub(crate) fn controller(&self, node: &str) -> Result<Controller, EngineError> {
        let link = {
            let st = self.lock();
            let i = st.find(node)?;
            st.nodes[i].link.clone()
        };
        link.controller().ok_or(EngineError::ShutDown)
    }
}
