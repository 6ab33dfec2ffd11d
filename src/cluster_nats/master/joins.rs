//! Workers joining, and starting the scenario on a node that listens (its first heartbeat
//! came: see `liveness`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;

use super::table::NodeEntry;
use super::{Master, RUN};
use crate::cluster_nats::wire::{self, JOIN, Join, JoinReply, PROTOCOL};
use crate::engine::events::CLUSTER_CONNECT_NODES;
use crate::engine::protocol::{NodeCommand, NodeReport};
use crate::telemetry::{Key, StaticName, Value};

/// How long a node gets to answer `Connected` and `StartScenario` (its `init` runs).
const START_LIMIT: Duration = Duration::from_secs(10);

fn keys(names: &[String]) -> Vec<Key> {
    names.iter().map(|n| Key::new(n.as_str())).collect()
}

impl Master {
    pub(super) async fn on_joins(self, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let join: Join = match wire::decode(&msg.payload) {
                Ok(j) => j,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, JOIN);
                    continue;
                }
            };
            if join.run != self.shared.opts.run {
                // Another run's master answers it; stay silent.
                let reason = format!("worker {:?} of run {:?}", join.name, join.run);
                self.ignore(&self.shared.counters.other_run, &reason, JOIN);
                continue;
            }
            let reply = self.decide_join(&join);
            if let Some(reply_to) = msg.reply {
                let _ = self
                    .shared
                    .client
                    .publish(reply_to, wire::encode(&reply))
                    .await;
            }
            match &reply {
                JoinReply::Accepted { node, .. } => {
                    log::info!(target: "cluster", "{node} joined");
                    self.emit_cluster(&CLUSTER_CONNECT_NODES, node);
                    self.bump();
                }
                JoinReply::Refused { reason, .. } => {
                    self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                    eprintln!("rookery: refused worker {:?}: {reason}", join.name);
                    log::warn!(target: "cluster", "refused worker {:?}: {reason}", join.name);
                }
            }
        }
    }

    /// Accepts or refuses a join (under the table lock; nothing is sent here).
    fn decide_join(&self, join: &Join) -> JoinReply {
        let o = &self.shared.opts;
        let refuse = |reason: String| JoinReply::Refused {
            v: PROTOCOL,
            reason,
        };
        if join.fingerprint != self.shared.fingerprint {
            return refuse(format!(
                "build fingerprint {:?} differs from the master's {:?}: run the same build \
                 everywhere",
                join.fingerprint, self.shared.fingerprint
            ));
        }
        if !join.scenarios.contains(&o.scenario) {
            return refuse(format!(
                "this worker has no scenario {:?} (it has: {})",
                o.scenario,
                join.scenarios.join(", ")
            ));
        }
        if let Err(e) = wire::check_token("node name", &join.name) {
            return refuse(e);
        }
        let now_us = self.shared.start.elapsed().as_micros() as i64;
        let mut t = self.table();
        let mut name = join.name.clone();
        let mut k = 2;
        while t.names.contains(&name) || name == o.name {
            name = format!("{}~{k}", join.name);
            k += 1;
        }
        let peers = t.up();
        t.names.insert(name.clone());
        t.nodes
            .push(NodeEntry::new(name.clone(), now_us - join.now_us as i64));
        JoinReply::Accepted {
            v: PROTOCOL,
            node: name,
            master: o.name.clone(),
            scenario: o.scenario.clone(),
            settings: o.settings.clone(),
            settings_file: self.shared.settings_file.clone(),
            peers,
            heartbeat_ms: o.heartbeat.as_millis() as u64,
            timeout_ms: o.timeout.as_millis() as u64,
        }
    }

    /// `connect_nodes` / `nodedown` on the master, about `node`.
    pub(super) fn emit_cluster(&self, event: &StaticName, node: &str) {
        let (up, down) = {
            let t = self.table();
            (t.up(), t.down())
        };
        let state = super::cluster_state(&self.shared.opts.name, &up, &down);
        self.shared.emitter.emit(
            event,
            &[(Key::new_static("count"), Value::Int(1))],
            &[
                (Key::new_static("nodes"), Value::list([Value::from(node)])),
                (Key::new_static("state"), state),
            ],
        );
    }

    /// A node listens (its first heartbeat came): it learns who it is connected to (its
    /// `connect_nodes`; the master emits its own on the join), and it starts the scenario if
    /// the run is still going (a late node starts with 0 users).
    pub(super) async fn start_node(self, node: String) {
        let (master, peers, up, down, running) = {
            let t = self.table();
            let peers: Vec<String> = t.up().into_iter().filter(|n| *n != node).collect();
            (Key::new(self.name()), peers, t.up(), t.down(), t.running)
        };
        let mut connected = vec![master.clone()];
        connected.extend(keys(&peers));
        let mine = NodeCommand::Connected {
            master: master.clone(),
            nodes: connected,
            up: keys(&up),
            down: keys(&down),
        };
        if let Err(e) = self.ask(&node, mine, START_LIMIT).await {
            log::warn!(target: "cluster", "connecting {node}: {e}");
        }
        if !running {
            return;
        }
        let start = NodeCommand::StartScenario {
            run: RUN,
            scenario: Key::new(self.shared.opts.scenario.as_str()),
        };
        match self.ask(&node, start, START_LIMIT).await {
            Ok(NodeReport::Started { .. }) => {
                if let Some(n) = self.table().find(&node) {
                    n.started = true;
                }
                self.bump();
                self.rebalance().await;
            }
            Ok(NodeReport::Refused(e)) => {
                eprintln!(
                    "rookery: worker {node} could not start {}: {e}",
                    self.shared.opts.scenario
                );
                log::error!(target: "cluster", "{node} could not start the scenario: {e}");
            }
            Ok(other) => log::warn!(target: "cluster", "{node} answered {other:?} to a start"),
            Err(e) => log::error!(target: "cluster", "starting {node}: {e}"),
        }
    }
}
