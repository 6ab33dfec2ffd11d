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
