//! Per-node state.

use smol_str::SmolStr;

use super::series::Series;

/// Index of a node in [`MonitorState::nodes`](super::MonitorState::nodes).
pub type NodeIdx = u32;
/// Stands for "no node" (events that carry none).
pub const NO_NODE: NodeIdx = u32::MAX;

/// Everything known about one node.
#[derive(Clone, Debug)]
pub struct NodeState {
    pub name: SmolStr,
    /// Up unless a cluster event said it went down; then only a `connect_nodes` that lists it
    /// (or that it emits) brings it back. Events that a dead node's users emit as they are
    /// cancelled (after its `nodedown`) do not.
    pub up: bool,
    /// A cluster event reported this node down.
    pub reported_down: bool,
    /// Events emitted by this node.
    pub events: u64,
    /// `[amoc, controller, users]` totals on this node.
    pub added: u64,
    pub removed: u64,
    /// `[amoc, scenario, start, *]` spans on this node.
    pub started: u64,
    pub stopped: u64,
    pub exceptions: u64,
    /// Users that were running here when the node was reported down and have not ended since
    /// (a node killed or lost takes them with it; Amoc emits nothing for them).
    pub lost: u64,
    /// Running users per second (a gauge).
    pub running_series: Series,
}

impl NodeState {
    pub(crate) fn new(name: SmolStr) -> Self {
        NodeState {
            name,
            up: true,
            reported_down: false,
            events: 0,
            added: 0,
            removed: 0,
            started: 0,
            stopped: 0,
            exceptions: 0,
            lost: 0,
            running_series: Series::gauge(),
        }
    }

    /// `started - stopped - exceptions - lost` (negative if the log began mid-run).
    pub fn running(&self) -> i64 {
        // i128: no u64 count can overflow it; clamped to i64 on the way out.
        let r = self.started as i128
            - self.stopped as i128
            - self.exceptions as i128
            - self.lost as i128;
        r.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }
}
