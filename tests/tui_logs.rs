//! The log pane: the engine's life (warnings, failed users, nodes, `log` records) in one
//! scrollable list. Its own test binary: the `log` logger is process-global.

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rookery::telemetry::Value;
use rookery::tui::capture;
use rookery::tui::logging;
use tui_support::*;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn pane(screen: &str) -> String {
    screen
        .lines()
        .skip_while(|l| !l.contains("& engine log"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn log_records_and_the_engines_life_show_in_the_log_pane() {
    logging::init(log::LevelFilter::Info).expect("first init");
    assert!(
        logging::init(log::LevelFilter::Info).is_ok(),
        "later calls are no-ops"
    );
    log::warn!(target: "engine", "throttle messages fell behind");
    log::info!(target: "config", "AMOC_USERS = 30");
    log::debug!(target: "engine", "not shown at info level");

    let state = scenario();
    let (mut app, _) = live_app();
    app.observe(&state);
    let screen = capture::text(&app, &state, W, H);
    assert!(
        pane(&screen).contains("warning engine throttle messages fell behind"),
        "{screen}"
    );

    // Focusing the log pane enlarges it; there is no empty target selector any more.
    app.handle_key(key('l'), &state);
    assert!(app.log_focused);
    let focused = capture::text(&app, &state, W, H);
    let log_top = focused
        .lines()
        .position(|l| l.contains("& engine log"))
        .expect("log pane title");
    assert!(
        log_top < H as usize / 2 + 2,
        "the focused pane takes half the column"
    );
    assert!(!focused.contains("Tui Ta"), "{focused}");
    let pane = pane(&focused);
    assert!(pane.contains("info    config AMOC_USERS = 30"), "{pane}");
    assert!(!pane.contains("not shown"), "{pane}");
    assert!(pane.contains("config.env AMOC_POSTS_PER_USER"), "{pane}");
    assert!(
        pane.contains("users a user failed on node3: no reason given"),
        "the failed user is told: {pane}"
    );
    assert!(pane.contains("node node1 up (master)"), "{pane}");
}

#[test]
fn thirty_warnings_scroll_back_to_the_first() {
    let mut state = scenario();
    for i in 0..30 {
        apply(
            &mut state,
            11_000 + i,
            "node1",
            &["amoc", "config", "get"],
            &[("warning", Value::Int(1))],
            &[
                ("log_level", Value::from("warning")),
                ("msg", Value::from(format!("warning number {i:02}"))),
                ("setting", Value::from("x")),
            ],
        );
    }
    let (mut app, _) = live_app();
    app.observe(&state);
    app.handle_key(key('l'), &state);
    let newest = pane(&capture::text(&app, &state, W, H));
    assert!(newest.contains("warning number 29"), "{newest}");
    assert!(!newest.contains("warning number 00"), "{newest}");
    for _ in 0..5 {
        app.handle_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE), &state);
    }
    let back = pane(&capture::text(&app, &state, W, H));
    assert!(back.contains("warning number 00"), "{back}");
    assert!(back.contains("newer"), "says there is more below: {back}");
    assert!(!back.contains("warning number 29"), "{back}");
}
