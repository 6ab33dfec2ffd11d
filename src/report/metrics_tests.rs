//! Tests of the metrics page: the `http` families, and promtool on them.

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::*;
use crate::monitor::EventRef;
use crate::telemetry::{EventName, Key, Value};

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
    let promtool = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(promtool).exists(),
        "{promtool} is missing: install Debian's prometheus (.ci/install-deps does)"
    );
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    let page = render(&http_state(), false);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "{said}\n{page}"
    );
}
