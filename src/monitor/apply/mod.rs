//! [`MonitorState::apply`]: the reducer's hot path.

use smol_str::SmolStr;

use super::kinds::{ClusterKind, CoordEvent, Kind, SpanEdge, classify};
use super::nodes::{NO_NODE, NodeIdx, NodeState};
use super::spans::SpanLink;
use super::throttle::ThrottleState;
use super::{
    CoordinatorState, EMPTY_SLOT, EventRef, HandlerFailure, KEEP_USER_FAILURES, KEEP_WARNINGS,
    MonitorState, Slot, UserFailure, Warning,
};
use crate::telemetry::{Field, Fields, StaticName, Value};

mod throttle;

const US_PER_SEC: u64 = 1_000_000;

/// Most distinct throttles, coordinators and nodes the state keeps; the rest are counted
/// together under [`OTHER`] (one warning names the table), so no log grows it without bound.
pub const MAX_THROTTLES: usize = 1024;
/// See [`MAX_THROTTLES`].
pub const MAX_COORDINATORS: usize = 1024;
/// See [`MAX_THROTTLES`].
pub const MAX_NODES: usize = 1024;
/// Up to this many nodes, an event's node is found by comparing names rather than hashing.
const SCAN_NODES: usize = 8;
/// The name of the bucket that counts what is past a cap.
pub const OTHER: &str = "(other)";

/// `[rookery, monitor, capped]`: the event a cap warning is filed under.
static CAPPED_EVENT: StaticName = StaticName::new(&["rookery", "monitor", "capped"]);

/// The capped tables, indexing `MonitorState::capped`.
#[derive(Clone, Copy)]
pub(crate) enum Table {
    Throttles,
    Coordinators,
    Nodes,
}

/// The `count` measurement as an unsigned number (1 when absent, 0 when negative).
#[inline]
fn count_of(m: &[Field]) -> u64 {
    match m.lookup("count") {
        Some(v) => v.as_i64().map_or(0, |c| c.max(0) as u64),
        None => 1,
    }
}

/// A string-ish value: strings as they are, other scalars rendered.
fn text(v: &Value) -> SmolStr {
    match v {
        Value::Str(s) => s.clone(),
        other => SmolStr::new(other.to_string()),
    }
}

/// A list of node names: a list of strings, a single name, or `""` (Amoc's empty list).
fn node_list(v: Option<&Value>) -> Vec<SmolStr> {
    match v {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|i| i.as_str())
            .map(SmolStr::new)
            .collect(),
        Some(Value::Str(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

impl MonitorState {
    /// Applies one event. Pure: no I/O, no clock. Events are expected in time order; an
    /// earlier `t_us` than the latest is treated as the latest for the per-second series.
    #[inline]
    pub fn apply(&mut self, ev: &EventRef<'_>) {
        let t = ev.t_us.max(self.last_t_us);
        if self.first_t_us.is_none() {
            self.first_t_us = Some(ev.t_us);
        }
        self.last_t_us = t;
        let sec = t / US_PER_SEC;
        if sec != self.open_sec {
            self.roll_seconds(sec);
        }
        self.events = self.events.saturating_add(1);
        self.event_series.add(sec, 1);

        let id = ev.name.id() as usize;
        if id >= self.slots.len() {
            self.slots.resize(id + 1, EMPTY_SLOT);
        }
        let slot = &mut self.slots[id];
        if slot.kind == Kind::Unseen {
            *slot = Slot {
                name: Some(ev.name.clone()),
                kind: classify(ev.name),
                count: 0,
                span: SpanLink::of(ev.name),
            };
        }
        slot.count = slot.count.saturating_add(1);
        let kind = slot.kind;
        if slot.span != SpanLink::None {
            let link = slot.span;
            if let Some(new) = self.spans.apply(ev.name, link, ev.measurements, sec) {
                self.slots[id].span = new;
            }
        }

        let node = self.node_of(ev.node);
        if node != NO_NODE {
            let n = &mut self.nodes[node as usize];
            n.events = n.events.saturating_add(1);
            if !n.reported_down {
                n.up = true;
            }
        }

        match kind {
            Kind::Unseen | Kind::Other => {}
            Kind::ThrottleRequest | Kind::ThrottleExecute => {
                let Some(name) = ev.metadata.get_str("name") else {
                    return;
                };
                let th = self.throttle_mut(name);
                let c = th.node_counts(node);
                let n = count_of(ev.measurements);
                if kind == Kind::ThrottleRequest {
                    c.requests = c.requests.saturating_add(n);
                    c.request_series.add(sec, n);
                } else {
                    c.executes = c.executes.saturating_add(n);
                    c.execute_series.add(sec, n);
                }
            }
            Kind::UserStart | Kind::UserStop | Kind::UserException => {
                self.user_span(kind, node, sec, ev)
            }
            Kind::Http(e) => self.http.get_or_insert_with(Default::default).apply(
                e,
                sec,
                ev.measurements,
                ev.metadata,
            ),
            _ => self.apply_rare(kind, node, t, ev),
        }
    }

    #[inline]
    fn node_of(&mut self, name: Option<&str>) -> NodeIdx {
        let Some(name) = name else {
            return NO_NODE;
        };
        if self.last_node != NO_NODE && self.nodes[self.last_node as usize].name == name {
            return self.last_node;
        }
        // A run's events interleave its nodes (three by default): a few names are compared
        // faster than one is hashed.
        let scanned = if self.nodes.len() <= SCAN_NODES {
            self.nodes.iter().position(|n| n.name == name)
        } else {
            None
        };
        let idx = match scanned {
            Some(i) => i as NodeIdx,
            None => self.node_index(name),
        };
        self.last_node = idx;
        idx
    }

    fn node_index(&mut self, name: &str) -> NodeIdx {
        if let Some(&i) = self.node_idx.get(name) {
            return i;
        }
        let key = if self.nodes.len() < MAX_NODES {
            SmolStr::new(name)
        } else {
            self.note_capped(Table::Nodes);
            if let Some(&i) = self.node_idx.get(OTHER) {
                return i;
            }
            SmolStr::new_static(OTHER)
        };
        let i = self.nodes.len() as NodeIdx;
        self.nodes.push(NodeState::new(key.clone()));
        self.node_idx.insert(key, i);
        i
    }

    /// A name past its table's cap: counted, and a warning the first time.
    #[cold]
    fn note_capped(&mut self, table: Table) {
        let n = &mut self.capped[table as usize];
        *n = n.saturating_add(1);
        if *n > 1 {
            return;
        }
        let (what, cap) = match table {
            Table::Throttles => ("throttles", MAX_THROTTLES),
            Table::Coordinators => ("coordinators", MAX_COORDINATORS),
            Table::Nodes => ("nodes", MAX_NODES),
        };
        self.warnings_total = self.warnings_total.saturating_add(1);
        push_bounded(
            &mut self.warnings,
            Warning {
                t_us: self.last_t_us,
                node: None,
                event: CAPPED_EVENT.get(),
                level: SmolStr::new_static("warning"),
                msg: SmolStr::new(format!(
                    "more than {cap} distinct {what}: the others are counted together as {OTHER}"
                )),
                setting: None,
            },
        );
    }

    #[inline]
    fn throttle_mut(&mut self, name: &str) -> &mut ThrottleState {
        if self.last_throttle < self.throttles.len()
            && self.throttles[self.last_throttle].name == name
        {
            return &mut self.throttles[self.last_throttle];
        }
        let i = match self.throttle_idx.get(name) {
            Some(&i) => i,
            None if self.throttles.len() < MAX_THROTTLES => {
                let key = SmolStr::new(name);
                self.throttles.push(ThrottleState::new(key.clone()));
                self.throttle_idx.insert(key, self.throttles.len() - 1);
                self.throttles.len() - 1
            }
            None => {
                self.note_capped(Table::Throttles);
                match self.throttle_idx.get(OTHER) {
                    Some(&i) => i,
                    None => {
                        let key = SmolStr::new_static(OTHER);
                        self.throttles.push(ThrottleState::new(key.clone()));
                        self.throttle_idx.insert(key, self.throttles.len() - 1);
                        self.throttles.len() - 1
                    }
                }
            }
        };
        self.last_throttle = i;
        &mut self.throttles[i]
    }

    fn coordinator_mut(&mut self, name: &str) -> &mut CoordinatorState {
        let i = match self.coordinator_idx.get(name) {
            Some(&i) => i,
            None => {
                let key = if self.coordinators.len() < MAX_COORDINATORS {
                    SmolStr::new(name)
                } else {
                    self.note_capped(Table::Coordinators);
                    if let Some(&i) = self.coordinator_idx.get(OTHER) {
                        return &mut self.coordinators[i];
                    }
                    SmolStr::new_static(OTHER)
                };
                self.coordinators.push(CoordinatorState::new(key.clone()));
                self.coordinator_idx
                    .insert(key, self.coordinators.len() - 1);
                self.coordinators.len() - 1
            }
        };
        &mut self.coordinators[i]
    }

    #[inline]
    fn user_span(&mut self, kind: Kind, node: NodeIdx, sec: u64, ev: &EventRef<'_>) {
        let u = &mut self.users;
        match kind {
            Kind::UserStart => {
                u.started = u.started.saturating_add(1);
                u.started_series.add(sec, 1);
            }
            Kind::UserStop => u.stopped = u.stopped.saturating_add(1),
            _ => {
                u.exceptions = u.exceptions.saturating_add(1);
                u.exception_series.add(sec, 1);
                if self.first_user_failures.len() < KEEP_USER_FAILURES {
                    let md = ev.metadata;
                    self.first_user_failures.push(UserFailure {
                        t_us: ev.t_us,
                        node: ev.node.map(SmolStr::new),
                        reason: md.lookup("reason").map(text).unwrap_or_default(),
                    });
                }
            }
        }
        let u = &mut self.users;
        u.running_series.set(sec, u.running().max(0) as u64);
        if node != NO_NODE {
            let n = &mut self.nodes[node as usize];
            match kind {
                Kind::UserStart => n.started = n.started.saturating_add(1),
                Kind::UserStop => n.stopped = n.stopped.saturating_add(1),
                _ => n.exceptions = n.exceptions.saturating_add(1),
            }
            if kind != Kind::UserStart && n.lost > 0 {
                // A user counted lost when its node went down ended after all: count it once.
                n.lost -= 1;
                u.lost = u.lost.saturating_sub(1);
                u.running_series.set(sec, u.running().max(0) as u64);
            }
            n.running_series.set(sec, n.running().max(0) as u64);
        }
        if self.scenario.is_none()
            && let Some(s) = ev.metadata.get_str("scenario")
        {
            self.scenario = Some(SmolStr::new(s));
        }
    }

    /// Everything but the per-user and per-request events.
    #[cold]
    fn apply_rare(&mut self, kind: Kind, node: NodeIdx, t: u64, ev: &EventRef<'_>) {
        let md = ev.metadata;
        match kind {
            Kind::ControllerUsers => {
                let n = count_of(ev.measurements);
                let remove = md.get_str("type") == Some("remove");
                if remove {
                    self.users.removed = self.users.removed.saturating_add(n);
                } else {
                    self.users.added = self.users.added.saturating_add(n);
                }
                if node != NO_NODE {
                    let ns = &mut self.nodes[node as usize];
                    if remove {
                        ns.removed = ns.removed.saturating_add(n);
                    } else {
                        ns.added = ns.added.saturating_add(n);
                    }
                }
            }
            Kind::ScenarioInit(e) | Kind::ScenarioTerminate(e) => {
                let span = if matches!(kind, Kind::ScenarioInit(_)) {
                    &mut self.init_span
                } else {
                    &mut self.terminate_span
                };
                match e {
                    SpanEdge::Start => span.start = span.start.saturating_add(1),
                    SpanEdge::Stop => span.stop = span.stop.saturating_add(1),
                    SpanEdge::Exception => span.exception = span.exception.saturating_add(1),
                }
                if self.scenario.is_none()
                    && let Some(s) = md.get_str("scenario")
                {
                    self.scenario = Some(SmolStr::new(s));
                }
            }
            Kind::ThrottleInit | Kind::ThrottleRate | Kind::ThrottleProcess => {
                self.throttle_event(kind, node, t, ev)
            }
            Kind::Coordinator(e) => {
                let name = md.get_str("name").unwrap_or("?");
                let c = self.coordinator_mut(name);
                match e {
                    CoordEvent::Start => c.start = c.start.saturating_add(1),
                    CoordEvent::Stop => c.stop = c.stop.saturating_add(1),
                    CoordEvent::Add => c.add = c.add.saturating_add(1),
                    CoordEvent::Reset => c.reset = c.reset.saturating_add(1),
                    CoordEvent::Timeout => c.timeout = c.timeout.saturating_add(1),
                }
            }
            Kind::CoordinatorExecute => {
                let batch = ev
                    .measurements
                    .get_i64("count")
                    .map_or(0, |c| c.max(0) as u64);
                let what = md.get_str("event").unwrap_or("?");
                self.coordinator_executes.record(what, batch);
                if let Some(name) = md.get_str("name") {
                    self.coordinator_mut(name).executes.record(what, batch);
                } else if self.coordinators.len() == 1 {
                    self.coordinators[0].executes.record(what, batch);
                } else {
                    self.unattributed_executes.record(what, batch);
                }
            }
            Kind::Config(k) => {
                self.config_counts[k as usize] = self.config_counts[k as usize].saturating_add(1);
                let setting = md
                    .lookup("setting")
                    .or_else(|| md.lookup("variable_name"))
                    .or_else(|| md.lookup("verification_method"))
                    .map(text);
                self.warn(t, ev, setting);
            }
            Kind::Cluster(k) => self.cluster_event(k, node, t / US_PER_SEC, md),
            Kind::HandlerFailure => {
                self.handler_failures = self.handler_failures.saturating_add(1);
                let event = match md.lookup("event_name") {
                    Some(Value::List(parts)) => SmolStr::new(
                        parts
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join("."),
                    ),
                    Some(other) => text(other),
                    None => SmolStr::default(),
                };
                push_bounded(
                    &mut self.failures,
                    HandlerFailure {
                        t_us: t,
                        handler_id: md.lookup("handler_id").map(text).unwrap_or_default(),
                        event,
                        reason: md.lookup("reason").map(text).unwrap_or_default(),
                    },
                );
            }
            Kind::RecorderDropped => {
                self.recorder_dropped = self
                    .recorder_dropped
                    .saturating_add(count_of(ev.measurements));
            }
            Kind::RookeryNotice => {
                let file = md.lookup("file").map(text);
                self.warn(t, ev, file);
            }
            Kind::FeedDropped => {
                self.dropped = self.dropped.saturating_add(count_of(ev.measurements));
            }
            Kind::Unseen
            | Kind::Other
            | Kind::ThrottleRequest
            | Kind::ThrottleExecute
            | Kind::UserStart
            | Kind::UserStop
            | Kind::UserException
            | Kind::Http(_) => {}
        }
    }

    fn warn(&mut self, t: u64, ev: &EventRef<'_>, setting: Option<SmolStr>) {
        self.warnings_total = self.warnings_total.saturating_add(1);
        let w = Warning {
            t_us: t,
            node: ev.node.map(SmolStr::new),
            event: ev.name.clone(),
            level: level_of(ev),
            msg: ev.metadata.lookup("msg").map(text).unwrap_or_default(),
            setting,
        };
        push_bounded(&mut self.warnings, w);
    }

    /// A cluster event says `node` is up or down. A node that goes down takes its running users
    /// with it: they count as `lost` (not running) until they end after all (a killed node's
    /// users cancelled as it goes) or the node comes back.
    fn set_up(&mut self, node: NodeIdx, up: bool, sec: u64) {
        let n = &mut self.nodes[node as usize];
        let tally = &mut self.users;
        if up && n.reported_down {
            tally.lost = tally.lost.saturating_sub(n.lost);
            n.lost = 0;
        } else if !up && !n.reported_down {
            let running = n.running().max(0) as u64;
            n.lost = running;
            tally.lost = tally.lost.saturating_add(running);
        } else {
            n.up = up;
            return;
        }
        n.up = up;
        n.reported_down = !up;
        n.running_series.set(sec, n.running().max(0) as u64);
        tally.running_series.set(sec, tally.running().max(0) as u64);
    }

    fn cluster_event(&mut self, k: ClusterKind, node: NodeIdx, sec: u64, md: &[Field]) {
        self.cluster_counts[k as usize] = self.cluster_counts[k as usize].saturating_add(1);
        let master = md.get_str("master").map(SmolStr::new).or_else(|| {
            md.lookup("state")
                .and_then(Value::as_map)
                .and_then(|s| s.get_str("master"))
                .map(SmolStr::new)
        });
        if let Some(m) = master
            && !m.is_empty()
            && m != "undefined"
        {
            let i = self.node_index(&m);
            self.master = Some(i);
            self.master_explicit = true;
        }
        let listed = node_list(md.lookup("nodes"));
        let up = k == ClusterKind::ConnectNodes;
        for n in &listed {
            let i = self.node_index(n);
            self.set_up(i, up, sec);
        }
        if up && node != NO_NODE {
            // A node that reports a connection is itself up.
            self.set_up(node, true, sec);
        }
        if k == ClusterKind::MasterNodeDown {
            if let Some(m) = self.master {
                self.set_up(m, false, sec);
            }
            // The node that reports it halts right after (Amoc's erlang:halt()).
            if node != NO_NODE {
                self.set_up(node, false, sec);
            }
        }
    }
}

/// `log_level` metadata, else the measurement key of a log-shaped event (`#{error => 1}`).
fn level_of(ev: &EventRef<'_>) -> SmolStr {
    ev.metadata
        .get_str("log_level")
        .map(SmolStr::new)
        .or_else(|| ev.measurements.first().map(|(k, _)| k.clone()))
        .unwrap_or_default()
}

fn push_bounded<T>(q: &mut std::collections::VecDeque<T>, item: T) {
    if q.len() >= KEEP_WARNINGS {
        q.pop_front();
    }
    q.push_back(item);
}
