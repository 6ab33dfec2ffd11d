//! The `http` example's scenario against its server, in-process and headless: what the server
//! received is what the summary says was executed.

use std::time::Duration;

use rookery::engine::boxed;
use rookery::engine::config::ExplicitSettings;
use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{EventName, Fields, Telemetry};

mod examples_support;
#[allow(dead_code)]
#[path = "../examples/common/http_load.rs"]
mod http_load;

use examples_support::run_headless;
use http_load::{BODY, HttpLoad, HttpServer, THROTTLE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_received_exactly_the_requests_the_summary_executed() {
    let server = HttpServer::start().await.unwrap();
    let t = Telemetry::new();
    let settings = ExplicitSettings::new()
        .set("user_rate", "infinity")
        .set("request_rate", "infinity");
    let run = run_headless(
        &t,
        boxed(HttpLoad::new(server.addr())),
        &settings,
        16,
        Duration::from_secs(2),
    )
    .await;

    let received = server.received();
    assert!(received > 100, "requests flowed: {received}");
    assert_eq!(
        run.count("http.request.stop"),
        received,
        "one span stop per request"
    );
    assert_eq!(run.count("http.request.start"), received);
    assert_eq!(
        run.executes(THROTTLE),
        received,
        "one throttle execute per request"
    );
    assert_eq!(run.count("http.request.exception"), 0);
    let users = run.state.summary().users;
    assert_eq!(
        (users.started, users.stopped, users.exceptions),
        (16, 16, 0)
    );
    assert_eq!(run.state.dropped(), 0, "the feed kept every event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_follow_the_rate_setting_and_report_status_and_bytes() {
    let server = HttpServer::start().await.unwrap();
    let t = Telemetry::new();
    let stops =
        EventCollector::attach(&t, &[EventName::new(&["http", "request", "stop"]).unwrap()]);
    let settings = ExplicitSettings::new()
        .set("user_rate", "infinity")
        .set("request_rate", "40");
    let run = run_headless(
        &t,
        boxed(HttpLoad::new(server.addr())),
        &settings,
        8,
        Duration::from_secs(2),
    )
    .await;

    let received = server.received();
    // 40 per second for about 2 s (plus the stop's last releases): never more than the rate.
    assert!((40..=130).contains(&received), "received {received}");
    assert_eq!(run.executes(THROTTLE), received);
    let got = stops.drain();
    assert_eq!(got.len() as u64, received);
    for stop in &got {
        assert_eq!(stop.metadata.get_i64("status"), Some(200));
        assert_eq!(stop.metadata.get_i64("bytes"), Some(BODY.len() as i64));
        assert!(stop.metadata.get_str("node").is_some());
        assert!(stop.measurements.get_i64("duration").is_some_and(|d| d > 0));
    }
}
