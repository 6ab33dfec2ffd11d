//! The headless summary: [`MonitorState`] serialized as the README's "Results" section documents.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ConfigKind, HttpSummary, MonitorState, RateReading};

/// `users` of the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsersSummary {
    pub added: u64,
    pub removed: u64,
    pub started: u64,
    pub stopped: u64,
    pub exceptions: u64,
    /// Users that were running on a node when it was reported down and never ended (a node
    /// killed or lost takes its users with it). Always present, 0 in a run without one.
    pub lost: u64,
    /// `started - stopped - exceptions - lost`.
    pub running: i64,
}

/// One throttle of the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThrottleSummary {
    /// A number or `"infinity"`; `null` when no rate event was seen.
    pub rate: Option<RateReading>,
    /// Milliseconds; `null` when no rate event carried one.
    pub interval: Option<i64>,
    pub requests: u64,
    pub executes: u64,
}

/// One coordinator of the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CoordinatorSummary {
    pub add: u64,
    pub reset: u64,
    pub timeout: u64,
    pub start: u64,
    pub stop: u64,
}

/// One kind of coordinator execute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecSummary {
    pub events: u64,
    pub users: u64,
}

/// `config` of the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigSummary {
    pub get: u64,
    pub verify: u64,
    pub env: u64,
}

/// `cluster` of the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterSummary {
    pub connect_nodes: u64,
    pub nodedown: u64,
    pub master_node_down: u64,
}

/// One span prefix of the summary: stop count, stop-duration percentiles and exact maximum in
/// whole µs (percentiles to within 0.1 %), and the exception count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpanSummary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub exceptions: u64,
}

/// The headless summary JSON (the README's "Results"). Maps are sorted by key
/// so the output is stable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub events: u64,
    pub by_event: BTreeMap<String, u64>,
    pub users: UsersSummary,
    pub throttles: BTreeMap<String, ThrottleSummary>,
    pub coordinators: BTreeMap<String, CoordinatorSummary>,
    /// `coordinate`, `reset`, `timeout`, `stop` always, plus any other kind seen.
    pub coordinator_executes: BTreeMap<String, ExecSummary>,
    pub config: ConfigSummary,
    pub cluster: ClusterSummary,
    /// `"up"` or `"down"`.
    pub nodes: BTreeMap<String, &'static str>,
    pub handler_failures: u64,
    /// Events this summary never saw: the event tap's queue was full, or the live feed fell
    /// behind (the recording, when there is one, has the latter). 0: the summary is complete.
    pub dropped_events: u64,
    pub duration_s: f64,
    /// Latency per span prefix (dotted), e.g. `http.request` (added after the original keys).
    pub spans: BTreeMap<String, SpanSummary>,
    /// The built-in `http` scenario's requests (absent when there were none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSummary>,
    /// Every `--threshold` with its value and outcome (empty without thresholds).
    pub thresholds: Vec<crate::report::threshold::ThresholdResult>,
    /// The run over time (shape: [`SeriesSummary`](super::SeriesSummary)).
    pub series: super::SeriesSummary,
}

impl Summary {
    /// Pretty JSON, as `--headless` prints it.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl MonitorState {
    /// The summary of everything applied so far.
    pub fn summary(&self) -> Summary {
        let u = self.users();
        let (connect_nodes, nodedown, master_node_down) = self.cluster_counts();
        Summary {
            events: self.events(),
            by_event: self
                .counts()
                .into_iter()
                .map(|(n, c)| (n.dotted().to_owned(), c))
                .collect(),
            users: UsersSummary {
                added: u.added,
                removed: u.removed,
                started: u.started,
                stopped: u.stopped,
                exceptions: u.exceptions,
                lost: u.lost,
                running: u.running(),
            },
            throttles: self
                .throttles()
                .map(|t| {
                    (
                        t.name().to_owned(),
                        ThrottleSummary {
                            rate: t.rate(),
                            interval: t.interval_ms(),
                            requests: t.requests(),
                            executes: t.executes(),
                        },
                    )
                })
                .collect(),
            coordinators: self
                .coordinators()
                .iter()
                .map(|c| {
                    (
                        c.name.to_string(),
                        CoordinatorSummary {
                            add: c.add,
                            reset: c.reset,
                            timeout: c.timeout,
                            start: c.start,
                            stop: c.stop,
                        },
                    )
                })
                .collect(),
            coordinator_executes: self
                .coordinator_executes()
                .iter()
                .map(|(k, s)| {
                    (
                        k.to_owned(),
                        ExecSummary {
                            events: s.events,
                            users: s.users,
                        },
                    )
                })
                .collect(),
            config: ConfigSummary {
                get: self.config_count(ConfigKind::Get),
                verify: self.config_count(ConfigKind::Verify),
                env: self.config_count(ConfigKind::Env),
            },
            cluster: ClusterSummary {
                connect_nodes,
                nodedown,
                master_node_down,
            },
            nodes: self
                .nodes()
                .iter()
                .map(|n| (n.name.to_string(), if n.up { "up" } else { "down" }))
                .collect(),
            handler_failures: self.handler_failures(),
            dropped_events: self.dropped(),
            duration_s: self.duration_s(),
            spans: self
                .spans()
                .iter()
                .map(|s| {
                    (
                        s.name().to_owned(),
                        SpanSummary {
                            count: s.count(),
                            p50_us: s.quantile_us(0.5),
                            p90_us: s.quantile_us(0.9),
                            p99_us: s.quantile_us(0.99),
                            max_us: s.max_us(),
                            exceptions: s.exceptions(),
                        },
                    )
                })
                .collect(),
            http: self.http().map(|h| h.summary()),
            thresholds: self.threshold_results(),
            series: self.series_summary(),
        }
    }
}
