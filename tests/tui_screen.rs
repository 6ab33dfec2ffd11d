//! Whole-screen snapshots of the monitor at a fixed size, from a state built from events with
//! explicit timestamps.

mod tui_support;

use rookery::tui::capture;
use tui_support::*;

#[test]
fn live_screen() {
    let state = scenario();
    let (mut app, _) = live_app();
    app.observe(&state);
    let text = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("live_screen", text);
    assert!(text.contains("user_rate"));
}

#[test]
fn smallest_screen_80x24() {
    let state = scenario();
    let (mut app, _) = live_app();
    app.observe(&state);
    let text = capture::text(&app, &state, 80, 24);
    insta::assert_snapshot!("live_screen_80x24", text);
    for pane in [
        "Users",
        "Nodes",
        "Events",
        "Throttles",
        "Coordinators",
        "Warnings",
    ] {
        assert!(text.contains(pane), "{pane} pane missing at 80x24:\n{text}");
    }
    assert!(text.contains("messages"), "throttle rows fit");
}

#[test]
fn large_screen_200x60() {
    let state = scenario();
    let (mut app, _) = live_app();
    app.observe(&state);
    let text = capture::text(&app, &state, 200, 60);
    insta::assert_snapshot!("live_screen_200x60", text);
    assert!(text.contains("Throttles (3)"));
}
