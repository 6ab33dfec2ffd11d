//! The HTTP pane on the monitor's screen: shown once `http` events arrive (in place of the
//! empty coordinators pane), with the figures the reducer made of them.

mod tui_support;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use rookery::monitor::MonitorState;
use rookery::telemetry::Value;
use rookery::tui::capture::buffer_text;
use rookery::tui::view::{pane, render};
use tui_support::*;

/// Five seconds of a 100/s load: 200s and a few 503s, one timeout; second 3 stalls (its
/// requests start 800 ms late), and the throttle reports a backlog.
fn http_state() -> MonitorState {
    let mut s = MonitorState::new();
    rate(&mut s, 0, "requests", 100, false);
    for i in 0..500u64 {
        let t = i * 10;
        let delay_ms: i64 = if (3000..3800).contains(&t) { 800 } else { 0 };
        let service_ms: i64 = 2;
        apply(
            &mut s,
            t,
            "node1",
            &["http", "request", "start"],
            &[],
            &[("start_delay", Value::Int(delay_ms * 1_000_000))],
        );
        if i == 7 {
            apply(
                &mut s,
                t + 1,
                "node1",
                &["http", "request", "exception"],
                &[("duration", Value::Int(30_000_000))],
                &[("class", Value::from("timeout"))],
            );
            continue;
        }
        let status = if i % 50 == 0 { 503 } else { 200 };
        apply(
            &mut s,
            t + 2,
            "node1",
            &["http", "request", "stop"],
            &[
                ("duration", Value::Int(service_ms * 1_000_000)),
                ("latency", Value::Int((delay_ms + service_ms) * 1_000_000)),
                ("bytes_in", Value::Int(1000)),
                ("bytes_out", Value::Int(0)),
            ],
            &[("status", Value::Int(status))],
        );
        if t % 1000 == 0 {
            apply(
                &mut s,
                t,
                "node1",
                &["http", "backlog"],
                &[("overdue", Value::Int(if t == 3000 { 80 } else { 0 }))],
                &[("catch_up", Value::Int(10_000_000))],
            );
        }
    }
    s
}

fn screen(state: &MonitorState) -> String {
    let (mut app, _) = live_app();
    app.observe(state);
    let area = Rect::new(0, 0, W, H);
    let mut buf = Buffer::empty(area);
    render(area, &mut buf, &app, state);
    buffer_text(&buf)
}

#[test]
fn the_http_pane_replaces_the_empty_coordinators_pane() {
    let t = screen(&http_state());
    assert!(t.contains("┌ HTTP"), "{t}");
    assert!(!t.contains("Coordinators"), "{t}");
    assert!(t.contains("requests 500"), "{t}");
    assert!(t.contains("200 489") && t.contains("503 10"), "{t}");
    assert!(t.contains("timeout 1"), "{t}");
    // The stalled second's 80 requests started late; latency shows it, service does not.
    assert!(t.contains("late     80 starts"), "{t}");
    assert!(t.contains("all 2.00ms / 802ms"), "{t}");
    assert!(t.contains("service  p50 2.00ms p99 2.00ms"), "{t}");

    let mut plain = MonitorState::new();
    rate(&mut plain, 0, "messages", 10, false);
    let t = screen(&plain);
    assert!(!t.contains("HTTP"), "{t}");
    assert!(t.contains("Coordinators"), "{t}");
}

#[test]
fn http_pane() {
    let state = http_state();
    let (mut app, _) = live_app();
    app.observe(&state);
    let area = Rect::new(0, 0, 100, 10);
    let mut buf = Buffer::empty(area);
    pane::http(area, &mut buf, &app, &state, &app.styles());
    let t = buffer_text(&buf);
    insta::assert_snapshot!(t);
    // The rolling window (seconds 0-4) holds the stall; p50 is the usual 2 ms.
    assert!(t.contains("latency  p50 2.00ms p99  802ms (10 s)"), "{t}");
}
