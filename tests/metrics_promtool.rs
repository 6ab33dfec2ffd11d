//! `--metrics`: a live run serves its state at /metrics; Debian's `promtool check metrics`
//! (a linter no one here wrote) accepts the page; OpenMetrics is served to scrapers that ask
//! for it; non-loopback addresses need `--metrics-public` and a token; the `http` families.
//! Needs `promtool` (Debian's `prometheus`, installed by `.ci/install-deps`); fails without it.

mod results_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use results_support::{ChildGuard, promtool, rookery};
use rookery::monitor::{EventRef, MonitorState};
use rookery::report::metrics::render;
use rookery::telemetry::{EventName, Key, Value};

/// A GET of /metrics: (status line, headers and body).
fn get(addr: SocketAddr, headers: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_owned(), body.to_owned())
}

#[test]
fn a_live_run_serves_metrics_that_promtool_accepts() {
    let child = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args([
            "run",
            "--headless",
            "--duration",
            "60",
            "--users",
            "10",
            "--metrics",
            "127.0.0.1:0",
            "--threshold",
            "demo.message p99 < 10s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rookery");
    let mut guard = ChildGuard(child);
    let stderr = guard.0.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("rookery: metrics at http://")
        .and_then(|s| s.strip_suffix("/metrics"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the address on stderr, got {line:?}"));
    assert!(addr.ip().is_loopback());

    // Wait (generously) until the demo's spans show.
    let deadline = Instant::now() + Duration::from_secs(40);
    let page = loop {
        let (head, body) = get(addr, "");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        if body.contains("rookery_span_duration_seconds_bucket{span=\"demo.message\"") {
            assert!(head.contains("text/plain; version=0.0.4"), "{head}");
            break body;
        }
        assert!(Instant::now() < deadline, "no demo spans in time:\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (ok, out) = promtool(&page);
    assert!(
        ok,
        "promtool check metrics rejected the page:\n{out}\n---\n{page}"
    );
    for family in [
        "rookery_users_running{node=\"node1\"}",
        "rookery_throttle_executes_total{throttle=\"messages\"}",
        "rookery_throttle_rate_per_second{throttle=\"messages\"}",
        "rookery_node_up{node=\"node2\"} 1",
        "rookery_dropped_events_total{source=\"monitor\"} 0",
        "rookery_span_duration_seconds_count{span=\"demo.message\"}",
        "rookery_threshold_ok{threshold=\"demo.message p99 < 10s\"} 1",
    ] {
        assert!(page.contains(family), "{family} missing:\n{page}");
    }

    let (head, om) = get(
        addr,
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n",
    );
    assert!(
        head.contains("application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(om.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert!(om.contains("# TYPE rookery_throttle_executes counter"));
    assert!(om.contains("rookery_throttle_executes_total{throttle=\"messages\"}"));
    // Without `# EOF`, the same samples as the text format (OpenMetrics names counter
    // families without `_total`).
    let samples = |p: &str| {
        p.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').map_or(l, |(k, _)| k).to_owned())
            .collect::<Vec<_>>()
    };
    let (_, text_again) = get(addr, "");
    assert_eq!(samples(&om), samples(&text_again));
}

#[test]
fn non_loopback_addresses_need_public_and_a_token() {
    let (code, _, err) = rookery(&["run", "--headless", "--metrics", "0.0.0.0:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, err) = rookery(&[
        "run",
        "--headless",
        "--metrics",
        "0.0.0.0:0",
        "--metrics-public",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--metrics-token"), "{err}");
}

#[test]
fn a_public_endpoint_requires_the_bearer_token() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = rookery::report::metrics::MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            true,
            Some("s3cret".into()),
        )
        .await
        .expect("listen");
        server.publish(&rookery::monitor::MonitorState::new());
        let addr = server.addr();
        let (without, with, wrong) = tokio::task::spawn_blocking(move || {
            (
                get(addr, "").0,
                get(addr, "Authorization: Bearer s3cret\r\n").0,
                get(addr, "Authorization: Bearer nope\r\n").0,
            )
        })
        .await
        .unwrap();
        assert!(without.starts_with("HTTP/1.1 401"), "{without}");
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
        assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    });
}

/// 40 answers (30 of 200, 10 of 503) and 5 tls failures.
fn http_state() -> MonitorState {
    let mut s = MonitorState::new();
    let stop = EventName::new(&["http", "request", "stop"]).expect("name");
    let exc = EventName::new(&["http", "request", "exception"]).expect("name");
    for i in 0..45u64 {
        let (name, m, md) = if i < 40 {
            (
                &stop,
                vec![
                    (Key::new("duration"), Value::Int(2_000_000)),
                    (Key::new("latency"), Value::Int(8_000_000)),
                    (Key::new("bytes_in"), Value::Int(6)),
                ],
                vec![(
                    Key::new("status"),
                    Value::Int(if i < 30 { 200 } else { 503 }),
                )],
            )
        } else {
            (
                &exc,
                vec![(Key::new("duration"), Value::Int(1_000_000))],
                vec![(Key::new("class"), Value::from("tls"))],
            )
        };
        s.apply(&EventRef {
            t_us: 1_000 + i * 1_000,
            node: Some("node1"),
            name,
            measurements: &m,
            metadata: &md,
        });
    }
    s
}

#[test]
fn http_requests_have_their_own_families() {
    let page = render(&http_state(), false);
    for line in [
        "rookery_http_responses_total{status=\"200\"} 30",
        "rookery_http_responses_total{status=\"503\"} 10",
        "rookery_http_errors_total{class=\"tls\"} 5",
        "rookery_http_errors_total{class=\"connect\"} 0",
        "rookery_http_body_bytes_total{direction=\"in\"} 240",
        "rookery_http_latency_seconds{from=\"due\",percentile=\"p50\"} 0.008",
        "rookery_http_latency_seconds{from=\"send\",percentile=\"p99\"} 0.002",
    ] {
        assert!(page.lines().any(|l| l == line), "no `{line}` in:\n{page}");
    }
    // A run without requests has none of them.
    assert!(!render(&MonitorState::new(), false).contains("rookery_http_"));
}

#[test]
fn promtool_accepts_the_http_families() {
    let page = render(&http_state(), false);
    let (ok, said) = promtool(&page);
    assert!(ok && said.trim().is_empty(), "{said}\n{page}");
}
