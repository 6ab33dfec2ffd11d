//! Per-throttle state.

use std::collections::VecDeque;

use smallvec::SmallVec;
use smol_str::SmolStr;

use super::nodes::{NO_NODE, NodeIdx};
use super::series::Series;
use crate::telemetry::Value;

/// How many rate changes a throttle remembers.
pub const RATE_HISTORY: usize = 64;

/// A throttle's rate as read from its events: a number of executions per interval (a float, as
/// logs may carry), or no limit. The engine's own setting is [`crate::engine::throttle::Rate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateReading {
    Finite(f64),
    Infinity,
}

impl RateReading {
    /// Reads a rate measurement: a number, or the string `"infinity"`.
    pub fn from_value(v: &Value) -> Option<RateReading> {
        match v {
            Value::Str(s) if s == "infinity" => Some(RateReading::Infinity),
            Value::Float(f) if f.is_infinite() && *f > 0.0 => Some(RateReading::Infinity),
            other => other.as_f64().map(RateReading::Finite),
        }
    }
}

impl serde::Serialize for RateReading {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            RateReading::Infinity => s.serialize_str("infinity"),
            RateReading::Finite(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                s.serialize_i64(f as i64)
            }
            RateReading::Finite(f) => s.serialize_f64(f),
        }
    }
}

/// Requests and executes reported by one node for one throttle.
#[derive(Clone, Debug)]
pub struct NodeCounts {
    /// The reporting node ([`NO_NODE`] for events without a node).
    pub node: NodeIdx,
    pub requests: u64,
    pub executes: u64,
    pub request_series: Series,
    pub execute_series: Series,
}

/// Everything known about one throttle.
#[derive(Clone, Debug)]
pub struct ThrottleState {
    pub name: SmolStr,
    /// The last `[amoc, throttle, rate]`; `None` until one is seen.
    pub rate: Option<RateReading>,
    /// Interval in milliseconds of the last rate event that carried one.
    pub interval_ms: Option<i64>,
    /// `[amoc, throttle, init]` events.
    pub inits: u64,
    /// `[amoc, throttle, rate]` events.
    pub rate_events: u64,
    /// `(t_us, rate)` of the last [`RATE_HISTORY`] rate events, oldest first.
    pub rate_history: VecDeque<(u64, RateReading)>,
    /// Paused, when known: from a `paused` metadata flag (on init, rate or process events), a
    /// process message mentioning pause/resume, or from `[amoc, throttle, process]`
    /// state updates (Amoc sets `max_n = 0` and `delay_between_executions = infinity` on pause).
    pub paused: Option<bool>,
    /// Ramping (a gradual rate change in progress), when an event says so (`ramping` metadata,
    /// or a process message about a gradual change: "... finished/cancelled" ends it).
    pub ramping: Option<bool>,
    /// The target of the ramp in progress and when it ends (µs since the start), when the
    /// engine says (`ramp_target`, `ramp_ends_in_ms` metadata; Rookery's engine sends them).
    pub ramp_target: Option<RateReading>,
    pub ramp_ends_us: Option<u64>,
    /// `[amoc, throttle, process]` events and the last message they carried.
    pub process_events: u64,
    pub last_process_msg: Option<SmolStr>,
    pub(crate) by_node: SmallVec<[NodeCounts; 2]>,
    /// The cluster's master reported this throttle's rate: other nodes' rate events (a real
    /// cluster's workers report their share) no longer set `rate`.
    pub(crate) master_rate: bool,
    pub(crate) paused_procs: SmallVec<[SmolStr; 4]>,
}

impl ThrottleState {
    pub(crate) fn new(name: SmolStr) -> Self {
        ThrottleState {
            name,
            rate: None,
            interval_ms: None,
            inits: 0,
            rate_events: 0,
            rate_history: VecDeque::new(),
            paused: None,
            ramping: None,
            ramp_target: None,
            ramp_ends_us: None,
            process_events: 0,
            last_process_msg: None,
            by_node: SmallVec::new(),
            master_rate: false,
            paused_procs: SmallVec::new(),
        }
    }

    #[inline]
    pub(crate) fn node_counts(&mut self, node: NodeIdx) -> &mut NodeCounts {
        let pos = match self.by_node.iter().position(|c| c.node == node) {
            Some(p) => p,
            None => {
                self.by_node.push(NodeCounts {
                    node,
                    requests: 0,
                    executes: 0,
                    request_series: Series::counter(),
                    execute_series: Series::counter(),
                });
                self.by_node.len() - 1
            }
        };
        &mut self.by_node[pos]
    }

    pub(crate) fn push_rate(&mut self, t_us: u64, rate: RateReading) {
        if self.rate_history.len() == RATE_HISTORY {
            self.rate_history.pop_front();
        }
        self.rate_history.push_back((t_us, rate));
        self.rate = Some(rate);
    }

    /// Per-node counts, as reported (in a cluster, Amoc reports each request on the master and
    /// again on the worker that made it).
    pub fn per_node(&self) -> &[NodeCounts] {
        &self.by_node
    }

    /// The counts that make the cluster-wide total. The rule: when the master is known and has
    /// reported requests or executes for this throttle, only the master's count (Amoc's throttle
    /// processes live on the master and see every request; workers re-report their own).
    /// Otherwise every node's count is added (a single node, a log without nodes, or an engine
    /// that reports each request once from the node that made it).
    pub(crate) fn counted(&self, master: Option<NodeIdx>) -> SmallVec<[&NodeCounts; 2]> {
        if let Some(m) = master
            && m != NO_NODE
            && let Some(c) = self.by_node.iter().find(|c| c.node == m)
            && c.requests + c.executes > 0
        {
            let mut v = SmallVec::new();
            v.push(c);
            // Events without a node cannot be double-reported by a worker: keep them too.
            if let Some(n) = self.by_node.iter().find(|c| c.node == NO_NODE) {
                v.push(n);
            }
            return v;
        }
        self.by_node.iter().collect()
    }
}

/// A throttle as the panes show it, with the cluster-wide counting rule applied.
#[derive(Clone, Debug)]
pub struct ThrottleView<'a> {
    pub state: &'a ThrottleState,
    counted: SmallVec<[&'a NodeCounts; 2]>,
}

impl<'a> ThrottleView<'a> {
    pub(crate) fn new(state: &'a ThrottleState, master: Option<NodeIdx>) -> Self {
        ThrottleView {
            state,
            counted: state.counted(master),
        }
    }

    pub fn name(&self) -> &'a str {
        &self.state.name
    }
    pub fn rate(&self) -> Option<RateReading> {
        self.state.rate
    }
    pub fn interval_ms(&self) -> Option<i64> {
        self.state.interval_ms
    }
    pub fn paused(&self) -> Option<bool> {
        self.state.paused
    }
    pub fn ramping(&self) -> Option<bool> {
        self.state.ramping
    }
    /// Cluster-wide requests (see the counting rule on [`ThrottleState`]).
    pub fn requests(&self) -> u64 {
        self.counted
            .iter()
            .fold(0u64, |a, c| a.saturating_add(c.requests))
    }
    /// Cluster-wide executes.
    pub fn executes(&self) -> u64 {
        self.counted
            .iter()
            .fold(0u64, |a, c| a.saturating_add(c.executes))
    }
    /// Requests not yet executed (`requests - executes`, at least 0).
    pub fn backlog(&self) -> u64 {
        self.requests().saturating_sub(self.executes())
    }
    /// Requests per second over the last `n` seconds, oldest first.
    pub fn request_series(&self, n: usize) -> Vec<u64> {
        let s: SmallVec<[&Series; 2]> = self.counted.iter().map(|c| &c.request_series).collect();
        Series::merged(&s, n)
    }
    /// Requests per second for the `n` seconds ending at `end_sec`, oldest first (a live view
    /// passes the current second so idle seconds show as 0).
    pub fn request_window(&self, end_sec: u64, n: usize) -> Vec<u64> {
        window_sum(self.counted.iter().map(|c| &c.request_series), end_sec, n)
    }
    /// Executes per second for the `n` seconds ending at `end_sec`, oldest first.
    pub fn execute_window(&self, end_sec: u64, n: usize) -> Vec<u64> {
        window_sum(self.counted.iter().map(|c| &c.execute_series), end_sec, n)
    }
    /// Executes per second over the last `n` seconds, oldest first.
    pub fn execute_series(&self, n: usize) -> Vec<u64> {
        let s: SmallVec<[&Series; 2]> = self.counted.iter().map(|c| &c.execute_series).collect();
        Series::merged(&s, n)
    }
}

fn window_sum<'a>(series: impl Iterator<Item = &'a Series>, end_sec: u64, n: usize) -> Vec<u64> {
    let n = n.min(super::series::DEFAULT_SECONDS);
    let mut out: Vec<u64> = vec![0; n];
    for s in series {
        for (o, v) in out.iter_mut().zip(s.window(end_sec, n)) {
            *o = o.saturating_add(v);
        }
    }
    out
}
