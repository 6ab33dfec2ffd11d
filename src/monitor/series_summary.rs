//! The summary's `series` key: the [`Timeline`](super::Timeline) as plain arrays.
//!
//! ```text
//! "series": {
//!   "step_s": 1,                       // seconds per bucket (doubles as a run grows; ≤ 512 buckets)
//!   "t_s": [0, 1, 2],                  // each bucket's first second, since the run started
//!   "events_per_s": [..],
//!   "users": [..],                     // running users at the end of each bucket
//!   "users_by_node": {"node1": [..]},
//!   "users_started": [..], "users_failed": [..],   // per bucket
//!   "nodes_up": [..],
//!   "throttles": {"NAME": {"requests_per_s": [..], "executes_per_s": [..],
//!                          "rate_per_s": [..]}},   // set rate, null while unknown or unlimited
//!   "spans": {"PREFIX": {"count": [..], "exceptions": [..],     // per bucket
//!                        "p50_us": [..], "p90_us": [..], "p99_us": [..], "max_us": [..]}}
//! }                                    // latencies of each bucket, null when it had no stop
//! ```
//!
//! The last bucket includes the second still open when the summary was taken.

use std::collections::BTreeMap;

use serde::Serialize;

use super::MonitorState;

/// The summary's `series` key (shape in the module docs).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeriesSummary {
    pub step_s: u64,
    pub t_s: Vec<u64>,
    pub events_per_s: Vec<f64>,
    pub users: Vec<u64>,
    pub users_by_node: BTreeMap<String, Vec<u64>>,
    pub users_started: Vec<u64>,
    pub users_failed: Vec<u64>,
    pub nodes_up: Vec<u64>,
    pub throttles: BTreeMap<String, ThrottleSeriesSummary>,
    pub spans: BTreeMap<String, SpanSeriesSummary>,
}

/// One throttle in `series`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ThrottleSeriesSummary {
    pub requests_per_s: Vec<f64>,
    pub executes_per_s: Vec<f64>,
    pub rate_per_s: Vec<Option<f64>>,
}

/// One span prefix in `series`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SpanSeriesSummary {
    pub count: Vec<u64>,
    pub exceptions: Vec<u64>,
    pub p50_us: Vec<Option<u64>>,
    pub p90_us: Vec<Option<u64>>,
    pub p99_us: Vec<Option<u64>>,
    pub max_us: Vec<Option<u64>>,
}

fn per_s(n: u64, seconds: u64) -> f64 {
    let v = n as f64 / seconds.max(1) as f64;
    (v * 1000.0).round() / 1000.0
}

impl MonitorState {
    /// The run over time, as the summary's `series` key shows it.
    pub fn series_summary(&self) -> SeriesSummary {
        let tl = self.timeline();
        let pts = tl.points();
        let mut out = SeriesSummary {
            step_s: tl.width(),
            t_s: pts.iter().map(|p| p.start_sec).collect(),
            events_per_s: pts.iter().map(|p| per_s(p.events, p.seconds)).collect(),
            users: pts.iter().map(|p| p.users).collect(),
            users_started: pts.iter().map(|p| p.started).collect(),
            users_failed: pts.iter().map(|p| p.failed).collect(),
            nodes_up: pts.iter().map(|p| p.nodes_up).collect(),
            ..SeriesSummary::default()
        };
        for (i, n) in self.nodes().iter().enumerate() {
            let v = pts
                .iter()
                .map(|p| p.nodes.get(i).copied().unwrap_or(0))
                .collect();
            out.users_by_node.insert(n.name.to_string(), v);
        }
        for (i, t) in self.throttle_states().iter().enumerate() {
            let get = |p: &super::Point| p.throttles.get(i).cloned().unwrap_or_default();
            out.throttles.insert(
                t.name.to_string(),
                ThrottleSeriesSummary {
                    requests_per_s: pts
                        .iter()
                        .map(|p| per_s(get(p).requests, p.seconds))
                        .collect(),
                    executes_per_s: pts
                        .iter()
                        .map(|p| per_s(get(p).executes, p.seconds))
                        .collect(),
                    rate_per_s: pts
                        .iter()
                        .map(|p| get(p).rate_per_s.map(|r| (r * 1000.0).round() / 1000.0))
                        .collect(),
                },
            );
        }
        for (i, s) in self.spans().iter().enumerate() {
            let hist = |p: &super::Point| p.spans.get(i).cloned().unwrap_or_default();
            let hs: Vec<_> = pts.iter().map(hist).collect();
            let q = |q: f64| hs.iter().map(|h| h.quantile_us(q)).collect();
            out.spans.insert(
                s.name().to_owned(),
                SpanSeriesSummary {
                    count: hs.iter().map(|h| h.count()).collect(),
                    exceptions: hs.iter().map(|h| h.exceptions()).collect(),
                    p50_us: q(0.5),
                    p90_us: q(0.9),
                    p99_us: q(0.99),
                    max_us: hs
                        .iter()
                        .map(|h| (h.count() > 0).then_some(h.max_us()))
                        .collect(),
                },
            );
        }
        out
    }
}
