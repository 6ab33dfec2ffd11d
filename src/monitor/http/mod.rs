//! What the built-in `http` scenario's events say ([`crate::http`]): the summary's `http` key
//! and the data of the HTTP panes.
//!
//! * `[http, request, start]`: a request was sent; its `start_delay` metadata (ns after its due
//!   instant) makes it a *late start* when it is [`LATE_START_US`] or more.
//! * `[http, request, stop]`: an answer; `status` metadata, `latency` (from the due instant),
//!   `duration` (from the send: the service time), `bytes_in`, `bytes_out` measurements.
//! * `[http, request, exception]`: a failed request, by its `class` metadata.
//! * `[http, backlog]`: the requests the `requests` throttle owes (`overdue`), and its bound
//!   (`catch_up`), reported every second by the scenario while the rate is finite.
//!
//! Memory is fixed: two HDR histograms since the start (3 significant digits, up to
//! [`SPAN_MAX_US`](super::SPAN_MAX_US)), a ring of [`WINDOW_SECONDS`] per-second histograms (2 digits) for the
//! rolling window, per-second series, and one counter per distinct status code.

use std::collections::BTreeMap;

use serde::Serialize;

use self::window::{Hist, Window};
use super::series::Series;
use super::spans::SPAN_SIGFIG;
use crate::http::ErrorClass;
use crate::telemetry::{EventName, Field, Fields, Value};

mod window;

/// A request that starts this long (µs) after its due instant or later is a late start.
pub const LATE_START_US: u64 = 10_000;
/// Seconds the rolling latency window spans.
pub const WINDOW_SECONDS: usize = 10;
/// The backlog is *unserved* when it grew over this many seconds running (or hit its bound).
pub const UNSERVED_AFTER_S: u64 = 3;

/// Which `http` event this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpEvent {
    Start,
    Stop,
    Exception,
    Backlog,
}

/// Classifies `[http, ...]` names.
pub(crate) fn classify(name: &EventName) -> Option<HttpEvent> {
    match name.segments() {
        ["http", "request", "start"] => Some(HttpEvent::Start),
        ["http", "request", "stop"] => Some(HttpEvent::Stop),
        ["http", "request", "exception"] => Some(HttpEvent::Exception),
        ["http", "backlog"] => Some(HttpEvent::Backlog),
        _ => None,
    }
}

/// Latency percentiles of the summary, µs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// The summary's `http` key (`README`, "Headless summary").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpSummary {
    /// Answered plus failed.
    pub requests: u64,
    /// Answers by status code.
    pub status: BTreeMap<String, u64>,
    /// Failures by class: `connect`, `timeout`, `tls`, `other` (always all four).
    pub errors: BTreeMap<&'static str, u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub late_starts: u64,
    /// From the instant each request was due (corrected for coordinated omission); `None`
    /// (`null`) when no request was answered: there is no latency to give, not a latency of 0.
    pub latency_us: Option<Percentiles>,
    /// From the send; `None` (`null`) when no request was answered.
    pub service_us: Option<Percentiles>,
    /// Requests the throttle owed at the last report, the most it ever owed, and whether the
    /// users could not serve it (it kept growing, or reached the throttle's bound).
    pub backlog: BacklogSummary,
}

/// `http.backlog` of the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BacklogSummary {
    pub last: u64,
    pub max: u64,
    pub unserved: bool,
}

/// The `http` part of the monitor state.
#[derive(Clone, Debug)]
pub struct HttpStats {
    started: u64,
    answered: u64,
    errors: [u64; 4],
    /// The first failure's reason of each class (`reason` of its exception event).
    first_reasons: [Option<smol_str::SmolStr>; 4],
    status: BTreeMap<u16, u64>,
    bytes_in: u64,
    bytes_out: u64,
    late_starts: u64,
    last_delay_us: u64,
    latency: Hist,
    service: Hist,
    window: Window,
    request_series: Series,
    error_series: Series,
    bytes_in_series: Series,
    late_series: Series,
    backlog: u64,
    backlog_max: u64,
    backlog_bound: u64,
    backlog_series: Series,
    /// Seconds in a row the backlog grew, as of the last report.
    backlog_growing: u64,
    backlog_hit_bound: bool,
}

/// A nanosecond measurement or metadata value as whole µs, rounded up.
fn us_of(fields: &[Field], key: &str) -> Option<u64> {
    us_in(fields.lookup(key)?)
}

/// A nanosecond value as whole µs, rounded up.
fn us_in(v: &Value) -> Option<u64> {
    let ns = match v {
        Value::Int(i) => *i,
        Value::Float(f) if f.is_finite() => f.ceil() as i64,
        _ => return None,
    };
    Some((ns.max(0) as u64).div_ceil(1_000))
}

/// What a stop event measures, read in one pass over its measurements (the first of a
/// repeated key counts, as with a lookup).
#[derive(Default)]
struct StopReading {
    service: Option<u64>,
    latency: Option<u64>,
    bytes_in: Option<u64>,
    bytes_out: Option<u64>,
}

impl StopReading {
    fn of(measurements: &[Field]) -> StopReading {
        use crate::http::events::{BYTES_IN, BYTES_OUT, LATENCY};
        let count = |v: &Value| v.as_i64().map_or(0, |v| v.max(0) as u64);
        let mut r = StopReading::default();
        // Keys seen: service, latency, bytes in, bytes out.
        let mut seen = [false; 4];
        for (k, v) in measurements {
            let i = match k.as_str() {
                "duration" => 0,
                LATENCY => 1,
                BYTES_IN => 2,
                BYTES_OUT => 3,
                _ => continue,
            };
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            match i {
                0 => r.service = us_in(v),
                1 => r.latency = us_in(v),
                2 => r.bytes_in = Some(count(v)),
                _ => r.bytes_out = Some(count(v)),
            }
            if seen == [true; 4] {
                break; // the scenario's `start_delay` follows: not read here
            }
        }
        r
    }
}

fn uint(fields: &[Field], key: &str) -> u64 {
    fields.get_i64(key).map_or(0, |v| v.max(0) as u64)
}

impl Default for HttpStats {
    fn default() -> Self {
        HttpStats::new()
    }
}

impl HttpStats {
    pub fn new() -> HttpStats {
        HttpStats {
            started: 0,
            answered: 0,
            errors: [0; 4],
            first_reasons: Default::default(),
            status: BTreeMap::new(),
            bytes_in: 0,
            bytes_out: 0,
            late_starts: 0,
            last_delay_us: 0,
            latency: Hist::new(SPAN_SIGFIG),
            service: Hist::new(SPAN_SIGFIG),
            window: Window::new(),
            request_series: Series::counter(),
            error_series: Series::counter(),
            bytes_in_series: Series::counter(),
            late_series: Series::counter(),
            backlog: 0,
            backlog_max: 0,
            backlog_bound: 0,
            backlog_series: Series::gauge(),
            backlog_growing: 0,
            backlog_hit_bound: false,
        }
    }

    /// Applies one `http` event at second `sec`.
    pub(crate) fn apply(
        &mut self,
        ev: HttpEvent,
        sec: u64,
        measurements: &[Field],
        metadata: &[Field],
    ) {
        match ev {
            HttpEvent::Start => {
                self.started += 1;
                let delay = us_of(metadata, crate::http::events::START_DELAY).unwrap_or(0);
                self.last_delay_us = delay;
                if delay >= LATE_START_US {
                    self.late_starts += 1;
                    self.late_series.add(sec, 1);
                }
            }
            HttpEvent::Stop => {
                self.answered += 1;
                self.request_series.add(sec, 1);
                let status = metadata
                    .get_i64(crate::http::events::STATUS)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0);
                *self.status.entry(status).or_default() += 1;
                let r = StopReading::of(measurements);
                let bytes_in = r.bytes_in.unwrap_or(0);
                self.bytes_in += bytes_in;
                self.bytes_in_series.add(sec, bytes_in);
                self.bytes_out += r.bytes_out.unwrap_or(0);
                let service = r.service;
                let latency = r.latency.or(service);
                if let Some(s) = service {
                    self.service.record(s);
                }
                if let Some(l) = latency {
                    self.latency.record(l);
                    self.window.record(sec, l);
                }
            }
            HttpEvent::Exception => {
                let class = metadata
                    .get_str(crate::http::events::CLASS)
                    .map_or(ErrorClass::Other, ErrorClass::parse);
                self.errors[class as usize] += 1;
                let first = &mut self.first_reasons[class as usize];
                if first.is_none() {
                    *first = Some(match metadata.lookup("reason") {
                        Some(Value::Str(s)) => s.clone(),
                        Some(other) => smol_str::SmolStr::new(other.to_string()),
                        None => smol_str::SmolStr::new_static("no reason given"),
                    });
                }
                self.request_series.add(sec, 1);
                self.error_series.add(sec, 1);
            }
            HttpEvent::Backlog => {
                let owed = uint(measurements, "overdue");
                self.backlog_bound = uint(metadata, "catch_up");
                self.backlog_growing = if owed > self.backlog && owed > 0 {
                    self.backlog_growing + 1
                } else if owed < self.backlog || owed == 0 {
                    0
                } else {
                    self.backlog_growing
                };
                if self.backlog_bound > 0 && owed >= self.backlog_bound {
                    self.backlog_hit_bound = true;
                }
                self.backlog = owed;
                self.backlog_max = self.backlog_max.max(owed);
                self.backlog_series.set(sec, owed);
            }
        }
    }

    /// Answered plus failed requests.
    pub fn requests(&self) -> u64 {
        self.answered + self.errors.iter().sum::<u64>()
    }
    /// Requests sent and not yet answered or failed.
    pub fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.requests())
    }
    /// Answers by status code, in code order.
    pub fn status(&self) -> &BTreeMap<u16, u64> {
        &self.status
    }
    /// Failures of one class.
    pub fn errors(&self, class: ErrorClass) -> u64 {
        self.errors[class as usize]
    }
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }
    pub fn late_starts(&self) -> u64 {
        self.late_starts
    }
    /// The reason the first failure of `class` gave (`invalid peer certificate: …`), if one
    /// failed: what the counts alone do not tell.
    pub fn first_reason(&self, class: ErrorClass) -> Option<&str> {
        self.first_reasons[class as usize].as_deref()
    }
    /// How late (µs) the latest request started.
    pub fn last_start_delay_us(&self) -> u64 {
        self.last_delay_us
    }
    /// Latency (from the due instant) since the start, µs.
    pub fn latency(&self) -> Percentiles {
        self.latency.percentiles()
    }
    /// Service time (from the send) since the start, µs.
    pub fn service(&self) -> Percentiles {
        self.service.percentiles()
    }
    /// Latency p50 and p99 since the start, µs: what [`latency`](Self::latency) gives, without
    /// the longer scans for p90 and p99.9 (the pane's every frame). `None` until a request is
    /// answered.
    pub fn latency_p50_p99(&self) -> Option<(u64, u64)> {
        let [p50, p99] = self.latency.quantiles([0.5, 0.99]);
        (self.answered > 0).then_some((p50, p99))
    }
    /// Service time p50 and p99 since the start, µs (see [`latency_p50_p99`](Self::latency_p50_p99)).
    pub fn service_p50_p99(&self) -> Option<(u64, u64)> {
        let [p50, p99] = self.service.quantiles([0.5, 0.99]);
        (self.answered > 0).then_some((p50, p99))
    }
    /// Latency quantile `q` over the last [`WINDOW_SECONDS`] up to second `now`.
    pub fn window_latency(&self, now: u64, q: f64) -> u64 {
        self.window.quantiles(now, [q])[0]
    }
    /// Latency p50 and p99 over the last [`WINDOW_SECONDS`] up to second `now`; `None` when no
    /// request was answered in that window.
    pub fn window_p50_p99(&self, now: u64) -> Option<(u64, u64)> {
        if self.window.is_empty_at(now) {
            return None;
        }
        let [p50, p99] = self.window.quantiles(now, [0.5, 0.99]);
        Some((p50, p99))
    }
    /// Per-second latency p50 and p99 of the seconds that ended, µs.
    pub fn latency_series(&self) -> (&Series, &Series) {
        (&self.window.p50, &self.window.p99)
    }
    /// Answered plus failed requests per second.
    pub fn request_series(&self) -> &Series {
        &self.request_series
    }
    /// Failed requests per second.
    pub fn error_series(&self) -> &Series {
        &self.error_series
    }
    /// Response body bytes per second.
    pub fn bytes_in_series(&self) -> &Series {
        &self.bytes_in_series
    }
    /// Late starts per second.
    pub fn late_series(&self) -> &Series {
        &self.late_series
    }
    /// Requests the throttle owed at the last report.
    pub fn backlog(&self) -> u64 {
        self.backlog
    }
    /// The throttle's bound on what it owes (0: unknown).
    pub fn backlog_bound(&self) -> u64 {
        self.backlog_bound
    }
    /// Owed requests per second (a gauge).
    pub fn backlog_series(&self) -> &Series {
        &self.backlog_series
    }
    /// Whether the users cannot serve the backlog: it grew for [`UNSERVED_AFTER_S`] reports
    /// running, or it reached the throttle's bound (older owed requests are then dropped).
    pub fn backlog_unserved(&self) -> bool {
        self.backlog_hit_bound || (self.backlog > 0 && self.backlog_growing >= UNSERVED_AFTER_S)
    }

    /// The summary's `http` key.
    pub fn summary(&self) -> HttpSummary {
        HttpSummary {
            requests: self.requests(),
            status: self
                .status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            errors: ErrorClass::ALL
                .iter()
                .map(|c| (c.as_str(), self.errors(*c)))
                .collect(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            late_starts: self.late_starts,
            latency_us: (self.answered > 0).then(|| self.latency()),
            service_us: (self.answered > 0).then(|| self.service()),
            backlog: BacklogSummary {
                last: self.backlog,
                max: self.backlog_max,
                unserved: self.backlog_unserved(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
