//! Nodes going away: clean leaves, the nodes' unsolicited reports, and a node going down (a
//! silent one is found by `liveness`).

use std::time::Duration;

use futures::StreamExt;

use super::Master;
use super::events::USERS_LOST;
use crate::cluster_nats::wire::{self, Leave, Report};
use crate::engine::events::CLUSTER_NODEDOWN;
use crate::engine::protocol::{NodeCommand, NodeReport};
use crate::telemetry::{Key, Value};

/// How long a worker gets to answer a `Leave` (it answers at once; its users stop after).
const LEAVE_LIMIT: Duration = Duration::from_secs(10);

impl Master {
    pub(super) async fn on_leaves(self, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let leave: Leave = match wire::decode(&msg.payload) {
                Ok(l) => l,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, msg.subject.as_str());
                    continue;
                }
            };
            log::info!(target: "cluster", "{} left: {}", leave.node, leave.reason);
            // Its last batches may still be on their way: wait for them (briefly).
            let m = self.clone();
            tokio::spawn(async move {
                let node = leave.node.as_str();
                m.wait_table(Duration::from_secs(2), |t| {
                    t.find(node).is_none_or(|n| n.received >= leave.events_sent)
                })
                .await;
                m.take_down(node, false);
                m.rebalance().await;
            });
        }
    }

    /// A node's unsolicited report (`Finished`: its users ended after a stop).
    pub(super) async fn on_reports(self, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let report: Report = match wire::decode(&msg.payload) {
                Ok(r) => r,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, msg.subject.as_str());
                    continue;
                }
            };
            let node = report.reply.node.to_string();
            if let NodeReport::Finished { .. } = report.reply.report
                && let Some(n) = self.table().find(&node)
            {
                n.finished = Some(report.events_sent);
            }
            log::info!(target: "cluster", "{node} reports {:?}", report.reply.report);
            self.bump();
        }
    }

    /// Asks worker `node` to leave (`X` in the monitor): its users stop, `terminate` runs, its
    /// last events are sent, and it leaves the run (the master sees it go down). The master
    /// never leaves itself: quitting the monitor ends the run.
    pub async fn kill_node(&self, node: &str) -> Result<(), String> {
        if node == self.name() {
            return Err(format!(
                "{node} is the master: quit the monitor (q) to end the run"
            ));
        }
        if !self.table().find(node).is_some_and(|n| n.up) {
            return Err(format!("no worker {node:?} is up"));
        }
        match self.ask(node, NodeCommand::Leave, LEAVE_LIMIT).await? {
            NodeReport::Done | NodeReport::Down => Ok(()),
            other => Err(format!("{node} answered {other:?} to leave")),
        }
    }

    /// Marks `node` down (once) and reports it; `lost`: its users are counted as lost.
    pub(super) fn take_down(&self, node: &str, lost: bool) {
        let unfinished = {
            let mut t = self.table();
            match t.find(node) {
                Some(n) if n.up => {
                    n.up = false;
                    n.users_given.saturating_sub(n.users_ended)
                }
                _ => return,
            }
        };
        self.shares().remove(node);
        self.emit_cluster(&CLUSTER_NODEDOWN, node);
        self.forget_coordinated(node);
        if lost && unfinished > 0 {
            self.shared.emitter.emit(
                &USERS_LOST,
                &[(Key::new_static("count"), Value::from(unfinished))],
                &[(Key::new_static("lost_node"), Value::from(node))],
            );
        }
        self.bump();
    }

    /// Every 100 ms: shares follow the nodes' demand.
    pub(super) async fn watchdog(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            // Every tick: shares follow a node's demand within 100 ms of its heartbeat (only
            // shares that changed are sent; see `shares`). Not inside the heartbeat loop: a
            // publish held up during a NATS restart would hold the heartbeat replies too.
            self.rebalance().await;
        }
    }
}
