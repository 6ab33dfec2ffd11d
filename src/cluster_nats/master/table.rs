//! The master's node table: who joined, who is up and started, what each was given and sent.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// One worker of the run (never removed: a node that went down stays, marked down).
pub(super) struct NodeEntry {
    pub(super) name: String,
    pub(super) up: bool,
    /// Its first heartbeat arrived and the master is starting the scenario on it.
    pub(super) starting: bool,
    /// It answered `Started`: it takes users.
    pub(super) started: bool,
    pub(super) last_heard: Instant,
    /// Master `t_us` minus worker `t_us`.
    pub(super) offset_us: i64,
    /// Events received, and the worker's count of queue drops last seen.
    pub(super) received: u64,
    pub(super) dropped_seen: u64,
    /// Users handed out to it (never reused), and users of it seen ending (their
    /// `[amoc, scenario, start, stop | exception]` events).
    pub(super) users_given: u64,
    pub(super) users_ended: u64,
    /// A stop was sent and acknowledged: the master waits for its `Finished` report.
    pub(super) stopping: bool,
    /// Its `Finished` report came, with the events it had sent by then.
    pub(super) finished: Option<u64>,
}

impl NodeEntry {
    pub(super) fn new(name: String, offset_us: i64) -> NodeEntry {
        NodeEntry {
            name,
            up: true,
            starting: false,
            started: false,
            last_heard: Instant::now(),
            offset_us,
            received: 0,
            dropped_seen: 0,
            users_given: 0,
            users_ended: 0,
            stopping: false,
            finished: None,
        }
    }

    /// Up, started, and not stopping: it may take users.
    pub(super) fn ready(&self) -> bool {
        self.up && self.started && !self.stopping
    }

    /// Nothing more is awaited from it after a stop: its `Finished` came with every event it
    /// counted, or it went down.
    pub(super) fn settled(&self) -> bool {
        !self.up || !self.stopping || self.finished.is_some_and(|sent| self.received >= sent)
    }
}

pub(super) struct Table {
    pub(super) nodes: Vec<NodeEntry>,
    pub(super) names: HashSet<String>,
    pub(super) last_id: u64,
    /// Every id block handed out: `first -> (last, node)`.
    pub(super) blocks: BTreeMap<u64, (u64, String)>,
    /// The scenario runs (not stopped yet): a late node starts it too.
    pub(super) running: bool,
}

impl Table {
    pub(super) fn new() -> Table {
        Table {
            nodes: Vec::new(),
            names: HashSet::new(),
            last_id: 0,
            blocks: BTreeMap::new(),
            running: true,
        }
    }

    pub(super) fn find(&mut self, name: &str) -> Option<&mut NodeEntry> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    pub(super) fn up(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| n.name.clone())
            .collect()
    }

    pub(super) fn down(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| !n.up)
            .map(|n| n.name.clone())
            .collect()
    }

    /// The node user `user` was given to.
    pub(super) fn node_of(&self, user: u64) -> Option<String> {
        self.blocks
            .range(..=user)
            .next_back()
            .filter(|(_, (last, _))| user <= *last)
            .map(|(_, (_, node))| node.clone())
    }

    /// Indexes of the nodes that may take users.
    pub(super) fn ready(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].ready())
            .collect()
    }

    /// Names of the nodes that may take users.
    pub(super) fn ready_names(&self) -> Vec<String> {
        self.ready()
            .into_iter()
            .map(|i| self.nodes[i].name.clone())
            .collect()
    }
}

/// Who got which users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub node: String,
    pub first: u64,
    pub last: u64,
}
