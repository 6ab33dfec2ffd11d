//! The monitor state: one pure reducer over events that every pane of the TUI and the headless
//! summary read.
//!
//! [`MonitorState::apply`] takes an [`EventRef`] and does no I/O and reads no clock: time comes
//! from the event's `t_us`, so a replay and a snapshot test are deterministic. Memory is bounded
//! however long the run: per-second series are fixed rings ([`Series`]), warning and failure
//! lists are capped, span latencies are fixed-size HDR histograms ([`SpanStats`]), and the
//! tables grow only with distinct names (event names, span prefixes, throttles, coordinators,
//! nodes), which a run has few of.
//!
//! Rules for logs recorded from a real Amoc cluster:
//! * `[amoc, coordinator, execute]` carries no `name` in Amoc. It is attributed to its `name`
//!   metadata when present; else to the only coordinator known when there is exactly one; else
//!   to [`MonitorState::unattributed_executes`]. The summary's `coordinator_executes` counts all
//!   of them by kind regardless.
//! * Throttle request/execute are reported on the master and again on the worker node in a
//!   cluster. Counts are kept per node; the cluster-wide figure is the master's count when the
//!   master is known and reported any (see [`ThrottleState`]), else the sum over nodes. The
//!   master is known from cluster-event metadata (`master`, or `state.master`) or, failing that,
//!   from the node that emits `[amoc, throttle, rate]` (emitted on the master only).
//! * Pids and refs are strings and are only shown; `""` is read as an empty list; a rate may be
//!   the string `"infinity"`.

mod apply;
mod bins;
mod clock;
mod coordinator;
mod feed;
mod feed_hooks;
mod http;
mod kinds;
mod nodes;
mod series;
mod series_summary;
mod span_window;
mod spans;
mod summary;
mod threshold_hooks;
mod throttle;
mod timeline;

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use smol_str::SmolStr;

pub use crate::tap::{EventRef, LoggedEvent};
pub use apply::{MAX_COORDINATORS, MAX_NODES, MAX_THROTTLES, OTHER};
pub use bins::{BINS, SparseHist};
pub use coordinator::{CoordinatorState, EXEC_KINDS, ExecByKind, ExecStats};
pub use feed::{DEFAULT_FEED_CAPACITY, LiveFeed};
pub use feed_hooks::DrainObserver;
pub use http::{
    BacklogSummary, HttpStats, HttpSummary, LATE_START_US, Percentiles, UNSERVED_AFTER_S,
    WINDOW_SECONDS,
};
pub use kinds::{ConfigKind, CoordEvent};
pub use nodes::{NO_NODE, NodeIdx, NodeState};
pub use series::{DEFAULT_SECONDS, Series, SeriesKind};
pub use series_summary::{SeriesSummary, SpanSeriesSummary, ThrottleSeriesSummary};
pub use span_window::{RECENT_SECONDS, ROLLING_SECONDS, SpanSeconds};
pub use spans::{MAX_SPAN_PREFIXES, SPAN_MAX_US, SPAN_SIGFIG, SpanStats};
pub use summary::{
    ClusterSummary, ConfigSummary, CoordinatorSummary, ExecSummary, SpanSummary, Summary,
    ThrottleSummary, UsersSummary,
};
pub use throttle::{NodeCounts, RATE_HISTORY, RateReading, ThrottleState, ThrottleView};
pub use timeline::{Point, TIMELINE_POINTS, ThrottlePoint, Timeline};

use crate::telemetry::EventName;
use kinds::Kind;
use spans::{SpanLink, SpanTable};

/// How many config warnings and handler failures are kept (the oldest are dropped; totals go
/// on counting).
pub const KEEP_WARNINGS: usize = 256;

/// A log-shaped warning or error: `[amoc, config, *]`, or `[amoc, throttle, process]` at a
/// level more severe than `info`.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub t_us: u64,
    pub node: Option<SmolStr>,
    /// The event that carried it.
    pub event: EventName,
    /// `log_level` metadata, or the measurement key (`error`, `warning`, ...).
    pub level: SmolStr,
    pub msg: SmolStr,
    /// `setting` (config get), `variable_name` (config env), `verification_method` (verify),
    /// or the throttle name (process).
    pub setting: Option<SmolStr>,
}

/// How many failed users are kept with their reason (the first ones; later ones are counted
/// in [`UserTally::exceptions`]).
pub const KEEP_USER_FAILURES: usize = 5;

/// A user that ended with an exception (`[amoc, scenario, start, exception]`).
#[derive(Clone, Debug, PartialEq)]
pub struct UserFailure {
    pub t_us: u64,
    pub node: Option<SmolStr>,
    /// The span's `reason` metadata (empty when it had none).
    pub reason: SmolStr,
}

/// One `[telemetry, handler, failure]`.
#[derive(Clone, Debug, PartialEq)]
pub struct HandlerFailure {
    pub t_us: u64,
    pub handler_id: SmolStr,
    /// The event the handler failed on, dotted.
    pub event: SmolStr,
    pub reason: SmolStr,
}

/// Counts of a span (`[amoc, scenario, init | terminate, *]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanCounts {
    pub start: u64,
    pub stop: u64,
    pub exception: u64,
}

/// User counts across the cluster as read from events (the engine's [`crate::engine::UserCounts`] is
/// what the engine itself knows, asked directly).
#[derive(Clone, Debug)]
pub struct UserTally {
    /// Sum of `count` of `[amoc, controller, users]` with `type = add`.
    pub added: u64,
    /// The same with `type = remove`.
    pub removed: u64,
    /// `[amoc, scenario, start, start | stop | exception]`.
    pub started: u64,
    pub stopped: u64,
    pub exceptions: u64,
    /// Users running on nodes that were reported down (a `nodedown`, `master_node_down`) and
    /// have not ended since: the sum of the down nodes' [`NodeState::lost`].
    pub lost: u64,
    /// Running users per second (a gauge).
    pub running_series: Series,
    /// Users started per second.
    pub started_series: Series,
    /// User exceptions per second.
    pub exception_series: Series,
}

impl UserTally {
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

#[derive(Clone, Debug)]
struct Slot {
    name: Option<EventName>,
    kind: Kind,
    count: u64,
    /// Where the name's span durations go, if it is a span stop/exception.
    span: SpanLink,
}

const EMPTY_SLOT: Slot = Slot {
    name: None,
    kind: Kind::Unseen,
    count: 0,
    span: SpanLink::None,
};

/// The reducer. See the module documentation for the rules it follows.
///
/// ```
/// use rookery::monitor::{EventRef, MonitorState, RateReading};
/// use rookery::{event_name, fields};
///
/// let mut state = MonitorState::new();
/// let md = fields! {"name" => "login"};
/// state.apply(&EventRef {
///     t_us: 1_000,
///     node: Some("node1"),
///     name: &event_name!("amoc", "throttle", "rate"),
///     measurements: &fields! {"rate" => 600, "interval" => 60_000},
///     metadata: &md,
/// });
/// state.apply(&EventRef::new(2_000, &event_name!("amoc", "throttle", "request"),
///     &fields! {"count" => 1}, &md));
/// let login = state.throttle("login").unwrap();
/// assert_eq!(login.rate(), Some(RateReading::Finite(600.0)));
/// assert_eq!(login.requests(), 1);
/// assert_eq!(state.summary().by_event["amoc.throttle.request"], 1);
/// ```
#[derive(Clone, Debug)]
pub struct MonitorState {
    events: u64,
    first_t_us: Option<u64>,
    last_t_us: u64,
    /// Indexed by [`EventName::id`].
    slots: Vec<Slot>,
    event_series: Series,
    users: UserTally,
    /// Scenario name from the first span metadata that had one.
    scenario: Option<SmolStr>,
    init_span: SpanCounts,
    terminate_span: SpanCounts,
    spans: SpanTable,
    throttles: Vec<ThrottleState>,
    throttle_idx: FxHashMap<SmolStr, usize>,
    last_throttle: usize,
    coordinators: Vec<CoordinatorState>,
    coordinator_idx: FxHashMap<SmolStr, usize>,
    coordinator_executes: ExecByKind,
    unattributed_executes: ExecByKind,
    config_counts: [u64; 3],
    warnings: VecDeque<Warning>,
    warnings_total: u64,
    cluster_counts: [u64; 3],
    nodes: Vec<NodeState>,
    node_idx: FxHashMap<SmolStr, NodeIdx>,
    last_node: NodeIdx,
    master: Option<NodeIdx>,
    master_explicit: bool,
    handler_failures: u64,
    failures: VecDeque<HandlerFailure>,
    dropped: u64,
    recorder_dropped: u64,
    /// The second being filled (`u64::MAX` before the first event).
    open_sec: u64,
    timeline: timeline::Timeline,
    thresholds: Option<Box<crate::report::threshold::ThresholdSet>>,
    first_user_failures: Vec<UserFailure>,
    /// Names past [`MAX_THROTTLES`] / [`MAX_COORDINATORS`] / [`MAX_NODES`], by table.
    capped: [u64; 3],
    /// Made by the first `http` event.
    http: Option<Box<HttpStats>>,
}

impl Default for MonitorState {
    fn default() -> Self {
        Self::new()
    }
}

impl MonitorState {
    /// An empty state.
    pub fn new() -> Self {
        MonitorState {
            events: 0,
            first_t_us: None,
            last_t_us: 0,
            slots: Vec::new(),
            event_series: Series::counter(),
            users: UserTally {
                added: 0,
                removed: 0,
                started: 0,
                stopped: 0,
                exceptions: 0,
                lost: 0,
                running_series: Series::gauge(),
                started_series: Series::counter(),
                exception_series: Series::counter(),
            },
            scenario: None,
            init_span: SpanCounts::default(),
            terminate_span: SpanCounts::default(),
            spans: SpanTable::default(),
            throttles: Vec::new(),
            throttle_idx: FxHashMap::default(),
            last_throttle: usize::MAX,
            coordinators: Vec::new(),
            coordinator_idx: FxHashMap::default(),
            coordinator_executes: ExecByKind::default(),
            unattributed_executes: ExecByKind::default(),
            config_counts: [0; 3],
            warnings: VecDeque::new(),
            warnings_total: 0,
            cluster_counts: [0; 3],
            nodes: Vec::new(),
            node_idx: FxHashMap::default(),
            last_node: NO_NODE,
            master: None,
            master_explicit: false,
            handler_failures: 0,
            failures: VecDeque::new(),
            dropped: 0,
            recorder_dropped: 0,
            open_sec: u64::MAX,
            timeline: timeline::Timeline::default(),
            thresholds: None,
            first_user_failures: Vec::new(),
            capped: [0; 3],
            http: None,
        }
    }

    /// Events applied.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// How many times `name` was applied.
    pub fn count(&self, name: EventName) -> u64 {
        // The state holds the names of its slots, so no other live name has their ids.
        self.slots.get(name.id() as usize).map_or(0, |s| s.count)
    }

    /// Every event name seen with its count, sorted by name (user-defined ones included).
    pub fn counts(&self) -> Vec<(EventName, u64)> {
        let mut v: Vec<(EventName, u64)> = self
            .slots
            .iter()
            .filter_map(|s| s.name.clone().map(|n| (n, s.count)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Time of the first and latest event, in µs since the start.
    pub fn first_t_us(&self) -> Option<u64> {
        self.first_t_us
    }
    pub fn last_t_us(&self) -> u64 {
        self.last_t_us
    }

    /// Events per second (all names).
    pub fn event_series(&self) -> &Series {
        &self.event_series
    }

    pub fn users(&self) -> &UserTally {
        &self.users
    }

    /// The scenario name, once a span carried one.
    pub fn scenario(&self) -> Option<&str> {
        self.scenario.as_deref()
    }
    /// `[amoc, scenario, init, *]` and `[amoc, scenario, terminate, *]` counts.
    pub fn init_span(&self) -> SpanCounts {
        self.init_span
    }
    pub fn terminate_span(&self) -> SpanCounts {
        self.terminate_span
    }

    /// Latency of every span prefix (names ending in `stop` / `exception` with a `duration`),
    /// in order of first appearance. See [`SpanStats`] for the rules.
    pub fn spans(&self) -> &[SpanStats] {
        self.spans.entries()
    }

    /// One span prefix by its dotted name, e.g. `"http.request"`.
    pub fn span(&self, prefix: &str) -> Option<&SpanStats> {
        self.spans.get(prefix)
    }

    /// Raw throttle states, in order of first appearance.
    pub fn throttle_states(&self) -> &[ThrottleState] {
        &self.throttles
    }

    /// Throttles with the cluster-wide counting rule applied, in order of first appearance.
    pub fn throttles(&self) -> impl Iterator<Item = ThrottleView<'_>> {
        self.throttles
            .iter()
            .map(move |t| ThrottleView::new(t, self.master))
    }

    /// One throttle by name.
    pub fn throttle(&self, name: &str) -> Option<ThrottleView<'_>> {
        self.throttle_idx
            .get(name)
            .map(|&i| ThrottleView::new(&self.throttles[i], self.master))
    }

    /// Coordinators in order of first appearance.
    pub fn coordinators(&self) -> &[CoordinatorState] {
        &self.coordinators
    }

    /// One coordinator by name.
    pub fn coordinator(&self, name: &str) -> Option<&CoordinatorState> {
        self.coordinator_idx
            .get(name)
            .map(|&i| &self.coordinators[i])
    }

    /// All `[amoc, coordinator, execute]` events by kind, attributed or not.
    pub fn coordinator_executes(&self) -> &ExecByKind {
        &self.coordinator_executes
    }

    /// Executes that could not be attributed to a coordinator (no `name`, and zero or several
    /// coordinators known).
    pub fn unattributed_executes(&self) -> &ExecByKind {
        &self.unattributed_executes
    }

    /// `[amoc, config, get | verify | env]` counts.
    pub fn config_count(&self, kind: ConfigKind) -> u64 {
        self.config_counts[kind as usize]
    }

    /// The last [`KEEP_WARNINGS`] warnings, oldest first.
    pub fn warnings(&self) -> &VecDeque<Warning> {
        &self.warnings
    }
    /// All warnings ever seen (including those no longer kept).
    pub fn warnings_total(&self) -> u64 {
        self.warnings_total
    }

    /// `connect_nodes`, `nodedown`, `master_node_down` counts.
    pub fn cluster_counts(&self) -> (u64, u64, u64) {
        let [a, b, c] = self.cluster_counts;
        (a, b, c)
    }

    /// Nodes in order of first appearance.
    pub fn nodes(&self) -> &[NodeState] {
        &self.nodes
    }

    /// The master node, when known.
    pub fn master(&self) -> Option<&NodeState> {
        self.master.and_then(|i| self.nodes.get(i as usize))
    }

    /// `[telemetry, handler, failure]` events, and the last [`KEEP_WARNINGS`] of them.
    pub fn handler_failures(&self) -> u64 {
        self.handler_failures
    }
    pub fn failures(&self) -> &VecDeque<HandlerFailure> {
        &self.failures
    }

    /// Events this state never saw: the sum of the `[rookery, tap, dropped]` (the event tap's
    /// queue was full) and `[rookery, monitor, dropped]` (the live feed fell behind) events
    /// applied.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
    /// Sets the dropped-events count (a replay that seeks rebuilds the state and keeps it).
    pub fn set_dropped(&mut self, n: u64) {
        self.dropped = n;
    }
    /// Events a recorder reported lost (`[rookery, recorder, dropped]` lines in a log).
    pub fn recorder_dropped(&self) -> u64 {
        self.recorder_dropped
    }

    /// The first [`KEEP_USER_FAILURES`] users that failed, with their reason.
    pub fn first_user_failures(&self) -> &[UserFailure] {
        &self.first_user_failures
    }

    /// Events whose throttle, coordinator or node name came past the table's cap and were
    /// counted under [`OTHER`] (summed over the three tables).
    pub fn capped(&self) -> u64 {
        self.capped.iter().fold(0u64, |a, n| a.saturating_add(*n))
    }

    /// What the built-in `http` scenario's events say, once there was one.
    pub fn http(&self) -> Option<&HttpStats> {
        self.http.as_deref()
    }

    /// Seconds from the start of the run to the latest event.
    pub fn duration_s(&self) -> f64 {
        self.last_t_us as f64 / 1e6
    }
}
