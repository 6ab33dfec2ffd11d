//! The built-in `http` scenario in the engine, against an in-process hyper server: the
//! summary's `http` key, and latency corrected for coordinated omission (a 1 s stall during a
//! fixed-rate run shows in `latency_us`, not in the service times of the requests sent after
//! it, and the requests missed during the stall are sent late instead of dropped).

#[path = "examples_support/mod.rs"]
#[allow(dead_code)]
mod examples_support;
mod http_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples_support::{Run, run_headless};
use http_support::{Proto, TestServer};
use rookery::engine::boxed;
use rookery::engine::config::ExplicitSettings;
use rookery::event_name;
use rookery::http::HttpScenario;
use rookery::monitor::HttpSummary;
use rookery::telemetry::{Fields, Telemetry, Value, monotonic_time};

fn settings(sets: &[String]) -> ExplicitSettings {
    ExplicitSettings::from_cli(sets, None).expect("good settings")
}

/// A headless run of the built-in scenario with the settings `sets`, every user added at once.
async fn run_http(telemetry: &Telemetry, sets: &[String], users: u64, length: Duration) -> Run {
    let mut sets = sets.to_vec();
    sets.push("user_rate=infinity".into());
    run_headless(
        telemetry,
        boxed(HttpScenario::new()),
        &settings(&sets),
        users,
        length,
    )
    .await
}

/// `(send instant, service time)` in ns of every answered request.
type Sends = Arc<Mutex<Vec<(i64, i64)>>>;

fn collect_sends(telemetry: &Telemetry) -> Sends {
    let sends: Sends = Arc::default();
    let into = sends.clone();
    telemetry
        .attach(
            "test-sends",
            event_name!("http", "request", "stop"),
            move |_, m, _, _| {
                if let (Some(at), Some(d)) = (m.get_i64("monotonic_time"), m.get_i64("duration")) {
                    into.lock().unwrap().push((at - d, d));
                }
            },
            Value::Null,
        )
        .expect("attach");
    sends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_counts_requests_statuses_and_bytes() {
    let server = TestServer::start(Proto::default()).await;
    let telemetry = Telemetry::new();
    let run = run_http(
        &telemetry,
        &[
            format!("url={}", server.url("/status/201")),
            "method=POST".into(),
            "body=abc".into(),
            "request_rate=200".into(),
        ],
        10,
        Duration::from_secs(2),
    )
    .await;
    let http: HttpSummary = run.state.summary().http.expect("an http key");
    assert!(http.requests >= 200, "{http:?}");
    assert_eq!(http.requests, server.received());
    assert_eq!(http.status.get("201"), Some(&http.requests));
    assert_eq!(http.errors.values().sum::<u64>(), 0);
    assert_eq!(http.bytes_out, 3 * http.requests);
    assert_eq!(http.bytes_in, "status 201\n".len() as u64 * http.requests);
    let latency = http
        .latency_us
        .as_ref()
        .expect("answered requests have a latency");
    assert!(latency.p50 > 0 && latency.p50 <= latency.max);
    let json = serde_json::to_value(&http).unwrap();
    for key in [
        "requests",
        "status",
        "errors",
        "bytes_in",
        "bytes_out",
        "late_starts",
        "latency_us",
        "service_us",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_us"].get(key).is_some() && json["service_us"].get(key).is_some());
    }
    for class in ["connect", "timeout", "tls", "other"] {
        assert_eq!(json["errors"][class], 0);
    }
}

const RATE: u64 = 500;

/// The timing tests run one at a time, so they do not take each other's CPU.
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn fixed_rate_run(stall: bool) -> (HttpSummary, Vec<(i64, i64)>, Option<i64>) {
    let _one_at_a_time = TIMING.lock().await;
    let server = Arc::new(TestServer::start(Proto::default()).await);
    let telemetry = Telemetry::new();
    let sends = collect_sends(&telemetry);
    let stalling = {
        let server = server.clone();
        tokio::spawn(async move {
            if !stall {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
            server.stall();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let resumed = monotonic_time();
            server.resume();
            Some(resumed)
        })
    };
    let run = run_http(
        &telemetry,
        &[
            format!("url={}", server.url("/")),
            format!("request_rate={RATE}"),
        ],
        50,
        Duration::from_secs(4),
    )
    .await;
    let resumed = stalling.await.expect("the stall task");
    let sends = sends.lock().unwrap().clone();
    (
        run.state.summary().http.expect("an http key"),
        sends,
        resumed,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_latency_not_in_later_service_times() {
    let (http, sends, resumed) = fixed_rate_run(true).await;
    let resumed = resumed.expect("the server stalled");
    // A 1 s stall at 500/s: the ~450 requests due while every user waited are sent late,
    // their latency counted from when they were due.
    assert!(
        http.latency_us.as_ref().expect("answered").p99 >= 300_000,
        "the stall must show in latency p99: {http:?}"
    );
    assert!(http.late_starts >= 200, "{http:?}");
    // Requests sent after the stall ended are served quickly.
    let after: Vec<i64> = sends
        .iter()
        .filter(|(sent, _)| *sent > resumed + 5_000_000)
        .map(|(_, service)| *service)
        .collect();
    assert!(
        after.len() >= 300,
        "{} requests after the stall",
        after.len()
    );
    let mut sorted = after.clone();
    sorted.sort_unstable();
    let p90 = sorted[sorted.len() * 9 / 10];
    assert!(p90 < 100_000_000, "service p90 after the stall: {p90} ns");
    // Nothing silently dropped: ~4 s at 500/s were due (the first users start at once).
    assert!(
        http.requests >= RATE * 4 * 85 / 100,
        "{} requests sent at {RATE}/s over 4 s",
        http.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_stall_latency_and_service_nearly_agree() {
    let (http, _, _) = fixed_rate_run(false).await;
    let (l, s) = (
        http.latency_us.as_ref().expect("answered"),
        http.service_us.as_ref().expect("answered"),
    );
    // The throttle's releases come a timer tick (~1 ms) after their instants, and later on a
    // busy machine (other builds beside this test): generous bounds, far below a stall's.
    assert!(l.p50 >= s.p50 && l.p50 <= s.p50 + 5_000, "{http:?}");
    assert!(l.p99 <= s.p99 + 100_000, "{http:?}");
    assert!(http.late_starts * 4 <= http.requests, "{http:?}");
    assert!(
        http.requests >= RATE * 4 * 85 / 100 && http.requests <= RATE * 4 * 110 / 100,
        "{http:?}"
    );
}

/// The closed model (`request_rate = infinity`): users pass the open throttle without a ticket
/// and report what passed in batches, so the throttle's counts stay exact while its
/// `[amoc, throttle, request | execute]` events are far fewer than the requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closed_model_counts_every_request_in_batched_throttle_events() {
    let server = TestServer::start(Proto::default()).await;
    let telemetry = Telemetry::new();
    let run = run_http(
        &telemetry,
        &[
            format!("url={}", server.url("/")),
            "request_rate=infinity".into(),
        ],
        8,
        Duration::from_secs(1),
    )
    .await;
    let summary = run.state.summary();
    let http = summary.http.expect("an http key");
    assert!(http.requests >= 1_000, "{http:?}");
    assert_eq!(http.requests, server.received());
    let throttle = &summary.throttles["requests"];
    assert_eq!(throttle.requests, http.requests, "{throttle:?}");
    assert_eq!(throttle.executes, http.requests, "{throttle:?}");
    let events = summary.by_event["amoc.throttle.execute"];
    assert!(
        events * 4 <= http.requests,
        "{events} execute events for {} requests",
        http.requests
    );
}
