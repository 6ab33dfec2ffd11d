//! One simulated node: a name, its emitter and its controller, and how it sees the cluster.

use crate::telemetry::{Key, Value};

use super::controller::Controller;
use super::events::Emitter;

pub(crate) struct Node {
    pub(crate) name: Key,
    pub(crate) emitter: Emitter,
    pub(crate) controller: Controller,
    pub(crate) up: bool,
    /// Being stopped: takes no new users, goes down when its users have ended.
    pub(crate) stopping: bool,
    pub(crate) master: bool,
}

impl Node {
    /// Up and not being stopped.
    pub(crate) fn available(&self) -> bool {
        self.up && !self.stopping
    }
}

fn names<'a>(nodes: impl Iterator<Item = &'a Node>) -> Value {
    Value::list(nodes.map(|n| Value::Str(n.name.clone())))
}

/// The `state` metadata of `[amoc, cluster, _]` events as node `me` sees the cluster: the
/// shape of Amoc's `amoc_cluster` state (`master`, `connected`, `slave`, `connection_lost`,
/// `failed_to_connect`, `to_ack`).
pub(crate) fn cluster_state(nodes: &[Node], me: &Key, master: &Key) -> Value {
    let others = || nodes.iter().filter(move |n| &n.name != me);
    Value::map([
        (Key::new_static("master"), Value::Str(master.clone())),
        (
            Key::new_static("connected"),
            names(others().filter(|n| n.up)),
        ),
        (
            Key::new_static("slave"),
            names(nodes.iter().filter(|n| n.up && !n.master)),
        ),
        (
            Key::new_static("connection_lost"),
            names(others().filter(|n| !n.up)),
        ),
        (Key::new_static("failed_to_connect"), Value::list([])),
        (Key::new_static("to_ack"), Value::list([])),
    ])
}

/// `[amoc, cluster, _]` measurements and metadata for `nodes`, on node `me`.
pub(crate) fn cluster_event(
    all: &[Node],
    me: &Node,
    master: &Key,
    event: &crate::telemetry::StaticName,
    nodes: &[Key],
) {
    let count = i64::try_from(nodes.len()).unwrap_or(i64::MAX);
    me.emitter.emit(
        event,
        &[(Key::new_static("count"), Value::Int(count))],
        &[
            (
                Key::new_static("nodes"),
                Value::list(nodes.iter().map(|n| Value::Str(n.clone()))),
            ),
            (
                Key::new_static("state"),
                cluster_state(all, &me.name, master),
            ),
        ],
    );
}
