//! The master owns every coordinator of the run: workers tell it the plans their `init`
//! started and forward their users' adds; it runs the plans (emitting every
//! `[amoc, coordinator, _]` event once) and hands each batch to the workers with a member in
//! it. See [`cluster_nats::coordinators`](crate::cluster_nats::coordinators).

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;

use super::{Master, Shared};
use crate::cluster_nats::coordinators::size_from_wire;
use crate::cluster_nats::wire::{self, CoordinatorMsg, PROTOCOL, RunBatch};
use crate::engine::coordinator::{Action, CoordinatorError, Event, Member, Plan};
use crate::telemetry::{Key, StaticName, Value};

/// `[rookery, cluster, coordinator_users_removed]`: measurements `count`; metadata `name` (the
/// coordinator), `lost_node` and `users`: users of a node that went down, taken out of the
/// coordinator's pending batches (they would never act on a batch).
pub static COORDINATOR_USERS_REMOVED: StaticName =
    StaticName::new(&["rookery", "cluster", "coordinator_users_removed"]);

impl Master {
    pub(super) async fn on_coordinators(self, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let subject = msg.subject.as_str();
            let decoded: CoordinatorMsg = match wire::decode(&msg.payload) {
                Ok(m) => m,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, subject);
                    continue;
                }
            };
            let from = subject.rsplit('.').next().unwrap_or_default();
            if !self.table().find(from).is_some_and(|n| n.up) {
                self.ignore(
                    &self.shared.counters.stale,
                    "a node that is not up",
                    subject,
                );
                continue;
            }
            match decoded {
                CoordinatorMsg::Start {
                    name,
                    sizes,
                    timeout_ms,
                    ..
                } => self.start_coordinator(&name, sizes, timeout_ms),
                CoordinatorMsg::Add {
                    name, user, data, ..
                } => {
                    // Runs a batch this add completes (its delivery is queued, not awaited).
                    if let Err(e) = self.shared.coordinators.add(&name, user, data) {
                        log::warn!(target: "cluster", "an add of user {user} from {from}: {e}");
                    }
                }
                // The batches a reset or stop hands over are queued for sending, not awaited.
                CoordinatorMsg::Reset { name, .. } => {
                    if let Err(e) = self.shared.coordinators.reset(&name) {
                        log::warn!(target: "cluster", "a reset from {from}: {e}");
                    }
                }
                CoordinatorMsg::Stop { name, .. } => {
                    if let Err(e) = self.shared.coordinators.stop(&name) {
                        log::warn!(target: "cluster", "a stop from {from}: {e}");
                    }
                }
            }
        }
    }

    /// Starts the master's copy of coordinator `name` (the first worker's `init` to start it
    /// wins; the others find it running): each item hands its batches to the members' nodes.
    fn start_coordinator(&self, name: &str, sizes: Vec<Option<(usize, usize)>>, ms: Option<u64>) {
        let mut plan = Plan::new();
        for (item, size) in sizes.into_iter().enumerate() {
            let shared = Arc::downgrade(&self.shared);
            let coordinator = name.to_owned();
            plan = plan.item(
                size_from_wire(size),
                Action::batch(move |event, members| {
                    hand_over(&shared, &coordinator, item, event, members);
                }),
            );
        }
        let timeout = ms.map(Duration::from_millis);
        match self.shared.coordinators.start(name, plan, timeout) {
            Ok(()) | Err(CoordinatorError::AlreadyStarted { .. }) => {}
            Err(e) => {
                eprintln!("rookery: coordinator from a worker refused: {e}");
                log::error!(target: "cluster", "{e}");
            }
        }
    }
}

impl Master {
    /// Takes the users of `node` (down: they will never act) out of every coordinator's
    /// pending batches, and reports each coordinator's as
    /// `[rookery, cluster, coordinator_users_removed]`.
    pub(super) fn forget_coordinated(&self, node: &str) {
        let blocks: Vec<(u64, u64)> = self
            .table()
            .blocks
            .iter()
            .filter(|(_, (_, n))| n == node)
            .map(|(first, (last, _))| (*first, *last))
            .collect();
        if blocks.is_empty() {
            return;
        }
        let removed = self.shared.coordinators.forget(&|user| {
            blocks
                .iter()
                .any(|(first, last)| (*first..=*last).contains(&user))
        });
        for (name, users) in removed {
            log::info!(
                target: "cluster",
                "{} users of {node} taken out of coordinator {name}",
                users.len()
            );
            self.shared.emitter.emit(
                &COORDINATOR_USERS_REMOVED,
                &[(Key::new_static("count"), Value::from(users.len()))],
                &[
                    (Key::new_static("name"), Value::from(name.as_str())),
                    (Key::new_static("lost_node"), Value::from(node)),
                    (
                        Key::new_static("users"),
                        Value::list(users.iter().map(|u| Value::from(*u))),
                    ),
                ],
            );
        }
    }
}

/// Sends a batch to every node with a member in it (an empty batch to the first worker that
/// takes users, so its actions still run once).
fn hand_over(
    shared: &Weak<Shared>,
    name: &str,
    item: usize,
    event: Event,
    members: &[Member<Value>],
) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let m = Master { shared };
    let nodes: BTreeSet<String> = {
        let t = m.table();
        if members.is_empty() {
            t.ready_names().into_iter().take(1).collect()
        } else {
            members.iter().filter_map(|mb| t.node_of(mb.user)).collect()
        }
    };
    let batch = RunBatch {
        v: PROTOCOL,
        name: name.to_owned(),
        item,
        event: event.kind.as_str().to_owned(),
        count: event.count,
        members: members
            .iter()
            .map(|mb| (mb.user, mb.data.clone()))
            .collect(),
    };
    let payload = wire::encode(&batch);
    for node in nodes {
        let subject = m.shared.subjects.batches(&node);
        let _ = m
            .shared
            .outbox
            .send(super::Outgoing::Publish(subject, payload.clone()));
    }
}
