//! `--metrics ADDR`: the live state as OpenMetrics text at `GET /metrics`, for Prometheus.
//!
//! The page is rendered from the state by the thread that drains the feed (at most every
//! [`PUBLISH_EVERY`]) and kept as text; the server only copies that text out, so a scrape
//! never waits on the engine or the monitor. A scraper that accepts
//! `application/openmetrics-text` gets OpenMetrics 1.0 (counter families without `_total`,
//! `# EOF`); any other gets the Prometheus text format 0.0.4 (the same samples, counter
//! families named with `_total`), which `promtool check metrics` lints.
//!
//! The listener binds loopback addresses only, unless `--metrics-public`, which requires a
//! token: every request must then carry `Authorization: Bearer TOKEN`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::monitor::{MonitorState, RateReading};

/// How often at most the page is rendered from a draining state.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Latency histogram bucket bounds, seconds.
const BUCKETS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The two renderings of one state.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub openmetrics: String,
    pub prometheus: String,
}

fn esc_label(s: &str) -> String {
    s.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// Writes metric families in either format.
struct Out {
    om: bool,
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let fam = if kind == "counter" && !self.om {
            format!("{name}_total")
        } else {
            name.to_owned()
        };
        let _ = writeln!(self.text, "# HELP {fam} {help}");
        let _ = writeln!(self.text, "# TYPE {fam} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", esc_label(v));
            }
            self.text.push('}');
        }
        if value.is_infinite() {
            self.text
                .push_str(if value > 0.0 { " +Inf\n" } else { " -Inf\n" });
        } else if value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(self.text, " {}", value as i64);
        } else {
            let _ = writeln!(self.text, " {value}");
        }
    }

    fn counter(&mut self, name: &str, help: &str, rows: &[(Vec<(&str, &str)>, u64)]) {
        self.family(name, "counter", help);
        let sample = format!("{name}_total");
        for (labels, v) in rows {
            self.sample(&sample, labels, *v as f64);
        }
    }

    fn gauge(&mut self, name: &str, help: &str, rows: &[(Vec<(&str, &str)>, f64)]) {
        self.family(name, "gauge", help);
        for (labels, v) in rows {
            self.sample(name, labels, *v);
        }
    }
}

/// The built-in `http` scenario's requests (the summary's `http` key): answers by status,
/// failures by class, body bytes, late starts, the backlog, and latency percentiles measured
/// from the due instant (`from="due"`, corrected for coordinated omission) and from the send
/// (`from="send"`); the span histogram of `http.request` has the latter only.
fn http_families(o: &mut Out, h: &crate::monitor::HttpSummary) {
    o.counter(
        "rookery_http_responses",
        "HTTP answers by status code.",
        &h.status
            .iter()
            .map(|(code, n)| (vec![("status", code.as_str())], *n))
            .collect::<Vec<_>>(),
    );
    o.counter(
        "rookery_http_errors",
        "HTTP requests that failed, by class (connect, timeout, tls, other).",
        &h.errors
            .iter()
            .map(|(class, n)| (vec![("class", *class)], *n))
            .collect::<Vec<_>>(),
    );
    o.counter(
        "rookery_http_body_bytes",
        "Body bytes received (in) and sent (out).",
        &[
            (vec![("direction", "in")], h.bytes_in),
            (vec![("direction", "out")], h.bytes_out),
        ],
    );
    o.counter(
        "rookery_http_late_starts",
        "Requests sent 10 ms or more after they were due.",
        &[(vec![], h.late_starts)],
    );
    o.gauge(
        "rookery_http_backlog",
        "Requests due and not yet sent, at the last report.",
        &[(vec![], h.backlog.last as f64)],
    );
    let failed: u64 = h.errors.values().sum();
    let mut rows = Vec::new();
    if h.requests > failed {
        for (from, p) in [("due", &h.latency_us), ("send", &h.service_us)] {
            let Some(p) = p else { continue };
            for (name, us) in [
                ("p50", p.p50),
                ("p90", p.p90),
                ("p99", p.p99),
                ("p999", p.p999),
                ("max", p.max),
            ] {
                rows.push((vec![("from", from), ("percentile", name)], us as f64 / 1e6));
            }
        }
    }
    o.gauge(
        "rookery_http_latency_seconds",
        "Latency of answered requests since the start, from the due instant (from=due) or \
         the send (from=send).",
        &rows,
    );
}

/// Renders `state` in OpenMetrics (`om`) or the Prometheus text format.
pub fn render(state: &MonitorState, om: bool) -> String {
    let mut o = Out {
        om,
        text: String::with_capacity(8 * 1024),
    };
    let u = state.users();
    o.counter(
        "rookery_events",
        "Events applied to the monitor.",
        &[(vec![], state.events())],
    );
    o.counter(
        "rookery_dropped_events",
        "Events lost: by the monitor's full queue, or by a recorder (as logged).",
        &[
            (vec![("source", "monitor")], state.dropped()),
            (vec![("source", "recorder")], state.recorder_dropped()),
        ],
    );
    o.gauge(
        "rookery_users_running",
        "Running users (started - stopped - failed), per node.",
        &state
            .nodes()
            .iter()
            .map(|n| (vec![("node", n.name.as_str())], n.running().max(0) as f64))
            .collect::<Vec<_>>(),
    );
    o.counter(
        "rookery_users_started",
        "Users started.",
        &[(vec![], u.started)],
    );
    o.counter(
        "rookery_users_failed",
        "Users that ended in an exception.",
        &[(vec![], u.exceptions)],
    );
    let throttles: Vec<_> = state.throttles().collect();
    o.counter(
        "rookery_throttle_requests",
        "Throttle requests, cluster-wide.",
        &throttles
            .iter()
            .map(|t| (vec![("throttle", t.name())], t.requests()))
            .collect::<Vec<_>>(),
    );
    o.counter(
        "rookery_throttle_executes",
        "Throttle executes, cluster-wide.",
        &throttles
            .iter()
            .map(|t| (vec![("throttle", t.name())], t.executes()))
            .collect::<Vec<_>>(),
    );
    o.gauge(
        "rookery_throttle_rate_per_second",
        "A throttle's set rate in executions per second (+Inf when unlimited).",
        &throttles
            .iter()
            .filter_map(|t| {
                let v = match (t.rate()?, t.interval_ms()) {
                    (RateReading::Infinity, _) => f64::INFINITY,
                    (RateReading::Finite(r), Some(i)) if i > 0 => r * 1000.0 / i as f64,
                    _ => return None,
                };
                Some((vec![("throttle", t.name())], v))
            })
            .collect::<Vec<_>>(),
    );
    o.gauge(
        "rookery_throttle_backlog",
        "Requests not yet executed.",
        &throttles
            .iter()
            .map(|t| (vec![("throttle", t.name())], t.backlog() as f64))
            .collect::<Vec<_>>(),
    );
    o.gauge(
        "rookery_node_up",
        "1 when the node is up.",
        &state
            .nodes()
            .iter()
            .map(|n| {
                (
                    vec![("node", n.name.as_str())],
                    if n.up { 1.0 } else { 0.0 },
                )
            })
            .collect::<Vec<_>>(),
    );
    o.family(
        "rookery_span_duration_seconds",
        "histogram",
        "Latency of completed spans (stop events) since the start.",
    );
    for s in state.spans() {
        let h = s.histogram();
        for le in BUCKETS_S {
            let le_us = (le * 1e6) as u64;
            let n = if h.is_empty() {
                0
            } else {
                h.count_between(0, le_us)
            };
            let le_text = format!("{le}");
            o.sample(
                "rookery_span_duration_seconds_bucket",
                &[("span", s.name()), ("le", &le_text)],
                n as f64,
            );
        }
        let count = s.count();
        o.sample(
            "rookery_span_duration_seconds_bucket",
            &[("span", s.name()), ("le", "+Inf")],
            count as f64,
        );
        let sum = if h.is_empty() {
            0.0
        } else {
            h.mean() * h.len() as f64 / 1e6
        };
        o.sample(
            "rookery_span_duration_seconds_sum",
            &[("span", s.name())],
            sum,
        );
        o.sample(
            "rookery_span_duration_seconds_count",
            &[("span", s.name())],
            count as f64,
        );
    }
    o.counter(
        "rookery_span_exceptions",
        "Spans that ended in an exception.",
        &state
            .spans()
            .iter()
            .map(|s| (vec![("span", s.name())], s.exceptions()))
            .collect::<Vec<_>>(),
    );
    if let Some(http) = state.http() {
        http_families(&mut o, &http.summary());
    }
    let results = state.threshold_results();
    o.gauge(
        "rookery_threshold_ok",
        "1 while the threshold holds (windowed ones: in every window so far).",
        &results
            .iter()
            .map(|r| {
                (
                    vec![("threshold", r.expr.as_str())],
                    if r.ok { 1.0 } else { 0.0 },
                )
            })
            .collect::<Vec<_>>(),
    );
    if om {
        o.text.push_str("# EOF\n");
    }
    o.text
}

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A bad command line (exit status 2).
    #[error("--metrics {0}")]
    Usage(String),
    #[error("--metrics {addr}: cannot listen: {err}")]
    Bind {
        addr: SocketAddr,
        err: std::io::Error,
    },
}

/// A running endpoint. Stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    page: Arc<Mutex<Arc<Page>>>,
    last: Mutex<Option<Instant>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MetricsServer {
    /// Listens on `addr` (inside a tokio runtime). A non-loopback address needs `public` and
    /// a non-empty `token`.
    pub async fn start(
        addr: SocketAddr,
        public: bool,
        token: Option<String>,
    ) -> Result<MetricsServer, MetricsError> {
        let token = token.filter(|t| !t.is_empty());
        if !addr.ip().is_loopback() && !public {
            return Err(MetricsError::Usage(format!(
                "{addr}: not a loopback address (add --metrics-public and a --metrics-token)"
            )));
        }
        if public && token.is_none() {
            return Err(MetricsError::Usage(format!(
                "{addr}: --metrics-public needs --metrics-token (or ROOKERY_METRICS_TOKEN)"
            )));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|err| MetricsError::Bind { addr, err })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let page = Arc::new(Mutex::new(Arc::new(Page::default())));
        let shared = page.clone();
        let token: Option<Arc<str>> = token.map(Arc::from);
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let page = shared.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        serve(conn, page, token.as_deref()),
                    )
                    .await;
                });
            }
        });
        Ok(MetricsServer {
            addr,
            page,
            last: Mutex::new(None),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Renders `state` now.
    pub fn publish(&self, state: &MonitorState) {
        let p = Arc::new(Page {
            openmetrics: render(state, true),
            prometheus: render(state, false),
        });
        *self.page.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    /// Renders `state` unless it was rendered less than [`PUBLISH_EVERY`] ago.
    pub fn publish_throttled(&self, state: &MonitorState) {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now - t < PUBLISH_EVERY) {
                return;
            }
            *last = Some(now);
        }
        self.publish(state);
    }
}

async fn serve(
    mut conn: tokio::net::TcpStream,
    page: Arc<Mutex<Arc<Page>>>,
    token: Option<&str>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            return respond(
                &mut conn,
                "431 Request Header Fields Too Large",
                "text/plain",
                "headers too large\n",
            )
            .await;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or("");
    let mut parts = request.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    if let Some(t) = token
        && header("authorization").as_deref() != Some(&format!("Bearer {t}"))
    {
        return respond(
            &mut conn,
            "401 Unauthorized",
            "text/plain",
            "a bearer token is required\n",
        )
        .await;
    }
    if method != "GET" {
        return respond(
            &mut conn,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        )
        .await;
    }
    if path != "/metrics" && !path.starts_with("/metrics?") {
        return respond(&mut conn, "404 Not Found", "text/plain", "see /metrics\n").await;
    }
    let om = header("accept").is_some_and(|a| a.contains("application/openmetrics-text"));
    let p = page.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if om {
        respond(
            &mut conn,
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            &p.openmetrics,
        )
        .await
    } else {
        respond(
            &mut conn,
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &p.prometheus,
        )
        .await
    }
}

async fn respond(
    conn: &mut tokio::net::TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}
