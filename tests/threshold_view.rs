//! The monitor's threshold line: shown above the status bar when the run has thresholds,
//! failed ones first, absent otherwise.

mod tui_support;

use rookery::monitor::EventRef;
use rookery::report::threshold::ThresholdSet;
use rookery::tui::capture;
use rookery::{event_name, fields};
use tui_support::*;

#[test]
fn the_line_shows_pass_and_fail_live() {
    let mut state = scenario();
    let plain = capture::text(&live_app().0, &state, 120, 36);
    assert!(!plain.contains("thresholds"), "no line without thresholds");

    state.set_thresholds(
        ThresholdSet::parse(&["users failed == 0", "events count > 1", "users added >= 1"])
            .unwrap(),
    );
    // One more event so a second closes with the thresholds in place.
    state.apply(&EventRef::new(
        state.last_t_us() + 2_000_000,
        &event_name!("my", "custom", "event"),
        &fields! {},
        &fields! {},
    ));
    let (mut app, _) = live_app();
    app.observe(&state);
    let text = capture::text(&app, &state, 120, 36);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines[lines.len() - 2];
    let failed = state.threshold_results().iter().filter(|r| !r.ok).count();
    assert!(
        line.starts_with(&format!(" thresholds {} ok", 3 - failed)),
        "the line above the status bar: {line:?}"
    );
    assert!(line.contains("✓ events count > 1"), "{line}");
    if failed > 0 {
        assert!(
            line.contains(&format!("{failed} failed │ ✗")),
            "failed first: {line}"
        );
    }
}
