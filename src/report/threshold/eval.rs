//! Evaluating thresholds on a [`MonitorState`]: windowed ones each time a second ends (the
//! state calls [`ThresholdSet::close_second`]), every one at the end ([`ThresholdSet::results`]).

use serde::Serialize;

use super::parse::{Metric, Subject, Threshold};
use crate::monitor::{MonitorState, SparseHist};

/// One threshold's outcome, as the summary's `thresholds` key lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdResult {
    pub expr: String,
    /// The value in the unit the expression was written in (ms for `< 250ms`, percent for
    /// `< 1%`); for a windowed threshold the worst window's; `null` when there is none (a
    /// latency of a span that never completed).
    pub value: Option<f64>,
    pub ok: bool,
}

/// A windowed threshold's record so far.
#[derive(Clone, Debug, Default)]
struct WindowRecord {
    /// The worst value seen (base unit).
    worst: Option<f64>,
    /// The first window that broke it: (its last second, its value).
    breach: Option<(u64, f64)>,
}

/// The thresholds of a run, with what the windows have shown so far.
#[derive(Clone, Debug, Default)]
pub struct ThresholdSet {
    items: Vec<(Threshold, WindowRecord)>,
    /// The first second of the run (windows start there).
    origin: Option<u64>,
}

impl ThresholdSet {
    pub fn new(thresholds: Vec<Threshold>) -> ThresholdSet {
        ThresholdSet {
            items: thresholds
                .into_iter()
                .map(|t| (t, WindowRecord::default()))
                .collect(),
            origin: None,
        }
    }

    /// Parses every expression; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(exprs: &[S]) -> Result<ThresholdSet, super::ThresholdError> {
        let parsed = exprs
            .iter()
            .map(|e| e.as_ref().parse::<Threshold>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ThresholdSet::new(parsed))
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn thresholds(&self) -> impl Iterator<Item = &Threshold> {
        self.items.iter().map(|(t, _)| t)
    }

    /// The first windowed threshold that broke, with the last second of its window.
    pub fn first_breach(&self) -> Option<(&Threshold, u64)> {
        self.items
            .iter()
            .filter_map(|(t, r)| r.breach.map(|(s, _)| (t, s)))
            .min_by_key(|(_, s)| *s)
    }

    /// Second `sec` ended: every windowed threshold checks the window ending there (`full`:
    /// counts and rates too; else only latencies and error shares).
    pub(crate) fn close_second(&mut self, state: &MonitorState, sec: u64, full: bool) {
        let origin = *self
            .origin
            .get_or_insert(state.first_t_us().unwrap_or(0) / 1_000_000);
        for (t, rec) in &mut self.items {
            let Some(w) = t.window_s else { continue };
            if sec + 1 < origin + w {
                continue; // not a whole window yet
            }
            if !full && !partial_ok(t) {
                continue;
            }
            if let Some(v) = window_value(t, state, sec, w) {
                record(t, rec, sec, v);
            }
        }
    }

    /// Every threshold's outcome on `state` as it is now (the end of the run).
    pub fn results(&self, state: &MonitorState) -> Vec<ThresholdResult> {
        let open = state.open_second();
        self.items
            .iter()
            .map(|(t, rec)| {
                let base = match t.window_s {
                    None => whole_run_value(t, state),
                    Some(w) => {
                        let mut rec = rec.clone();
                        if let Some(open) = open {
                            let origin = self.origin.unwrap_or(open);
                            if rec.worst.is_none() && open + 1 < origin + w {
                                // Shorter than one window: the run is the window.
                                if let Some(v) = window_value(t, state, open, open + 1 - origin) {
                                    record(t, &mut rec, open, v);
                                }
                            } else if partial_ok(t)
                                && let Some(v) = window_value(t, state, open, w)
                            {
                                record(t, &mut rec, open, v);
                            }
                        }
                        return ThresholdResult {
                            expr: t.expr.clone(),
                            value: rec.worst.map(|v| t.display_value(v)),
                            ok: rec.breach.is_none()
                                && (rec.worst.is_some() || !t.metric.is_latency()),
                        };
                    }
                };
                ThresholdResult {
                    expr: t.expr.clone(),
                    value: base.map(|v| t.display_value(v)),
                    ok: base.is_some_and(|v| t.op.holds(v, t.limit)),
                }
            })
            .collect()
    }
}

fn record(t: &Threshold, rec: &mut WindowRecord, sec: u64, v: f64) {
    if rec.worst.is_none_or(|w| t.op.worse(v, w)) {
        rec.worst = Some(v);
    }
    if !t.op.holds(v, t.limit) && rec.breach.is_none() {
        rec.breach = Some((sec, v));
        // For == and != the reported value is the breaking one.
        rec.worst = Some(v);
    }
}

/// Metrics a partial second does not bias.
fn partial_ok(t: &Threshold) -> bool {
    t.metric.is_latency() || (t.metric == Metric::Errors && t.unit == super::Unit::Percent)
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn span_value(t: &Threshold, h: &SparseHist, seconds: f64) -> Option<f64> {
    match t.metric {
        Metric::Quantile(q) => h.quantile_us(q).map(|v| v as f64),
        Metric::Max => (h.count() > 0).then_some(h.max_us() as f64),
        Metric::Count if t.per_s => Some(h.count() as f64 / seconds),
        Metric::Count => Some(h.count() as f64),
        Metric::Errors if t.unit == super::Unit::Percent => {
            let all = h.count() + h.exceptions();
            (all > 0).then(|| ratio(h.exceptions(), all))
        }
        Metric::Errors => Some(h.exceptions() as f64),
        _ => None,
    }
}

/// The value over the `w` seconds ending at `sec`, in the base unit.
fn window_value(t: &Threshold, state: &MonitorState, sec: u64, w: u64) -> Option<f64> {
    let n = w as usize;
    let sum = |v: Vec<u64>| v.iter().sum::<u64>() as f64;
    let per = |x: f64| if t.per_s { x / w as f64 } else { x };
    match &t.subject {
        Subject::Span(p) => {
            let h = state
                .span(p)
                .map(|s| s.seconds().window(sec, w))
                .unwrap_or_default();
            span_value(t, &h, w as f64)
        }
        Subject::Throttle(name) => {
            let v = state.throttle(name);
            let total = match (t.metric, v) {
                (_, None) => 0.0,
                (Metric::Requests, Some(v)) => sum(v.request_window(sec, n)),
                (_, Some(v)) => sum(v.execute_window(sec, n)),
            };
            Some(per(total))
        }
        Subject::Users => {
            let u = state.users();
            let started = sum(u.started_series.window(sec, n));
            match t.metric {
                Metric::Failed => {
                    let failed = sum(u.exception_series.window(sec, n));
                    Some(if t.unit == super::Unit::Percent {
                        if started == 0.0 {
                            0.0
                        } else {
                            failed / started
                        }
                    } else {
                        failed
                    })
                }
                _ => Some(started),
            }
        }
        Subject::Events => Some(per(sum(state.event_series().window(sec, n)))),
        Subject::Nodes | Subject::HttpLatency | Subject::HttpService => None,
    }
}

/// The value over the whole run, in the base unit.
fn whole_run_value(t: &Threshold, state: &MonitorState) -> Option<f64> {
    let seconds = state.duration_s().max(1.0);
    let per = |x: u64| {
        if t.per_s {
            x as f64 / seconds
        } else {
            x as f64
        }
    };
    match &t.subject {
        Subject::Span(p) => {
            let s = state.span(p);
            match t.metric {
                Metric::Quantile(q) => s.filter(|s| s.count() > 0).map(|s| s.quantile_us(q) as f64),
                Metric::Max => s.filter(|s| s.count() > 0).map(|s| s.max_us() as f64),
                Metric::Count => Some(per(s.map_or(0, |s| s.count()))),
                Metric::Errors => {
                    let (stops, exc) = s.map_or((0, 0), |s| (s.count(), s.exceptions()));
                    Some(if t.unit == super::Unit::Percent {
                        ratio(exc, stops + exc)
                    } else {
                        exc as f64
                    })
                }
                _ => None,
            }
        }
        Subject::Throttle(name) => {
            let v = state.throttle(name);
            let n = match t.metric {
                Metric::Requests => v.map_or(0, |v| v.requests()),
                _ => v.map_or(0, |v| v.executes()),
            };
            Some(per(n))
        }
        Subject::Users => {
            let u = state.users();
            Some(match t.metric {
                Metric::Added => u.added as f64,
                Metric::Removed => u.removed as f64,
                Metric::Started => u.started as f64,
                Metric::Stopped => u.stopped as f64,
                Metric::Failed if t.unit == super::Unit::Percent => ratio(u.exceptions, u.started),
                Metric::Failed => u.exceptions as f64,
                _ => u.running() as f64,
            })
        }
        Subject::Events => Some(match t.metric {
            Metric::Dropped => (state.dropped() + state.recorder_dropped()) as f64,
            _ => per(state.events()),
        }),
        Subject::HttpLatency | Subject::HttpService => http_value(t, state),
        Subject::Nodes => {
            let up = state.nodes().iter().filter(|n| n.up).count();
            Some(match t.metric {
                Metric::Up => up as f64,
                _ => (state.nodes().len() - up) as f64,
            })
        }
    }
}

/// `http latency` / `http service` over the whole run, µs: no value (a failure) when no
/// request was answered.
fn http_value(t: &Threshold, state: &MonitorState) -> Option<f64> {
    let h = state.http()?.summary();
    let failed: u64 = h.errors.values().sum();
    if h.requests <= failed {
        return None;
    }
    let p = if t.subject == Subject::HttpLatency {
        h.latency_us.as_ref()?
    } else {
        h.service_us.as_ref()?
    };
    let us = match t.metric {
        Metric::Quantile(0.5) => p.p50,
        Metric::Quantile(0.9) => p.p90,
        Metric::Quantile(0.99) => p.p99,
        Metric::Quantile(0.999) => p.p999,
        Metric::Max => p.max,
        _ => return None,
    };
    Some(us as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::EventRef;
    use crate::telemetry::{EventName, Key, Value};

    /// Requests answered in 1 ms (service) that were due 200 ms earlier than sent.
    fn stalled_run(answered: u64) -> MonitorState {
        let set = ThresholdSet::parse(&[
            "http latency p99 < 100ms",
            "http service p99 < 100ms",
            "http.request p99 < 100ms",
        ])
        .expect("thresholds");
        let mut s = MonitorState::with_thresholds(set);
        let name = EventName::new(&["http", "request", "stop"]).expect("name");
        for i in 0..answered {
            let m = vec![
                (Key::new("duration"), Value::Int(1_000_000)),
                (Key::new("latency"), Value::Int(201_000_000)),
            ];
            let md = vec![(Key::new("status"), Value::Int(200))];
            s.apply(&EventRef {
                t_us: 1_000 + i * 1_000,
                node: Some("node1"),
                name: &name,
                measurements: &m,
                metadata: &md,
            });
        }
        s
    }

    #[test]
    fn http_latency_sees_the_stall_that_service_time_and_the_span_hide() {
        let s = stalled_run(100);
        let r = s.threshold_results();
        let by = |e: &str| r.iter().find(|x| x.expr == e).expect("a result").clone();
        let latency = by("http latency p99 < 100ms");
        assert!(!latency.ok, "{latency:?}");
        let v = latency.value.expect("a value");
        assert!((200.0..=202.0).contains(&v), "{v} ms");
        assert!(by("http service p99 < 100ms").ok);
        assert!(by("http.request p99 < 100ms").ok);
    }

    #[test]
    fn http_latency_without_an_answer_has_no_value_and_fails() {
        let s = stalled_run(0);
        let r = s.threshold_results();
        assert_eq!(r[0].value, None);
        assert!(!r[0].ok);
    }
}
