//! How a node sees the cluster: the `state` metadata and the `[amoc, cluster, _]` events.

use crate::telemetry::{Key, StaticName, Value};

use super::super::events::Emitter;

/// The cluster as the master last told this node: who is master, who is up, who was lost.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub(crate) master: Key,
    /// Every node up, this one included.
    pub(crate) up: Vec<Key>,
    /// Nodes this node saw go down.
    pub(crate) lost: Vec<Key>,
}

fn names<'a>(nodes: impl Iterator<Item = &'a Key>) -> Value {
    Value::list(nodes.map(|n| Value::Str(n.clone())))
}

impl View {
    /// The `state` metadata of `[amoc, cluster, _]` events as node `me` sees the cluster: the
    /// shape of Amoc's `amoc_cluster` state (`master`, `connected`, `slave`,
    /// `connection_lost`, `failed_to_connect`, `to_ack`).
    pub(crate) fn state(&self, me: &Key) -> Value {
        Value::map([
            (Key::new_static("master"), Value::Str(self.master.clone())),
            (
                Key::new_static("connected"),
                names(self.up.iter().filter(|n| *n != me)),
            ),
            (
                Key::new_static("slave"),
                names(self.up.iter().filter(|n| **n != self.master)),
            ),
            (
                Key::new_static("connection_lost"),
                names(self.lost.iter().filter(|n| *n != me)),
            ),
            (Key::new_static("failed_to_connect"), Value::list([])),
            (Key::new_static("to_ack"), Value::list([])),
        ])
    }

    /// Emits `event` (an `[amoc, cluster, _]` event) about `nodes` on `emitter`'s node.
    pub(crate) fn emit(&self, emitter: &Emitter, event: &StaticName, nodes: &[Key]) {
        let count = i64::try_from(nodes.len()).unwrap_or(i64::MAX);
        emitter.emit(
            event,
            &[(Key::new_static("count"), Value::Int(count))],
            &[
                (Key::new_static("nodes"), names(nodes.iter())),
                (Key::new_static("state"), self.state(emitter.node())),
            ],
        );
    }
}
