//! Each pane, from the scenario's state, at a fixed size (reducer → screen).

mod tui_support;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use rookery::monitor::MonitorState;
use rookery::tui::App;
use rookery::tui::capture::buffer_text;
use rookery::tui::view::pane;
use rookery_widgets::Styles;
use tui_support::*;

type PaneFn = fn(Rect, &mut Buffer, &App, &MonitorState, &Styles);

fn draw(f: PaneFn, w: u16, h: u16) -> String {
    let state = scenario();
    let (mut app, _) = live_app();
    app.observe(&state);
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    f(area, &mut buf, &app, &state, &app.styles());
    buffer_text(&buf)
}

#[test]
fn users_pane() {
    let t = draw(pane::users, 34, 9);
    insta::assert_snapshot!(t);
    assert!(t.contains("running 27  added 30"), "{t}");
    assert!(t.contains("failed 1"), "{t}");
}

#[test]
fn throttles_pane() {
    let t = draw(pane::throttles, 90, 7);
    insta::assert_snapshot!(t);
    assert!(t.contains("▶ user_rate           6000 /1m"), "{t}");
    // messages: 10 requests a second never executed.
    assert!(
        t.contains("messages") && t.contains("     10 running"),
        "{t}"
    );
}

#[test]
fn coordinators_pane() {
    let t = draw(pane::coordinators, 80, 5);
    insta::assert_snapshot!(t);
    assert!(
        t.contains("rooms                 30       10/0/0/0    3.0        0"),
        "{t}"
    );
}

#[test]
fn nodes_pane() {
    let t = draw(pane::nodes, 34, 5);
    insta::assert_snapshot!(t);
    assert!(t.contains("* node1"), "{t}");
}

#[test]
fn events_pane_counts_every_name_including_custom_ones() {
    let t = draw(pane::events, 40, 16);
    insta::assert_snapshot!(t);
    assert!(t.contains("│shop.order                   10"), "{t}");
    assert!(
        t.contains("│throttle.request            197   19.6│"),
        "{t}"
    );
}

#[test]
fn warnings_pane() {
    let t = draw(pane::logs, 100, 8);
    insta::assert_snapshot!(t);
    assert!(
        t.contains("error   config.env AMOC_POSTS_PER_USER cannot parse"),
        "{t}"
    );
    assert!(
        t.contains("warning users a user failed on node3: no reason given"),
        "{t}"
    );
}

#[test]
fn status_bar_hints_come_from_the_keymap() {
    let t = draw(pane::status, 120, 1);
    insta::assert_snapshot!(t);
    assert!(t.starts_with(" LIVE  0:10  505 ev"), "{t}");
    assert!(t.contains("q quit") && t.contains("+ rate+"), "{t}");
}

#[test]
fn latency_pane_lists_custom_spans_first() {
    use rookery::telemetry::Value;
    let mut state = scenario();
    let t0 = state.last_t_us() / 1000 + 1;
    // Five seconds of 100 requests a second, 1..=100 ms each, and a failure.
    for i in 0..500u64 {
        let t = t0 + i * 10;
        let node = "node1";
        let name = ["http", "request"];
        apply(&mut state, t, node, &[name[0], name[1], "start"], &[], &[]);
        let ns = Value::Int(((i % 100 + 1) * 1_000_000) as i64);
        apply(
            &mut state,
            t,
            node,
            &[name[0], name[1], "stop"],
            &[("duration", ns)],
            &[],
        );
    }
    let bad = [("duration", Value::Int(7_000_000))];
    apply(
        &mut state,
        t0 + 5_000,
        "node1",
        &["http", "request", "exception"],
        &bad,
        &[],
    );
    let (mut app, _) = live_app();
    app.observe(&state);
    let area = Rect::new(0, 0, 80, 6);
    let mut buf = Buffer::empty(area);
    pane::latency(area, &mut buf, &app, &state, &app.styles());
    let t = buffer_text(&buf);
    insta::assert_snapshot!(t);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[1].contains("p50") && lines[1].contains("p90"), "{t}");
    // http.request first (not an amoc span); 100 a second; p50/p90/p99/max in ms.
    assert!(lines[2].contains("http.request"), "{t}");
    let cols: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(cols[1], "500", "{t}");
    let per_s: f64 = cols[2].parse().expect("a rate");
    assert!((90.0..=110.0).contains(&per_s), "{t}");
    for figure in ["50.0ms", "90.0ms", "99.0ms", "100ms"] {
        assert!(lines[2].contains(figure), "{figure}: {t}");
    }
    assert!(
        lines[2].trim_end_matches('│').ends_with('1'),
        "one exception: {t}"
    );
    assert!(lines[3].contains("enario.start"), "{t}");
    // The rolling window (last 10 s) beside since-start: the same requests so far.
    assert!(
        lines[1].contains("p50 10s") && lines[1].contains("p99 10s"),
        "{t}"
    );
    assert_eq!(cols[3], "50.1ms", "window p50 (bins of 1.6 %): {t}");
    assert_eq!(cols[4], "99.3ms", "window p99: {t}");

    // 30 s later, ten fast requests: the window shows only them, since-start all.
    let later = t0 + 30_000;
    for i in 0..10u64 {
        let ns = Value::Int(5_000_000);
        apply(
            &mut state,
            later + i,
            "node1",
            &["http", "request", "stop"],
            &[("duration", ns)],
            &[],
        );
    }
    app.observe(&state);
    let mut buf = Buffer::empty(area);
    pane::latency(area, &mut buf, &app, &state, &app.styles());
    let t = buffer_text(&buf);
    let row: Vec<&str> = t.lines().nth(2).unwrap_or("").split_whitespace().collect();
    assert_eq!(row[1], "510", "{t}");
    assert_eq!((row[3], row[4]), ("5.00ms", "5.00ms"), "window: {t}");
    assert_eq!(
        (row[5], row[7]),
        ("49.0ms", "99.0ms"),
        "since the start: {t}"
    );
    // A span with nothing in the window shows a dash.
    let quiet: Vec<&str> = t.lines().nth(3).unwrap_or("").split_whitespace().collect();
    assert_eq!((quiet[3], quiet[4]), ("–", "–"), "{t}");
}
